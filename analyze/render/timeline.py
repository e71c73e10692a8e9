"""Traffic through time, in words: the report's bytes-out section with its sparklines and minute
table, its load-over-time section, the console's line and the summary's record (the model:
findings/timeline.py)."""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from hotshard.analyze import humanize
from hotshard.analyze.findings.found import Findings
from hotshard.analyze.findings.timeline import Timeline
from hotshard.analyze.render import markdown
from hotshard.analyze.render.markdown import sparkline, table

SPARK_WIDTH = 60  # columns of the load sparklines at most


def _rates(t: Timeline, node: str, column: str, width: int) -> list[float | None]:
    """A node's bytes/s of `column`, resampled to `width` columns over the node's span."""
    spans = t.node_rates(node, column)
    if not spans:
        return []
    s0, s1 = spans[0][0], spans[-1][1]
    step = (s1 - s0) / width if s1 > s0 else 1.0
    out: list[float | None] = []
    for k in range(width):
        lo, hi = s0 + k * step, s0 + (k + 1) * step
        total, seen, known = 0.0, 0.0, False
        for s, e, rate in spans:
            overlap = min(e, hi) - max(s, lo)
            if overlap > 0:
                seen += overlap
                if rate is not None:
                    total += rate * overlap
                    known = True
        out.append(total / seen if known and seen else None)
    return out


def sparklines(t: Timeline, width: int = 60) -> list[tuple[str, str, str, float]]:
    """(node, what, sparkline, peak bytes/s) per node and measure (estimated, measured), one
    scale for all rows; one character per interval when they fit in `width`."""
    rows = []
    for node in t.intervals["node"].unique().sort().to_list():
        columns = min(width, t.intervals.filter(pl.col("node") == node).height) or 1
        for what, column in (("estimated", "est_bytes_out"), ("measured", "measured_bytes_out")):
            values = _rates(t, node, column, columns)
            if any(v is not None for v in values):
                rows.append((node, what, values))
    peak = max((v for *_, values in rows for v in values if v is not None), default=0.0)
    return [
        (node, what, sparkline(values, peak), max((v for v in values if v is not None), default=0))
        for node, what, values in rows
    ]


def section(f: Findings, chart: str | None) -> str:
    """The report's "Bytes out over time" section (`chart`: the image's markdown, if any)."""
    t = f.timeline
    if t is None or t.intervals.is_empty():
        return ""
    lines = sparklines(t)
    parts = ["## Bytes out over time"]
    if chart:
        parts.append(chart)
    if lines:
        label = max(len(n) for n, *_ in lines)
        text = [
            f"{node.ljust(label)} {what:<9} {spark} peak {humanize.size(peak)}/s"
            for node, what, spark, peak in lines
        ]
        parts.append("```text\n" + "\n".join(text) + "\n```")
    how = (
        "measured from the server's INFO counters polled during the capture (replication and the "
        "capture's own traffic taken out; the intervals add up to the node's measured total)"
        if t.measured
        else f"no INFO polls in this input (a plain log, a capture before format 4, or --poll-interval 0): "
        f"estimated only, in {t.bin_seconds} s bins"
    )
    parts.append(
        f"Client bytes out per second per node: estimated from the commands seen, {how}; all "
        "rows share one scale; a blank is nothing (or nothing known)."
    )
    table = _minute_table(f)
    if table:
        parts.append(table)
    return "\n\n".join(parts)


def _minute_table(f: Findings, limit: int = 60) -> str:
    """Per UTC minute and node, in CloudWatch's unit (NetworkBytesOut: bytes, Sum per minute), so
    a row can be read against the node's CloudWatch graph. Busiest nodes first."""
    t = f.timeline
    assert t is not None
    df = t.minutes
    if df.is_empty():
        return ""
    order = (
        df.group_by("node")
        .agg(
            weight=pl.max_horizontal(
                pl.col("est_bytes_out").sum(), pl.col("measured_bytes_out").sum()
            )
        )
        .sort(["weight", "node"], descending=[True, False], nulls_last=True)
        .with_row_index("rank")
    )
    df = df.join(order.select("node", "rank"), on="node").sort("rank", "minute")
    rows = [
        [
            humanize.timestamp(m)[11:16] + " UTC",
            humanize.code(f.node_label(node)),
            humanize.code(shard),
            role,
            humanize.count(c),
            humanize.count(est),
            humanize.count(meas),
            humanize.count(cw),
        ]
        for node, shard, role, m, c, est, meas, cw in df.head(limit)
        .select(
            "node",
            "shard",
            "role",
            "minute",
            "commands",
            "est_bytes_out",
            "measured_bytes_out",
            "cloudwatch_bytes_out",
        )
        .iter_rows()
    ]
    more = (
        f"\n\n{df.height - limit} more node-minute(s) in `summary.json` (`timeline.minutes`)."
        if df.height > limit
        else ""
    )
    labelled = (
        "nodes by their ElastiCache node id"
        if f.node_ids
        else "nodes by host:port: no ElastiCache node id known"
    )
    head = (
        "Per UTC minute and node, in CloudWatch's unit — `NetworkBytesOut` is bytes, Sum per "
        f"minute, per node ({labelled}). A minute the capture covers only in part holds only "
        "that part here; CloudWatch's holds the whole minute, and also replication and cluster "
        "bus traffic:"
    )
    headers = [
        "Minute",
        "Node",
        "Shard",
        "Role",
        "Commands",
        "Estimated bytes",
        "Measured bytes",
        "CloudWatch bytes",
    ]
    return head + "\n\n" + table(headers, rows, "llllrrrr") + more


