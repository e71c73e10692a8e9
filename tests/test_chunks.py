"""The chunked parse (`analyze.chunks`: each distinct body of a chunk parsed once, joined back)
gives exactly the rows of parsing every line on its own (`pipeline.line_plans`)."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest
import zstandard
from polars.testing import assert_frame_equal

from analyze import chunks, parse, pipeline, schema
from analyze.findings import Window
from analyze.inputs import resolve

SAMPLES = Path(__file__).parent.parent / "samples"

# The same bodies from a client, a script and a unix socket; lines that are not commands.
LOG = r"""OK
1697549123.000001 [0 10.0.0.1:5000] "SET" "user:1" "v"
1697549123.000002 [0 lua] "SET" "user:1" "v"
1697549123.000003 [0 unix:/tmp/a b.sock] "SET" "user:1" "v"
1697549123.000004 [0 10.0.0.1:5000] "GET" "user:1"
1697549123.000005 [0 10.0.0.2:5001] "GET" "user:1"
1697549123.000006 [0 10.0.0.2:5001] "GET" "user:2"
1697549123.000007 [0 10.0.0.2:5001] "GET" "user:1
garbage that is not MONITOR output
1697549123.000008 [1 [::1]:6000] "MGET" "a\"b" "c d" "\xc3\xa9"

