"""The self-check every report carries: does the estimate explain what the server measured?

Per monitored node with a measured figure (analyze/reconcile.py), the whole estimate of its
client bytes out — modelled replies (by confidence) plus what MONITOR does not show
(analyze/unshown.py) — is divided by the measured bytes. A node off by more than the tolerance
(`--tolerance`, 5%) is named in words, and the breakdown says where its measured bytes went:
modelled replies, each part not shown by MONITOR, and what is left unexplained. Replication
output stays its own figure, beside the measured Δ `total_net_repl_output_bytes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from analyze import humanize, schema, unshown
from analyze.unshown import Part, Replication
from capture.format.manifest import Manifest

TOLERANCE = 0.05  # default: estimate within 5% of measured
MIN_SHARE = 0.01  # the verdict names off nodes above this share of the measured bytes out
MODELLED = ("exact", "sampled", "interpolated", "pattern", "script")  # reply confidences with bytes


@dataclass(frozen=True)
class NodeCheck:
    node: str
    shard: str
    role: str
    modelled: dict[str, int]  # reply bytes by confidence
    unknown_commands: int  # client commands the model left unsized
    parts: tuple[Part, ...]
    measured: int | None
    replication: Replication
    share: float | None = None  # of the measured bytes out of every checked node

    @property
    def modelled_bytes(self) -> int:
        return sum(self.modelled.values())

    @property
    def not_shown_bytes(self) -> int:
        return sum(p.bytes or 0 for p in self.parts)

    @property
    def estimated(self) -> int:
        return self.modelled_bytes + self.not_shown_bytes

    @property
    def ratio(self) -> float | None:
        return self.estimated / self.measured if self.measured else None

    @property
    def unexplained(self) -> int | None:
        return None if self.measured is None else self.measured - self.estimated

    def within(self, tolerance: float) -> bool | None:
        r = self.ratio
        return None if r is None else abs(r - 1) <= tolerance


@dataclass(frozen=True)
class SelfCheck:
    tolerance: float = TOLERANCE
    nodes: list[NodeCheck] = field(default_factory=list)

    def node(self, name: str) -> NodeCheck | None:
        return next((n for n in self.nodes if n.node == name), None)

    @property
    def measured(self) -> list[NodeCheck]:
        return [n for n in self.nodes if n.ratio is not None]

    def off(self, min_share: float = MIN_SHARE) -> list[NodeCheck]:
        """Measured nodes off by more than the tolerance, above `min_share` of the traffic."""
        return [
            n for n in self.measured if not n.within(self.tolerance) and (n.share or 0) >= min_share
        ]

    @property
    def status(self) -> str:
        if not self.measured:
            return "unmeasured"
        return "off" if self.off() else "ok"

    @property
    def text(self) -> str:
        """The sentence the report puts under its verdict."""
        tol = humanize.percent(self.tolerance)
        if not self.nodes:
            return (
                "Self-check: no measured figure to compare with (plain MONITOR logs carry no "
                "server counters; a capture folder does)."
            )
        if not self.measured:
            return (
                "Self-check: no node has a measured figure (INFO before and after the window "
                "missing, or the server restarted), so the estimate is unchecked."
            )
        off = self.off()
        if not off:
            big = [n for n in self.measured if (n.share or 0) >= MIN_SHARE] or self.measured
            worst = max(big, key=lambda n: (abs((n.ratio or 1) - 1), n.node))
            return (
                f"Self-check: the estimate is within {tol} of the measured bytes out on every "
                f"node above {humanize.percent(MIN_SHARE)} of the traffic "
                f"({len(self.measured)} measured; furthest {worst.ratio:.3f}× on {worst.node})."
            )
        words = []
        for n in off:
            gap = n.unexplained or 0
            where = "unexplained" if gap > 0 else "estimated beyond what the server sent"
            words.append(
                f"node {n.node} (shard {n.shard}, {n.role}) is at {n.ratio:.3f}× of its "
                f"measured bytes out: {humanize.size(abs(gap))} "
                f"({humanize.percent(abs(gap) / (n.measured or 1))}) {where}"
            )
        return (
            f"Self-check: the estimate is off by more than {tol} — "
            + "; ".join(words)
            + ". See the Self-check section for where the bytes went."
        )


def _modelled(rows: pl.DataFrame, node: str) -> tuple[dict[str, int], int]:
    mine = rows.filter((pl.col("node") == node) & (pl.col("origin") == schema.ORIGIN_CLIENT))
    modelled = {
        c: int(mine.filter(pl.col("reply_confidence") == c)["reply_bytes"].sum() or 0)
        for c in MODELLED
    }
    for c in sorted(set(mine["reply_confidence"].to_list()) - {*MODELLED, "unknown", "none"}):
        modelled[c] = int(mine.filter(pl.col("reply_confidence") == c)["reply_bytes"].sum() or 0)
    return modelled, int(mine["unsized"].sum() or 0)


def build(
    manifests: Sequence[Manifest],
    rows: pl.LazyFrame,
    commands_reply: list[Any] | None,
    tolerance: float = TOLERANCE,
) -> SelfCheck:
    """The self-check of an analysis: one `NodeCheck` per monitored node of every manifest."""
    from analyze.reconcile import measured_bytes_out
    from analyze.replies import replica_counts, write_commands

    if not manifests:
        return SelfCheck(tolerance=tolerance)
    traffic = unshown.traffic(rows)
    sharded = unshown.shard_publishes(rows)
    hidden = unshown.hidden_commands(commands_reply)
    writes = write_commands(commands_reply)
    checks = []
    for m in manifests:
        replicas = replica_counts(m)
        for n in m.nodes:
            if not n.monitored:
                continue
            modelled, unknown = _modelled(traffic, n.node)
            checks.append(
                NodeCheck(
                    node=n.node,
                    shard=n.shard,
                    role=n.role,
                    modelled=modelled,
                    unknown_commands=unknown,
                    parts=tuple(unshown.node_parts(m, n, traffic, sharded, hidden)),
                    measured=measured_bytes_out(n),
                    replication=unshown.replication(n, traffic, replicas.get(n.node, 0), writes),
                )
            )
    total = sum(c.measured or 0 for c in checks)
    checks = [replace(c, share=(c.measured or 0) / total if total else None) for c in checks]
    return SelfCheck(tolerance=tolerance, nodes=sorted(checks, key=lambda c: (c.shard, c.node)))


def to_json(check: SelfCheck) -> dict[str, Any]:
    """`summary.json`'s `self_check` (docs/SUMMARY_SCHEMA.md)."""

    def r6(v: float | None) -> float | None:
        return None if v is None else round(v, 6)

    nodes = []
    for n in check.nodes:
        gap = n.unexplained
        nodes.append(
            {
                "node": n.node,
                "shard": n.shard,
                "role": n.role,
                "share": r6(n.share),
                "est_bytes_out": n.estimated,
                "measured_bytes_out": n.measured,
                "ratio": r6(n.ratio),
                "within": n.within(check.tolerance),
                "modelled": dict(sorted(n.modelled.items())),
                "unknown_commands": n.unknown_commands,
                "not_shown": [
                    {
                        "kind": p.kind,
                        "name": p.name,
                        "count": p.count,
                        "bytes": p.bytes,
                        "basis": p.basis,
                    }
                    for p in n.parts
                ],
                "not_shown_bytes": n.not_shown_bytes,
                "unexplained_bytes": gap,
                "unexplained_share": r6(gap / n.measured)
                if gap is not None and n.measured
                else None,
                "replication": {
                    "estimated": n.replication.estimated,
                    "measured": n.replication.measured,
                },
            }
        )
    return {
        "tolerance": check.tolerance,
        "min_share": MIN_SHARE,
        "status": check.status,
        "text": check.text,
        "nodes": nodes,
    }
