"""Each source's pre-pass (its writes, read on the side) started one source ahead of its rows
(`prepass.Ahead`): never more than one ahead, the same writes as a pre-pass started with the
source, and the same rows."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from hotshard.analyze.estimate import collection_writes
from hotshard.analyze.read.inputs import resolve
from hotshard.analyze.rows import make, prepass

SAMPLES = Path(__file__).parents[2] / "samples"


def _context(inputs) -> make.Context:
    return make.Context.create(
        inputs.commands_reply,
        key_sizes=inputs.key_sizes,
        resp=inputs.resp,
        start_sizes=inputs.start_key_sizes,
        shards={s.node: s.shard for s in inputs.sources},
    )


def test_one_source_ahead_and_the_same_writes():
    inputs = resolve([str(SAMPLES / "hot-zset")], None, None)
    sources = inputs.sources
    assert len(sources) == 3
    ctx = _context(inputs)
    assert prepass.needed(ctx)
    ahead = prepass.Ahead(sources, ctx)
    try:
        first = ahead.of(0)
        assert sorted(ahead._started) == [1]  # the next source's is started, no more
        second = ahead.of(1)
        assert sorted(ahead._started) == [2]
        assert first is not None and second is not None
        for source, writes in ((sources[0], first), (sources[1], second)):
            keys = ctx.brackets.of(source.node)["key_name"].to_list() if ctx.brackets else []
            hashes = ctx.lookup.full_fields["key_name"].to_list()
            direct = collection_writes.window_writes(source, keys, True, hashes)
            got = writes.result()
            assert got.first is not None and direct.first is not None
            assert_frame_equal(got.events, direct.events)
            assert_frame_equal(got.fields, direct.fields)
            assert_frame_equal(got.first.keys, direct.first.keys)
            assert got.first.flush == direct.first.flush
        assert first.result().events.height  # the sample's collections have writes
        rows = pl.concat(make.source_rows(sources[2], ctx, writes=ahead.of(2)))
        assert not ahead._started
    finally:
        ahead.close()
    alone = pl.concat(make.source_rows(sources[2], _context(inputs)))
    assert_frame_equal(rows, alone)
