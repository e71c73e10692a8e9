"""The row path a chunk at a time (`hotshard.analyze.rows.make.source_rows` over `parse.line_chunks`): where
the chunks are cut changes nothing — the same rows, the same key and signature ids — the time
window is applied before any body is split, damaged and truncated streams give every readable
line, and the health counted while parsing is what the separate pass (`line_stats`) counts."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest
import zstandard
from polars.testing import assert_frame_equal

from hotshard.analyze.errors import BadInput
from hotshard.analyze.read import parse
from hotshard.analyze.read.inputs import resolve
from hotshard.analyze.rows import make
from hotshard.analyze.store import dataset
from tests.frames import source_tables

SAMPLES = Path(__file__).parents[2] / "samples"

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


def sources_of(path: Path) -> tuple[list[parse.Source], make.Context]:
    """The sources of an input as `analyze` sees them, and a fresh context for them."""
    inputs = resolve([str(path)])
    sources = [
        parse.Source(s.path, s.node, s.shard, s.role, s.primary_addresses) for s in inputs.sources
    ]
    ctx = make.Context.create(inputs.commands_reply, key_sizes=inputs.key_sizes, resp=inputs.resp)
    return sources, ctx


def analyzed(path: Path, chunk_bytes: int) -> dataset.Tables:
    sources, ctx = sources_of(path)
    return source_tables(sources, ctx, chunk_bytes=chunk_bytes)


@pytest.mark.parametrize(
    ("sample", "chunk_bytes"),
    [
        ("edge", 700),  # a handful of lines per chunk
        ("hot-zset", 40_000),  # several chunks per source
        ("legacy/monitor.log.gz", 100_000),
    ],
)
def test_chunk_boundaries_change_nothing(sample, chunk_bytes):
    """Small chunks against one chunk per source: the same rows in the same order, and the
    same ids (first appearance in file order, whatever the chunks)."""
    small = analyzed(SAMPLES / sample, chunk_bytes)
    whole = analyzed(SAMPLES / sample, 1 << 30)
    got = small.wide().collect()
    assert got.height > 0
    assert got.columns == list(dataset.WIDE_COLUMNS)
    assert_frame_equal(got, whole.wide().collect())
    assert_frame_equal(small.keys, whole.keys)
    assert_frame_equal(small.signatures, whole.signatures)
    # Ids are dense, in order of first appearance (a multi-key command's other keys are keys
    # too, after its first: the rows' first keys take increasing ids with gaps for them).
    first_seen = got["key_id"].drop_nulls().unique(maintain_order=True).to_list()
    assert first_seen == sorted(first_seen) and first_seen[0] == 0
    assert small.keys["key_id"].to_list() == list(range(small.keys.height))


def test_same_body_from_client_script_and_socket(tmp_path):
    log = tmp_path / "monitor.log"
    log.write_text(LOG)
    sources, ctx = sources_of(log)
    t = source_tables(sources, ctx, chunk_bytes=200)  # keys repeat across and within chunks
    out = t.wide().collect()
    sets = out.filter(pl.col("command") == "set")
    assert sets["client_kind"].to_list() == ["ip", "lua", "unix"]
    assert sets["reply_confidence"].to_list() == ["exact", "none", "exact"]
    assert sets["reply_bytes"].to_list() == [5, 0, 5]  # +OK
    # The unterminated quote, the garbage and OK are not commands; the blank line neither.
    assert out.height == 10
    assert out.filter(pl.col("key_name") == "user:1").height == 6
    # MGET's three keys take ids 2-4 (its first key's is the row's), then the zset's.
    assert out["key_id"].to_list() == [0, 0, 0, 0, 0, 1, 2, 5, None, 0]
    assert t.keys.select("key_id", "key_name").rows() == [
        (0, "user:1"),
        (1, "user:2"),
        (2, 'a"b'),
        (3, "c d"),
        (4, "é"),
        (5, "z:2025-10-17"),
    ]
    mget = out.filter(pl.col("command") == "mget").row(0, named=True)
    assert mget["keys"] == ['a"b', "c d", "é"]
    assert (mget["key_count"], mget["arg_count"], mget["client_kind"]) == (3, 3, "ip")


def test_window_applies_before_the_bodies(tmp_path):
    log = tmp_path / "monitor.log"
    log.write_text(LOG)
    sources, ctx = sources_of(log)

    def window(lf: pl.LazyFrame) -> pl.LazyFrame:
        return lf.filter((pl.col("ts") >= 1697549123.000004) & (pl.col("ts") < 1697549123.000010))

    t = source_tables(sources, ctx, keep=window, chunk_bytes=200)
    out = t.wide().collect()
    assert out["command"].to_list() == ["get", "get", "get", "mget", "zrevrange"]
    assert out["ts"].min() >= 1697549123.000004
    assert out["ts"].max() < 1697549123.000010
    # Only the bodies in the window were split: the lines outside left no key behind.
    assert t.keys["key_name"].to_list() == ["user:1", "user:2", 'a"b', "c d", "é", "z:2025-10-17"]


def test_a_chunk_holds_about_its_bytes(tmp_path):
    log = tmp_path / "monitor.log"
    log.write_text(LOG)
    sources, ctx = sources_of(log)
    sizes = [chunk.height for chunk in make.source_rows(sources[0], ctx, chunk_bytes=200)]
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


EXPECTED_LINES = [
    "OK",
    '1697549123.000001 [0 10.0.0.1:5000] "SET" "k" "v"',  # the \r is not part of the line
    "",
    '1697549123.000002 [0 10.0.0.1:5000] "GET" "\ufffd\ufffd"',  # lossy UTF-8
    "\ufffd\ufffd garbage, not UTF-8",
    '1697549123.000003 [0 unix:/tmp/a b.sock] "PING"',
] * 7


@pytest.mark.parametrize("kind", ["plain", "gzip", "gzip-truncated", "zstd", "zstd-truncated"])
@pytest.mark.parametrize("partial", [False, True], ids=["whole", "partial-last-line"])
def test_line_chunks_give_every_whole_line(tmp_path, kind, partial):
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
    for chunk_bytes in (1, 50, 333, 1 << 20):
        frames = list(parse.line_chunks(parse.open_source(source), chunk_bytes))
        assert all(f.endswith(b"\n") for f in frames)
        text = b"".join(frames).decode(errors="replace")  # the core reads lossy UTF-8 too
        got = [line.removesuffix("\r") for line in text.split("\n")[:-1]]
        if kind.endswith("truncated"):
            # A killed capture: the whole lines before the cut, the cut one left out.
            assert 10 <= len(got) < len(EXPECTED_LINES), chunk_bytes
            assert got == EXPECTED_LINES[: len(got)]
        else:
            assert got == EXPECTED_LINES, chunk_bytes  # the partial last line is not a line
        if chunk_bytes == 50:
            assert len(frames) > 10


def test_counting_while_parsing_equals_line_stats(tmp_path):
    """The analyzer counts the capture's health from the chunks it parses (no second read):
    the same numbers and examples as the separate pass, whatever the window."""
    log = tmp_path / "monitor.log"
    log.write_text(LOG + LOG.replace("garbage", "more garbage") + '1697549124.1 [0 1.2.3.4:5] "GE')
    sources, ctx = sources_of(log)
    counts = parse.LineCounts()

    def window(lf: pl.LazyFrame) -> pl.LazyFrame:
        return lf.filter((pl.col("ts") >= 1697549123.000004) & (pl.col("ts") < 1697549123.000006))

    got = list(make.source_rows(sources[0], ctx, window, counts, chunk_bytes=200))
    assert sum(c.height for c in got) == 4  # two copies of GET x2 in the window
    stats = parse.stats_frame(sources, [counts])
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


def _damaged_zstd(path: Path) -> Path:
    """Five checksummed frames of ten GETs each, the third one damaged."""
    c = zstandard.ZstdCompressor(write_checksum=True)
    frames = [
        c.compress(b"".join(b'1.%d [0 1.2.3.4:5] "GET" "k%d"\n' % (i, i) for _ in range(10)))
        for i in range(5)
    ]
    bad = bytearray(frames[2])
    bad[len(bad) // 2] ^= 0xFF
    frames[2] = bytes(bad)
    path.write_bytes(b"".join(frames))
    return path


def test_a_damaged_stream_gives_its_readable_rows_and_a_note(tmp_path):
    path = _damaged_zstd(tmp_path / "m.monitor.zst")
    source = parse.Source(path)
    counts = parse.LineCounts()
    out = pl.concat(make.source_rows(source, make.Context.create(), counts=counts, chunk_bytes=64))
    assert out.group_by("key_name").len().sort("key_name").rows() == [
        ("k0", 10),
        ("k1", 10),
        ("k3", 10),
        ("k4", 10),
    ]
    assert counts.parsed == 40
    assert counts.note is not None and "1 damaged zstd frame(s) skipped" in counts.note


def test_a_damaged_stream_without_counts_is_a_bad_input(tmp_path):
    path = _damaged_zstd(tmp_path / "m.monitor.zst")
    with pytest.raises(BadInput, match="damaged zstd frame"):
        list(make.source_rows(parse.Source(path), make.Context.create()))
