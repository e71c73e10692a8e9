"""The one description of the parsed `commands` table.

The Parquet dataset is written with exactly these columns and types, and the SQLite DDL is derived
from them (`sqlite_ddl`). Stages in between add columns in this order:

    parse.scan        ts .. arg_count, request_bytes, plus the transient `args` column
    keys.extract      keys, key_count, key_name, key_binary, key_bytes, arg_shape
    slots / patterns  slot, key_pattern, signature
    replies.estimate  reply_bytes, reply_confidence

`args` (List[String]: every argument after the command, as quoted in the MONITOR line, escapes
NOT resolved) lives only inside the lazy plan; it is dropped before anything is written.
"""

from __future__ import annotations

import polars as pl

# origin: where a MONITOR line came from, so nothing is counted twice as client traffic.
ORIGIN_CLIENT = "client"  # a real client's command
ORIGIN_REPLICATED = "replicated"  # a write replicated from the primary, seen on a replica
ORIGIN_SCRIPT = "script"  # a redis.call inside EVAL/EVALSHA/FCALL ([0 lua] lines)

# client_kind: the address form of the line.
CLIENT_KINDS = ("ip", "unix", "lua", "internal")

# reply_confidence: what a reply-size estimate rests on.
CONFIDENCES = ("exact", "sampled", "pattern", "unknown", "none")

COMMANDS: dict[str, pl.DataType] = {
    "ts": pl.Float64(),  # epoch seconds, microsecond precision, as the server printed it
    "node": pl.String(),  # "host:port" of the monitored node ("unknown" for plain logs)
    "shard": pl.String(),  # shard id, e.g. "0001" (from the manifest or --shard)
    "role": pl.String(),  # primary | replica | unknown
    "source": pl.String(),  # the file the line came from (name only)
    "db": pl.Int32(),
    "client": pl.String(),  # address as printed: "10.0.0.1:53422", "[::1]:6000", "lua", "unix:/p", ""
    "client_ip": pl.String(),  # ip without port; null for unix/lua/internal
    "client_kind": pl.String(),  # one of CLIENT_KINDS
    "origin": pl.String(),  # one of ORIGIN_*
    "command": pl.String(),  # lower case, e.g. "zrevrange"
    "arg_count": pl.Int32(),  # arguments after the command name
    "request_bytes": pl.Int64(),  # the command as a RESP2 array on the wire (NetworkBytesIn)
    "keys": pl.List(
        pl.String()
    ),  # every key by key spec, text form (see capture.manifest.key_text)
    "key_count": pl.Int32(),
    "key_name": pl.String(),  # first key, text form; null when the command has none
    "key_binary": pl.Boolean(),  # key_name is the escaped form of a non-UTF-8 key
    "key_bytes": pl.Binary(),  # first key, exact bytes
    "arg_shape": pl.String(),  # non-key arguments with values masked, e.g. "0 -1 WITHSCORES"
    "slot": pl.Int32(),  # cluster slot of the first key
    "key_pattern": pl.String(),  # e.g. "large_sortedset:app:{DATE}"
    "signature": pl.String(),  # "ZREVRANGE | large_sortedset:app:{DATE} | 0 -1"
    "reply_bytes": pl.Int64(),  # estimated RESP reply size; null when unknown
    "reply_confidence": pl.String(),  # one of CONFIDENCES
}

# Columns that stay in Parquet only (SQLite users query text; the exact bytes live in Parquet).
PARQUET_ONLY = frozenset({"keys", "key_bytes"})

_SQLITE_TYPES = {
    pl.Float64: "REAL",
    pl.Int32: "INTEGER",
    pl.Int64: "INTEGER",
    pl.Boolean: "INTEGER",
    pl.String: "TEXT",
    pl.Binary: "BLOB",
}


def sqlite_columns() -> dict[str, str]:
    """Column name -> SQLite type for the `commands` table."""
    out = {}
    for name, dtype in COMMANDS.items():
        if name in PARQUET_ONLY:
            continue
        out[name] = _SQLITE_TYPES[type(dtype)]
    return out


def sqlite_ddl(table: str = "commands") -> str:
    cols = ",\n  ".join(f"{name} {sqltype}" for name, sqltype in sqlite_columns().items())
    return f"CREATE TABLE {table} (\n  {cols}\n)"


def empty_commands() -> pl.DataFrame:
    return pl.DataFrame(schema=COMMANDS)
