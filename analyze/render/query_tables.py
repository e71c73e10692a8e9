"""The findings as the small tables of hotshard.db beside `commands` (for `hotshard query`);
`store/sqlite.py` writes them."""

from __future__ import annotations

from typing import Any

import polars as pl

from hotshard.analyze.findings.found import Findings
from hotshard.capture import __version__


def tables(f: Findings, signatures: pl.DataFrame | None = None) -> dict[str, pl.DataFrame]:
    """The small tables that go into hotshard.db beside `commands`. `signatures` (every
    signature by id) makes the `signatures` table complete: the ranked sums where there are
    some, the id and attributes for all."""
    r = f.rollups
    line_stats = f.line_stats.select(
        [c for c, t in f.line_stats.schema.items() if not isinstance(t, pl.List | pl.Struct)]
    )
    return {
        "shards": r.shards,
        "nodes": r.nodes,
        "shard_commands": r.shard_commands,
        "hot_keys": r.hot_keys,
        "patterns": r.patterns,
        "signatures": r.signatures
        if signatures is None
        else signatures.join(
            r.signatures.drop("command", "key_pattern"), on="signature", how="left"
        ).sort("signature_id"),
        "clients": r.clients,
        "slots": r.slots,
        "series": r.series,
        "large_ops": r.large_ops,
        "line_stats": line_stats,
    }


def info(f: Findings) -> dict[str, Any]:
    """The `info` table: one row of what the analysis was and found."""
    v = f.verdict
    return {
        "tool_version": __version__,
        "basis": f.rollups.basis,
        "estimate": v.estimate,
        "hot_shard": v.hot_shard,
        "verdict": v.status,
        "skew_ratio": None if v.skew is None else round(v.skew, 6),
        "window_start": f.window.start,
        "window_end": f.window.end,
        "duration_s": f.rollups.duration,
    }
