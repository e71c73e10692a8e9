"""The native matching-lines scan (`parse.matching_rows`) keeps exactly the rows of
`parse.header_rows` whose body Polars' `contains_any(..., ascii_case_insensitive=True)` finds a
needle in, and hands the command and first argument as the pre-pass's regexes cut them."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from hotshard.analyze.read import parse, scanner

TEXT = (
    b'1 [0 10.0.0.1:5] "SET" "k" "v"\r\n'
    b"OK\n+OK\n\n"
    b'2 [0 10.0.0.1:5] "get" "k"\n'
    b'3 [1 10.0.0.1:5] "Set" "a\\"k\\"" "\\"k\\""\n'  # "k" only inside escapes
    b'4 [0 unix:/tmp/"k" s.sock] "GET" "x"\n'  # the needle in the header only
    b'5 [0 lua] "DEL" "K"\n'  # another case
    b'not monitor "k" \n'
    b'6 [0 a:1] "GET" "k" "unterminated\n'
    b'7 [x a:1] "DEL" "k"\n'
    b'8 [0 a:1] "RPUSH" "l" "\\xff" "k"\n'
    b'9 [0 a:1] "FLUSHALL"\n'
    b'10 [0 a:1] "GET" "k\xff"\n'  # not UTF-8: the chunk is read lossily
    b'11 [0 [::1]:6] "MSET" "x" "\\\\" "k" ""\n'
    b'12 [0 a:1] "SE\\"T" "k"\n'  # a quote in the command
    b'13 [0 a:1] "SET" "k\\\\" "k"'  # no newline at the end
)


def _expected(block: bytes, needles: list[str]) -> pl.DataFrame:
    """What the pre-pass computed before: every line's row, filtered in Polars."""
    body = pl.col("body")
    heads = parse.header_rows(block)
    return parse.command_and_first(
        heads.filter(body.str.contains_any(needles, ascii_case_insensitive=True))
    )


def _kept(block: bytes, needles: list[str]) -> pl.DataFrame:
    return parse.matching_rows(block, scanner.Needles([n.encode() for n in needles]))


def test_the_rows_header_rows_and_contains_any_keep():
    for needles in (
        ['"k"'],
        ['"set" ', '"del" ', '"flushall"'],
        ['"k', 'l" "\\xff'],
        ['\\"k\\"'],
        ["\ufffd"],
        ['""'],
        ["nothing"],
        ['"v"\r\nOK', '"k"\n2 ['],  # across two lines: in no body
    ):
        assert_frame_equal(_kept(TEXT, needles), _expected(TEXT, needles))
    kept = _kept(TEXT, ['"k"'])
    assert kept["ts"].to_list() == [1.0, 2.0, 5.0, 8.0, 11.0, 12.0, 13.0]
    assert kept["_command"].to_list() == ["SET", "get", "DEL", "RPUSH", "MSET", "SE\\", "SET"]
    assert kept["_first"].to_list() == ["k", "k", "K", "l", "x", None, "k\\\\"]
    assert _kept(TEXT, ['"v"\r\nOK']).is_empty()


_FRAGMENTS = ["SET", "set", "Del", "k", "K", "é", '"', '\\"', "\\", " ", '" "', "\\x41", "\n"]


@settings(max_examples=300, deadline=None)
@given(
    bodies=st.lists(st.lists(st.sampled_from(_FRAGMENTS), max_size=8), max_size=6),
    needles=st.lists(
        st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=3), min_size=1, max_size=4
    ),
)
def test_any_lines_and_needles_keep_what_polars_keeps(bodies, needles):
    block = b"".join(
        b"1.5 [0 a:1] " + "".join(b).encode() + b"\n" for b in [['"SET" "k"'], *bodies]
    )
    words = ["".join(n) for n in needles]
    assert_frame_equal(_kept(block, words), _expected(block, words))
