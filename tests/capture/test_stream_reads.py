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


def test_a_burst_over_tls_is_read_without_naps_between_records(tls_node, tmp_path):
    """A TLS read returns one record (16 KiB) at most, however much is waiting: the nap follows
    only a read that left nothing waiting, or a node's MONITOR over TLS would be read at
    ~16 KiB per nap (~320 kB/s) and fall behind."""
    node = NodeCapture(
        node=tls_node.address, host=tls_node.host, port=tls_node.port, role="primary", shard="1"
    )
    options = ConnectOptions(tls="on", tls_ca=tls_node.extra["tls"]["ca"])
    stream = MonitorStream(node, tmp_path / "n.monitor.zst", options)
    stream.start()
    assert stream.started.wait(10) and stream.connected
    client = tls_node.client()
    sent, value = 40_000, "x" * 200  # ~10 MB of MONITOR lines, as fast as the server goes
    pipe = client.pipeline(transaction=False)
    for i in range(sent):
        pipe.set(f"k:{i}", value)
    pipe.execute()
    done = time.monotonic()
    while stream.lines < sent and time.monotonic() - done < 10:
        time.sleep(0.01)
    behind = time.monotonic() - done
    stream.stop("duration")
    assert stream.join(10)
    assert stream.lines >= sent
    assert behind < 5  # at 16 KiB a nap it would take ~30 s
