"""MONITOR logs as chunks of text, their command lines, and the capture's health.

A MONITOR line (docs/MONITOR.md) is

    1697549123.123456 [0 10.0.0.1:53422] "ZREVRANGE" "key" "0" "-1"

optionally with the RESP `+` prefix and a trailing `\\r`. Files are read by the capture
format's reader (capture/format/reader.py: plain, `.gz` or `.zst`, truncated or damaged), a
chunk of whole lines at a time (`line_chunks`); a killed capture's cut last line and what a
damaged stream lost are reported by `line_stats`.

Each chunk is parsed by the native core (`hotshard.analyze.read.scanner`): the header, the quoting check and
the counts, in one pass over its bytes; lines failing a check are left out and counted
(`LineCounts`). Garbage never fails a query: lines are read as lossy UTF-8. The quoted
arguments are split by the core too, once per distinct tail (`hotshard.analyze.rows.make`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from hotshard.analyze import humanize
from hotshard.analyze.errors import BadInput
from hotshard.analyze.read import scanner
from hotshard.analyze.read.inputs import Source as Source  # what a source is: read/inputs.py
from hotshard.capture.format.lines import escape_bytes
from hotshard.capture.format.reader import MAX_LINE_BYTES as MAX_LINE_BYTES
from hotshard.capture.format.reader import MonitorFile

_EXAMPLE_CHARS = 200
EXAMPLES = 5  # bad lines kept per source
STEP_BACK = 1.0  # seconds the clock may seem to go back (lines of one second out of order)
MAX_SEGMENTS = 1000  # spans kept between clock steps (see `LineCounts`)
MAX_TS = 1e11  # epoch seconds: year 5138
MAX_STEPS = 20  # clock steps kept as examples
# Text decoded at a time. Several chunks are alive at once in the row path (decoded, cut,
# finished, written): their columns and transients are most of the analyzer's memory. 16 MiB
# rather than 32: ~15% less peak memory for ~5% more CPU (docs/BENCHMARKS.md, session 7).
CHUNK_BYTES = 16 << 20


# -- reading files --------------------------------------------------------------------------
def open_source(source: Source) -> MonitorFile:
    """The source's file, to read once (`line_chunks`); a clear error when it cannot be read."""
    path = Path(source.path)
    try:
        if not path.is_file():
            raise BadInput(f"{path}: not a file")
        return MonitorFile(path, source.max_line_bytes)
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror or exc})") from None


def line_chunks(file: MonitorFile, chunk_bytes: int) -> Iterator[bytes]:
    """The file's text, whole lines, about `chunk_bytes` at a time (`scanner.scan` parses it).

    A chunk is decoded only when it is asked for. How the file ended (a cut last line, a
    truncated or damaged stream) is on `file` once the chunks have run out."""
    yield from file.blocks(chunk_bytes)


def header_rows(block: bytes) -> pl.DataFrame:
    """The command lines of a chunk of text (header and quoting well formed), as `ts`, `db`,
    `client` and `body`, the quoted fields as printed."""
    return scanner.scan(block, body=True).frame.select("ts", "db", "client", "body")


def matching_rows(block: bytes, needles: scanner.Needles) -> pl.DataFrame:
    """The rows of `header_rows` whose body holds one of `needles` (ASCII case insensitive),
    found without a row for the other lines (`scanner.matching`; also `_command` and `_first`,
    the command and first argument as printed)."""
    return scanner.matching(block, needles)


def command_and_first(heads: pl.DataFrame) -> pl.DataFrame:
    """`heads` with `_command` (the body's first field up to its first quote, as printed) and
    `_first` (the first argument as printed, when the command's field holds no quote; else
    null): as `matching_rows` hands them, else cut here by regex."""
    if "_command" in heads.columns:
        return heads
    body = pl.col("body")
    return heads.with_columns(
        _command=body.str.extract(r'^"([^"]*)"', 1),
        _first=body.str.extract(r'^"[^"]*" "((?:[^"\\]|\\.)*)"', 1),
    )


