"""The pre-pass of a source: its writes read on the side, before its rows need them.

A source's first finished chunk needs what one read of all its lines finds
(`collection_writes.window_writes`: the writes of the collections placed between two samples,
each string's first write, the writes of the small hashes). Started with the source, that read
leaves a core idle while the first chunk waits for it; `Ahead` starts each source's pre-pass
while the source before it is parsed, so it is done when its rows begin. At most one is ahead:
what it holds is keys and times, never a value.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from hotshard.analyze.estimate import cardinality, collection_writes, replies
from hotshard.analyze.read import parse

Writes = Future[collection_writes.WindowWrites]


class Context(Protocol):
    """What the pre-pass reads of an analysis' context (rows/make.py `Context`, which imports
    this module: a protocol, so the two never import each other)."""

    @property
    def brackets(self) -> cardinality.Brackets | None: ...
    @property
    def siblings(self) -> object | None: ...
    @property
    def start(self) -> object | None: ...
    @property
    def lookup(self) -> replies.Lookup: ...


def needed(ctx: Context) -> bool:
    """Whether any source's rows need a pre-pass."""
    hashes = ctx.lookup.full_fields.height > 0
    return ctx.brackets is not None or ctx.siblings is not None or ctx.start is not None or hashes


def start(source: parse.Source, ctx: Context, pool: ThreadPoolExecutor) -> Writes | None:
    """The pre-pass of `source` started in `pool` (None: no row needs one)."""
    if not needed(ctx):
        return None
    bracketed = ctx.brackets.of(source.node) if ctx.brackets else None
    keys = [] if bracketed is None else bracketed["key_name"].to_list()
    hashes = ctx.lookup.full_fields["key_name"].to_list()
    return pool.submit(collection_writes.window_writes, source, keys, True, hashes)


class Ahead:
    """The pre-passes of `sources` in one thread, each started when the source before it is
    taken (`of`): one source ahead of the rows."""

    def __init__(self, sources: Sequence[parse.Source], ctx: Context) -> None:
        self._sources = list(sources)
        self._ctx = ctx
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hotshard-writes")
        self._started: dict[int, Writes | None] = {}

    def of(self, i: int) -> Writes | None:
        """The pre-pass of source `i` (started now if it was not), and source `i + 1`'s
        started behind it."""
        for j in (i, i + 1):
            if j < len(self._sources) and j not in self._started:
                self._started[j] = start(self._sources[j], self._ctx, self._pool)
        return self._started.pop(i)

    def close(self) -> None:
        """Stop: a pre-pass not started is dropped (the rows stopped early)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
