"""The report's advice sections beyond the recommendations: the network allowance of each node
(analyze/measure/bandwidth.py, with --cloudwatch) and the slot plan (analyze/findings/slotplan.py)."""

from __future__ import annotations

from hotshard.analyze.findings.found import Findings
from hotshard.analyze.measure import bandwidth
from hotshard.analyze.render import planview


def render(f: Findings) -> str:
    """The sections, markdown ("" when there is nothing to say)."""
    parts = (bandwidth.section(f.network), planview.section(f.plan))
    return "\n\n".join(p for p in parts if p)
