"""`hotshard.db`: the narrow `commands` table, the `keys` and `signatures` it points at, the
`commands_wide` view, and small summary tables, for `hotshard query` and friends.

The `commands` table is created with `schema.sqlite_ddl()` first and then appended to through
ADBC, a chunk of rows at a time as the analyzer makes them (the table is never in memory whole).
Creating it first matters: ADBC's own CREATE TABLE would give the string columns no TEXT type.
The ADBC SQLite driver's cost grows with the number of columns, not with the bytes, which is why
`commands` holds only what per-row questions need (docs/BENCHMARKS.md).

Summary tables (all small) get their own DDL from their frames: `shards`, `nodes`, `hot_keys`,
`patterns`, `signatures` (every signature with its id, sums for the top ones), `clients`,
`slots`, `series` (per second per shard), `large_ops`, `shard_commands`, `line_stats`, and
`info` (key/value: basis, verdict, time span...).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from hotshard.analyze import schema
from hotshard.analyze.store.dataset import Tables

DB_NAME = "hotshard.db"
BATCH_ROWS = 65_536  # per ADBC batch: larger ones held more memory for no speed
# Built on request (`build_indexes`): by `hotshard query` the first time it runs on a database,
# or by `analyze --sqlite-index` after the data is in (much faster than maintaining it row by
# row). One index covers all five predecessor queries (no table access): grouped by key_name
# they walk it in order, filtered on command or shard they scan it instead of the table. What it
# costs and buys: docs/BENCHMARKS.md.
INDEXES = {
    "commands_key_name": "commands (key_name, command, shard)",
}

_TYPES: dict[type[pl.DataType], str] = {
    pl.Float64: "REAL",
    pl.Float32: "REAL",
    pl.Int8: "INTEGER",
    pl.Int16: "INTEGER",
    pl.Int32: "INTEGER",
    pl.Int64: "INTEGER",
    pl.UInt8: "INTEGER",
    pl.UInt16: "INTEGER",
    pl.UInt32: "INTEGER",
    pl.UInt64: "INTEGER",
    pl.Boolean: "INTEGER",
    pl.String: "TEXT",
    pl.Binary: "BLOB",
}

_FAST_PRAGMAS = (
    # The file is rebuilt from scratch on every run: a crash just means run again.
    "PRAGMA journal_mode=OFF",
    "PRAGMA synchronous=OFF",
    # Index builds sort through temporary files beyond the (default) cache, so memory stays
    # bounded however large the table; a bigger cache made it slower (docs/BENCHMARKS.md).
    "PRAGMA threads=2",  # worker threads for the index sorter
)
# Fewer, larger pages: more rows/s through ADBC (docs/BENCHMARKS.md). Set before any table.
PAGE_SIZE = "PRAGMA page_size=65536"

VIEWS = {
    # Everything in one place: the row, its key's and signature's attributes, its node's role.
    "commands_wide": """
SELECT c.*,
  r.role AS role,
  CASE WHEN c.client = 'lua' THEN 'lua' WHEN c.client LIKE 'unix:%' THEN 'unix'
       WHEN c.client = '' THEN 'internal' ELSE 'ip' END AS client_kind,
  CASE WHEN c.client LIKE '[%' THEN substr(c.client, 2, instr(c.client, ']') - 2)
       WHEN c.client = 'lua' OR c.client = '' OR c.client LIKE 'unix:%' THEN NULL
       ELSE substr(c.client, 1, instr(c.client, ':') - 1) END AS client_ip,
  k.key_binary AS key_binary, k.slot AS slot, k.key_pattern AS key_pattern,
  s.signature AS signature, s.arg_shape AS arg_shape
