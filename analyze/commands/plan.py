"""`hotshard plan`: the slot plan of an analysis output (or of a capture folder or logs,
analyzed first), from its rows (`findings/slotload.py`)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from hotshard.analyze.commands.analysis import open_analysis
from hotshard.analyze.findings import slotplan
from hotshard.analyze.findings.slotload import from_rows
from hotshard.analyze.findings.slotplan import Plan
from hotshard.analyze.render import planview
from hotshard.analyze.store.outfolder import KEY_SIZES_NAME
from hotshard.capture.format import manifest as manifest_format


def run_plan(target: str, goal: float = slotplan.TARGET, quiet: bool = True) -> Plan:
    """Print the slot plan of `target` (an analysis output, a capture folder or logs)."""
    path = Path(target)
    manifests = [manifest_format.read(path)] if manifest_format.is_capture_folder(path) else []
    with open_analysis(target, quiet=quiet) as a:
        window = a.summary.get("window", {})
        sizes = a.folder / KEY_SIZES_NAME
        load = from_rows(
            a.commands(),
            str(a.summary.get("basis", "bytes")),
            (window.get("start"), window.get("end")),
            a.duration,
            manifests,
            pl.read_parquet(sizes) if sizes.is_file() else None,
            (a.summary.get("hot_shard") or {}).get("values"),
        )
    plan = slotplan.build(load, goal)
    print(planview.page(plan), end="")
    return plan
