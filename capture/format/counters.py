"""INFO read back: the text parsed into sections, commandstats deltas, and whether the counters
of two snapshots belong to one server run (a restart makes every delta meaningless)."""

from __future__ import annotations

import re
from typing import Any

from hotshard.capture.format.manifest import InfoSnapshot

# Sections whose values are `k=v,k=v` lists (plus `slaveN:` lines in replication).
_LIST_SECTIONS = {"commandstats", "keyspace", "errorstats", "latencystats"}
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def version_tuple(version: str | None) -> tuple[int, ...]:
    parts = []
    for p in (version or "0").split("."):
        digits = "".join(c for c in p if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def server_identity(server: dict[str, Any]) -> tuple[str, str | None]:
    """(engine name, version) from the `server` section of INFO.

    Valkey keeps `redis_version:7.2.4` for client compatibility and reports its own version in
    `valkey_version` (with `server_name:valkey`); every Valkey release has the features this
    tool gates on Redis >= 6.2 / 7.0, so its own version compares correctly too.
    """
    if server.get("valkey_version") is not None:
        return "valkey", str(server["valkey_version"])
    version = server.get("redis_version")
    return str(server.get("server_name") or "redis"), str(version) if version is not None else None


def _value(text: str) -> Any:
    if _NUMBER.fullmatch(text):
        return float(text) if "." in text else int(text)
    return text


def parse_info(text: str) -> dict[str, dict[str, Any]]:
    """INFO text -> {section: {key: value}}; `k=v,...` values become dicts, numbers numbers."""
    sections: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] = sections.setdefault("default", {})
    name = "default"
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("#"):
            name = line[1:].strip().lower()
            current = sections.setdefault(name, {})
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        if name in _LIST_SECTIONS or (name == "replication" and key.startswith("slave")):
            current[key] = {
                k: _value(v) for k, _, v in (item.partition("=") for item in value.split(","))
            }
        else:
            current[key] = _value(value)
    if not sections["default"]:
        del sections["default"]
    return sections


def command_calls(snap: InfoSnapshot | None) -> dict[str, int]:
    """commandstats as {command name: calls}, e.g. {"get": 10, "client|list": 2}."""
    if snap is None:
        return {}
    stats = snap.sections.get("commandstats", {})
    return {
        key.removeprefix("cmdstat_"): int(value.get("calls", 0))
        for key, value in stats.items()
        if isinstance(value, dict)
    }


def calls_delta(before: InfoSnapshot | None, after: InfoSnapshot | None) -> dict[str, int]:
    b, a = command_calls(before), command_calls(after)
    return {name: a[name] - b.get(name, 0) for name in a if a[name] != b.get(name, 0)}


def counters_reset(before: InfoSnapshot | None, after: InfoSnapshot | None) -> str | None:
    """Why the counters of `after` do not continue those of `before` (the server restarted
    between them: a new run_id, or less uptime), or None when they do or cannot be told.
    Every delta over such a pair is meaningless, often negative."""
    if before is None or after is None:
        return None
    b, a = before.sections.get("server", {}), after.sections.get("server", {})
    if b.get("run_id") and a.get("run_id") and b["run_id"] != a["run_id"]:
        return "the server restarted during the capture (its run_id changed)"
    up_b, up_a = b.get("uptime_in_seconds"), a.get("uptime_in_seconds")
    if isinstance(up_b, int) and isinstance(up_a, int) and up_a < up_b:
        return (
            f"the server restarted during the capture (uptime went from {up_b:,} s to {up_a:,} s)"
        )
    return None
