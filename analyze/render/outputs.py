"""The files an analysis leaves for people and tools: the charts, then every text renderer.

Each renderer is a module with one signature, `render(findings, charts) -> str` (the charts
drawn beside it, for those that link them); `RENDERERS` maps the file each one fills.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from hotshard.analyze.findings.found import Findings
from hotshard.analyze.render import charts, metrics, report, summary
from hotshard.analyze.render.charts import Chart
from hotshard.analyze.store import outfolder

Renderer = Callable[[Findings, Sequence[Chart]], str]
RENDERERS: dict[str, Renderer] = {
    outfolder.REPORT_NAME: report.render,
    outfolder.SUMMARY_NAME: summary.render,
    outfolder.METRICS_NAME: metrics.render,
}


def write(folder: Path, f: Findings) -> list[Chart]:
    """Draw the charts into `folder`, then write each renderer's file; returns the charts."""
    drawn = charts.write(folder, f)
    for name, render in RENDERERS.items():
        (folder / name).write_text(render(f, drawn), encoding="utf-8")
    return drawn
