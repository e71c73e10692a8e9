"""The time window analyzed: `--since`/`--until` read against the inputs' span, and the row
filter that keeps a source's lines inside it (and leaves out the capture's own polls).

Takes the resolved inputs and the per-source line statistics; hands on a `Window` and the
filter `rows` applies to each source.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from hotshard.analyze import humanize
from hotshard.analyze.errors import BadInput
from hotshard.analyze.read.inputs import Inputs
from hotshard.analyze.read.parse import LineCounts


@dataclass(frozen=True)
class Window:
    """The time window analyzed: what was asked (`since`/`until`) and what it covers (`start`/`end`)."""

    since: float | None = None
    until: float | None = None
    start: float | None = None
    end: float | None = None

    @property
    def filtered(self) -> bool:
        return self.since is not None or self.until is not None

    def bounds(self) -> tuple[float, float]:
        """Start and end, infinite where unknown."""
        lo = self.start if self.start is not None else -math.inf
        return lo, self.end if self.end is not None else math.inf

    def span(self) -> tuple[float, float] | None:
        """Start and end when both are known."""
        return (self.start, self.end) if self.start is not None and self.end is not None else None


def window(
    since: str | None,
    until: str | None,
    inputs: Inputs,
    line_stats: pl.DataFrame,
    core: tuple[float, float] | None = None,
) -> Window:
    """The window analyzed, from the capture's span or the lines' (`line_stats`) narrowed by
    `--since`/`--until`; `core`: the data's extent when some timestamps lie outside it."""
    cap_start, cap_end = inputs.capture_span()
    first = _float(line_stats["first_ts"].min()) if line_stats.height else None
    last = _float(line_stats["last_ts"].max()) if line_stats.height else None
    if core is not None:
        first = core[0] if first is None else max(first, core[0])
        last = core[1] if last is None else min(last, core[1])
    start = cap_start if cap_start is not None else first
    end = cap_end if cap_end is not None else last
    since_ts = parse_time(since, start, "since")
    until_ts = parse_time(until, start, "until")
    if since_ts is not None and until_ts is not None and until_ts <= since_ts:
        raise BadInput(f"--until ({until}) is not after --since ({since})")
    check_window(since_ts, until_ts, start, end)
    if since_ts is not None and (start is None or since_ts > start):
        start = since_ts
    if until_ts is not None and (end is None or until_ts < end):
        end = until_ts
    return Window(since=since_ts, until=until_ts, start=start, end=end)


def covered(counts: list[LineCounts], w: Window, inputs: Inputs) -> float | None:
    """The seconds a plain log's lines cover when a node's clock stepped back (the union of
    the spans between steps, inside the window); None otherwise (the window's length)."""
    lo, hi = w.bounds()
    if not any(c.real_steps(lo, hi) for c in counts) or inputs.capture_span()[0] is not None:
        return None
    spans = sorted((max(a, lo), min(b, hi)) for c in counts for a, b in c.segments)
    total, reach = 0.0, -math.inf
    for a, b in spans:
        if b > max(a, reach):
            total += b - max(a, reach)
        reach = max(reach, b)
    return total


def keep(w: Window, poll_client: tuple[str, ...] | None) -> Callable[[pl.LazyFrame], pl.LazyFrame]:
    """The header rows of one source that count: in the window, not the capture's own polls."""

    def kept(lf: pl.LazyFrame) -> pl.LazyFrame:
        if poll_client:  # the capture's own polls and samples are not the application's traffic
            lf = lf.filter(~pl.col("client").is_in(list(poll_client)).fill_null(False))
        if w.since is not None:
            lf = lf.filter(pl.col("ts") >= w.since)
        if w.until is not None:
            lf = lf.filter(pl.col("ts") < w.until)
        return lf

    return kept


def poll_clients(inputs: Inputs) -> dict[str, tuple[str, ...]]:
    """node -> the addresses of the capture's INFO polls (capture/poll.py) and start-of-window
    sampler (capture/window_sample.py) there."""
    out: dict[str, tuple[str, ...]] = {}
    for m in inputs.manifests:
        for n in m.nodes:
            own = tuple(a for a in (n.poll_client, n.sampler_client) if a)
            if own:
                out[n.node] = own
    return out


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def parse_time(text: str | None, start: float | None, what: str) -> float | None:
    """`--since/--until`: epoch seconds, ISO-8601 (UTC unless it says otherwise), or `+SECONDS`
    after the capture start. A time no calendar can show (`1e400`, `inf`, `nan`) is BadInput."""
    if text is None or str(text).strip() == "":
        return None
    value = str(text).strip()
    if value.startswith("+"):
        try:
            offset = float(value[1:])
        except ValueError:
            raise BadInput(f"--{what} {value!r}: +SECONDS takes a number, e.g. +30") from None
        if start is None:
            raise BadInput(f"--{what} {value!r}: the capture start is unknown (no data)")
        return _usable(start + offset, value, what)
    try:
        return _usable(float(value), value, what)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(
            f"--{what} {value!r}: give epoch seconds, an ISO time (2025-10-17T13:05:00Z) or "
            "+SECONDS from the capture start"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def _usable(ts: float, value: str, what: str) -> float:
    """`ts` when it is a real moment (the report prints it as a date), else BadInput."""
    try:
        if math.isfinite(ts):
            dt.datetime.fromtimestamp(ts, dt.UTC)
            return ts
    except (OverflowError, OSError, ValueError):  # beyond time_t, or year out of range
        pass
    raise BadInput(
        f"--{what} {value!r}: not a usable time (out of range) — give epoch seconds, an ISO time "
        "(2025-10-17T13:05:00Z) or +SECONDS from the capture start"
    )


def check_window(
    since: float | None, until: float | None, start: float | None, end: float | None
) -> None:
    """Refuse a --since/--until window that misses the input's span (the capture's, or a plain
    log's first to last line) entirely: it would hold nothing and read as "no client traffic
    was captured"."""
    span = (
        f"the input spans {humanize.timestamp(start)} → {humanize.timestamp(end)}"
        if start and end
        else ""
    )
    if since is not None and end is not None and since >= end:
        raise BadInput(
            f"--since {humanize.timestamp(since)} is after the end of the input ({humanize.timestamp(end)}): the window holds "
            f"nothing — {span or 'choose an earlier --since'}"
        )
    if until is not None and start is not None and until <= start:
        raise BadInput(
            f"--until {humanize.timestamp(until)} is before the start of the input ({humanize.timestamp(start)}): the window "
            f"holds nothing — {span or 'choose a later --until'}"
        )
