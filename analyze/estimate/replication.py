"""Which commands are writes, and how many replicas each node feeds: what a write costs a
primary in replication output (measure/unshown.py) and what makes a sampled size stale
(estimate/through_time.py, estimate/scripts.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hotshard.capture.format.commands import commands
from hotshard.capture.format.manifest import Manifest

FLUSHES = ("flushall", "flushdb")  # writes that change every key of the node


def naming(keys: Iterable[str]) -> list[str]:
    """What a line that may change one of `keys` holds (any case): the key quoted, or a flush:
    the needles of the readers that keep only such lines."""
    return [f'"{k}"' for k in keys] + [f'"{c}"' for c in FLUSHES]


WRITE_COMMANDS = frozenset(
    [
        "set",
        "setex",
        "psetex",
        "setnx",
        "mset",
        "msetnx",
        "append",
        "setrange",
        "incr",
        "decr",
        "incrby",
        "decrby",
        "incrbyfloat",
        "getset",
        "getdel",
        "getex",
        "del",
        "unlink",
        "expire",
        "pexpire",
        "expireat",
        "pexpireat",
        "persist",
        "rename",
        "renamenx",
        "move",
        "copy",
        "restore",
        "hset",
        "hsetnx",
        "hmset",
        "hdel",
        "hincrby",
        "hincrbyfloat",
        "lpush",
        "rpush",
        "lpushx",
        "rpushx",
        "linsert",
        "lset",
        "ltrim",
        "lrem",
        "lpop",
        "rpop",
        "lmove",
        "rpoplpush",
        "blpop",
        "brpop",
        "blmove",
        "sadd",
        "srem",
        "spop",
        "smove",
        "sinterstore",
        "sunionstore",
        "sdiffstore",
        "zadd",
        "zrem",
        "zincrby",
        "zpopmin",
        "zpopmax",
        "zremrangebyrank",
        "zremrangebyscore",
        "zremrangebylex",
        "zunionstore",
        "zinterstore",
        "zdiffstore",
        "zrangestore",
        "xadd",
        "xdel",
        "xtrim",
        "xack",
        "xclaim",
        "xautoclaim",
        "xgroup",
        "xsetid",
        "pfadd",
        "pfmerge",
        "setbit",
        "bitop",
        "bitfield",
        "flushdb",
        "flushall",
        "swapdb",
        "geoadd",
        "georadius",
        "georadiusbymember",
    ]
)


def write_commands(commands_reply: list[Any] | None) -> frozenset[str]:
    """Lower-case names of commands flagged `write` in a saved `COMMAND` reply (else a built-in set)."""
    names = {c.name for c in commands(commands_reply) if "write" in c.flags}
    return frozenset(names) or WRITE_COMMANDS


def replica_counts(manifest: Manifest) -> dict[str, int]:
    """node -> how many replicas it feeds (0 for replicas), from the manifest's topology."""
    counts = {n.node: 0 for n in manifest.nodes}
    for n in manifest.nodes:
        if n.role == "replica" and n.primary_node in counts:
            counts[n.primary_node] += 1
    for shard in manifest.shards:
        if shard.primary in counts and not counts[shard.primary]:
            counts[shard.primary] = max(0, len(shard.nodes) - 1)
    return counts
