"""A slot plan (analyze/findings/slotplan.py) as markdown: the report's section and `hotshard plan`'s page.

The ElastiCache layouts are printed as the JSON `NodeGroupConfiguration` takes; the self-managed
moves as the commands that apply them (Redis: `CLUSTER SETSLOT` + `MIGRATE`; Valkey >= 9:
`CLUSTER MIGRATESLOTS`).
"""

from __future__ import annotations

import json

from hotshard.analyze import humanize
from hotshard.analyze.findings.slotplan import MIGRATION_LIMIT, Layout, Plan, Primary

TITLE = "Slot plan"
CAVEAT = (
    "A plan from {window} of traffic is a hypothesis: confirm it with a second capture "
    "(`hotshard diff BEFORE AFTER`) before you reshard, and again after."
)


def _value(plan: Plan, v: float | None) -> str:
    return humanize.size(v) if plan.load.basis == "bytes" else f"{humanize.count(v)} commands"


def _skew(x: float | None) -> str:
    return humanize.ratio(x) if x is not None else "—"


def node_group_configuration(layout: Layout) -> list[dict[str, str]]:
    """The layout in the form `NodeGroupConfiguration` takes (one contiguous range per shard)."""
    return [
        {"NodeGroupId": f"{i:04d}", "Slots": f"{a}-{b}"}
        for i, (a, b) in enumerate(layout.ranges, 1)
    ]


def configuration_json(layout: Layout) -> str:
    """`node_group_configuration` as JSON, one shard a line (for `--node-group-configuration`)."""
    items = [json.dumps(g) for g in node_group_configuration(layout)]
    return "[\n  " + ",\n  ".join(items) + "\n]"


def summary(plan: Plan) -> str:
    """One paragraph: can slots fix it, and the best expected skew."""
    if not plan.before or max(plan.before.values()) == 0:
        return "No client load on any slot: nothing to plan."
    d = plan.dominant
    if d is not None:
        what = (
            f"one key, {humanize.code(d.top_key)}"
            if d.keys <= 1 and d.top_key
            else f"hash tag `{{{humanize.printable(d.tag)}}}` ({humanize.count(d.keys)} keys)"
            if d.tag
            else f"{humanize.count(d.keys)} keys"
        )
        return (
            f"**Resharding cannot help:** slot {d.slot} ({what}) carries "
            f"{humanize.percent(d.share)} of shard {humanize.printable(d.shard)}'s load "
            f"({_value(plan, d.value)}). A slot lives on one shard: wherever it moves, that shard "
            "stays hot. Fix it at the key level (see the recommendations)."
        )
    best = plan.layouts[0] if plan.layouts else None
    parts = [f"Skew now {_skew(plan.skew_before)} (hottest shard / median of the others)."]
    if best is not None:
        parts.append(
            f"Best contiguous layout over {len(best.ranges)} shards: {_skew(best.skew)}, hottest "
            f"{_value(plan, max(best.loads))}."
        )
    if plan.moves:
        reached = "" if plan.reached else " (target not reached)"
        parts.append(
            f"Self-managed: {len(plan.moves)} slot move(s) bring it to "
            f"{_skew(plan.skew_after)}{reached}."
        )
    return " ".join(parts)


def section(plan: Plan | None) -> str:
    """The report's section (empty when there is nothing to plan: one shard, no slots)."""
    if plan is None:
        return ""
    return f"## {TITLE}\n\n" + "\n\n".join(_body(plan, commands=False))


def page(plan: Plan) -> str:
    """`hotshard plan`'s output: the section with the commands that apply it."""
    return "# hotshard plan\n\n" + "\n\n".join(_body(plan, commands=True)) + "\n"


def _body(plan: Plan, commands: bool) -> list[str]:
    out = [summary(plan)]
    if plan.dominant is None and plan.layouts:
        out += _layouts(plan, commands)
        out += _moves(plan, commands)
    out += _guards(plan)
    return out


