"""Parse a source a chunk of lines at a time, each distinct command body of a chunk once.

Every column of `schema.COMMANDS` after `origin` (command, keys, slot, pattern, signature, the
reply estimate...) depends only on a line's body, the quoted fields after its header; the reply
also on whether a client sent it, which a join settles. MONITOR traffic repeats bodies — a hot
key is the same command over and over — so per chunk the cheap header fields are taken from
every line, the ~150 expressions of the later stages run once per distinct body, and a join
puts the two back together. In the bench mix 27% of a chunk's lines have a distinct body: the
parse pass runs about 1.5x faster than line by line (docs/BENCHMARKS.md).

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
CHUNK_BYTES = 64 << 20
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
                plan = [
                    join_bodies(heads, stages)
                    .with_columns(parse.source_columns(source))
                    .with_columns(_not_for_clients())
                    .select([pl.col(c).cast(t) for c, t in schema.COMMANDS.items()])
                ]
                del heads
                yield plan.pop()
    except parse.Damaged as exc:
        # What was readable is analyzed; the report's capture health says where it stopped.
        if counts is None:
            raise BadInput(str(exc)) from None
        counts.note = str(exc)


def join_bodies(heads: pl.DataFrame, stages: Stages) -> pl.LazyFrame:
    """`heads` (`parse.header_rows`) with the body columns of `schema.COMMANDS`, computed once
    per distinct body and joined back. Lines whose body does not parse drop out, as in
    `parse.scan`; `origin` must be added after this to settle the replies."""
    bodies = parse.body_rows(heads.select(pl.col("body").unique()).lazy())
    # As a client's command; replicated and script lines get their reply (none) after the join.
    as_client = bodies.with_columns(
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
