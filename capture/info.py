"""INFO snapshots and the exact size of the replies this tool makes a node send.

Bytes-out reconciliation (docs/RECONCILE.md, "Ground truth") needs every reply the capture itself
caused between the two snapshots, to the byte: `snapshot` records the size of its INFO reply.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # analyze reads INFO snapshots without loading the client library
    import redis


from hotshard.capture.format import resp
from hotshard.capture.format.counters import parse_info, version_tuple
from hotshard.capture.format.manifest import InfoSnapshot

# Redis 7 takes several sections at once; older servers get "all".
SECTIONS = ("server", "clients", "memory", "stats", "replication", "cpu", "commandstats",
            "errorstats", "keyspace")  # fmt: skip


def client_info_address(reply: object) -> str | None:
    """The `addr=` field of a `CLIENT INFO` reply (raw bytes, text, or redis-py's parsed dict):
    the connection's `ip:port` as the server prints it in MONITOR lines; None when absent or the
    reply is an error."""
    if isinstance(reply, dict):
        addr = reply.get("addr")
        return str(addr) if addr else None
    if not isinstance(reply, bytes | str):
        return None
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    for item in text.split():
        name, _, value = item.partition("=")
        if name == "addr" and value:
            return value
    return None


def info_command(server_version: str | None) -> tuple[str, ...]:
    if version_tuple(server_version) >= (7,):
        return ("INFO", *SECTIONS)
    return ("INFO", "all")


def snapshot(client: redis.Redis, server_version: str | None) -> InfoSnapshot:
    """INFO now, with the exact size of its reply (the client must return INFO raw)."""
    raw: bytes = client.execute_command(*info_command(server_version))
    return InfoSnapshot(
        at=time.time(),
        sections=parse_info(raw.decode("utf-8", "replace")),
        reply_bytes=resp.bulk(len(raw)),
    )
