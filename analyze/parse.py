"""MONITOR logs as chunks of lines, their headers, and the capture's health.

A MONITOR line (docs/MONITOR.md) is

    1697549123.123456 [0 10.0.0.1:53422] "ZREVRANGE" "key" "0" "-1"

optionally with the RESP `+` prefix and a trailing `\\r`. Inputs are plain, `.gz` or `.zst`
files, read a chunk of text at a time (`line_chunks`). Each file's ends are looked at first
(cheap) so that a killed capture — a truncated zstd/gzip stream, a half-written last line — is
read up to its last whole line, and the partial line is reported by `line_stats`.

`str.splitn(" ", 4)` takes the fixed header (`mark_lines`); one anchored regex checks the
quoting of the rest; lines failing any check are left out (`header_rows`) and counted
(`LineCounts`). Garbage never fails a query: lines are read as lossy UTF-8. The quoted arguments
are split by `analyze.rows`.

Cost notes (docs/BENCHMARKS.md): each Polars expression costs about the same per row whether or not a
row needs it, so rare cases are computed on null-masked inputs (`pl.when(rare).then(x)`), which
is cheap, rather than on whole columns.
"""

from __future__ import annotations

import atexit
import gzip
import shutil
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import polars as pl
import zstandard

from analyze.errors import BadInput
from capture.manifest import escape_bytes

# A quoted MONITOR argument, escapes included (Rust regex: no look-around needed).
QUOTED_ARG = r'"(?:[^"\\]|\\.)*"'
_QUOTED_LINE = rf"^{QUOTED_ARG}(?: {QUOTED_ARG})*$"
# A header whose address holds a space (a unix socket path), which `splitn` cannot take.
_HEADER = r"^\+?(\S+) \[(\S+) (.*?)\] (\".*)$"

_EXAMPLE_CHARS = 200
EXAMPLES = 5  # bad lines kept per source
CHUNK_BYTES = 32 << 20  # text decoded at a time: docs/BENCHMARKS.md (memory) and `analyze.rows`


@dataclass(frozen=True)
class Source:
    """One MONITOR log and what is known of the node it was captured on."""

    path: Path
    node: str = "unknown"  # "host:port"
    shard: str = "unknown"
    role: str = "unknown"  # primary | replica | unknown
    # "ip:port" client addresses whose lines are replicated writes (the replica's primary link).
    primary_addresses: tuple[str, ...] = ()


# -- reading files --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Readable:
    """What Polars should read for a source, and what the file's ends told us."""

    path: Path  # the file itself, or a temporary file with the decoded readable prefix
    partial: str | None  # the truncated last line (as Polars reads it), when there is one
    partial_in_file: bool  # whether `path` still holds that partial line
    note: str | None  # said to the user, e.g. how a truncated stream was handled


_TEMP: list[Path] = []
_CACHE: dict[tuple[str, int, int], _Readable] = {}
FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


def _temp_dir() -> Path:
    if not _TEMP:
        folder = Path(tempfile.mkdtemp(prefix="hotshard-parse-"))
        atexit.register(shutil.rmtree, folder, True)
        _TEMP.append(folder)
    return _TEMP[0]


def _kind(path: Path) -> str:
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if magic[:2] == b"\x1f\x8b":
        return "gzip"
    return "plain"


def readable(path: Path) -> _Readable:
    """Inspect one input (cached per path, size and mtime) so Polars can read it safely."""
    try:
        st = path.stat()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not path.is_file():
        raise BadInput(f"{path}: not a file")
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _CACHE:
        kind = _kind(path)
        if kind == "zstd":
            _CACHE[key] = _readable_zstd(path)
        elif kind == "gzip":
            _CACHE[key] = _readable_gzip(path)
        else:
            _CACHE[key] = _readable_plain(path)
    return _CACHE[key]


def _partial_of(tail: bytes) -> str | None:
    """The unterminated last line of a text ending in `tail`, as the CSV reader returns it."""
    if not tail or tail.endswith(b"\n"):
        return None
    last = tail.rsplit(b"\n", 1)[-1]
    return last.removesuffix(b"\r").decode("utf-8", "replace")


