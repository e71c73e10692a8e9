"""Bytes out through time, per node: measured by the server, estimated per command, CloudWatch.

**Measured** (capture folders with INFO polls, manifest v4): between two consecutive readings of
a node's counters — the "before" INFO, each `INFO stats` poll (capture/poll.py), the "after"
INFO — the application's clients received

    Δ total_net_output_bytes - Δ total_net_repl_output_bytes - Δ monitor_bytes - Δ overhead_bytes

the window formula of analyze/measure/reconcile.py applied to each interval: the intervals add up to the
window's `measured_bytes_out` to the byte. One interval can be off by the MONITOR bytes that
were in flight at a poll (sent, not yet read), which the next interval gets back.

**Estimated**: the per-command reply estimates (`reply_bytes`, client rows) summed per node on
the same intervals (a command counts in the interval holding the middle of its second, or the
first or last interval for a second the capture's first or last reading cuts), or, for
a node without polls (older captures, plain logs), on fixed bins from the window's start.

**Per UTC minute** (CloudWatch's 60 s periods): estimated sums per minute; measured intervals
pro-rated over the minutes they overlap; with `--cloudwatch`, `NetworkBytesOut` per minute
(host-level: it includes replication and cluster-bus traffic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from hotshard.analyze.measure.reconcile import measured_intervals
from hotshard.capture.format.manifest import Manifest

if TYPE_CHECKING:
    from hotshard.analyze.findings.rollups import Rollups
    from hotshard.analyze.read.window import Window

# Bin widths for nodes without polls: the smallest that keeps a series to MAX_BINS points.
BIN_CHOICES = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
MAX_BINS = 240
MAX_MINUTES = 7 * 24 * 60  # a per-minute grid longer than this keeps only minutes with data

INTERVAL_SCHEMA: dict[str, pl.DataType] = {
    "node": pl.String(),
    "shard": pl.String(),
    "role": pl.String(),
    "start": pl.Float64(),  # epoch seconds
    "end": pl.Float64(),
    "commands": pl.Int64(),  # client commands seen in the MONITOR stream
    "est_bytes_out": pl.Int64(),  # their estimated reply bytes (null: none estimated)
    "measured_bytes_out": pl.Int64(),  # the server's counters, corrected (null: no polls)
    "commands_processed": pl.Int64(),  # Δ total_commands_processed (the capture's own too)
}
MINUTE_SCHEMA: dict[str, pl.DataType] = {
    "node": pl.String(),
    "shard": pl.String(),
    "role": pl.String(),
    "minute": pl.Int64(),  # epoch seconds of the UTC minute's start
    "commands": pl.Int64(),
    "est_bytes_out": pl.Int64(),
    "measured_bytes_out": pl.Int64(),  # pro-rated from the poll intervals
    "cloudwatch_bytes_out": pl.Float64(),  # NetworkBytesOut, Sum over the minute
}


@dataclass(frozen=True)
class Timeline:
    """Per node: `intervals` (INTERVAL_SCHEMA) and `minutes` (MINUTE_SCHEMA), sorted by node."""

    intervals: pl.DataFrame
    minutes: pl.DataFrame
    bin_seconds: int  # width of the fixed bins of nodes without polls
    measured: bool  # some node has measured intervals
    cloudwatch: bool  # CloudWatch's minutes were fetched

    def node_rates(self, node: str, column: str) -> list[tuple[float, float, float | None]]:
        """(start, end, bytes per second) of `column` for one node, in time order."""
        df = self.intervals.filter(pl.col("node") == node).sort("start")
        return [
            (s, e, (v / (e - s)) if v is not None and e > s else None)
            for s, e, v in df.select("start", "end", column).iter_rows()
        ]


def bin_seconds(duration: float) -> int:
    """The fixed bin width for a window of `duration` seconds (at most MAX_BINS bins)."""
    wide = 3600 * math.ceil(duration / MAX_BINS / 3600)  # whole hours: a window of days or years
    return next((b for b in BIN_CHOICES if duration / b <= MAX_BINS), wide)


def build(
    r: Rollups,
    window: Window,
    manifests: list[Manifest],
    cloudwatch: pl.DataFrame | None = None,
) -> Timeline:
    """The per-node series of one analysis (module docstring). `cloudwatch` is
    `cloudwatch.fetch_network_bytes_out`'s frame when fetched."""
    bytes_basis = r.basis == "bytes"
    per_second = r.node_series
    first = _number(per_second["second"].min()) if per_second.height else None
    last = _number(per_second["second"].max()) if per_second.height else None
    start = window.start if window.start is not None else first
    end = window.end if window.end is not None else (last + 1 if last is not None else None)
    captured = {n.node: n for m in manifests for n in m.nodes if n.monitored}
    nodes = r.nodes.select("node", "shard", "role").unique().sort("node", "shard", "role")
    if start is None or end is None or nodes.is_empty():
        empty = Timeline(
            pl.DataFrame(schema=INTERVAL_SCHEMA),
            pl.DataFrame(schema=MINUTE_SCHEMA),
            0,
            False,
            False,
        )
        return empty
    width = bin_seconds(max(end - start, 1.0))
    origin = math.floor(start)
    # Counts are per whole second: a bin is never shorter than the second it sums (200 commands
    # in 2 ms are 200 commands in that second, not 100,000 per second).
    bins_end = float(max(math.ceil(end), origin + 1))
    frames = []
    for node, shard, role in nodes.iter_rows():
        seconds = per_second.filter((pl.col("node") == node) & (pl.col("shard") == shard))
        measured = [
            m
            for m in (measured_intervals(captured[node]) if node in captured else [])
            if m["end"] > start and m["start"] < end  # those the analyzed window overlaps
        ]
        if measured:
            bounds = pl.Series([measured[0]["start"], *(m["end"] for m in measured)])
            middles = seconds["second"].cast(pl.Float64) + 0.5
            index = bounds.search_sorted(middles, side="right").cast(pl.Int64) - 1
            # A second cut by the first or last reading belongs to the interval it touches.
            index = index.clip(0, len(measured) - 1)
            spans = pl.DataFrame(measured).with_row_index("i")
        else:
            count = max(1, math.ceil((bins_end - origin) / width))
            index = (seconds["second"] - origin) // width
            spans = pl.DataFrame(
                {
                    "i": range(count),
                    "start": [float(origin + k * width) for k in range(count)],
                    "end": [float(min(origin + (k + 1) * width, bins_end)) for k in range(count)],
                    "measured_bytes_out": [None] * count,
                    "commands_processed": [None] * count,
                },
                schema_overrides={"measured_bytes_out": pl.Int64, "commands_processed": pl.Int64},
            )
        sums = (
            seconds.with_columns(i=index)
            .filter(pl.col("i") >= 0)
            .with_columns(pl.col("i").cast(pl.UInt32))
            .group_by("i")
            .agg(pl.col("commands", "est_bytes_out", "bytes_known").sum())
        )
        frames.append(
            spans.with_columns(pl.col("i").cast(pl.UInt32))
            .join(sums, on="i", how="left")
            .with_columns(
                node=pl.lit(node),
                shard=pl.lit(shard),
                role=pl.lit(role),
                commands=pl.col("commands").fill_null(0),
                est_bytes_out=pl.when((pl.col("bytes_known") > 0) & pl.lit(bytes_basis)).then(
                    pl.col("est_bytes_out")
                ),
            )
            .select(list(INTERVAL_SCHEMA))
            .cast(INTERVAL_SCHEMA)  # type: ignore[arg-type]
        )
    intervals = pl.concat(frames).sort("node", "shard", "start")
    minutes = _minutes(per_second, intervals, nodes, start, end, bytes_basis, cloudwatch)
    return Timeline(
        intervals=intervals,
        minutes=minutes,
        bin_seconds=width,
        measured=bool(intervals["measured_bytes_out"].is_not_null().any()),
        cloudwatch=cloudwatch is not None,
    )


