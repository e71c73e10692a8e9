"""The field set of a small hash at each read, replayed from the after-window sample through
the hash writes MONITOR showed (analyze/estimate/hash_fields.py)."""

from __future__ import annotations

import polars as pl

from hotshard.analyze.estimate import hash_fields
from hotshard.capture.format.manifest import KeySize


def _heads(*lines: tuple[float, str]) -> pl.DataFrame:
    return pl.DataFrame(
        {"ts": [t for t, _ in lines], "db": [0] * len(lines), "body": [b for _, b in lines]},
        schema={"ts": pl.Float64, "db": pl.Int32, "body": pl.String},
    )


def test_writes_become_field_events_without_values():
    heads = _heads(
        (1.0, '"HSET" "h" "a" "value-a" "b" "value-b"'),
        (2.0, '"hdel" "h" "a" "c"'),
        (3.0, '"HINCRBY" "h" "n" "1"'),
        (4.0, '"GET" "other"'),
        (5.0, '"EXPIRE" "h" "60"'),  # a TTL in the future changes no field
        (6.0, '"EXPIRE" "h" "-1"'),
        (7.0, '"RENAME" "x" "h"'),
        (8.0, '"FLUSHDB"'),
        (9.0, '"HGETDEL" "h" "FIELDS" "1" "b"'),
    )
    events = hash_fields.events_of(heads, ["h"])
    assert events.rows() == [
        ("h", "a", 1.0, True),
        ("h", "b", 1.0, True),
        ("h", "a", 2.0, False),
        ("h", "c", 2.0, False),
        ("h", "n", 3.0, True),
        ("h", None, 6.0, None),
        ("h", None, 7.0, None),
        ("h", None, 8.0, None),
        ("h", "b", 9.0, False),
    ]
    assert not events.select(pl.col("field").str.contains("value")).to_series().any()


def test_each_read_sees_the_field_set_of_its_time():
    # After the window `h` holds `new` (10 B) and `keep` (30 B): `old` was HDELed at 10, `new`
    # HSET for the first time at 20; `k2` had its key deleted at 15 and rebuilt.
    after = pl.DataFrame(
        {"key_name": ["h", "h", "k2"], "field": ["new", "keep", "x"], "value_len": [10, 30, 4]},
        schema=hash_fields.AFTER,
    )
    events = pl.DataFrame(
        [
            ("h", "old", 10.0, False),
            ("h", "new", 20.0, True),
            ("k2", None, 15.0, None),
            ("k2", "x", 16.0, True),
        ],
        schema=hash_fields.EVENTS,
        orient="row",
    )
    reads = pl.DataFrame(
        [
            (0, "h", "old", 5.0),  # before its HDEL: there, at the hash's mean value (20 B)
            (1, "h", "old", 12.0),  # after it: missing
            (2, "h", "new", 12.0),  # before an HSET: it says nothing (the after-window set)
            (3, "h", "new", 25.0),  # after it
            (4, "h", "keep", 1.0),  # never written: the after-window set
            (5, "h", "gone", 1.0),  # never written, not there after: missing
            (6, "k2", "x", 14.0),  # before the key was deleted: unknown
            (7, "k2", "y", 15.5),  # after the delete, never set: missing
            (8, "k2", "x", 17.0),
        ],
        schema={"_i": pl.Int64, "key_name": pl.String, "field": pl.String, "ts": pl.Float64},
        orient="row",
    )
    out = hash_fields.replay(reads, events, after)
    assert out["_i"].to_list() == list(range(9))
    # the in-window sample saw `old` (200 B) before its HDEL: its own length, not the mean
    earlier = hash_fields.earlier_lengths(
        [KeySize(node="n", key="h", type="hash", fields={"old": 200, "new": 1})]
    )
    lengths = hash_fields.replay(reads, events, after, earlier)["_vlen"].to_list()
    assert lengths[:4] == [200, 200, 10, 10]
    assert out["_present"].to_list() == [True, False, True, True, True, False, None, False, True]
    assert out["_vlen"].to_list()[:5] == [20, 20, 10, 10, 30]
    assert out["_replayed"].to_list() == [True, True, False, True, False, False, True, True, True]


def test_an_hset_after_a_read_says_nothing_and_a_sampled_set_is_nearer():
    # `f` is there after the window; the window's only HSET of it (at 20) may have created it
    # or updated it in place (a counter): reads before it keep the after-window answer. An
    # in-window sample at 5 that did not hold `f` (only `g`) says it was missing until 20.
    after = pl.DataFrame(
        {"key_name": ["h"], "field": ["f"], "value_len": [10]}, schema=hash_fields.AFTER
    )
    events = pl.DataFrame([("h", "f", 20.0, True)], schema=hash_fields.EVENTS, orient="row")
    reads = pl.DataFrame(
        [(0, "h", "f", 3.0), (1, "h", "f", 10.0), (2, "h", "g", 10.0), (3, "h", "f", 25.0)],
        schema={"_i": pl.Int64, "key_name": pl.String, "field": pl.String, "ts": pl.Float64},
        orient="row",
    )
    assert hash_fields.replay(reads, events, after)["_present"].to_list() == [
        True,
        True,
        False,
        True,
    ]
    anchors = hash_fields.seen_sets(
        [KeySize(node="n", key="h", type="hash", fields={"g": 3}, sampled_at=5.0)]
    )
    out = hash_fields.replay(reads, events, after, anchors=anchors)
    assert out["_present"].to_list() == [False, False, True, True]
