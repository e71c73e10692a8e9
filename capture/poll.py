"""`INFO stats` polls during the capture window: the server's own byte counters through time.

Every `interval` seconds the session asks each monitored node, on its control connection (never
the MONITOR one), for `INFO stats` and keeps three counters with the time (`manifest.InfoPoll`),
beside what the capture itself had received (`monitor_bytes`) and made the node send otherwise
(`overhead_bytes`) until then. The difference of two polls, less replication and the capture's
own traffic, is what the application's clients received in between (analyze/findings/timeline.py).

Each reply is bytes out the node sent for us: it goes into the node's `overhead_bytes_out`, so
the window's reconciliation (analyze/measure/reconcile.py) stays exact. A poll's own reply is counted by
the next reading (INFO reports the counter before writing itself), which the arithmetic there
follows. The polls show in the node's MONITOR stream as `INFO stats` from `poll_client`, the
address the server gives the control connection, so the analyzer can leave them out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import redis

from hotshard.capture.format import resp
from hotshard.capture.format.counters import parse_info, version_tuple
from hotshard.capture.format.manifest import InfoPoll, NodeCapture
from hotshard.capture.info import client_info_address

DEFAULT_INTERVAL = 5.0  # seconds; one ~2 kB reply per node each time
COUNTERS = ("total_net_output_bytes", "total_net_repl_output_bytes", "total_commands_processed")

# (monitor bytes received so far, other overhead so far) of a node, from the session.
OwnTraffic = Callable[[NodeCapture], tuple[int, int]]


def read_counters(
    client: redis.Redis, server_version: str | None = None
) -> tuple[dict[str, Any], str | None, int]:
    """`INFO stats` as {field: value}, the node's role (`INFO replication`, asked in the same
    call on servers that take several sections: Redis >= 7; None on older ones), and the exact
    size of the reply on the wire. The role shows a failover during the window, and when. On
    the same servers `INFO clients` too: its fields (`connected_clients`) merged into the stats
    (CLIENT LIST through the window, analyze/measure/unshown.py)."""
    several = version_tuple(server_version) >= (7,)
    extra = ["replication", "clients"] if several else []
    raw: bytes = client.execute_command("INFO", "stats", *extra)
    info = parse_info(raw.decode("utf-8", "replace"))
    role = (info.get("replication") or {}).get("role")
    stats = {**(info.get("clients") or {}), **info.get("stats", {})}
    return stats, ROLES.get(str(role)) if role else None, resp.bulk(len(raw))


ROLES = {"master": "primary", "slave": "replica"}  # INFO's words, and the manifest's


def client_address(client: redis.Redis) -> str | None:
    """The control connection's `ip:port` as the server prints it in MONITOR lines (from
    `CLIENT INFO`, Redis >= 6.2), or None when the server does not say."""
    try:
        return client_info_address(client.execute_command("CLIENT INFO"))
    except (redis.RedisError, OSError):
        return None


class Poller:
    """Polls `nodes` every `interval` seconds when `tick` is called (0 disables it)."""

    def __init__(
        self,
        nodes: list[NodeCapture],
        controls: Mapping[str, redis.Redis],
        interval: float,
        own_traffic: OwnTraffic,
    ):
        self.nodes = [n for n in nodes if n.node in controls] if interval > 0 else []
        self.controls = controls
        self.interval = interval
        self.own_traffic = own_traffic
        self.next_at: float | None = None  # monotonic; the schedule starts at the first tick
        self.failed: dict[str, str] = {}  # node -> why its polls stopped
        # Role changes seen by the polls (a failover), for the console; the polls themselves
        # are the record (the analysis says so in Health from them).
        self.role_changes: list[str] = []
        self.rounds = 0  # polls of every node made so far
        for n in self.nodes:  # before the "before" INFO: outside the reconciled window
            n.poll_client = client_address(controls[n.node])

    def wait_for(self, longest: float) -> float:
        """How long the window may sleep before the next poll is due (at most `longest`)."""
        if not self.nodes or self.next_at is None:
            return longest
        return max(0.0, min(longest, self.next_at - time.monotonic()))

    def tick(self) -> list[str]:
        """Poll every node when a poll is due; warnings for nodes whose polls stopped now."""
        if not self.nodes:
            return []
        now = time.monotonic()
        if self.next_at is None:
            self.next_at = now + self.interval
            return []
        if now < self.next_at:
            return []
        self.next_at = max(self.next_at + self.interval, now + self.interval / 2)
        return self.poll_now()

    def poll_now(self) -> list[str]:
        """Poll every node once, now; warnings for nodes whose polls stopped now."""
        self.rounds += 1
        warnings = []
        for n in self.nodes:
            if n.node in self.failed:
                continue
            monitor_bytes, overhead = self.own_traffic(n)
            at = time.time()
            try:
                stats, role, reply_bytes = read_counters(self.controls[n.node], n.server_version)
            except (redis.RedisError, OSError) as exc:
                # A slow or broken control connection must not stall the window again.
                self.failed[n.node] = str(exc) or type(exc).__name__
                text = (
                    f"node {n.node} (shard {n.shard}): INFO stats poll failed ({exc}); its "
                    "measured bytes out through time stop here (the window's total is unaffected)"
                )
                n.errors.append(text)
                warnings.append(text)
                continue
            n.overhead_bytes_out += reply_bytes  # counted by the next poll / the "after" INFO
            values = {name: stats.get(name) for name in COUNTERS}
            if values["total_net_output_bytes"] is None:
                continue  # not a server this tool can measure (the window total says so too)
            was = next((p.role for p in reversed(n.polls) if p.role), n.role)
            if role and was in ROLES.values() and role != was:
                self.role_changes.append(
                    f"node {n.node} (shard {n.shard}): its role changed from {was} to {role} "
                    f"by {time.strftime('%H:%M:%S', time.gmtime(at))} UTC (a failover during the "
                    "window: the analysis tells its commands before and after apart)"
                )
            n.polls.append(
                InfoPoll(
                    at=at,
                    total_net_output_bytes=int(values["total_net_output_bytes"]),
                    total_net_repl_output_bytes=(
                        None
                        if values["total_net_repl_output_bytes"] is None
                        else int(values["total_net_repl_output_bytes"])
                    ),
                    total_commands_processed=int(values["total_commands_processed"] or 0),
                    monitor_bytes=monitor_bytes,
                    overhead_bytes=overhead,
                    connected_clients=None
                    if stats.get("connected_clients") is None
                    else int(stats["connected_clients"]),
                    role=role,
                )
            )
        return warnings
