"""The slot plan's arithmetic (analyze/findings/slotplan.py), on hand-made loads; the real-cluster tests
are in tests/scenarios/test_plan_cluster.py."""

from __future__ import annotations

import itertools
import json
import random

import numpy as np
import pytest

from hotshard.analyze.findings import slotplan
from hotshard.analyze.findings.slotplan import BigKey, SlotLoad
from hotshard.analyze.render import planview


def best_max(loads: list[int], n: int) -> int:
    """Brute force: every way to cut `loads` into n non-empty contiguous ranges."""
    best = None
    for cuts in itertools.combinations(range(1, len(loads)), n - 1):
        bounds = [0, *cuts, len(loads)]
        worst = max(sum(loads[a:b]) for a, b in itertools.pairwise(bounds))
        best = worst if best is None else min(best, worst)
    assert best is not None
    return best


@pytest.mark.parametrize("seed", range(40))
def test_contiguous_layout_is_the_optimum(seed):
    rng = random.Random(seed)
    size = rng.randint(3, 12)
    loads = [rng.choice([0, 0, 1, 5, 100, 1000]) for _ in range(size)]
    n = rng.randint(1, min(4, size))
    layout = slotplan.contiguous(np.array(loads, dtype=np.int64), n)
    assert len(layout.ranges) == n
    assert layout.ranges[0][0] == 0 and layout.ranges[-1][1] == size - 1
    for (_, b), (c, _) in itertools.pairwise(layout.ranges):
        assert c == b + 1  # contiguous, no gap, no overlap
    assert all(a <= b for a, b in layout.ranges)
    assert layout.loads == tuple(sum(loads[a : b + 1]) for a, b in layout.ranges)
    assert max(layout.loads) == best_max(loads, n)


def test_contiguous_over_every_slot_is_fast_and_covers_the_slot_space():
    rng = np.random.default_rng(7)
    loads = rng.integers(0, 10**9, size=slotplan.SLOTS, dtype=np.int64)
    layout = slotplan.contiguous(loads, 30)
    assert layout.ranges[0][0] == 0 and layout.ranges[-1][1] == slotplan.SLOTS - 1
    assert sum(layout.loads) == int(loads.sum())
    # no range is more than one slot's load above the mean
    assert max(layout.loads) <= loads.sum() / 30 + loads.max()


def load(values, owner, shards=("0001", "0002", "0003"), **kw) -> SlotLoad:
    return SlotLoad(basis="bytes", shards=shards, values=values, owner=owner, **kw)


def test_one_key_owning_the_hot_shard_means_resharding_cannot_help():
    values = {100: 9_000, 101: 500, 6000: 1_000, 12000: 1_100}
    owner = {100: "0001", 101: "0001", 6000: "0002", 12000: "0003"}
    plan = slotplan.build(load(values, owner, keys={100: 1}, top_key={100: ("feed:big", 9_000)}))
    assert plan.dominant is not None
    assert (plan.dominant.slot, plan.dominant.shard) == (100, "0001")
    assert plan.dominant.share == pytest.approx(9_000 / 9_500)
    assert not plan.layouts and not plan.moves
    text = planview.summary(plan)
    assert "Resharding cannot help" in text and "`feed:big`" in text and "94.7%" in text


def test_a_hash_tag_owning_the_slot_is_named():
    values = {200: 8_000, 6000: 1_000, 12000: 1_000}
    owner = {200: "0001", 6000: "0002", 12000: "0003"}
    top = {200: ("tenant:{acme}:orders", 900)}
    plan = slotplan.build(load(values, owner, keys={200: 40}, top_key=top))
    assert plan.dominant is not None and plan.dominant.tag == "acme"
    assert "hash tag `{acme}` (40 keys)" in planview.summary(plan)


def spread_load() -> SlotLoad:
    # shard 0001 holds many warm slots, the others few
    values = {s: 1_000 for s in range(0, 40)}
    values.update({6000: 2_000, 12000: 2_000})
    owner = {s: "0001" for s in range(0, 40)}
    owner.update({6000: "0002", 12000: "0003"})
    return load(values, owner)


def test_moves_bring_the_hottest_shard_under_the_target():
    plan = slotplan.build(spread_load())
    assert plan.dominant is None
    assert plan.skew_before == pytest.approx(20.0)
    assert plan.reached
    assert max(plan.after.values()) <= plan.target == int(44_000 / 3 * 1.1)
    assert sum(plan.after.values()) == sum(plan.before.values())
    assert all(m.source == "0001" for m in plan.moves)
    assert plan.skew_after is not None and plan.skew_after < 1.2
    # the contiguous layouts: N, N+1, N+2 shards, each as good as the greedy moves or better
    assert [len(lay.ranges) for lay in plan.layouts] == [3, 4, 5]
    assert max(plan.layouts[0].loads) <= max(plan.after.values())
    config = planview.node_group_configuration(plan.layouts[0])
    assert [c["NodeGroupId"] for c in config] == ["0001", "0002", "0003"]
    assert config[0]["Slots"].startswith("0-") and config[-1]["Slots"].endswith("-16383")
    page = planview.page(plan)
    block = page.split("add `ReplicaCount` to each):\n\n")[1].split("\n\n")[0]
    assert json.loads(block) == config  # an indented code block: JSON once dedented
    assert "```" not in page  # the page can sit inside a fenced block (README transcripts)
    assert "move_slot " in page and "CLUSTER MIGRATESLOTS SLOTSRANGE" in page
    assert "hypothesis" in page


def test_a_slot_that_is_a_large_share_of_its_node_stays_and_the_next_ones_move():
    values = {7: 4_000, 8: 1_500, 9: 1_500, 10: 1_000, 6000: 1_000, 12000: 1_000}
    owner = {7: "0001", 8: "0001", 9: "0001", 10: "0001", 6000: "0002", 12000: "0003"}
    plan = slotplan.build(load(values, owner))
    assert plan.dominant is None  # 4,000 of 8,000: half, not more
    assert plan.held == (7,)
    assert plan.moves and 7 not in {m.slot for m in plan.moves}
    assert max(plan.after.values()) < max(plan.before.values())


def test_keys_over_the_migration_limit_block_their_slot():
    lo = spread_load()
    big = BigKey("huge", 3, "0001", 300 * 1024 * 1024)
    small = BigKey("fine", 4, "0001", 1024)
    plan = slotplan.build(
        SlotLoad(**{**lo.__dict__, "big_keys": (big, small)})  # type: ignore[arg-type]
    )
    assert plan.blocked == (big,)
    assert 3 not in {m.slot for m in plan.moves}
    assert "`huge` (slot 3" in planview.section(plan)


def test_valkey_9_primaries_get_migrateslots_with_their_ids():
    lo = spread_load()
    primaries = {
        s: slotplan.Primary(f"10.0.0.{i}:6379", f"{i}" * 40, "valkey", "9.1.2")
        for i, s in enumerate(lo.shards, 1)
    }
    plan = slotplan.build(SlotLoad(**{**lo.__dict__, "primaries": primaries}))  # type: ignore[arg-type]
    page = planview.page(plan)
    m = plan.moves[0]
    assert (
        f"valkey-cli -h 10.0.0.1 -p 6379 CLUSTER MIGRATESLOTS SLOTSRANGE {m.slot} {m.slot} "
        f"NODE {primaries[m.target].node_id}" in page
    )
    assert f"move_slot {m.slot} 10.0.0.1 6379 {'1' * 40} " in page
