"""Bytes out through time: INFO polls during the window, measured per interval, estimated beside.

The arithmetic is checked to the byte against a real server: a workload in phases with known
reply sizes, the capture's own poller between them, and a replica attached (its replication
stream must come out). Then a real capture of a real cluster goes through the whole analyzer.
"""

from __future__ import annotations

import json
import math
import shutil
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from hotshard.analyze.commands.analyze import AnalyzeOptions, run_analyze
from hotshard.analyze.findings import timeline
from hotshard.analyze.measure import reconcile
from hotshard.capture import info, poll
from hotshard.capture.connect import ConnectOptions, control_client
from hotshard.capture.format import counters, manifest
from hotshard.capture.format.manifest import NodeCapture
from tests.capturing import background_capture, capture_options, command_counts, lines_of, monitored
from tests.measure.test_cloudwatch import client as cloudwatch_client
from tests.measure.test_cloudwatch import moto  # noqa: F401 (a fixture)
from tests.measure.test_cloudwatch import put as put_metric
from tests.resp import RawConnection
from tests.samples_fixture import SAMPLES
from tests.servers import start_node


def phase(app: RawConnection, k: int) -> int:
    """A workload of a different size each time (writes replicate, reads reply), in bytes out."""
    sent = app.reply_size("SET", f"k{k}", "v" * (1000 * (k + 1)))
    for _ in range(5 * (k + 1)):
        sent += app.reply_size("GET", f"k{k}")
    sent += app.reply_size("HGETALL", f"k{k}")  # WRONGTYPE: an error reply is bytes out too
    return sent + app.reply_size("ECHO", f"end of phase {k}")


def test_polls_give_each_interval_its_exact_client_bytes(primary_with_replica):
    node = primary_with_replica
    control = control_client(node.host, node.port, ConnectOptions(tls="off"))
    mon = RawConnection(node.host, node.port)
    app = RawConnection(node.host, node.port)
    n = NodeCapture(node.address, node.host, node.port, "primary", "0001", monitored=True)
    try:
        poller = poll.Poller(
            [n], {n.node: control}, 1.0, lambda n: (mon.received, n.overhead_bytes_out)
        )
        assert n.poll_client is not None and n.poll_client.startswith("127.0.0.1:")
        n.info_before = info.snapshot(control, None)
        n.overhead_bytes_out += n.info_before.reply_bytes
        mon.send("MONITOR")
        mon.read_until(b"+OK\r\n")
        expected = []
        for k in range(4):
            expected.append(phase(app, k))
            mon.read_until(f'"end of phase {k}"'.encode())
            if k < 3:
                assert poller.poll_now() == []
        n.bytes_received = mon.received
        n.info_after = info.snapshot(control, None)
    finally:
        for c in (mon, app):
            c.close()
        control.close()
    assert len(n.polls) == 3
    assert all(p.overhead_bytes > n.info_before.reply_bytes for p in n.polls[1:])
    intervals = reconcile.measured_intervals(n)
    assert [(i["start"], i["end"]) for i in intervals] == list(
        zip(
            [n.info_before.at, *(p.at for p in n.polls)],
            [*(p.at for p in n.polls), n.info_after.at],
            strict=True,
        )
    )
    measured = [i["measured_bytes_out"] for i in intervals]
    if not node.engine.at_least(7):
        # Redis 6.2 counts replication inside total_net_output_bytes only: unknown, not a guess.
        assert measured == [None] * 4
        assert reconcile.measured_bytes_out(n) is None
        return
    assert measured == expected
    assert sum(measured) == reconcile.measured_bytes_out(n)  # the window, to the byte
    # Every interval ran at least its phase's commands (plus the poll itself).
    assert all(i["commands_processed"] >= 8 for i in intervals)


def test_a_node_without_polls_has_no_measured_intervals():
    n = NodeCapture("h:1", "h", 1, "replica", "0001", monitored=True)
    assert reconcile.measured_intervals(n) == []
    assert timeline.bin_seconds(31) == 5
    assert timeline.bin_seconds(3600) == 15
    assert timeline.bin_seconds(8 * 10**5) == 3600
    # Longer windows (days; a clock that jumped a year) still have at most MAX_BINS bins.
    assert timeline.bin_seconds(10**6) == 7200
    assert 3e10 / timeline.bin_seconds(3e10) <= timeline.MAX_BINS


