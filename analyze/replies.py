"""The reply model: estimated bytes each MONITOR command sent back to its client.

MONITOR shows requests, never replies. The bytes out come from the command's shape (index ranges,
counts, WITHSCORES, LIMIT, ...) and what sampling learned about the key (`capture.sizing`), with
the exact RESP framing (SPEC 4):

    bulk string of L bytes   L + digits(L) + 5        $L\\r\\n...\\r\\n
    null bulk / null array   5 ($-1 / *-1);  RESP3 `_\\r\\n` = 3
    array header of N        digits(N) + 3            *N\\r\\n   (RESP3 maps %N, sets ~N alike)
    integer n                len(str(n)) + 3          :n\\r\\n
    +OK                      5

Every row gets a `reply_confidence` (schema.CONFIDENCES):
    exact    the command alone fixes the reply (+OK, :0/:1, PING, MSET...)
    sampled  this key's own sample (on this node)
    pattern  the averages of the key's pattern (no sample of its own)
    unknown  no honest estimate: `reply_bytes` is null (EVAL, PUBLISH, SCAN, unsampled keys, ...)
    none     not client output: replicated writes and script sub-commands (`reply_bytes` 0)

Known approximations: a range is assumed to exist as sampled (HGET of a missing field counts the
average value); BYSCORE/BYLEX with LIMIT assume the range holds `count` elements; commands queued
in MULTI are costed as if run alone (their `+QUEUED` replies and EXEC's header are not counted:
EXEC is `unknown`).

Everything is Polars expressions over the whole frame: two small left joins and one when/then
chain; no Python per row.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import polars as pl

from analyze import schema
from capture.manifest import KeySize, Manifest

WRONGTYPE = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"

# Averaged per key in `sizes_frame`, per pattern in `pattern_sizes`.
_METRICS = (
    "card",
    "member_bulk",
    "field_bulk",
    "value_bulk",
    "value_len",
    "score_bulk",
    "score_len",
    "entry_bytes",
    "edge_n",
    "head_member_bulk",
    "head_score_bulk",
    "tail_member_bulk",
    "tail_score_bulk",
    "ttl_ms",
)

SIZES_SCHEMA: dict[str, pl.DataType] = {
    "node": pl.String(),
    "key_name": pl.String(),
    "key_pattern": pl.String(),
    "type": pl.String(),
    "encoding": pl.String(),
    "card": pl.Int64(),
    "memory_usage": pl.Int64(),
    "sample_n": pl.Int64(),
    "member_bulk": pl.Float64(),
    "field_bulk": pl.Float64(),
    "value_bulk": pl.Float64(),
    "value_len": pl.Float64(),
    "score_bulk": pl.Float64(),
    "score_len": pl.Float64(),
    "entry_bytes": pl.Float64(),
    "edge_n": pl.Int64(),
    "head_member_bulk": pl.Float64(),
    "head_score_bulk": pl.Float64(),
    "tail_member_bulk": pl.Float64(),
    "tail_score_bulk": pl.Float64(),
    "ttl_ms": pl.Int64(),
}

# The type a command works on; a sampled key of another type means a WRONGTYPE error reply.
_TYPE_OF: dict[str, str] = {}
for _t, _cmds in {
    "string": "get getex getdel getset getrange substr strlen incr decr incrby decrby incrbyfloat "
    "append setrange getbit bitcount",
    "hash": "hget hmget hgetall hkeys hvals hlen hstrlen hexists hrandfield hscan hincrby "
    "hincrbyfloat hset hsetnx hdel hmset",
    "list": "lrange lindex lpop rpop llen lpush rpush lpushx rpushx linsert lset ltrim lrem lpos",
    "set": "smembers srandmember spop sismember smismember scard sscan sadd srem",
    "zset": "zrange zrevrange zrangebyscore zrevrangebyscore zrangebylex zrevrangebylex zscore "
    "zmscore zcard zrank zrevrank zcount zlexcount zscan zrandmember zpopmin zpopmax zincrby "
    "zadd zrem",
    "stream": "xrange xrevrange xlen xadd xdel xtrim",
}.items():
    for _c in _cmds.split():
        _TYPE_OF[_c] = _t

# Replies fixed by the command alone.
OK_COMMANDS = [
    "setex",
    "psetex",
    "mset",
    "hmset",
    "lset",
    "ltrim",
    "rename",
    "select",
    "watch",
    "unwatch",
    "multi",
    "discard",
    "flushdb",
    "flushall",
    "readonly",
    "readwrite",
    "restore",
    "pfmerge",
    "swapdb",
    "auth",
    "asking",
    "xtrim_ok",
]
ZERO_ONE_COMMANDS = [
    "expire",
    "pexpire",
    "expireat",
    "pexpireat",
    "persist",
    "setnx",
    "hsetnx",
    "sismember",
    "hexists",
    "move",
    "renamenx",
    "smove",
    "msetnx",
    "getbit",
    "setbit",
    "pfadd",
    "copy",
]
# Integer replies bounded by how many keys/elements the command names.
KEY_COUNT_COMMANDS = ("del", "unlink", "exists", "touch")
ELEMENT_COUNT_COMMANDS = ("sadd", "srem", "hdel", "zrem", "xack", "xdel")
PAIR_COUNT_COMMANDS = ("hset", "zadd")
UNKNOWN_COMMANDS = [
    "eval",
    "evalsha",
    "eval_ro",
    "evalsha_ro",
    "fcall",
    "fcall_ro",
    "exec",
    "publish",
    "spublish",
]

_NULL2 = 5


# -- expression helpers -------------------------------------------------------------------------
def _c(name: str) -> pl.Expr:
    return pl.col(name)


def _digits(x: pl.Expr) -> pl.Expr:
    """Decimal digits of an integer expression as printed (a minus sign counts)."""
    return x.round(0).cast(pl.Int64).cast(pl.String).str.len_bytes().cast(pl.Int64)


def _bulk(length: pl.Expr) -> pl.Expr:
    return length + _digits(length) + 5


def _arr(n: pl.Expr) -> pl.Expr:
    return _digits(n) + 3


def _int_reply(value: pl.Expr) -> pl.Expr:
    return _digits(value) + 3


def _arg(i: int) -> pl.Expr:
    """Argument i (1 or 2) of a command in ARG_COMMANDS, as quoted."""
    return _c(f"_s{i}")


def _iarg(i: int) -> pl.Expr:
    return _arg(i).cast(pl.Int64, strict=False)


def _unescaped_len(text: pl.Expr) -> pl.Expr:
    """Bytes of a MONITOR-quoted argument once its escapes (`\\xHH`, `\\n`, ...) are resolved."""
    return text.str.replace_all(r"\\x[0-9a-fA-F]{2}|\\.", "_").str.len_bytes().cast(pl.Int64)


def _max0(x: pl.Expr) -> pl.Expr:
    return pl.when(x > 0).then(x).otherwise(0)


def _index_range(start: pl.Expr, stop: pl.Expr, n: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """Redis' range rule (LRANGE/ZRANGE/GETRANGE): (first, last, count) for `start stop` on n."""
    s = pl.when(start < 0).then(_max0(n + start)).otherwise(start)
    e = pl.when(stop < 0).then(n + stop).otherwise(pl.min_horizontal(stop, n - 1))
    count = pl.when((s > e) | (s >= n)).then(0).otherwise(e - s + 1)
    return s, e, count


