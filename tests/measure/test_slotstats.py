"""Valkey's per-slot counters (`CLUSTER SLOT-STATS`) captured around the window and set beside the
estimate, on real Valkey 9.1 servers.

The measured side counts every reply to a client in the slot and, on the primary, the
replication stream once per replica; on a replica it counts nothing for replicated writes. So
per slot: measured = estimated replies + the replicated writes the replicas received.
"""

from __future__ import annotations

import time

import polars as pl
import pytest
import redis

from hotshard.analyze.measure import slotstats as analyzed_slots
from hotshard.analyze.store import dataset
from hotshard.capture import slotstats
from hotshard.capture.cli import run
from hotshard.capture.connect import ConnectOptions, control_client
from hotshard.capture.errors import ExitStatus
from hotshard.capture.format import manifest
from hotshard.capture.format.manifest import NodeCapture, SlotStats
from hotshard.capture.session import CaptureOptions
from tests.capturing import background_capture, monitored
from tests.servers import ENGINES, start_node

VALKEY = ENGINES["valkey91"]


def read_heavy(rc: redis.RedisCluster, rounds: int) -> None:
    for _ in range(rounds):
        for i in range(8):
            rc.get(f"blob:{i}")
        for j in range(4):
            rc.hgetall(f"profile:{j}")
            rc.zrevrange(f"board:{j}", 0, -1, withscores=True)
        rc.incr("counter:1")  # a few writes: replicated once to the replica


@pytest.mark.slow
def test_measured_slot_bytes_match_the_estimate_plus_replication(clusters, tmp_path):
    cluster = clusters("valkey91")
    rc = cluster.cluster_client()
    for i in range(8):
        rc.set(f"blob:{i}", "x" * (2000 * (i + 1)))
    for j in range(4):
        rc.hset(f"profile:{j}", mapping={f"field{f}": "v" * (f + 1) for f in range(40)})
        rc.zadd(f"board:{j}", {f"user:{u}": u * 1.25 for u in range(150)})
    cluster.wait_replicas_synced()
    out = tmp_path / "cap"
    options = CaptureOptions(
        endpoints=[cluster.seed.address], out=str(out), nodes="all", duration=120, quiet=True
    )
    with background_capture(options) as bg:
        bg.wait_started(files=6)
        read_heavy(rc, rounds=30)
        cluster.wait_replicas_synced()  # the replicas have the writes in their files
        result = bg.stop()
    m = result.manifest
    assert m.status == "complete", m.warnings
    assert {n.slot_stats.status for n in m.nodes} == {"ok"}
    back = manifest.read(out)
    assert back.nodes[0].slot_stats == m.nodes[0].slot_stats  # survives the JSON round trip

    assert run(["analyze", str(out), "--out", str(tmp_path / "a"), "--quiet"]) == ExitStatus.OK
    rows = dataset.read(tmp_path / "a").wide().filter(pl.col("slot").is_not_null())
    estimate = (
        rows.group_by("shard", "slot")
        .agg(
            replies=pl.col("reply_bytes").filter(pl.col("origin") == "client").sum(),
            unknown=(pl.col("reply_bytes").is_null() & (pl.col("origin") == "client")).sum(),
            # the primary sent each replicated write to the replica: bytes as the replica got them
            repl=pl.col("request_bytes").filter(pl.col("origin") == "replicated").sum(),
        )
        .collect()
    )
    assert estimate["unknown"].sum() == 0
    measured = analyzed_slots.measured([back]).bytes_out
    assert len(measured) >= 8
    compared = 0
    for row in estimate.iter_rows(named=True):
        got = measured[(row["shard"], row["slot"])]
        want = row["replies"] + row["repl"]
        assert got == pytest.approx(want, rel=0.05), row
        compared += 1
    assert compared == len(measured)  # every slot the server counted, we estimated
    report = (tmp_path / "a" / "report.md").read_text()
    assert "| Measured bytes out (server) |" in report
    assert "replication stream" in report


def one_node_cluster(folder, **config):
    """A Valkey node owning every slot: the cheapest real cluster for probing slot stats."""
    node = start_node(folder, cluster=True, engine=VALKEY, config=config)
    node.client().execute_command("CLUSTER ADDSLOTSRANGE", 0, 16383)
    deadline = time.monotonic() + 20
    while node.client().execute_command("CLUSTER INFO")["cluster_state"] != "ok":
        assert time.monotonic() < deadline, "one-node cluster not ready"
        time.sleep(0.05)
    return node


