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