def _edge(
    first: pl.Expr, last: pl.Expr, n: pl.Expr, head: pl.Expr, tail: pl.Expr, mid: pl.Expr
) -> pl.Expr:
    """Average element size of ascending positions [first, last]: head/tail samples near the ends."""
    edge = _c("_edge_n").fill_null(0)
    return (
        pl.when((edge > 0) & (last < edge) & head.is_not_null())
        .then(head)
        .when((edge > 0) & (first >= n - edge) & tail.is_not_null())
        .then(tail)
        .otherwise(mid)
    )


# -- sizes --------------------------------------------------------------------------------------
def sizes_frame(
    key_sizes: list[KeySize], patterns_fn: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None
) -> pl.DataFrame:
    """One row per (node, key) that sampling measured (`SIZES_SCHEMA`).

    `patterns_fn` takes a LazyFrame with a `key_name` column and returns it with `key_pattern`
    added (the analyzer's own pattern rules, so sampled keys and captured keys agree); without
    it `analyze.patterns.add_patterns` is used when importable, else `key_pattern` stays null and
    keys without their own sample get no pattern estimate.
    """
    rows = []
    for s in key_sizes:
        if s.type is None:
            continue  # the key could not be measured (its error is in the capture's key sizes)
        score_len = s.avg_score_len
        rows.append(
            {
                "node": s.node,
                "key_name": s.key,
                "key_pattern": None,
                "type": s.type,
                "encoding": s.encoding,
                "card": s.cardinality
                if s.cardinality is not None
                else (0 if s.type == "none" else None),
                "memory_usage": s.memory_usage,
                "sample_n": s.sample_n,
                "member_bulk": s.avg_member_bulk
                if s.avg_member_bulk is not None
                else _bulk_of(s.avg_member_len),
                "field_bulk": s.avg_field_bulk
                if s.avg_field_bulk is not None
                else _bulk_of(s.avg_field_len),
                "value_bulk": s.avg_value_bulk
                if s.avg_value_bulk is not None
                else _bulk_of(s.avg_value_len),
                "value_len": s.avg_value_len,
                "score_bulk": s.avg_score_bulk
                if s.avg_score_bulk is not None
                else _bulk_of(score_len),
                "score_len": score_len,
                "entry_bytes": s.avg_entry_bytes,
                "edge_n": s.edge_n,
                "head_member_bulk": s.head_member_bulk,
                "head_score_bulk": s.head_score_bulk,
                "tail_member_bulk": s.tail_member_bulk,
                "tail_score_bulk": s.tail_score_bulk,
                "ttl_ms": s.ttl_ms,
            }
        )
    frame = pl.DataFrame(rows, schema=SIZES_SCHEMA)
    # One row per node+key even if sampling listed a key twice.
    frame = frame.unique(["node", "key_name"], keep="first").sort(["node", "key_name"])
    fn = patterns_fn or _default_patterns_fn()
    if fn is not None and frame.height:
        # The pattern stage may also derive columns of the commands table (a signature from
        # command and arg_shape): give it nulls for those.
        keys_only = frame.drop("key_pattern").with_columns(
            command=pl.lit(None, pl.String), arg_shape=pl.lit(None, pl.String)
        )
        with_patterns = fn(keys_only.lazy()).collect()
        frame = with_patterns.select(list(SIZES_SCHEMA)).sort(["node", "key_name"])
    return frame


def _bulk_of(length: float | None) -> float | None:
    if length is None:
        return None
    return length + len(str(round(length))) + 5


def _default_patterns_fn() -> Callable[[pl.LazyFrame], pl.LazyFrame] | None:
    try:
        from analyze import patterns  # the parser engineer's pattern rules
    except ImportError:
        return None
    return getattr(patterns, "add_patterns", None)


