"""The time the data really covers, whatever a few garbled timestamps say.

One line stamped a year later (a bit flip, a hand-edited log, `0.000001`) must not stretch the
window: every per-second series, bin grid and rate is sized by the window, so it would size an
allocation by the garbage (a year of seconds). The extent is found from the per-second counts
(bounded by the lines, not by the timestamps): seconds are grouped into runs split at gaps of
more than `GAP` seconds, and a run at either end is an outlier when it holds a small share of
the lines *and* lies farther from the rest than the rest is long. A sparse log (one line every
half hour for a day) keeps all its runs; a real hour with one line from the year 3000 loses that
line from the time series, and a note says how many, an example and where.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from hotshard.analyze import humanize

GAP = 300  # seconds without a line that split the data into runs
SMALL = 0.01  # a run at the edge with less than this share of the lines may be an outlier


@dataclass(frozen=True)
class Extent:
    start: float  # epoch seconds, the first second of the data's core
    end: float  # the end of its last second
    outliers: int  # commands whose second lies outside
    example: float | None  # one outlying second
    node: str | None  # where that example was seen


def core(seconds: pl.DataFrame) -> Extent | None:
    """The core extent of a `node, second, commands` frame (any number of rows per second);
    None without rows."""
    per = (
        seconds.group_by("second")
        .agg(pl.col("commands").sum(), pl.col("node").min())
        .sort("second")
    )
    if per.is_empty():
        return None
    secs, counts = per["second"].to_list(), per["commands"].to_list()
    runs: list[list[int]] = [[0, 0]]  # [first index, last index]
    for i in range(1, len(secs)):
        if secs[i] - secs[i - 1] > GAP:
            runs.append([i, i])
        else:
            runs[-1][1] = i
    weight = [sum(counts[a : b + 1]) for a, b in runs]
    total = sum(weight)
    lo, hi = 0, len(runs) - 1

    def span(a: int, b: int) -> int:
        return secs[runs[b][1]] - secs[runs[a][0]] + 1

    while lo < hi:
        first_gap = secs[runs[lo + 1][0]] - secs[runs[lo][1]]
        last_gap = secs[runs[hi][0]] - secs[runs[hi - 1][1]]
        if weight[lo] < SMALL * total and first_gap > max(GAP, span(lo + 1, hi)):
            lo += 1
        elif weight[hi] < SMALL * total and last_gap > max(GAP, span(lo, hi - 1)):
            hi -= 1
        else:
            break
    start, end = secs[runs[lo][0]], secs[runs[hi][1]] + 1
    outside = per.filter((pl.col("second") < start) | (pl.col("second") >= end))
    example = outside.sort("commands", "second", descending=[False, True]).head(1)
    return Extent(
        start=float(start),
        end=float(end),
        outliers=int(outside["commands"].sum()),
        example=float(example["second"][0]) if example.height else None,
        node=example["node"][0] if example.height else None,
    )


def note(e: Extent, files: dict[str, list[str]]) -> str | None:
    """For Health: the commands left out of the time series, with an example (`files`: node ->
    its source files' names, to say where)."""
    if not e.outliers or e.example is None:
        return None
    where = ", ".join(files.get(e.node or "", [])) or e.node
    return (
        f"{humanize.count(e.outliers)} command(s) have timestamps far outside the rest of the "
        f"data (e.g. {humanize.timestamp(e.example)} in {where}, while the data covers "
        f"{humanize.timestamp(e.start)} → {humanize.timestamp(e.end)}): a garbled clock or "
        "line; they are counted, but left out of the time window, rates and time series"
    )
