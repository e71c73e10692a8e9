"""Prefetch: run an iterator a few items ahead of its consumer, in a background thread.

Polars and zstandard release the GIL while they work, so a chunk can be decoded and cut up in
one thread while the previous one is finished in another: both cores stay busy. Items come out
in order; an exception raised by the iterator comes out where it happened, after every item
before it. The next item is started only once the consumer has taken the last one, so at most
two are alive: the one being made and the one being used.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def ahead(items: Iterable[T]) -> Iterator[T]:
    """`items`, each made in a background thread while the caller uses the one before."""
    out: queue.Queue[object] = queue.Queue(maxsize=1)
    taken = threading.Semaphore(0)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                out.put(item)
                del item  # the consumer has it now
                while not taken.acquire(timeout=0.1):  # start the next one once it is taken
                    if stop.is_set():
                        return
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
            taken.release()
            yield item  # type: ignore[misc]
            del item
    finally:
        stop.set()  # the consumer stopped early (an error, Ctrl-C): let the producer end
        while worker.is_alive():
            with contextlib.suppress(queue.Empty):
                out.get(timeout=0.1)


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
