"""The MONITOR reader takes many lines a read: a read that found little waiting is followed by a
nap (capture/stream.py, NAP_SECONDS), so a stream of single commands costs a few reads a
second, not one read (a wake-up, two system calls, the GIL) per command. Every line still
arrives, in order, and the stop stays exact."""

from __future__ import annotations

import time

from hotshard.capture.connect import ConnectOptions
from hotshard.capture.format.manifest import NodeCapture
from hotshard.capture.format.reader import MonitorFile
from hotshard.capture.stream import NAP_SECONDS, MonitorStream


def test_a_trickle_of_commands_is_read_a_few_reads_a_second(redis_node, tmp_path):
    node = NodeCapture(
        node=redis_node.address,
        host=redis_node.host,
        port=redis_node.port,
        role="primary",
        shard="0001",
    )
    stream = MonitorStream(node, tmp_path / "n.monitor.zst", ConnectOptions(tls="off"))
    stream.start()
    assert stream.started.wait(10) and stream.connected
    client = redis_node.client()
    sent = 400
    began = time.monotonic()
    for i in range(sent):  # one command a round trip, ~2 ms apart: one line each time
        client.set(f"k:{i}", "v")
        time.sleep(0.002)
    elapsed = time.monotonic() - began
    stream.stop("duration")
    assert stream.join(10)
    lines = [line for block in MonitorFile(stream.path).blocks() for line in block.splitlines()]
    keys = [line.split(b'"')[3] for line in lines if line.split(b'"')[1] == b"SET"]
    assert keys == [f"k:{i}".encode() for i in range(sent)]
    assert stream.lines == len(lines) >= sent
    # without the nap, ~one read per command (400); with it, about one per nap
    assert stream.reads <= elapsed / NAP_SECONDS * 1.5 + 10 < sent / 2
