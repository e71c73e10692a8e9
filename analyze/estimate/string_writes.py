"""Strings the window rewrites: each key's first write in a source (a pre-pass of its lines),
and what the pattern's strings that the window never wrote say a read before that write got.

A GET before its key's first write in the window, with no measurement of the key taken before
that write, would otherwise be sized by the after-window sample: the value after the change
(issue 24). A pre-pass of a source's write lines, before its rows (`write_lines`, then
`chunk_writes` per chunk and `merged`; only the lines that name a write command are split),
finds per (db, key) the time of the first command that may change the value — any write (SET,
APPEND, SETRANGE, INCR..., GETSET, GETDEL, GETEX, EXPIRE, DEL, RENAME, MSET...) — and the
first FLUSHALL/FLUSHDB, which changes every key.

`Siblings` holds the sampled strings and missing keys of each pattern; `of` gives a source, by
pattern, the mean GET reply over those the window did not change (`SIBLINGS`): the keys of the
source's shard that its lines never write, as the after-window sample or else the in-window one
measured them (either is their size all through the window). Keys of other shards are left out: whether their shard wrote them is in other
files (the same length in the window and after it does not say so: a key rewritten before the
in-window sampler reached it has its new length both times). A missing key counts as the null
reply, so a pattern that mostly misses is sized as it mostly misses. The key read is never one
of its own siblings (it is written).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from hotshard.analyze.estimate.replication import FLUSHES, WRITE_COMMANDS
from hotshard.analyze.keys import patterns, quoted
from hotshard.analyze.read import parse
from hotshard.capture.format import resp
from hotshard.capture.format.manifest import KeySize

_WRITES = sorted(WRITE_COMMANDS | {"del", "unlink", "getdel"})
_EVERY_ARG = ("del", "unlink")  # every argument is a key
_TWO_KEYS = ("rename", "renamenx", "copy", "smove", "lmove", "rpoplpush")
_PAIRS = ("mset", "msetnx")  # key value key value ...

FIRST: dict[str, pl.DataType] = {"db": pl.Int32(), "key_name": pl.String(), "_fw": pl.Float64()}
SIBLINGS: dict[str, pl.DataType] = {"key_pattern": pl.String(), "_sib": pl.Float64()}
_SAMPLED: dict[str, pl.DataType] = {
    "node": pl.String(),
    "key_name": pl.String(),
    "_reply": pl.Int64(),
    "_order": pl.Int8(),
}


@dataclass(frozen=True)
class FirstWrites:
    """Per (db, key) of one source, its first write (`FIRST`: `_fw`, the line's time), and the
    time of the source's first FLUSHALL/FLUSHDB (None: none)."""

    keys: pl.DataFrame
    flush: float | None = None

    def written(self) -> pl.DataFrame:
        """The keys of db 0 written (what the samplers measure: db 0), as `key_name`."""
        return self.keys.filter(pl.col("db") == 0).select("key_name")


# What a write line's body holds (`"SET" "k"...`, any case): the lines worth splitting.
NEEDLES = [f'"{c}" ' for c in _WRITES] + [f'"{c}"' for c in FLUSHES]


# Parts kept before they are folded into one (`folded`): a long source has hundreds of chunks,
# each with its own rows for the keys it writes; folded as they come, the parts stay bounded by
# the distinct keys written, not by the lines.
FOLD = 8


def merged(parts: list[FirstWrites]) -> FirstWrites:
    """The first writes of consecutive parts of one source (each chunk's `chunk_writes`: a
    chunk's write lines are never kept, only its keys), one row per key (two spellings of one
    key, escapes, are one key), sorted."""
    if not parts:
        return FirstWrites(pl.DataFrame(schema=FIRST))
    one = folded(parts)
    # = .sort("db", "key_name"), in half the time: one string column sorts without encoding
    # rows, and the sort by db keeps the keys' order
    keys = one.keys.sort("key_name").sort("db", maintain_order=True)
    return FirstWrites(keys, one.flush)


def folded(parts: list[FirstWrites]) -> FirstWrites:
    """`parts` as one part (one row per key, in no order), for `merged` later."""
    keys = pl.concat([p.keys for p in parts]).group_by("db", "key_name").agg(pl.col("_fw").min())
    flushes = [p.flush for p in parts if p.flush is not None]
    return FirstWrites(keys, min(flushes) if flushes else None)


def write_lines(heads: pl.DataFrame) -> pl.DataFrame:
    """Of `heads` (`parse.header_rows`, or `parse.matching_rows`), the lines that may be writes
    (`ts`, `db`, `body`, and `_command`, `_first`: `parse.command_and_first`)."""
    lines = heads.filter(pl.col("body").str.contains_any(NEEDLES, ascii_case_insensitive=True))
    return parse.command_and_first(lines).select("ts", "db", "body", "_command", "_first")


def first_of(heads: pl.DataFrame | None) -> FirstWrites:
    """`heads` (`write_lines`) as `FirstWrites`."""
    return merged([chunk_writes(heads)])


def chunk_writes(heads: pl.DataFrame | None) -> FirstWrites:
    """The first writes of `heads` (`write_lines`: a chunk's) as a part for `merged`: in no
    order, a key perhaps once per spelling (escapes) until `merged` takes them together."""
    if heads is None or not heads.height:
        return FirstWrites(pl.DataFrame(schema=FIRST))
    body = pl.col("body")
    lines = heads.select(
        "ts", "db", "body", "_first", command=pl.col("_command").str.to_lowercase()
    ).filter(pl.col("command").is_in([*_WRITES, *FLUSHES]))
    flushes = lines.filter(pl.col("command").is_in(FLUSHES))["ts"]
    cmd = pl.col("command")
    # Most writes name one key, their first argument (cut by the core): no split of the value.
    single = ~cmd.is_in([*_EVERY_ARG, *_TWO_KEYS, *_PAIRS, "bitop", *FLUSHES])
    first = lines.filter(single).select("ts", "db", key_name="_first")
    args = quoted.arguments(body).list.slice(1)
    named = (
        pl.when(cmd.is_in(_EVERY_ARG))
        .then(args)
        .when(cmd.is_in(_TWO_KEYS))
        .then(args.list.head(2))
        .when(cmd.is_in(_PAIRS))
        .then(args.list.gather_every(2))
        .otherwise(args.list.slice(1, 1))  # BITOP op dest key...
    )
    several = (
        lines.filter(~single & ~cmd.is_in(FLUSHES))
        .select("ts", "db", key_name=named)
        .explode("key_name")
    )
    keys = (
        pl.concat([first, several])
        .filter(pl.col("key_name").is_not_null())
        .group_by("db", "key_name")
        .agg(_fw=pl.col("ts").min())
        .with_columns(key_name=quoted.decode(pl.col("key_name")).text)
        .cast(FIRST)  # type: ignore[arg-type]
    )
    return FirstWrites(keys, flushes.min() if flushes.len() else None)  # type: ignore[arg-type]


def _reply(s: KeySize) -> int | None:
    """GET's RESP2 reply on a sampled key: its value's bulk string, or the null reply."""
    if s.error or s.type is None:
        return None
    if s.type == "none":
        return resp.NULL
    if s.type == "string" and s.cardinality is not None:
        return resp.bulk(s.cardinality)
    return None


class Siblings:
    """The strings (and missing keys) sampled after the window and in it, by pattern."""

    def __init__(
        self,
        after: Sequence[KeySize],
        start: Sequence[KeySize] = (),
        shards: Mapping[str, str] | None = None,
        rules: Sequence[patterns.Rule] = patterns.DEFAULT_RULES,
    ) -> None:
        self.shards = dict(shards or {})
        self.after = {(s.node, s.key): r for s in after if (r := _reply(s)) is not None}
        # the in-window sample: keys the after-window one did not reach (it ranks the keys)
        self.start = {(s.node, s.key): r for s in start if (r := _reply(s)) is not None}
        # Every sample as a row, the after-window one first (`_order`): `of` takes, per key,
        # the first of its shard's rows by (`_order`, node).
        rows = [(n, k, r, 0) for (n, k), r in self.after.items()]
        rows += [(n, k, r, 1) for (n, k), r in self.start.items()]
        self.sampled = pl.DataFrame(rows, schema=_SAMPLED, orient="row")
        self.nodes = sorted({n for n, _ in self.after} | {n for n, _ in self.start})
        keys = self.sampled.select(pl.col("key_name").unique().sort())
        self.pattern = patterns.add_pattern(keys.lazy(), "key_name", rules).collect()

    def __bool__(self) -> bool:
        return bool(self.after or self.start)

    def of(self, node: str, writes: FirstWrites) -> pl.DataFrame:
        """Per pattern, the mean GET reply (RESP2) of its unchanged strings for `node`
        (`SIBLINGS`), given the writes of `node`'s source."""
        shard = self.shards.get(node)
        if writes.flush is not None:
            return pl.DataFrame(schema=SIBLINGS)
        mates = [
            n
            for n in self.nodes
            if n == node or (shard is not None and self.shards.get(n) == shard)
        ]
        own = (
            self.sampled.filter(pl.col("node").is_in(mates))
            .join(writes.written(), on="key_name", how="anti")
            .sort("key_name", "_order", "node")
            .unique("key_name", keep="first", maintain_order=True)
        )
        return (
            own.join(self.pattern, on="key_name", how="inner")
            .filter(pl.col("key_pattern").is_not_null())
            .group_by("key_pattern")
            .agg(_sib=pl.col("_reply").sum() / pl.len())
            .sort("key_pattern")
            .cast(SIBLINGS)  # type: ignore[arg-type]
        )