def _valid_svg(path: Path) -> None:
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg", path
    text = path.read_text()
    assert "<dc:date>" not in text and "Matplotlib v" not in text  # no time, no version stamp


@pytest.mark.slow
def test_a_real_capture_gives_measured_and_estimated_series_and_charts(redis_cluster, tmp_path):
    options = capture_options(
        redis_cluster.seed.address,
        tmp_path,
        nodes="primaries",
        duration=60,
        sizes=False,
        poll_seconds=0.05,
        poll_interval=0.3,
    )
    client = redis_cluster.cluster_client()
    with background_capture(options) as bg:
        bg.wait_started(files=3)
        folder = Path(options.out)
        deadline = time.monotonic() + 30
        i = 0
        # Traffic until every node has been polled a few times (the manifest says so at the end;
        # meanwhile the poller's records are on the nodes the session holds).
        while True:
            client.set(f"big:{i % 7}", "x" * 20_000)
            client.get(f"big:{i % 7}")
            i += 1
            nodes = [n for n in bg_nodes(bg) if n.monitored]
            if nodes and all(len(n.polls) >= 4 for n in nodes):
                break
            assert time.monotonic() < deadline, "the nodes were not polled"
        result = bg.stop()
    client.close()
    m = result.manifest
    for n in monitored(m):
        assert n.poll_client and len(n.polls) >= 4
        assert [p.at for p in n.polls] == sorted(p.at for p in n.polls)
        measured = [x["measured_bytes_out"] for x in reconcile.measured_intervals(n)]
        assert None not in measured
        assert sum(measured) == reconcile.measured_bytes_out(n)  # polls keep the window exact

    out = tmp_path / "out"
    run_analyze(AnalyzeOptions(inputs=[str(folder)], out=str(out), quiet=True, console=False))
    summary = json.loads((out / "summary.json").read_text())
    t = summary["timeline"]
    assert t["measured"] is True and t["cloudwatch"] is False
    by_node = {n["node"]: n for n in summary["nodes"]}
    assert set(by_node) == {n.node for n in monitored(m)}
    for node, row in by_node.items():
        rows = [x for x in t["intervals"] if x["node"] == node]
        assert sum(x["measured_bytes_out"] for x in rows) == row["measured_bytes_out"]
        assert sum(x["commands"] for x in rows) == row["commands"]
        assert sum(x["est_bytes_out"] or 0 for x in rows) == (row["est_bytes_out"] or 0)
        minutes = [x for x in t["minutes"] if x["node"] == node]
        assert sum(x["commands"] for x in minutes) == row["commands"]
        # Pro-rated over minutes, each rounded: within a byte per minute of the total.
        got = sum(x["measured_bytes_out"] or 0 for x in minutes)
        assert abs(got - row["measured_bytes_out"]) <= len(minutes)
    # The polls' own INFO lines are in the MONITOR files, not among the application's commands.
    assert all(command_counts(lines_of(folder, n))["info"] >= 4 for n in monitored(m))
    rows = pl.scan_parquet(out / "commands" / "**" / "*.parquet").select("command").collect()
    assert rows.height == sum(by_node[n]["commands"] for n in by_node)
    assert "info" not in rows["command"].to_list()
    assert all(x["commands"] >= 0 for x in t["intervals"])

    report = (out / "report.md").read_text()
    assert summary["charts"] == [
        "charts/bytes_over_time.svg",
        "charts/slots.svg",
        "charts/patterns.svg",
    ]
    for chart in summary["charts"]:
        _valid_svg(out / chart)
        assert f"]({chart})" in report
        alt = report.split(f"]({chart})")[0].rsplit("![", 1)[1]
        assert len(alt) > 20, alt
    assert " measured " in report  # the measured sparkline rows

    again = tmp_path / "again"
    run_analyze(AnalyzeOptions(inputs=[str(folder)], out=str(again), quiet=True, console=False))
    for name in ("summary.json", "report.md", *summary["charts"]):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name


def bg_nodes(bg) -> list[NodeCapture]:
    """The nodes of a running capture, as its session records them (polls included)."""
    folder = Path(bg.options.out)
    return manifest.read(folder).nodes if (folder / manifest.MANIFEST_NAME).exists() else []


