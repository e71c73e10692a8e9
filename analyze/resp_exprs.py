"""The RESP2 sizes of capture/format/resp.py over Polars expressions, column by column."""

from __future__ import annotations

import polars as pl

from capture.format import resp

NULL, RESP3_NULL, OK = resp.NULL, resp.RESP3_NULL, resp.OK


def digits(n: pl.Expr) -> pl.Expr:
    """Characters of an integer in decimal, a minus sign included, as `len(str(n))` counts
    them; a float counts as rounded (half to even); null stays null. Exact over the Int64
    range. By comparisons, not by casting to text (docs/BENCHMARKS.md, "Choices in the code")."""
    v = n.round(0)
    wider = [(v >= 10**p) | (v <= -(10**p)) for p in range(1, 19)]
    return pl.sum_horizontal([*wider, v < 0], ignore_nulls=False).cast(pl.Int64) + 1


def bulk(length: pl.Expr) -> pl.Expr:
    """A bulk string of `length` bytes: `$<length>\\r\\n<bytes>\\r\\n`."""
    return resp.bulk(length, digits)


def array_header(count: pl.Expr) -> pl.Expr:
    """The header of an array (RESP3 map, set) of `count` elements: `*<count>\\r\\n`."""
    return resp.array_header(count, digits)


def simple(length: pl.Expr) -> pl.Expr:
    """A simple string of `length` bytes `+<text>\\r\\n` (or an integer printed that long)."""
    return resp.simple(length)


def integer(value: pl.Expr) -> pl.Expr:
    """An integer reply: `:<value>\\r\\n`."""
    return resp.integer(value, digits)
