"""The report's self-check: per node, the estimate against what the server measured, and where
the measured bytes went (the model: measure/selfcheck.py)."""

from __future__ import annotations

from typing import Any

from hotshard.analyze import humanize
from hotshard.analyze.findings.found import Findings
from hotshard.analyze.measure import selfcheck
from hotshard.analyze.render import markdown
from hotshard.analyze.render.markdown import table

code = humanize.code


_PART_NAMES = {
    "rejected": "rejected before running",
    "admin": "admin command",
    "info": "INFO",
    "command": "COMMAND",
    "pubsub": "Pub/Sub",
    "replication": "replica to primary",
}


def section(f: Findings) -> str:
    check = f.self_check
    if not check.nodes:
        return ""
    rows = []
    for n in check.nodes:
        gap = n.unexplained
        rows.append(
            [
                code(n.node),
                code(n.shard),
                n.role,
                humanize.percent(n.share),
                humanize.size(n.estimated),
                humanize.size(n.measured),
                "—" if n.ratio is None else f"{n.ratio:.3f}×",
                humanize.size(gap)
                if gap is not None and gap >= 0
                else ("-" + humanize.size(-gap) if gap is not None else None),
                humanize.percent(gap / n.measured) if gap is not None and n.measured else None,
            ]
        )
    headers = [
        "Node",
        "Shard",
        "Role",
        "Share",
        "Estimated",
        "Measured",
        "Est. ÷ measured",
        "Unexplained",
        "Unexplained share",
    ]
    body = [
        table(headers, rows, "lllrrrrrr"),
        "Estimated: modelled replies plus what MONITOR does not show (errors of rejected "
        "commands, admin commands, INFO, Pub/Sub pushes), from the server's own counters. "
        f"Nodes off by more than {humanize.percent(check.tolerance)} (`--tolerance`) above "
        f"{humanize.percent(selfcheck.MIN_SHARE)} of the traffic get a breakdown below.",
    ]
    for n in check.off():
        body.append(_breakdown(n))
    return markdown.section("Self-check", *body)


def _breakdown(n: selfcheck.NodeCheck) -> str:
    measured = n.measured or 0

    def share(b: int | None) -> str | None:
        return humanize.percent(b / measured) if b is not None and measured else None

    rows: list[list[Any]] = []
    for conf, b in n.modelled.items():
        count = n.modelled_commands.get(conf)
        rows.append(
            [
                f"modelled replies, {conf}",
                humanize.count(count) if count else "",
                humanize.size(b),
                share(b),
                conf,
            ]
        )
    if n.unknown_commands:
        rows.append(
            ["modelled replies, unknown", humanize.count(n.unknown_commands), "—", None, "none"]
        )
    for p in n.parts:
        rows.append(
            [
                f"not shown by MONITOR: {_PART_NAMES.get(p.kind, p.kind)} {code(p.name)}",
                humanize.count(p.count),
                humanize.size(p.bytes) if p.bytes is not None else "—",
                share(p.bytes),
                p.basis,
            ]
        )
    gap = n.unexplained
    rows.append(
        [
            "**unexplained**",
            "",
            humanize.size(gap)
            if gap is not None and gap >= 0
            else f"-{humanize.size(-(gap or 0))}",
            share(gap),
            "",
        ]
    )
    repl = n.replication
    note = (
        f"Replication, its own figure (not client bytes): estimated "
        f"{humanize.size(repl.estimated)}, measured {humanize.size(repl.measured)}."
        if n.role == "primary"
        else ""
    )
    head = f"### Where the measured bytes of {code(n.node)} went ({n.ratio:.3f}× explained)"
    parts = [head, table(["Part", "Count", "Bytes", "Of measured", "Sized by"], rows, "lrrrl")]
    return "\n\n".join(p for p in (*parts, note) if p)
