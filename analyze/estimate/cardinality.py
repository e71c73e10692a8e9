"""Collections sized through the window: whole reads placed between the two samples.

A sorted set, hash, set, list or stream is sampled twice (capture/window_sample.py soon after its
first read in the window, capture/sizing.py after it): cardinality c0 at t0 and c1 at t1. The reply model
(analyze/estimate/replies.py) sizes every read by c1; a collection that grew, was trimmed or deleted during
the window answered its earlier reads with another number of elements. MONITOR shows every write
of the key, so each read is placed between the samples by the writes before it:

- anchors, where the cardinality is known: the two samples, every DEL/UNLINK/GETDEL/FLUSH of the
  key (0 after it), the expiry the start sample's PTTL foretold (when no write came first), and
  an `LTRIM s e` with indexes of one sign (e - s + 1 after it: a capped list is that long);
- up to a sample, the cardinality at a read is c0 + (c1 - c0) × (writes since t0 before the
  read) / (writes between t0 and t1) — from t0, or from a DEL/LTRIM's known length — each write
  weighted by the elements it names (RPUSH of 3 weighs 3: a list only pushed to is then placed
  exactly; ZADDs that only update scores weigh much and change little, and so move it little);
- before the first sample, at the pace (change per weight) of the writes between the samples;
- up to a DEL or LTRIM, by the elements the writes name, signed (RPUSH adds n, LPOP takes one,
  ZADD adds at most its pairs): nothing says how big the key was just before a DEL;
- a read with no write between it and a sample has that sample's cardinality (`sampled-during`
  for the in-window sample, `sampled` for the after-window one); a read after a DEL (or the
  expiry) with no write since is an empty reply (`exact`); a read between an anchor and a sample
  is `interpolated`; one sized from a single anchor through the writes named since or until it
  (before the first sample, after a DEL or LTRIM) is `replayed`. The element sizes stay the sampled averages (the after sample's, the start
  one's when the key was gone by then).

Every collection sampled in the window and after it is placed (`Brackets`), those of the same
size in both samples too: a trim or DEL before the first sample shows only in the lines. A node
whose own sample missed a key takes that of another node of its shard.

A read with nothing known before it and a DEL or LTRIM after it (the sampler reached the key
after the change) is sized by the pattern's siblings the window did not change (the same type
and cardinality in both samples, the key itself left out: `pattern`) — never by the key's
post-change size — else, before an `LTRIM`, by the bound the trim gives: at least the length
it kept, less what the writes between added (`bounded`). Before a DEL with no such sibling
nothing bounds it: the model's size stands.

Which reads: those whose reply is a header plus one item per element of a range that only the
cardinality clips — HGETALL/HKEYS/HVALS, SMEMBERS, LRANGE and ZRANGE/ZREVRANGE by index
(WITHSCORES or not), full-span ZRANGEBYSCORE/BYLEX without LIMIT, and XRANGE/XREVRANGE - + without
COUNT. A read whose element count comes out as the model's keeps the model's bytes and label.

The placement needs the writes after a read, up to t1: `write_events` (collection_writes.py)
reads the source's lines once before its rows (only the lines naming a bracketed key are
parsed), so every chunk's reads are placed by an as-of join on the key's timeline, with no
state between chunks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from hotshard.analyze import schema
from hotshard.analyze.estimate import placement, resp_exprs
from hotshard.analyze.estimate.reply_kinds import INFINITE
from hotshard.analyze.estimate.through_time import resized, shard_mates
from hotshard.analyze.keys import patterns
from hotshard.capture.format import resp
from hotshard.capture.format.lines import escape_bytes
from hotshard.capture.format.manifest import KeySize

# Transient columns `rows._finish` adds per row from its reply combination (`read_columns`).
READ_COLUMNS = ("_rd", "_r1", "_r2")

# Read kinds: (command type, elements per item in the RESP2 header, RESP3 header).
_KINDS: dict[int, tuple[str, int, int]] = {
    1: ("hash", 2, 1),  # HGETALL: field, value (RESP3: a map of n)
    2: ("hash", 1, 1),  # HKEYS
    3: ("hash", 1, 1),  # HVALS
    4: ("set", 1, 1),  # SMEMBERS
    5: ("list", 1, 1),  # LRANGE
    6: ("zset", 1, 1),  # ZRANGE ... (members)
    7: ("zset", 2, 1),  # ZRANGE ... WITHSCORES
    8: ("stream", 1, 1),  # XRANGE - +
}
_COLLECTIONS = ("hash", "set", "list", "zset", "stream")

_BRACKET: dict[str, pl.DataType] = {
    "key_name": pl.String(),
    "_type": pl.String(),
    "_t0": pl.Float64(),
    "_c0": pl.Int64(),
    "_t1": pl.Float64(),
    "_c1": pl.Int64(),
    "_expires": pl.Float64(),  # t0 + the start sample's PTTL
    "_mb": pl.Float64(),  # member / item bulk
    "_fb": pl.Float64(),
    "_vb": pl.Float64(),
    "_sb": pl.Float64(),
    "_sl": pl.Float64(),  # score length as printed
    "_eb": pl.Float64(),  # stream entry
    "_sib": pl.Float64(),  # cardinality of the pattern's siblings the window did not change
}


def read_columns(combos: pl.DataFrame) -> pl.DataFrame:
    """Per reply combination (`rows._combos`: `command`, `_f_s1`, `_f_s2`, `_f_tail`): the read
    kind (`_rd`, 0 when the reply does not scale with the cardinality) and the index range that
    the cardinality clips (`_r1`, `_r2`; 0 and -1 for a whole read)."""
    cmd, s1, s2 = pl.col("command"), pl.col("_f_s1"), pl.col("_f_s2")
    opts = pl.lit(" ") + pl.col("_f_tail").fill_null("").str.to_uppercase() + pl.lit(" ")
    ws = opts.str.contains(" WITHSCORES ")
    by = opts.str.contains(" BYSCORE ") | opts.str.contains(" BYLEX ")
    limited = opts.str.contains(" LIMIT ")
    full_span = s1.is_in(INFINITE) & s2.is_in(INFINITE) & (s1 != s2)
    by_cmd = cmd.is_in(["zrangebyscore", "zrevrangebyscore", "zrangebylex", "zrevrangebylex"])
    index = cmd.is_in(["zrange", "zrevrange"]) & ~by & ~limited
    by_full = (by_cmd | ((cmd == "zrange") & by)) & full_span & ~limited
    zkind = pl.when(ws).then(7).otherwise(6)
    kind = (
        pl.when(cmd == "hgetall")
        .then(1)
        .when(cmd == "hkeys")
        .then(2)
        .when(cmd == "hvals")
        .then(3)
        .when(cmd == "smembers")
        .then(4)
        .when(cmd == "lrange")
        .then(5)
        .when(index | by_full)
        .then(zkind)
        .when(
            cmd.is_in(["xrange", "xrevrange"])
            & s1.is_in(["-", "+"])
            & s2.is_in(["-", "+"])
            & ~opts.str.contains(" COUNT ")
        )
        .then(8)
        .otherwise(0)
    )
    ranged = cmd.is_in(["lrange"]) | index
    return combos.select(
        _rd=kind.cast(pl.Int8),
        _r1=pl.when(ranged).then(s1.cast(pl.Int64, strict=False)).otherwise(0),
        _r2=pl.when(ranged).then(s2.cast(pl.Int64, strict=False)).otherwise(-1),
    )


def _is_plain(key: str) -> bool:
    """A key MONITOR prints as its text (no escapes): found in the lines as `"key"`."""
    return escape_bytes(key.encode()) == key


class Brackets:
    """Per node, the collections sampled in the window and after it (`_BRACKET`), with what
    their unchanged pattern siblings say (`_sib`)."""

    def __init__(
        self,
        start: Sequence[KeySize],
        after: Sequence[KeySize],
        shards: Mapping[str, str] | None = None,
        rules: Sequence[patterns.Rule] = patterns.DEFAULT_RULES,
    ) -> None:
        self.shards = dict(shards or {})
        self.start = {(s.node, s.key): s for s in start if _usable(s)}
        self.after = {(s.node, s.key): s for s in after if _usable(s) and _is_plain(s.key)}
        self.nodes = sorted({n for n, _ in self.start} | {n for n, _ in self.after})
        self.cache: dict[str, pl.DataFrame | None] = {}
        self.pattern, self.siblings = _unchanged_siblings(self.start, self.after, rules)

    def of(self, node: str) -> pl.DataFrame | None:
        """The bracketed keys of `node`: each sample its own, else that of another node of its
        shard (each node's in-window sample sizes the keys its own stream showed)."""
        if node not in self.cache:
            self.cache[node] = self._of(node)
        return self.cache[node]

    def _of(self, node: str) -> pl.DataFrame | None:
        mates = shard_mates(node, self.nodes, self.shards)

        def pick(samples: dict[tuple[str, str], KeySize], key: str) -> KeySize | None:
            return next((samples[(n, key)] for n in mates if (n, key) in samples), None)

        keys = sorted({k for n, k in self.after if n in mates})
        rows: list[dict[str, object]] = []
        for key in keys:
            s0, s1 = pick(self.start, key), pick(self.after, key)
            if s0 is None or s1 is None:
                continue
            sized = s1 if s1.type in _COLLECTIONS else s0  # the element averages
            if sized.type not in _COLLECTIONS or s0.type not in (sized.type, "none"):
                continue
            if s1.type not in (sized.type, "none"):
                continue
            assert s0.sampled_at is not None and s1.sampled_at is not None
            expires = s0.sampled_at + s0.ttl_ms / 1000 if s0.ttl_ms is not None else None
            pattern = self.pattern.get(s1.key)
            rows.append(
                {
                    "key_name": s1.key,
                    "_type": sized.type,
                    "_t0": s0.sampled_at,
                    "_c0": s0.cardinality or 0,
                    "_t1": s1.sampled_at,
                    "_c1": s1.cardinality or 0,
                    "_expires": expires,
                    "_mb": _bulk(sized.avg_member_bulk, sized.avg_member_len),
                    "_fb": _bulk(sized.avg_field_bulk, sized.avg_field_len),
                    "_vb": _bulk(sized.avg_value_bulk, sized.avg_value_len),
                    "_sb": _bulk(sized.avg_score_bulk, sized.avg_score_len),
                    "_sl": sized.avg_score_len,
                    "_eb": sized.avg_entry_bytes,
                    "_sib": self._sibling(pattern, sized.type, s0, s1),
                }
            )
        # Keys the same size in both samples are placed too: a trim or a DEL before the first
        # sample is a change the samples cannot show, only the lines.
        return pl.DataFrame(rows, schema=_BRACKET) if rows else None

    def _sibling(self, pattern: str | None, typ: str, s0: KeySize, s1: KeySize) -> float | None:
        """The average cardinality of the pattern's other unchanged collections of `typ`."""
        total, n = self.siblings.get((pattern, typ), (0.0, 0))
        if _unchanged(s0, s1) and s0.node == s1.node:
            total, n = total - float(s0.cardinality or 0), n - 1
        return total / n if n > 0 else None


def _unchanged_siblings(
    start: Mapping[tuple[str, str], KeySize],
    after: Mapping[tuple[str, str], KeySize],
    rules: Sequence[patterns.Rule],
) -> tuple[dict[str, str], dict[tuple[str | None, str], tuple[float, int]]]:
    """(key -> pattern, (pattern, type) -> the summed cardinality and count of its collections
    that the window did not change: the same type and cardinality in both samples of one node,
    the key itself left out where it is used, `Brackets._sibling`). What a
    changed key's read is sized by when nothing about the key itself precedes it: never the
    post-change size of the key."""
    keys = sorted({k for _, k in start} | {k for _, k in after})
    if not keys:
        return {}, {}
    frame = patterns.add_pattern(pl.LazyFrame({"key_name": keys}), "key_name", rules).collect()
    pattern = dict(zip(frame["key_name"], frame["key_pattern"], strict=True))
    sums: dict[tuple[str | None, str], tuple[float, int]] = {}
    for (node, key), s0 in sorted(start.items()):
        s1 = after.get((node, key))
        if s1 is not None and _unchanged(s0, s1):
            assert s0.type is not None
            total, n = sums.get((pattern.get(key), s0.type), (0.0, 0))
            sums[(pattern.get(key), s0.type)] = (total + float(s0.cardinality or 0), n + 1)
    return pattern, sums


def _unchanged(s0: KeySize, s1: KeySize) -> bool:
    """A collection of the same type and cardinality in both samples (of one node)."""
    return s0.type in _COLLECTIONS and s1.type == s0.type and s1.cardinality == s0.cardinality


def _usable(s: KeySize) -> bool:
    return not s.error and s.sampled_at is not None and s.type is not None


def _bulk(bulk: float | None, length: float | None) -> float | None:
    """The sampled size of an element on the wire, or a bulk string of its average length."""
    if bulk is not None:
        return bulk
    return None if length is None else resp.bulk(length, lambda n: resp.decimal_digits(round(n)))


# -- the pass ------------------------------------------------------------------------------------
def _count(r1: pl.Expr, r2: pl.Expr, n: pl.Expr) -> pl.Expr:
    """Elements of index range `r1 r2` on a collection of n (Redis' LRANGE/ZRANGE rule)."""
    s = pl.when(r1 < 0).then(pl.max_horizontal(n + r1, pl.lit(0))).otherwise(r1)
    e = pl.when(r2 < 0).then(n + r2).otherwise(pl.min_horizontal(r2, n - 1))
    return pl.when((s > e) | (s >= n)).then(0).otherwise(e - s + 1)


class Collections:
    """Whole reads of one source's bracketed collections re-sized (`apply`, per chunk); built
    from the source's write events (`write_events`) once, before its first chunk."""

    def __init__(self, brackets: pl.DataFrame, events: pl.DataFrame, resp: int = 2) -> None:
        self.points = placement.timeline(brackets, events)
        kinds = pl.DataFrame(
            {
                "_rd": list(_KINDS),
                "_ktype": [t for t, _, _ in _KINDS.values()],
                "_per_item": [k3 if resp == 3 else k2 for _, k2, k3 in _KINDS.values()],
            },
            schema={"_rd": pl.Int8, "_ktype": pl.String, "_per_item": pl.Int64},
        )
        mb, fb, vb = pl.col("_mb"), pl.col("_fb"), pl.col("_vb")
        # RESP3 scores are doubles (`,<text>\r\n`) inside a pair (`*2\r\n`: 4 bytes)
        scored = (mb + pl.col("_sl") + 3 + 4) if resp == 3 else (mb + pl.col("_sb"))
        kind = pl.col("_rd")
        elem = (
            pl.when(kind == 1)
            .then(fb + vb)
            .when(kind == 2)
            .then(fb)
            .when(kind == 3)
            .then(vb)
            .when(kind.is_in([4, 5, 6]))
            .then(mb)
            .when(kind == 7)
            .then(scored)
            .otherwise(pl.col("_eb"))
        )
        self.sizes = (
            brackets.join(kinds, how="cross")
            .filter(pl.col("_type") == pl.col("_ktype"))
            .select("key_name", "_rd", "_per_item", "_c1", "_sib", _elem=elem)
        )

    def apply(self, rows: pl.DataFrame) -> pl.DataFrame:
        """`rows` (one chunk, with `READ_COLUMNS`) with the reads of bracketed collections
        re-sized, without `READ_COLUMNS`."""
        reads = (
            rows.with_row_index("_index")
            .filter(
                (pl.col("_rd") > 0)
                & (pl.col("db") == 0)
                & (pl.col("origin") == schema.ORIGIN_CLIENT)
                & pl.col("reply_bytes").is_not_null()
            )
            .select("_index", "ts", "key_name", "_rd", "_r1", "_r2")
            .join(self.sizes, on=["key_name", "_rd"], how="inner")
        )
        out = rows.drop(READ_COLUMNS)
        if not reads.height:
            return out
        placed = placement.place(reads.sort("ts", "_index"), self.points).filter(
            pl.col("_c").is_not_null()
        )
        r1, r2 = pl.col("_r1"), pl.col("_r2")
        n = _count(r1, r2, pl.col("_c"))
        model = out["reply_bytes"]
        # A read whose element count comes out as the model's keeps the model's bytes; its label
        # says what placed it (unless that is the after-window sample, the model's own).
        same = (pl.col("_n") == pl.col("_n1")) & (pl.col("_conf") != "exact")
        sized = (
            placed.with_columns(
                _n=n, _n1=_count(r1, r2, pl.col("_c1")), _model=model.gather(placed["_index"])
            )
            .filter(~same | (pl.col("_conf") != "sampled"))
            # no element sizes (their sample failed): only an empty reply is known
            .filter(pl.col("_elem").is_not_null() | (pl.col("_n") == 0))
            .with_columns(pl.col("_elem").fill_null(0.0))
            .select(
                "_index",
                size=pl.when(same)
                .then(pl.col("_model"))
                .otherwise(
                    resp_exprs.array_header(pl.col("_n") * pl.col("_per_item"))
                    + (pl.col("_n") * pl.col("_elem")).round(0).cast(pl.Int64)
                ),
                confidence="_conf",
            )
            .sort("_index")
        )
        return resized(out, sized["_index"], sized["size"], sized["confidence"])
