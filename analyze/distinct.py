"""A function of a column, computed once per distinct value and remembered across the batches
of a streaming query: hot keys repeat in every batch, so their slot and pattern are worked out
once per run instead of once per batch."""

from __future__ import annotations

import threading
from collections.abc import Callable

import polars as pl

_MISSING = object()


class PerDistinct:
    """`map_batches` function: `fn` over the batch's values not seen before, the rest recalled.

    `fn` takes a Series of distinct non-null values and returns one result per value, in order.
    At most `limit` values are remembered (beyond that, new values are computed per batch).
    Safe to call from several threads at once, as the streaming engine does.
    """

    def __init__(
        self, fn: Callable[[pl.Series], pl.Series], dtype: pl.DataType, limit: int = 500_000
    ) -> None:
        self.fn, self.dtype, self.limit = fn, dtype, limit
        self.known: dict[object, object] = {}
        self.lock = threading.Lock()

    def __call__(self, values: pl.Series) -> pl.Series:
        distinct = values.drop_nulls().unique()
        keys = distinct.to_list()
        with self.lock:
            found = [self.known.get(k, _MISSING) for k in keys]
        new = [k for k, v in zip(keys, found, strict=True) if v is _MISSING]
        if new:
            fresh = dict(
                zip(new, self.fn(pl.Series(new, dtype=values.dtype)).to_list(), strict=True)
            )
            with self.lock:
                if len(self.known) < self.limit:
                    self.known.update(fresh)
            found = [fresh[k] if v is _MISSING else v for k, v in zip(keys, found, strict=True)]
        results = pl.Series(found, dtype=self.dtype)
        return values.replace_strict(distinct, results, default=None, return_dtype=self.dtype)
