"""Cluster clients starting during a capture (issue 24): redis-py's `RedisCluster` asks the seed
node `COMMAND` (~hundreds of kB) and `CLUSTER SLOTS` when it starts. On a real Redis 7.0 3+3
cluster, 30 clients started inside the window: the seed's estimate against its own counters."""

from __future__ import annotations

import json
import socket

import pytest
from redis.cluster import RedisCluster

from hotshard.analyze.commands.analyze import AnalyzeOptions, run_analyze
from hotshard.capture import costs
from tests.capturing import background_capture, capture_options

pytestmark = pytest.mark.slow


def test_command_reply_of_cluster_clients_starting_in_the_window(redis_cluster, tmp_path):
    cluster = redis_cluster
    seed = cluster.seed
    options = capture_options(seed.address, tmp_path, nodes="primaries", poll_interval=0)
    with background_capture(options) as bg:
        bg.wait_started(files=3)
        for _ in range(30):
            rc = RedisCluster(host=seed.host, port=seed.port)
            rc.close()
        result = bg.stop()
    run_analyze(AnalyzeOptions(inputs=[str(result.folder)], out=str(tmp_path / "out"), quiet=True))
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    node = next(n for n in summary["self_check"]["nodes"] if n["node"] == seed.address)
    command = next(p for p in node["not_shown"] if p["name"] == "command")
    assert command["count"] == 30 and command["basis"] == "measured"
    assert command["bytes"] > 0.8 * node["measured_bytes_out"]  # the premise: COMMAND dominates
    assert node["ratio"] == pytest.approx(1.0, abs=0.03)


def test_the_command_reply_is_measured_on_the_wire(redis_node):
    """`wire_reply_size` against the bytes a raw socket receives for the same COMMAND."""
    with socket.create_connection((redis_node.host, redis_node.port)) as s:
        s.sendall(b"*1\r\n$7\r\nCOMMAND\r\n")
        data = b""
        while (end := costs.resp_end(data)) is None:
            data += s.recv(1 << 16)
    assert end == len(data)
    assert costs.wire_reply_size(redis_node.client(), "COMMAND") == len(data)
    framed = b"%1\r\n+a\r\n*2\r\n:1\r\n$3\r\nabc\r\n"
    assert costs.resp_end(framed + b"+next\r\n") == len(framed)
    assert costs.resp_end(b"*2\r\n$3\r\nab") is None