1697549123.000009 [0 10.0.0.2:5001] "ZREVRANGE" "z:2025-10-17" "0" "-1" "WITHSCORES"
1697549123.000010 [0 ] "PING"
1697549123.000011 [0 10.0.0.2:5001] "GET" "user:1"
"""


def frame(plans) -> pl.DataFrame:
    out = pl.concat([p.collect() for p in plans], how="vertical")
    # Row order is not part of the contract of the line-by-line plan: compare sorted.
    order = ["ts", "client", "command", "key_name", "arg_shape", "request_bytes"]
    return out.sort(order, nulls_last=True, maintain_order=True)


def both(inputs, window: Window | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    window = window or Window()
    options = pipeline.AnalyzeOptions(inputs=[])
    chunked = [p for plans, _ in pipeline.parse_plans(inputs, options, window) for p in plans]
    lined = [p for p, _ in pipeline.line_plans(inputs, options, window)]
    return frame(chunked), frame(lined)


@pytest.mark.parametrize(
    ("sample", "chunk_bytes"),
    [
        ("edge", 700),  # a handful of lines per chunk
        ("edge", 64 << 20),
        ("hot-zset", 40_000),  # about three chunks per source (each chunk costs a few plans)
        ("legacy/monitor.log.gz", 100_000),
    ],
)
@pytest.mark.parametrize("limit", [0.0, 1.0], ids=["every-line", "join-always"])
def test_chunked_rows_equal_line_by_line(monkeypatch, sample, chunk_bytes, limit):
    """Both ways a chunk is parsed: each distinct body once and joined back, or every line
    (when few bodies repeat)."""
    monkeypatch.setattr(chunks, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(chunks, "DISTINCT_JOIN_LIMIT", limit)
    chunked, lined = both(resolve([str(SAMPLES / sample)]))
    assert chunked.height > 0
    assert chunked.columns == list(schema.COMMANDS)
    assert_frame_equal(chunked, lined)


@pytest.mark.parametrize("limit", [0.0, 1.0], ids=["every-line", "join-always"])
def test_same_body_from_client_script_and_socket(tmp_path, monkeypatch, limit):
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 200)  # bodies repeat across and within chunks
    monkeypatch.setattr(chunks, "DISTINCT_JOIN_LIMIT", limit)
    log = tmp_path / "monitor.log"
    log.write_text(LOG)
    chunked, lined = both(resolve([str(log)]))
    assert_frame_equal(chunked, lined)
    sets = chunked.filter(pl.col("command") == "set")
    assert sets["client_kind"].to_list() == ["ip", "lua", "unix"]
    assert sets["reply_confidence"].to_list() == ["exact", "none", "exact"]
    assert sets["reply_bytes"].to_list() == [5, 0, 5]  # +OK
    # The unterminated quote, the garbage and OK are not commands; the blank line neither.
    assert chunked.height == 10
    assert chunked.filter(pl.col("key_name") == "user:1").height == 6


def test_window_applies_before_the_bodies(tmp_path):
    log = tmp_path / "monitor.log"
    log.write_text(LOG)
    window = Window(since=1697549123.000004, until=1697549123.000010)
    chunked, lined = both(resolve([str(log)]), window)
    assert_frame_equal(chunked, lined)
    assert chunked["ts"].min() >= 1697549123.000004
    assert chunked["ts"].max() < 1697549123.000010
    assert chunked.height == 5  # GET x3, MGET, ZREVRANGE


def test_a_chunk_holds_about_its_bytes(tmp_path):
    log = tmp_path / "monitor.log"
    log.write_text(LOG)
    inputs = resolve([str(log)])
    source = pipeline._sources(inputs)[0]
    _, stages = pipeline._stages(inputs, pipeline.AnalyzeOptions(inputs=[]))
    sizes = [p.collect().height for p in chunks.chunk_plans(source, stages, chunk_bytes=200)]
    # ~60-byte lines: at most 200 bytes plus the rest of a line cut at the previous chunk.
    assert len(sizes) >= 4
    assert max(sizes) <= 4
    assert sum(sizes) == 10


LINES = [
    b"OK",
    b'1697549123.000001 [0 10.0.0.1:5000] "SET" "k" "v"\r',  # CRLF
    b"",
    b'1697549123.000002 [0 10.0.0.1:5000] "GET" "\xff\xfe"',
    b"\xff\xfe garbage, not UTF-8",
    b'1697549123.000003 [0 unix:/tmp/a b.sock] "PING"',
] * 7


@pytest.mark.parametrize("kind", ["plain", "gzip", "gzip-truncated", "zstd", "zstd-truncated"])
@pytest.mark.parametrize("partial", [False, True], ids=["whole", "partial-last-line"])
def test_line_chunks_read_what_lines_reads(tmp_path, kind, partial):
    text = b"\n".join(LINES) + b"\n"
    if partial:
        text += b'1697549123.000009 [0 10.0.0.1:5000] "GET" "cut sho'
    if kind.startswith("gzip"):
        # Two members, as `cat a.gz b.gz` makes.
        data = gzip.compress(text[:500]) + gzip.compress(text[500:])
        if kind == "gzip-truncated":
            data = data[:-30]
    elif kind.startswith("zstd"):
        # Small frames, as a capture flushes them.
        data = b"".join(
            zstandard.ZstdCompressor().compress(text[i : i + 97]) for i in range(0, len(text), 97)
        )
        if kind == "zstd-truncated":
            data = data[:-20]
    else:
        data = text
    path = tmp_path / f"monitor.{kind}"
    path.write_bytes(data)
    source = parse.Source(path)
    whole = parse.lines(source).collect()
    for chunk_bytes in (1, 50, 333, 1 << 20):
        frames = list(parse.line_chunks(source, chunk_bytes))
        assert_frame_equal(pl.concat(frames), whole)
        if chunk_bytes == 50:
            assert len(frames) > 10


def test_counting_while_parsing_equals_line_stats(tmp_path, monkeypatch):
    """The analyzer counts the capture's health from the chunks it parses (no second read):
    the same numbers and examples as the separate pass, whatever the window."""
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 200)
    log = tmp_path / "monitor.log"
    log.write_text(LOG + LOG.replace("garbage", "more garbage") + '1697549124.1 [0 1.2.3.4:5] "GE')
    inputs = resolve([str(log)])
    sources = pipeline._sources(inputs)
    counts = [parse.LineCounts() for _ in sources]
    window = Window(since=1697549123.000004, until=1697549123.000006)
    options = pipeline.AnalyzeOptions(inputs=[])
    for plans, _ in pipeline.parse_plans(inputs, options, window, counts):
        assert sum(p.collect().height for p in plans) == 4  # two copies of GET x2 in the window
    stats = parse.stats_frame(sources, counts)
    assert_frame_equal(stats, parse.line_stats(sources))
    row = stats.row(0, named=True)
    assert (row["parsed"], row["skipped"], row["errors"]) == (20, 4, 4)
    assert row["truncated_last_line"] is True
    assert row["lines_total"] == 29
    assert [e[:20] for e in row["error_examples"]] == [
        "1697549123.000007 [0",
        "garbage that is not ",
        "1697549123.000007 [0",
        "more garbage that is",
    ]


def test_zstd_frames_resume_after_damage(tmp_path):
    """Frames decode one after the other; a damaged one, bytes that are no frame, and a
    skippable frame between them cost only themselves."""
    c = zstandard.ZstdCompressor(write_checksum=True)
    good = [c.compress(f"line {i}\n".encode() * 50) for i in range(6)]
    bad = bytearray(good[2])
    bad[len(bad) // 2] ^= 0xFF
    skippable = (0x184D2A50).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"abc"
    data = good[0] + good[1] + bytes(bad) + good[3] + b"\x00" * 9 + skippable + good[4] + good[5]
    path = tmp_path / "m.zst"
    path.write_bytes(data)
    with parse._ZstdFrames(path) as frames:
        text = b"".join(iter(frames.read, b""))
        offsets = [offset for offset, _ in frames.skipped]
    kept = {int(line.split()[1]) for line in text.decode().splitlines() if line.startswith("line ")}
    assert kept == {0, 1, 3, 4, 5}
    assert offsets == [len(good[0] + good[1]), len(good[0] + good[1] + bad + good[3])]


def test_a_frame_whose_header_is_gone_costs_only_its_lines(tmp_path):
    """When the frames cannot even be walked (a middle frame's magic number overwritten), the
    file is decoded frame by frame up front: the other frames' lines are all kept, and the
    note says what was skipped. A truncated last frame is not counted as damage."""
    c = zstandard.ZstdCompressor(write_checksum=True)
    frames = [c.compress(f'1.{i} [0 1.2.3.4:5] "GET" "k{i}"\n'.encode() * 10) for i in range(5)]
    frames[2] = b"\x00\x00\x00\x00" + frames[2][4:]
    path = tmp_path / "m.monitor.zst"
    path.write_bytes(b"".join(frames)[:-2])  # and the last frame cut in its checksum
    source = parse.Source(path)
    keys = pl.concat(parse.line_chunks(source, 1 << 20))["line"].str.extract(r'"(k\d)"')
    assert set(keys.drop_nulls()) == {"k0", "k1", "k3", "k4"}
    note = parse.readable(path).note
    assert "truncated zstd stream" in note
    assert "1 damaged zstd frame(s) skipped" in note


@pytest.mark.parametrize("cut", [2, 7, 40])
def test_a_truncated_capture_is_not_called_damaged(tmp_path, cut):
    c = zstandard.ZstdCompressor(write_checksum=True)
    frames = [c.compress(f'1.{i} [0 1.2.3.4:5] "GET" "k{i}"\n'.encode() * 10) for i in range(5)]
    path = tmp_path / "m.monitor.zst"
    path.write_bytes(b"".join(frames)[:-cut])
    note = parse.readable(path).note
    assert "truncated zstd stream" in note and "damaged" not in note
    keys = pl.concat(parse.line_chunks(parse.Source(path), 1 << 20))["line"].str.extract(r'"(k\d)"')
    assert {"k0", "k1", "k2", "k3"} <= set(keys.drop_nulls())


def test_skippable_frames_between_frames_are_not_damage(tmp_path):
    """pzstd and friends put skippable frames between frames: nothing is lost or reported."""
    c = zstandard.ZstdCompressor()
    skippable = (0x184D2A53).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"12345"
    parts = [c.compress(f"line {i}\n".encode() * 3000) for i in range(4)]
    path = tmp_path / "m.zst"
    path.write_bytes(skippable.join(parts))
    with parse._ZstdFrames(path) as frames:
        text = b"".join(iter(frames.read, b""))
        assert frames.skipped == []
    assert text == b"".join(f"line {i}\n".encode() * 3000 for i in range(4))