def pattern_sizes(sizes: pl.DataFrame) -> pl.DataFrame:
    """Averages per key pattern over the sampled keys of its most common type (ties: by name)."""
    known = sizes.filter(pl.col("key_pattern").is_not_null())
    if not known.height:
        return pl.DataFrame(
            schema={"key_pattern": pl.String(), "type": pl.String()}
            | {m: pl.Float64() for m in _METRICS}
        )
    types = (
        known.group_by("key_pattern", "type")
        .agg(n=pl.len())
        .sort(["key_pattern", "n", "type"], descending=[False, True, False])
        .group_by("key_pattern", maintain_order=True)
        .first()
        .select("key_pattern", "type")
    )
    return (
        known.join(types, on=["key_pattern", "type"], how="inner")
        .group_by("key_pattern", "type")
        .agg([pl.col(m).cast(pl.Float64).mean() for m in _METRICS])
        .sort("key_pattern")
    )


# -- the estimate ---------------------------------------------------------------------------------
# Commands whose arguments after the key (start/stop, counts, options) shape the reply.
ARG_COMMANDS = [
    "lrange",
    "zrange",
    "zrevrange",
    "zrangebyscore",
    "zrevrangebyscore",
    "zrangebylex",
    "zrevrangebylex",
    "getrange",
    "substr",
    "lindex",
    "lpop",
    "rpop",
    "spop",
    "srandmember",
    "hrandfield",
    "zrandmember",
    "zpopmin",
    "zpopmax",
    "hscan",
    "sscan",
    "zscan",
    "xrange",
    "xrevrange",
    "incrby",
    "decrby",
]
_XREAD = ("xread", "xreadgroup")
# Forget the modelled combinations past this many (arguments that never repeat).
CACHE_LIMIT = 200_000
_REPLY = pl.Struct({"reply_bytes": pl.Int64(), "reply_confidence": pl.String()})


def estimate(
    lf: pl.LazyFrame,
    sizes: pl.DataFrame | None,
    server_version: str | None,
    resp: int = 2,
) -> pl.LazyFrame:
    """Add `reply_bytes` (Int64, null = unknown) and `reply_confidence` to a parsed frame.

    Needs the columns origin, command, args (as quoted), arg_count, keys, key_count, key_name;
    uses key_pattern when present. `sizes` is `sizes_frame(...)` (None: only exact replies are
    known). `resp` is what the application clients speak (2 or 3). Score sizes come from samples
    taken on the same server, so `server_version` only documents the provenance (Redis < 7.2
    prints 17 significant digits, 7.2+ the shortest form).

    Runs per batch: a few vectorized lookups per row, then the model over the batch's distinct
    (command, arguments that matter, sampled key or pattern) combinations, joined back.
    """
    del server_version  # scores are sampled as that server printed them
    names = lf.collect_schema().names()
    lookup = _Lookup(sizes, resp, "key_pattern" in names)
    inputs = ["origin", "command", "args", "arg_count", "keys", "key_count", "key_name"]
    if "key_pattern" in names:
        inputs.append("key_pattern")
    reply = pl.struct(inputs).map_batches(lookup.batch, return_dtype=_REPLY, is_elementwise=True)
    return (
        lf.with_columns(reply.alias("_reply"))
        .with_columns(
            reply_bytes=pl.col("_reply").struct.field("reply_bytes"),
            reply_confidence=pl.col("_reply").struct.field("reply_confidence"),
        )
        .drop("_reply")
    )


