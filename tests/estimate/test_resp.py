"""The RESP sizes of capture/format/resp.py: the Polars digits count as `len(str(n))` does."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from hotshard.analyze.estimate import resp_exprs
from hotshard.capture.format import resp
from tests.resp import encode

EDGES = [0, 1, -1, 2**63 - 1, -(2**63)] + [
    s * (10**p + d) for p in range(19) for d in (-1, 0, 1) for s in (1, -1)
]


def _digits(values: list, dtype: pl.DataType) -> list:
    return pl.select(resp_exprs.digits(pl.Series(values, dtype=dtype))).to_series().to_list()


def test_polars_digits_of_integers_are_their_printed_length():
    ints = [v for v in EDGES if -(2**63) <= v < 2**63]
    assert _digits(ints, pl.Int64()) == [len(str(v)) for v in ints]


@given(st.lists(st.floats(-1e15, 1e15) | st.sampled_from([0.5, -0.5, 9.5, 99.5, -9.5, 8.5])))
def test_polars_digits_of_floats_count_them_rounded(values):
    assert _digits(values, pl.Float64()) == [len(str(round(v))) for v in values]


def test_length_digits_of_every_length_a_bulk_string_can_have():
    lengths = [v for v in EDGES if 0 <= v < 10**10]
    got = pl.select(resp_exprs.length_digits(pl.Series(lengths, dtype=pl.Int64()))).to_series()
    assert got.to_list() == [len(str(v)) for v in lengths]


def test_polars_digits_keep_null():
    assert _digits([None, 5], pl.Int64()) == [None, 1]


def test_the_layout_is_the_same_on_ints_and_on_columns():
    lengths = [0, 9, 10, 99, 100, 12345]
    col = pl.Series(lengths, dtype=pl.Int64)
    for python, polars in [
        (resp.bulk, resp_exprs.bulk),
        (resp.array_header, resp_exprs.array_header),
        (resp.integer, resp_exprs.integer),
    ]:
        assert pl.select(polars(col)).to_series().to_list() == [python(n) for n in lengths]


def test_sizes_match_the_bytes_a_client_sends():
    args = [b"SET", b"k" * 10, b"", b"v" * 100]
    assert resp.command(args) == len(encode(*args))
    assert resp.bulk(100) == len(b"$100\r\n" + b"v" * 100 + b"\r\n")
    assert resp.reply([b"a", 12, None, [b"bc"]]) == len(
        b"*4\r\n$1\r\na\r\n:12\r\n$-1\r\n*1\r\n$2\r\nbc\r\n"
    )