def _layouts(plan: Plan, commands: bool) -> list[str]:
    rows = ["| Shards | Ranges | Hottest shard | Skew |", "|---:|---|---:|---:|"]
    for layout in plan.layouts:
        ranges = ", ".join(f"{a}-{b}" for a, b in layout.ranges)
        rows.append(
            f"| {len(layout.ranges)} | {ranges} | {_value(plan, max(layout.loads))} | "
            f"{_skew(layout.skew)} |"
        )
    text = (
        "**ElastiCache** rebalances slot *counts* online; a custom layout goes through the "
        "offline path (back up, then create the group from the backup with "
        "`--node-group-configuration`, one contiguous `start-end` range per shard). The "
        "contiguous layouts with the coolest hottest shard, for the current shard count and "
        "with one or two shards added (load tied to no slot spread evenly):"
    )
    out = [text, "\n".join(rows)]
    if commands:
        for layout in plan.layouts:
            loads = ", ".join(_value(plan, v) for v in layout.loads)
            config = configuration_json(layout)
            out.append(
                f"`NodeGroupConfiguration` for {len(layout.ranges)} shards (expected load per "
                f"shard: {loads}; add `ReplicaCount` to each):\n\n{_indent(config)}"
            )
    return out


def _moves(plan: Plan, commands: bool) -> list[str]:
    if not plan.moves:
        return [
            f"**Self-managed**: no slot move needed to bring the hottest shard under "
            f"{_value(plan, plan.target)} (the mean shard load + 10%)."
            if max(plan.before.values()) <= plan.target
            else "**Self-managed**: no slot can move without making another shard the hottest."
        ]
    reached = (
        "which brings the hottest shard under"
        if plan.reached
        else "the closest it gets to (not under)"
    )
    out = [
        f"**Self-managed** (Redis Cluster, Valkey): {len(plan.moves)} slot move(s), "
        f"{reached} {_value(plan, plan.target)} (the mean shard load + 10%)."
    ]
    if plan.held:
        held = ", ".join(str(s) for s in plan.held[:10])
        out[0] += (
            f" Kept in place: slot(s) {held}, the hottest of a node and a large share of it — "
            "moving that slot moves the problem and risks the migration, so the plan moves the "
            "next ones."
        )
    rows = ["| Slot | Load | From | To |", "|---:|---:|---|---|"]
    rows += [
        f"| {m.slot} | {_value(plan, m.value)} | {humanize.printable(m.source)} | "
        f"{humanize.printable(m.target)} |"
        for m in plan.moves
    ]
    out.append("\n".join(rows))
    per_shard = ["| Shard | Now | After |", "|---|---:|---:|"] + [
        f"| {humanize.printable(s)} | {_value(plan, plan.before[s])} | "
        f"{_value(plan, plan.after[s])} |"
        for s in sorted(plan.before)
    ]
    out.append(
        f"Skew {_skew(plan.skew_before)} → {_skew(plan.skew_after)}.\n\n" + "\n".join(per_shard)
    )
    if commands:
        out.append(_commands(plan))
    return out


def _primary(plan: Plan, shard: str) -> Primary:
    return plan.load.primaries.get(shard, Primary())


def _host_port(p: Primary, shard: str) -> tuple[str, str]:
    if p.address:
        host, _, port = p.address.rpartition(":")
        return host.strip("[]"), port
    return f"<shard {shard} primary host>", "<port>"


def _id(p: Primary, shard: str) -> str:
    return p.node_id or f"<shard {shard} primary id>"


