"""Run an iterator a few items ahead of its consumer, in a background thread.

Polars and zstandard release the GIL while they work, so a chunk can be decoded and cut up in
one thread while the previous one is finished in another: both cores stay busy. Items come out
in order; an exception raised by the iterator comes out where it happened, after every item
before it; at most `depth` items wait, so memory stays bounded by the chunk.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def ahead(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """`items`, produced in a background thread up to `depth` items ahead of the caller."""
    out: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        out.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            out.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            out.put(_Raised(exc))

    worker = threading.Thread(target=produce, name="hotshard-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = out.get()
            if item is _DONE:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()  # the consumer stopped early (an error, Ctrl-C): let the producer end
        while worker.is_alive():
            with contextlib.suppress(queue.Empty):
                out.get(timeout=0.1)


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
