"""`hotshard query "SQL"`: run SQL over hotshard.db and print a plain aligned table."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from hotshard.analyze.errors import NoDatabase, QueryError
from hotshard.analyze.store.sqlite import DB_NAME
from hotshard.capture.errors import ExitStatus
from hotshard.capture.format.escape import printable

NULL = "NULL"
_SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite 3 database


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
    try:
        with path.open("rb") as fh:
            header = fh.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise NoDatabase(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if header != _SQLITE_HEADER:
        raise NoDatabase(
            f"{path} is not an SQLite database — give the hotshard.db that `hotshard analyze` "
            "wrote (or its output folder)"
        )
    return path


# What a query may do: read tables, call functions, recurse (CTEs), ask read-only pragmas.
# Everything else is refused before it runs — writes, but also ATTACH (it creates files
# anywhere), VACUUM INTO (it copies the database anywhere: SQLite authorizes it as an ATTACH)
# and load_extension.
_SCHEMA_PRAGMAS = frozenset(  # their argument names a table or an index, never sets a value
    [
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
    ]
)
_READ_PRAGMAS = _SCHEMA_PRAGMAS | frozenset(  # read-only when given no value
    """compile_options function_list pragma_list collation_list module_list page_count
    page_size user_version schema_version encoding""".split()  # noqa: SIM905
)
_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE}
_REFUSED_FUNCTIONS = frozenset({"load_extension"})
_ACTIONS = {
    sqlite3.SQLITE_ATTACH: "ATTACH (or VACUUM INTO)",
    sqlite3.SQLITE_DETACH: "DETACH",
    sqlite3.SQLITE_INSERT: "INSERT",
    sqlite3.SQLITE_UPDATE: "UPDATE",
    sqlite3.SQLITE_DELETE: "DELETE",
    sqlite3.SQLITE_TRANSACTION: "a transaction",
    sqlite3.SQLITE_SAVEPOINT: "a savepoint",
    sqlite3.SQLITE_ALTER_TABLE: "ALTER TABLE",
    sqlite3.SQLITE_ANALYZE: "ANALYZE",
    sqlite3.SQLITE_REINDEX: "REINDEX",
}
PROGRESS_STEPS = 100_000  # SQLite VM steps between chances for Ctrl-C to be seen


class _Guard:
    """The authorizer of one connection; remembers what it refused, for the message."""

    def __init__(self) -> None:
        self.refused: str | None = None

    def __call__(self, action: int, arg1: str | None, arg2: str | None, *_: object) -> int:
        if action in _ALLOWED:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() not in _REFUSED_FUNCTIONS:
            return sqlite3.SQLITE_OK
        pragma = (arg1 or "").lower() if action == sqlite3.SQLITE_PRAGMA else ""
        if pragma in _SCHEMA_PRAGMAS or (pragma in _READ_PRAGMAS and arg2 is None):
            return sqlite3.SQLITE_OK
        if self.refused is not None:
            pass  # the first refusal is the statement's own; later ones follow from it
        elif (arg1 or "").startswith(("sqlite_master", "sqlite_temp_master")):
            self.refused = "a schema change (CREATE, DROP, ...)"  # they first write this table
        elif action == sqlite3.SQLITE_FUNCTION:
            self.refused = f"{arg2}()"
        elif action == sqlite3.SQLITE_PRAGMA:
            self.refused = f"PRAGMA {arg1}" + (f" = {arg2}" if arg2 is not None else "")
        else:
            self.refused = _ACTIONS.get(action, "a statement that writes")
        return sqlite3.SQLITE_DENY


class QueryInterrupted(QueryError):
    """Ctrl-C stopped a running query."""

    exit_status = ExitStatus.INTERRUPTED


def execute(sql: str, db: str | os.PathLike[str]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run `sql` read-only; return the column names and the rows.

    Only reading is allowed (see `_Guard`), and Ctrl-C interrupts the query (`QueryInterrupted`)
    instead of waiting for SQLite to finish.
    """
    path = resolve_db(db)
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    guard = _Guard()
    conn.set_authorizer(guard)
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    interrupted = threading.Event()
    try:
        with _interrupt_on_sigint(conn, interrupted):
            cur = conn.execute(sql)
            columns = [d[0] for d in cur.description or ()]
            rows = cur.fetchall()
    except sqlite3.Error as exc:
        if interrupted.is_set():
            raise QueryInterrupted("query interrupted (Ctrl-C); nothing was printed") from None
        if guard.refused:
            raise QueryError(
                f"refused: {guard.refused} — hotshard query only reads the analysis "
                "(SELECT, WITH, read-only PRAGMAs)"
            ) from None
        message = " ".join(str(exc).split())
        raise QueryError(f"SQL error: {printable(message)}") from None
    except sqlite3.Warning as exc:  # e.g. "You can only execute one statement at a time."
        raise QueryError(f"SQL error: {exc}") from None
    finally:
        conn.close()
    return columns, rows


@contextlib.contextmanager
def _interrupt_on_sigint(conn: sqlite3.Connection, interrupted: threading.Event) -> Iterator[None]:
    """Ctrl-C calls `conn.interrupt()`. Python runs signal handlers only between bytecodes, so a
    progress handler gives it that chance while SQLite works in C; it also stops the query
    itself once interrupted, should Ctrl-C land before the statement began (when
    `interrupt()` does nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def on_sigint(signum: int, frame: object) -> None:
        interrupted.set()
        conn.interrupt()

    previous = signal.signal(signal.SIGINT, on_sigint)
    conn.set_progress_handler(interrupted.is_set, PROGRESS_STEPS)
    try:
        yield
    finally:
        conn.set_progress_handler(None, 0)
        signal.signal(signal.SIGINT, previous)


def format_value(value: Any) -> str:
    """One cell as inert text: keys may hold ESC, newlines or bidi overrides (`printable`)."""
    if value is None:
        return NULL
    if isinstance(value, bytes):
        return printable(value.decode("utf-8", "backslashreplace"))
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e15 else repr(value)
    return printable(str(value))


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned; a row count at the end."""
    cells = [[format_value(v) for v in row] for row in rows]
    headers = [printable(c) for c in columns]  # names come from the SQL: escaped too
    widths = [len(c) for c in headers]
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

    lines = [line(headers), "  ".join("-" * w for w in widths)]
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
