"""hotshard.db: the commands table, summary tables, indexes, and the five queries users have."""

from __future__ import annotations

import os
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from hotshard.analyze import schema
from hotshard.analyze.commands import query
from hotshard.analyze.read.parse import Source
from hotshard.analyze.store import dataset
from hotshard.analyze.store import sqlite as db
from tests.frames import (
    commands,
    findings,
    row,
    slot_of,
    source_tables,
    tables,
    workload,
    write_outputs,
)
from tests.read.test_parse import ADDRESSES

# The queries users already have, as docs/QUERIES.md writes them down.
_DOC = Path(__file__).parents[2] / "docs" / "QUERIES.md"
QUERIES = re.findall(r"```sql\n(.*?)\n```", _DOC.read_text(), re.DOTALL)


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
    path = write_outputs(folder, tables(df), findings(df))
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM commands").fetchone()[0] == df.height
    conn.close()
    return path, df


def test_spec_queries_run_unchanged(database):
    path, df = database
    expected = _expected(df)
    conn = sqlite3.connect(path)
    for sql, want in zip(QUERIES, expected, strict=True):
        got = conn.execute(sql).fetchall()
        if "access_count" in sql:  # columns: key_name, access_count, command
            want = [(k, n, c) for k, c, n in want]
        assert got == want, sql
    conn.close()


def test_spec_queries_by_hand(database):
    """Two of the five answered from the workload's definition, not by a second computation."""
    path, _ = database
    conn = sqlite3.connect(path)
    assert conn.execute(QUERIES[1]).fetchall() == [
        ("large_sortedset:app:2025-10-17", 50),
        ("large_sortedset:app:2025-10-16", 7),
    ]
    assert conn.execute(QUERIES[3]).fetchall() == [("zrevrange", 57), ("get", 3)]
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
    conn.close()


def _indexes(path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}


def test_the_index_is_built_by_the_first_query(database, tmp_path, capsys):
    """`analyze` leaves the index out; the first `hotshard query` builds it, says so with the
    time it took, and the queries give the same answers before and after."""
    path = tmp_path / db.DB_NAME
    path.write_bytes(Path(database[0]).read_bytes())
    assert not set(db.INDEXES) & _indexes(path)
    before = [sqlite3.connect(path).execute(q).fetchall() for q in QUERIES]
    query.run_query(QUERIES[1], tmp_path)
    err = capsys.readouterr().err
    assert "building the query index" in err and re.search(r"index built in \d+\.\d s", err)
    assert set(db.INDEXES) <= _indexes(path)
    query.run_query(QUERIES[1], tmp_path)
    assert capsys.readouterr().err == ""  # once only
    assert [sqlite3.connect(path).execute(q).fetchall() for q in QUERIES] == before
    plan = sqlite3.connect(path).execute(f"EXPLAIN QUERY PLAN {QUERIES[1]}").fetchall()
    assert any("commands_key_name" in str(row) for row in plan)


def test_a_read_only_database_is_queried_without_the_index(database, tmp_path, capsys):
    path = tmp_path / db.DB_NAME
    path.write_bytes(Path(database[0]).read_bytes())
    path.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        if os.access(path, os.W_OK):
            pytest.skip("running as a user who can write anything (root)")
        query.run_query(QUERIES[3], tmp_path)
        assert "read-only" in capsys.readouterr().err
    finally:
        tmp_path.chmod(0o755)


def test_summary_tables(database):
    path, _ = database
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "commands",
        "keys",
        "sources",
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


def test_keys_and_signatures_tables_hold_every_one_by_id(database):
    path, _ = database
    conn = sqlite3.connect(path)
    keys = conn.execute("SELECT key_id, key_name, slot, key_pattern FROM keys ORDER BY key_id")
    # tests.frames.tables numbers the distinct names in sorted order.
    assert keys.fetchall() == [
        (0, "large_sortedset:app:2025-10-16", 1959, "large_sortedset:app:{DATE}"),
        (1, "large_sortedset:app:2025-10-17", 6022, "large_sortedset:app:{DATE}"),
        (2, "queue:jobs", 10197, "queue:jobs"),
        (3, "session:abc", row(key="session:abc")["slot"], "session:{ID}"),
        (4, "tags:set", row(key="tags:set")["slot"], "tags:set"),
        (5, "user:1", row(key="user:1")["slot"], "user:{N}"),
        (6, "user:2", row(key="user:2")["slot"], "user:{N}"),
        (7, "user:3", row(key="user:3")["slot"], "user:{N}"),
        (8, "user:9", row(key="user:9")["slot"], "user:{N}"),
    ]
    # Every signature, with its id, also the one no client sent (the replicated SET): only it
    # has no sums.
    sigs = conn.execute(
        "SELECT signature_id, signature, commands FROM signatures ORDER BY signature_id"
    ).fetchall()
    assert sigs == [
        (0, "GET | user:{N} | ", 52),
        (1, "HGETALL | session:{ID} | ", 20),
        (2, "LRANGE | queue:jobs | 0 -1", 30),
        (3, "PING |  | ", 5),
        (4, "SET | user:{N} | ", None),
        (5, "SMEMBERS | tags:set | ", 11),
        (6, "ZREVRANGE | large_sortedset:app:{DATE} | 0 -1", 50),
        (7, "ZREVRANGE | large_sortedset:app:{DATE} | 0 99", 7),
    ]
    conn.close()


