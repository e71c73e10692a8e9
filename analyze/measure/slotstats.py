"""Per-slot bytes out as the server measured them: Valkey's `CLUSTER SLOT-STATS`, from the manifest.

capture/slotstats.py records, per node, the counters' change over the window. Summed over the
nodes of a shard they are the slot's measured bytes out — replies to clients plus, on the
primary, the replication stream once per replica (our estimate counts replies only), so the
report shows them beside the estimate rather than in place of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from hotshard.capture.format.counters import version_tuple
from hotshard.capture.format.manifest import Manifest

# valkey#3043: from 9.0.1 (valkey PR #2652) replies sent with copy avoidance (I/O threads) were
# counted twice; fixed by valkey PR #3046 (January 2026), in a later 9.0 patch release.
DOUBLE_COUNT = ((9, 0, 1), (9, 1, 0))
# How to get measured per-slot bytes next time; ElastiCache refuses CONFIG SET from clients.
ENABLE = (
    ". To measure bytes per slot next time, run `CONFIG SET cluster-slot-stats-enabled yes` "
    "on each node before the capture (the counters start then); on ElastiCache, CONFIG is "
    "not allowed: set `cluster-slot-stats-enabled` to `yes` in the cluster's parameter group, "
    "if your engine version lists it"
)


@dataclass
class SlotMeasure:
    """Measured bytes out per (shard, slot), and what the reader should know about them."""

    bytes_out: dict[tuple[str, int], int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # nodes without counters, and why


def measured(manifests: Iterable[Manifest]) -> SlotMeasure:
    """Sum each slot's `network-bytes-out` change over the nodes that report it."""
    out = SlotMeasure()
    versions: set[str] = set()
    missing: dict[tuple[str, str], list[str]] = {}  # (status, note) -> nodes
    for m in manifests:
        for n in m.nodes:
            stats = n.slot_stats
            if stats is None:
                continue
            if stats.status != "ok":
                missing.setdefault((stats.status, stats.note or ""), []).append(n.node)
                continue
            versions.add(n.server_version or "")
            for slot, counters in stats.delta.items():
                key = (n.shard, int(slot))
                out.bytes_out[key] = out.bytes_out.get(key, 0) + counters.get(
                    "network-bytes-out", 0
                )
    for (status, note), nodes in sorted(missing.items()):
        where = f"node {nodes[0]}" if len(nodes) == 1 else f"{len(nodes)} nodes ({nodes[0]}, …)"
        text = f"slot stats {status} on {where}" + (f" — {note}" if note else "")
        if status == "disabled":
            text += ENABLE
        out.notes.append(text)
    out.notes += caveats(versions)
    return out


def caveats(versions: Iterable[str]) -> list[str]:
    low, high = DOUBLE_COUNT
    hit = sorted(v for v in versions if low <= version_tuple(v)[:3] < high)
    if not hit:
        return []
    return [
        f"Valkey {', '.join(hit)}: releases from 9.0.1 until the fix of valkey#3043 count "
        "`network-bytes-out` twice for replies sent with copy avoidance (I/O threads) — the "
        "measured column may be up to 2× too high; check your version's release notes"
    ]
