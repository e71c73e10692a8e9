"""The self-check and what MONITOR does not show, on a real 3+3 cluster with exact byte counts.

One capture of every node while raw-socket clients do what MONITOR never shows: a client that
sends every key to one node and collects `-MOVED`/`-CROSSSLOT` replies, an agent polling INFO and
CLIENT LIST, and Pub/Sub subscribers on three nodes fed by PUBLISH on one. Every reply byte is
counted on the client side; the analysis must explain each node's measured bytes out with it.
"""

from __future__ import annotations

import json
import time

import pytest

from hotshard.analyze.commands import check
from hotshard.analyze.commands.analysis import open_analysis
from hotshard.analyze.commands.analyze import AnalyzeOptions, run_analyze
from hotshard.analyze.keys.slots import hash_slot
from tests.capturing import background_capture, capture_options
from tests.resp import RawConnection
from tests.servers import Node


def _slots_of(node: Node) -> set[int]:
    owned: set[int] = set()
    for lo, hi, *nodes in node.client().execute_command("CLUSTER SLOTS"):
        primary = nodes[0]
        if int(primary[1]) == node.port:
            owned.update(range(int(lo), int(hi) + 1))
    return owned


def _read_messages(sub: RawConnection, n: int, timeout: float = 20) -> int:
    """Read `n` pushed messages; their bytes on the wire."""
    deadline = time.monotonic() + timeout
    size = 0
    for _ in range(n):
        assert time.monotonic() < deadline, "subscriber did not get every message"
        part, value = sub.read_reply()
        assert isinstance(value, list) and value[0] == b"message", value
        size += part
    return size


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["redis70", "valkey91"], indirect=True)
def test_self_check_explains_unmonitored_traffic(engine_cluster, tmp_path):
    cluster = engine_cluster
    cluster.wait_replicas_synced()
    a, b = cluster.primaries()[:2]
    replica = cluster.replicas()[0]
    owned = _slots_of(a)
    foreign = [k for k in (f"key:{i}" for i in range(2000)) if hash_slot(k.encode()) not in owned]
    local = [k for k in (f"mine:{i}" for i in range(2000)) if hash_slot(k.encode()) in owned]

    subscribers = {a.address: 2, b.address: 1, replica.address: 1}
    subs = []
    for node in (a, b, replica):
        for _ in range(subscribers[node.address]):
            conn = RawConnection(node.host, node.port)
            conn.call("SUBSCRIBE", "news")
            subs.append((node, conn))
    app = RawConnection(a.host, a.port)
    agent = RawConnection(a.host, a.port)
    received: dict[str, int] = {n.address: 0 for n in cluster.nodes}
    options = capture_options(cluster.seed.address, tmp_path, nodes="all", sizes=False)
    n_moved, n_cross, n_set, n_info, n_list, n_pub = 300, 20, 100, 10, 10, 50
    try:
        with background_capture(options) as bg:
            bg.wait_started(files=6)
            for k in foreign[:n_moved]:
                received[a.address] += app.reply_size("GET", k)
            for i in range(n_cross):
                received[a.address] += app.reply_size("MGET", foreign[i], local[i])
            for k in local[:n_set]:
                received[a.address] += app.reply_size("SET", k, "v" * 40)
            for _ in range(n_info):
                received[a.address] += agent.reply_size("INFO")
                received[a.address] += agent.reply_size("CLIENT", "LIST")
            for i in range(n_pub):
                received[a.address] += app.reply_size("PUBLISH", "news", f"{i:04d}" + "m" * 96)
            for node, conn in subs:
                received[node.address] += _read_messages(conn, n_pub)
            result = bg.stop()
    finally:
        for conn in (app, agent, *(c for _, c in subs)):
            conn.close()

    out = tmp_path / "out"
    run_analyze(AnalyzeOptions(inputs=[str(result.folder)], out=str(out), quiet=True))
    summary = json.loads((out / "summary.json").read_text())
    checks = {n["node"]: n for n in summary["self_check"]["nodes"]}
    assert set(checks) == {n.address for n in cluster.nodes}

    # What the server measured is what the clients received, to the byte — plus, on replicas,
    # their `REPLCONF ACK`s to the primary, once a second (client output too).
    for address, n in checks.items():
        acks = [p for p in n["not_shown"] if p["name"] == "REPLCONF ACK"]
        assert n["measured_bytes_out"] - sum(p["bytes"] for p in acks) in range(
            received[address] - 40, received[address] + 41
        ), (address, n)
        if n["role"] == "primary":
            assert n["measured_bytes_out"] == received[address], address

    hot = checks[a.address]
    parts = {(p["kind"], p["name"]): p for p in hot["not_shown"]}
    assert parts["rejected", "MOVED"]["count"] == n_moved
    assert parts["rejected", "CROSSSLOT"]["count"] == n_cross
    assert parts["admin", "client|list"]["count"] == n_list  # the capture's own calls taken out
    assert parts["info", "info"]["count"] == n_info
    assert parts["pubsub", "PUBLISH pushes"]["count"] == n_pub * subscribers[a.address]
    assert parts["pubsub", "PUBLISH replies"]["count"] == n_pub
    # Without these parts the model alone would explain well under half of this node.
    assert sum(hot["modelled"].values()) < 0.5 * hot["measured_bytes_out"]
    for address, n in checks.items():
        if n["share"] >= 0.01:  # the idle ones carry one REPLCONF ACK more or less
            assert abs(n["ratio"] - 1) < 0.01, (address, n)
            assert abs(n["unexplained_share"]) < 0.01, (address, n)
    (pushed,) = [p for p in checks[b.address]["not_shown"] if p["kind"] == "pubsub"]
    assert pushed["count"] == n_pub * subscribers[b.address]
    assert summary["self_check"]["status"] == "ok"
    nodes = {n["node"]: n for n in summary["nodes"]}
    assert nodes[a.address]["est_bytes_out"] == hot["est_bytes_out"]  # the whole estimate

    report = (out / "report.md").read_text()
    assert "Self-check: the estimate is within 5.0% of the measured bytes out" in report

    # A tolerance tighter than the (small) residual names the node and shows the breakdown.
    big = [n for n in checks.values() if n["share"] >= 0.01]
    worst = max(big, key=lambda n: abs(n["ratio"] - 1))
    tight = abs(worst["ratio"] - 1) / 2
    if tight > 0:
        strict = tmp_path / "strict"
        run_analyze(
            AnalyzeOptions(
                inputs=[str(result.folder)], out=str(strict), quiet=True, tolerance=tight
            )
        )
        text = (strict / "report.md").read_text()
        assert f"node {worst['node']}" in text.split("## Capture")[0]
        assert f"### Where the measured bytes of `{worst['node']}` went" in text
        assert "**unexplained**" in text
    with open_analysis(str(out)) as analysis:
        (result_rule,) = check.evaluate(analysis, {"estimate_accuracy": {"max_error": 0.01}})
    assert result_rule.ok
