"""Build `commands` frames from literals, for tests of the stages after parsing.

`commands([...])` takes one dict per row with only the columns a test cares about; the others get
plausible defaults (a GET from an ip client on shard 0001), and the result has exactly the columns
and types of `analyze.schema.COMMANDS`.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from analyze import schema
from analyze.slots import hash_slot

slot_of = hash_slot  # checked against CLUSTER KEYSLOT in test_slots.py


def row(**values: Any) -> dict[str, Any]:
    """One row with defaults filled in; `key` is a shortcut for keys/key_name/key_bytes/slot."""
    key = values.pop("key", "k")
    command = values.get("command", "get")
    shape = values.get("arg_shape", "")
    pattern = values.get("key_pattern", key)
    key_bytes = None if key is None else key.encode()
    client = values.get("client", "10.0.1.1:5000")
    out: dict[str, Any] = {
        "ts": 1_700_000_000.0,
        "node": "10.0.0.1:6379",
        "shard": "0001",
        "role": "replica",
        "source": "0001-replica-10.0.0.1_6379.monitor.zst",
        "db": 0,
        "client": client,
        "client_ip": client.rsplit(":", 1)[0] if ":" in client else None,
        "client_kind": "ip",
        "origin": schema.ORIGIN_CLIENT,
        "command": command,
        "arg_count": 1,
        "request_bytes": 30,
        "keys": [] if key is None else [key],
        "key_count": 0 if key is None else 1,
        "key_name": key,
        "key_binary": False,
        "key_bytes": key_bytes,
        "arg_shape": shape,
        "slot": None if key_bytes is None else slot_of(key_bytes),
        "key_pattern": pattern,
        "signature": f"{command.upper()} | {pattern or ''} | {shape}",
        "reply_bytes": None,
        "reply_confidence": "unknown",
    }
    out.update(values)
    return out


def commands(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """A frame with the exact `schema.COMMANDS` columns and types from `row(...)` dicts."""
    filled = [r if set(r) >= set(schema.COMMANDS) else row(**r) for r in rows]
    return pl.DataFrame(filled, schema=schema.COMMANDS, orient="row")


def workload() -> pl.DataFrame:
    """A small three-shard workload with distinct counts everywhere (no ties in rankings).

    Shard 0001 gets the hot zset read in full, 0002 lists and hashes, 0003 strings; plus
    replicated writes and script sub-commands that must never count as client traffic.
    """
    rows: list[dict[str, Any]] = []
    t = 1_700_000_000.0

    def add(n: int, **values: Any) -> None:
        nonlocal t
        for _ in range(n):
            t += 0.01
            rows.append(row(ts=t, **values))

    def on(shard: str, client: str) -> dict[str, str]:
        node = f"10.0.0.{int(shard)}:6379"
        source = f"{shard}-replica-10.0.0.{int(shard)}_6379.monitor.zst"
        return {"shard": shard, "node": node, "source": source, "client": client}

    z = on("0001", "10.0.9.1:5000")
    add(
        50,
        command="zrevrange",
        key="large_sortedset:app:2025-10-17",
        arg_shape="0 -1",
        key_pattern="large_sortedset:app:{DATE}",
        reply_bytes=1_000_000,
        **z,
    )
    add(
        7,
        command="zrevrange",
        key="large_sortedset:app:2025-10-16",
        arg_shape="0 99",
        key_pattern="large_sortedset:app:{DATE}",
        reply_bytes=2_000,
        **z,
    )
    add(3, command="get", key="user:1", key_pattern="user:{N}", reply_bytes=50, **z)
    l2 = on("0002", "10.0.9.2:5001")
    add(
        30,
        command="lrange",
        key="queue:jobs",
        arg_shape="0 -1",
        key_pattern="queue:jobs",
        reply_bytes=5_000,
        **l2,
    )
    add(20, command="hgetall", key="session:abc", key_pattern="session:{ID}", reply_bytes=800, **l2)
    add(11, command="smembers", key="tags:set", key_pattern="tags:set", reply_bytes=300, **l2)
    s3 = on("0003", "10.0.9.3:5002")
    add(40, command="get", key="user:2", key_pattern="user:{N}", reply_bytes=60, **s3)
    add(9, command="get", key="user:3", key_pattern="user:{N}", reply_bytes=60, **s3)
    add(5, command="ping", key=None, key_pattern=None, reply_bytes=7, **s3)
    add(
        4,
        command="set",
        key="user:2",
        key_pattern="user:{N}",
        origin="replicated",
        client="10.0.0.13:6379",
        reply_bytes=0,
        reply_confidence="none",
        **{k: v for k, v in s3.items() if k != "client"},
    )
    add(
        2,
        command="get",
        key="user:9",
        key_pattern="user:{N}",
        origin="script",
        client="lua",
        client_kind="lua",
        reply_bytes=0,
        reply_confidence="none",
        **{k: v for k, v in s3.items() if k != "client"},
    )
    return commands(rows)


def findings(df: pl.DataFrame, top: int = 20, warnings: list[str] | None = None):
    """Findings over a commands frame, as the pipeline would build them (one log per shard)."""
    from analyze import rollups
    from analyze.findings import Findings, InputInfo, Window
    from analyze.verdict import recommendations, verdict

    r = rollups.compute(df.lazy())
    v = verdict(r)
    stats = (
        df.group_by("source", "node", "shard")
        .agg(
            parsed=pl.len().cast(pl.Int64),
            first_ts=pl.col("ts").min(),
            last_ts=pl.col("ts").max(),
        )
        .with_columns(
            lines_total=pl.col("parsed") + 1,
            skipped=pl.lit(1, pl.Int64),
            errors=pl.lit(0, pl.Int64),
            truncated_last_line=pl.lit(False),
            error_examples=pl.lit([], pl.List(pl.String)),
            note=pl.lit(None, pl.String),
        )
        .sort("source")
    )
    first, last = df["ts"].min(), df["ts"].max()
    return Findings(
        inputs=[InputInfo(name=s, kind="log") for s in sorted(set(df["source"].to_list()))],
        window=Window(start=first, end=last),
        line_stats=stats,
        rollups=r,
        verdict=v,
        recommendations=recommendations(r, v),
        top=top,
        warnings=warnings or [],
    )
