"""The start-of-window key-size sample: reads before a key's first rewrite get its old size."""

from __future__ import annotations

import json
import threading

import polars as pl

from hotshard.analyze.commands.analyze import AnalyzeOptions, run_analyze
from hotshard.analyze.estimate import through_time
from hotshard.analyze.store import dataset
from hotshard.capture import sizing
from hotshard.capture.format import manifest as mf
from hotshard.capture.format import resp
from hotshard.capture.format.manifest import KeySize
from tests.capturing import capture_options

KEYS = 20


def _size(i: int, rewritten: bool) -> int:
    shrink = i % 2 == 0  # half shrink (3000 -> 150), half grow (150 -> 1000): no errors cancel
    return (150 if shrink else 1000) if rewritten else (3000 if shrink else 150)


def _rows(got: list[tuple[float, int, str, str, int]]) -> pl.DataFrame:
    """GET rows (ts, db, key, command, reply) as `Strings.apply` takes them."""
    return pl.DataFrame(
        {
            "ts": [r[0] for r in got],
            "db": [r[1] for r in got],
            "key_name": [r[2] for r in got],
            "command": [r[3] for r in got],
            "arg_count": [1 if r[3] == "get" else 2 for r in got],
            "keys": [None for _ in got],
            "request_bytes": [r[4] for r in got],
            "reply_bytes": [999 for _ in got],
            "reply_confidence": ["sampled" for _ in got],
        },
        schema_overrides={"db": pl.Int32, "keys": pl.List(pl.String), "reply_bytes": pl.Int64},
    )


def test_reads_before_the_first_write_take_the_start_size():
    start = through_time.StartSizes(
        [
            KeySize(node="n", key="a", type="string", cardinality=40, sampled_at=10.0),
            KeySize(node="n", key="b", type="string", cardinality=40, sampled_at=10.0),
            KeySize(node="n", key="gone", type="none", cardinality=0, sampled_at=10.0),
            KeySize(node="n", key="old", type="string", cardinality=7),  # a v4 size: no time
        ]
    )
    set_b = 13 + resp.bulk(1) + resp.bulk(5)  # `SET b vvvvv`
    rows = _rows(
        [
            (9.0, 0, "a", "get", 0),  # before the sample, no write until then: start size
            (9.1, 0, "b", "get", 0),  # before the sample, but b is rewritten before it
            (9.5, 0, "b", "set", set_b),
            (11.0, 0, "b", "get", 0),  # after its write: the write's size
            (11.1, 0, "gone", "get", 0),  # did not exist: a null reply
            (11.2, 1, "a", "get", 0),  # another db: not what the sampler read
            (11.3, 0, "old", "get", 0),
        ]
    )
    got = through_time.Strings(start=start.of("n")).apply(rows)
    assert got["reply_bytes"].to_list() == [resp.bulk(40), 999, 999, resp.bulk(5), 5, 999, 999]
    assert got["reply_confidence"].to_list() == [
        "sampled-during",
        "sampled",
        "sampled",
        "exact",
        "sampled-during",
        "sampled",
        "sampled",
    ]


def test_a_read_before_the_sample_waits_for_the_rest_of_the_window():
    """A chunk that ends before the sample's time cannot say the key was not rewritten."""
    start = through_time.StartSizes(
        [KeySize(node="n", key="a", type="string", cardinality=40, sampled_at=10.0)]
    )
    got = through_time.Strings(start=start.of("n")).apply(_rows([(9.0, 0, "a", "get", 0)]))
    assert got["reply_bytes"].to_list() == [999]


def _sampler_lines_seen(path, keys: set[bytes], sampler: str) -> bool:
    """Whether the partial capture file shows the sampler's STRLEN of every key in `keys`, and
    then its TIME (the moment the sample says it was taken: a write before it is seen as one
    that may be in the sample)."""
    seen: set[bytes] = set()
    for line in sizing.iter_lines(path):
        if f" {sampler}] ".encode() not in line:
            continue
        if b'"STRLEN" "' in line:
            seen.add(line.rsplit(b'"STRLEN" "', 1)[1].rstrip(b'"\r\n'))
        elif b'"TIME"' in line and keys <= seen:
            return True
    return False


