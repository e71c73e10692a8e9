"""Key specs from a real COMMAND reply, and the native core's key finding that follows them."""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from hotshard.analyze.keys import keyspecs, quoted
from hotshard.capture.format.lines import key_text, unescape_bytes
from hotshard.capture.format.manifest import jsonable
from tests.frames import found_keys

SPECS = keyspecs.load()

# argv as MONITOR prints it (escapes unresolved) -> expected keys (escaped form)
CASES: list[tuple[list[str], list[str]]] = [
    (["GET", "k"], ["k"]),
    (["SET", "k", "v", "EX", "60"], ["k"]),
    (["ZREVRANGE", "k", "0", "-1", "WITHSCORES"], ["k"]),
    (["MGET", "k1", "k2"], ["k1", "k2"]),
    (["MSET", "a", "1", "b", "2"], ["a", "b"]),
    (["DEL", "k1", "k2", "k3"], ["k1", "k2", "k3"]),
    (["EVAL", "return 1", "2", "k1", "k2", "arg"], ["k1", "k2"]),
    (["EVAL", "return 1", "0"], []),
    (["EVALSHA", "abc", "1", "k1", "x"], ["k1"]),
    (["FCALL", "fn", "2", "a", "b"], ["a", "b"]),
    (["EVAL", "x", "notanumber", "a"], []),
    (["XREAD", "COUNT", "2", "STREAMS", "s1", "s2", "0", "0"], ["s1", "s2"]),
    (["xread", "streams", "s1", "$"], ["s1"]),
    (
        ["XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s1", "s2", ">", ">"],
        ["s1", "s2"],
    ),
    (["ZUNIONSTORE", "dest", "2", "a", "b", "WEIGHTS", "1", "2"], ["dest", "a", "b"]),
    (["ZINTERSTORE", "dest", "1", "a"], ["dest", "a"]),
    (["SORT", "k", "BY", "w_*", "GET", "#", "STORE", "dst"], ["k", "dst"]),
    (["SORT", "k", "LIMIT", "0", "10"], ["k"]),
    (["OBJECT", "ENCODING", "k"], ["k"]),
    (["MEMORY", "USAGE", "k", "SAMPLES", "5"], ["k"]),
    (["XINFO", "STREAM", "s"], ["s"]),
    (["XINFO", "HELP"], []),
    (["BITOP", "AND", "dest", "a", "b"], ["dest", "a", "b"]),
    (["LMPOP", "2", "a", "b", "LEFT"], ["a", "b"]),
    (["BLMPOP", "0", "2", "a", "b", "LEFT", "COUNT", "3"], ["a", "b"]),
    (["ZMPOP", "1", "z", "MIN"], ["z"]),
    (["MIGRATE", "h", "6379", "k", "0", "5000"], ["k"]),
    (["MIGRATE", "h", "6379", "", "0", "5000", "REPLACE", "KEYS", "a", "b"], ["a", "b"]),
    (["GEORADIUS", "g", "1", "2", "3", "km", "STORE", "dst"], ["g", "dst"]),
    (["GEORADIUS", "g", "1", "2", "3", "km", "STOREDIST", "dst"], ["g", "dst"]),
    (["GEORADIUSBYMEMBER", "g", "m", "3", "km", "STORE", "dst"], ["g", "dst"]),
    (["BLPOP", "a", "b", "0"], ["a", "b"]),
    (["LMOVE", "a", "b", "LEFT", "RIGHT"], ["a", "b"]),
    (["RENAME", "a", "b"], ["a", "b"]),
    (["SPUBLISH", "channel", "msg"], ["channel"]),
    (["PING"], []),
    (["MULTI"], []),
    (["SCAN", "0", "MATCH", "user:*", "COUNT", "100"], []),
    (["CLIENT", "SETNAME", "x"], []),
    (["NOSUCHCOMMAND", "a"], []),
]


def test_builtin_reply_is_a_real_7_0_command_reply():
    reply = keyspecs.builtin_reply()
    names = {entry[0] for entry in reply}
    assert {"get", "set", "eval", "xread", "object"} <= names
    assert len(reply) > 200


def test_reference_positions_follow_redis_rules():
    for argv, expected in CASES:
        positions = SPECS.positions(argv)
        assert [argv[i] for i in positions] == expected, argv


def test_the_core_finds_the_cases_keys():
    out = found_keys([argv for argv, _ in CASES])
    expected = pl.DataFrame(
        {
            "key_raw": [k[0] if k else None for _, k in CASES],
            # Every key only for commands with more than one (the first is key_raw).
            "keys_raw": [k if len(k) > 1 else None for _, k in CASES],
            "key_count": [len(k) for _, k in CASES],
        },
        schema={"key_raw": pl.String, "keys_raw": pl.List(pl.String), "key_count": pl.Int32},
    )
    assert_frame_equal(out.select("key_raw", "keys_raw", "key_count"), expected)


def test_table_has_one_row_per_spec():
    table = SPECS.table()
    assert table.columns == list(keyspecs.SPEC_SCHEMA)
    geo = table.filter(command="georadius").sort("spec")
    assert geo["begin"].to_list() == ["index", "keyword", "keyword"]
    assert geo["keyword"].to_list() == [None, "STORE", "STOREDIST"]
    enc = table.filter(command="object", subcommand="encoding")
    assert enc.select("begin", "index", "find", "lastkey").row(0) == ("index", 2, "range", 0)
    assert table.filter(command="ping").is_empty()


