"""The RESP2 sizes of capture/format/resp.py over Polars expressions, column by column."""

from __future__ import annotations

import polars as pl

from hotshard.capture.format import resp

NULL, RESP3_NULL, OK = resp.NULL, resp.RESP3_NULL, resp.OK


def digits(n: pl.Expr) -> pl.Expr:
    """Characters of an integer in decimal, a minus sign included, as `len(str(n))` counts
    them; a float counts as rounded (half to even); null stays null. By its text: the reply
    model calls it some forty times in one expression, where 37 comparisons each cost a
    quarter of the row path (docs/BENCHMARKS.md, "Choices in the code")."""
    return n.round(0).cast(pl.Int64).cast(pl.String).str.len_bytes().cast(pl.Int64)


def length_digits(n: pl.Expr) -> pl.Expr:
    """`digits` of an integer length or count, which is never negative and under 10^10 (a
    bulk string is at most 512 MB): 9 comparisons, cheaper than text per element — the row
    path sizes every argument of every distinct tail with it (docs/BENCHMARKS.md, "Choices in
    the code")."""
    out = pl.lit(1, pl.Int64)
    for power in range(1, 10):
        out = out + (n >= 10**power).cast(pl.Int64)
    return out


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
