"""What the server itself counted over the capture window, for the estimate to be judged by
(`hotshard.analyze.measure.selfcheck`).

The server's counter (`INFO stats`) covers every byte it wrote to every socket, so the capture
has to take its own traffic back out (docs/RECONCILE.md, "Ground truth"); what remains is exactly
the replies sent to the application's clients:

    measured_bytes_out = Δ total_net_output_bytes        (after - before)
                       - Δ total_net_repl_output_bytes   (replication: counted separately)
                       - bytes_received                  (our MONITOR stream is client output too)
                       - overhead_bytes_out              (our other replies, incl. the "before"
                                                          INFO reply; the "after" reply is sent
                                                          after its own snapshot, so not in it)

For this to hold to the byte, the capture records in `bytes_received` every byte the monitor
connection got between the two snapshots (no more: stop counting before sending the "after"
INFO, whose own MONITOR line arrives later) and in `overhead_bytes_out` every byte the tool's
other connections got in between. TLS does not change the counters (they count plaintext).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from hotshard.capture.format.counters import counters_reset
from hotshard.capture.format.manifest import InfoSnapshot, NodeCapture


def info_value(snapshot: InfoSnapshot | None, name: str, section: str = "stats") -> int | None:
    """An integer field of an INFO snapshot, looked up in `section` first, then anywhere."""
    if snapshot is None:
        return None
    sections = {str(k).lower().lstrip("# ").strip(): v for k, v in snapshot.sections.items()}
    candidates: list[dict[str, Any]] = [sections.get(section, {})]
    candidates += [v for k, v in sections.items() if k != section and isinstance(v, dict)]
    for fields in candidates:
        if isinstance(fields, dict) and name in fields:
            try:
                return int(fields[name])
            except (TypeError, ValueError):
                return None
    return None


def _delta(node: NodeCapture, name: str) -> int | None:
    before = info_value(node.info_before, name)
    after = info_value(node.info_after, name)
    if before is None or after is None:
        return None
    return after - before


def measured_repl_bytes_out(node: NodeCapture) -> int | None:
    """Δ total_net_repl_output_bytes over the window (what the node sent its replicas); None
    when the server restarted in between.

    Redis 6.2 has no such counter and counts replication inside total_net_output_bytes: there
    the answer is 0 only when the node had no replica in either snapshot, else unknown (None).
    """
    if counters_reset(node.info_before, node.info_after):
        return None
    delta = _delta(node, "total_net_repl_output_bytes")
    if delta is not None:
        return delta
    replicas = [
        info_value(snap, "connected_slaves", "replication")
        for snap in (node.info_before, node.info_after)
    ]
    return 0 if replicas == [0, 0] else None


def measured_bytes_out(node: NodeCapture) -> int | None:
    """Reply bytes the node sent to application clients in the window (formula above).

    None when either INFO snapshot or its counters are missing (not monitored, old server).
    A server restart between the snapshots (`hotshard.capture.format.counters.counters_reset`: a new run_id, less
    uptime, or counters going backwards) also gives None, never a negative figure.
    """
    if counters_reset(node.info_before, node.info_after):
        return None
    total = _delta(node, "total_net_output_bytes")
    repl = measured_repl_bytes_out(node)
    if total is None or repl is None or total < 0 or repl < 0:
        return None
    measured = total - repl - node.bytes_received - node.overhead_bytes_out
    return measured if measured >= 0 else None  # below zero is never a true figure


@dataclass(frozen=True)
class _Reading:
    at: float
    total: int
    repl: int | None
    commands: int | None
    monitor: int  # MONITOR bytes received by then
    overhead: int  # other bytes the node had sent for the capture by then


def _reading(node: NodeCapture, which: str) -> _Reading | None:
    snap = node.info_before if which == "before" else node.info_after
    total = info_value(snap, "total_net_output_bytes")
    if snap is None or total is None:
        return None
    after = which == "after"
    return _Reading(
        at=snap.at,
        total=total,
        repl=info_value(snap, "total_net_repl_output_bytes"),
        commands=info_value(snap, "total_commands_processed"),
        monitor=node.bytes_received if after else 0,
        overhead=node.overhead_bytes_out if after else 0,
    )


def measured_intervals(node: NodeCapture) -> list[dict[str, Any]]:
    """`start`, `end`, `measured_bytes_out`, `commands_processed` between consecutive readings
    of one node (module docstring); [] without polls or without the "before" INFO. An interval
    is null where the counters cannot tell (a restart, replication unknown on Redis 6.2)."""
    before = _reading(node, "before")
    if not node.polls or before is None:
        return []
    after = _reading(node, "after")
    polls = [
        _Reading(
            p.at,
            p.total_net_output_bytes,
            p.total_net_repl_output_bytes,
            p.total_commands_processed,
            p.monitor_bytes,
            p.overhead_bytes,
        )
        for p in node.polls
    ]
    readings = [before, *polls, *([after] if after else [])]
    restarted = counters_reset(node.info_before, node.info_after) is not None
    no_replicas = measured_repl_bytes_out(node) == 0  # Redis 6.2 without replicas: none to take
    out = []
    for a, b in pairwise(readings):
        total = b.total - a.total
        if a.repl is not None and b.repl is not None:
            repl: int | None = b.repl - a.repl
        else:
            repl = 0 if no_replicas else None
        measured = None
        if not restarted and total >= 0 and repl is not None and repl >= 0:
            measured = total - repl - (b.monitor - a.monitor) - (b.overhead - a.overhead)
        processed = None
        if a.commands is not None and b.commands is not None and b.commands >= a.commands:
            processed = b.commands - a.commands
        out.append(
            {
                "start": a.at,
                "end": b.at,
                "measured_bytes_out": measured,
                "commands_processed": processed,
            }
        )
    return out
