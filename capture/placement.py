"""Read placement: did a shard's reads land on a node nobody monitored?

Reads served by a primary never show in a replica's MONITOR (and the reverse), so the capture
compares commandstats before/after on every node of each monitored shard. A read is a command
flagged `readonly` in the server's own COMMAND reply (a fixed list when that is unavailable).
"""

from __future__ import annotations

from typing import Any

from hotshard.capture.format.commands import commands
from hotshard.capture.format.counters import calls_delta, counters_reset
from hotshard.capture.format.manifest import NodeCapture

# Used only when the COMMAND reply is missing.
FALLBACK_READS = frozenset(
    """get mget getrange strlen getex exists type ttl pttl hget hmget hgetall hkeys hvals hlen
    hexists hstrlen hrandfield hscan lrange lindex llen lpos smembers sismember smismember scard
    srandmember sscan sinter sunion sdiff zrange zrevrange zrangebyscore zrevrangebyscore
    zrangebylex zrevrangebylex zscore zmscore zcard zcount zrank zrevrank zrandmember zscan xrange
    xrevrange xlen xread scan keys dump bitcount getbit bitpos pfcount geopos geodist georadius_ro
    geosearch""".split()  # noqa: SIM905
)
MIN_READS = 100  # below this many reads an unmonitored node is noise (health checks...)
MIN_SHARE = 0.01


def readonly_commands(command_reply: list[Any] | None) -> frozenset[str]:
    """Names (and `parent|sub` names) of commands flagged readonly in a raw COMMAND reply."""
    out = {c.name for c in commands(command_reply, subcommands=True) if "readonly" in c.flags}
    return frozenset(out) or FALLBACK_READS


def reads(node: NodeCapture, readonly: frozenset[str]) -> int:
    delta = calls_delta(node.info_before, node.info_after)
    return sum(v for k, v in delta.items() if k in readonly)


def check(nodes: list[NodeCapture], readonly: frozenset[str]) -> list[str]:
    """One warning per unmonitored node that served a real share of its shard's reads."""
    warnings = []
    shards = sorted({n.shard for n in nodes if n.monitored})
    for shard in shards:
        members = [n for n in nodes if n.shard == shard and n.info_before and n.info_after]
        # A node restarted in the window has reset counters: its deltas would be nonsense.
        for n in members:
            reset = counters_reset(n.info_before, n.info_after)
            if reset and not n.monitored:
                warnings.append(
                    f"shard {shard}: {n.node} ({n.role}, not monitored): {reset} — whether "
                    "reads landed on it cannot be told"
                )
        members = [n for n in members if not counters_reset(n.info_before, n.info_after)]
        counts = {n.node: reads(n, readonly) for n in members}
        total = sum(counts.values())
        for n in members:
            missed = counts[n.node]
            if n.monitored or missed < max(MIN_READS, MIN_SHARE * total):
                continue
            share = missed / total if total else 1.0
            fix = "--use-primary or --nodes all" if n.role == "primary" else "--nodes all"
            warnings.append(
                f"shard {shard}: {missed:,} reads ({share:.0%} of the shard's reads) ran on "
                f"{n.node} ({n.role}), which was not monitored — those keys are missing from "
                f"the capture; capture again with {fix}"
            )
    return warnings
