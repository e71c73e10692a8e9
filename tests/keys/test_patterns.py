"""Key patterns from ordered rules, rules files, and command signatures."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from hotshard.analyze.errors import BadRules
from hotshard.analyze.keys.patterns import (
    DEFAULT_RULES,
    Rule,
    add_pattern,
    load_rules,
    signature_expr,
)

CASES = [
    ("large_sortedset:app:2025-10-17", "large_sortedset:app:{DATE}"),
    ("large_sortedset:app:20251017", "large_sortedset:app:{DATE}"),
    ("ts:2025-10-17T10:00:00Z:x", "ts:{DATE}:x"),
    ("day/2025/10/17", "day/{DATE}"),
    ("report_20251017", "report_{DATE}"),
    ("user:42:profile", "user:{ID}:profile"),
    ("user:1234567", "user:{ID}"),
    ("order1234567x", "order{ID}x"),
    ("a:1:2:3", "a:{ID}:{ID}:{ID}"),
    ("snow:123456789012345678", "snow:{ID}"),
    ("2025101712", "{ID}"),
    ("session:f3c64af7-75a8-9294-c2cd-789a380208a9", "session:{UUID}"),
    ("sha:3f2a9c0d1e2b3a4f5e6d7c8b9a0f1e2d", "sha:{HEX}"),
    ("ip:10.0.0.1:6379", "ip:{IP}:{ID}"),
    ("h:807:{tag}", "h:{ID}:{tag}"),
    ("v1.2.3", "v1.{ID}.{ID}"),
    ("item-5", "item-{ID}"),
    ("user_42", "user_42"),
    # session and request ids in hex, shorter than 16: whole words with a letter
    ("sess:4f3a9b2c", "sess:{HEX}"),
    ("req:4F3A9B2C1D:body", "req:{HEX}:body"),
    ("k:4f3a9b2c:5a6b7c8d", "k:{HEX}:{HEX}"),
    ("x:1234567a", "x:{HEX}"),
    ("x:deadbee", "x:deadbee"),  # 7: too short to be an id rather than a word
    ("x:12345678", "x:{ID}"),  # all digits: a number
    ("user_4f3a9b2c", "user_4f3a9b2c"),  # `_` joins words, as for {ID}
    ("cache:default:facade", "cache:default:facade"),
    ("oid:507f1f77bcf86cd799439011", "oid:{HEX}"),  # a Mongo ObjectId (24 hex)
    ("ulid:01ARZ3NDEKTSV4RRFFQ69G5FAV", "ulid:{ULID}"),
    ("café:12", "café:{ID}"),
    ("plain", "plain"),
    ("bin:\\xff\\xfe\\x00", "bin:{BIN}"),
    ("bin:)N\nRJ:tail", "bin:{BIN}:tail"),
    ("tab\there:1", "{BIN}:{ID}"),
    ("", ""),
]


def test_default_rules():
    """`add_pattern` (each rule only on keys holding its `needs`) against hand-written cases."""
    frame = pl.DataFrame({"key": [k for k, _ in CASES]})
    out = add_pattern(frame.lazy(), "key").collect()
    assert out["key_pattern"].to_list() == [p for _, p in CASES]


def test_pattern_and_signature_of_keys_and_keyless_commands():
    frame = pl.DataFrame(
        {
            "command": ["zrevrange", "get", "ping", "scan", "mget"],
            "key_name": ["large_sortedset:app:2025-10-17", "user:42", None, None, "item:7"],
            "arg_shape": ["0 -1", "", "", "0 MATCH ? COUNT 100", ""],
        }
    )
    out = (
        add_pattern(frame.lazy(), "key_name")
        .with_columns(
            signature=signature_expr(pl.col("command"), pl.col("key_pattern"), pl.col("arg_shape"))
        )
        .collect()
    )
    expected = frame.with_columns(
        key_pattern=pl.Series(["large_sortedset:app:{DATE}", "user:{ID}", None, None, "item:{ID}"]),
        signature=pl.Series(
            [
                "ZREVRANGE | large_sortedset:app:{DATE} | 0 -1",
                "GET | user:{ID}",
                "PING",
                "SCAN | - | 0 MATCH ? COUNT 100",
                "MGET | item:{ID}",
            ]
        ),
    )
    assert_frame_equal(out, expected)


def test_rules_file_comes_first(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(
        """
[[rule]]
name = "tenant"
match = 'tenant-[a-z]+'
replace = "tenant-{TENANT}"

[[rule]]
match = '^(cache):v[0-9]+:'
replace = "$1:{VERSION}:"
"""
    )
    rules = load_rules(path)
    assert rules[:2] == (
        Rule("tenant-[a-z]+", "tenant-{TENANT}", "tenant"),
        Rule("^(cache):v[0-9]+:", "$1:{VERSION}:"),
    )
    assert rules[2:] == DEFAULT_RULES
    keys = pl.Series(["tenant-acme:user:7", "cache:v12:item:5"])
    out = add_pattern(keys.to_frame("key").lazy(), "key", rules).collect()["key_pattern"]
    assert out.to_list() == ["tenant-{TENANT}:user:{ID}", "cache:{VERSION}:item:{ID}"]


def test_rules_file_without_defaults(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('defaults = false\n[[rule]]\nmatch = "x"\nreplace = "y"\n')
    assert load_rules(path) == (Rule("x", "y"),)
    assert load_rules(None) == DEFAULT_RULES


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[rule]]\nmatch = "(unclosed"\nreplace = "x"\n', "invalid regex '\\(unclosed'"),
        ('[[rule]]\nmatch = "a(?=b)"\nreplace = "x"\n', "look-around"),
        ('[[rule]]\nmatch = "a"\n', "needs `match`"),
        ('[[rule]]\nmatch = "a"\nreplace = "b"\nflags = "i"\n', "unknown field"),
        ("[[rule]\n", "not valid TOML"),
        ('defaults = "yes"\n', "`defaults` is true or false"),
        ('rule = "x"\n', "[[rule]] tables"),
    ],
)
def test_bad_rules_files(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(BadRules, match=message.replace("[", r"\[")) as err:
        load_rules(path)
    assert str(path) in str(err.value)


def test_missing_rules_file(tmp_path):
    with pytest.raises(BadRules, match="cannot read"):
        load_rules(tmp_path / "none.toml")