def test_commands_wide_view_joins_everything_back(database):
    path, df = database
    conn = sqlite3.connect(path)
    cols = [c[1] for c in conn.execute("PRAGMA table_info(commands_wide)")]
    assert cols == [
        *schema.sqlite_columns(),
        "role",
        "client_kind",
        "client_ip",
        "key_binary",
        "slot",
        "key_pattern",
        "signature",
        "arg_shape",
    ]
    view = conn.execute(
        "SELECT ts, node, key_name, role, client_kind, client_ip, key_binary, slot,"
        " key_pattern, signature, arg_shape FROM commands_wide ORDER BY ts"
    ).fetchall()
    want = (
        df.sort("ts")
        .select(
            "ts",
            "node",
            "key_name",
            "role",
            "client_kind",
            "client_ip",
            pl.col("key_binary").cast(pl.Int64),
            "slot",
            "key_pattern",
            "signature",
            "arg_shape",
        )
        .rows()
    )
    assert view == want
    assert len(view) == 181
    # One literal row, by hand: the script's GET.
    lua = conn.execute(
        "SELECT client, client_kind, client_ip, role, origin, signature FROM commands_wide"
        " WHERE origin = 'script' LIMIT 1"
    ).fetchone()
    assert lua == ("lua", "lua", None, "replica", "script", "GET | user:{N} | ")
    conn.close()


def test_the_view_derives_what_the_wide_frame_derives(tmp_path):
    """Every address form through the real row path: `commands_wide` (SQL) and `tables.wide`
    (Polars) give each line the same client kind, ip, role and key attributes."""
    log = tmp_path / "monitor.log"
    log.write_text("\n".join(ADDRESSES) + "\n")
    source = Source(log, node="10.0.0.2:6379", shard="0001", role="replica")
    t = source_tables([source])
    path = write_outputs(tmp_path, t)
    conn = sqlite3.connect(path)
    columns = ["ts", "client", "client_kind", "client_ip", "role", "key_name", "slot", "signature"]
    view = conn.execute(f"SELECT {', '.join(columns)} FROM commands_wide ORDER BY ts").fetchall()
    conn.close()
    assert view == t.wide().collect().sort("ts").select(columns).rows()
    assert [(r[2], r[3]) for r in view] == [
        ("ip", "10.0.0.1"),
        ("ip", "::1"),
        ("ip", "fe80::1%eth0"),
        ("lua", None),
        ("unix", None),
        ("unix", None),
        ("internal", None),
        ("ip", "10.0.2.9"),
    ]
    assert {r[4] for r in view} == {"replica"}
    assert view[0][5:] == ("a", slot_of(b"a"), "GET | a")


@pytest.mark.parametrize("order", [1, -1], ids=["primary-file-first", "replica-file-first"])
def test_a_node_seen_in_two_roles_has_one_role_everywhere(tmp_path, order):
    """Files of one node from before and after a failover: the wide frame and the view agree on
    its role, whatever order the files came in."""
    logs = []
    for name, role in (("a.log", "primary"), ("b.log", "replica")):
        (tmp_path / name).write_text('1.5 [0 10.0.1.1:5000] "GET" "k"\n')
        logs.append(Source(tmp_path / name, node="10.0.0.1:6379", shard="0001", role=role))
    t = source_tables(logs[::order])
    assert t.wide().collect()["role"].to_list() == ["primary", "primary"]
    conn = sqlite3.connect(write_outputs(tmp_path, t))
    assert conn.execute("SELECT role FROM commands_wide").fetchall() == [("primary",)] * 2
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
    path = write_outputs(tmp_path, tables(df))
    conn = sqlite3.connect(path)
    got = conn.execute("SELECT key_name, key_binary FROM commands_wide ORDER BY key_name")
    assert got.fetchall() == sorted((k, int(k == "\\xff\\x00")) for k in keys)
    conn.close()
    # The exact bytes stay in Parquet (schema.PARQUET_ONLY), in the keys table beside commands/.
    keys_table = dataset.read(tmp_path).keys
    assert keys_table.filter("key_binary")["key_bytes"].to_list() == [b"\xff\x00"]


def test_empty_dataset(tmp_path):
    path = write_outputs(tmp_path, tables(commands([])))
    conn = sqlite3.connect(path)
    assert conn.execute(QUERIES[0]).fetchall() == []
    assert conn.execute("SELECT COUNT(*) FROM keys").fetchone() == (0,)
    conn.close()


def test_executemany_fallback_writes_the_same_rows(tmp_path):
    t = tables(workload())
    path = tmp_path / "fallback.db"
    db.create_commands(path)
    arrow = db.commands_arrow(t.rows.collect())
    reader = pa.RecordBatchReader.from_batches(arrow.schema, arrow.to_batches(50))
    assert db._ingest_executemany(path, "commands", reader) == 181
    conn = sqlite3.connect(path)
    assert conn.execute(QUERIES[3]).fetchall() == [("zrevrange", 57), ("get", 3)]
    conn.close()


def test_analyze_sqlite_index_builds_it_at_once(tmp_path):
    from hotshard.analyze.commands.analyze import AnalyzeOptions, run_analyze

    sample = Path(__file__).parents[2] / "samples" / "hot-zset"
    out = tmp_path / "out"
    run_analyze(
        AnalyzeOptions([str(sample)], str(out), sqlite_index=True, quiet=True, console=False)
    )
    assert set(db.INDEXES) <= _indexes(out / db.DB_NAME)
