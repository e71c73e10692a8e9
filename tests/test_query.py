"""`hotshard query`: through the real CLI entry point, on a real hotshard.db."""

from __future__ import annotations

import pytest

from analyze import pipeline
from analyze import sqlite as db
from analyze.query import format_table
from capture.cli import run
from capture.errors import ExitStatus
from tests.frames import findings, workload


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    df = workload()
    folder = tmp_path_factory.mktemp("out")
    files = pipeline.write_dataset(df.lazy(), folder / "commands")
    f = findings(df)
    db.write_database(folder / db.DB_NAME, files, pipeline.summary_tables(f))
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
    assert "readonly" in capsys.readouterr().err


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
