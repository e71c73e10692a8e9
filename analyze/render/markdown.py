"""Markdown pieces every report section uses: sections, GitHub tables, sparklines."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from hotshard.analyze import humanize
from hotshard.analyze.findings.found import Findings

SPARK = "▁▂▃▄▅▆▇█"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "") -> str:
    """A GitHub table; `align` has one letter per column, `r` for right-aligned numbers."""
    align = align[: len(headers)].ljust(len(headers), "l")
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join("---:" if a == "r" else "---" for a in align) + "|")
    for row in rows:
        lines.append("| " + " | ".join(humanize.cell(v) for v in row) + " |")
    return "\n".join(lines)


def sparkline(values: Sequence[float | None], top: float) -> str:
    """One character per value, scaled to `top`; a blank for nothing (or unknown)."""
    out = []
    for v in values:
        if v is None or v <= 0 or top <= 0:
            out.append(" ")
        else:
            out.append(SPARK[max(0, min(len(SPARK) - 1, math.ceil(v / top * len(SPARK)) - 1))])
    return "".join(out)


def section(title: str, *body: str) -> str:
    return "\n\n".join([f"## {title}", *[b for b in body if b]])


def share_note(f: Findings) -> str:
    if f.rollups.basis == "bytes":
        return "Shares are of estimated bytes out."
    return "Shares are of client commands (reply sizes unknown)."
