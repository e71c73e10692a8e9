"""The capture format's file reader (capture/format/reader.py): every whole line of a file,
whatever its compression and whatever happened to it, and what was lost said in a note."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
import zstandard

from hotshard.capture.format.reader import MonitorFile

LINES = [b'1697549123.%06d [0 10.0.0.1:5000] "GET" "k%d"' % (i, i) for i in range(200)]
CUT = b'1697549123.000999 [0 10.0.0.1:5000] "GET" "cut sho'


def _write(path: Path, kind: str, text: bytes) -> Path:
    if kind.startswith("gzip"):
        data = gzip.compress(text[:500]) + gzip.compress(text[500:])  # as `cat a.gz b.gz`
        data = data[:-30] if kind.endswith("truncated") else data
    elif kind.startswith("zstd"):
        # Small frames, as a capture flushes them.
        c = zstandard.ZstdCompressor()
        data = b"".join(c.compress(text[i : i + 97]) for i in range(0, len(text), 97))
        data = data[:-20] if kind.endswith("truncated") else data
    else:
        data = text
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("kind", ["plain", "gzip", "gzip-truncated", "zstd", "zstd-truncated"])
@pytest.mark.parametrize("cut", [False, True], ids=["whole", "cut-last-line"])
@pytest.mark.parametrize("size", [1, 50, 333, 1 << 20])
def test_every_whole_line_and_the_cut_one_apart(tmp_path, kind, cut, size):
    text = b"\r\n".join(LINES) + b"\r\n" + (CUT if cut else b"")
    file = MonitorFile(_write(tmp_path / f"m.{kind}", kind, text))
    got = list(file.lines(size))
    if kind.endswith("truncated"):
        # A killed capture: the whole lines before the cut; the cut one is `partial`.
        assert 10 <= len(got) <= len(LINES) and got == LINES[: len(got)]
        assert file.truncated and file.partial and not file.damaged
        assert [*LINES, CUT][len(got)].startswith(file.partial)
        assert file.notes == [
            f"m.{kind}: truncated {kind[:4]} stream (killed capture?) — read its readable prefix"
        ]
    else:
        assert got == LINES
        assert file.partial == (CUT if cut else None)
        assert (file.truncated, file.damaged, file.notes) == (False, False, [])


def test_blocks_are_whole_lines_of_about_their_size(tmp_path):
    text = b"\n".join(LINES) + b"\n"
    path = _write(tmp_path / "m.monitor", "plain", text)
    blocks = list(MonitorFile(path).blocks(1000))
    assert b"".join(blocks) == text
    assert all(b.endswith(b"\n") and len(b) <= 1000 + max(map(len, LINES)) for b in blocks)
    assert len(blocks) > 5


def _frames(n: int, c: zstandard.ZstdCompressor) -> list[bytes]:
    return [c.compress(b'1.%d [0 1.2.3.4:5] "GET" "k%d"\n' % (i, i) * 10) for i in range(n)]


def _keys(file: MonitorFile) -> list[bytes]:
    return sorted({line.split(b'"')[-2] for line in file.lines()})


def test_a_damaged_frame_costs_only_its_lines(tmp_path):
    frames = _frames(5, zstandard.ZstdCompressor(write_checksum=True))
    bad = bytearray(frames[2])
    bad[len(bad) // 2] ^= 0xFF
    frames[2] = bytes(bad)
    path = tmp_path / "m.monitor.zst"
    path.write_bytes(b"".join(frames))
    file = MonitorFile(path)
    assert _keys(file) == [b"k0", b"k1", b"k3", b"k4"]
    assert file.damaged and not file.truncated and file.partial is None
    (note,) = file.notes
    assert note.startswith(
        f"m.monitor.zst: 1 damaged zstd frame(s) skipped, the first at byte {len(frames[0] + frames[1])} "
    )


def test_bytes_that_are_no_frame_and_skippable_frames(tmp_path):
    """Junk between frames is damage (its place said); a skippable frame is not."""
    frames = _frames(4, zstandard.ZstdCompressor())
    skippable = (0x184D2A53).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"12345"
    path = tmp_path / "m.zst"
    path.write_bytes(frames[0] + skippable + frames[1] + b"\x00" * 9 + frames[2] + frames[3])
    file = MonitorFile(path)
    assert _keys(file) == [b"k0", b"k1", b"k2", b"k3"]
    (note,) = file.notes
    assert (
        f"the first at byte {len(frames[0] + skippable + frames[1]):,} of the file (9 bytes that are not zstd frames)"
        in note
    )
    path.write_bytes(skippable.join(frames))
    file = MonitorFile(path)
    assert len(list(file.lines())) == 40 and not file.damaged and file.notes == []


def test_a_frame_whose_header_is_gone_and_a_cut_last_frame(tmp_path):
    frames = _frames(5, zstandard.ZstdCompressor(write_checksum=True))
    frames[2] = b"\x00\x00\x00\x00" + frames[2][4:]
    path = tmp_path / "m.monitor.zst"
    path.write_bytes(b"".join(frames)[:-2])  # and the last frame cut in its checksum
    file = MonitorFile(path)
    assert _keys(file) == [b"k0", b"k1", b"k3", b"k4"]
    assert file.damaged and file.truncated
    assert "1 damaged zstd frame(s) skipped" in file.notes[0]
    assert "truncated zstd stream" in file.notes[1]


@pytest.mark.parametrize("cut", [2, 7, 40])
def test_a_truncated_capture_is_not_called_damaged(tmp_path, cut):
    path = tmp_path / "m.monitor.zst"
    path.write_bytes(b"".join(_frames(5, zstandard.ZstdCompressor(write_checksum=True)))[:-cut])
    file = MonitorFile(path)
    assert _keys(file) >= [b"k0", b"k1", b"k2", b"k3"]
    assert file.truncated and not file.damaged


def test_a_capture_cut_inside_the_next_frames_magic_number(tmp_path):
    path = tmp_path / "m.monitor.zst"
    path.write_bytes(b"".join(_frames(3, zstandard.ZstdCompressor())) + b"\x28\xb5")
    file = MonitorFile(path)
    assert _keys(file) == [b"k0", b"k1", b"k2"]
    assert file.truncated and not file.damaged


@pytest.mark.parametrize("kind", ["zstd", "gzip"])
def test_damage_inside_one_big_stream_keeps_the_text_before_it(tmp_path, kind):
    """What `zstd file` / `gzip file` write is one frame / member: the lines before the damage
    are kept (the step that failed is decoded again in small steps), the line it cut is not."""
    lines = [
        b'+1700000000.%06d [0 10.0.0.1:5000] "GET" "user:%d:profile"' % (i, i % 5000)
        for i in range(60_000)
    ]
    text = b"\r\n".join(lines) + b"\r\n"
    data = bytearray(
        zstandard.ZstdCompressor().compress(text) if kind == "zstd" else gzip.compress(text)
    )
    middle = len(data) // 2
    data[middle : middle + 32] = bytes(b ^ 0xFF for b in data[middle : middle + 32])
    path = tmp_path / f"monitor.log.{kind}"
    path.write_bytes(bytes(data))
    file = MonitorFile(path)
    got = list(file.lines(1 << 25))
    assert file.damaged and file.partial is None
    (note,) = file.notes
    assert "the rest of the file is lost" in note
    if kind == "zstd":  # gzip has no block checksums: damage may decode as garbage first
        assert 10_000 < len(got) < len(lines) and got == lines[: len(got)]
        # The note says how much text came before the damage: the kept lines and the cut one.
        decoded = int(
            re.search(r"damaged zstd data after ([\d,]+) bytes", note)[1].replace(",", "")
        )
        kept = len(text[: text.index(got[-1]) + len(got[-1]) + 2])
        assert kept <= decoded < kept + len(lines[0]) + 2


def test_head_reads_only_the_start(tmp_path):
    """A look at what a file is stops after the bytes it asked for, even with no newline."""
    path = tmp_path / "big.bin"
    path.write_bytes(b"\x01" * (8 << 20))
    assert MonitorFile(path).head(1000) == b"\x01" * 1000
