"""`hotshard query "SQL"`: run SQL over hotshard.db and print a plain aligned table."""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from analyze.errors import NoDatabase, QueryError
from analyze.sqlite import DB_NAME

NULL = "NULL"


def resolve_db(db: str | os.PathLike[str]) -> Path:
    """The database file: `db` itself, or `db/hotshard.db` when `db` is an output folder."""
    path = Path(db)
    if path.is_dir():
        path = path / DB_NAME
    if not path.is_file():
        raise NoDatabase(
            f"no database at {path} — run `hotshard analyze INPUT --out DIR` first "
            "(or pass --db DIR/hotshard.db)"
        )
    return path


def execute(sql: str, db: str | os.PathLike[str]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run `sql` read-only; return the column names and the rows."""
    path = resolve_db(db)
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        cur = conn.execute(sql)
        columns = [d[0] for d in cur.description or ()]
        rows = cur.fetchall()
    except sqlite3.Error as exc:
        message = " ".join(str(exc).split())
        raise QueryError(f"SQL error: {message}") from None
    except sqlite3.Warning as exc:  # e.g. "You can only execute one statement at a time."
        raise QueryError(f"SQL error: {exc}") from None
    finally:
        conn.close()
    return columns, rows


def format_value(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e15 else repr(value)
    text = str(value)
    return text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned; a row count at the end."""
    cells = [[format_value(v) for v in row] for row in rows]
    widths = [len(c) for c in columns]
    for row in cells:
        for i, v in enumerate(row):
            widths[i] = max(widths[i], len(v))
    numeric = [
        bool(rows) and all(isinstance(r[i], int | float) or r[i] is None for r in rows)
        for i in range(len(columns))
    ]

    def line(values: Sequence[str]) -> str:
        out = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(out).rstrip()

    lines = [line(list(columns)), "  ".join("-" * w for w in widths)]
    lines += [line(row) for row in cells]
    n = len(rows)
    lines.append(f"({n} row{'s' if n != 1 else ''})")
    return "\n".join(lines)


def run_query(sql: str, db: str | os.PathLike[str], out: TextIO | None = None) -> None:
    """Run `sql` over the analyze output and print the result as a table."""
    columns, rows = execute(sql, db)
    stream = out or sys.stdout
    if not columns:
        print("(no result set)", file=stream)
        return
    print(format_table(columns, rows), file=stream)