def _minutes(
    per_second: pl.DataFrame,
    intervals: pl.DataFrame,
    nodes: pl.DataFrame,
    start: float,
    end: float,
    bytes_basis: bool,
    cloudwatch: pl.DataFrame | None,
) -> pl.DataFrame:
    first, last = math.floor(start / 60) * 60, math.ceil(end / 60) * 60
    every = range(first, max(last, first + 60), 60)
    if len(every) > MAX_MINUTES:  # a window of weeks (a clock that jumped): the minutes with data
        seen = per_second.select(minute=pl.col("second") // 60 * 60).unique()["minute"]
        minutes = pl.DataFrame({"minute": seen.filter((seen >= first) & (seen < last)).sort()})
    else:
        minutes = pl.DataFrame({"minute": list(every)})
    grid = nodes.join(minutes.cast(pl.Int64), how="cross")
    est = (
        per_second.filter((pl.col("second") >= math.floor(start)) & (pl.col("second") < end))
        .group_by("node", "shard", minute=pl.col("second") // 60 * 60)
        .agg(pl.col("commands", "est_bytes_out", "bytes_known").sum())
        .with_columns(
            est_bytes_out=pl.when((pl.col("bytes_known") > 0) & pl.lit(bytes_basis)).then(
                pl.col("est_bytes_out")
            )
        )
        .drop("bytes_known")
    )
    # Each measured interval spread over the minutes it overlaps, in proportion to the overlap.
    shares: dict[tuple[str, str, int], float] = {}
    for node, shard, s, e, value in intervals.select(
        "node", "shard", "start", "end", "measured_bytes_out"
    ).iter_rows():
        if value is None or e <= s:
            continue
        minute = math.floor(s / 60) * 60
        while minute < e:
            overlap = min(e, minute + 60) - max(s, minute)
            if overlap > 0:
                key = (node, shard, minute)
                shares[key] = shares.get(key, 0.0) + value * overlap / (e - s)
            minute += 60
    measured = pl.DataFrame(
        [(n, sh, m, round(v)) for (n, sh, m), v in sorted(shares.items())],
        schema={
            "node": pl.String,
            "shard": pl.String,
            "minute": pl.Int64,
            "measured_bytes_out": pl.Int64,
        },
        orient="row",
    )
    out = grid.join(est, on=["node", "shard", "minute"], how="left").join(
        measured, on=["node", "shard", "minute"], how="left"
    )
    if cloudwatch is not None and cloudwatch.height:
        cw = (
            cloudwatch.select(
                "node",
                minute=(pl.col("ts").dt.epoch("s") // 60 * 60).cast(pl.Int64),
                cloudwatch_bytes_out=pl.col("bytes_out"),
            )
            .group_by("node", "minute")
            .agg(pl.col("cloudwatch_bytes_out").sum())
        )
        out = out.join(cw, on=["node", "minute"], how="left")
    else:
        out = out.with_columns(cloudwatch_bytes_out=pl.lit(None, pl.Float64))
    return (
        out.with_columns(pl.col("commands").fill_null(0))
        .select(list(MINUTE_SCHEMA))
        .cast(MINUTE_SCHEMA)  # type: ignore[arg-type]
        .sort("node", "shard", "minute")
    )


def _number(value: object) -> float | None:
    """A numeric aggregate of a Series as a float (Polars types it as any scalar)."""
    return None if value is None else float(value)  # type: ignore[arg-type]