class _Lookup:
    """The sizes as lookup tables, and the per-batch estimate that uses them."""

    def __init__(self, sizes: pl.DataFrame | None, resp: int, has_pattern: bool) -> None:
        self.resp = resp
        self.has_pattern = has_pattern
        if sizes is None:
            sizes = pl.DataFrame(schema=SIZES_SCHEMA)
        sizes = sizes.select(list(SIZES_SCHEMA)).cast(SIZES_SCHEMA)  # type: ignore[arg-type]
        # A key sampled on several nodes (a primary and its replica) is the same data: average.
        keys = (
            sizes.sort(["key_name", "node"])
            .group_by("key_name", maintain_order=True)
            .agg(
                pl.col("type").first(),
                pl.col("encoding").first(),
                *[pl.col(m).cast(pl.Float64).mean() for m in _METRICS],
            )
            .sort("key_name")
        )
        pats = pattern_sizes(sizes) if has_pattern else pl.DataFrame()
        if not pats.height:
            pats = pl.DataFrame(
                schema={"key_pattern": pl.String(), "type": pl.String()}
                | {m: pl.Float64() for m in _METRICS}
            )
        self.key_index = dict(zip(keys["key_name"], range(keys.height), strict=True))
        self.pattern_index = dict(zip(pats["key_pattern"], range(pats.height), strict=True))
        n_keys = keys.height
        self.n_keys = n_keys
        metric_cols = ["type", "encoding", *_METRICS]
        table = pl.concat(
            [
                keys.select(metric_cols),
                pats.with_columns(encoding=pl.lit(None, pl.String)).select(metric_cols),
            ]
        )
        self.metrics = table.rename({c: f"_{c}" for c in metric_cols}).with_columns(
            _sz=pl.int_range(pl.len(), dtype=pl.UInt32)
        )
        self.patterns = pats.select(_p_type="type", _p_card="card").with_columns(
            _pim=pl.int_range(pl.len(), dtype=pl.UInt32)
        )
        self.strings = _string_map(keys, resp)
        self.stages, self.rules = _model(resp)
        # Modelled combinations, reused by later batches (the streaming engine may call
        # `batch` from several threads at once).
        self.cache: pl.DataFrame | None = None
        self.lock = threading.Lock()

    def features(self, df: pl.DataFrame) -> pl.DataFrame:
        """Per row, only what the reply depends on: most rows share their combination."""
        cmd = pl.col("command")
        args = pl.col("args")
        need = cmd.is_in(ARG_COMMANDS)
        ki = pl.col("key_name").replace_strict(self.key_index, default=None, return_dtype=pl.UInt32)
        if self.has_pattern:
            pi = pl.col("key_pattern").replace_strict(
                self.pattern_index, default=None, return_dtype=pl.UInt32
            )
        else:
            pi = pl.lit(None, pl.UInt32)
        # Mask the arguments first: list work then only happens on the rows that need it.
        ranged = pl.when(need).then(args)
        set_opts = pl.when(cmd == "set").then(args).list.slice(2)
        zadd_opts = pl.when(cmd == "zadd").then(args).list.slice(1, 3)
        xread = cmd.is_in(_XREAD)
        value_at = (
            pl.when(cmd.is_in(["ping", "echo"]))
            .then(0)
            .when(cmd == "append")
            .then(1)
            .when(cmd == "setrange")
            .then(2)
        )
        value = pl.when(value_at.is_not_null()).then(args).list.get(value_at, null_on_oob=True)
        df = self._mget(df)
        return df.select(
            "command",
            "arg_count",
            "key_count",
            _client=pl.col("origin") == schema.ORIGIN_CLIENT,
            _own=ki.is_not_null(),
            _sz=pl.coalesce(ki, pi + self.n_keys),
            _pim=pl.when(cmd == "mget").then(pi),
            _s1=_bound(ranged.list.get(1, null_on_oob=True), cmd),
            _s2=_bound(ranged.list.get(2, null_on_oob=True), cmd),
            _tail=ranged.list.slice(3).list.join(" "),
            _set_get=(set_opts.list.contains("GET") | set_opts.list.contains("get")).fill_null(
                False
            ),
            _zincr=(zadd_opts.list.contains("INCR") | zadd_opts.list.contains("incr")).fill_null(
                False
            ),
            _vlen=_unescaped_len(value),
            _xr=pl.when(xread)
            .then(args)
            .list.slice(0, 6)
            .list.join(" ")
            .str.to_uppercase()
            .str.extract(r"(?:^| )COUNT (\d+)", 1)
            .cast(pl.Int64, strict=False),
            _klen=pl.when(xread).then(pl.col("key_name")).str.len_bytes().cast(pl.Int64),
            _mget_known=pl.col("_mget_known"),
            _mget_missing=pl.col("_mget_missing"),
        )

    def _mget(self, df: pl.DataFrame) -> pl.DataFrame:
        """MGET rows: sum of the sampled GET replies of their keys, and how many keys had none."""
        rows = (
            df.with_row_index("_row")
            .filter(pl.col("command") == "mget")
            .select("_row", "keys")
            .explode("keys")
            .with_columns(
                _v=pl.col("keys").replace_strict(self.strings, default=None, return_dtype=pl.Int64)
            )
            .group_by("_row")
            .agg(
                _mget_known=pl.col("_v").sum(),
                _mget_missing=pl.col("_v").null_count().cast(pl.Int64),
            )
        )
        return (
            df.with_row_index("_row")
            .join(rows, on="_row", how="left", maintain_order="left")
            .drop("_row")
        )

    def batch(self, s: pl.Series) -> pl.Series:
        """Estimate one batch of rows (a struct Series of the input columns)."""
        df = s.struct.unnest()
        if not df.height:
            return pl.Series(s.name, [], dtype=_REPLY)
        feats = self.features(df)
        keys = feats.columns
        combos = feats.unique()
        with self.lock:
            cache = self.cache
        if cache is not None:
            combos = combos.join(cache, on=keys, how="anti", nulls_equal=True)
        if combos.height:
            fresh = self.model(combos)
            with self.lock:
                # another batch may have modelled the same combinations meanwhile: keep one
                merged = fresh if self.cache is None else pl.concat([self.cache, fresh])
                merged = merged.unique(subset=keys, keep="first")
                self.cache = None if merged.height > CACHE_LIMIT else merged
                cache = merged
        out = feats.join(cache, on=keys, how="left", nulls_equal=True, maintain_order="left")
        return out.select(pl.struct("reply_bytes", "reply_confidence").alias(s.name)).to_series()

    def model(self, combos: pl.DataFrame) -> pl.DataFrame:
        """reply_bytes and reply_confidence for distinct feature combinations."""
        modelled = (
            combos.join(self.metrics, on="_sz", how="left")
            .join(self.patterns, on="_pim", how="left")
            .with_columns(
                _src=pl.when("_own")
                .then(pl.lit("sampled"))
                .when(pl.col("_sz").is_not_null())
                .then(pl.lit("pattern")),
                _opts=pl.concat_str(
                    pl.lit(" "),
                    pl.col("_s1").fill_null(""),
                    pl.lit(" "),
                    pl.col("_s2").fill_null(""),
                    pl.lit(" "),
                    pl.col("_tail").fill_null(""),
                    pl.lit(" "),
                ).str.to_uppercase(),
            )
        )
        for stage in self.stages:
            modelled = modelled.with_columns(**stage)
        # Only the rules some combination reaches: a short chain is a fast one.
        hits = modelled.select(
            [cond.fill_null(False).any().alias(str(i)) for i, (cond, _, _) in enumerate(self.rules)]
        ).row(0)
        bytes_, conf = _chain([rule for rule, hit in zip(self.rules, hits, strict=True) if hit])
        client = pl.col("_client")
        return modelled.select(
            *combos.columns,
            reply_bytes=pl.when(client)
            .then(bytes_.round(0).cast(pl.Int64))
            .otherwise(pl.lit(0, pl.Int64)),
            reply_confidence=pl.when(~client)
            .then(pl.lit("none"))
            .when(bytes_.is_null())
            .then(pl.lit("unknown"))
            .otherwise(conf),
        )


