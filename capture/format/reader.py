"""A MONITOR file read back, whole lines at a time, whatever happened to it.

Both halves read captures with this: the bastion ranks keys from the file it is writing
(capture/sizing.py, capture/window_sample.py), the analyzer parses whole files (analyze/read/parse.py),
and tests read what a capture wrote. Pure Python; `zstandard` is the one dependency.

A file is plain text, gzip (members one after the other, as `cat a.gz b.gz` makes) or zstd (the
capture closes a frame every couple of seconds, so a killed capture loses at most the open one);
the kind comes from the magic number, not the name. What can have happened to it:

- truncated (a killed capture, a copy still in progress): the stream stops inside a frame or a
  member and the last line is cut. Every whole line is given; the cut line is `partial`, never
  given as a line; `truncated` is set and a note says so.
- damaged (bit rot, a bad copy): a zstd frame that does not decode is skipped — only its lines
  are lost — and reading resumes at the next frame's magic number; the text it decoded before
  the damage is given up to its last whole line (the frame is decoded again in small steps to
  find it). gzip has no frames to resume at: reading stops at the damage. A note says where.

A file that ends without a newline (a half-written last line) has that line as `partial` too.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import zstandard

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
_SKIPPABLE = 0x184D2A50  # zstd skippable frames: magic & 0xFFFFFFF0
_FEED = 1 << 18  # compressed bytes decoded per step: a few MB of text
_SMALL_FEED = 1 << 12  # when a frame is decoded again to keep the text before its damage
_GZIP = 16 + zlib.MAX_WBITS
_GZIP_FEED = 1 << 15  # deflate expands at most ~1000x: about 32 MiB of text per step
_MAX_STEP = 16 << 20  # text one zstd step aims at (a 32 KB frame can hold a 1 GiB line)
MAX_LINE_BYTES = 512 << 20  # longer lines are skipped with a note (`--max-line-bytes`)
_HOLE = 16  # this many NUL bytes in a row are a hole in the file, not a character
_NUL_RUN = re.compile(rb"\x00{%d,}" % _HOLE)
_BARE_CR = re.compile(rb"\r(?!\n)")


def kind_of(path: Path) -> str:
    """ "zstd", "gzip" or "plain", from the first bytes."""
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic == ZSTD_MAGIC:
        return "zstd"
    if magic[:2] == GZIP_MAGIC:
        return "gzip"
    return "plain"


class MonitorFile:
    """One MONITOR file. `blocks()` gives its text; once it has ended, `partial`, `truncated`,
    `damaged` and `notes` say how the file ended (they are set as reading goes)."""

    def __init__(self, path: str | Path, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.path = Path(path)
        self.max_line_bytes = max_line_bytes
        self.long_lines = 0  # lines skipped for their length
        self.nul_holes = self.nul_hole_bytes = self.nul_bytes = 0
        self.cr_lines = 0  # lines that ended in a bare `\r`
        self._cr_mode = False  # the file's lines end in a bare `\r`
        self.kind = kind_of(self.path)
        self.partial: bytes | None = None  # the cut last line, without its `\r`
        self.truncated = False  # the compressed stream stops inside a frame or member
        self.damaged = False  # some of the file could not be decoded (see `notes`)
        self.notes: list[str] = []  # for people: what was lost and where
        self._cut_by_damage = False  # the text given before a damage ends mid-line

    def blocks(self, size: int = 1 << 20) -> Iterator[bytes]:
        """The text in file order, about `size` bytes at a time, each block whole lines (ending
        in `\\n`). Nothing is decoded before it is asked for, and nothing here keeps a block
        once it is given. A line longer than `max_line_bytes` is skipped (a note says where):
        it is never held whole, nor copied piece by piece as it grows."""
        buf: list[bytes] = []  # text not given yet
        held = 0  # its length
        cut: tuple[int, int] | None = None  # (piece, offset) just after buf's last newline
        tail = 0  # bytes after that newline: the line being read
        skipping = False  # inside a line too long to keep: drop text up to its newline
        for data in self._pieces(size):
            if self._cut_by_damage:  # what came before the damage ends mid-line: drop that line
                self._cut_by_damage = False
                if cut is not None:
                    yield self._upto(buf, cut)
                buf, held, cut, tail = [], 0, None, 0
            if skipping:
                nl = data.find(b"\n")
                if nl < 0:
                    continue
                skipping, data = False, data[nl + 1 :]
                if not data:
                    continue
            first = data.find(b"\n")
            if first >= 0 and tail + first + 1 > self.max_line_bytes:  # it ends here, too long
                block = self._upto(buf, cut) if cut is not None else b""
                self._long_line()
                buf, held, cut, tail = [], 0, None, 0
                if block:
                    yield block
                del block
                data = data[first + 1 :]
                if not data:
                    continue
            nl = data.rfind(b"\n")
            buf.append(data)
            held += len(data)
            if nl >= 0:
                cut, tail = (len(buf) - 1, nl + 1), len(data) - nl - 1
            else:
                tail += len(data)
            # The pieces of a block are let go before it is given: a long line is then held
            # once while it is parsed, not twice.
            if tail > self.max_line_bytes:
                block = self._upto(buf, cut) if cut is not None else b""
                self._long_line()
                skipping = not data.endswith(b"\n")
                buf, held, cut, tail = [], 0, None, 0
                if block:
                    yield block
                del block
            elif held >= size and cut is not None:
                block = self._upto(buf, cut)
                buf, held, cut = _after(buf, cut), tail, None
                del data
                yield block
                del block
        if skipping:
            self.partial = b""  # the too-long line was also the last, cut
        elif buf:
            if cut is not None:
                block = self._upto(buf, cut)
                buf = _after(buf, cut)
                del data
                yield block
                del block
            rest = b"".join(buf)
            if rest and not self._cut_by_damage:
                self.partial = rest.removesuffix(b"\r")
        if self.truncated:
            self.notes.append(
                f"{self.path.name}: truncated {self.kind} stream (killed capture?) — read its "
                "readable prefix"
            )
        self._text_notes()

    def _pieces(self, size: int) -> Iterator[bytes]:
        """The text, a decoding step at a time, cut to at most `size` bytes a piece."""
        # No piece longer than a line may be: a line too long then spans two pieces or more.
        size = min(size, self.max_line_bytes)
        for data in self._text(size):
            if len(data) <= size:
                yield data
            else:  # one decoding step may give many blocks
                yield from (data[i : i + size] for i in range(0, len(data), size))

    @staticmethod
    def _upto(buf: list[bytes], cut: tuple[int, int]) -> bytes:
        """The text of `buf` up to `cut` (its last newline), as one block; buf is left as is."""
        k, offset = cut
        head = buf[k][:offset] if offset < len(buf[k]) else buf[k]
        if k == 0:
            return head
        return b"".join([*buf[:k], head])

    def _long_line(self) -> None:
        self.long_lines += 1

    def _text(self, size: int) -> Iterator[bytes]:
        """The decoded text with what cannot be MONITOR output dealt with: runs of NUL bytes
        (`_HOLE` or more: a hole logrotate's copytruncate leaves) skipped, a lone NUL written
        as MONITOR writes one (`\\x00`), and lines ending in a bare `\\r` read as lines."""
        held_cr = b""
        for data in self._decoded(size):
            data = held_cr + data
            held_cr = b""
            if b"\x00" in data:
                data = self._nuls(data)
            # A file whose lines end in a bare `\r` (not a stray one in garbage): more of them
            # than `\n`s, in the first piece that has any.
            if not self._cr_mode and b"\r" in data:
                bare = data.count(b"\r") - data.count(b"\r\n")
                self._cr_mode = bare > data.count(b"\n")
            if self._cr_mode:
                if data.endswith(b"\r"):  # its `\n` may start the next piece
                    data, held_cr = data[:-1], b"\r"
                data, n = _BARE_CR.subn(b"\n", data)
                self.cr_lines += n
            if data:
                yield data
        if held_cr:
            self.cr_lines += 1
            yield b"\n"

    def _nuls(self, data: bytes) -> bytes:
        def hole(m: re.Match[bytes]) -> bytes:
            self.nul_holes += 1
            self.nul_hole_bytes += len(m.group())
            return b""

        data = _NUL_RUN.sub(hole, data)
        self.nul_bytes += data.count(b"\x00")
        return data.replace(b"\x00", b"\\x00")

    def _text_notes(self) -> None:
        name = self.path.name
        if self.nul_holes:
            self.notes.append(
                f"{name}: skipped {self.nul_hole_bytes:,} NUL bytes in {self.nul_holes:,} run(s) "
                "(a hole left by logrotate's copytruncate, or a damaged copy); the line around "
                "each is kept as text and counted unparsable if it no longer parses"
            )
        if self.nul_bytes:
            self.notes.append(
                f"{name}: {self.nul_bytes:,} stray NUL byte(s) inside lines, read as \\x00"
            )
        if self.cr_lines:
            self.notes.append(
                f"{name}: {self.cr_lines:,} line(s) end in a bare carriage return (\\r, not "
                "\\r\\n): read as line ends"
            )
        if self.long_lines:
            self.notes.append(
                f"{name}: skipped {self.long_lines:,} line(s) longer than "
                f"{self.max_line_bytes:,} bytes (--max-line-bytes); the other lines were read"
            )

    def head(self, size: int) -> bytes:
        """About the first `size` bytes of text, whole lines or not: a look at what the file is."""
        parts, got = [], 0
        for data in self._text(size):  # past a hole of NULs: the text is what tells
            parts.append(data)
            got += len(data)
            if got >= size:
                break
        return b"".join(parts)[:size]

    def lines(self, size: int = 1 << 20) -> Iterator[bytes]:
        """Each whole line, without its `\\r\\n`."""
        for block in self.blocks(size):
            for line in block.removesuffix(b"\n").split(b"\n"):
                yield line.removesuffix(b"\r")

    # -- decoding -------------------------------------------------------------------------------
    def _decoded(self, size: int) -> Iterator[bytes]:
        with self.path.open("rb") as fh:
            if self.kind == "zstd":
                yield from _ZstdFrames(fh, self).text()
            elif self.kind == "gzip":
                yield from self._gzip(fh)
            else:
                while data := fh.read(size):
                    yield data

    def _gzip(self, fh: BinaryIO) -> Iterator[bytes]:
        obj, fed, given = zlib.decompressobj(_GZIP), False, 0
        while raw := fh.read(_GZIP_FEED):
            while raw:
                before = obj.copy()  # to decode `raw` again in small steps if it is damaged
                try:
                    text = obj.decompress(raw)
                except zlib.error as exc:
                    for text in _until_error(before, raw):
                        given += len(text)
                        yield text
                    self._damage(
                        f"{self.path.name}: corrupt gzip data after {given:,} bytes of text "
                        f"({exc}) — analyzed the lines before it; the rest of the file is lost"
                    )
                    return
                fed, given = True, given + len(text)
                yield text
                raw = b""
                if obj.eof:  # the next member, if any, starts in the unused tail
                    raw, obj, fed = obj.unused_data, zlib.decompressobj(_GZIP), False
        self.truncated = fed  # a member that started and did not end: the stream was cut

    def _damage(self, note: str | None = None) -> None:
        """Some text is lost here (`note`: what, for people)."""
        self.damaged = self._cut_by_damage = True
        if note:
            self.notes.append(note)


def _after(buf: list[bytes], cut: tuple[int, int]) -> list[bytes]:
    """The pieces of `buf` after `cut`."""
    k, offset = cut
    return [b for b in (buf[k][offset:], *buf[k + 1 :]) if b]


def _until_error(obj: zlib._Decompress, raw: bytes) -> Iterator[bytes]:
    """What `obj` decodes of `raw`, a small step at a time, until the step that fails."""
    for i in range(0, len(raw), _SMALL_FEED):
        try:
            text = obj.decompress(raw[i : i + _SMALL_FEED])
        except zlib.error:
            return
        yield text
        if obj.eof:
            return


class _ZstdFrames:
    """A zstd file decoded frame after frame (see the module docstring for damage)."""

    def __init__(self, fh: BinaryIO, file: MonitorFile) -> None:
        self.fh, self.file = fh, file
        self.size = fh.seek(0, 2)
        self.pos = self.start = 0  # next byte to feed, start of the frame being decoded
        self.given = 0  # text given from the current frame
        self.decoded = 0  # text given from the whole file
        self.fed = False  # the current frame has been fed bytes
        self.obj = zstandard.ZstdDecompressor().decompressobj()
        self.skipped: list[tuple[int, str]] = []
        self.lost_rest = False  # a skip found no frame after it

    def text(self) -> Iterator[bytes]:
        feed = _SMALL_FEED  # grows while the text per step stays small (a zstd bomb does not)
        while True:
            self.fh.seek(self.pos)
            raw = self.fh.read(feed)
            if not raw:
                break
            try:
                text = self.obj.decompress(raw)
            except zstandard.ZstdError as exc:
                yield from self._before_damage()
                self.skipped.append((self.start, str(exc)))
                self.file._damage()
                self._resume(self.start + 1)
                continue
            self.pos += len(raw)
            self.fed = True
            if self.obj.eof:  # a frame ended in `raw`: the next one starts in its unused tail
                self.pos -= len(self.obj.unused_data)
                self._resume(self.pos, gap=True)
            if len(text) > _MAX_STEP // 2:
                feed = max(64, feed // 4)
            elif len(text) < _MAX_STEP // 8:
                feed = min(_FEED, feed * 2)
            if text:
                self.given += len(text)
                self.decoded += len(text)
                yield text
        self.file.truncated = self.fed and not self.obj.eof
        self._note()

    def _before_damage(self) -> Iterator[bytes]:
        """The text of the current frame before its damage that was not given yet: the frame
        decoded again from its start in small steps, until the step that fails."""
        obj, seen, pos = zstandard.ZstdDecompressor().decompressobj(), 0, self.start
        while True:
            self.fh.seek(pos)
            raw = self.fh.read(_SMALL_FEED)
            if not raw:
                return
            try:
                text = obj.decompress(raw)
            except zstandard.ZstdError:
                return
            pos += len(raw)
            new = text[max(0, self.given - seen) :]
            seen += len(text)
            if new:
                self.given += len(new)
                self.decoded += len(new)
                yield new
            if obj.eof:
                return

    def _resume(self, offset: int, gap: bool = False) -> None:
        """Start a new frame at the first magic number at or after `offset` (or at the end);
        `gap`: a frame ended at `offset`, so any bytes passed over are damage too."""
        self.obj = zstandard.ZstdDecompressor().decompressobj()
        self.given, self.fed = 0, False
        self.fh.seek(offset)
        head = self.fh.read(4)
        if head == ZSTD_MAGIC or (
            len(head) == 4 and int.from_bytes(head, "little") & 0xFFFFFFF0 == _SKIPPABLE
        ):
            self.pos = self.start = offset  # the usual case: the next frame starts here
            return
        self.fh.seek(offset)
        found, base, tail = -1, offset, b""
        while found < 0 and (block := self.fh.read(1 << 20)):
            hit = (tail + block).find(ZSTD_MAGIC)
            if hit >= 0:
                found = base - len(tail) + hit
            tail = block[-3:]
            base += len(block)
        self.pos = self.start = found if found >= 0 else base
        if found < 0 and ZSTD_MAGIC.startswith(head) and 0 < len(head) < 4:
            self.fed = True  # the next frame's first bytes and nothing more: a cut stream
            return
        if gap and self.pos > offset:
            self.skipped.append((offset, f"{self.pos - offset:,} bytes that are not zstd frames"))
            self.file._damage()
        if found < 0 and not gap:
            self.lost_rest = True

    def _note(self) -> None:
        if not self.skipped:
            return
        name = self.file.path.name
        if self.lost_rest and len(self.skipped) == 1:
            # One frame, damaged (what `zstd file` writes): the text stops there.
            _, error = self.skipped[0]
            self.file.notes.append(
                f"{name}: damaged zstd data after {self.decoded:,} bytes of text "
                f"({error}) — analyzed the lines before it; the rest of the file is lost"
            )
            return
        offset, error = self.skipped[0]
        self.file.notes.append(
            f"{name}: {len(self.skipped)} damaged zstd frame(s) skipped, the first at byte "
            f"{offset:,} of the file ({error}) — their lines are lost, the rest was analyzed"
        )
