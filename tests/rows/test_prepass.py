"""Each source's pre-pass (its writes, read on the side) started one source ahead of its rows
(`prepass.Ahead`): never more than one ahead, the same writes as a pre-pass started with the
source, and the same rows."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from hotshard.analyze.estimate import collection_writes, string_writes
from hotshard.analyze.read import parse
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


def test_first_writes_kept_bounded_by_the_keys_not_the_chunks(monkeypatch):
    """A long source's pre-pass folds its chunks' first writes as it goes: never more than
    `FOLD` parts at once (each chunk's keys would otherwise be kept until the source's end),
    and the same first writes as one read in one chunk."""
    inputs = resolve([str(SAMPLES / "hot-zset")], None, None)
    source = inputs.sources[0]
    whole = collection_writes.window_writes(source, [], True).first
    assert whole is not None and whole.keys.height > 10
    held: list[int] = []
    folded = string_writes.folded

    def spy(parts: list[string_writes.FirstWrites]) -> string_writes.FirstWrites:
        held.append(len(parts))
        return folded(parts)

    monkeypatch.setattr(string_writes, "folded", spy)
    monkeypatch.setattr(parse, "CHUNK_BYTES", 4 << 10)  # many small chunks
    chunked = collection_writes.window_writes(source, [], True).first
    assert chunked is not None
    assert len(held) > 2 and max(held) <= string_writes.FOLD
    assert_frame_equal(chunked.keys, whole.keys)
    assert chunked.flush == whole.flush
