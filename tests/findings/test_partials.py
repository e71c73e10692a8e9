"""The rollups' sums added chunk by chunk (`Partials`): folded every few chunks, a bucket at a
time for the partials that grow with keys and clients, they are the sums of all rows at once."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from hotshard.analyze.findings.partials import _GROUPS, SPREAD, Partials
from hotshard.analyze.read.inputs import resolve
from hotshard.analyze.rows import make

SAMPLES = Path(__file__).parents[2] / "samples"


def _rows() -> list[pl.DataFrame]:
    inputs = resolve([str(SAMPLES / "hot-zset")], None, None)
    ctx = make.Context.create(
        inputs.commands_reply,
        key_sizes=inputs.key_sizes,
        resp=inputs.resp,
        start_sizes=inputs.start_key_sizes,
        shards={s.node: s.shard for s in inputs.sources},
    )
    return [c for s in inputs.sources for c in make.source_rows(s, ctx, chunk_bytes=32 << 10)]


def test_folded_by_bucket_the_sums_of_all_rows():
    chunks = _rows()
    assert len(chunks) > 8
    whole = Partials()
    whole.add(pl.concat(chunks))
    chunked = Partials()
    chunked.FOLD, chunked.BUCKETS = 3, 4
    held = 0
    for chunk in chunks:
        chunked.add(chunk)
        held = max(held, *(len(chunked.parts[n]) - chunked.folded[n] for n in _GROUPS))
    assert held < chunked.FOLD  # folded as they come
    assert all(chunked.folded[name] == chunked.BUCKETS for name in SPREAD)
    # every chunk's sums are in `parts`, folded or not (what the per-key readers take as is)
    keys = _GROUPS["keys"][0]
    unfolded = pl.concat(chunked.parts["keys"]).group_by(keys).agg(pl.col("commands").sum())
    want = whole.parts["keys"][0].select(*keys, "commands")
    assert_frame_equal(unfolded.sort(keys), want.sort(keys))
    for name, (keys, _) in _GROUPS.items():
        want = whole.frame(name, {}).sort(keys, nulls_last=True)
        got = chunked.frame(name, {}).sort(keys, nulls_last=True)
        assert want.height, name
        assert_frame_equal(got, want, check_row_order=True)
    # every group in one bucket only: the buckets' groups are distinct
    keys = chunked.frame("keys", {})
    assert keys.select(_GROUPS["keys"][0]).is_duplicated().sum() == 0


def test_more_chunks_after_the_sums_were_read():
    """`frame` makes the buckets one frame; chunks added after it are still summed once."""
    chunks = _rows()
    half = len(chunks) // 2
    whole = Partials()
    whole.add(pl.concat(chunks))
    chunked = Partials()
    chunked.FOLD, chunked.BUCKETS = 2, 3
    for chunk in chunks[:half]:
        chunked.add(chunk)
    chunked.frame("keys", {})
    for chunk in chunks[half:]:
        chunked.add(chunk)
    keys = _GROUPS["keys"][0]
    assert_frame_equal(chunked.frame("keys", {}).sort(keys), whole.frame("keys", {}).sort(keys))