def split_rows(block: bytes, using: scanner.Parser | None = None) -> pl.DataFrame:
    """Per command line of a chunk of text: `ts`, `db`, `client`, `command`, `arg_count`,
    `request_bytes` and `args` (each argument as printed, escapes unresolved), and the rest of
    `scanner.Scanned.tails`, as the native core splits them (`using`; by default without key
    specs or fast commands: every body is its own tail)."""
    scanned = scanner.scan(block, using)
    tails = scanned.tails.drop("_whole")
    return pl.concat(
        [
            scanned.frame.select("ts", "db", "client"),
            tails.select(pl.all().gather(scanned.frame["_tail"])),
        ],
        how="horizontal",
    )


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
    truncated_last_line: bool = False  # the file ends in a cut line (`ended`)
    notes: list[str] = field(default_factory=list)  # how a truncated or damaged stream was read
    # The node's clock going back (NTP stepping it; MONITOR stamps lines with the wall clock):
    # how many times, the first (line number, from, to), and the spans between steps, so the
    # window's length is what the data covers, not the distance the clock jumped.
    steps: int = 0
    step_examples: list[tuple[int, float, float]] = field(default_factory=list)  # line, from, to
    segments: list[tuple[float, float]] = field(default_factory=list)
    _last: float | None = None  # the last timestamp of the chunks seen

    def ended(self, file: MonitorFile) -> None:
        """Take what `file`'s reading found at its end (after its last chunk)."""
        self.truncated_last_line = file.partial is not None
        self.notes = list(file.notes)

    @property
    def note(self) -> str | None:
        return "; ".join(self.notes) or None

    def add(self, chunk: scanner.Scanned, examples: int = EXAMPLES) -> None:
        """Count one parsed chunk (chunks in file order)."""
        self._steps(chunk.frame["ts"])
        self.rows += chunk.rows
        self.parsed += chunk.parsed
        self.skipped += chunk.skipped
        self.first_ts = _fold(min, self.first_ts, chunk.first_ts)
        self.last_ts = _fold(max, self.last_ts, chunk.last_ts)
        if len(self.bad) < examples:
            self.bad = [*self.bad, *chunk.bad][:examples]

    def _steps(self, stamps: pl.Series) -> None:
        """Find where the clock went back by more than `STEP_BACK` s from the line before, in
        file order (an outlying line and the return from it are one such step each way:
        `real_steps` tells them apart once the data's extent is known)."""
        frame = pl.DataFrame({"ts": stamps.cast(pl.Float64)})
        if frame.is_empty():
            return
        before = pl.col("ts").shift(1).fill_null(pl.lit(self._last, pl.Float64))
        frame = frame.with_row_index().with_columns(
            before=before, back=pl.col("ts") < before - STEP_BACK
        )
        frame = frame.with_columns(segment=pl.col("back").cum_sum())
        spans = (
            frame.group_by("segment")
            .agg(lo=pl.col("ts").min(), hi=pl.col("ts").max())
            .sort("segment")
        )
        backs = frame.filter(pl.col("back"))
        self.steps += backs.height
        room = MAX_STEPS - len(self.step_examples)
        for i, was, now in backs.head(room).select("index", "before", "ts").iter_rows():
            self.step_examples.append((self.rows + i + 1, was, now))
        pieces = list(spans.select("lo", "hi").iter_rows())
        if self.segments and spans["segment"][0] == 0:  # the open segment goes on here
            lo, hi = self.segments.pop()
            pieces[0] = (min(lo, pieces[0][0]), max(hi, pieces[0][1]))
        self.segments.extend(pieces)
        self._last = frame["ts"][-1]
        if len(self.segments) > MAX_SEGMENTS:  # a clock going back and forth: keep the extremes
            done = self.segments[:-1]
            self.segments = [(min(a for a, _ in done), max(b for _, b in done)), self.segments[-1]]

    def real_steps(self, start: float, end: float) -> list[tuple[int, float, float]]:
        """The steps back seen (the first `MAX_STEPS`) between two times inside [start, end]:
        not the return from an outlying line."""
        return [s for s in self.step_examples if start <= s[1] <= end and start <= s[2] <= end]

    def step_note(self, name: str, start: float, end: float) -> str | None:
        """For Health: the clock went back (where, by how much)."""
        steps = self.real_steps(start, end)
        if not steps:
            return None
        line, was, now = steps[0]
        more = f" ({len(steps):,} times in all)" if len(steps) > 1 else ""
        return (
            f"{name}: the node's clock went back {humanize.duration(was - now)} at line "
            f"{line:,} ({humanize.timestamp(was)} → {humanize.timestamp(now)}){more}; the window "
            "length counts the time the lines cover, not the jump"
        )

    def row(self, source: Source) -> dict[str, object]:
        """This source's row of `STATS_SCHEMA`."""
        truncated = self.truncated_last_line
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
            "note": self.note,
        }


def _fold(pick, a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else pick(a, b)


def stats_frame(sources: Sequence[Source], counts: Sequence[LineCounts]) -> pl.DataFrame:
    """`line_stats` from counts taken elsewhere (the analyzer counts while it parses)."""
    rows = [c.row(s) for s, c in zip(sources, counts, strict=True)]
    return pl.DataFrame(rows, schema=STATS_SCHEMA)


def count_lines(source: Source, examples: int = EXAMPLES) -> LineCounts:
    """One source's line counts, read a chunk at a time."""
    counts, file = LineCounts(), open_source(source)
    for block in line_chunks(file, CHUNK_BYTES):
        counts.add(scanner.scan(block), examples)
    counts.ended(file)
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


def _example(line: str) -> str:
    """A bad line fit for a report: control and non-ASCII characters escaped, at most ~200."""
    text = "".join(ch if " " <= ch <= "~" else escape_bytes(ch.encode()) for ch in line[:400])
    return text if len(text) <= _EXAMPLE_CHARS else text[: _EXAMPLE_CHARS - 1] + "…"
