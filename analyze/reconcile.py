"""Estimated bytes out next to what the server itself counted over the capture window.

The server's counter (`INFO stats`) covers every byte it wrote to every socket, so the capture
has to take its own traffic back out (SPEC 4, "Ground truth"); what remains is exactly the
replies sent to the application's clients:

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

import polars as pl

from analyze import schema
from capture.info import counters_reset
from capture.manifest import InfoSnapshot, Manifest, NodeCapture

SHARES = ("exact", "sampled", "pattern")

RECONCILE_SCHEMA: dict[str, pl.DataType] = {
    "node": pl.String(),
    "shard": pl.String(),
    "role": pl.String(),
    "commands": pl.Int64(),  # client commands in the capture
    "est_bytes_out": pl.Int64(),  # sum of known reply estimates
    "measured_bytes_out": pl.Int64(),  # corrected INFO delta (null without both snapshots)
    "ratio": pl.Float64(),  # est / measured
    "exact_share": pl.Float64(),  # shares of est_bytes_out by confidence
    "sampled_share": pl.Float64(),
    "pattern_share": pl.Float64(),
    "unknown_share": pl.Float64(),  # share of client commands with no estimate at all
    "est_repl_bytes_out": pl.Int64(),  # replication output estimate (when given)
    "measured_repl_bytes_out": pl.Int64(),  # Δ total_net_repl_output_bytes
}


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
    A server restart between the snapshots (`capture.info.counters_reset`: a new run_id, less
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


def node_estimates(lf: pl.LazyFrame) -> pl.DataFrame:
    """Per node: client commands, est_bytes_out, and known bytes / unknown commands by confidence.

    Reads `node`, `origin`, `reply_bytes`, `reply_confidence` of an estimated frame.
    """
    client = pl.col("origin") == schema.ORIGIN_CLIENT
    conf = pl.col("reply_confidence")
    known = pl.col("reply_bytes").filter(client)
    return (
        lf.group_by("node")
        .agg(
            commands=client.sum().cast(pl.Int64),
            est_bytes_out=known.sum().cast(pl.Int64),
            unknown_commands=(client & (conf == "unknown")).sum().cast(pl.Int64),
            **{
                f"{c}_bytes": pl.col("reply_bytes")
                .filter(client & (conf == c))
                .sum()
                .cast(pl.Int64)
                for c in SHARES
            },
        )
        .sort("node")
        .collect()
    )


def reconcile(manifest: Manifest, per_node_estimates: pl.DataFrame) -> pl.DataFrame:
    """One row per monitored node of the manifest (`RECONCILE_SCHEMA`), sorted by shard, node.

    `per_node_estimates` is `node_estimates(...)` (at least `node` and `est_bytes_out`;
    optionally `repl_bytes_out` from `replies.replication_bytes`). Shares are of the estimate's
    known bytes; `unknown_share` is of client commands (their bytes are unknown by definition).
    """
    est = {row["node"]: row for row in per_node_estimates.iter_rows(named=True)}
    rows = []
    for node in manifest.nodes:
        if not node.monitored and node.node not in est:
            continue
        e = est.get(node.node, {})
        est_bytes = e.get("est_bytes_out")
        measured = measured_bytes_out(node)
        commands = e.get("commands")
        rows.append(
            {
                "node": node.node,
                "shard": node.shard,
                "role": node.role,
                "commands": commands,
                "est_bytes_out": est_bytes,
                "measured_bytes_out": measured,
                "ratio": est_bytes / measured if est_bytes is not None and measured else None,
                **{
                    f"{c}_share": (e.get(f"{c}_bytes") or 0) / est_bytes if est_bytes else None
                    for c in SHARES
                },
                "unknown_share": (e.get("unknown_commands") or 0) / commands if commands else None,
                "est_repl_bytes_out": e.get("repl_bytes_out"),
                "measured_repl_bytes_out": measured_repl_bytes_out(node),
            }
        )
    return pl.DataFrame(rows, schema=RECONCILE_SCHEMA).sort(["shard", "node"])