def _readable_plain(path: Path) -> _Readable:
    with path.open("rb") as fh:
        end = fh.seek(0, 2)
        # Walk back to the last newline: the partial line may be long (a big SET value).
        pos, tail = end, b""
        while pos > 0 and b"\n" not in tail:
            step = min(pos, 1 << 16)
            pos -= step
            fh.seek(pos)
            tail = fh.read(step) + tail
    return _Readable(path, _partial_of(tail), True, None)


def _zstd_frames(path: Path) -> tuple[bool, int]:
    """Walk the zstd frames by their block headers without decoding: (complete, last frame start)."""
    with path.open("rb") as fh:
        size = fh.seek(0, 2)
        pos = last = 0
        while pos < size:
            fh.seek(pos)
            head = fh.read(18)
            if len(head) < 4:
                return False, last
            magic = int.from_bytes(head[:4], "little")
            if magic & 0xFFFFFFF0 == 0x184D2A50:  # skippable frame
                if len(head) < 8:
                    return False, last
                pos += 8 + int.from_bytes(head[4:8], "little")
                continue
            if magic != 0xFD2FB528 or len(head) < 5:
                return False, last
            last = pos
            fhd = head[4]
            single = bool(fhd & 0x20)
            fcs_size = {0: 1 if single else 0, 1: 2, 2: 4, 3: 8}[fhd >> 6]
            dict_size = {0: 0, 1: 1, 2: 2, 3: 4}[fhd & 0x03]
            pos += 5 + (0 if single else 1) + dict_size + fcs_size
            while True:
                fh.seek(pos)
                block = fh.read(3)
                if len(block) < 3:
                    return False, last
                header = int.from_bytes(block, "little")
                btype, bsize = (header >> 1) & 0x03, header >> 3
                pos += 3 + (1 if btype == 1 else bsize)
                if pos > size:
                    return False, last
                if header & 1:
                    break
            pos += 4 if fhd & 0x04 else 0
        return pos == size, last


def _readable_zstd(path: Path) -> _Readable:
    complete, last = _zstd_frames(path)
    if not complete:
        return _decode_prefix(path, "zstd")
    # Only the last frame is decoded to learn how the text ends (captures flush small frames).
    tail = b""
    with path.open("rb") as fh:
        fh.seek(last)
        reader = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)
        try:
            while chunk := reader.read(1 << 20):
                tail = (tail + chunk)[-(1 << 20) :] if b"\n" in chunk else tail + chunk
        except zstandard.ZstdError as exc:
            # The frames are whole but the last one does not decode (what `zstd file` writes
            # is one frame: damage anywhere is damage here): keep what decodes before it.
            return _decode_prefix(path, "zstd", damage=str(exc))
    return _Readable(path, _partial_of(tail), True, None)


def _readable_gzip(path: Path) -> _Readable:
    # gzip has no block index: Polars itself checks the stream (its inflate is ~2x Python's).
    lf = pl.scan_csv(path, **_CSV).select(pl.len(), pl.col("line").last())
    try:
        _, last = lf.collect().row(0)
    except (OSError, pl.exceptions.ComputeError):
        return _decode_prefix(path, "gzip")
    # The newline after the last line is not visible here: a MONITOR line ends with a quote.
    partial = last if last and not last.endswith('"') and last not in ("OK", "+OK") else None
    return _Readable(path, partial, True, None)


