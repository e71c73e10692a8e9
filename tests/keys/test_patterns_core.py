"""The native core patterns each new key (analyze/native/src/patterns.rs) exactly as Polars'
`str.replace_all` does in `patterns.add_pattern`: the same pattern for every key, whatever the
key (binary, escapes, Unicode, long) and whatever the rules (groups, literals, empty matches)."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotshard.analyze.keys.patterns import DEFAULT_RULES, Rule, add_pattern
from hotshard.analyze.read.scanner import KeyIds
from hotshard.capture.format.lines import escape_bytes
from tests.keys.test_patterns import CASES


def core_patterns(quoted: list[str], rules: tuple[Rule, ...]) -> tuple[list[str], list[str]]:
    """Per key as quoted: its text and its pattern from the core, in order of first appearance
    (the pattern ids the core gave, checked to follow that order)."""
    key_ids = KeyIds([(r.match, r.replace, r.needs) for r in rules])
    _, names = key_ids.ids(pl.Series(quoted, dtype=pl.String))
    table = key_ids.table()
    ids = table["pattern_id"].to_list()
    assert list(dict.fromkeys(ids)) == list(range(len(names)))
    return table["key_name"].to_list(), [names[i] for i in ids]


def polars_patterns(texts: list[str], rules: tuple[Rule, ...]) -> list[str]:
    frame = pl.DataFrame({"key": texts}, schema={"key": pl.String})
    return add_pattern(frame.lazy(), "key", rules).collect()["key_pattern"].to_list()


def assert_same(quoted: list[str], rules: tuple[Rule, ...] = DEFAULT_RULES) -> None:
    distinct = list(dict.fromkeys(quoted))
    texts, got = core_patterns(distinct, rules)
    assert got == polars_patterns(texts, rules)


def test_the_default_rules_cases():
    texts, got = core_patterns([k for k, _ in CASES], DEFAULT_RULES)
    assert got == [p for _, p in CASES]
    assert got == polars_patterns(texts, DEFAULT_RULES)


# Rules as users write them: `$` groups (Polars 2 expands them in any pattern), empty matches,
# anchors, Unicode classes, case folding, runs of a class like the defaults' and look-alikes.
USER_RULES = [
    Rule("^(cache):v[0-9]+:", "$1:{VERSION}:"),
    Rule("tenant", "$1T"),
    Rule("ten ant", "${x}"),
    Rule("x*", "-"),
    Rule("", "^"),
    Rule(r"\w+", "W"),
    Rule(r"\p{Greek}+", "{GREEK}"),
    Rule("(?i)SESSION", "s"),
    Rule("[0-9]{3,}?", "{LAZY}"),
    Rule("[a-f]{2,4}", "{AF}"),
    Rule("[0-9]{2,}", "$$"),
    Rule(r"[\x00-\x7f]{5,}", "{ASCII}"),
    Rule("é+", "E"),
    Rule(r"(?P<n>[0-9]+)-(?P<m>[0-9]+)", "${m}-${n}"),
    Rule("(?-u:\\b)[0-9]+(?-u:\\b)", "{N}", needs="[0-9]"),
    Rule("[^:]+$", "{LAST}", needs=":"),
    # Runs of one class, which the core finds without the regex engine (patterns.rs `Runs`).
    Rule("[0-9]{3,}|(?-u:\\b)[0-9]{1,}(?-u:\\b)", "{R}"),
    Rule("(?-u:\\b)[a-z_]+", "{W}"),
    Rule("[0-9a-f]{4,}(?-u:\\b)", "{H}"),
    Rule("[.:]{2,}", "{P}"),
    Rule("[0-9]{2,}?|[0-9]{2,}", "{L}"),
]

_PARTS = st.sampled_from(
    [
        "user",
        ":",
        "/",
        "{",
        "}",
        "-",
        "_",
        ".",
        "@",
        " ",
        "\\",
        '"',
        "\\x",
        "\\xff",
        "\\xc3\\xa9",
        "\\n",
        "é",
        "λόγος",
        "日本",
        "\U0001f600",
        "0",
        "7",
        "42",
        "2025-10-17",
        "20251017",
        "T10:00:00Z",
        "10.0.0.1",
        "4f3a9b2c",
        "DEADBEEF",
        "f3c64af7-75a8-9294-c2cd-789a380208a9",
        "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "a@b.io",
        "1234567890123456789",
        "tenant",
        "SeSsIoN",
        "v12",
        "cache",
        "\x00",
        "\x7f",
        "\t",
    ]
)
# Keys as MONITOR quotes them: made of odd parts, or any bytes as `sdscatrepr` prints them.
QUOTED = st.one_of(
    st.lists(_PARTS, max_size=12).map("".join),
    st.binary(max_size=40).map(escape_bytes),
    st.text(max_size=30),
    st.lists(_PARTS, min_size=50, max_size=200).map("".join),  # long
)


@settings(max_examples=150, deadline=None)
@given(st.lists(QUOTED, min_size=1, max_size=30))
def test_default_rules_as_polars_applies_them(quoted):
    assert_same(quoted)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(QUOTED, min_size=1, max_size=30),
    st.lists(st.sampled_from(USER_RULES), max_size=4),
    st.booleans(),
)
def test_user_rules_as_polars_applies_them(quoted, user, defaults):
    assert_same(quoted, (*user, *(DEFAULT_RULES if defaults else ())))


# Keys each user rule changes, or is close to changing.
NEAR_MISSES = [
    "tenant:tenant",
    "ten ant",
    "cache:v12:item:5",
    "x",
    "",
    "λόγος:12",
    "SESSION:abcdef",
    "12345-678",
    "a1234b",
    "é:éé",
    "user:42:cart",
    "\\xff\\xfe",
]


@pytest.mark.parametrize("rule", USER_RULES, ids=lambda r: r.match)
def test_each_user_rule_alone(rule):
    assert_same(NEAR_MISSES, (rule,))


def test_a_rule_the_core_cannot_compile_is_refused():
    with pytest.raises(ValueError, match="unclosed"):
        KeyIds([("(unclosed", "x", None)])
