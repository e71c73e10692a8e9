"""Everything one analysis found, in one value: what `report`, `summary` and `sqlite` render.

The pipeline builds it; the renderers only read it, so they can be tested on hand-made findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from hotshard.analyze.findings.rollups import Rollups
from hotshard.analyze.findings.slotplan import Plan
from hotshard.analyze.findings.timeline import Timeline
from hotshard.analyze.findings.verdict import Recommendation, Verdict
from hotshard.analyze.measure.bandwidth import Network
from hotshard.analyze.measure.selfcheck import SelfCheck
from hotshard.analyze.measure.slotstats import SlotMeasure
from hotshard.analyze.read.inputs import InputInfo
from hotshard.analyze.read.window import Window

# Columns of `line_stats` the renderers rely on (the parser may add more).
LINE_STATS_COLUMNS = ("source", "lines_total", "parsed", "skipped", "errors")


@dataclass(frozen=True)
class Findings:
    """Complete when built (findings/build.py): renderers read it, none adds to it."""

    inputs: list[InputInfo]
    window: Window
    line_stats: pl.DataFrame
    rollups: Rollups
    verdict: Verdict
    recommendations: list[Recommendation]
    top: int = 20
    warnings: list[str] = field(default_factory=list)  # capture and analysis warnings, in order
    measured_bytes_out: dict[str, int | None] = field(default_factory=dict)  # node -> bytes
    cloudwatch_bytes_out: dict[str, float] = field(default_factory=dict)  # node -> bytes
    slot_stats: SlotMeasure = field(default_factory=SlotMeasure)  # Valkey's per-slot counters
    database: bool = True  # hotshard.db is written beside the report
    timeline: Timeline | None = (
        None  # bytes out through time per node (analyze/findings/timeline.py)
    )
    self_check: SelfCheck = field(default_factory=SelfCheck)  # estimate vs measured per node
    # Valkey COMMANDLOG large-reply per node: entries, matched, lost (analyze/estimate/logged.py)
    commandlog: list[dict[str, Any]] = field(default_factory=list)
    plan: Plan | None = None  # can moving slots cool the hot shard (analyze/findings/slotplan.py)
    network: Network | None = None  # bytes/s vs node type bandwidth (analyze/measure/bandwidth.py)
    node_ids: dict[str, str] = field(default_factory=dict)  # node -> ElastiCache node id
    # (shard, first slot, last slot) of every range the captures' topology gives, by slot
    slot_ranges: list[tuple[str, int, int]] = field(default_factory=list)
    redaction: str = ""  # how the outputs were redacted (analyze/render/redact.py); "" when not

    def node_label(self, node: str) -> str:
        """A node as CloudWatch names it (its ElastiCache node id) when known, else host:port."""
        return self.node_ids.get(node, node)

    def lines(self) -> dict[str, int]:
        """Line counts over all sources: total, parsed, skipped, errors, truncated (files)."""
        ls = self.line_stats

        def total(col: str) -> int:
            return int(ls[col].sum() or 0) if col in ls.columns else 0

        return {
            "total": total("lines_total"),
            "parsed": total("parsed"),
            "skipped": total("skipped"),
            "errors": total("errors"),
            "truncated_files": total("truncated_last_line"),
        }
