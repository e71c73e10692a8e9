"""The slot plan against real Redis 7.0 clusters: a plan applied with `CLUSTER SETSLOT` gives the
skew it predicted on a second capture; a slot that carries the hot shard is called unfixable."""

from __future__ import annotations

import json

import pytest
import redis

from hotshard.analyze.findings import slotload, slotplan
from hotshard.analyze.keys.slots import hash_slot
from hotshard.analyze.store import tables
from hotshard.capture.cli import run
from hotshard.capture.errors import ExitStatus
from hotshard.capture.format import manifest
from hotshard.capture.session import CaptureOptions
from tests.capturing import background_capture
from tests.servers import Cluster, running_cluster

pytestmark = pytest.mark.slow


def keys_in(first: int, last: int, count: int, prefix: str) -> list[str]:
    """`count` keys of distinct slots within [first, last]."""
    out, seen, i = [], set(), 0
    while len(out) < count:
        key = f"{prefix}:{i}"
        slot = hash_slot(key.encode())
        if first <= slot <= last and slot not in seen:
            out.append(key)
            seen.add(slot)
        i += 1
    return out


def capture_and_analyze(cluster: Cluster, workload, folder) -> dict:
    """Capture every primary around `workload(client)`, analyze; the summary.json."""
    out = folder / "cap"
    options = CaptureOptions(
        endpoints=[cluster.seed.address], out=str(out), nodes="primaries", duration=120, quiet=True
    )
    rc = cluster.cluster_client()  # a fresh client: it learns the current slot owners
    with background_capture(options) as bg:
        bg.wait_started(files=3)
        workload(rc)
        result = bg.stop()
    assert result.manifest.status == "complete", result.manifest.warnings
    analysis = folder / "analysis"
    assert run(["analyze", str(out), "--out", str(analysis), "--quiet"]) == ExitStatus.OK
    return json.loads((analysis / "summary.json").read_text())


def plan_of(folder) -> slotplan.Plan:
    summary = json.loads((folder / "analysis" / "summary.json").read_text())
    load = slotload.from_rows(
        tables.read(folder / "analysis").wide(),
        summary["basis"],
        (summary["window"]["start"], summary["window"]["end"]),
        summary["window"]["duration_s"],
        [manifest.read(folder / "cap")],
    )
    return slotplan.build(load)


def move_slot(cluster: Cluster, slot: int, source_id: str, target_id: str) -> None:
    """What the plan's `move_slot` shell function does, with redis-py."""
    by_id = {n.client().execute_command("CLUSTER MYID").decode(): n for n in cluster.primaries()}
    src, dst = by_id[source_id].client(), by_id[target_id]
    dst.client().execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source_id)
    src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target_id)
    while keys := src.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
        src.execute_command("MIGRATE", dst.host, dst.port, "", 0, 5000, "KEYS", *keys)
    for node in cluster.primaries():
        node.client().execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)


def test_applied_plan_gives_the_predicted_skew(tmp_path):
    with running_cluster(tmp_path / "cluster") as cluster:
        shard_one = keys_in(0, 5460, 12, "warm")  # 12 busy slots on the first shard
        quiet = keys_in(5461, 16383, 6, "calm")
        rc = cluster.cluster_client()
        for k in shard_one:
            rc.set(k, "w" * 20_000)
        for k in quiet:
            rc.set(k, "c" * 20_000)

        def workload(client: redis.RedisCluster) -> None:
            for _ in range(10):
                for k in shard_one:
                    client.get(k)
                for k in quiet:
                    client.get(k)

        before = capture_and_analyze(cluster, workload, tmp_path / "one")
        assert before["hot_shard"]["status"] == "hot"
        plan = plan_of(tmp_path / "one")
        assert plan.dominant is None and plan.moves and plan.reached
        assert plan.skew_before == pytest.approx(before["hot_shard"]["skew_ratio"], rel=0.01)
        report = (tmp_path / "one" / "analysis" / "report.md").read_text()
        assert "## Slot plan" in report and "NodeGroupId" not in report

        ids = {shard: p.node_id for shard, p in plan.load.primaries.items()}
        for m in plan.moves:
            move_slot(cluster, m.slot, ids[m.source], ids[m.target])

        after = capture_and_analyze(cluster, workload, tmp_path / "two")
        assert after["hot_shard"]["skew_ratio"] == pytest.approx(plan.skew_after, rel=0.05)
        predicted = sorted(plan.after.values())
        measured = sorted(s["est_bytes_out"] for s in after["shards"])
        for p, m in zip(predicted, measured, strict=True):
            assert m == pytest.approx(p, rel=0.05)


def test_one_slot_carrying_the_hot_shard_is_not_a_resharding_job(redis_cluster, tmp_path, capsys):
    cluster = redis_cluster
    rc = cluster.cluster_client()
    big = keys_in(0, 5460, 1, "plan-big")[0]
    rest = keys_in(0, 16383, 9, "plan-small")
    rc.set(big, "B" * 200_000)
    for k in rest:
        rc.set(k, "s" * 1_000)

    def workload(client: redis.RedisCluster) -> None:
        for _ in range(20):
            client.get(big)
            for k in rest:
                client.get(k)

    summary = capture_and_analyze(cluster, workload, tmp_path)
    plan = plan_of(tmp_path)
    assert plan.dominant is not None
    assert plan.dominant.top_key == big and plan.dominant.slot == hash_slot(big.encode())
    assert plan.dominant.share > 0.9
    assert not plan.moves and not plan.layouts
    report = (tmp_path / "analysis" / "report.md").read_text()
    assert "**Resharding cannot help:**" in report and big in report
    assert summary["hot_shard"]["status"] == "hot"
    capsys.readouterr()
    assert run(["plan", str(tmp_path / "analysis")]) == ExitStatus.OK
    assert "Resharding cannot help" in capsys.readouterr().out
