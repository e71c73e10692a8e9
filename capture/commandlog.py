"""Valkey's `COMMANDLOG large-reply` (Valkey >= 8.1): the server's own record of big replies.

Each entry holds a monotonic id, the unix second, the reply's exact bytes, the arguments (cut to
32 × 128 bytes) and the client's `ip:port`. Read on every watched node just outside the INFO
snapshots (like `CLUSTER SLOT-STATS`, capture/slotstats.py): `COMMANDLOG LEN` and the newest
id before the window, every entry after it. The analyzer replaces the estimate of each reply it
matches by the logged bytes (analyze/estimate/logged.py). The capture never changes the
threshold (`commandlog-reply-larger-than`, 1 MiB by default): lowering it costs the server up to
25% of GET throughput on Valkey >= 9.0.1 (valkey#2926). A gap in the ids says entries were lost
(the log keeps `commandlog-large-reply-max-len` entries, 128 by default).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import redis

from hotshard.capture.format.counters import version_tuple
from hotshard.capture.format.manifest import NodeCapture


def applies(node: NodeCapture) -> bool:
    return node.server_name == "valkey" and version_tuple(node.server_version) >= (8, 1)


def _text(value: Any) -> str:
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else str(value)


def _entries(client: redis.Redis) -> list[dict[str, Any]]:
    raw = client.execute_command("COMMANDLOG", "GET", "-1", "large-reply")
    out = []
    for e in raw or []:
        if not isinstance(e, list | tuple) or len(e) < 5:
            continue
        out.append(
            {
                "id": int(e[0]),
                "time": int(e[1]),
                "bytes": int(e[2]),
                "args": [_text(a) for a in e[3]],
                "client": _text(e[4]),
            }
        )
    return sorted(out, key=lambda e: e["id"])


def _threshold(client: redis.Redis) -> int | None:
    try:
        value = client.config_get("commandlog-reply-larger-than").get(
            "commandlog-reply-larger-than"
        )
        return None if value is None else int(value)
    except (redis.RedisError, ValueError):
        return None  # CONFIG may be renamed or denied (ElastiCache): the log still reads


def before(controls: Mapping[str, redis.Redis], nodes: Iterable[NodeCapture]) -> None:
    """The newest entry id before the window (`commandlog["start_id"]`, -1: empty log)."""
    for n in nodes:
        client = controls.get(n.node)
        if client is None or not applies(n):
            continue
        try:
            length = int(client.execute_command("COMMANDLOG", "LEN", "large-reply"))
            newest = client.execute_command("COMMANDLOG", "GET", "1", "large-reply")
        except redis.RedisError as exc:
            n.commandlog = {"status": "error", "note": str(exc)}
            continue
        start_id = int(newest[0][0]) if newest else -1
        n.commandlog = {
            "status": "ok",
            "threshold": _threshold(client),
            "len_before": length,
            "start_id": start_id,
        }


def after(controls: Mapping[str, redis.Redis], nodes: Iterable[NodeCapture]) -> None:
    """Every entry newer than `start_id`, and `lost`: ids the log no longer held."""
    for n in nodes:
        client = controls.get(n.node)
        log = n.commandlog
        if client is None or not log or log.get("status") != "ok":
            continue
        try:
            length = int(client.execute_command("COMMANDLOG", "LEN", "large-reply"))
            entries = [e for e in _entries(client) if e["id"] > log["start_id"]]
        except redis.RedisError as exc:
            n.commandlog = {**log, "status": "error", "note": str(exc)}
            continue
        first = entries[0]["id"] if entries else None
        lost = 0 if first is None else max(0, first - log["start_id"] - 1)
        n.commandlog = {**log, "len_after": length, "entries": entries, "lost": lost}
