"""The writes of collections MONITOR showed, as events that change their cardinality.

`write_events` reads a source's lines once for the writes of the keys `cardinality` places
(only the lines naming one of them, or a flush, are parsed) and turns each into an event: the
elements it names as a signed nominal change (`_d`) and a weight (`_w`), or the cardinality it
leaves when it sets one (`_after`: DEL 0, a capped `LTRIM s e` e - s + 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from hotshard.analyze.estimate import hash_fields, string_writes
from hotshard.analyze.estimate.replication import FLUSHES, naming
from hotshard.analyze.keys import quoted
from hotshard.analyze.read import parse, scanner

# Writes and the elements they name: a signed nominal change of the cardinality (`_delta`), or
# a change of unknown size (`_UNSIGNED`, weight 1). Other writes (EXPIRE, PERSIST...) change none.
_ADD_ARGS = ("sadd", "rpush", "lpush", "rpushx", "lpushx")
_REMOVE_ARGS = ("srem", "zrem", "hdel", "xdel")
_PAIRS = ("hset", "hmset")
_POPS = ("lpop", "rpop", "spop", "zpopmin", "zpopmax")
_ONE_MORE = ("hsetnx", "linsert", "xadd")
_ONE_LESS = ("smove", "lmove", "rpoplpush")
_UNSIGNED = (
    "ltrim",  # with indexes of both signs (LTRIM 0 -2): its effect depends on the length
    "xtrim",
    "lrem",
    "lset",
    "zremrangebyrank",
    "zremrangebyscore",
    "zremrangebylex",
    "sinterstore",
    "sunionstore",
    "sdiffstore",
    "zunionstore",
    "zinterstore",
    "zdiffstore",
    "zrangestore",
    "restore",
    "copy",
    "zincrby",  # mostly a member that is there already
    "hincrby",
    "hincrbyfloat",
)
_RESETS = ("del", "unlink", "getdel", "rename", "renamenx", "move")
_ZADD_FLAGS = ["NX", "XX", "GT", "LT", "CH", "INCR", "nx", "xx", "gt", "lt", "ch", "incr"]
_WRITES = sorted(
    {"zadd", *_ADD_ARGS, *_REMOVE_ARGS, *_PAIRS, *_POPS, *_ONE_MORE, *_ONE_LESS, *_UNSIGNED}
)

EVENTS: dict[str, pl.DataType] = {
    "key_name": pl.String(),
    "ts": pl.Float64(),
    "_w": pl.Float64(),  # weight: elements named (1 when unknown)
    "_d": pl.Float64(),  # signed nominal change
    "_after": pl.Int64(),  # the cardinality after it, when it sets one (DEL: 0; LTRIM 0 49: 50)
}


def write_events(source: parse.Source, keys: Sequence[str]) -> pl.DataFrame:
    """The writes of `keys` (db 0) in the whole source, in time order (`EVENTS`): only the
    lines that name one of them (`"key"`) or flush are parsed. A damaged stream gives the
    writes of its readable lines."""
    return window_writes(source, keys, strings=False).events


@dataclass(frozen=True)
class WindowWrites:
    """What one read of a source's lines found (`window_writes`)."""

    events: pl.DataFrame  # `EVENTS` of the collections asked for
    first: string_writes.FirstWrites | None  # each key's first write, when asked for
    fields: pl.DataFrame  # `hash_fields.EVENTS` of the hashes asked for


def window_writes(
    source: parse.Source, keys: Sequence[str], strings: bool, hashes: Sequence[str] = ()
) -> WindowWrites:
    """One read of the source's lines for `write_events` of `keys`, when `strings` the first
    write of every key (`string_writes.merged`), and the field events of `hashes`
    (`hash_fields.events_of`)."""
    needles = naming(keys) if keys else []
    # Every reader below keeps only lines holding one of its needles: the core hands the lines
    # holding any of them (`parse.matching_rows`), and each applies its own filter to those.
    every = [*needles, *(string_writes.NEEDLES if strings else ())]
    every += hash_fields.needles(hashes)
    union = scanner.Needles(sorted({n.encode() for n in every}))
    found, written, fields = [], [], []
    for block in parse.line_chunks(parse.open_source(source), parse.CHUNK_BYTES):
        heads = parse.matching_rows(block, union)
        if keys:
            hits = heads.filter(
                pl.col("body").str.contains_any(needles, ascii_case_insensitive=True)
            )
            if hits.height:
                found.append(hits)
        if strings:  # only the chunk's keys are kept, never its write lines (their values)
            written.append(string_writes.chunk_writes(string_writes.write_lines(heads)))
            if len(written) >= string_writes.FOLD:
                written = [string_writes.folded(written)]
        if hashes:  # only keys, fields and times are kept, never a value
            fields.append(hash_fields.events_of(heads, hashes))
    first = string_writes.merged(written) if strings else None
    field_events = pl.concat(fields) if fields else pl.DataFrame(schema=hash_fields.EVENTS)
    if not found:
        return WindowWrites(pl.DataFrame(schema=EVENTS), first, field_events)
    return WindowWrites(_events(pl.concat(found), keys), first, field_events)


