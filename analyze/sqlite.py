"""`hotshard.db`: the `commands` table plus small summary tables, for `hotshard query` and friends.

The `commands` table is created with `schema.sqlite_ddl()` first and then appended to through
ADBC, streaming record batches from the Parquet dataset (the table is never in memory whole).
Creating it first matters: ADBC's own CREATE TABLE would give the string columns no TEXT type.
Measured on one core (22 columns, 5M rows): ADBC 0.4-0.5M rows/s (0.3M on a busy machine),
`executemany` ~0.15M rows/s; the ADBC SQLite driver's cost grows with the number of columns,
not with the bytes.

Summary tables (all small) get their own DDL from their frames: `shards`, `nodes`, `hot_keys`,
`patterns`, `signatures`, `clients`, `slots`, `series` (per second per shard), `large_ops`,
`shard_commands`, `line_stats`, and `info` (key/value: basis, verdict, time span...).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from analyze import schema

DB_NAME = "hotshard.db"
BATCH_ROWS = 65_536  # per ADBC batch: 262,144 was within noise and held +160 MiB
# Built after the data is in (much faster than maintaining it row by row). One index covers
# all five SPEC queries (no table access): grouped by key_name they walk it in order, filtered
# on command or shard they scan it instead of the 22-column table. Measured on 20M rows: 28 s
# to build; the five queries 1.5, 1.3, 2.0, 4.3, 3.0 s. A second index (command, shard,
# key_name) took Q2/Q5 to 0.3 s and Q4 to 3.2 s but doubled the build to 56 s, which every
# analyze run pays before its output is ready. An index on `shard` alone would not help:
# `shard LIKE '%0001%'` cannot use one, and it has a handful of values.
INDEXES = {
    "commands_key_name": "key_name, command, shard",
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
    # Index builds sort through temporary files beyond this cache, so memory stays bounded
    # however large the table (temp_store=MEMORY would hold the whole sort in RAM).
    "PRAGMA cache_size=-65536",  # 64 MB
    "PRAGMA threads=2",  # worker threads for the index sorter
)


def write_database(
    path: str | os.PathLike[str],
    parquet_files: Iterable[str | os.PathLike[str]],
    tables: Mapping[str, pl.DataFrame],
    info: Mapping[str, Any] | None = None,
) -> int:
    """Create `path` (replacing it) from the Parquet files and summary tables; return the row count."""
    rows = write_commands(path, parquet_files)
    write_summaries(path, tables, info)
    return rows


def write_commands(
    path: str | os.PathLike[str], parquet_files: Iterable[str | os.PathLike[str]]
) -> int:
    """Create `path` (replacing it) with the indexed `commands` table; return its row count."""
    create_commands(path)
    rows = append_commands(path, parquet_files)
    index_commands(path)
    return rows


def create_commands(path: str | os.PathLike[str]) -> None:
    """Create `path` (replacing it) with the empty `commands` table."""
    path = Path(path)
    path.unlink(missing_ok=True)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(schema.sqlite_ddl())
        conn.commit()


def append_commands(
    path: str | os.PathLike[str], parquet_files: Iterable[str | os.PathLike[str]]
) -> int:
    """Append Parquet files of the commands dataset to the table; return the rows added.

    Needs only finished files, so the analyzer runs it in a thread as each source is parsed.
    """
    return _ingest_commands(Path(path), [str(f) for f in parquet_files])


def index_commands(path: str | os.PathLike[str]) -> None:
    """Build the indexes, once every row is in (much faster than maintaining them)."""
    with closing(sqlite3.connect(path)) as conn:
        for pragma in _FAST_PRAGMAS:
            conn.execute(pragma)
        with conn:
            for name, columns in INDEXES.items():
                conn.execute(f"CREATE INDEX {name} ON commands ({columns})")


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
        # Planner statistics from a sample: a full ANALYZE reads every index (~8 s on 20M rows).
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


def _batches(files: list[str], columns: list[str]) -> pa.RecordBatchReader:
    """The dataset's SQLite columns as a stream of record batches with 32-bit-offset strings.

    Files are read one after the other, a batch at a time (a dataset scanner reads ahead of a
    slow consumer like SQLite and holds the difference in memory). Plain `string` binds ~10%
    faster than `large_string` in the ADBC driver.
    """
    first = pq.ParquetFile(files[0]).schema_arrow
    fields = []
    for name in columns:
        t = first.field(name).type
        fields.append(pa.field(name, pa.string() if pa.types.is_large_string(t) else t))
    target = pa.schema(fields)

    def read() -> Iterator[pa.RecordBatch]:
        for path in files:
            with pq.ParquetFile(path) as pf:
                for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=columns):
                    if batch.num_rows:
                        yield batch.cast(target)

    return pa.RecordBatchReader.from_batches(target, read())


def _ingest_commands(path: Path, files: list[str]) -> int:
    columns = list(schema.sqlite_columns())
    if not files:
        return 0
    reader = _batches(files, columns)
    try:
        import adbc_driver_sqlite.dbapi as adbc
    except ImportError:  # pragma: no cover - adbc is part of the analyze extra
        return _ingest_executemany(path, reader)
    with adbc.connect(str(path), autocommit=True) as conn:
        cur = conn.cursor()
        try:
            # Not inherited from the connection that created the file: without them the driver
            # journals and syncs every batch (measured: 0.33M rows/s, 0.40M with them).
            for pragma in _FAST_PRAGMAS[:2]:
                cur.execute(pragma)
            return int(cur.adbc_ingest("commands", reader, mode="append"))
        finally:
            cur.close()


def _ingest_executemany(path: Path, reader: pa.RecordBatchReader) -> int:
    names = reader.schema.names
    sql = f"INSERT INTO commands ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
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