def _decode_prefix(path: Path, kind: str, damage: str | None = None) -> _Readable:
    """Decode the readable prefix of a truncated (or, with `damage`, damaged) stream into a
    temporary plain file."""
    target = _temp_dir() / f"{len(list(_temp_dir().iterdir()))}-{path.name}.log"
    pending, damaged = b"", []
    with target.open("wb") as out:
        if kind == "zstd":
            # Frame by frame: a damaged frame mid-file (its sizes unreadable) costs only itself;
            # inside a frame, small feeds give out every whole block before the damage.
            with _ZstdFrames(path, feed=1 << 12 if damage else None) as frames:
                for data in iter(frames.read, b""):
                    pending = _write_lines(out, pending + data)
            # A skip that ran to the end of the file is the truncated last frame itself.
            damaged = frames.skipped[:-1] if frames.ended_in_skip else frames.skipped
        else:
            with path.open("rb") as src:
                for data in _gzip_chunks(src):
                    pending = _write_lines(out, pending + data)
    partial = pending.removesuffix(b"\r").decode("utf-8", "replace") if pending else None
    note = f"{path.name}: truncated {kind} stream (killed capture?) — read its readable prefix"
    if damage is not None:
        text = target.stat().st_size
        note = (
            f"{path.name}: damaged {kind} data after {text:,} bytes of text ({damage}) — "
            "analyzed the lines before it; the rest of the file is lost"
        )
    elif damaged:
        offset, error = damaged[0]
        note += (
            f"; {len(damaged)} damaged zstd frame(s) skipped, the first at byte {offset:,} "
            f"({error}): their lines are lost"
        )
    return _Readable(target, partial, False, note)


def _write_lines(out: BinaryIO, data: bytes) -> bytes:
    """Write the complete lines of `data`; return the rest."""
    cut = data.rfind(b"\n") + 1
    out.write(data[:cut])
    return data[cut:]


def _gzip_chunks(src: BinaryIO) -> Iterator[bytes]:
    """Decoded bytes of a possibly truncated gzip stream, member after member, until it ends."""
    obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
    while raw := src.read(1 << 20):
        while raw:
            try:
                yield obj.decompress(raw)
            except zlib.error:
                return  # corrupt from here on: keep what was readable
            raw = obj.unused_data if obj.eof else b""
            if obj.eof:
                obj = zlib.decompressobj(16 + zlib.MAX_WBITS)


# Lines as text: the CSV reader with no quoting and a separator that never appears in MONITOR
# output reads lines like `scan_lines`, but tolerates invalid UTF-8 (garbage) and drops `\r`.
_CSV: dict[str, Any] = dict(
    has_header=False,
    separator="\x00",
    quote_char=None,
    schema={"line": pl.String},
    encoding="utf8-lossy",
    empty_string_is_null=False,
    truncate_ragged_lines=True,
    raise_if_empty=False,
)


def _without_partial(lines: FrameT, r: _Readable) -> FrameT:
    """`lines` without the truncated last line, when the file holds one. An identical complete
    line earlier is near impossible (same microsecond, client and arguments) — and would be a
    duplicate anyway."""
    if r.partial is not None and r.partial_in_file:
        return lines.filter(pl.col("line") != r.partial)
    return lines


class Damaged(Exception):
    """A source's compressed stream was damaged: every line that could be read was given
    first. The message says where and what was lost, for the report."""


_DECODE_ERRORS = (zstandard.ZstdError, zlib.error, EOFError, gzip.BadGzipFile)


def line_chunks(source: Source, chunk_bytes: int) -> Iterator[pl.DataFrame]:
    """The source's lines (as `lines` gives them), about `chunk_bytes` of text at a time.

    A chunk is decoded only when it is asked for: Polars' own `collect_batches` decodes ahead
    of a slower consumer without bound (docs/BENCHMARKS.md).

    Damage (a truncated stream is not damage: `readable` handles it, and it ends normally): a
    zstd frame that does not decode is skipped and reading goes on at the next frame, so only
    that frame's lines are lost; a gzip stream has no frames to resume at, so it ends at the
    damage. Either way every readable line is given first, then `Damaged` is raised."""
    r = readable(Path(source.path))
    name = Path(source.path).name
    with _open_decoded(r.path) as stream:
        pending, done, damage = b"", 0, None
        while damage is None:
            data, damage = _read_at_least(stream, chunk_bytes)
            if not data:
                break
            data = pending + data
            cut = data.rfind(b"\n") + 1
            pending = data[cut:]
            done += cut
            if cut:
                # Nothing here may keep the text while the consumer works on the chunk.
                text = [data[:cut] if cut < len(data) else data]
                del data
                yield _chunk_frame(text.pop(), r)
        if pending and damage is None:
            yield _chunk_frame(pending, r)  # the last line, without its newline
        skipped = getattr(stream, "skipped", [])
    if damage is not None:
        # The line cut by the damage is dropped: it is not a whole line.
        raise Damaged(
            f"{name}: corrupt {_kind(r.path)} data after {done:,} bytes of text ({damage})"
            " — analyzed the lines before it"
        )
    if skipped:
        offset, error = skipped[0]
        raise Damaged(
            f"{name}: {len(skipped)} damaged zstd frame(s) skipped, the first at byte "
            f"{offset:,} of the file ({error}) — their lines are lost, the rest was analyzed"
        )


