"""The one description of the analyzer's tables: a narrow row per command, a row per distinct key,
a row per distinct command signature.

    commands     one row per command line (Parquet `commands/`, SQLite `commands`)
    keys         one row per distinct key (first keys, and every key of a multi-key command):
                 its text, exact bytes, slot, pattern
    signatures   one row per distinct `COMMAND | pattern | arg shape`

A row points at its key and signature by integer id (`key_id`, `signature_id`): the attributes
of a key are worked out once per distinct key, not once per line, and stored once. SQLite's
`commands_wide` view joins them back for people who want everything in one place. The Parquet
files and the SQLite DDL are both derived from the dicts below.
"""

from __future__ import annotations

import polars as pl

# origin: where a MONITOR line came from, so nothing is counted twice as client traffic.
ORIGIN_CLIENT = "client"  # a real client's command
ORIGIN_REPLICATED = "replicated"  # a write replicated from the primary, seen on a replica
ORIGIN_SCRIPT = "script"  # a redis.call inside EVAL/EVALSHA/FCALL ([0 lua] lines)
# Cluster-internal or admin traffic: slot migration (MIGRATE, the RESTORE-ASKING/ASKING a
# migrating node sends its target) and CLUSTER subcommands. Not what clients read.
ORIGIN_CLUSTER = "cluster"
CLUSTER_COMMANDS = frozenset({"migrate", "restore-asking", "asking", "cluster"})

# client_kind: the address form of the line.
CLIENT_KINDS = ("ip", "unix", "lua", "internal")

# reply_confidence: what a reply-size estimate rests on.
CONFIDENCES = (
    "logged",
    "exact",
    "sampled-during",
    "replayed",
    "interpolated",
    "sampled",
    "bounded",
    "pattern",
    "script",
    "unknown",
    "none",
)
# Confidences that carry bytes (`unknown`/`none` do not; `logged` last in breakdowns), and those
# resting on sampled key sizes.
MODELLED = (*(c for c in CONFIDENCES if c not in ("logged", "unknown", "none")), "logged")
SIZED = tuple(c for c in MODELLED if c != "exact")

COMMANDS: dict[str, pl.DataType] = {
    "ts": pl.Float64(),  # epoch seconds, microsecond precision, as the server printed it
    "node": pl.String(),  # "host:port" of the monitored node ("unknown" for plain logs)
    "shard": pl.String(),  # shard id, e.g. "0001" (from the manifest or --shard)
    "source": pl.String(),  # the file the line came from (name only)
    "db": pl.Int32(),
    "client": pl.String(),  # address as printed: "10.0.0.1:53422", "[::1]:6000", "lua", "unix:/p", ""
    "origin": pl.String(),  # one of ORIGIN_*
    "command": pl.String(),  # lower case, e.g. "zrevrange"
    "key_name": pl.String(),  # first key, text form (see `keys`); null when the command has none
    "key_id": pl.Int32(),  # -> keys.key_id
    "signature_id": pl.Int32(),  # -> signatures.signature_id
    "arg_count": pl.Int32(),  # arguments after the command name
    "key_count": pl.Int32(),  # keys by key spec
    # Every key, text form, for commands with more than one (MGET, DEL a b); null otherwise.
    "keys": pl.List(pl.String()),
    "request_bytes": pl.Int64(),  # the command as a RESP2 array on the wire (NetworkBytesIn)
    "reply_bytes": pl.Int64(),  # estimated RESP reply size; null when unknown
    "reply_confidence": pl.String(),  # one of CONFIDENCES
    # Per key of `keys`, its share of `reply_bytes` (analyze/estimate/attribution.py); null otherwise.
    "keys_reply_bytes": pl.List(pl.Int64()),
}

KEYS: dict[str, pl.DataType] = {
    "key_id": pl.Int32(),
    "key_name": pl.String(),  # text form: the key when valid UTF-8, else Redis' escaped form
    "key_binary": pl.Boolean(),  # key_name is the escaped form of a non-UTF-8 key
    "key_bytes": pl.Binary(),  # the exact bytes
    "slot": pl.Int32(),  # CRC16 cluster slot (hash tags applied)
    "key_pattern": pl.String(),  # e.g. "large_sortedset:app:{DATE}"
}

SIGNATURES: dict[str, pl.DataType] = {
    "signature_id": pl.Int32(),
    "signature": pl.String(),  # "ZREVRANGE | large_sortedset:app:{DATE} | 0 -1"
    "command": pl.String(),
    "key_pattern": pl.String(),
    "arg_shape": pl.String(),  # non-key arguments with values masked, e.g. "0 -1 WITHSCORES"
}

# Low-cardinality strings, dictionary-encoded in Parquet (cheaper to write and to read).
DICTIONARY = ("node", "shard", "source", "client", "origin", "command", "reply_confidence")
# What SQLite's `commands` leaves to Parquet: the SQLite driver's cost grows with every column,
# and per-row questions do not need these (the view derives role, slot, pattern, signature...).
PARQUET_ONLY = frozenset(
    {"source", "arg_count", "key_count", "keys", "keys_reply_bytes", "key_bytes"}
)

_SQLITE_TYPES = {
    pl.Float64: "REAL",
    pl.Int32: "INTEGER",
    pl.Int64: "INTEGER",
    pl.Boolean: "INTEGER",
    pl.String: "TEXT",
    pl.Binary: "BLOB",
}


def sqlite_columns(table: dict[str, pl.DataType] = COMMANDS) -> dict[str, str]:
    """Column name -> SQLite type of a table's SQLite form."""
    return {
        name: _SQLITE_TYPES[type(dtype)]
        for name, dtype in table.items()
        if name not in PARQUET_ONLY
    }


def sqlite_ddl(name: str = "commands", table: dict[str, pl.DataType] = COMMANDS) -> str:
    cols = ",\n  ".join(f"{c} {t}" for c, t in sqlite_columns(table).items())
    return f"CREATE TABLE {name} (\n  {cols}\n)"


def empty(table: dict[str, pl.DataType] = COMMANDS) -> pl.DataFrame:
    return pl.DataFrame(schema=table)


def with_all_columns(lf: pl.LazyFrame, table: dict[str, pl.DataType] = COMMANDS) -> pl.LazyFrame:
    """`lf` with the columns of `table` it lacks (written by an older version) as nulls."""
    have = lf.collect_schema().names()
    return lf.with_columns(
        pl.lit(None, dtype).alias(c) for c, dtype in table.items() if c not in have
    )


def for_parquet(df: pl.DataFrame) -> pl.DataFrame:
    """`df` (COMMANDS columns) with the dictionary columns as Categorical for writing."""
    return df.with_columns(pl.col(c).cast(pl.Categorical) for c in DICTIONARY if c in df.columns)
