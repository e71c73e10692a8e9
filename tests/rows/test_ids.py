"""The key and signature dictionaries: every distinct key and signature worked out once, with an
id that is the same for the same input and assigned in order of first appearance."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from hotshard.analyze import schema
from hotshard.analyze.estimate import replies, sampled_sizes
from hotshard.analyze.keys import patterns
from hotshard.analyze.read import parse
from hotshard.analyze.rows import make
from hotshard.analyze.rows.ids import KeyDictionary
from hotshard.capture.format.manifest import KeySize
from tests.frames import slot_of


def keys_dictionary() -> KeyDictionary:
    return KeyDictionary(patterns.DEFAULT_RULES, replies.Lookup(None))


def raw(*values: str | None) -> pl.Series:
    """Keys as MONITOR quotes them (escapes unresolved); None: a command without a key."""
    return pl.Series("key_raw", values, dtype=pl.String)


def test_ids_in_order_of_first_appearance_across_chunks():
    d = keys_dictionary()
    assert d.ids(raw("user:2", "user:1", None, "user:2")).to_list() == [0, 1, None, 0]
    # A key seen in an earlier chunk keeps its id; new ones take the next free ids.
    assert d.ids(raw("z:1", "user:1", "a:9", "z:1")).to_list() == [2, 1, 3, 2]
    assert d.ids(raw(None, None)).to_list() == [None, None]
    assert d.ids(raw()).to_list() == []
    table = d.table()
    assert table.schema == pl.Schema(schema.KEYS)
    assert table.select("key_id", "key_name").rows() == [
        (0, "user:2"),
        (1, "user:1"),
        (2, "z:1"),
        (3, "a:9"),
    ]
    assert d.count == 4


def test_each_key_once_with_its_text_bytes_slot_and_pattern():
    d = keys_dictionary()
    d.ids(raw("caf\\xc3\\xa9:2025-10-17", "bin:\\xff\\xfe", 'q\\"uote', "{tag}:1"))
    d.ids(raw("bin:\\xff\\xfe", "{tag}:1"))  # seen: nothing new
    assert d.table().rows() == [
        (
            0,
            "café:2025-10-17",
            False,
            "café:2025-10-17".encode(),
            slot_of("café:2025-10-17".encode()),
            "café:{DATE}",
        ),
        (1, "bin:\\xff\\xfe", True, b"bin:\xff\xfe", slot_of(b"bin:\xff\xfe"), "bin:{BIN}"),
        (2, 'q"uote', False, b'q"uote', slot_of(b'q"uote'), 'q"uote'),
        (3, "{tag}:1", False, b"{tag}:1", slot_of(b"tag"), "{tag}:{ID}"),
    ]


def test_per_row_attributes_with_the_sampled_sizes_the_lookup_gives():
    """What the rows need of their keys, kept in the core: the same sampled-size rows as
    `Lookup.key_columns` over the keys' names and patterns (own sample, else the pattern's)."""
    sampled = [
        KeySize("n1", "user:1", type="string", cardinality=10, memory_usage=80),
        KeySize("n1", "z:2025-10-17", type="zset", cardinality=5, memory_usage=90),
        KeySize("n1", "café:7", type="string", cardinality=3, memory_usage=60),
    ]
    rules = patterns.DEFAULT_RULES
    lookup = replies.Lookup(sampled_sizes.sizes_frame(sampled, rules))
    d = KeyDictionary(rules, lookup)
    quoted = ["user:1", "user:2", "z:2025-10-16", "x:a", None, "caf\\xc3\\xa9:7", "b:\\xff"]
    ids = d.ids(raw(*quoted))
    d.ids(raw("z:2025-10-17", "user:3"))  # a later chunk: the same attributes for its keys
    got = d.attributes(ids)
    assert got.height == len(quoted) and got.row(4) == (None,) * got.width
    keyed = ids.drop_nulls()
    names = d.table()["key_name"].gather(keyed)
    key_patterns = d.table()["key_pattern"].gather(keyed)
    assert key_patterns.to_list() == [
        "user:{ID}",
        "user:{ID}",
        "z:{DATE}",
        "x:a",
        "café:{ID}",
        "b:{BIN}",
    ]
    sizes = got.filter(ids.is_not_null())
    assert_frame_equal(
        sizes.select("_key_sz", "_key_own", "_key_pim"), lookup.key_columns(names, key_patterns)
    )
    # Its own sample, its pattern's, or none: each case is here.
    assert sizes["_key_own"].to_list() == [True, False, False, False, True, False]
    assert sizes["_key_pim"].null_count() == 2
    assert sizes["_key_text"].to_list() == [None, None, None, None, "café:7", None]
    assert sizes["_key_len"].to_list() == [6, 6, 12, 3, 7, 3]
    assert sizes["_pattern_id"].to_list() == [0, 0, 1, 2, 3, 4]


def test_the_same_input_gives_the_same_ids():
    chunks = [
        raw("k:3", "k:1", None),
        raw("k:2", "k:3", "k:4"),
        raw("k:4", "k:5", "k:1"),
    ]
    first, second = keys_dictionary(), keys_dictionary()
    a = [first.ids(c).to_list() for c in chunks]
    b = [second.ids(c).to_list() for c in chunks]
    assert a == b == [[0, 1, None], [2, 0, 3], [3, 4, 1]]
    assert_frame_equal(first.table(), second.table())


LOG = """\
1.000001 [0 10.0.0.1:5000] "GET" "user:1"
1.000002 [0 10.0.0.1:5000] "ZREVRANGE" "z:2025-10-17" "0" "-1"
1.000003 [0 10.0.0.1:5000] "GET" "user:2"
1.000004 [0 10.0.0.1:5000] "PING"
1.000005 [0 10.0.0.1:5000] "ZREVRANGE" "z:2025-10-16" "0" "-1"
1.000006 [0 10.0.0.1:5000] "ZREVRANGE" "z:2025-10-16" "0" "9"
1.000007 [0 10.0.0.1:5000] "GET" "user:1"
"""


def test_signatures_by_id_across_chunks(tmp_path):
    path = tmp_path / "monitor.log"
    path.write_text(LOG)
    ctx = make.Context.create()
    chunks = list(make.source_rows(parse.Source(path), ctx, chunk_bytes=60))
    assert len(chunks) >= 4  # one or two lines each
    out = pl.concat(chunks)
    assert out["signature_id"].to_list() == [0, 1, 0, 2, 1, 3, 0]
    assert out["key_id"].to_list() == [0, 1, 2, None, 3, 3, 0]
    assert ctx.signatures.table().rows() == [
        (0, "GET | user:{ID}", "get", "user:{ID}", ""),
        (1, "ZREVRANGE | z:{DATE} | 0 -1", "zrevrange", "z:{DATE}", "0 -1"),
        (2, "PING", "ping", None, ""),
        (3, "ZREVRANGE | z:{DATE} | 0 9", "zrevrange", "z:{DATE}", "0 9"),
    ]
    # One chunk for the whole file: the same ids.
    whole = make.Context.create()
    one = list(make.source_rows(parse.Source(path), whole))
    assert len(one) == 1
    assert_frame_equal(one[0], out)
    assert_frame_equal(whole.signatures.table(), ctx.signatures.table())
    assert_frame_equal(whole.keys.table(), ctx.keys.table())
