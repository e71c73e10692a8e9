"""`hotshard query`: through the real CLI entry point, on a real hotshard.db."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from hotshard.analyze.commands.query import format_table
from hotshard.analyze.store import sqlite as db
from hotshard.capture.cli import run
from hotshard.capture.errors import ExitStatus
from tests.frames import findings, tables, workload, write_outputs


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    df = workload()
    folder = tmp_path_factory.mktemp("out")
    write_outputs(folder, tables(df), findings(df))
    return folder


def test_prints_aligned_table(out_dir, capsys):
    sql = (
        "SELECT command, COUNT(*) AS count FROM commands WHERE shard LIKE '%0001%' "
        "GROUP BY command ORDER BY count DESC"
    )
    assert run(["query", sql, "--db", str(out_dir / db.DB_NAME)]) == ExitStatus.OK
    out = capsys.readouterr().out
    assert out == (
        "command    count\n---------  -----\nzrevrange     57\nget            3\n(2 rows)\n"
    )


def test_db_may_be_the_output_folder(out_dir, capsys):
    assert run(["query", "SELECT COUNT(*) AS n FROM commands", "--db", str(out_dir)]) == 0
    assert capsys.readouterr().out.splitlines()[2].strip() == "181"


def test_bad_sql_is_one_line(out_dir, capsys):
    status = run(["query", "SELEC key_name FROM commands", "--db", str(out_dir)])
    assert status == ExitStatus.USAGE
    err = capsys.readouterr().err
    assert err.startswith("hotshard: SQL error:") and "syntax error" in err
    assert err.count("\n") == 1


def test_unknown_column_and_writes_are_refused(out_dir, capsys):
    assert run(["query", "SELECT nope FROM commands", "--db", str(out_dir)]) == ExitStatus.USAGE
    assert "no such column: nope" in capsys.readouterr().err
    assert run(["query", "DELETE FROM commands", "--db", str(out_dir)]) == ExitStatus.USAGE
    assert "refused: DELETE" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("sql", "refused", "creates"),
    [
        ("ATTACH DATABASE '{tmp}/made.db' AS x", "ATTACH", "made.db"),
        ("VACUUM INTO '{tmp}/copy.db'", "VACUUM INTO", "copy.db"),
        ("SELECT load_extension('{tmp}/evil')", "load_extension()", None),
        ("CREATE TEMP TABLE t AS SELECT * FROM commands", "a schema change", None),
        ("PRAGMA journal_mode = wal", "PRAGMA journal_mode = wal", None),
        ("BEGIN IMMEDIATE", "a transaction", None),
    ],
)
def test_nothing_but_reading_is_allowed(out_dir, tmp_path, capsys, sql, refused, creates):
    status = run(["query", sql.format(tmp=tmp_path), "--db", str(out_dir)])
    err = capsys.readouterr().err
    assert status == ExitStatus.USAGE
    assert err.startswith("hotshard: refused: ") and refused in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # nothing written anywhere
    assert creates is None or not (tmp_path / creates).exists()


def test_reading_queries_still_run(out_dir, capsys):
    for sql in (
        "PRAGMA table_info(commands)",
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 3) SELECT * FROM c",
        "SELECT upper(command), length(key_name) FROM commands LIMIT 1",
    ):
        assert run(["query", sql, "--db", str(out_dir)]) == ExitStatus.OK, capsys.readouterr()
    capsys.readouterr()


def test_ctrl_c_interrupts_a_runaway_query(out_dir, capsys):
    """SIGINT while SQLite runs a query that would never end: one line, exit status 130."""
    default = signal.getsignal(signal.SIGINT)
    stop = threading.Event()

    def press_ctrl_c() -> None:
        # The query installs its own SIGINT handler just before it runs: wait for that.
        while not stop.is_set() and signal.getsignal(signal.SIGINT) is default:
            stop.wait(0.01)
        if not stop.is_set():
            os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
    try:
        status = run(["query", forever, "--db", str(out_dir)])
    finally:
        stop.set()
        presser.join()
    out, err = capsys.readouterr()
    assert status == ExitStatus.INTERRUPTED == 130
    assert err == "hotshard: query interrupted (Ctrl-C)\n"
    assert out == ""
    assert signal.getsignal(signal.SIGINT) is default  # put back as it was


def test_missing_database_says_run_analyze(tmp_path, capsys):
    status = run(["query", "SELECT 1", "--db", str(tmp_path / "nothing")])
    assert status == ExitStatus.USAGE
    assert "hotshard analyze" in capsys.readouterr().err


def test_nulls_numbers_and_empty_results():
    text = format_table(["k", "n", "x"], [("a", 1, None), ("bbb", 22, 1.5)])
    assert text.splitlines() == [
        "k     n     x",
        "---  --  ----",
        "a     1  NULL",
        "bbb  22   1.5",
        "(2 rows)",
    ]
    assert format_table(["k"], []).splitlines() == ["k", "-", "(0 rows)"]


ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"


def test_an_endless_query_streams_and_a_closed_pipe_is_a_clean_exit(out_dir):
    """`hotshard query ENDLESS | head -3`: rows come at once, memory stays flat while they
    stream, and when the reader goes the command exits 0 without a traceback."""
    code = "from hotshard.capture.cli import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "query", ENDLESS, "--db", str(out_dir)],
        cwd=Path(__file__).parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "no row within 30 s: the query is not streamed"
        head = [proc.stdout.readline() for _ in range(3)]
        assert head[2].strip() == b"1"  # header, rule, first row
        child = psutil.Process(proc.pid)
        early = child.memory_info().rss
        for _ in range(200_000):  # some 200k rows later, memory has not grown with them
            proc.stdout.readline()
        assert child.memory_info().rss < early + 50 * (1 << 20)
        proc.stdout.close()  # what `head` does once it has its lines
        status = proc.wait(timeout=30)
        err = proc.stderr.read().decode() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
    assert status == ExitStatus.OK, err
    assert err == ""


def test_a_timeout_stops_a_runaway_query(out_dir, capsys):
    forever = ENDLESS.replace("SELECT x FROM c", "SELECT max(x) FROM c")
    status = run(["query", forever, "--db", str(out_dir), "--timeout", "0.5"])
    assert status == ExitStatus.USAGE
    assert capsys.readouterr().err == "hotshard: query stopped after --timeout 0.5 s\n"


def test_floats_are_printed_exactly(out_dir, capsys):
    sql = "SELECT 1733412345.123456 AS ts, 0.1 + 0.2 AS sum, 1e300 AS big"
    assert run(["query", sql, "--db", str(out_dir)]) == ExitStatus.OK
    row = capsys.readouterr().out.splitlines()[2].split()
    assert row == ["1733412345.123456", "0.30000000000000004", "1e+300"]
