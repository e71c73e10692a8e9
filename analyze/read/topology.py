"""The cluster's topology changing during the window, as the capture read it: a node whose
role changed (a failover: discovery, INFO and the polls disagree) and slots whose owner at the
end is not their owner at the start (a reshard). MONITOR shows no MOVED or ASK reply, so the
stream itself does not tell; Health and the verdict say it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hotshard.analyze import humanize
from hotshard.capture.format import manifest as mf

_INFO_ROLES = {"master": "primary", "slave": "replica"}


@dataclass(frozen=True)
class RoleChange:
    before: str
    after: str
    text: str  # for Health and the verdict
    node: str = ""
    # The last reading in the old role and the first in the new (None: not known)
    last_before: float | None = None
    first_after: float | None = None


def role_change(node: mf.NodeCapture) -> RoleChange | None:
    """A node whose role changed during the window (a failover, REPLICAOF NO ONE): the roles the
    capture read (discovery, the INFO before, each poll's, the INFO after) in time order, and
    the first change, between the two readings that show it."""
    readings: list[tuple[float | None, str]] = [(None, node.role)]
    if node.info_before is not None:
        role = _INFO_ROLES.get(str(node.info_before.sections.get("replication", {}).get("role")))
        if role:
            readings.append((node.info_before.at, role))
    readings += [(p.at, p.role) for p in node.polls if p.role]
    if node.info_after is not None:
        role = _INFO_ROLES.get(str(node.info_after.sections.get("replication", {}).get("role")))
        if role:
            readings.append((node.info_after.at, role))
    for (t0, r0), (t1, r1) in itertools.pairwise(readings):
        if r0 != r1 and r0 in _INFO_ROLES.values() and r1 in _INFO_ROLES.values():
            since = (
                f"between {humanize.timestamp(t0)} and {humanize.timestamp(t1)}"
                if t0 and t1
                else f"by {humanize.timestamp(t1 or 0)}"
            )
            promoted = r1 == "primary"
            text = (
                f"node {node.node} (shard {node.shard}): its role changed from {r0} to {r1} "
                f"{since} — a {'failover' if promoted else 'demotion'} during the window; its "
                f"commands before and after are not those of one {r0}, so it is shown as "
                f"{r0}→{r1} and not compared with the shard's other "
                f"{'replicas' if r0 == 'replica' else 'primaries'} as if nothing happened "
                "(the role is read by the capture's polls: MONITOR shows no MOVED, ASK or "
                "READONLY reply, so the stream itself does not tell)"
            )
            return RoleChange(r0, r1, text, node.node, t0, t1)
    return None


@dataclass(frozen=True)
class SlotMoves:
    shards: list[str]  # the shards that lost or gained slots, sorted
    text: str  # for Health
    slots: frozenset[int] = frozenset()  # the slots whose owner changed


def slot_moves(manifest: mf.Manifest) -> SlotMoves | None:
    """Slots whose owner at the end of the window (`slots_after`, re-read by the capture) is
    not their owner at its start (`shards`): a reshard during the window. None when nothing
    moved or the end was not re-read (format < 6)."""
    if not manifest.slots_after:
        return None
    shard_of = {n.node: n.shard for n in manifest.nodes}
    start = {}
    for s in manifest.shards:
        for lo, hi in s.slots:
            start.update(dict.fromkeys(range(lo, hi + 1), s.shard))
    end = {}
    for primary, ranges in manifest.slots_after.items():
        owner = shard_of.get(primary, primary)  # a node the start topology did not know
        for lo, hi in ranges:
            end.update(dict.fromkeys(range(lo, hi + 1), owner))
    moved: dict[tuple[str, str], list[int]] = {}
    for slot in sorted(start.keys() | end.keys()):
        a, b = start.get(slot, "none"), end.get(slot, "none")
        if a != b:
            moved.setdefault((a, b), []).append(slot)
    if not moved:
        return None
    parts = [
        f"{slot_text(slots)} from shard {a} to {'shard ' + b if b in shard_of.values() else b}"
        for (a, b), slots in sorted(moved.items())
    ]
    shards = sorted({x for pair in moved for x in pair if x in shard_of.values()})
    text = (
        "slots changed owner during the window (ownership read before and re-read after "
        "it: MONITOR shows no MOVED or ASK reply): "
        + "; ".join(parts)
        + " — per-shard numbers for those slots are mixed: each command counts for the shard "
        "whose node served it, while slot ranges and the slot plan use the ownership at the "
        f"start; shard{'s' if len(shards) > 1 else ''} {', '.join(shards)} changed"
    )
    return SlotMoves(shards, text, frozenset(s for slots in moved.values() for s in slots))


def slot_text(slots: list[int]) -> str:
    """`slots 5-9, 12 (6 slots)`: consecutive runs."""
    runs: list[list[int]] = []
    for slot in slots:
        if runs and slot == runs[-1][1] + 1:
            runs[-1][1] = slot
        else:
            runs.append([slot, slot])
    shown = ", ".join(f"{lo}-{hi}" if hi > lo else str(lo) for lo, hi in runs[:5])
    more = f", … ({len(runs) - 5} more ranges)" if len(runs) > 5 else ""
    n = len(slots)
    return f"slot{'s' if n > 1 else ''} {shown}{more} ({n} slot{'s' if n > 1 else ''})"