def _events(heads: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """`heads` (`parse.header_rows`) as the write events of `keys`."""
    args = quoted.arguments(pl.col("body"))
    lines = heads.filter(pl.col("db") == 0).select(
        "ts",
        command=args.list.first().str.to_lowercase(),
        _args=args.list.slice(1),
    )
    cmd, argv = pl.col("command"), pl.col("_args")
    n = (argv.list.len() - 1).cast(pl.Float64)  # after the key
    count = argv.list.get(1, null_on_oob=True).cast(pl.Float64, strict=False).fill_null(1.0)
    zflags = argv.list.slice(1, 4).list.eval(pl.element().is_in(_ZADD_FLAGS)).list.sum()
    delta = (
        pl.when(cmd == "zadd")
        .then(((n - zflags.cast(pl.Float64)) / 2).floor())
        .when(cmd.is_in(_ADD_ARGS))
        .then(n)
        .when(cmd.is_in(_PAIRS))
        .then((n / 2).floor())
        .when(cmd.is_in(_REMOVE_ARGS))
        .then(-n)
        .when(cmd.is_in(_POPS))
        .then(-count)
        .when(cmd.is_in(_ONE_MORE))
        .then(1.0)
        .when(cmd.is_in(_ONE_LESS))
        .then(-1.0)
        .otherwise(0.0)
    )
    weight = pl.when(pl.col("_d") != 0).then(pl.col("_d").abs()).otherwise(1.0)
    wanted = pl.Series(list(keys), dtype=pl.String)
    # LTRIM s e with indexes of one sign keeps e - s + 1 elements of a list at least that long
    # (a capped list): the length after it is known.
    lo = argv.list.get(1, null_on_oob=True).cast(pl.Int64, strict=False)
    hi = argv.list.get(2, null_on_oob=True).cast(pl.Int64, strict=False)
    capped = (cmd == "ltrim") & (((lo >= 0) & (hi >= 0)) | ((lo < 0) & (hi < 0)))
    kept = pl.max_horizontal(hi - lo + 1, pl.lit(0, pl.Int64))
    first = (
        lines.filter(cmd.is_in(_WRITES))
        .with_columns(
            key_name=argv.list.first(),
            _d=delta,
            _after=pl.when(capped.fill_null(False)).then(kept),
        )
        .with_columns(_w=pl.when(pl.col("_after").is_null()).then(weight).otherwise(0.0))
    )
    resets = (
        lines.filter(cmd.is_in(_RESETS))
        .with_columns(
            # DEL/UNLINK name keys only; RENAME/MOVE empty their first key
            key_name=pl.when(cmd.is_in(["del", "unlink"])).then(argv).otherwise(argv.list.head(1))
        )
        .explode("key_name")
        .with_columns(_w=pl.lit(0.0), _d=pl.lit(0.0), _after=pl.lit(0, pl.Int64))
    )
    flushes = (
        lines.filter(cmd.is_in(FLUSHES))
        .join(wanted.to_frame("key_name"), how="cross")
        .with_columns(_w=pl.lit(0.0), _d=pl.lit(0.0), _after=pl.lit(0, pl.Int64))
    )
    cols = list(EVENTS)
    return (
        pl.concat([first.select(cols), resets.select(cols), flushes.select(cols)])
        .filter(pl.col("key_name").is_in(list(keys)))
        .cast(EVENTS)  # type: ignore[arg-type]
        .with_row_index("_line")
        .sort("key_name", "ts", "_line")
        .drop("_line")
    )
