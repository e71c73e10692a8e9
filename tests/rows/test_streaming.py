"""The analyzer's row path must work in memory bounded by its chunk, whatever the capture size.

`hotshard.analyze.rows.make` reads a source a chunk of text at a time (`parse.line_chunks`) and runs the
per-row stages of each chunk on Polars' streaming engine. Polars runs an expression it cannot
stream as a whole-column function, and the streaming engine then buffers every row in front of
it: a `replace_strict` on the command name once made `analyze` hold 5.5 GB at 20M lines. The
physical plan says so before anything runs: nodes the engine marks as memory-intensive or as
falling back to the in-memory engine carry a fill colour in its graph. These tests read the
plans of a real capture's chunks (samples/hot-zset); bench/ measures the RSS.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from hotshard.analyze.estimate import replies
from hotshard.analyze.keys import patterns, quoted
from hotshard.analyze.read import parse
from hotshard.analyze.read.inputs import resolve
from hotshard.analyze.rows import make, senders

SAMPLE = Path(__file__).parents[2] / "samples" / "hot-zset"
# A chunk is a frame in memory: reading it is the one node that may (must) hold its input.
SOURCE = "in-memory-source"


def flagged(lf: pl.LazyFrame) -> list[str]:
    """Labels of the plan's nodes that may hold their whole input in memory."""
    dot = lf.show_graph(engine="streaming", plan_stage="physical", raw_output=True)
    assert dot is not None
    nodes = [line for line in dot.splitlines() if re.match(r"^\d+ \[label=", line)]
    assert nodes, "no plan nodes found: has the graph format changed?"
    return [re.sub(r'^\d+ \[label="([^"\\]*).*', r"\1", n) for n in nodes if "fillcolor" in n]


@pytest.fixture(scope="module")
def sample():
    inputs = resolve([str(SAMPLE)])
    sources = [
        parse.Source(s.path, s.node, s.shard, s.role, s.primary_addresses) for s in inputs.sources
    ]
    ctx = make.Context.create(inputs.commands_reply, key_sizes=inputs.key_sizes, resp=inputs.resp)
    return sources, ctx


def _split(source: parse.Source, ctx: make.Context) -> pl.LazyFrame:
    """A chunk's rows as the native core splits them, keys found by key spec (a frame in
    memory: the plan's source)."""
    block = next(parse.line_chunks(parse.open_source(source), 1 << 20))
    rows = parse.split_rows(block, ctx.key_plan.parser(fast=False))
    return rows.rename({"_tail_key_raw": "key_raw", "_keys_raw": "keys_raw"}).lazy()


def test_the_per_row_stages_stream(sample):
    """The reply estimate of a chunk's rows (split, keys found by the native core): nothing but
    the chunk itself is held."""
    sources, ctx = sample
    # The estimate over rows with their keys' columns, as `rows` hands them over.
    parsed = (
        _split(sources[0], ctx)
        .with_columns(origin=senders.origin(sources[0]))
        .pipe(quoted.decode_column, "key_raw")
        .with_columns(key_name="key_raw_text", keys=quoted.decode_keys(pl.col("keys_raw")))
        .pipe(patterns.add_pattern, "key_name")
        .collect()
    )
    sizes = ctx.lookup.key_columns(parsed["key_name"], parsed["key_pattern"])
    estimate = replies.estimate(pl.concat([parsed, sizes], how="horizontal").lazy(), ctx.lookup)
    assert flagged(estimate) == [SOURCE]


def test_the_check_catches_a_whole_column_function(sample):
    """The guard itself: a `replace_strict` with a mapping is flagged."""
    sources, _ = sample
    plan = _split(sources[0], sample[1]).with_columns(
        code=pl.col("command").replace_strict({"get": 1, "set": 2}, default=None)
    )
    assert set(flagged(plan)) - {SOURCE}


def test_a_chunk_is_its_bytes_and_chunks_come_in_file_order(sample, tmp_path):
    """Each chunk of text holds `chunk_bytes` at most, plus the rest of the line the previous
    one cut (a plain file: a zstd reader hands over what a frame step decodes), and the rows
    come out a chunk at a time, in the file's order."""
    sources, _ = sample
    text = b"".join(parse.line_chunks(parse.open_source(sources[0]), 1 << 30))
    source = parse.Source(tmp_path / "plain.monitor")
    source.path.write_bytes(text)
    chunk_bytes = 40_000
    texts = list(parse.line_chunks(parse.open_source(source), chunk_bytes))
    longest = max(len(line) for line in text.splitlines(keepends=True))
    sizes = [len(t) for t in texts]
    assert sum(sizes) == len(text)
    assert len(sizes) >= len(text) // chunk_bytes
    assert max(sizes) <= chunk_bytes + longest
    ctx = make.Context.create()  # fresh: the ids of this source alone
    chunks = list(make.source_rows(source, ctx, chunk_bytes=chunk_bytes))
    assert len(chunks) == len(texts)
    ts = pl.concat([c["ts"] for c in chunks])
    assert ts.is_sorted()  # MONITOR prints in execution order; so does the row path
    lines = (
        pl.Series(b"".join(texts).decode().splitlines())
        .str.extract(r"^\+?(\d+\.\d+) ")
        .cast(pl.Float64)
    )
    assert ts.to_list() == lines.drop_nulls().to_list()
