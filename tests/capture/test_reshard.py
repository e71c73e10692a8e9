"""Slots migrated during the window (a reshard): CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE,
the RESTORE-ASKING the source node sends its target, CLUSTER SETSLOT NODE. That traffic is the
cluster's own, not clients': the analysis neither lists it among client commands nor charges it
as client bytes out. A dedicated real 3+3 cluster (the shared one keeps its slots)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
import pytest
import redis

from hotshard.capture.cli import run
from hotshard.capture.errors import ExitStatus
from hotshard.capture.format import manifest
from tests.capturing import capture_process, wait_for_files
from tests.servers import Cluster, running_cluster

ROOT = Path(__file__).parents[2]
MOVED = ("migrate", "restore-asking", "asking", "cluster")


def migrate_slot(cluster: Cluster, slot: int) -> tuple[str, str]:
    """Move `slot` with its keys from its primary to another, the way redis-cli --cluster
    reshard does. Returns (source, target) addresses."""
    primaries = cluster.primaries()
    src = next(
        n
        for n in primaries
        if any(
            lo <= slot <= hi
            for lo, hi, *rest in n.client().execute_command("CLUSTER", "SLOTS")
            if rest[0][1] == n.port
        )
    )
    dst = next(n for n in primaries if n is not src)
    s, d = src.client(), dst.client()
    src_id, dst_id = s.execute_command("CLUSTER", "MYID"), d.execute_command("CLUSTER", "MYID")
    d.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
    s.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
    while keys := s.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
        s.execute_command("MIGRATE", dst.host, dst.port, "", 0, 5000, "KEYS", *keys)
    for node in primaries:
        node.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
    return src.address, dst.address


@pytest.fixture(scope="module")
def reshard_cluster(tmp_path_factory):
    with running_cluster(tmp_path_factory.mktemp("reshard")) as cluster:
        yield cluster


def test_a_slot_migrated_mid_window_is_not_client_traffic(reshard_cluster, tmp_path, capsys):
    cluster = reshard_cluster
    rc = cluster.cluster_client()
    value = "v" * 2000
    for i in range(200):
        rc.set(f"{{mig}}:{i}", value)
    slot = rc.keyslot("{mig}")
    out = tmp_path / "cap"
    argv = ["--endpoints", cluster.seed.address, "-d", "6", "--out", str(out)]
    argv += ["--nodes", "primaries", "--no-sizes", "--quiet", "--poll-interval", "0.5"]
    proc = capture_process(*argv)
    try:
        wait_for_files(out, 3)
        time.sleep(1)
        for i in range(50):
            rc.get(f"plain:{i}")
        source, target = migrate_slot(cluster, slot)
        time.sleep(1)
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (ExitStatus.OK, ExitStatus.PARTIAL), err
    # The capture re-read slot ownership after the window, beside the start topology.
    m = manifest.read(out)
    assert m.format_version == 7 and m.slots_after is not None
    assert any(lo <= slot <= hi for lo, hi in m.slots_after[target])
    assert not any(lo <= slot <= hi for lo, hi in m.slots_after.get(source, []))
    shard_of = {n.node: n.shard for n in m.nodes}
    start_shard = next(s.shard for s in m.shards if any(lo <= slot <= hi for lo, hi in s.slots))
    assert start_shard == shard_of[source]

    analysis = tmp_path / "analysis"
    status = run(["analyze", str(out), "--out", str(analysis), "--quiet"])
    console = capsys.readouterr()
    assert status == ExitStatus.OK, console.err
    rows = pl.read_parquet(analysis / "commands" / "**" / "*.parquet")
    summary = json.loads((analysis / "summary.json").read_text())
    text = json.dumps(summary).lower()
    report = (analysis / "report.md").read_text().lower()
    seen = set(rows["command"].unique().to_list())
    assert {"migrate", "restore-asking"} <= seen, seen  # the capture saw the migration
    client = rows.filter(pl.col("origin") == "client")
    assert not set(MOVED) & set(client["command"].unique().to_list())
    internal = rows.filter(pl.col("command").is_in(MOVED))
    assert set(internal["origin"].unique().to_list()) == {"cluster"}
    assert internal["reply_bytes"].fill_null(0).sum() == 0  # no client bytes out charged
    for name in ("migrate", "restore-asking"):
        assert f'"{name}"' not in text, name  # never a top/client command in the summary
        assert f"| {name} " not in report and f"`{name}`" not in report, name
    assert summary["commands"]["client"] == client.height
    # The report's line of what is not client traffic counts the cluster's own lines.
    cluster_lines = rows.filter(pl.col("origin") == "cluster").height
    assert summary["commands"]["cluster"] == cluster_lines > 0
    line = next(x for x in report.splitlines() if "not counted as client traffic" in x)
    assert f"{cluster_lines:,} the cluster's own (slot migration" in line, line
    # Health says which slot moved, from which shard to which, and that per-shard numbers mix.
    health = (analysis / "report.md").read_text().split("## Health")[1].split("\n## ")[0]
    moved = f"slot {slot} (1 slot) from shard {shard_of[source]} to shard {shard_of[target]}"
    assert "slots changed owner during the window" in health and moved in health, health
    assert "per-shard numbers for those slots are mixed" in health
    assert "slots moved between shards" in summary["hot_shard"]["text"]


def test_a_slot_migrated_away_and_back_is_noticed(reshard_cluster, tmp_path, capsys):
    """The slot has the same owner at both ends of the window; the keys that came and went are
    RESTORE-ASKING lines on both shards' replicas (the default node choice), and Health and the
    verdict say so."""
    cluster = reshard_cluster
    cluster.wait_replicas_synced()
    rc = cluster.cluster_client()
    for i in range(100):
        rc.set(f"{{back}}:{i}", "v" * 500)
    slot = rc.keyslot("{back}")
    out = tmp_path / "cap"
    argv = ["--endpoints", cluster.seed.address, "-d", "6", "--out", str(out)]
    argv += ["--no-sizes", "--quiet", "--poll-interval", "0.5"]
    proc = capture_process(*argv)
    try:
        wait_for_files(out, 3)
        time.sleep(1)
        source, target = migrate_slot(cluster, slot)
        again, back = migrate_slot(cluster, slot)
        assert (again, back) == (target, source)
        cluster.wait_replicas_synced()
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (ExitStatus.OK, ExitStatus.PARTIAL), err
    m = manifest.read(out)
    assert m.slots_after is not None
    assert any(lo <= slot <= hi for lo, hi in m.slots_after[source])  # back where it was
    shard_of = {n.node: n.shard for n in m.nodes}

    analysis = tmp_path / "analysis"
    status = run(["analyze", str(out), "--out", str(analysis), "--quiet"])
    console = capsys.readouterr()
    assert status == ExitStatus.OK, console.err
    rows = pl.read_parquet(analysis / "commands" / "**" / "*.parquet")
    key_slots = pl.read_parquet(analysis / "keys.parquet").select("key_id", "slot")
    arrived = rows.filter(pl.col("command") == "restore-asking").join(key_slots, on="key_id")
    assert set(arrived["slot"].unique().to_list()) == {slot}
    assert set(arrived["shard"].unique().to_list()) == {shard_of[source], shard_of[target]}
    health = (analysis / "report.md").read_text().split("## Health")[1].split("\n## ")[0]
    assert "slots changed owner" not in health  # the two topologies agree
    assert f"keys of slot {slot} (1 slot) were migrated between shards during the window" in health
    assert "moved away and back, or a migration left unfinished" in health
    assert "MONITOR never shows MOVED/ASK replies" in health
    summary = json.loads((analysis / "summary.json").read_text())
    assert "slots moved between shards" in summary["hot_shard"]["text"]


def test_cluster_failover_on_a_monitored_replica_is_said_with_its_time(
    reshard_cluster, tmp_path, capsys
):
    """`CLUSTER FAILOVER` on a replica the capture monitors (the default: one replica per
    shard): the capture records the role change with its time, the analysis says so."""
    cluster = reshard_cluster
    cluster.wait_replicas_synced()
    rc = cluster.cluster_client()
    for i in range(100):
        rc.set(f"f:{i}", "x" * 100)
    out = tmp_path / "cap"
    argv = ["--endpoints", cluster.seed.address, "-d", "7", "--out", str(out)]
    argv += ["--no-sizes", "--quiet", "--poll-interval", "0.5"]
    proc = capture_process(*argv)
    try:
        wait_for_files(out, 3)
        m = manifest.read(out)
        replica = next(n for n in m.nodes if n.monitored and n.role == "replica")
        client = redis.Redis(host=replica.host, port=replica.port)
        time.sleep(1.5)  # a few polls as a replica
        asked_at = time.time()
        client.execute_command("CLUSTER", "FAILOVER")
        for _ in range(100):  # the promotion is asynchronous: wait until it holds
            if client.execute_command("ROLE")[0] == b"master":
                break
            time.sleep(0.05)
        promoted_at = time.time()
        assert client.execute_command("ROLE")[0] == b"master"
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (ExitStatus.OK, ExitStatus.PARTIAL), err
    m = manifest.read(out)
    node = m.node(replica.node)
    assert node is not None and node.monitored and node.role == "replica"
    roles = [p.role for p in node.polls]
    assert roles[0] == "replica" and roles[-1] == "primary", roles
    last_replica = max(p.at for p in node.polls if p.role == "replica")
    first_primary = min(p.at for p in node.polls if p.role == "primary")
    assert last_replica <= promoted_at + 0.1 and first_primary >= asked_at - 0.1
    # The end topology names the promoted node as its shard's primary: no slot moved.
    start_slots = next(s.slots for s in m.shards if s.shard == replica.shard)
    assert m.slots_after is not None and m.slots_after[replica.node] == start_slots

    analysis = tmp_path / "analysis"
    status = run(["analyze", str(out), "--out", str(analysis), "--quiet"])
    console = capsys.readouterr()
    assert status == ExitStatus.OK, console.err
    health = (analysis / "report.md").read_text().split("## Health")[1].split("\n## ")[0]
    assert f"node {replica.node} (shard {replica.shard}): its role changed from replica to " in (
        health
    )
    assert "slots changed owner" not in health  # a failover keeps the shard's slots
    summary = json.loads((analysis / "summary.json").read_text())
    assert f"a monitored node of shard {replica.shard} changed role" in summary["hot_shard"]["text"]
    shown = {n["node"]: n["role"] for n in summary["nodes"]}
    assert shown[replica.node] == "replica→primary"
