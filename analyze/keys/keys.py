"""The keys of each command, by key spec, as Polars expressions over the parsed `args`.

`find_keys` adds each row's raw first key, its raw key list (multi-key commands), `key_count` and
`arg_shape`; `quoted.decode` then turns a key as quoted into its text and exact bytes.

How key specs (see `keyspecs`) become expressions: every command name (or `container|sub`) maps
to a small integer code, and per-code parameters are gathered from literal Series — a lookup that
keeps row order, unlike a join. Commands then take one of three shapes:
- fast (GET, SET, HGET, ZRANGE, ... most traffic): one key at argv 1, `args[0]`.
- simple (MGET, MSET, DEL, BITOP, LMOVE, OBJECT ENCODING, ...): the keys are one run of
  argv positions with a step: a few integer expressions and one `list.gather`.
- general (EVAL/FCALL numkeys, XREAD ... STREAMS, Z*STORE, LMPOP, GEORADIUS ... STORE, MIGRATE,
  SORT ... STORE): up to three spec slots, each a begin (index, or keyword search) and a find
  (range or keynum). These expressions read `args` only on general rows (null elsewhere), so the
  common path does not pay for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from hotshard.analyze.keys.keyspecs import DROP_EMPTY_KEYS, KeySpec, KeySpecs
from hotshard.analyze.lists import only_rows

MAX_SLOTS = 3  # most key specs of any command (GEORADIUS: key, STORE, STOREDIST)
SHAPE_TOKENS = 8  # arg_shape keeps this many non-key arguments, then "…"
_EMPTY_IDX = pl.lit([], pl.List(pl.Int64))


def _simple(specs: list[KeySpec]) -> tuple[int, int, int] | None:
    """(first, lastkey, step) when the specs are plain index ranges forming one run."""
    if not specs or any(s.begin != "index" or s.find != "range" or s.limit > 1 for s in specs):
        return None
    first, lastkey, step = specs[0].index, specs[0].lastkey, specs[0].step
    for spec in specs[1:]:
        if lastkey < 0 or (step != 1 and lastkey > 0) or spec.index != first + lastkey + 1:
            return None
        lastkey = spec.lastkey if spec.lastkey < 0 else spec.index + spec.lastkey - first
        step = spec.step if spec.lastkey != 0 else 1
    return first, lastkey, step


_SLOT_PARAMS = ("index", "kw", "range", "lastkey", "limit", "keynumidx", "firstkey", "step")


@dataclass(frozen=True)
class _Plan:
    codes: dict[str, int]  # lookup name -> code (commands with at least one key spec)
    params: dict[str, pl.Series]  # parameter -> value per code (null where not applicable)
    keywords: dict[tuple[int, str, int], int]  # (slot, KEYWORD, startfrom) -> keyword id
    containers: list[str]
    drop_empty: list[int]  # codes whose "" keys are not keys (MIGRATE ... KEYS)
    slots: int  # most spec slots any general command uses


def _plan(specs: KeySpecs) -> _Plan:
    rows: list[dict[str, int | None]] = []
    codes: dict[str, int] = {}
    keywords: dict[tuple[int, str, int], int] = {}
    for name, command_specs in sorted(specs.by_command.items()):
        if not command_specs:
            continue
        row: dict[str, int | None] = {}
        simple = _simple(command_specs)
        if simple:
            row.update(first=simple[0], lastkey=simple[1], step=simple[2])
            # One key at argv 1 (GET, SET, HGET, ZRANGE...): `find_keys`' fast path.
            if simple == (1, 0, 1) and name not in DROP_EMPTY_KEYS and "|" not in name:
                row["fast"] = 1
        for j, spec in enumerate(command_specs[:MAX_SLOTS] if not simple else []):
            kw = None
            if spec.begin == "keyword":
                kw = keywords.setdefault((j, spec.keyword or "", spec.startfrom), len(keywords))
            row.update(
                {
                    f"s{j}_index": spec.index if spec.begin == "index" else None,
                    f"s{j}_kw": kw,
                    f"s{j}_range": int(spec.find == "range"),
                    f"s{j}_lastkey": spec.lastkey,
                    f"s{j}_limit": spec.limit,
                    f"s{j}_keynumidx": spec.keynumidx,
                    f"s{j}_firstkey": spec.firstkey,
                    f"s{j}_step": spec.step,
                }
            )
        codes[name] = len(rows)
        rows.append(row)
    names = ["first", "lastkey", "step", "general", "fast"]
    names += [f"s{j}_{p}" for j in range(MAX_SLOTS) for p in _SLOT_PARAMS]
    for row in rows:
        row["general"] = 1 if "s0_range" in row else None
    params = {n: pl.Series(n, [r.get(n) for r in rows], pl.Int64) for n in names}
    drop = sorted(codes[n] for n in DROP_EMPTY_KEYS if n in codes)
    slots = max((j + 1 for r in rows for j in range(MAX_SLOTS) if f"s{j}_range" in r), default=0)
    return _Plan(codes, params, keywords, sorted(specs.containers), drop, slots)


def _keyword_first(args: pl.Expr, argc: pl.Expr, keyword: str, startfrom: int) -> pl.Expr:
    """argv position just after the keyword, searched the way Redis does; null when absent."""
    if startfrom > 0:  # forward from argv[startfrom] (args index = argv - 1)
        hits = args.list.slice(startfrom - 1).list.eval(pl.element().str.to_uppercase() == keyword)
        return pl.when(hits.list.any()).then(hits.list.arg_max() + startfrom + 1)
    end = argc + startfrom  # backward from argv[argc + startfrom] down to argv[1]
    window = args.list.head(pl.max_horizontal(end, 0)).list.reverse()
    hits = window.list.eval(pl.element().str.to_uppercase() == keyword)
    return pl.when(hits.list.any()).then(end - hits.list.arg_max() + 1)


# Intermediate results live in `_k_*` columns, one `with_columns` stage after another: an
# expression used several times inside a larger one was evaluated again each time.
def _general_stages(lf: pl.LazyFrame, plan: _Plan, param, column: str) -> pl.LazyFrame:
    """Add `_k_a{j}`/`_k_b{j}`: argv range of the keys of spec slot j of general-shape commands
    (null on other rows and where the slot finds nothing)."""
    args, argc = only_rows(pl.col(column), pl.col("_k_gen")), pl.col("_k_argc")
    firsts = {}
    for j in range(plan.slots):
        kw_firsts = [
            _keyword_first(only_rows(args, param(f"s{j}_kw") == kid), argc, kw, start)
            for (slot, kw, start), kid in sorted(plan.keywords.items())
            if slot == j
        ]
        firsts[f"_k_f{j}"] = pl.coalesce(param(f"s{j}_index"), *kw_firsts)
    lf = lf.with_columns(**firsts)
    bounds = {}
    for j in range(plan.slots):
        first = pl.col(f"_k_f{j}")
        lastkey, limit = param(f"s{j}_lastkey"), param(f"s{j}_limit")
        is_range = param(f"s{j}_range") == 1
        numkeys = (
            pl.when(~is_range)
            .then(args)
            .list.get(first + param(f"s{j}_keynumidx") - 1, null_on_oob=True)
            .cast(pl.Int64, strict=False)
        )
        start = pl.when(is_range).then(first).otherwise(first + param(f"s{j}_firstkey"))
        range_last = (
            pl.when(lastkey >= 0)
            .then(first + lastkey)
            .when(limit <= 1)
            .then(argc + lastkey)
            .otherwise(first + (argc - first) // limit + lastkey)
        )
        bounds[f"_k_a{j}"] = start
        # keynum keys are `keystep` apart (Valkey's MSETEX numkeys k v k v: keystep 2)
        keynum_last = start + (numkeys - 1) * param(f"s{j}_step")
        bounds[f"_k_b{j}"] = pl.when(is_range).then(range_last).otherwise(keynum_last)
    lf = lf.with_columns(**bounds)
    valid = {}
    for j in range(plan.slots):
        a, b = pl.col(f"_k_a{j}"), pl.col(f"_k_b{j}")
        ok = (a >= 1) & (b < argc) & (b >= a)
        valid[f"_k_a{j}"] = pl.when(ok).then(a)
        valid[f"_k_b{j}"] = pl.when(ok).then(b)
    return lf.with_columns(**valid)


# -- arg_shape ------------------------------------------------------------------------------------
# Arguments kept as they are (upper case) in arg_shape: options that change what a command
# returns or does. Everything else is a value, shown as `?`.
_KEYWORD_TEXT = """
    WITHSCORES WITHSCORE WITHVALUES WITHCOORD WITHDIST WITHHASH WITHMATCHLEN LIMIT COUNT EX PX
    EXAT PXAT KEEPTTL PERSIST NX XX GT LT CH INCR GET BYSCORE BYLEX REV MATCH TYPE STREAMS
    BLOCK NOACK GROUP MAXLEN MINID LEFT RIGHT BEFORE AFTER ASC DESC ALPHA BY STORE STOREDIST
    FROMMEMBER FROMLONLAT BYRADIUS BYBOX ANY WEIGHTS AGGREGATE SUM MIN MAX IDLE TIME RETRYCOUNT
    FORCE JUSTID REPLACE COPY KEYS AUTH AUTH2 RANK LEN IDX MINMATCHLEN NOMKSTREAM ENTRIESREAD
    SAMPLES OVERFLOW WRAP SAT FAIL U8 I8 U16 I16 U32 I32 U64 I64 AND OR XOR NOT ABSTTL FREQ
    LOAD M KM FT MI SCHEDULE ASYNC SYNC BIT BYTE
