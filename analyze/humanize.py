"""Numbers as people read them, identically on every machine (no locale, fixed rounding)."""

from __future__ import annotations

import datetime as dt

# Text from the data is escaped in one place for every output; re-exported for the renderers.
from hotshard.capture.format.escape import cell, code, printable  # noqa: F401


def count(n: int | float | None) -> str:
    """`1234567` -> `1,234,567`; None -> `—`."""
    if n is None:
        return "—"
    return f"{round(n):,}"


def size(n: int | float | None) -> str:
    """Bytes in decimal units (CloudWatch counts bytes, so do we): `12.3 MB`; None -> `—`."""
    if n is None:
        return "—"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def rate(n: float | None) -> str:
    """Operations per second: `12.3`, `1,234`; None -> `—`."""
    if n is None:
        return "—"
    return f"{n:,.1f}" if n < 100 else f"{round(n):,}"


def percent(share: float | None) -> str:
    if share is None:
        return "—"
    return f"{share * 100:.1f}%"


def ratio(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.1f}×"


def timestamp(ts: float | None) -> str:
    """Epoch seconds as ISO-8601 UTC to the second."""
    if ts is None:
        return "—"
    try:
        return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):  # a garbled timestamp beyond any calendar
        return f"{ts:.6f} (epoch seconds)"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 120:
        return f"{seconds:.1f} s"
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}h {m:02d}m {sec:02d}s" if h else f"{m}m {sec:02d}s"
