"""Reads of strings before their first write in the window: the first writes of a source, the
unchanged siblings of a pattern, and how a read before a rewrite is sized by them."""

from __future__ import annotations

import polars as pl

from hotshard.analyze.estimate import string_writes, through_time
from hotshard.capture.format import resp
from hotshard.capture.format.manifest import KeySize
from tests.estimate.test_start_sample import _rows


def _heads(lines: list[tuple[float, int, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": [t for t, _, _ in lines],
            "db": [d for _, d, _ in lines],
            "body": [b for *_, b in lines],
        },
        schema={"ts": pl.Float64, "db": pl.Int32, "body": pl.String},
    )


def test_first_writes_of_every_key_a_write_names():
    heads = _heads(
        [
            (1.0, 0, '"GET" "k"'),  # a read: not a write
            (2.0, 0, '"set" "k" "v"'),
            (3.0, 0, '"SET" "k" "w"'),  # not the first
            (3.5, 0, '"SET" "\\x62" "w"'),  # "b" spelled otherwise: one key
            (4.0, 0, '"MSET" "a" "1" "b" "2"'),
            (5.0, 0, '"DEL" "x" "y"'),
            (6.0, 0, '"APPEND" "c" "tail"'),
            (7.0, 0, '"INCRBY" "n" "5"'),
            (8.0, 0, '"RENAME" "s" "d"'),
            (9.0, 0, '"BITOP" "AND" "dest" "a" "b"'),
            (10.0, 1, '"SET" "k" "v"'),  # another db: another key
            (11.0, 0, '"GETDEL" "g"'),
            (12.0, 0, '"SET" "esc\\x00" "v"'),  # MONITOR's escapes resolved, as the rows' keys
            (13.0, 0, '"FLUSHDB"'),
            (14.0, 0, '"FLUSHALL"'),
        ]
    )
    first = string_writes.first_of(string_writes.write_lines(heads))
    got = {(d, k): t for d, k, t in first.keys.iter_rows()}
    assert got == {
        (0, "k"): 2.0,
        (0, "a"): 4.0,
        (0, "b"): 3.5,
        (0, "x"): 5.0,
        (0, "y"): 5.0,
        (0, "c"): 6.0,
        (0, "n"): 7.0,
        (0, "s"): 8.0,
        (0, "d"): 8.0,
        (0, "dest"): 9.0,
        (1, "k"): 10.0,
        (0, "g"): 11.0,
        (0, "esc\x00"): 12.0,
    }
    assert first.flush == 13.0
    # chunk by chunk (only each chunk's keys kept), the same
    parts = [string_writes.first_of(string_writes.write_lines(h)) for h in (heads[:6], heads[6:])]
    assert string_writes.merged(parts).keys.equals(first.keys)
    assert string_writes.merged(parts).flush == 13.0
    assert set(first.written()["key_name"]) == {
        *("k", "a", "b", "x", "y", "c", "n", "s", "d", "dest", "g", "esc\x00")
    }


def _after(node: str, key: str, length: int | None) -> KeySize:
    if length is None:
        return KeySize(node=node, key=key, type="none", cardinality=0, sampled_at=20.0)
    return KeySize(node=node, key=key, type="string", cardinality=length, sampled_at=20.0)


def test_siblings_are_the_unwritten_strings_of_the_shard():
    sizes = [
        _after("p", "doc:1", 3000),
        _after("r", "doc:2", 2000),  # the replica of the same shard
        _after("r", "doc:1", 7),  # sampled on both nodes of the shard: the first node's wins
        _after("p", "doc:3", 300),  # written in the window: not a sibling
        _after("p", "doc:4", None),  # missing: a null reply
        _after("q", "doc:5", 9000),  # another shard: whether it changed is in another file
        _after("p", "cfg:1", 10),
    ]
    start = [
        _after("p", "doc:6", 1000),  # measured in the window only, not written: a sibling
        _after("p", "doc:1", 5),  # the after-window size wins (both hold all through)
        _after("q", "doc:7", 5),
    ]
    siblings = string_writes.Siblings(sizes, start, {"p": "0001", "r": "0001", "q": "0002"})
    first = string_writes.FirstWrites(
        pl.DataFrame({"db": [0], "key_name": ["doc:3"], "_fw": [5.0]}, schema=string_writes.FIRST)
    )
    got = dict(siblings.of("p", first).iter_rows())
    doc = (resp.bulk(3000) + resp.bulk(2000) + resp.NULL + resp.bulk(1000)) / 4
    assert got == {"doc:{ID}": doc, "cfg:{ID}": resp.bulk(10)}
    # a FLUSH in the window: no after-window size is the size all through it
    flushed = string_writes.FirstWrites(first.keys, flush=7.0)
    assert siblings.of("p", flushed).height == 0


def test_a_read_before_the_first_rewrite_is_sized_by_what_preceded_the_rewrite():
    start = through_time.StartSizes(
        [
            KeySize(node="n", key="doc:1", type="string", cardinality=3000, sampled_at=1.0),
            KeySize(node="n", key="doc:2", type="string", cardinality=300, sampled_at=6.0),
        ]
    ).of("n")
    first = string_writes.FirstWrites(
        pl.DataFrame(
            {
                "db": [0, 0, 0, 0],
                "key_name": ["doc:1", "doc:2", "doc:3", "doc:4"],
                "_fw": [5.0, 5.0, 5.0, 0.5],
            },
            schema=string_writes.FIRST,
        )
    )
    siblings = pl.DataFrame({"key_pattern": ["doc:{ID}"], "_sib": [2500.4]})
    set_2 = 13 + resp.bulk(5) + resp.bulk(3)  # `SET doc:2 vvv`
    rows = _rows(
        [
            (2.0, 0, "doc:1", "get", 0),  # measured before its rewrite: that size
            (2.1, 0, "doc:2", "get", 0),  # measured after its rewrite: the siblings
            (2.2, 0, "doc:3", "get", 0),  # never measured, rewritten later: the siblings
            (2.3, 0, "doc:4", "get", 0),  # written before these lines (a sub-window): kept
            (2.4, 0, "doc:9", "get", 0),  # never written: its after-window size stands
            (2.5, 0, "cfg:1", "get", 0),  # written, but no sibling of its pattern: kept
            (5.0, 0, "doc:2", "set", set_2),
            (5.1, 0, "doc:2", "get", 0),  # after the rewrite: the write's size
        ]
    )
    first_keys = pl.concat(
        [first.keys, pl.DataFrame({"db": [0], "key_name": ["cfg:1"], "_fw": [4.0]})],
        how="vertical_relaxed",
    )
    strings = through_time.Strings(
        start=start, first=string_writes.FirstWrites(first_keys), siblings=siblings
    )
    got = strings.apply(rows)
    assert got["reply_bytes"].to_list() == [
        resp.bulk(3000),
        2500,
        2500,
        999,
        999,
        999,
        999,
        resp.bulk(3),
    ]
    assert got["reply_confidence"].to_list() == [
        "sampled-during",
        "pattern",
        "pattern",
        "sampled",
        "sampled",
        "sampled",
        "sampled",
        "exact",
    ]


def test_getset_and_getdel_read_the_value_before_them():
    """GETSET/GETDEL are reads sized like GET (by the writes strictly before them), and the
    first write of their key: before it, the siblings size them."""
    set_k = 13 + resp.bulk(1) + resp.bulk(40)
    getset = 16 + resp.bulk(1) + resp.bulk(2)
    rows = _rows(
        [
            (1.0, 0, "k", "set", set_k),
            (2.0, 0, "k", "getset", getset),  # answers the 40 bytes SET wrote
            (3.0, 0, "k", "get", 0),  # then the 2 bytes GETSET wrote
        ]
    ).vstack(_rows([(4.0, 0, "doc:1", "getdel", 0)]).with_columns(arg_count=pl.lit(1, pl.Int64)))
    first = string_writes.FirstWrites(
        pl.DataFrame(
            {"db": [0, 0], "key_name": ["k", "doc:1"], "_fw": [1.0, 4.0]},
            schema=string_writes.FIRST,
        )
    )
    siblings = pl.DataFrame({"key_pattern": ["doc:{ID}"], "_sib": [700.0]})
    got = through_time.Strings(first=first, siblings=siblings).apply(rows)
    assert got["reply_bytes"].to_list() == [999, resp.bulk(40), resp.bulk(2), 700]
    assert got["reply_confidence"].to_list() == ["sampled", "exact", "exact", "pattern"]