FROM commands AS c
LEFT JOIN keys AS k ON k.key_id = c.key_id
LEFT JOIN signatures AS s ON s.signature_id = c.signature_id
LEFT JOIN (SELECT node, min(role) AS role FROM sources GROUP BY node) AS r ON r.node = c.node""",
}


def create_commands(path: str | os.PathLike[str]) -> None:
    """Create `path` (replacing it) with the empty `commands` table."""
    path = Path(path)
    path.unlink(missing_ok=True)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(PAGE_SIZE)
        conn.execute(schema.sqlite_ddl())
        conn.commit()


def commands_arrow(rows: pl.DataFrame) -> pa.Table:
    """The SQLite columns of a chunk of rows, as Arrow with 32-bit-offset strings (they bind
    faster than `large_string` in the ADBC driver: docs/BENCHMARKS.md)."""
    table = rows.select(list(schema.sqlite_columns())).to_arrow()
    return table.cast(
        pa.schema(
            [
                pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type)
                for f in table.schema
            ]
        )
    )


def append_commands(path: str | os.PathLike[str], rows: pa.Table) -> int:
    """Append rows (`commands_arrow`) to the table; return how many went in."""
    return _ingest(Path(path), "commands", rows)


def write_dimensions(path: str | os.PathLike[str], found: Tables, index: bool = False) -> int:
    """The `keys` and `sources` tables and the views once every row is in; the indexes too
    when `index` (otherwise `hotshard query` builds them on first use: `build_indexes`)."""
    keys = found.keys.select(list(schema.sqlite_columns(schema.KEYS))).to_arrow()
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(
            schema.sqlite_ddl("keys", schema.KEYS).replace(
                "key_id INTEGER", "key_id INTEGER PRIMARY KEY", 1
            )
        )
        write_table(conn, "sources", found.sources)
        conn.commit()
    _ingest(Path(path), "keys", keys.cast(_narrow_strings(keys.schema)))
    with closing(sqlite3.connect(path)) as conn:
        for pragma in _FAST_PRAGMAS:
            conn.execute(pragma)
        with conn:
            for name, sql in VIEWS.items():
                conn.execute(f"CREATE VIEW {name} AS {sql}")
    if index:
        build_indexes(path, analyze=False)
    return 0


def missing_indexes(conn: sqlite3.Connection) -> list[str]:
    """The names of `INDEXES` not in the database yet (none when it has no `commands`)."""
    found = {
        name
        for (name, kind) in conn.execute("SELECT name, type FROM sqlite_master")
        if kind in ("index", "table")
    }
    return [name for name in INDEXES if name not in found] if "commands" in found else []


def build_indexes(path: str | os.PathLike[str], analyze: bool = True) -> list[str]:
    """Create the missing `INDEXES` of the database at `path`; return their names. `analyze`:
    refresh the planner's statistics afterwards (`write_summaries` does it otherwise)."""
    with closing(sqlite3.connect(path)) as conn:
        missing = missing_indexes(conn)
        if not missing:
            return []
        for pragma in _FAST_PRAGMAS:
            conn.execute(pragma)
        with conn:
            for name in missing:
                conn.execute(f"CREATE INDEX {name} ON {INDEXES[name]}")
        if analyze:
            conn.execute("PRAGMA analysis_limit=1000")
            conn.execute("ANALYZE")
    return missing


def _narrow_strings(s: pa.Schema) -> pa.Schema:
    return pa.schema(
        [pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type) for f in s]
    )


def write_summaries(
    path: str | os.PathLike[str],
    tables: Mapping[str, pl.DataFrame],
    info: Mapping[str, Any] | None = None,
) -> None:
    """Add the summary tables and the `info` key/value table to an existing database."""
    with closing(sqlite3.connect(path)) as conn:
        for pragma in _FAST_PRAGMAS:
            conn.execute(pragma)
        with conn:
            for name, df in sorted(tables.items()):
                conn.execute(f'DROP TABLE IF EXISTS "{name}"')
                write_table(conn, name, df)
            if info is not None:
                conn.execute("DROP TABLE IF EXISTS info")
                conn.execute("CREATE TABLE info (key TEXT PRIMARY KEY, value TEXT)")
                conn.executemany(
                    "INSERT INTO info VALUES (?, ?)",
                    [(k, None if v is None else str(v)) for k, v in sorted(info.items())],
                )
        # Planner statistics from a sample: a full ANALYZE reads every index.
        conn.execute("PRAGMA analysis_limit=1000")
        conn.execute("ANALYZE")


def write_table(conn: sqlite3.Connection, name: str, df: pl.DataFrame) -> None:
    """One summary table: DDL from the frame's schema, rows by executemany."""
    cols = ", ".join(f'"{c}" {_sql_type(t)}' for c, t in df.schema.items())
    conn.execute(f'CREATE TABLE "{name}" ({cols})')
    if df.height:
        marks = ", ".join("?" * df.width)
        conn.executemany(f'INSERT INTO "{name}" VALUES ({marks})', df.iter_rows())


def _sql_type(dtype: pl.DataType) -> str:
    try:
        return _TYPES[type(dtype)]
    except KeyError:
        raise TypeError(f"no SQLite type for {dtype}") from None


def _ingest(path: Path, table: str, rows: pa.Table) -> int:
    if not rows.num_rows:
        return 0
    reader = pa.RecordBatchReader.from_batches(rows.schema, rows.to_batches(BATCH_ROWS))
    try:
        import adbc_driver_sqlite.dbapi as adbc
    except ImportError:  # pragma: no cover - adbc is part of the analyze extra
        return _ingest_executemany(path, table, reader)
    with adbc.connect(str(path), autocommit=True) as conn:
        cur = conn.cursor()
        try:
            # Not inherited from the connection that created the file: without them the driver
            # journals and syncs every batch.
            for pragma in _FAST_PRAGMAS[:2]:
                cur.execute(pragma)
            return int(cur.adbc_ingest(table, reader, mode="append"))
        finally:
            cur.close()


def _ingest_executemany(path: Path, table: str, reader: pa.RecordBatchReader) -> int:
    names = reader.schema.names
    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    n = 0
    with closing(sqlite3.connect(path)) as conn:
        for pragma in _FAST_PRAGMAS[:2]:
            conn.execute(pragma)
        with conn:
            for batch in reader:
                cols = [c.to_pylist() for c in batch.columns]
                conn.executemany(sql, zip(*cols, strict=True))
                n += batch.num_rows
    return n