def capture_node(node) -> NodeCapture:
    return NodeCapture(
        node=node.address,
        host=node.host,
        port=node.port,
        role="primary",
        shard="0001",
        slots=[(0, 16383)],
        server_name="valkey",
        server_version="9.1.2",
    )


def test_disabled_denied_and_not_valkey_are_notes_never_failures(tmp_path):
    node = one_node_cluster(tmp_path)  # cluster-slot-stats-enabled no (the default)
    try:
        admin = node.client()
        admin.execute_command(
            "ACL", "SETUSER", "nostats", "on", ">pw", "~*", "+@all", "-cluster|slot-stats"
        )
        target = capture_node(node)
        control = control_client(node.host, node.port, ConnectOptions())
        assert slotstats.before({node.address: control}, [target]) == {}
        assert target.slot_stats.status == "disabled"
        assert "cluster-slot-stats-enabled" in target.slot_stats.note

        limited = control_client(
            node.host, node.port, ConnectOptions(user="nostats", password="pw")
        )
        denied = capture_node(node)
        slotstats.before({node.address: limited}, [denied])
        assert denied.slot_stats.status == "denied"
        assert "+cluster|slot-stats" in denied.slot_stats.note

        # switched on at run time: counted from then on, read before and after
        admin.config_set("cluster-slot-stats-enabled", "yes")
        on = capture_node(node)
        start = slotstats.before({node.address: control}, [on])
        admin.set("k", "v" * 100)
        admin.get("k")
        slotstats.after({node.address: control}, [on], start)
        slot = str(admin.execute_command("CLUSTER KEYSLOT", "k"))
        assert on.slot_stats.status == "ok"
        assert on.slot_stats.delta[slot]["network-bytes-out"] == 5 + 100 + 3 + 5  # +OK, $100
        assert list(on.slot_stats.delta) == [slot]  # only the slots that moved are kept

        # a whole capture of the disabled-at-start node still completes
        admin.config_set("cluster-slot-stats-enabled", "no")
        out = tmp_path / "cap"
        argv = ["capture", "--endpoints", node.address, "-d", "0.5", "--out", str(out)]
        assert run([*argv, "--no-sizes", "--quiet"]) == ExitStatus.OK
        (n,) = monitored(manifest.read(out))
        assert (n.server_name, n.slot_stats.status) == ("valkey", "disabled")
    finally:
        node.stop()

    redis70 = capture_node(node)
    redis70.server_name, redis70.server_version = "redis", "7.0.15"
    standalone = capture_node(node)
    standalone.slots = []  # cluster mode off
    assert not slotstats.applies(redis70) and not slotstats.applies(standalone)  # never asked


def test_report_notes_and_the_double_count_caveat():
    def node(name, version, stats):
        where = {"host": "h", "port": 1, "role": "primary", "shard": "0001"}
        return NodeCapture(
            node=name, server_name="valkey", server_version=version, slot_stats=stats, **where
        )

    ok = SlotStats("ok", delta={"7": {"network-bytes-out": 100}, "9": {"network-bytes-out": 5}})
    m = manifest.Manifest(
        nodes=[
            node("a:1", "9.0.1", ok),
            node("b:1", "9.0.1", SlotStats("ok", delta={"7": {"network-bytes-out": 20}})),
            node("c:1", "8.1.1", SlotStats("denied", "not allowed")),
        ]
    )
    got = analyzed_slots.measured([m])
    assert got.bytes_out == {("0001", 7): 120, ("0001", 9): 5}
    assert got.notes[0] == "slot stats denied on node c:1 — not allowed"
    assert "valkey#3043" in got.notes[1] and "9.0.1" in got.notes[1]
    many = [node(f"d:{i}", "9.1.2", SlotStats("disabled", "off")) for i in range(6)]
    (disabled,) = analyzed_slots.measured([manifest.Manifest(nodes=many)]).notes
    assert disabled.startswith("slot stats disabled on 6 nodes (d:0, …) — off. ")
    # says how to turn them on, and what ElastiCache needs instead of CONFIG SET
    assert "`CONFIG SET cluster-slot-stats-enabled yes`" in disabled
    assert "parameter group" in disabled
    assert analyzed_slots.caveats(["9.1.2", "8.1.1", "9.0.0"]) == []
