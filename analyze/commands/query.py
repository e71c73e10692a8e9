"""`hotshard query "SQL"`: run SQL over hotshard.db and print a plain aligned table."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from hotshard.analyze.errors import NoDatabase, QueryError
from hotshard.analyze.store import sqlite as sqlite_out
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


def execute(
    sql: str, db: str | os.PathLike[str], timeout: float | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run `sql` read-only; return the column names and every row (`stream` gives them as
    they come)."""
    with stream(sql, db, timeout) as (columns, rows):
        return columns, list(rows)


@contextlib.contextmanager
def stream(
    sql: str, db: str | os.PathLike[str], timeout: float | None = None
) -> Iterator[tuple[list[str], Iterator[tuple[Any, ...]]]]:
    """Run `sql` read-only; give the column names and the rows as SQLite makes them (an endless
    recursive CTE never has to end: the reader stops reading).

    Only reading is allowed (see `_Guard`); Ctrl-C interrupts the query (`QueryInterrupted`)
    instead of waiting for SQLite, and so does `timeout` seconds (`QueryError`).
    """
    path = resolve_db(db)
    ensure_indexes(path)
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    guard = _Guard()
    conn.set_authorizer(guard)
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    interrupted = threading.Event()
    deadline = time.monotonic() + timeout if timeout else None
    try:
        with (
            _interrupt_on_sigint(conn, interrupted, deadline),
            _sql_errors(guard, interrupted, timeout),
        ):
            cur = conn.execute(sql)
            columns = [d[0] for d in cur.description or ()]
            yield columns, _rows(cur, guard, interrupted, timeout)
    finally:
        conn.close()


def _rows(
    cur: sqlite3.Cursor, guard: _Guard, interrupted: threading.Event, timeout: float | None
) -> Iterator[tuple[Any, ...]]:
    with _sql_errors(guard, interrupted, timeout):
        while batch := cur.fetchmany(256):
            yield from batch


@contextlib.contextmanager
def _sql_errors(
    guard: _Guard, interrupted: threading.Event, timeout: float | None
) -> Iterator[None]:
    """SQLite's errors as one readable line each."""
    try:
        yield
    except sqlite3.Error as exc:
        if interrupted.is_set():
            raise QueryInterrupted("query interrupted (Ctrl-C)") from None
        if timeout and "interrupted" in str(exc):
            raise QueryError(f"query stopped after --timeout {timeout:g} s") from None
        if guard.refused:
            raise QueryError(
                f"refused: {guard.refused} — hotshard query only reads the analysis "
                "(SELECT, WITH, read-only PRAGMAs)"
            ) from None
        message = " ".join(str(exc).split())
        raise QueryError(f"SQL error: {printable(message)}") from None
    except sqlite3.Warning as exc:  # e.g. "You can only execute one statement at a time."
        raise QueryError(f"SQL error: {exc}") from None


def ensure_indexes(path: Path, err: TextIO | None = None) -> None:
    """Build the database's query index the first time a query runs on it (`analyze` leaves it
    out unless `--sqlite-index`: it is SQLite's slowest step and many analyses are never
    queried), saying so on stderr with the time it took. A database that cannot be written
    (read-only copy) is queried without it."""
    stream = err or sys.stderr
    try:
        with contextlib.closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        ) as c:
            missing = sqlite_out.missing_indexes(c)
    except sqlite3.Error:
        return  # not a hotshard database we can read: the query itself will say what is wrong
    if not missing:
        return
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        print(f"hotshard: {path} is read-only: querying without its index (slower)", file=stream)
        return
    print(f"hotshard: building the query index of {path.name} (first query only)…", file=stream)
    t = time.perf_counter()
    try:
        sqlite_out.build_indexes(path)
    except sqlite3.Error as exc:
        print(f"hotshard: could not build the index ({exc}): querying without it", file=stream)
        return
    print(f"hotshard: index built in {time.perf_counter() - t:.1f} s", file=stream)


@contextlib.contextmanager
def _interrupt_on_sigint(
    conn: sqlite3.Connection, interrupted: threading.Event, deadline: float | None = None
) -> Iterator[None]:
    """Ctrl-C calls `conn.interrupt()`. Python runs signal handlers only between bytecodes, so a
    progress handler gives it that chance while SQLite works in C; it also stops the query
    itself once interrupted, should Ctrl-C land before the statement began (when
    `interrupt()` does nothing), or once `deadline` (time.monotonic) has passed."""

    def stop() -> bool:
        return interrupted.is_set() or (deadline is not None and time.monotonic() > deadline)

    if threading.current_thread() is not threading.main_thread():
        conn.set_progress_handler(stop, PROGRESS_STEPS)
        yield  # signal handlers can only be set from the main thread
        return

    def on_sigint(signum: int, frame: object) -> None:
        interrupted.set()
        conn.interrupt()

    previous = signal.signal(signal.SIGINT, on_sigint)
    conn.set_progress_handler(stop, PROGRESS_STEPS)
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
        return repr(value)  # exact: the shortest text that reads back as the same number
    return printable(str(value))


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned; a row count at the end."""
    return "\n".join(table_lines(columns, iter(rows), head=max(len(rows), 1)))


HEAD_ROWS = 200  # rows read before the first is printed, to size the columns


def table_lines(
    columns: Sequence[str], rows: Iterator[Sequence[Any]], head: int = HEAD_ROWS
) -> Iterator[str]:
    """The table a line at a time: the columns sized on the first `head` rows (a wider cell
    further down just pushes its line out), every later row printed as it comes, so memory
    stays that of `head` rows however many there are."""
    first = list(itertools.islice(rows, head))
    headers = [printable(c) for c in columns]  # names come from the SQL: escaped too
    cells = [[format_value(v) for v in row] for row in first]
    widths = [len(c) for c in headers]
    for row in cells:
        for i, v in enumerate(row):
            widths[i] = max(widths[i], len(v))
    numeric = [
        bool(first) and all(isinstance(r[i], int | float) or r[i] is None for r in first)
        for i in range(len(columns))
    ]

    def line(values: Sequence[str]) -> str:
        out = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(out).rstrip()

    yield line(headers)
    yield "  ".join("-" * w for w in widths)
    yield from (line(cell) for cell in cells)
    n = len(first)
    for later in rows:
        n += 1
        yield line([format_value(v) for v in later])
    yield f"({n} row{'s' if n != 1 else ''})"


def run_query(
    sql: str,
    db: str | os.PathLike[str],
    out: TextIO | None = None,
    timeout: float | None = None,
) -> None:
    """Run `sql` over the analyze output and print the result as a table, rows as they come."""
    stream_ = out or sys.stdout
    with stream(sql, db, timeout) as (columns, rows):
        if not columns:
            print("(no result set)", file=stream_)
            return
        for text in table_lines(columns, rows):
            print(text, file=stream_)