_INFINITE = ["-inf", "+inf", "-", "+", "-INF", "+INF", "inf", "INF"]
_BY_VALUE = [
    "zrangebyscore",
    "zrevrangebyscore",
    "zrangebylex",
    "zrevrangebylex",
    "xrange",
    "xrevrange",
]


def _bound(arg: pl.Expr, cmd: pl.Expr) -> pl.Expr:
    """Score/lex/id bounds matter only as "infinite or not", scan cursors not at all: fold them
    so that `ZRANGEBYSCORE k <now-60> <now>` repeats as one combination."""
    return (
        pl.when(cmd.is_in(["hscan", "sscan", "zscan"]))
        .then(pl.lit(None, pl.String))
        .when(cmd.is_in(_BY_VALUE) & ~arg.is_in(_INFINITE))
        .then(pl.lit("?"))
        .otherwise(arg)
    )


def _string_map(keys: pl.DataFrame, resp: int) -> dict[str, int]:
    """key_name -> RESP bytes of GET on it (strings and missing keys), for MGET's per-key sum."""
    rows = keys.filter(pl.col("type").is_in(["string", "none"]))
    out: dict[str, int] = {}
    for key, typ, card in rows.select("key_name", "type", "card").iter_rows():
        length = round(card or 0)
        out[key] = (3 if resp == 3 else _NULL2) if typ == "none" else length + len(str(length)) + 5
    return out


Rule = tuple[pl.Expr, pl.Expr, pl.Expr]  # (condition, reply bytes as Float64, confidence)