def test_cloudwatch_minutes_sit_beside_the_estimate(moto, monkeypatch, tmp_path):  # noqa: F811
    """`--cloudwatch` on a capture: CloudWatch's per-minute NetworkBytesOut (moto, real boto3)
    lands in the minutes of the node it belongs to, and in the chart."""
    folder = tmp_path / "cap"
    shutil.copytree(SAMPLES / "hot-zset", folder, ignore=shutil.ignore_patterns("expected"))
    data = json.loads((folder / manifest.MANIFEST_NAME).read_text())
    for n in data["nodes"]:
        n["aws_node_id"] = f"shop-{n['shard']}-{'001' if n['role'] == 'primary' else '002'}"
    (folder / manifest.MANIFEST_NAME).write_text(json.dumps(data))
    m = manifest.read(folder)
    first = math.floor(m.started_at / 60) * 60
    cw = cloudwatch_client(moto)
    put_metric(cw, "shop-0002-002", datetime.fromtimestamp(first + 5, UTC), 123_456_789.0)
    put_metric(cw, "shop-0001-002", datetime.fromtimestamp(first + 5, UTC), 4_321.0)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)
    out = tmp_path / "out"
    run_analyze(
        AnalyzeOptions(
            inputs=[str(folder)],
            out=str(out),
            cloudwatch=True,
            region="eu-west-1",
            quiet=True,
            console=False,
        )
    )
    summary = json.loads((out / "summary.json").read_text())
    t = summary["timeline"]
    assert t["cloudwatch"] is True and t["measured"] is True  # the sample has INFO polls
    seen = {
        (x["shard"], x["minute"]): x["cloudwatch_bytes_out"]
        for x in t["minutes"]
        if x["cloudwatch_bytes_out"] is not None
    }
    assert seen == {("0002", first): 123_456_789.0, ("0001", first): 4_321.0}
    by_shard = {n["shard"]: n for n in summary["nodes"]}
    assert by_shard["0002"]["cloudwatch_bytes_out"] == 123_456_789.0
    chart = (out / "charts" / "bytes_over_time.svg").read_text()
    assert "CloudWatch" in chart
    report = (out / "report.md").read_text()
    assert "with CloudWatch NetworkBytesOut per minute](charts/bytes_over_time.svg)" in report
    # The per-minute table: every node, by its ElastiCache node id, in CloudWatch's unit (bytes
    # per minute), beside the estimate.
    rows = {ln.split(" | ")[1]: ln for ln in report.splitlines() if " UTC | `shop-" in ln}
    assert set(rows) == {"`shop-0001-002`", "`shop-0002-002`", "`shop-0003-002`"}
    assert rows["`shop-0002-002`"].endswith("| 123,456,789 |")
    assert rows["`shop-0001-002`"].endswith("| 4,321 |")
    assert "CloudWatch's unit" in report and "nodes by their ElastiCache node id" in report


def test_a_poll_that_fails_says_so_once_and_stops_polling_that_node(tmp_path):
    node = start_node(tmp_path)
    control = control_client(node.host, node.port, ConnectOptions(tls="off"))
    n = NodeCapture(node.address, node.host, node.port, "replica", "0001", monitored=True)
    try:
        poller = poll.Poller([n], {n.node: control}, 5.0, lambda n: (0, n.overhead_bytes_out))
        assert poller.poll_now() == [] and len(n.polls) == 1
        assert n.overhead_bytes_out > 0  # the reply is the capture's own traffic
        node.stop()
        [warning] = poller.poll_now()
        assert warning.startswith(f"node {node.address} (shard 0001): INFO stats poll failed")
        assert "the window's total is unaffected" in warning and n.errors == [warning]
        assert poller.poll_now() == [] and len(n.polls) == 1  # not tried again
    finally:
        control.close()
        node.stop()


def test_polls_off_sends_nothing(redis_node):
    control = control_client(redis_node.host, redis_node.port, ConnectOptions(tls="off"))
    n = NodeCapture(redis_node.address, redis_node.host, redis_node.port, "primary", "0001")
    try:
        calls = counters.command_calls(info.snapshot(control, None))
        poller = poll.Poller([n], {n.node: control}, 0, lambda n: (0, 0))
        assert poller.tick() == [] and poller.wait_for(1.0) == 1.0
        after = counters.command_calls(info.snapshot(control, None))
        assert after.get("client|info", 0) == calls.get("client|info", 0)
        assert after["info"] == calls.get("info", 0) + 1  # only the first snapshot itself
        assert (n.polls, n.poll_client) == ([], None)
    finally:
        control.close()
