"""The report's advice sections beyond the recommendations: the network allowance of each node
(analyze/bandwidth.py, with --cloudwatch) and the slot plan (analyze/slotplan.py)."""

from __future__ import annotations

from analyze import bandwidth, planview
from analyze.findings import Findings


def render(f: Findings) -> str:
    """The sections, markdown ("" when there is nothing to say)."""
    parts = (bandwidth.section(f.network), planview.section(f.plan))
    return "\n\n".join(p for p in parts if p)
