"""INFO snapshots and the exact size of the replies this tool makes a node send.

Bytes-out reconciliation (SPEC 4, "Ground truth") needs every reply the capture itself caused
between the two snapshots, to the byte: `bulk_size` is the RESP2 size of a bulk string reply.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # analyze reads INFO snapshots without loading the client library
    import redis


from capture.format.counters import parse_info, version_tuple
from capture.format.manifest import InfoSnapshot

# Redis 7 takes several sections at once; older servers get "all".
SECTIONS = ("server", "clients", "memory", "stats", "replication", "cpu", "commandstats",
            "errorstats", "keyspace")  # fmt: skip


def bulk_size(payload_len: int) -> int:
    """RESP2 bulk string `$<len>\\r\\n<payload>\\r\\n` on the wire."""
    return payload_len + len(str(payload_len)) + 5


def integer_size(n: int) -> int:
    """RESP2 integer `:<n>\\r\\n` on the wire."""
    return len(str(n)) + 3


def array_header_size(n: int) -> int:
    """RESP2 array header `*<n>\\r\\n` on the wire."""
    return len(str(n)) + 3


def error_size(message: str) -> int:
    """RESP2 error `-<message>\\r\\n` (message with its code, e.g. `NOPERM ...`)."""
    return len(message.encode()) + 3


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
        reply_bytes=bulk_size(len(raw)),
    )