"""
KEYWORDS = frozenset(_KEYWORD_TEXT.split())
# Commands whose integer arguments are mostly ranges or counts (LRANGE k 0 -1, ... LIMIT 0 10,
# COUNT 100): arg_shape keeps them. Elsewhere integers are values (SET k 0, EXPIRE k 60) -> `?`.
_RANGE_TEXT = """
    lrange ltrim lindex zrange zrevrange zrangestore zremrangebyrank getrange substr bitcount
    bitpos srandmember zrandmember hrandfield spop lpop rpop zpopmin zpopmax bzpopmin bzpopmax
    lpos scan sscan hscan zscan lmpop blmpop zmpop bzmpop zrangebyscore zrevrangebyscore
    zrangebylex zrevrangebylex sort sort_ro xrange xrevrange xread xreadgroup xautoclaim
    xpending
"""
RANGE_COMMANDS = frozenset(_RANGE_TEXT.split())
_INT = r"^-?[0-9]{1,9}$"


_SPECIALS = ["-inf", "+inf", "inf", "-", "+", "*", "$", ">", "~", "=", "#"]  # ranges, ids


def _mask(keywords: list[str], keep_ints: bool) -> pl.Expr:
    """One argument of arg_shape: a keyword (upper case), a kept integer or special, else `?`.
    Elementwise only: a window (`shift`) in `list.eval` makes Polars evaluate list by list
    (docs/BENCHMARKS.md, "Choices in the code"); `is_in` over the keyword spellings beats
    upper-casing every argument."""
    e = pl.element()
    kept = e.is_in(_SPECIALS)
    if keep_ints:
        kept = kept | e.str.contains(_INT)
    return (
        pl.when(e.is_in(keywords))
        .then(e.str.to_uppercase())
        .when(kept)
        .then(e)
        .otherwise(pl.lit("?"))
    )


def _two_runs(head: pl.Expr, after: pl.Expr, n: pl.Expr) -> pl.Expr:
    """The index list [0, head) ++ [after, n) without `list.concat`, which is slow even when
    every input is null (docs/BENCHMARKS.md, "Choices in the code"): k -> k + (after - head)
    once k >= head."""
    k = pl.int_ranges(0, head + pl.max_horizontal(n - after, 0))
    past_head = (k - head + 1).list.eval(pl.element().clip(0, 1))
    return k + past_head * (after - head)


# -- find_keys --------------------------------------------------------------------------------
@dataclass(frozen=True)
class KeyPlan:
    """Key specs as expression parameters (`find_keys`), built once per analysis."""

    plan: _Plan
    keywords: list[str]  # arguments kept in arg_shape, in every spelling
    # Commands whose one key is argv 1, quoted as MONITOR prints them (`"GET`, `"get`, `"Get`).
    fast_spellings: list[str]


def plan(specs: KeySpecs) -> KeyPlan:
    words = KEYWORDS | _subcommands(specs)
    p = _plan(specs)
    fast = [name for name, code in p.codes.items() if p.params["fast"][code] == 1]
    spellings = sorted({f'"{s}' for n in fast for s in (n, n.upper(), n.title())})
    keywords = sorted(words | {w.lower() for w in words} | {w.title() for w in words})
    return KeyPlan(p, keywords, spellings)


def find_keys(lf: pl.LazyFrame, key_plan: KeyPlan, all_fast: bool = False) -> pl.LazyFrame:
    """Add `key_raw` (the first key as quoted, escapes unresolved; null without a key),
    `keys_raw` (every key as quoted, for commands with more than one; null otherwise),
    `key_count` and `arg_shape`, from `command` and `args` (`scanner.Scanned.tails`).

    Most commands have one key at argv 1 (GET, SET, HGET, ZRANGE...): they take the fast path,
    `args[0]`, and the general machinery below only ever sees the other rows' arguments.
    `all_fast`: the caller knows every row is such a command (`rows` sorts them out first)."""
    plan, keywords = key_plan.plan, key_plan.keywords
    args, command = pl.col("args"), pl.col("command")
    cap = SHAPE_TOKENS + 1
    if all_fast:
        lf = lf.with_columns(
            _k_fast=pl.lit(True),
            _k_tokens=args.list.slice(1, cap),
            _k_raw=pl.lit(None, pl.List(pl.String)),
        )
    else:
        lf = _code(lf, plan)
        fast = pl.col("_k_fast")
        lf = lf.with_columns(
            _k_slow_args=only_rows(args, ~fast),
            _k_fast_tokens=pl.when(fast).then(args.list.slice(1, cap)),
        )
        lf = _slow_keys(lf, plan, "_k_slow_args")
        lf = lf.with_columns(_k_tokens=pl.coalesce("_k_fast_tokens", "_k_tokens"))
    fast, raw, tokens, ranged = (pl.col(c) for c in ("_k_fast", "_k_raw", "_k_tokens", "_k_ranged"))
    lf = lf.with_columns(_k_ranged=command.is_in(list(RANGE_COMMANDS))).with_columns(
        _k_masked=pl.coalesce(
            only_rows(tokens, ranged).list.eval(_mask(keywords, True)),
            only_rows(tokens, ~ranged).list.eval(_mask(keywords, False)),
        ),
    )
    masked = pl.col("_k_masked")
    shape = masked.list.head(SHAPE_TOKENS).list.join(" ")
    count = raw.list.len().cast(pl.Int32)
    return lf.with_columns(
        key_raw=pl.when(fast).then(args.list.first()).otherwise(raw.list.first()),
        keys_raw=pl.when(~fast & (count > 1)).then(raw),
        key_count=pl.when(fast)
        .then((args.list.len() > 0).cast(pl.Int32))
        .otherwise(count.fill_null(0)),
        arg_shape=pl.when(masked.list.len() > SHAPE_TOKENS).then(shape + " …").otherwise(shape),
    ).drop(_temporary(lf))


def _code(lf: pl.LazyFrame, plan: _Plan) -> pl.LazyFrame:
    """Add `_k_code` (the command's row in the plan; null without key specs), `_k_argc` and
    `_k_fast` (one key, at argv 1)."""
    args, command = pl.col("args"), pl.col("command")
    name = (
        pl.when(command.is_in(plan.containers))
        .then(command + "|" + args.list.first().str.to_lowercase())
        .otherwise(command)
    )
    lf = lf.with_columns(
        _k_argc=args.list.len().cast(pl.Int64) + 1,  # Redis' argc: the name counts
        # An Enum cast, not `replace_strict`: that one runs as a whole-column function in the
        # streaming engine, which then buffers every row (memory grew with the capture).
        _k_code=name.cast(pl.Enum(list(plan.codes)), strict=False).to_physical().cast(pl.Int64),
    )
    fast = pl.lit(plan.params["fast"]).gather(pl.col("_k_code")).is_not_null()
    return lf.with_columns(_k_fast=fast)


def _temporary(lf: pl.LazyFrame) -> list[str]:
    return [c for c in lf.collect_schema() if c.startswith("_k_")]


def _slow_keys(lf: pl.LazyFrame, plan: _Plan, column: str) -> pl.LazyFrame:
    """`_k_raw` (every key, as quoted) and `_k_tokens` (the non-key arguments, at most
    SHAPE_TOKENS + 1) of the rows whose `column` (their args) is not null: the commands off the
    fast path."""
    args, argc = pl.col(column), pl.col("_k_argc")

    def param(p: str) -> pl.Expr:
        return pl.lit(plan.params[p]).gather(pl.col("_k_code"))

    lf = lf.with_columns(
        _k_first=param("first"),
        _k_last=pl.min_horizontal(
            pl.when(param("lastkey") >= 0)
            .then(param("first") + param("lastkey"))
            .otherwise(argc + param("lastkey")),
            argc - 1,
        ),
        _k_step=param("step"),
        _k_gen=param("general").is_not_null() & args.is_not_null(),
    )
    lf = _general_stages(lf, plan, param, column)

    # The main run of keys: a simple command's, or the first spec slot of a general one.
    general = pl.col("_k_gen")
    a0 = pl.col("_k_a0") if plan.slots else pl.lit(None, pl.Int64)
    b0 = pl.col("_k_b0") if plan.slots else pl.lit(None, pl.Int64)
    lf = lf.with_columns(
        _k_first=pl.when(general).then(a0).otherwise(pl.col("_k_first")),
        _k_last=pl.when(general).then(b0).otherwise(pl.col("_k_last")),
        _k_step=pl.when(general).then(param("s0_step")).otherwise(pl.col("_k_step")),
    )
    first, last, step = pl.col("_k_first"), pl.col("_k_last"), pl.col("_k_step")
    main = pl.when(last >= first).then(pl.int_ranges(first - 1, last, step))
    # Further slots (Z*STORE's sources, GEORADIUS ... STORE, SORT ... STORE, MIGRATE ... KEYS)
    # are rare: their lists stay null elsewhere, which keeps the concatenation cheap.
    extra = [
        pl.when(pl.col(f"_k_a{j}").is_not_null()).then(
            pl.int_ranges(pl.col(f"_k_a{j}") - 1, pl.col(f"_k_b{j}"), param(f"s{j}_step"))
        )
        for j in range(1, plan.slots)
    ]
    if extra:
        multi = pl.any_horizontal([pl.col(f"_k_a{j}").is_not_null() for j in range(1, plan.slots)])
        empty = pl.when(multi).then(_EMPTY_IDX)
        joined = pl.concat_list(
            [pl.coalesce(pl.when(multi).then(e), empty) for e in (main, *extra)]
        )
        key_idx = pl.coalesce(pl.when(multi).then(joined), main, _EMPTY_IDX)
    else:
        multi, key_idx = pl.lit(False), pl.coalesce(main, _EMPTY_IDX)
    lf = lf.with_columns(_k_idx=key_idx, _k_multi=multi.fill_null(False))

    keys_raw = args.list.gather(pl.col("_k_idx"), null_on_oob=True)
    if plan.drop_empty:
        keys_raw = pl.coalesce(
            only_rows(keys_raw, pl.col("_k_code").is_in(plan.drop_empty)).list.eval(
                pl.element().filter(pl.element() != "")
            ),
            keys_raw,
        )
    # Non-key arguments (for arg_shape), at most SHAPE_TOKENS + 1 of them: those after the main
    # run of keys (MGET; all of them without keys), around it (OBJECT ENCODING k, BITOP op dest
    # k), interleaved (MSET), or the complement of the key positions when keys are in several
    # runs (slow per row, and rare).
    cap = SHAPE_TOKENS + 1
    keyless = pl.col("_k_code").is_null() | (last < first)
    head = pl.when(keyless).then(0).otherwise(pl.max_horizontal(first - 1, 0))
    after = pl.when(keyless).then(0).otherwise(pl.max_horizontal(last, 0))
    n, multi = argc - 1, pl.col("_k_multi")
    tokens = pl.coalesce(
        pl.when(multi).then(
            args.list.gather(
                pl.int_ranges(0, pl.when(multi).then(pl.min_horizontal(n, 64)).otherwise(0))
                .list.set_difference(pl.col("_k_idx"))
                .list.sort()
                .list.head(cap)
            )
        ),
        pl.when(~keyless & (step > 1)).then(
            args.list.gather(pl.int_ranges(first, n, step).list.head(cap))
        ),
        args.list.gather(_two_runs(pl.when(head > 0).then(head), after, n).list.head(cap)),
        args.list.slice(after, cap),
    )
    return lf.with_columns(
        _k_raw=pl.when(args.is_not_null()).then(keys_raw), _k_tokens=tokens.list.head(cap)
    )


def _subcommands(specs: KeySpecs) -> set[str]:
    return {name.partition("|")[2].upper() for name in specs.by_command if "|" in name}
