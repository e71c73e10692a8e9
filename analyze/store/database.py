"""hotshard.db filled on the other core while the sources are read.

Takes the rows a chunk at a time, then the key and signature tables, then the findings' small
tables (`store/sqlite.py` writes each); hands on the database file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl

from hotshard.analyze.store import sqlite, tables


class Database:
    """hotshard.db, filled in a background thread from the rows as each chunk is written, then
    the keys and signatures, the indexes and the views. SQLite is single-threaded and slow per
    row; this way it uses the core the other stages leave idle instead of running alone after
    them. At most `PENDING` chunks wait for it: a slower SQLite slows the parse down instead of
    holding every chunk in memory. Disabled (`enabled=False`), every call does nothing."""

    PENDING = 2

    def __init__(
        self, path: Path, enabled: bool, timings: dict[str, float], index: bool = False
    ) -> None:
        self.path, self.timings, self.index = path, timings, index
        self.pool = ThreadPoolExecutor(max_workers=1) if enabled else None
        self.jobs: list[Future[int]] = []
        if enabled:
            sqlite.create_commands(path)

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def add(self, chunk: pl.DataFrame) -> None:
        """Queue a chunk of rows; raise at once if an earlier one failed to go in."""
        if self.pool is None:
            return
        for job in self.jobs:
            if job.done() and job.exception() is not None:
                job.result()  # fail now, not after parsing every other source
        pending = [job for job in self.jobs if not job.done()]
        while len(pending) >= self.PENDING:
            t = time.perf_counter()
            pending[0].result()
            self._add_time("sqlite_wait", time.perf_counter() - t)
            pending = [job for job in self.jobs if not job.done()]
        arrow = sqlite.commands_arrow(chunk)
        self.jobs.append(
            self.pool.submit(self._timed, "sqlite_rows", sqlite.append_commands, self.path, arrow)
        )

    def add_tables(self, found: tables.Tables) -> None:
        """Queue the keys and signatures tables, the indexes and the views, after the rows."""
        if self.pool is not None:
            self.jobs.append(
                self.pool.submit(
                    self._timed,
                    "sqlite_tables",
                    sqlite.write_dimensions,
                    self.path,
                    found,
                    self.index,
                )
            )

    def finish(self, summaries: dict[str, pl.DataFrame], info: dict[str, Any]) -> int:
        """Wait for everything queued, then write the findings' small tables and the `info`
        row; return the row count (0 when disabled)."""
        if self.pool is None:
            return 0
        t = time.perf_counter()
        rows_in = sum(job.result() or 0 for job in self.jobs)
        self._add_time("sqlite_wait", time.perf_counter() - t)
        t = time.perf_counter()
        sqlite.write_summaries(self.path, summaries, info)
        self.timings["sqlite_summaries"] = time.perf_counter() - t
        return rows_in

    def _add_time(self, name: str, seconds: float) -> None:
        self.timings[name] = self.timings.get(name, 0.0) + seconds

    def _timed(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self._add_time(name, time.perf_counter() - t)
