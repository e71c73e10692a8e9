"""hotshard.db: the commands table, summary tables, indexes, and the five queries users have."""

from __future__ import annotations

import sqlite3

import polars as pl
import pytest

from analyze import pipeline, schema
from analyze import sqlite as db
from tests.frames import commands, findings, row, workload

# SPEC section 3 "Query", verbatim.
SPEC_QUERIES = [
    """SELECT key_name, COUNT(*) AS count FROM commands WHERE key_name IS NOT NULL
  GROUP BY key_name ORDER BY count DESC LIMIT 20;""",
    """SELECT key_name, COUNT(*) AS count FROM commands
  WHERE command = 'zrevrange' AND shard LIKE '%0001%' GROUP BY key_name ORDER BY count DESC;""",
    """SELECT key_name, COUNT(*) AS access_count, command FROM commands WHERE key_name IS NOT NULL
  GROUP BY key_name, command ORDER BY access_count DESC LIMIT 50;""",
    """SELECT command, COUNT(*) AS count FROM commands WHERE shard LIKE '%0001%'
  GROUP BY command ORDER BY count DESC;""",
    """SELECT key_name, command, shard, COUNT(*) AS count FROM commands
  WHERE command IN ('zrevrange','lrange','smembers','hgetall')
  GROUP BY key_name, command, shard ORDER BY count DESC LIMIT 30;""",
]


def _expected(df: pl.DataFrame) -> list[list[tuple]]:
    """The same five questions answered by polars (counts are distinct in `workload`)."""

    def ranked(frame: pl.DataFrame, count: str, cols: list[str], limit: int | None = None):
        frame = frame.sort([count, *cols], descending=[True, *[False] * len(cols)])
        return frame.head(limit).rows() if limit else frame.rows()

    keyed = df.filter(pl.col("key_name").is_not_null())
    q1 = keyed.group_by("key_name").agg(count=pl.len())
    q2 = (
        df.filter((pl.col("command") == "zrevrange") & pl.col("shard").str.contains("0001"))
        .group_by("key_name")
        .agg(count=pl.len())
    )
    q3 = keyed.group_by("key_name", "command").agg(access_count=pl.len())
    q4 = df.filter(pl.col("shard").str.contains("0001")).group_by("command").agg(count=pl.len())
    q5 = (
        df.filter(pl.col("command").is_in(["zrevrange", "lrange", "smembers", "hgetall"]))
        .group_by("key_name", "command", "shard")
        .agg(count=pl.len())
    )
    return [
        ranked(q1, "count", ["key_name"], 20),
        ranked(q2, "count", ["key_name"]),
        ranked(q3, "access_count", ["key_name", "command"], 50),
        ranked(q4, "count", ["command"]),
        ranked(q5, "count", ["key_name", "command", "shard"], 30),
    ]


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    df = workload()
    folder = tmp_path_factory.mktemp("out")
    files = pipeline.write_dataset(df.lazy(), folder / "commands")
    f = findings(df)
    path = folder / db.DB_NAME
    rows = db.write_database(path, files, pipeline.summary_tables(f), pipeline.info_table(f))
    assert rows == df.height
    return path, df


def test_spec_queries_run_unchanged(database):
    path, df = database
    expected = _expected(df)
    conn = sqlite3.connect(path)
    for sql, want in zip(SPEC_QUERIES, expected, strict=True):
        got = conn.execute(sql).fetchall()
        if "access_count" in sql:  # columns: key_name, access_count, command
            want = [(k, n, c) for k, c, n in want]
        assert got == want, sql
    conn.close()


def test_commands_table_matches_schema(database):
    path, _df = database
    conn = sqlite3.connect(path)
    info = conn.execute("PRAGMA table_info(commands)").fetchall()
    assert [(c[1], c[2]) for c in info] == list(schema.sqlite_columns().items())
    # Text stays text: shard ids keep their leading zeros, and LIKE works on them.
    assert conn.execute(
        "SELECT DISTINCT typeof(shard), typeof(key_name) FROM commands WHERE key_name IS NOT NULL"
    ).fetchall() == [("text", "text")]
    assert conn.execute("SELECT COUNT(*) FROM commands WHERE shard = '0001'").fetchone()[0] == 60
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert set(db.INDEXES) <= indexes
    conn.close()


def test_summary_tables(database):
    path, _ = database
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "commands",
        "shards",
        "nodes",
        "hot_keys",
        "patterns",
        "signatures",
        "clients",
        "slots",
        "series",
        "large_ops",
        "line_stats",
        "info",
    } <= tables
    shards = conn.execute("SELECT shard, commands, replicated, script FROM shards ORDER BY shard")
    assert shards.fetchall() == [("0001", 60, 0, 0), ("0002", 61, 0, 0), ("0003", 54, 4, 2)]
    top = conn.execute("SELECT key_name FROM hot_keys ORDER BY est_bytes_out DESC LIMIT 1")
    assert top.fetchone() == ("large_sortedset:app:2025-10-17",)
    assert dict(conn.execute("SELECT key, value FROM info"))["hot_shard"] == "0001"
    per_second = conn.execute("SELECT SUM(commands) FROM series").fetchone()[0]
    assert per_second == 175  # client commands only
    conn.close()


def test_binary_and_awkward_keys_round_trip(tmp_path):
    keys = ["caf\u00e9", 'q"uote', "tab\there", "\\xff\\x00", "sp ace", "emoji \U0001f525"]
    df = commands(
        [
            row(
                key=k,
                key_binary=(k == "\\xff\\x00"),
                key_bytes=b"\xff\x00" if k == "\\xff\\x00" else k.encode(),
            )
            for k in keys
        ]
    )
    files = pipeline.write_dataset(df.lazy(), tmp_path / "commands")
    db.write_commands(tmp_path / db.DB_NAME, files)
    conn = sqlite3.connect(tmp_path / db.DB_NAME)
    got = conn.execute("SELECT key_name, key_binary FROM commands ORDER BY key_name").fetchall()
    assert got == sorted((k, int(k == "\\xff\\x00")) for k in keys)
    conn.close()


def test_empty_dataset(tmp_path):
    files = pipeline.write_dataset(schema.empty_commands().lazy(), tmp_path / "commands")
    assert db.write_commands(tmp_path / db.DB_NAME, files) == 0
    conn = sqlite3.connect(tmp_path / db.DB_NAME)
    assert conn.execute(SPEC_QUERIES[0]).fetchall() == []
    conn.close()


def test_executemany_fallback_writes_the_same_rows(tmp_path):
    df = workload()
    files = pipeline.write_dataset(df.lazy(), tmp_path / "commands")
    path = tmp_path / "fallback.db"
    conn = sqlite3.connect(path)
    conn.execute(schema.sqlite_ddl())
    conn.commit()
    conn.close()
    reader = db._batches([str(f) for f in files], list(schema.sqlite_columns()))
    assert db._ingest_executemany(path, reader) == df.height
    conn = sqlite3.connect(path)
    assert conn.execute(SPEC_QUERIES[3]).fetchall() == [("zrevrange", 57), ("get", 3)]
    conn.close()