class _ZstdFrames:
    """A zstd file decoded frame after frame. A frame that fails to decode is given up (what it
    had decoded stays given) and decoding resumes at the next frame's magic number after its
    start: `skipped` lists (file offset, error) of each. A magic number that is really part of
    compressed data fails at once and is passed over the same way."""

    MAGIC = b"\x28\xb5\x2f\xfd"
    FEED = 1 << 18  # compressed bytes per step: a few MB of text

    def __init__(self, path: Path, feed: int | None = None) -> None:
        self.feed = feed or self.FEED
        self.fh = path.open("rb")
        self.pos = self.start = 0  # next byte to decode, start of the frame being decoded
        self.obj = zstandard.ZstdDecompressor().decompressobj()
        self.skipped: list[tuple[int, str]] = []
        self.size = path.stat().st_size
        self.ended_in_skip = False  # the last skip found no frame after it

    def __enter__(self) -> _ZstdFrames:
        return self

    def __exit__(self, *exc: object) -> None:
        self.fh.close()

    def read(self, size: int = -1) -> bytes:
        """Some text (at most a few MB; `size` is a hint); b"" at the end of the file."""
        del size
        while True:
            self.fh.seek(self.pos)
            raw = self.fh.read(self.feed)
            if not raw:
                return b""
            try:
                text = self.obj.decompress(raw)
            except zstandard.ZstdError as exc:
                self.skipped.append((self.start, str(exc)))
                self._resume(self.start + 1)
                self.ended_in_skip = self.pos >= self.size
                continue
            self.pos += len(raw)
            if self.obj.eof:  # a frame ended in `raw`: the next one starts in its unused tail
                self.pos -= len(self.obj.unused_data)
                self._resume(self.pos, gap=True)
            if text:
                return text

    def _resume(self, offset: int, gap: bool = False) -> None:
        """Start a new frame at the first magic number at or after `offset` (or at the end);
        `gap`: a frame ended at `offset`, so any bytes passed over are damage too."""
        self.fh.seek(offset)
        head = self.fh.read(4)
        if head == self.MAGIC or (
            len(head) == 4 and int.from_bytes(head, "little") & 0xFFFFFFF0 == 0x184D2A50
        ):
            # The usual case after a frame: the next frame (or a skippable one) starts here.
            self.pos = self.start = offset
            self.obj = zstandard.ZstdDecompressor().decompressobj()
            return
        self.fh.seek(offset)
        found, base, tail = -1, offset, b""
        while found < 0 and (block := self.fh.read(1 << 20)):
            hit = (tail + block).find(self.MAGIC)
            if hit >= 0:
                found = base - len(tail) + hit
            tail = block[-3:]
            base += len(block)
        self.pos = self.start = found if found >= 0 else base
        self.obj = zstandard.ZstdDecompressor().decompressobj()
        if gap and self.pos > offset:
            self.skipped.append((offset, f"{self.pos - offset:,} bytes that are not zstd frames"))


def _open_decoded(path: Path) -> Any:
    kind = _kind(path)
    if kind == "zstd":
        return _ZstdFrames(path)
    fh = path.open("rb")
    if kind == "gzip":
        return gzip.GzipFile(fileobj=fh)
    return fh


