"""Parse a source a chunk of lines at a time, each distinct command body of a chunk once.

Every column of `schema.COMMANDS` after `origin` (command, keys, slot, pattern, signature, the
reply estimate...) depends only on a line's body, the quoted fields after its header; the reply
also on whether a client sent it, which a join settles. MONITOR traffic repeats bodies — a hot
key is the same command over and over — so per chunk the cheap header fields are taken from
every line, the ~150 expressions of the later stages run once per distinct body, and a join
puts the two back together. In the bench mix 27-30% of a chunk's lines have a distinct body: the
parse pass runs about 1.5x faster than line by line (docs/BENCHMARKS.md). A chunk whose bodies
hardly repeat is parsed line by line (`DISTINCT_JOIN_LIMIT`).

Memory is bounded by the chunk, not by the capture: a chunk's lines, headers and distinct
bodies are in memory at once (~0.6 GiB at `CHUNK_BYTES`), and each chunk is written as it is
done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import polars as pl

from analyze import parse, schema
from analyze.errors import BadInput
from analyze.lists import only_rows

# Text per chunk (~600k lines of the bench mix). Larger chunks repeat more bodies (27% of 1.67M
# lines are distinct, 30% of 1M) but hold more: at 96 MiB the peak RSS was 0.87 GiB at 5M lines
# and 1.04 GiB at 20M (the allocator keeps a freed chunk while the next one fills); at 64 MiB
# it is 0.84 GiB at both, for the same speed.
CHUNK_BYTES = parse.CHUNK_BYTES
# Above this share of distinct bodies, a chunk is parsed line by line: with every body distinct
# the join made it 35% slower than that; at 30% distinct (the bench mix) it is 1.6x faster.
DISTINCT_JOIN_LIMIT = 0.7
HEADER_COLUMNS = parse.SCAN_COLUMNS[: parse.SCAN_COLUMNS.index("origin") + 1]
BODY_COLUMNS = [c for c in schema.COMMANDS if c not in HEADER_COLUMNS]

Stages = Callable[[pl.LazyFrame], pl.LazyFrame]
Rows = Callable[[pl.LazyFrame], pl.LazyFrame]


def chunk_plans(
    source: parse.Source,
    stages: Stages,
    keep: Rows = lambda lf: lf,
    chunk_bytes: int | None = None,
    counts: parse.LineCounts | None = None,
) -> Iterator[pl.LazyFrame]:
    """One plan per chunk of the source's lines that has commands in it: the rows of
    `schema.COMMANDS`, in file order. `stages` adds the body columns to a `parse.scan`-like
    frame (keys, slot, patterns, replies); `keep` filters the header rows (`ts`, `db`,
    `client`: the time window) before any body is parsed; `counts`, when given, counts every
    line as `parse.line_stats` does (window or not), so no other pass reads the file. Each plan
    is built from its chunk in memory: run it before asking for the next one."""
    try:
        for lines in parse.line_chunks(source, chunk_bytes or CHUNK_BYTES):
            marked = parse.mark_lines(lines.lazy()).collect()
            del lines
            if counts is not None:
                counts.add(marked)
            heads = keep(parse.header_rows(marked.lazy())).collect()
            del marked
            if heads.height:
                # Only the plan may hold the chunk (until it has run): nothing in this frame.
                plan = [chunk_rows(heads, stages, source)]
                del heads
                yield plan.pop()
    except parse.Damaged as exc:
        # What was readable is analyzed; the report's capture health says where it stopped.
        if counts is None:
            raise BadInput(str(exc)) from None
        counts.note = str(exc)


def chunk_rows(heads: pl.DataFrame, stages: Stages, source: parse.Source) -> pl.LazyFrame:
    """The rows of `schema.COMMANDS` for `heads` (`parse.header_rows`): the later stages once
    per distinct body, joined back — or line by line when few bodies repeat (the join would
    cost more than it saves). Lines whose body does not parse drop out, as in `parse.scan`."""
    bodies = heads.select(pl.col("body").unique())
    if bodies.height > DISTINCT_JOIN_LIMIT * heads.height:
        rows = parse.body_rows(heads.lazy(), keep=["ts", "db", "client"])
        out = stages(rows.with_columns(parse.source_columns(source)))
    else:
        out = (
            _join_bodies(heads, bodies, stages)
            .with_columns(parse.source_columns(source))
            .with_columns(_not_for_clients())
        )
    return out.select([pl.col(c).cast(t) for c, t in schema.COMMANDS.items()])


def _join_bodies(heads: pl.DataFrame, bodies: pl.DataFrame, stages: Stages) -> pl.LazyFrame:
    """`heads` with the body columns, computed once per distinct body of `bodies`; `origin`
    must be added after this to settle the replies."""
    # As a client's command; replicated and script lines get their reply (none) after the join.
    as_client = parse.body_rows(bodies.lazy()).with_columns(
        [pl.lit(None, schema.COMMANDS[c]).alias(c) for c in HEADER_COLUMNS if c != "origin"],
        origin=pl.lit(schema.ORIGIN_CLIENT),
    )
    derived = (
        stages(as_client)
        .select("body", *BODY_COLUMNS)
        # Most commands have one key: their `keys` list is rebuilt after the join from
        # `key_name` (copying list elements per line was half the cost of the join).
        .with_columns(keys=only_rows(pl.col("keys"), pl.col("key_count") != 1))
        .collect()
    )
    one = pl.col("key_count") == 1
    # A lazy join, streamed into the file: joined in memory first it was ~5% faster and held
    # the whole joined chunk (+240 MiB at CHUNK_BYTES).
    return (
        heads.lazy()
        .join(derived.lazy(), on="body", how="inner", maintain_order="left")
        .with_columns(keys=pl.when(one).then(pl.concat_list("key_name")).otherwise("keys"))
    )


def _not_for_clients() -> list[pl.Expr]:
    """Replicated writes and script sub-commands sent nothing to a client (`replies`)."""
    client = pl.col("origin") == schema.ORIGIN_CLIENT
    return [
        pl.when(client).then("reply_bytes").otherwise(pl.lit(0, pl.Int64)).alias("reply_bytes"),
        pl.when(client)
        .then("reply_confidence")
        .otherwise(pl.lit("none"))
        .alias("reply_confidence"),
    ]