def _model(resp: int) -> tuple[list[dict[str, pl.Expr]], list[Rule]]:
    """The reply model over one row per distinct combination.

    Returns stages of intermediate columns (each computed once, in order) and the ordered rules
    per command family; the first rule whose condition holds gives the reply.
    """
    cmd = _c("command")
    opts = _c("_opts")
    src = _c("_src")
    n = _c("_card")
    r3 = resp == 3
    null = 3 if r3 else _NULL2
    empty_arr = 4  # *0\r\n (RESP3 %0 / ~0 alike)
    mb, fb, vb, sb = _c("_member_bulk"), _c("_field_bulk"), _c("_value_bulk"), _c("_score_bulk")
    argn = (_c("arg_count") - 1).cast(pl.Float64)

    def count_opt(name: str) -> pl.Expr:
        return opts.str.extract(rf" {name} (-?\d+) ", 1).cast(pl.Float64, strict=False)

    # Stage 1: arguments and options.
    a1, a2 = _iarg(1).cast(pl.Float64), _iarg(2).cast(pl.Float64)
    infinite = ["-INF", "+INF", "INF", "-", "+"]
    lo, hi = _arg(1).str.to_uppercase(), _arg(2).str.to_uppercase()
    stage1 = {
        "_a1": a1,
        "_a2": a2,
        "_none": _c("_type") == "none",
        "_expected": cmd.replace_strict(_TYPE_OF, default=None, return_dtype=pl.String),
        "_ws": opts.str.contains(" WITHSCORES "),
        "_wv": opts.str.contains(" WITHVALUES "),
        "_rev": cmd.is_in(["zrevrange", "zrevrangebyscore", "zrevrangebylex"])
        | ((cmd == "zrange") & opts.str.contains(" REV ")),
        "_by": opts.str.contains(" BYSCORE ") | opts.str.contains(" BYLEX "),
        "_loff": opts.str.extract(r" LIMIT (-?\d+) (-?\d+) ", 1).cast(pl.Float64, strict=False),
        "_lcnt": opts.str.extract(r" LIMIT (-?\d+) (-?\d+) ", 2).cast(pl.Float64, strict=False),
        "_count": count_opt("COUNT"),
        "_full_span": lo.is_in(infinite) & hi.is_in(infinite) & (lo != hi),
        "_x_full": _arg(1).is_in(["-", "+"]) & _arg(2).is_in(["-", "+"]),
        # RESP3 prints scores as doubles `,<text>\r\n`: same text as the RESP2 bulk, less framing.
        "_sdelta": (sb - _c("_score_len") - 3) if r3 else pl.lit(0.0),
    }
    # Stage 2: how many elements the reply holds, and where they sit (ascending positions).
    rf, rl, rc = _index_range(_c("_a1"), _c("_a2"), n)
    rev = _c("_rev")
    avail = _max0(n - _c("_loff"))
    lim_n = pl.when(_c("_lcnt") < 0).then(avail).otherwise(pl.min_horizontal(_c("_lcnt"), avail))
    stage2 = {
        "_rf": rf,
        "_rl": rl,
        "_rc": rc,
        "_lim_n": lim_n,
        "_rand_m": pl.when(_c("_a1") >= 0)
        .then(pl.min_horizontal(_c("_a1"), n))
        .otherwise(-_c("_a1")),
        "_pop_m": pl.min_horizontal(pl.when(_c("arg_count") >= 2).then(_c("_a1")).otherwise(1), n),
        "_scan_m": pl.when(_c("_encoding").is_in(["listpack", "ziplist", "intset"]))
        .then(n)
        .otherwise(pl.min_horizontal(_c("_count").fill_null(10.0), n)),
        "_pos": pl.when(_c("_a1") < 0).then(n + _c("_a1")).otherwise(_c("_a1")),
    }
    # Stage 3: ascending first/last position of each kind of range.
    full = _c("_full_span")
    stage3 = {
        # rank ranges (ZRANGE/ZREVRANGE by index): REV ranks count from the top
        "_zf": pl.when(rev).then(n - 1 - _c("_rl")).otherwise(_c("_rf")),
        "_zl": pl.when(rev).then(n - 1 - _c("_rf")).otherwise(_c("_rl")),
        # LIMIT offset count from the low end (the high end for REV) of a full span; a bounded
        # score range starts anywhere, so it gets the overall averages (-1 .. n)
        "_lf": pl.when(~full)
        .then(-1.0)
        .when(rev)
        .then(n - _c("_loff") - _c("_lim_n"))
        .otherwise(_c("_loff")),
        "_ll": pl.when(~full)
        .then(n)
        .when(rev)
        .then(n - 1 - _c("_loff"))
        .otherwise(_c("_loff") + _c("_lim_n") - 1),
        "_pf": pl.when(cmd == "zpopmax").then(n - _c("_pop_m")).otherwise(0.0),
        "_pl": pl.when(cmd == "zpopmax").then(n - 1).otherwise(_c("_pop_m") - 1),
        "_scan_cursor": pl.when(_c("_scan_m") >= n)
        .then(7.0)  # $1\r\n0\r\n: the scan is done
        .otherwise(_bulk(_digits(n).cast(pl.Float64))),
    }
    # Stage 4: average element sizes for those ranges (head/tail samples near the ends).
    head_m, tail_m = _c("_head_member_bulk"), _c("_tail_member_bulk")
    head_s, tail_s = _c("_head_score_bulk"), _c("_tail_score_bulk")
    stage4 = {}
    for name, (f, l_) in {
        "z": ("_zf", "_zl"),
        "l": ("_lf", "_ll"),
        "p": ("_pf", "_pl"),
        "r": ("_rf", "_rl"),
        "i": ("_pos", "_pos"),
    }.items():
        stage4[f"_m{name}"] = _edge(_c(f), _c(l_), n, head_m, tail_m, mb)
        if name in "zlp":
            stage4[f"_s{name}_"] = _edge(_c(f), _c(l_), n, head_s, tail_s, sb) - _c("_sdelta")
    score = sb - _c("_sdelta")

    def zreply(count: pl.Expr, m: pl.Expr, s: pl.Expr, scores: pl.Expr) -> pl.Expr:
        """ZRANGE-like reply of `count` elements of average member m and score s."""
        if r3:
            with_s = _arr(count) + count * (4 + m + s)
        else:
            with_s = _arr(2 * count) + count * (m + s)
        return pl.when(scores).then(with_s).otherwise(_arr(count) + count * m)

    rows: list[tuple[pl.Expr, pl.Expr | float | int, pl.Expr | str]] = []

    def add(cond: pl.Expr, value: pl.Expr | float | int, confidence: pl.Expr | str = src) -> None:
        rows.append((cond, value, confidence))

    none = _c("_none")
    typ = _c("_type")
    # -- WRONGTYPE: this key's own sample says it is of another type.
    expected = _c("_expected")
    add(
        (src == "sampled") & expected.is_not_null() & typ.is_not_null() & ~none & (typ != expected),
        len(WRONGTYPE),
    )

    # -- exact, from the command alone
    set_get = _c("_set_get")
    add(cmd.is_in(OK_COMMANDS) | ((cmd == "set") & ~set_get), 5, "exact")
    add(cmd.is_in(ZERO_ONE_COMMANDS), 4, "exact")
    add(cmd.is_in(KEY_COUNT_COMMANDS), _int_reply(_c("key_count").cast(pl.Float64)), "exact")
    add(cmd.is_in(ELEMENT_COUNT_COMMANDS), _int_reply(argn), "exact")
    add(cmd.is_in(PAIR_COUNT_COMMANDS) & ~_c("_zincr"), _int_reply((argn / 2).floor()), "exact")
    add((cmd == "ping") & (_c("arg_count") == 0), 7, "exact")  # +PONG
    add(cmd.is_in(["ping", "echo"]), _bulk(_c("_vlen").cast(pl.Float64)), "exact")
    add(cmd == "smismember", _arr(argn) + 4 * argn, "exact")
    add(cmd == "xadd", 22, "exact")  # "<13-digit ms>-<seq>" as a bulk string
    add(cmd == "type", typ.str.len_bytes().cast(pl.Float64) + 3)
    add(cmd.is_in(UNKNOWN_COMMANDS), pl.lit(None, pl.Float64), "unknown")

    # -- missing keys (sampled as none): null or empty replies
    single = "get getex getdel getset hget lindex lpop rpop zscore incrbyfloat hincrbyfloat"
    no_count = cmd.is_in(["srandmember", "spop", "hrandfield", "zrandmember"]) & (
        _c("arg_count") == 1
    )
    add(none & (cmd.is_in(single.split()) | set_get | no_count), null)
    add(none & cmd.is_in(["incr", "decr"]), 4)
    add(none & cmd.is_in(["incrby", "decrby"]), _int_reply(_c("_a1")))
    add(none & cmd.is_in(["hmget", "zmscore"]), _arr(argn) + null * argn)
    empty = (
        "hgetall hkeys hvals lrange smembers zrange zrevrange zrangebyscore zrevrangebyscore "
        "zrangebylex zrevrangebylex xrange xrevrange spop srandmember hrandfield zrandmember "
        "zpopmin zpopmax"
    )
    add(none & cmd.is_in(empty.split()), empty_arr)
    add(none & cmd.is_in(["hscan", "sscan", "zscan"]), 4 + 7 + empty_arr)
    counts = "strlen hlen llen scard zcard xlen zcount zlexcount hstrlen"
    add(none & cmd.is_in(counts.split()), 4)
    add(none & cmd.is_in(["ttl", "pttl"]), 5)  # :-2

    # -- strings
    add(cmd.is_in(["get", "getex", "getdel", "getset"]) | set_get, _bulk(n))
    add(cmd.is_in(["getrange", "substr"]), _bulk(_c("_rc")))
    add(cmd.is_in(["strlen", "hlen", "llen", "scard", "zcard", "xlen"]), _int_reply(n))
    add(cmd.is_in(["incr", "decr", "incrby", "decrby"]), n + 3)
    add(cmd == "incrbyfloat", _bulk(n))
    add(cmd.is_in(["append", "setrange"]), _int_reply(n + _c("_vlen")))
    missing = _c("_mget_missing")
    mget = _arr(_c("key_count").cast(pl.Float64)) + _c("_mget_known").cast(pl.Float64)
    pattern_get = pl.when(_c("_p_type") == "string").then(_bulk(_c("_p_card")))
    add((cmd == "mget") & (missing == 0), mget, "sampled")
    add((cmd == "mget") & pattern_get.is_not_null(), mget + missing * pattern_get, "pattern")
    add(cmd == "mget", pl.lit(None, pl.Float64), "unknown")

    # -- hashes
    add(cmd == "hget", vb)
    add(cmd == "hmget", _arr(argn) + argn * vb)
    add(cmd == "hgetall", _arr(n if r3 else 2 * n) + n * (fb + vb))
    add(cmd == "hkeys", _arr(n) + n * fb)
    add(cmd == "hvals", _arr(n) + n * vb)
    add(cmd == "hstrlen", _int_reply(_c("_value_len")))
    add(cmd == "hincrby", _c("_value_len").round(0) + 3)
    add(cmd == "hincrbyfloat", vb)
    rand_m = _c("_rand_m")
    add((cmd == "hrandfield") & (_c("arg_count") == 1), fb)
    pairs = _arr(rand_m) + rand_m * (4 + fb + vb) if r3 else _arr(2 * rand_m) + rand_m * (fb + vb)
    add((cmd == "hrandfield") & _c("_wv"), pairs)
    add(cmd == "hrandfield", _arr(rand_m) + rand_m * fb)
    # SCAN family: small encodings come back whole in one call, big ones ~COUNT (default 10).
    scan_m, cursor = _c("_scan_m"), _c("_scan_cursor")
    add(cmd == "hscan", 4 + cursor + _arr(2 * scan_m) + scan_m * (fb + vb))

    # -- lists
    add(cmd == "lrange", _arr(_c("_rc")) + _c("_rc") * _c("_mr"))
    pos = _c("_pos")
    add(cmd == "lindex", pl.when((pos < 0) | (pos >= n)).then(float(null)).otherwise(_c("_mi")))
    head_item = pl.coalesce(head_m, mb)
    tail_item = pl.coalesce(tail_m, mb)
    pop_m = _c("_pop_m")
    add((cmd == "lpop") & (_c("arg_count") == 1), head_item)
    add((cmd == "rpop") & (_c("arg_count") == 1), tail_item)
    add(cmd == "lpop", _arr(pop_m) + pop_m * head_item)
    add(cmd == "rpop", _arr(pop_m) + pop_m * tail_item)
    add(cmd.is_in(["lpush", "rpush", "lpushx", "rpushx", "linsert"]), _int_reply(n + argn))
    add(cmd.is_in(["lrem", "lpos"]), 4)

    # -- sets (RESP3 ~n headers are the size of *n)
    add(cmd == "smembers", _arr(n) + n * mb)
    add(cmd.is_in(["srandmember", "spop"]) & (_c("arg_count") == 1), mb)
    add(cmd.is_in(["srandmember", "spop"]), _arr(rand_m) + rand_m * mb)
    add(cmd == "sscan", 4 + cursor + _arr(scan_m) + scan_m * mb)

    # -- sorted sets
    ws = _c("_ws")
    by_cmd = cmd.is_in(["zrangebyscore", "zrevrangebyscore", "zrangebylex", "zrevrangebylex"]) | (
        (cmd == "zrange") & _c("_by")
    )
    add(
        cmd.is_in(["zrange", "zrevrange"]) & ~_c("_by"),
        zreply(_c("_rc"), _c("_mz"), _c("_sz_"), ws),
    )
    # Score/lex ranges: LIMIT bounds the reply; without LIMIT only a full span is known.
    add(by_cmd & _c("_lcnt").is_not_null(), zreply(_c("_lim_n"), _c("_ml"), _c("_sl_"), ws))
    add(by_cmd & _c("_full_span"), zreply(n, mb, score, ws))
    add(by_cmd, pl.lit(None, pl.Float64), "unknown")
    add(cmd.is_in(["zscore", "zincrby"]) | ((cmd == "zadd") & _c("_zincr")), score)
    add(cmd == "zmscore", _arr(argn) + argn * score)
    add(cmd.is_in(["zrank", "zrevrank"]), _int_reply(_max0(n - 1)))
    add(cmd.is_in(["zcount", "zlexcount"]), _int_reply(n))
    add(cmd.is_in(["zpopmin", "zpopmax"]), zreply(pop_m, _c("_mp"), _c("_sp_"), pl.lit(True)))
    add((cmd == "zrandmember") & (_c("arg_count") == 1), mb)
    add(cmd == "zrandmember", zreply(rand_m, mb, score, ws))
    add(cmd == "zscan", 4 + cursor + _arr(2 * scan_m) + scan_m * (mb + score))

    # -- streams
    entry = _c("_entry_bytes")
    x_m = (
        pl.when(_c("_count").is_not_null())
        .then(pl.min_horizontal(_c("_count"), n))
        .when(_c("_x_full"))
        .then(n)
    )
    add(cmd.is_in(["xrange", "xrevrange"]), _arr(x_m) + x_m * entry)
    xr_m = pl.min_horizontal(_c("_xr").cast(pl.Float64), n)
    key_bulk = _bulk(_c("_klen").cast(pl.Float64))
    add(
        cmd.is_in(["xread", "xreadgroup"]) & (_c("key_count") == 1),
        4 + 4 + key_bulk + _arr(xr_m) + xr_m * entry,
    )

    # -- keyspace (PTTL -1/-2 were sampled as "no TTL": both 5 bytes)
    ttl = _c("_ttl_ms")
    add(cmd == "ttl", pl.when(ttl.is_null()).then(5.0).otherwise(_int_reply(ttl / 1000)))
    add(cmd == "pttl", pl.when(ttl.is_null()).then(5.0).otherwise(_int_reply(ttl)))

    rules = [
        (
            cond,
            (value if isinstance(value, pl.Expr) else pl.lit(float(value))).cast(pl.Float64),
            confidence if isinstance(confidence, pl.Expr) else pl.lit(confidence),
        )
        for cond, value, confidence in rows
    ]
    return [stage1, stage2, stage3, stage4], rules


