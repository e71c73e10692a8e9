"""The in-window sampler's key discovery and the stream slices it reads (no server needed for
the discovery; the stream's tap is read back from a real MONITOR in tests/scenarios)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from hotshard.capture import sizing, window_sample
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


def _shapes() -> list[bytes]:
    """MONITOR lines of every shape discovery must read: escapes, keyless commands, MGET,
    scripts, XREAD, range reads, a script's own call."""
    return [
        _line(0, "GET", "a"),
        _line(1, "get", 'a\\\\b\\x00\\"q'),
        _line(2, "SET", "k", "v"),
        _line(3, "PING"),
        _line(4, "MGET", "m1", "m2", "m3"),
        _line(5, "EVALSHA", "abc", "2", "k1", "k2", "x"),
        _line(6, "XREAD", "COUNT", "2", "STREAMS", "s1", "0"),
        _line(7, "ZRANGE", "z", "0", "-1", "WITHSCORES"),
        _line(8, "ZRANGE", "z", "0", "9"),
        _line(9, "HGETALL", "h"),
        _line(10, "GET", "x", client="lua"),
    ]


def test_discovery_finds_the_keys_the_full_grammar_finds():
    """The one-match fast path (command and first argument) against `sizing.parse_line` on
    lines of every shape: escapes, keyless commands, MGET, scripts, XREAD, range reads."""
    positions = {"get": 1, "set": 1, "ping": 0, "zrange": 1, "xread": 0, "mget": 1}
    cases = [*_shapes(), b"+OK\r", b"garbage"]
    for line in cases:
        info = sizing.parse_line(line.rstrip(b"\r"), positions)
        want = (
            []
            if info is None or info.key is None
            else [(k, window_sample._weight(info)) for k in (info.key, *info.others)]
        )
        assert window_sample.discover_line(line, positions) == want, line


def test_a_light_measurement_sends_three_commands_for_a_string_two_for_a_missing_key(redis_node):
    """The in-window sampler's measurements (`light`): TYPE, PTTL and the cardinality (one TIME
    per batch), OBJECT ENCODING and MEMORY USAGE for collections only; the sizes the analyzer
    reads are those of the full measurement."""
    r = redis_node.client()
    r.set("s", "x" * 300, px=60_000)
    r.rpush("l", *[f"item:{i:04d}" for i in range(500)])
    keys = [b"s", b"gone", b"l"]
    full = sizing.measure_keys(r, "n", keys, rate=100_000)
    pipe = sizing.Pipe(r, 100_000, False)
    light = sizing.measure_keys(
        r, "n", keys[:2], rate=100_000, pipe=pipe, light=True, sample=100, edge=10
    )
    assert pipe.limiter.sent == 3 + 2 + 1  # the full measurement: 5 + 4 + 1
    pipe = sizing.Pipe(r, 100_000, False)
    light += sizing.measure_keys(
        r, "n", keys[2:], rate=100_000, pipe=pipe, light=True, sample=100, edge=10
    )
    for a, b in zip(full, light, strict=True):
        assert (a.key, a.type, a.cardinality, a.error) == (b.key, b.type, b.cardinality, b.error)
        assert (a.ttl_ms is None) == (b.ttl_ms is None)
    assert light[2].encoding == full[2].encoding and light[2].memory_usage == full[2].memory_usage
    assert light[2].avg_member_bulk == full[2].avg_member_bulk  # items of one size
    assert light[0].memory_usage is None and full[0].memory_usage


def test_discovery_of_a_slice_at_once_adds_up_the_lines():
    """`discover_lines` (one pass over a slice, each distinct line once) against the sum of
    `discover_line` over its lines: every shape, repeats, IPv6 and script clients, the
    sampler's own lines left out."""
    positions = {"get": 1, "set": 1, "ping": 0, "zrange": 1, "xread": 0, "mget": 1, "object": 2}
    cases = [
        *_shapes(),
        _line(11, "GET", "v6", client="[::1]:6000"),
        _line(12, "OBJECT", "ENCODING", "o"),
        _line(13, "LRANGE", "l", "0", "-1", client="[::1]:6000"),
        b"+OK\r",
        b"garbage",
    ]
    own = _line(14, "TYPE", "mine", client="10.0.0.9:7000")
    data = cases * 3 + [own, _line(15, "GET", "a")]
    want: Counter[bytes] = Counter()
    for line in data:
        if line is not own:
            for key, weight in window_sample.discover_line(line, positions):
                want[key] += weight  # type: ignore[assignment]
    found, seen = window_sample.discover_lines(b"\n".join(data), b" 10.0.0.9:7000] ", positions)
    assert found == want
    assert found[b"z"] == 3 * (100.0 + 1.0) and found[b"a"] == 4 * 10.0
    assert seen == len(data) - 1
