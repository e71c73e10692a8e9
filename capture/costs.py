"""What a node's replies cost that the reply model cannot size from MONITOR, measured once.

Monitoring agents poll `CLIENT LIST` (never shown by MONITOR), `INFO`, `CLUSTER SLOTS`/`NODES`/
`SHARDS` (shown, but their reply depends on the node, not on arguments); Pub/Sub subscribers get
messages pushed with no MONITOR line on their node. The capture measures each reply's exact size
on the wire once per node and counts the subscribers per channel, so the analyzer can estimate
the bytes out MONITOR does not explain (analyze/measure/unshown.py). Nothing here reads a key.

`CLIENT LIST` is measured inside the window (the connections it lists are those an agent's call
saw, the MONITOR one included): MONITOR does not show it, and its reply goes into
`overhead_bytes_out` like the watchdog's polls. Everything else is asked after the "after" INFO
snapshot, outside the counted window, because MONITOR would show it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hotshard.capture.format import resp
from hotshard.capture.format.counters import version_tuple
from hotshard.capture.format.lines import escape_bytes

if TYPE_CHECKING:
    import redis

MAX_CHANNELS = 1000  # channels whose subscribers are counted per node, at most


def _raw(response: Any, **_: Any) -> Any:
    return response


def _raw_client(client: redis.Redis) -> redis.Redis:
    for name in ("CLUSTER SLOTS", "CLUSTER SHARDS", "CLUSTER NODES", "INFO", "CLIENT LIST"):
        client.set_response_callback(name, _raw)
    for name in ("PUBSUB CHANNELS", "PUBSUB NUMSUB", "PUBSUB SHARDCHANNELS"):
        client.set_response_callback(name, _raw)
    client.set_response_callback("PUBSUB SHARDNUMSUB", _raw)
    client.set_response_callback("PUBSUB NUMPAT", _raw)
    return client


def client_list_size(client: redis.Redis) -> int | None:
    """Exact bytes of a plain `CLIENT LIST` reply now; None when the server refuses it."""
    return client_list(client).size


@dataclass(frozen=True)
class ClientList:
    """One `CLIENT LIST` reply: its exact size, its lines, the lines of ordinary clients (not
    replicas, not a replica's link to its primary), and the connections not on RESP2."""

    size: int | None
    lines: int = 0
    clients: int = 0
    protocols: dict[str, int] = field(default_factory=dict)


def client_list(client: redis.Redis) -> ClientList:
    """`CLIENT LIST` now (`ClientList`; size None when the server refuses it); protocols are
    `addr=` -> `resp=` (Redis >= 7 and Valkey)."""
    import redis as redis_lib

    try:
        raw = _raw_client(client).execute_command("CLIENT LIST")
    except redis_lib.RedisError:
        return ClientList(None)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    protocols = {}
    lines = clients = 0
    for line in text.splitlines():
        fields = dict(f.split("=", 1) for f in line.split(" ") if "=" in f)
        lines += 1
        if not {"S", "M"} & set(fields.get("flags", "")):
            clients += 1
        proto, addr = fields.get("resp"), fields.get("addr")
        if addr and proto and proto.isdigit() and proto != "2":
            protocols[addr] = int(proto)
    return ClientList(resp.reply(raw), lines, clients, protocols)


def after_window(
    client: redis.Redis, server_version: str | None, cluster_mode: bool
) -> tuple[dict[str, int], dict[str, Any]]:
    """(reply sizes by command name as commandstats spells it, Pub/Sub subscribers) of a node.

    Sizes: `info` (INFO without arguments), `command` (COMMAND without arguments, RESP2), and
    in cluster mode `cluster|slots`,
    `cluster|nodes`, `cluster|shards` (Redis >= 7). Pub/Sub: `{"channels": {channel: subscribers},
    "shard_channels": {...}, "patterns": n}`, channels in Redis' escaped text form; at most
    `MAX_CHANNELS` of each kind. A command the server refuses is left out, never fatal.
    """
    import redis as redis_lib

    client = _raw_client(client)
    asks = [("info", ("INFO",))]
    if cluster_mode:
        asks += [("cluster|slots", ("CLUSTER SLOTS",)), ("cluster|nodes", ("CLUSTER NODES",))]
        if version_tuple(server_version) >= (7,):
            asks.append(("cluster|shards", ("CLUSTER SHARDS",)))
    sizes: dict[str, int] = {}
    for name, command in asks:
        try:
            sizes[name] = resp.reply(client.execute_command(*command))
        except redis_lib.RedisError:
            continue
    # COMMAND: what a cluster client (redis-py's RedisCluster, ...) asks when it starts; its flags
    # are simple strings, which a parsed reply no longer tells from bulk ones: read off the wire.
    with contextlib.suppress(redis_lib.RedisError, OSError, ValueError):
        sizes["command"] = wire_reply_size(client, "COMMAND")
    pubsub: dict[str, Any] = {}
    for kind, list_cmd, count_cmd in (
        ("channels", "PUBSUB CHANNELS", "PUBSUB NUMSUB"),
        ("shard_channels", "PUBSUB SHARDCHANNELS", "PUBSUB SHARDNUMSUB"),
    ):
        if kind == "shard_channels" and version_tuple(server_version) < (7,):
            continue
        try:
            names = list(client.execute_command(list_cmd))[:MAX_CHANNELS]
            counts = client.execute_command(count_cmd, *names) if names else []
        except redis_lib.RedisError:
            continue
        pubsub[kind] = {
            escape_bytes(bytes(counts[i])): int(counts[i + 1]) for i in range(0, len(counts), 2)
        }
    with contextlib.suppress(redis_lib.RedisError):
        pubsub["patterns"] = int(client.execute_command("PUBSUB NUMPAT"))
    return sizes, pubsub


def wire_reply_size(client: redis.Redis, *args: Any) -> int:
    """Exact bytes of the reply to `args` as the server sent it: read off the socket and framed,
    never parsed (a connection of its own, closed after)."""
    pool = client.connection_pool
    conn = pool.get_connection()
    try:
        conn.send_command(*args)
        sock = conn._sock
        if sock is None:
            raise ConnectionError("no socket")
        buf = bytearray()
        pos, todo = 0, 1
        while True:
            pos, todo = resp_scan(buf, pos, todo)  # from where the last piece left off
            if not todo:
                return pos
            chunk = sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("connection closed in the middle of a reply")
            buf += chunk
    finally:
        conn.disconnect()  # bytes read behind the parser's back: never reuse it
        pool.release(conn)


_AGGREGATES = {ord("*"): 1, ord("~"): 1, ord(">"): 1, ord("%"): 2, ord("|"): 2}
_BLOBS = frozenset(b"$=!")


def resp_end(buf: bytes | bytearray, pos: int = 0) -> int | None:
    """The offset just past the one RESP2/RESP3 value starting at `pos`; None while `buf` holds
    only part of it."""
    end, todo = resp_scan(buf, pos, 1)
    return None if todo else end


def resp_scan(buf: bytes | bytearray, pos: int = 0, todo: int = 1) -> tuple[int, int]:
    """Frame `todo` RESP2/RESP3 values from `pos`, as far as `buf` goes: (the offset reached,
    values still to frame; 0 when done). Called again with more bytes and what it returned, it
    goes on from there: a large reply (COMMAND, ~90 kB) arriving in pieces is read once, not
    from its start at each piece (16 nodes: 0.4 s of the capture's CPU)."""
    while todo:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            break
        kind, head = buf[pos], bytes(buf[pos + 1 : eol])
        after, more = eol + 2, 0
        if kind in _BLOBS:
            n = int(head)
            if n >= 0:
                after += n + 2
                if after > len(buf):
                    break
        elif kind in _AGGREGATES:
            n = int(head)
            if n > 0:
                more = n * _AGGREGATES[kind]
            if kind == ord("|"):  # attributes precede the value they describe
                more += 1
        elif kind not in b"+-:_,#(":
            raise ValueError(f"not RESP: {bytes([kind])!r}")
        pos, todo = after, todo - 1 + more
    return pos, todo