def _chain(rules: list[Rule]) -> tuple[pl.Expr, pl.Expr]:
    """First matching rule wins; no match (or null bytes) is "unknown" — never a default."""
    bytes_chain: Any = pl
    conf_chain: Any = pl
    for cond, value, confidence in rules:
        bytes_chain = bytes_chain.when(cond).then(value)
        conf_chain = conf_chain.when(cond).then(confidence)
    if not rules:
        return pl.lit(None, pl.Float64), pl.lit("unknown")
    return bytes_chain.otherwise(pl.lit(None, pl.Float64)), conf_chain.otherwise(pl.lit("unknown"))


# -- replication output --------------------------------------------------------------------------
WRITE_COMMANDS = frozenset(
    [
        "set",
        "setex",
        "psetex",
        "setnx",
        "mset",
        "msetnx",
        "append",
        "setrange",
        "incr",
        "decr",
        "incrby",
        "decrby",
        "incrbyfloat",
        "getset",
        "getdel",
        "getex",
        "del",
        "unlink",
        "expire",
        "pexpire",
        "expireat",
        "pexpireat",
        "persist",
        "rename",
        "renamenx",
        "move",
        "copy",
        "restore",
        "hset",
        "hsetnx",
        "hmset",
        "hdel",
        "hincrby",
        "hincrbyfloat",
        "lpush",
        "rpush",
        "lpushx",
        "rpushx",
        "linsert",
        "lset",
        "ltrim",
        "lrem",
        "lpop",
        "rpop",
        "lmove",
        "rpoplpush",
        "blpop",
        "brpop",
        "blmove",
        "sadd",
        "srem",
        "spop",
        "smove",
        "sinterstore",
        "sunionstore",
        "sdiffstore",
        "zadd",
        "zrem",
        "zincrby",
        "zpopmin",
        "zpopmax",
        "zremrangebyrank",
        "zremrangebyscore",
        "zremrangebylex",
        "zunionstore",
        "zinterstore",
        "zdiffstore",
        "zrangestore",
        "xadd",
        "xdel",
        "xtrim",
        "xack",
        "xclaim",
        "xautoclaim",
        "xgroup",
        "xsetid",
        "pfadd",
        "pfmerge",
        "setbit",
        "bitop",
        "bitfield",
        "flushdb",
        "flushall",
        "swapdb",
        "geoadd",
        "georadius",
        "georadiusbymember",
    ]
)


