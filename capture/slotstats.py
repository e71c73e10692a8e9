"""Valkey's per-slot counters (`CLUSTER SLOT-STATS`, Valkey >= 8.0), a cross-check of the estimate.

Read on every watched node just outside the INFO snapshots — before the "before" INFO, after the
"after" one — so their replies never enter the bytes-out reconciliation (docs/RECONCILE.md). One
slot is asked first: no such command, an ACL without `+cluster|slot-stats`, or
`cluster-slot-stats-enabled no` each end as a note in the manifest, never as a failed capture.
A node reports the slots of its shard only; on a primary, `network-bytes-out` includes the
replication stream to every replica (docs/RECONCILE.md, "Valkey's per-slot counters").
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import redis

from hotshard.capture.format.counters import version_tuple
from hotshard.capture.format.manifest import NodeCapture, SlotStats

COUNTERS = ("cpu-usec", "network-bytes-in", "network-bytes-out")
Counters = dict[int, dict[str, int]]


def applies(node: NodeCapture) -> bool:
    """Only Valkey >= 8.0 in cluster mode has the command, and only a node serving slots has
    anything to tell; the others are never asked (and say nothing)."""
    valkey8 = node.server_name == "valkey" and version_tuple(node.server_version) >= (8,)
    return valkey8 and bool(node.slots)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def parse(reply: list[Any]) -> Counters:
    """`[[slot, [name, value, ...]], ...]` (RESP2) -> {slot: {name: value}}."""
    out: Counters = {}
    for slot, pairs in reply:
        out[int(slot)] = {_text(pairs[i]): int(pairs[i + 1]) for i in range(0, len(pairs), 2)}
    return out


def _status_of(exc: redis.RedisError) -> tuple[str, str]:
    text = str(exc)
    upper = text.upper()
    if "NOPERM" in upper or "NO PERMISSIONS" in upper:
        return "denied", f"not allowed for this user ({text}): grant +cluster|slot-stats"
    if "UNKNOWN" in upper:
        return "unsupported", f"the server has no CLUSTER SLOT-STATS ({text})"
    return "error", text


def read(client: redis.Redis, node: NodeCapture) -> Counters | None:
    """Probe one slot, then read every slot of the node; record why not in `node.slot_stats`."""
    first = node.slots[0][0]
    try:
        probe = parse(client.execute_command("CLUSTER SLOT-STATS", "SLOTSRANGE", first, first))
        if "network-bytes-out" not in probe.get(first, {}):
            node.slot_stats = SlotStats(
                "disabled", "cluster-slot-stats-enabled is no: only key counts are kept"
            )
            return None
        counters: Counters = {}
        for lo, hi in node.slots:
            counters.update(
                parse(client.execute_command("CLUSTER SLOT-STATS", "SLOTSRANGE", lo, hi))
            )
    except redis.RedisError as exc:
        node.slot_stats = SlotStats(*_status_of(exc))
        return None
    except OSError as exc:
        node.slot_stats = SlotStats("error", f"the node dropped ({exc})")
        return None
    return counters


def before(
    controls: Mapping[str, redis.Redis], nodes: Iterable[NodeCapture]
) -> dict[str, Counters]:
    """Counters of every node that has them, keyed by node; the others get their note."""
    out: dict[str, Counters] = {}
    for n in nodes:
        client = controls.get(n.node)
        if client is None or not applies(n):
            continue
        counters = read(client, n)
        if counters is not None:
            out[n.node] = counters
            n.slot_stats = SlotStats("ok", before_at=time.time())
    return out


def after(
    controls: Mapping[str, redis.Redis],
    nodes: Iterable[NodeCapture],
    start: Mapping[str, Counters],
) -> None:
    """Read again and keep, per slot whose counters moved, after minus before."""
    for n in nodes:
        client = controls.get(n.node)
        if client is None or n.node not in start:
            continue
        stats = n.slot_stats
        end = read(client, n)
        if end is None or stats is None:  # read() left the note
            continue
        stats.after_at = time.time()
        stats.delta = delta(start[n.node], end)
        n.slot_stats = stats


def delta(start: Counters, end: Counters) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for slot, values in sorted(end.items()):
        was = start.get(slot, {})
        moved = {c: values.get(c, 0) - was.get(c, 0) for c in COUNTERS}
        if any(moved.values()):
            out[str(slot)] = moved
    return out
