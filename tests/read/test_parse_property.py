"""Property: any arguments, quoted exactly the way Redis prints them in MONITOR, parse back to the
same bytes, and request_bytes is their real RESP2 encoding."""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotshard.analyze.keys import quoted
from hotshard.capture.format.lines import escape_bytes, key_text, unescape_bytes
from tests.frames import found_keys, parse_log, split_log
from tests.resp import request_size

# Bytes that exercise every escape and the separators around them, plus anything at all.
NASTY = st.sampled_from(
    [b"\\", b'"', b" ", b'" "', b"\n", b"\r", b"\t", b"\a", b"\b", b"x", b"\x00"]
)
ARG = st.one_of(
    st.binary(max_size=40),
    st.lists(NASTY, max_size=8).map(b"".join),
    st.text(max_size=20).map(str.encode),
)


def monitor_line(i: int, argv: list[bytes]) -> bytes:
    quoted = " ".join(f'"{escape_bytes(a)}"' for a in argv)
    return f"+{1700000000 + i}.000001 [0 10.0.0.1:4242] {quoted}\r\n".encode()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(commands=st.lists(st.lists(ARG, min_size=1, max_size=6), min_size=1, max_size=20))
def test_arguments_round_trip(tmp_path, commands):
    argvs = [[b"SET", *args] for args in commands]
    path = tmp_path / "prop.log"
    path.write_bytes(b"".join(monitor_line(i, argv) for i, argv in enumerate(argvs)))
    out = parse_log(path)  # in file order
    split = split_log(path)
    assert out.height == split.height == len(argvs)
    for row, args, argv in zip(out.iter_rows(named=True), split["args"], argvs, strict=True):
        assert [unescape_bytes(a) for a in args] == argv[1:]
        assert row["request_bytes"] == request_size(argv)
        assert row["key_bytes"] == argv[1]
        assert (row["key_name"], row["key_binary"]) == key_text(argv[1])


@settings(max_examples=40, deadline=None)
@given(key=ARG, others=st.lists(ARG, max_size=3))
def test_all_keys_decode_like_key_text(key, others):
    """MGET of several keys: every key's text form equals hotshard.capture.format.lines.key_text."""
    argv = [key, *others]
    found = found_keys([["MGET", *(escape_bytes(a) for a in argv)]])
    out = (
        found.lazy()
        .select(keys=quoted.decode_keys(pl.col("keys_raw")), key_raw="key_raw")
        .pipe(quoted.decode_column, "key_raw")
        .collect()
    )
    # The first key alone (key_name); every key for several (`keys`, null for one).
    assert out["key_raw_text"].to_list() == [key_text(key)[0]]
    assert out["keys"].to_list() == [[key_text(a)[0] for a in argv] if others else None]