def _commands(plan: Plan) -> str:
    valkey9 = [m for m in plan.moves if _is_valkey9(_primary(plan, m.source))]
    script = [
        "move_slot() {  # SLOT FROM_HOST FROM_PORT FROM_ID TO_HOST TO_PORT TO_ID",
        '  redis-cli -h "$5" -p "$6" CLUSTER SETSLOT "$1" IMPORTING "$4"',
        '  redis-cli -h "$2" -p "$3" CLUSTER SETSLOT "$1" MIGRATING "$7"',
        '  while keys=$(redis-cli -h "$2" -p "$3" CLUSTER GETKEYSINSLOT "$1" 100) && [ -n "$keys" ]; do',
        '    redis-cli -h "$2" -p "$3" MIGRATE "$5" "$6" "" 0 5000 KEYS $keys',
        "  done",
        '  redis-cli -h "$2" -p "$3" CLUSTER SETSLOT "$1" NODE "$7"',
        '  redis-cli -h "$5" -p "$6" CLUSTER SETSLOT "$1" NODE "$7"',
        "}",
    ]
    for m in plan.moves:
        src, dst = _primary(plan, m.source), _primary(plan, m.target)
        sh, sp = _host_port(src, m.source)
        dh, dp = _host_port(dst, m.target)
        script.append(
            f"move_slot {m.slot} {_sh(sh)} {_sh(sp)} {_sh(_id(src, m.source))} "
            f"{_sh(dh)} {_sh(dp)} {_sh(_id(dst, m.target))}"
        )
    parts = [
        "Commands (authenticate with `REDISCLI_AUTH`; add `--tls` for in-transit encryption). "
        "Redis, Valkey < 9: `CLUSTER SETSLOT` and `MIGRATE`, one slot at a time:",
        _indent("\n".join(script)),
    ]
    if valkey9 or not plan.load.primaries:
        atomic = []
        for m in plan.moves:
            src, dst = _primary(plan, m.source), _primary(plan, m.target)
            sh, sp = _host_port(src, m.source)
            atomic.append(
                f"valkey-cli -h {_sh(sh)} -p {_sh(sp)} CLUSTER MIGRATESLOTS SLOTSRANGE "
                f"{m.slot} {m.slot} NODE {_sh(_id(dst, m.target))}"
            )
        parts += [
            "Valkey ≥ 9 moves them atomically with `CLUSTER MIGRATESLOTS`, sent to the source "
            "primary:",
            _indent("\n".join(atomic)),
        ]
    return "\n\n".join(parts)


def _indent(text: str) -> str:
    """A markdown code block by indentation (the page may itself sit inside a fenced block)."""
    return "\n".join("    " + line if line else "" for line in text.splitlines())


def _sh(text: str) -> str:
    """Quote a placeholder for the shell; plain addresses and ids stay bare."""
    safe = all(c.isalnum() or c in ".:-_" for c in text)
    return text if safe else "'" + text.replace("'", "'\\''") + "'"


def _is_valkey9(p: Primary) -> bool:
    if p.server != "valkey" or not p.version:
        return False
    try:
        return int(p.version.split(".")[0]) >= 9
    except ValueError:
        return False


def _guards(plan: Plan) -> list[str]:
    start, end = plan.load.window
    window = humanize.duration(plan.load.duration) if plan.load.duration else "an unknown span"
    when = (
        f" ({humanize.timestamp(start)} to {humanize.timestamp(end)})"
        if start is not None and end is not None
        else ""
    )
    basis = (
        "estimated client reply bytes"
        if plan.load.basis == "bytes"
        else "client commands (reply sizes unknown)"
    )
    notes = [
        f"Measured on {window}{when} of traffic, by {basis}, on the monitored nodes.",
        "Write load moves with its slots (and replicates once per replica from the new primary); "
        "the plan balances reads as captured.",
        CAVEAT.format(window=window),
    ]
    if plan.blocked:
        keys = ", ".join(
            f"{humanize.code(k.key)} (slot {k.slot}, {humanize.size(k.memory_usage)})"
            for k in plan.blocked[:5]
        )
        moved = {m.slot for m in plan.moves}
        hit = [k for k in plan.blocked if k.slot in moved]
        notes.append(
            f"Keys over {humanize.size(MIGRATION_LIMIT)} (from sampled `MEMORY USAGE`) block slot "
            f"migration on ElastiCache: {keys}. "
            + (
                "The moves above leave their slots alone."
                if not hit
                else "Their slots are in the plan: split those keys first."
            )
        )
    return ["\n".join(f"- {n}" for n in notes)]