def console_line(f: Findings, width: int = 40) -> str | None:
    """Bytes out through time of the busiest node, for the console summary."""
    t = f.timeline
    if t is None or t.intervals.is_empty():
        return None
    totals = (
        t.intervals.group_by("node")
        .agg(pl.col("est_bytes_out").sum(), pl.col("commands").sum())
        .sort(
            ["est_bytes_out", "commands", "node"], descending=[True, True, False], nulls_last=True
        )
    )
    node = totals["node"][0]
    column = "measured_bytes_out" if t.measured else "est_bytes_out"
    width = min(width, t.intervals.filter(pl.col("node") == node).height) or 1
    values = _rates(t, node, column, width)
    known = [v for v in values if v is not None]
    if not known:
        return None
    what = "measured" if t.measured else "estimated"
    return (
        f"Bytes out/s, {node} ({what}): {sparkline(values, max(known))} "
        f"peak {humanize.size(max(known))}/s"
    )


# -- summary.json ----------------------------------------------------------------------------
def summary(t: Timeline | None) -> dict[str, Any] | None:
    """The `timeline` object of summary.json (docs/SUMMARY_SCHEMA.md)."""
    if t is None:
        return None

    def records(df: pl.DataFrame) -> list[dict[str, Any]]:
        return [
            {k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}
            for row in df.iter_rows(named=True)
        ]

    return {
        "measured": t.measured,
        "cloudwatch": t.cloudwatch,
        "bin_seconds": t.bin_seconds,
        "intervals": records(t.intervals),
        "minutes": records(t.minutes),
    }


def load_section(f: Findings) -> str:
    """The report's "Load over time": client ops/s per shard as sparklines on one scale."""
    r = f.rollups
    series = r.series
    if series.is_empty():
        return ""
    first, last = series["second"].min(), series["second"].max()
    start = math.floor(f.window.start if f.window.start is not None else float(first))  # type: ignore[arg-type]
    end = int(last) + 1  # type: ignore[arg-type]
    if f.window.end is not None:
        end = max(end, math.ceil(f.window.end))
    span = max(end - start, 1)
    bucket = max(1, math.ceil(span / SPARK_WIDTH))
    width = math.ceil(span / bucket)
    grid = (
        series.with_columns(b=((pl.col("second") - start) // bucket).clip(0, width - 1))
        .group_by("shard", "b")
        .agg(pl.col("commands").sum())
        .with_columns(ops=pl.col("commands") / bucket)
        .sort("shard", "b")
    )
    peak = float(grid["ops"].max() or 0)  # type: ignore[arg-type]
    shards = r.shards["shard"].sort().to_list()
    label = max((len(s) for s in shards), default=4)
    lines = []
    for shard in shards:
        values = [0.0] * width
        for b, ops in grid.filter(pl.col("shard") == shard).select("b", "ops").iter_rows():
            values[b] = ops
        top_ops = max(values)
        lines.append(
            f"{shard.ljust(label)} {sparkline(values, peak)} peak {humanize.rate(top_ops)} ops/s"
        )
    unit = f"{bucket} s" if bucket > 1 else "1 s"
    note = (
        f"Client ops/s per shard, one character per {unit} from {humanize.timestamp(start)}; "
        f"all rows share one scale (█ = {humanize.rate(peak)} ops/s); a blank is no traffic."
    )
    return markdown.section("Load over time", "```text\n" + "\n".join(lines) + "\n```", note)