def _read_at_least(stream: Any, size: int) -> tuple[bytes, Exception | None]:
    """Up to about `size` bytes (a zstd reader returns less at frame ends: captures flush
    often), and the decoding error that stopped it early, if any: the bytes before it are good.
    Small reads: a gzip read that fails loses what it had decoded (at most 64 KiB)."""
    parts, got = [], 0
    try:
        while got < size and (data := stream.read(min(size - got, 1 << 16))):
            parts.append(data)
            got += len(data)
    except _DECODE_ERRORS as exc:
        return b"".join(parts), exc
    return b"".join(parts), None


def _chunk_frame(data: bytes, r: _Readable) -> pl.DataFrame:
    return _without_partial(pl.read_csv(data, **_CSV), r)


# -- parsing ----------------------------------------------------------------------------------
def _header(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Add `_skip` (OK / blank), the typed header fields `_ts`, `_db`, `_addr` (null when
    malformed), `_rest` (the quoted fields, as printed) and `_head_ok` to a frame of `line`s."""
    line, head, wide = pl.col("line"), pl.col("_head"), pl.col("_wide")
    return (
        lf.with_columns(
            _skip=(line == "") | (line == "OK") | (line == "+OK"),
            _head=line.str.splitn(" ", 4),
        )
        .with_columns(
            _ts=head.struct.field("field_0").str.strip_prefix("+"),
            _db=head.struct.field("field_1"),
            _addr=head.struct.field("field_2"),
            _rest=head.struct.field("field_3"),
        )
        .with_columns(
            # An address with a space in it (a unix socket path): take the header by regex.
            _wide=pl.when(~pl.col("_addr").str.ends_with("]"))
            .then(line)
            .str.extract_groups(_HEADER)
        )
        .with_columns(
            _ts=pl.coalesce(wide.struct.field("1"), "_ts").cast(pl.Float64, strict=False),
            _db=pl.coalesce("[" + wide.struct.field("2"), "_db"),
            _addr=pl.coalesce(wide.struct.field("3") + "]", "_addr"),
            _rest=pl.coalesce(wide.struct.field("4"), "_rest"),
        )
        .with_columns(
            _db=pl.when(pl.col("_db").str.starts_with("["))
            .then(pl.col("_db").str.slice(1).cast(pl.Int32, strict=False))
            .otherwise(None),
            _addr=pl.when(pl.col("_addr").str.ends_with("]")).then(
                pl.col("_addr").str.strip_suffix("]")
            ),
        )
        .with_columns(
            _head_ok=~pl.col("_skip")
            & pl.col("_ts").is_not_null()
            & pl.col("_db").is_not_null()
            & pl.col("_addr").is_not_null()
        )
    )


def header_rows(marked: pl.LazyFrame) -> pl.LazyFrame:
    """The command lines of `marked` (`mark_lines`: header and quoting well formed), as `ts`,
    `db`, `client` and `body`, the quoted fields as printed (`rows` cuts them)."""
    return marked.filter(pl.col("_ok")).select(ts="_ts", db="_db", client="_addr", body="_rest")


# -- capture health -----------------------------------------------------------------------------
STATS_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "node": pl.String(),
    "shard": pl.String(),
    "lines_total": pl.Int64(),
    "parsed": pl.Int64(),
    "skipped": pl.Int64(),  # OK / +OK / blank lines
    "errors": pl.Int64(),  # lines that are not MONITOR output
    "truncated_last_line": pl.Boolean(),
    "first_ts": pl.Float64(),
    "last_ts": pl.Float64(),
    "error_examples": pl.List(pl.String()),  # the first few bad lines, escaped, shortened
    "note": pl.String(),  # e.g. how a truncated compressed stream was read
}


@dataclass
class LineCounts:
    """A source's line counts, added up over its chunks (`add`) or taken in one pass."""

    rows: int = 0
    parsed: int = 0
    skipped: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    bad: list[str] = field(default_factory=list)  # the first bad lines, in file order
    note: str | None = None  # e.g. where a damaged stream stopped being readable

    def add(self, marked: pl.DataFrame, examples: int = EXAMPLES) -> None:
        """Count one chunk of `mark_lines` output (chunks in file order)."""
        c = _counts(marked.lazy()).collect().row(0, named=True)
        self.rows += c["rows"]
        self.parsed += c["parsed"]
        self.skipped += c["skipped"]
        self.first_ts = _fold(min, self.first_ts, c["first_ts"])
        self.last_ts = _fold(max, self.last_ts, c["last_ts"])
        if len(self.bad) < examples and c["rows"] - c["parsed"] - c["skipped"]:
            bad = marked.filter(~pl.col("_ok") & ~pl.col("_skip")).head(examples)["line"]
            self.bad = [*self.bad, *bad.to_list()][:examples]

    def row(self, source: Source) -> dict[str, object]:
        """This source's row of `STATS_SCHEMA`."""
        r = readable(Path(source.path))
        truncated = r.partial is not None
        return {
            "source": Path(source.path).name,
            "node": source.node,
            "shard": source.shard,
            "lines_total": self.rows + truncated,
            "parsed": self.parsed,
            "skipped": self.skipped,
            "errors": self.rows - self.parsed - self.skipped,
            "truncated_last_line": truncated,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "error_examples": [_example(line) for line in self.bad],
            "note": "; ".join(n for n in (r.note, self.note) if n) or None,
        }


def _fold(pick, a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else pick(a, b)


def stats_frame(sources: Sequence[Source], counts: Sequence[LineCounts]) -> pl.DataFrame:
    """`line_stats` from counts taken elsewhere (the analyzer counts while it parses)."""
    rows = [c.row(s) for s, c in zip(sources, counts, strict=True)]
    return pl.DataFrame(rows, schema=STATS_SCHEMA)


def mark_lines(lf: pl.LazyFrame) -> pl.LazyFrame:
    """`line` with what `line_stats` counts and `header_rows` needs: `_skip`, `_ok`, the
    header fields and `_rest` (the body is checked for its quoting, not split)."""
    quoted = pl.col("_rest").str.contains(_QUOTED_LINE).fill_null(False)
    return _header(lf).with_columns(_ok=pl.col("_head_ok") & quoted)


def count_lines(source: Source, examples: int = EXAMPLES) -> LineCounts:
    """One source's line counts, read a chunk at a time (damage noted, never raised)."""
    counts = LineCounts()
    try:
        for lines in line_chunks(source, CHUNK_BYTES):
            counts.add(mark_lines(lines.lazy()).collect(), examples)
    except Damaged as exc:
        counts.note = str(exc)
    return counts


def line_stats(sources: Sequence[Source], examples: int = EXAMPLES) -> pl.DataFrame:
    """Per source: how many lines were read, parsed, skipped and bad — the capture's health.

    A pass of its own over every line (header fields and the quoting check, no argument
    split); `analyze` counts while it parses instead, unless the time window needs the first
    timestamp first. `lines_total` = parsed + skipped + errors + (1 if `truncated_last_line`):
    the partial last line of a killed capture is neither parsed nor an error.
    `error_examples` are the first few bad lines in file order, escaped and shortened.
    """
    return stats_frame(sources, [count_lines(s, examples) for s in sources])


def _counts(lf: pl.LazyFrame) -> pl.LazyFrame:
    ok = pl.col("_ok")
    return lf.select(
        pl.len().cast(pl.Int64).alias("rows"),
        ok.sum().cast(pl.Int64).alias("parsed"),
        pl.col("_skip").sum().cast(pl.Int64).alias("skipped"),
        # `when`, not `filter`: two filtered reductions split the stream (a multiplexer that
        # may buffer); min/max skip the nulls anyway.
        pl.when(ok).then(pl.col("_ts")).min().alias("first_ts"),
        pl.when(ok).then(pl.col("_ts")).max().alias("last_ts"),
    )


def _example(line: str) -> str:
    """A bad line fit for a report: control and non-ASCII characters escaped, at most ~200."""
    text = "".join(ch if " " <= ch <= "~" else escape_bytes(ch.encode()) for ch in line[:400])
    return text if len(text) <= _EXAMPLE_CHARS else text[: _EXAMPLE_CHARS - 1] + "…"
