"""The rules of the reply model: RESP framing and one rule per command family.

`hotshard.analyze.estimate.replies` turns each batch of commands into distinct combinations of what a reply depends
on (command, the arguments that matter, the sampled key or pattern) and evaluates these rules over
them: `rules` gives staged intermediate columns and the ordered rules; the first rule whose
condition holds gives the reply bytes (Float64, null = unknown) and the confidence.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from hotshard.analyze.estimate.reply_kinds import (
    ELEMENT_COUNT_COMMANDS,
    KEY_COUNT_COMMANDS,
    OK_COMMANDS,
    PAIR_COUNT_COMMANDS,
    TYPE_OF,
    UNKNOWN_COMMANDS,
    WRONGTYPE,
    ZERO_ONE_COMMANDS,
)
from hotshard.analyze.estimate.resp_exprs import (
    NULL,
    RESP3_NULL,
    array_header,
    bulk,
    digits,
    integer,
    simple,
)


# -- expression helpers -------------------------------------------------------------------------
def _c(name: str) -> pl.Expr:
    return pl.col(name)


def _arg(i: int) -> pl.Expr:
    """Argument i (1 or 2) of a command in ARG_COMMANDS, as quoted."""
    return _c(f"_s{i}")


def _iarg(i: int) -> pl.Expr:
    return _arg(i).cast(pl.Int64, strict=False)


def unescaped_len(text: pl.Expr) -> pl.Expr:
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


Rule = tuple[pl.Expr, pl.Expr, pl.Expr]  # (condition, reply bytes as Float64, confidence)


def rules(resp: int) -> tuple[list[dict[str, pl.Expr]], list[Rule]]:
    """The reply model over one row per distinct combination.

    Returns stages of intermediate columns (each computed once, in order) and the ordered rules
    per command family; the first rule whose condition holds gives the reply.
    """
    cmd = _c("command")
    opts = _c("_opts")
    src = _c("_src")
    n = _c("_card")
    r3 = resp == 3
    null = RESP3_NULL if r3 else NULL
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
        "_expected": cmd.replace_strict(TYPE_OF, default=None, return_dtype=pl.String),
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
        .otherwise(bulk(digits(n).cast(pl.Float64))),
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
            with_s = array_header(count) + count * (4 + m + s)
        else:
            with_s = array_header(2 * count) + count * (m + s)
        return pl.when(scores).then(with_s).otherwise(array_header(count) + count * m)

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
    add(cmd.is_in(KEY_COUNT_COMMANDS), integer(_c("key_count").cast(pl.Float64)), "exact")
    add(cmd.is_in(ELEMENT_COUNT_COMMANDS), integer(argn), "exact")
    add(cmd.is_in(PAIR_COUNT_COMMANDS) & ~_c("_zincr"), integer((argn / 2).floor()), "exact")
    add((cmd == "ping") & (_c("arg_count") == 0), 7, "exact")  # +PONG
    add(cmd.is_in(["ping", "echo"]), bulk(_c("_vlen").cast(pl.Float64)), "exact")
    add(cmd == "smismember", array_header(argn) + 4 * argn, "exact")
    add(cmd == "xadd", 22, "exact")  # "<13-digit ms>-<seq>" as a bulk string
    add(cmd == "type", simple(typ.str.len_bytes().cast(pl.Float64)))
    add(cmd.is_in(UNKNOWN_COMMANDS), pl.lit(None, pl.Float64), "unknown")

    # -- missing keys (sampled as none): null or empty replies
    single = "get getex getdel getset hget lindex lpop rpop zscore incrbyfloat hincrbyfloat"
    no_count = cmd.is_in(["srandmember", "spop", "hrandfield", "zrandmember"]) & (
        _c("arg_count") == 1
    )
    add(none & (cmd.is_in(single.split()) | set_get | no_count), null)
    add(none & cmd.is_in(["incr", "decr"]), 4)
    add(none & cmd.is_in(["incrby", "decrby"]), integer(_c("_a1")))
    add(none & cmd.is_in(["hmget", "zmscore"]), array_header(argn) + null * argn)
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
    add(cmd.is_in(["get", "getex", "getdel", "getset"]) | set_get, bulk(n))
    add(cmd.is_in(["getrange", "substr"]), bulk(_c("_rc")))
    add(cmd.is_in(["strlen", "hlen", "llen", "scard", "zcard", "xlen"]), integer(n))
    add(cmd.is_in(["incr", "decr", "incrby", "decrby"]), simple(n))
    add(cmd == "incrbyfloat", bulk(n))
    add(cmd.is_in(["append", "setrange"]), integer(n + _c("_vlen")))
    missing = _c("_mget_missing")
    mget = array_header(_c("key_count").cast(pl.Float64)) + _c("_mget_known").cast(pl.Float64)
    # A key of the pattern: missing in the share `_p_miss` of its samples (sampled_sizes.pattern_sizes).
    p_miss = _c("_p_miss").fill_null(0.0)
    pattern_get = (
        pl.when(_c("_p_type") == "string")
        .then((1 - p_miss) * bulk(_c("_p_card")) + p_miss * null)
        .when(_c("_p_type") == "none")
        .then(pl.lit(float(null)))
    )
    add((cmd == "mget") & (missing == 0), mget, "sampled")
    add((cmd == "mget") & pattern_get.is_not_null(), mget + missing * pattern_get, "pattern")
    add(cmd == "mget", pl.lit(None, pl.Float64), "unknown")

    # -- hashes: where the sample saw every field, a field it did not show is a null reply
    hmiss, hval = _c("_hmiss").cast(pl.Float64), _c("_hval").cast(pl.Float64)
    known = hmiss.is_not_null() & ~none
    add((cmd == "hget") & known, pl.when(hmiss > 0).then(float(null)).otherwise(hval))
    add((cmd == "hmget") & known, array_header(argn) + hval + hmiss * null)
    add(cmd == "hget", vb)
    add(cmd == "hmget", array_header(argn) + argn * vb)
    add(cmd == "hgetall", array_header(n if r3 else 2 * n) + n * (fb + vb))
    add(cmd == "hkeys", array_header(n) + n * fb)
    add(cmd == "hvals", array_header(n) + n * vb)
    add(cmd == "hstrlen", integer(_c("_value_len")))
    add(cmd == "hincrby", simple(_c("_value_len").round(0)))
    add(cmd == "hincrbyfloat", vb)
    rand_m = _c("_rand_m")
    add((cmd == "hrandfield") & (_c("arg_count") == 1), fb)
    pairs = (
        array_header(rand_m) + rand_m * (4 + fb + vb)
        if r3
        else array_header(2 * rand_m) + rand_m * (fb + vb)
    )
    add((cmd == "hrandfield") & _c("_wv"), pairs)
    add(cmd == "hrandfield", array_header(rand_m) + rand_m * fb)
    # SCAN family: small encodings come back whole in one call, big ones ~COUNT (default 10).
    scan_m, cursor = _c("_scan_m"), _c("_scan_cursor")
    add(cmd == "hscan", 4 + cursor + array_header(2 * scan_m) + scan_m * (fb + vb))

    # -- lists
    add(cmd == "lrange", array_header(_c("_rc")) + _c("_rc") * _c("_mr"))
    pos = _c("_pos")
    add(cmd == "lindex", pl.when((pos < 0) | (pos >= n)).then(float(null)).otherwise(_c("_mi")))
    head_item = pl.coalesce(head_m, mb)
    tail_item = pl.coalesce(tail_m, mb)
    pop_m = _c("_pop_m")
    add((cmd == "lpop") & (_c("arg_count") == 1), head_item)
    add((cmd == "rpop") & (_c("arg_count") == 1), tail_item)
    add(cmd == "lpop", array_header(pop_m) + pop_m * head_item)
    add(cmd == "rpop", array_header(pop_m) + pop_m * tail_item)
    add(cmd.is_in(["lpush", "rpush", "lpushx", "rpushx", "linsert"]), integer(n + argn))
    add(cmd.is_in(["lrem", "lpos"]), 4)

    # -- sets (RESP3 ~n headers are the size of *n)
    add(cmd == "smembers", array_header(n) + n * mb)
    add(cmd.is_in(["srandmember", "spop"]) & (_c("arg_count") == 1), mb)
    add(cmd.is_in(["srandmember", "spop"]), array_header(rand_m) + rand_m * mb)
    add(cmd == "sscan", 4 + cursor + array_header(scan_m) + scan_m * mb)

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
    add(cmd == "zmscore", array_header(argn) + argn * score)
    add(cmd.is_in(["zrank", "zrevrank"]), integer(_max0(n - 1)))
    add(cmd.is_in(["zcount", "zlexcount"]), integer(n))
    add(cmd.is_in(["zpopmin", "zpopmax"]), zreply(pop_m, _c("_mp"), _c("_sp_"), pl.lit(True)))
    add((cmd == "zrandmember") & (_c("arg_count") == 1), mb)
    add(cmd == "zrandmember", zreply(rand_m, mb, score, ws))
    add(cmd == "zscan", 4 + cursor + array_header(2 * scan_m) + scan_m * (mb + score))

    # -- streams
    entry = _c("_entry_bytes")
    x_m = (
        pl.when(_c("_count").is_not_null())
        .then(pl.min_horizontal(_c("_count"), n))
        .when(_c("_x_full"))
        .then(n)
    )
    add(cmd.is_in(["xrange", "xrevrange"]), array_header(x_m) + x_m * entry)
    xr_m = pl.min_horizontal(_c("_xr").cast(pl.Float64), n)
    key_bulk = bulk(_c("_klen").cast(pl.Float64))
    add(
        cmd.is_in(["xread", "xreadgroup"]) & (_c("key_count") == 1),
        4 + 4 + key_bulk + array_header(xr_m) + xr_m * entry,
    )

    # -- keyspace (PTTL -1/-2 were sampled as "no TTL": both 5 bytes)
    ttl = _c("_ttl_ms")
    add(cmd == "ttl", pl.when(ttl.is_null()).then(5.0).otherwise(integer(ttl / 1000)))
    add(cmd == "pttl", pl.when(ttl.is_null()).then(5.0).otherwise(integer(ttl)))

    rules = [
        (
            cond,
            (value if isinstance(value, pl.Expr) else pl.lit(float(value))).cast(pl.Float64),
            confidence if isinstance(confidence, pl.Expr) else pl.lit(confidence),
        )
        for cond, value, confidence in rows
    ]
    return [stage1, stage2, stage3, stage4], rules


def chain(rules: list[Rule]) -> tuple[pl.Expr, pl.Expr]:
    """First matching rule wins; no match (or null bytes) is "unknown" — never a default."""
    bytes_chain: Any = pl
    conf_chain: Any = pl
    for cond, value, confidence in rules:
        bytes_chain = bytes_chain.when(cond).then(value)
        conf_chain = conf_chain.when(cond).then(confidence)
    if not rules:
        return pl.lit(None, pl.Float64), pl.lit("unknown")
    return bytes_chain.otherwise(pl.lit(None, pl.Float64)), conf_chain.otherwise(pl.lit("unknown"))
