"""The in-window sampler's key discovery and the stream slices it reads (no server needed for
the discovery; the stream's tap is read back from a real MONITOR in tests/scenarios)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from hotshard.capture.format.manifest import Manifest, NodeCapture
from hotshard.capture.stream import TAP_BYTES, MonitorStream
from hotshard.capture.window_sample import WindowSample


def _line(i: int, *args: str, client: str = "10.0.0.1:5000") -> bytes:
    quoted = " ".join(f'"{a}"' for a in args)
    return f"+1700000000.{i:06d} [0 {client}] {quoted}\r".encode()


def _sampler(**kwargs) -> WindowSample:
    return WindowSample(Path("."), Manifest(), [], lambda n: None, **kwargs)  # type: ignore[arg-type, return-value]


def test_whole_reads_rank_first_and_measured_keys_are_not_queued_again():
    lines = [_line(0, "GET", "small")] * 5 + [
        _line(1, "ZRANGE", "board", "0", "-1"),
        _line(2, "HGETALL", "h"),
        _line(3, "GET", "done"),
        _line(4, "TYPE", "board", client="10.0.0.9:7000"),  # the sampler's own line
        _line(5, "EVALSHA", "abc", "0"),  # no key
    ]
    queue: Counter[bytes] = Counter()
    parsed = _sampler()._discover(
        [b"\n".join(lines) + b"\n"], b" 10.0.0.9:7000] ", {}, queue, {b"done"}
    )
    assert parsed == 9  # every line but the sampler's own
    assert sorted(queue.items(), key=lambda kv: (-kv[1], kv[0])) == [
        (b"board", 100.0),
        (b"h", 100.0),
        (b"small", 50.0),
    ]


def test_discovery_keeps_to_its_line_budget_newest_first():
    old = [_line(i, "GET", f"old:{i}") for i in range(50)]
    new = [_line(i, "GET", f"new:{i}") for i in range(50)]
    queue: Counter[bytes] = Counter()
    sampler = _sampler(lines_per_tick=50)
    sampler._discover([b"\n".join(old) + b"\n", b"\n".join(new) + b"\n"], b"-", {}, queue, set())
    assert set(queue) == {f"new:{i}".encode() for i in range(50)}


def test_the_stream_keeps_whole_lines_for_the_sampler(tmp_path):
    """The tap keeps the last whole lines of what was received, at most TAP_BYTES a slice, and
    hands each slice over once."""
    node = NodeCapture(node="n:1", host="n", port=1, role="primary", shard="0001")
    stream = MonitorStream(node, tmp_path / "f.monitor", options=None)  # type: ignore[arg-type]
    data = b"".join(_line(i, "GET", f"k:{i}") + b"\n" for i in range(5000))
    stream._buf[: len(data)] = data
    stream._line_start = True
    stream._tap(len(data) - 3)  # the last line not complete yet
    seq, slices = stream.since(0)
    assert seq == 1 and len(slices) == 1
    (kept,) = slices
    assert len(kept) <= TAP_BYTES and kept.endswith(b"\n") and kept.startswith(b"+")
    assert b'"k:4998"' in kept and b'"k:4999"' not in kept
    assert stream.since(seq) == (seq, [])
