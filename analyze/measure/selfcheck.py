"""The self-check every report carries: does the estimate explain what the server measured?

Per monitored node with a measured figure (analyze/measure/reconcile.py), the whole estimate of its
client bytes out — modelled replies (by confidence) plus what MONITOR does not show
(analyze/measure/unshown.py) — is divided by the measured bytes. A node off by more than the tolerance
(`--tolerance`, 5%) is named in words, and the breakdown says where its measured bytes went:
modelled replies, each part not shown by MONITOR, and what is left unexplained. Replication
output stays its own figure, beside the measured Δ `total_net_repl_output_bytes`.

A sub-window (`--since/--until`) is checked like with like: per node, between the two INFO
readings (the polls of capture/poll.py, or the before/after snapshots) nearest its edges inside
it; the estimate is the rows between those readings, and the parts counted only by the
before/after snapshots (errors, admin commands, a replica's acks) are pro-rated by time. The
check says how far the readings are from the window's edges. Without readings inside the
window a node is unmeasured there: the self-check covers the whole capture only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from hotshard.analyze import humanize, schema
from hotshard.analyze.measure import unshown
from hotshard.analyze.measure.unshown import Part, Replication
from hotshard.capture.format.manifest import Manifest, NodeCapture

TOLERANCE = 0.05  # default: estimate within 5% of measured
MIN_SHARE = 0.01  # the verdict names off nodes above this share of the measured bytes out
MODELLED = schema.MODELLED  # reply confidences with bytes


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
    modelled_commands: dict[str, int] = field(default_factory=dict)  # client commands, same keys
    # A sub-window: the readings the check runs between (None: the whole capture).
    span: tuple[float, float] | None = None

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
class SubWindow:
    """The window asked (`--since/--until`) when it cuts the capture, and whether the nodes
    had readings (INFO polls) to check it with."""

    since: float
    until: float
    polled: bool  # some node has two readings inside the window

    def edges(self, span: tuple[float, float]) -> tuple[float, float]:
        """How far (seconds) a check's readings are inside the window's edges."""
        return span[0] - self.since, self.until - span[1]


@dataclass(frozen=True)
class SelfCheck:
    tolerance: float = TOLERANCE
    nodes: list[NodeCheck] = field(default_factory=list)
    window: SubWindow | None = None

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
        if self.window is not None and not self.window.polled:
            return (
                "Self-check: the time window asked (--since/--until) cuts the capture and no "
                "INFO polls fall inside it, so the self-check covers the whole capture only: "
                "analyze without --since/--until to check the estimate (or capture with "
                "--poll-interval)."
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
                + self.window_text
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
            + self.window_text
        )

    @property
    def window_text(self) -> str:
        """For a sub-window: what the check compared, and how near the window's edges."""
        if self.window is None:
            return ""
        spans = [n.span for n in self.measured if n.span is not None]
        if not spans:
            return ""
        inner = [self.window.edges(s) for s in spans]
        first, last = max(e[0] for e in inner), max(e[1] for e in inner)
        return (
            f" Over the time window asked, each node is checked between its INFO readings "
            f"nearest the window's edges inside it (at most {first:.1f} s after its start and "
            f"{last:.1f} s before its end); errors and admin commands, counted only over the "
            f"whole capture, are pro-rated by time."
        )


def _modelled(rows: pl.DataFrame, node: str) -> tuple[dict[str, int], dict[str, int], int]:
    """Reply bytes and client commands by confidence, and the commands left unsized."""
    mine = rows.filter((pl.col("node") == node) & (pl.col("origin") == schema.ORIGIN_CLIENT))
    kinds = [
        *MODELLED,
        *sorted(set(mine["reply_confidence"].to_list()) - {*MODELLED, "unknown", "none"}),
    ]
    modelled, commands = {}, {}
    for c in kinds:
        of = mine.filter(pl.col("reply_confidence") == c)
        modelled[c] = int(of["reply_bytes"].sum() or 0)
        commands[c] = int(of["rows"].sum() or 0)
    return modelled, commands, int(mine["unsized"].sum() or 0)