def test_legacy_reply_without_key_specs():
    """A pre-7.0 reply (6 fields per command) falls back to the built-in specs, then first/last/step."""
    legacy = [
        ["get", 2, ["readonly"], 1, 1, 1],
        ["mset", -3, ["write"], 1, -1, 2],
        ["eval", -3, ["noscript", "movablekeys"], 0, 0, 0],
        ["oldcmd", -2, ["write"], 1, -1, 1],
    ]
    specs = keyspecs.load(legacy)
    assert specs.positions(["MSET", "a", "1", "b", "2"]) == [1, 3]
    assert specs.positions(["EVAL", "s", "1", "k"]) == [3]  # movable: from the built-in table
    assert specs.positions(["OLDCMD", "x", "y"]) == [1, 2]  # first/last/step
    assert specs.positions(["ZUNIONSTORE", "d", "1", "a"]) == [1, 3]  # not in the reply: built-in


@pytest.mark.parametrize("name", ["get", "xread", "georadius"])
def test_reply_saved_by_capture_round_trips(tmp_path, name):
    """capture writes `commands.json` with `jsonable`; loading that JSON gives the same specs."""
    raw = json.loads(json.dumps(jsonable(keyspecs.builtin_reply())))
    assert keyspecs.load(raw).by_command[name] == SPECS.by_command[name]


def test_keys_of_escaped_arguments_are_decoded():
    cases = [
        (["GET", "caf\\xc3\\xa9"], "café", False),
        (["GET", "\\xff\\xfe"], "\\xff\\xfe", True),
        (["GET", 'a\\"b\\\\c\\n'], 'a"b\\c\n', False),
        (["GET", "\\\\x41"], "\\x41", False),
        (["GET", "sp ace"], "sp ace", False),
        (["GET", "\\x00\\x7f"], "\x00\x7f", False),
    ]
    found = found_keys([argv for argv, _, _ in cases])
    out = quoted.decode_column(found.lazy(), "key_raw").collect()
    for (argv, text, binary), row in zip(cases, out.iter_rows(named=True), strict=True):
        exact = unescape_bytes(argv[1])
        assert (row["key_raw_text"], row["key_raw_binary"]) == key_text(exact) == (text, binary)
        assert row["key_raw_bytes"] == exact
        assert row["key_raw"] == argv[1] and row["keys_raw"] is None
    # The key list of a multi-key command, text form (`keys` of the rows).
    many = found_keys([["MGET", *(argv[1] for argv, _, _ in cases)]])
    listed = many.select(keys=quoted.decode_keys(pl.col("keys_raw")))
    assert listed["keys"].to_list() == [[text for _, text, _ in cases]]


def test_arg_shape_masks_values_and_keeps_ranges_and_keywords():
    argvs = [
        ["ZREVRANGE", "k", "0", "-1", "WITHSCORES"],
        ["SET", "k", "v", "EX", "60"],
        ["SET", "k", "0"],
        ["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "0", "10"],
        ["GET", "k"],
        ["MSET", "a", "1", "b", "2"],
        ["EVALSHA", "abc", "2", "k1", "k2", "x"],
        ["OBJECT", "ENCODING", "k"],
        ["ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"],
        ["GEORADIUS", "g", "1", "2", "3", "km", "STORE", "dst"],
        ["HSET", "h", *[f"f{i}" for i in range(20)]],
        ["SCAN", "0", "MATCH", "user:*", "COUNT", "100"],
        ["XADD", "s", "*", "f", "v"],
        ["PING"],
    ]
    out = found_keys(argvs)
    assert out["arg_shape"].to_list() == [
        "0 -1 WITHSCORES",
        "? EX ?",
        "?",
        "-inf +inf LIMIT 0 10",
        "",
        "? ?",
        "? ? ?",
        "ENCODING",
        "? WEIGHTS ? ?",
        "? ? ? KM STORE",
        "? ? ? ? ? ? ? ? …",
        "0 MATCH ? COUNT 100",
        "* ? ?",
        "",
    ]


def _arities(reply: list) -> dict[str, int]:
    out = {}
    for entry in reply:
        out[str(entry[0]).lower()] = int(entry[1])
        if len(entry) >= 10 and entry[9]:
            out |= _arities(entry[9])
    return out


ARITY = _arities(keyspecs.builtin_reply())
WORDS = ["STREAMS", "streams", "STORE", "STOREDIST", "KEYS", "", "0", "1", "2", "3", "-1", "+2"]
WORDS += ["02", "k", "WITHSCORES", "LIMIT", "COUNT", "GET", "BY", "99999999999", "$", "ex", "x"]


def _accepted(name: str, argc: int) -> bool:
    """The server takes the line (its arity): shorter lines never reach MONITOR."""
    arity = ARITY.get(name, -1)
    return argc == arity if arity > 0 else argc >= -arity


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(
        st.tuples(
            st.sampled_from(sorted(SPECS.by_command)),
            st.lists(st.sampled_from(WORDS) | st.from_regex(r"\Ak[0-9]{1,2}\Z"), max_size=9),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_the_core_finds_the_keys_the_reference_rules_find(lines):
    """Any command of the built-in reply with any arguments the server accepts: the native
    core's keys are those of the plain-Python rules (`keyspecs.key_positions`)."""
    argvs = []
    for name, args in lines:
        command, _, sub = name.partition("|")
        argv = [command.upper(), *([sub.upper()] if sub else []), *args]
        if _accepted(name, len(argv)):
            argvs.append(argv)
    if not argvs:
        return
    out = found_keys(argvs)
    for argv, row in zip(argvs, out.iter_rows(named=True), strict=True):
        want = [argv[i] for i in SPECS.positions(argv)]
        got = row["keys_raw"] or ([row["key_raw"]] if row["key_count"] else [])
        assert (got, row["key_count"]) == (want, len(want)), argv