def test_rewritten_strings_on_a_real_node(redis_node, tmp_path):
    """Strings shrinking and growing mid-window, read before and after their rewrite: the
    estimate is the client's received bytes (±3%), the sampler's lines are not in the rows,
    and its replies are the capture's overhead (measured bytes out is what the client got)."""
    from tests.capturing import background_capture
    from tests.resp import RawConnection

    node = redis_node
    app = RawConnection(node.host, node.port)
    for i in range(KEYS):
        app.call("SET", f"v:{i}", "x" * _size(i, rewritten=False))  # before the capture
    options = capture_options(
        node.address, tmp_path, nodes="all", flush_seconds=0.1, start_sample_seconds=1.0
    )
    received = 0
    with background_capture(options) as bg:
        bg.wait_started(files=1)
        for _ in range(3):
            for i in range(KEYS):
                received += app.reply_size("GET", f"v:{i}")
        started = mf.read(options.out)
        (n,) = [n for n in started.nodes if n.monitored]
        assert n.sampler_client
        path = tmp_path / "cap" / str(n.file)
        keys = {f"v:{i}".encode() for i in range(KEYS)}
        done = threading.Event()
        for _ in range(600):  # until the sampler has measured every key (the file shows it)
            if _sampler_lines_seen(path, keys, n.sampler_client):
                break
            done.wait(0.05)
        else:
            raise AssertionError("the start sample never measured the keys")
        for i in range(KEYS):
            received += app.reply_size("SET", f"v:{i}", "y" * _size(i, rewritten=True))
            for _ in range(3):
                received += app.reply_size("GET", f"v:{i}")
        received += app.reply_size("ECHO", "the end")
        result = bg.stop()
    app.close()
    m = result.manifest
    assert m.key_sizes_start_file == mf.START_SIZES_NAME
    start = mf.read_key_sizes(result.folder, m, start=True)
    assert {s.key for s in start} == {f"v:{i}" for i in range(KEYS)}
    assert all(s.sampled_at is not None for s in start)
    out = tmp_path / "out"
    run_analyze(AnalyzeOptions(inputs=[str(result.folder)], out=str(out), quiet=True))
    (check,) = json.loads((out / "summary.json").read_text())["self_check"]["nodes"]
    assert check["measured_bytes_out"] == received  # the sampler's replies are overhead
    assert abs(check["ratio"] - 1) < 0.03, check
    commands = dataset.read(out).rows.collect()
    sampler = m.nodes[0].sampler_client or n.sampler_client
    assert commands.filter(pl.col("client") == sampler).height == 0
    assert not set(commands["command"]) & {"strlen", "type", "memory", "object", "pttl"}
    gets = commands.filter(pl.col("command") == "get")
    assert gets.group_by("reply_confidence").len().sort("reply_confidence").rows() == [
        ("exact", 3 * KEYS),
        ("sampled-during", 3 * KEYS),
    ]


def test_no_start_sample_when_it_is_off(redis_node, tmp_path):
    """`--start-sample-seconds 0`: one sample, as captures before format 5 had."""
    from tests.capturing import background_capture
    from tests.resp import RawConnection

    options = capture_options(redis_node.address, tmp_path, nodes="all", start_sample_seconds=0)
    with background_capture(options) as bg, RawConnection(redis_node.host, redis_node.port) as app:
        bg.wait_started(files=1)
        app.call("SET", "k", "v")
        app.call("GET", "k")
        result = bg.stop()
    m = result.manifest
    assert m.key_sizes_start_file is None
    assert [n.sampler_client for n in m.nodes] == [None]
    assert not (result.folder / mf.START_SIZES_NAME).exists()
    assert [s.key for s in mf.read_key_sizes(result.folder, m)] == ["k"]


def test_a_read_past_the_sampled_ttl_is_a_null_reply():
    """The start sample saw the key's TTL: with no write since, a read after it ran out finds
    nothing (on a primary, MONITOR never shows the expiry)."""
    start = through_time.StartSizes(
        [KeySize(node="n", key="a", type="string", cardinality=40, ttl_ms=2500, sampled_at=10.0)]
    )
    rows = _rows([(11.0, 0, "a", "get", 0), (12.6, 0, "a", "get", 0)])
    got = through_time.Strings(start=start.of("n")).apply(rows)
    assert got["reply_bytes"].to_list() == [resp.bulk(40), 5]
    assert got["reply_confidence"].to_list() == ["sampled-during", "exact"]