def write_commands(commands_reply: list[Any] | None) -> frozenset[str]:
    """Lower-case names of commands flagged `write` in a saved `COMMAND` reply (else a built-in set)."""
    names = set()
    for entry in commands_reply or []:
        if (
            isinstance(entry, list)
            and len(entry) >= 3
            and isinstance(entry[2], list)
            and "write" in entry[2]
        ):
            names.add(str(entry[0]).lower())
    return frozenset(names) or WRITE_COMMANDS


def replica_counts(manifest: Manifest) -> dict[str, int]:
    """node -> how many replicas it feeds (0 for replicas), from the manifest's topology."""
    counts = {n.node: 0 for n in manifest.nodes}
    for n in manifest.nodes:
        if n.role == "replica" and n.primary_node in counts:
            counts[n.primary_node] += 1
    for shard in manifest.shards:
        if shard.primary in counts and not counts[shard.primary]:
            counts[shard.primary] = max(0, len(shard.nodes) - 1)
    return counts


def replication_bytes(
    lf: pl.LazyFrame, replicas: Mapping[str, int], writes: Iterable[str] | None = None
) -> pl.LazyFrame:
    """Estimated replication output per node: each write's request size once per replica.

    Counts the writes a primary ran for clients and inside scripts (`origin` client or script;
    script effects are replicated, EVAL itself is not). Over-counts writes that changed nothing
    (DEL of a missing key) and ignores SELECT/PING/MULTI framing. Columns: node,
    repl_writes, repl_bytes_out (Int64).
    """
    write_set = sorted(writes or WRITE_COMMANDS)
    rep = pl.DataFrame(
        {"node": list(replicas), "_replicas": [int(v) for v in replicas.values()]},
        schema={"node": pl.String, "_replicas": pl.Int64},
    )
    return (
        lf.filter(
            pl.col("command").is_in(write_set)
            & pl.col("origin").is_in([schema.ORIGIN_CLIENT, schema.ORIGIN_SCRIPT])
        )
        .group_by("node")
        .agg(repl_writes=pl.len().cast(pl.Int64), _req=pl.col("request_bytes").sum().cast(pl.Int64))
        .join(rep.lazy(), on="node", how="left")
        .select(
            "node",
            "repl_writes",
            repl_bytes_out=(pl.col("_req") * pl.col("_replicas").fill_null(0)).cast(pl.Int64),
        )
        .sort("node")
    )
