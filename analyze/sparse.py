"""Sparse list columns: a list kept only on the few rows that need it, on Polars' fast path."""

from __future__ import annotations

import polars as pl


def only_rows(lists: pl.Expr, rows: pl.Expr) -> pl.Expr:
    """`lists` on `rows`, null elsewhere, with the other rows' elements really dropped.

    `pl.when(rows).then(lists)` only masks: the elements stay in the buffer, and a later
    `list.eval` or `list.gather` still pays for every one of them (measured: as much as on the
    whole column). `list.head(0)` on the other rows makes a new, compact buffer first.
    """
    return pl.when(rows).then(lists.list.head(pl.when(rows).then(lists.list.len()).otherwise(0)))