def build(
    manifests: Sequence[Manifest],
    rows: pl.LazyFrame,
    commands_reply: list[Any] | None,
    tolerance: float = TOLERANCE,
    window: tuple[float | None, float | None] = (None, None),
) -> SelfCheck:
    """The self-check of an analysis: one `NodeCheck` per monitored node of every manifest.
    `window`: the `--since/--until` asked (epoch seconds; None: open)."""
    from hotshard.analyze.estimate.replication import replica_counts, write_commands
    from hotshard.analyze.measure.reconcile import measured_bytes_out

    if not manifests:
        return SelfCheck(tolerance=tolerance)
    sub = _sub_window(manifests, window)
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
            measured, span, node_traffic, node_sharded = (
                measured_bytes_out(n),
                None,
                traffic,
                sharded,
            )
            if sub is not None:
                span, measured = _between(n, sub)
                if span is not None:
                    inside = rows.filter((pl.col("ts") >= span[0]) & (pl.col("ts") < span[1]))
                    node_traffic = unshown.traffic(inside)
                    node_sharded = unshown.shard_publishes(inside)
            modelled, commands, unknown = _modelled(node_traffic, n.node)
            parts = unshown.node_parts(m, n, node_traffic, node_sharded, hidden)
            if span is not None:
                parts = _pro_rated(parts, n, span)
            checks.append(
                NodeCheck(
                    node=n.node,
                    shard=n.shard,
                    role=n.role,
                    modelled=modelled,
                    modelled_commands=commands,
                    unknown_commands=unknown,
                    parts=tuple(parts),
                    measured=measured,
                    replication=unshown.replication(
                        n, node_traffic, replicas.get(n.node, 0), writes
                    ),
                    span=span,
                )
            )
    total = sum(c.measured or 0 for c in checks)
    checks = [replace(c, share=(c.measured or 0) / total if total else None) for c in checks]
    if sub is not None:
        sub = replace(sub, polled=any(c.span is not None for c in checks))
    return SelfCheck(
        tolerance=tolerance, nodes=sorted(checks, key=lambda c: (c.shard, c.node)), window=sub
    )


def _sub_window(
    manifests: Sequence[Manifest], window: tuple[float | None, float | None]
) -> SubWindow | None:
    """The window asked, when it cuts some node's capture (the before/after snapshots)."""
    since, until = window
    if since is None and until is None:
        return None
    snaps = [
        (n.info_before.at, n.info_after.at)
        for m in manifests
        for n in m.nodes
        if n.monitored and n.info_before is not None and n.info_after is not None
    ]
    if not snaps:
        return None
    start, end = min(s for s, _ in snaps), max(e for _, e in snaps)
    lo = start if since is None else max(since, start)
    hi = end if until is None else min(until, end)
    if lo <= start and hi >= end:
        return None  # the whole capture
    return SubWindow(since=lo, until=hi, polled=False)


def _between(node: NodeCapture, sub: SubWindow) -> tuple[tuple[float, float] | None, int | None]:
    """The first and last readings of `node` inside the window, and the bytes measured between
    them (reconcile.measured_intervals); (None, None) without two readings inside."""
    from hotshard.analyze.measure.reconcile import measured_intervals

    inside = [
        i for i in measured_intervals(node) if i["start"] >= sub.since and i["end"] <= sub.until
    ]
    if not inside:
        return None, None
    values = [i["measured_bytes_out"] for i in inside]
    measured = None if any(v is None for v in values) else sum(values)
    return (inside[0]["start"], inside[-1]["end"]), measured


# Parts counted only by the before/after snapshots (errorstats, commandstats, the acks' clock).
_SNAPSHOT_KINDS = ("rejected", "admin", "replication")


def _pro_rated(parts: list[Part], node: NodeCapture, span: tuple[float, float]) -> list[Part]:
    """`parts` with the snapshot-only ones scaled to the share of the capture `span` covers."""
    if node.info_before is None or node.info_after is None:
        return parts
    whole = node.info_after.at - node.info_before.at
    share = (span[1] - span[0]) / whole if whole > 0 else 1.0
    out = []
    for p in parts:
        if p.kind in _SNAPSHOT_KINDS:
            p = replace(
                p,
                count=round(p.count * share),
                bytes=None if p.bytes is None else round(p.bytes * share),
                basis="pro-rated" if p.bytes is not None else p.basis,
            )
        out.append(p)
    return out


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
                "modelled_commands": dict(sorted(n.modelled_commands.items())),
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
                "span": None
                if n.span is None or check.window is None
                else {
                    "start": n.span[0],
                    "end": n.span[1],
                    "after_since_s": r6(check.window.edges(n.span)[0]),
                    "before_until_s": r6(check.window.edges(n.span)[1]),
                },
            }
        )
    window = None
    if check.window is not None:
        window = {
            "since": check.window.since,
            "until": check.window.until,
            "polled": check.window.polled,
        }
    return {
        "tolerance": check.tolerance,
        "min_share": MIN_SHARE,
        "status": check.status,
        "text": check.text,
        "window": window,
        "nodes": nodes,
    }
