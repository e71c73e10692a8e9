"""Rollups, verdict and recommendations over `commands` frames built from literals."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from hotshard.analyze import schema
from hotshard.analyze.findings import breakdowns, rollups
from hotshard.analyze.findings.partials import Partials
from hotshard.analyze.findings.verdict import recommendations, verdict
from hotshard.analyze.measure import selfcheck, unshown
from hotshard.analyze.store import dataset
from tests.frames import commands, row, tables, write_outputs

T0 = 1_700_000_000.0


def _workload(with_bytes: bool) -> pl.DataFrame:
    """Shard 0001 serves a 1 MB zset read in full; 0002 and 0003 serve small GETs."""
    rows = []
    for i in range(10):
        rows.append(
            row(
                ts=T0 + i,
                shard="0001",
                node="10.0.0.1:6379",
                command="zrevrange",
                key="big:zset:2025-10-17",
                key_pattern="big:zset:{DATE}",
                arg_shape="0 -1",
                client=f"10.0.9.1:{5000 + i % 2}",
                reply_bytes=1_000_000 if with_bytes else None,
            )
        )
    for shard, node in (("0002", "10.0.0.2:6379"), ("0003", "10.0.0.3:6379")):
        for i in range(20):
            rows.append(
                row(
                    ts=T0 + i / 2,
                    shard=shard,
                    node=node,
                    command="get",
                    key=f"user:{shard}:{i % 5}",
                    key_pattern="user:{N}:{N}",
                    client="10.0.9.2:6000",
                    reply_bytes=100 if with_bytes else None,
                )
            )
    # Traffic that is not the client's: must never count as client commands.
    rows.append(row(ts=T0 + 1, shard="0002", origin=schema.ORIGIN_REPLICATED, command="set"))
    rows.append(
        row(ts=T0 + 1, shard="0003", origin=schema.ORIGIN_SCRIPT, client="lua", client_kind="lua")
    )
    return commands(rows)


def test_frames_helper_matches_schema():
    df = commands([row()])
    assert df.columns == list(dataset.WIDE_COLUMNS)
    t = tables(df)
    assert t.rows.collect_schema() == pl.Schema(schema.COMMANDS)
    assert t.keys.schema == pl.Schema(schema.KEYS)
    assert t.signatures.schema == pl.Schema(schema.SIGNATURES)
    assert t.sources.schema == pl.Schema(dataset.SOURCES)
    # One key, two patterns: the literal is wrong, and the helper says so.
    clash = commands([row(key="a", key_pattern="x"), row(key="a", key_pattern="y")])
    with pytest.raises(ValueError, match=r"key_name \['a'\]"):
        tables(clash)


def test_wide_round_trip(tmp_path):
    """Split into rows, keys, signatures and sources, then joined back: the same frame, with
    ids numbering the sorted distinct keys and signatures."""
    df = _workload(True)
    t = tables(df)
    assert t.keys["key_name"].to_list() == [
        "big:zset:2025-10-17",
        "k",
        *[f"user:{shard}:{i}" for shard in ("0002", "0003") for i in range(5)],
    ]
    assert t.keys["key_id"].to_list() == list(range(12))
    assert t.signatures["signature"].to_list() == [
        "GET | k | ",
        "GET | user:{N}:{N} | ",
        "SET | k | ",
        "ZREVRANGE | big:zset:{DATE} | 0 -1",
    ]
    assert t.rows.collect()["key_id"].to_list()[:12] == [0] * 10 + [2, 3]
    back = t.wide().collect()
    assert_frame_equal(back.drop("key_id", "signature_id"), df.drop("key_id", "signature_id"))
    # The same through the files of an analysis folder (commands/ is written shard by shard).
    write_outputs(tmp_path, t, database=False)
    read = dataset.read(tmp_path)
    assert_frame_equal(read.keys, t.keys)
    assert_frame_equal(read.signatures, t.signatures)
    assert_frame_equal(
        read.wide().collect().sort("shard", "ts", "command", "key_name"),
        back.sort("shard", "ts", "command", "key_name"),
    )


def test_totals_count_client_traffic_only():
    t = rollups.totals(tables(_workload(True)).rows)
    assert (t.rows, t.client, t.replicated, t.script) == (52, 50, 1, 1)
    assert t.est_bytes_out == 10 * 1_000_000 + 40 * 100
    assert t.basis == "bytes"
    assert rollups.totals(tables(_workload(False)).rows).basis == "commands"


def test_shards_by_bytes_and_verdict():
    r = rollups.compute(tables(_workload(True)), span=(T0, T0 + 10))
    assert r.duration == 10
    shards = r.shards.select("shard", "commands", "est_bytes_out", "replicated", "script")
    expected = pl.DataFrame(
        {
            "shard": ["0001", "0002", "0003"],
            "commands": [10, 20, 20],
            "est_bytes_out": [10_000_000, 2_000, 2_000],
            "replicated": [0, 1, 0],
            "script": [0, 0, 1],
        },
        schema_overrides={
            c: pl.Int64 for c in ("commands", "est_bytes_out", "replicated", "script")
        },
    )
    assert_frame_equal(shards, expected)
    v = verdict(r)
    assert (v.status, v.hot_shard, v.basis) == ("hot", "0001", "bytes")
    assert v.skew == pytest.approx(5000.0)
    assert v.estimate == "modelled" and "modelled reply bytes" in v.text


def _node(node: str, shard: str, role: str, modelled: int, parts: list, measured: int | None):
    return selfcheck.NodeCheck(
        node=node,
        shard=shard,
        role=role,
        modelled={"sampled": modelled},
        unknown_commands=0,
        parts=tuple(unshown.Part(k, k, 1, b, "measured") for k, b in parts),
        measured=measured,
        replication=unshown.Replication(None, None),
    )


def test_verdict_by_the_full_estimate_when_the_capture_has_counters():
    """Modelled 10 MB vs 2 kB; with the not-shown parts each shard's nodes add (an agent's CLIENT
    LIST on every node), the skew is the one the server's counters see. A replica's acks go to
    its primary, not to clients: left out."""
    r = rollups.compute(tables(_workload(True)), span=(T0, T0 + 10))
    agent = [("admin", 3_000), ("replication", 500_000)]
    nodes = [
        _node("a", "0001", "primary", 10_000_000, agent, 10_003_000),
        _node("b", "0002", "primary", 2_000, agent, 5_000),
        _node("c", "0003", "primary", 2_000, [*agent, ("rejected", 1_000)], 6_000),
        _node("d", "0003", "replica", 0, agent, 3_000),
    ]
    check = selfcheck.SelfCheck(nodes=nodes)
    v = verdict(r, check)
    assert v.estimate == "full" and v.hot_shard == "0001"
    assert v.values == {"0001": 10_003_000, "0002": 5_000, "0003": 9_000}
    assert v.skew == pytest.approx(10_003_000 / 7_000)
    assert "including what MONITOR does not show" in v.text
    # Any node without counters, or a sub-window: modelled replies only, as without a check.
    unmeasured = selfcheck.SelfCheck(nodes=[*nodes[:3], replace(nodes[3], measured=None)])
    window = selfcheck.SelfCheck(nodes=nodes, window=selfcheck.SubWindow(T0, T0 + 5, True))
    for c in (unmeasured, window, selfcheck.SelfCheck()):
        assert verdict(r, c) == verdict(r)
        assert verdict(r, c).estimate == "modelled"
    # A shard the check has no node of (seen only in logs): no like-for-like comparison.
    assert verdict(r, selfcheck.SelfCheck(nodes=nodes[:2])).estimate == "modelled"


def test_verdict_by_commands_when_bytes_unknown():
    r = rollups.compute(tables(_workload(False)))
    assert r.basis == "commands"
    assert r.shards["est_bytes_out"].null_count() == 3
    v = verdict(r)
    # 0002 and 0003 tie at 20 client commands: the smaller name wins, deterministically;
    # the median of the others (20 and 10) is 15.
    assert (v.hot_shard, v.skew, v.status) == ("0002", pytest.approx(20 / 15), "skewed")
    assert "client commands" in v.text


def test_hot_keys_ranked_with_tie_breakers():
    r = rollups.compute(tables(_workload(True)))
    top = r.hot_keys.select("shard", "key_name", "commands", "top_command").head(3)
    assert top.rows() == [
        ("0001", "big:zset:2025-10-17", 10, "zrevrange"),
        ("0002", "user:0002:0", 4, "get"),
        ("0002", "user:0002:1", 4, "get"),
    ]
    assert r.hot_keys["share_of_shard"][0] == pytest.approx(1.0)
    # The replicated SET on key "k" is not a client key.
    assert "k" not in r.hot_keys["key_name"].to_list()


def test_large_ops_find_full_range_reads():
    df = commands(
        [
            row(command="zrevrange", key="z", arg_shape="0 -1"),
            row(command="zrevrange", key="z", arg_shape="0 -1 WITHSCORES"),
            row(command="zrevrange", key="z", arg_shape="0 99"),
            row(command="zrangebyscore", key="z", arg_shape="-inf +inf LIMIT 0 10"),
            row(command="lrange", key="l", arg_shape="0 -1"),
            row(command="hgetall", key="h"),
            row(command="smembers", key="s"),
            row(command="get", key="g"),
        ]
    )
    flags = df.select(breakdowns.full_read())["command"].to_list()
    assert flags == [True, True, False, False, True, True, True, False]
    r = rollups.compute(tables(df))
    assert r.large_ops.select("key_name", "command", "arg_shape", "commands").rows() == [
        ("h", "hgetall", "", 1),
        ("l", "lrange", "0 -1", 1),
        ("s", "smembers", "", 1),
        ("z", "zrevrange", "0 -1", 1),
        ("z", "zrevrange", "0 -1 WITHSCORES", 1),
    ]


def test_clients_patterns_signatures_series():
    r = rollups.compute(tables(_workload(True)))
    assert r.clients.select("client_id", "commands", "connections").rows() == [
        ("10.0.9.1", 10, 2),
        ("10.0.9.2", 40, 1),
    ]
    assert r.patterns["key_pattern"].to_list() == ["big:zset:{DATE}", "user:{N}:{N}"]
    assert r.patterns.filter(pl.col("key_pattern") == "user:{N}:{N}")["distinct_keys"][0] == 10
    assert r.signatures["signature"][0] == "ZREVRANGE | big:zset:{DATE} | 0 -1"
    assert r.signatures["avg_reply_bytes"][0] == 1_000_000
    s1 = r.series.filter(pl.col("shard") == "0002")
    assert s1["commands"].sum() == 20 and s1["second"].is_sorted()
    assert r.slots["shard"].to_list()[0] == "0001"


def test_known_but_silent_shard_and_node_show_up():
    r = rollups.compute(
        tables(_workload(True)),
        shards_known=["0001", "0002", "0003", "0004"],
        nodes_known=[("10.0.0.4:6379", "0004", "replica")],
    )
    silent = r.shards.filter(pl.col("shard") == "0004").row(0, named=True)
    assert silent["commands"] == 0 and silent["est_bytes_out"] is None
    assert "10.0.0.4:6379" in r.nodes["node"].to_list()
    # Median of 2000, 2000 and 0 is 2000: still hot.
    assert verdict(r).hot_shard == "0001"


def test_recommendations_estimate_savings_from_key_sizes():
    r = rollups.compute(tables(_workload(True)))
    v = verdict(r)
    sizes = pl.DataFrame({"key": ["big:zset:2025-10-17"], "cardinality": [100_000]})
    recs = recommendations(r, v, sizes)
    assert recs[0].kind == "full-read"
    assert recs[0].saves_bytes == int(10_000_000 * (1 - 100 / 100_000))
    assert "ZREVRANGE big:zset:{DATE} 0 -1" in recs[0].text
    # The hot key is read whole: the paging advice covers it, no separate hot-key advice.
    assert not any(rec.kind == "hot-key" for rec in recs)
    # Without key sizes there is still advice, without a saving.
    assert recommendations(r, v)[0].saves_bytes is None


def test_idle_and_single_shard():
    assert verdict(rollups.compute(tables(commands([])))).status == "idle"
    one = commands([row(shard="unknown")])
    assert verdict(rollups.compute(tables(one))).status == "single"


def test_deterministic_across_runs():
    df = _workload(True)
    a = rollups.compute(tables(df))
    b = rollups.compute(tables(df.sample(fraction=1.0, shuffle=True, seed=7)))
    for name in ("shards", "hot_keys", "patterns", "signatures", "clients", "slots", "large_ops"):
        assert_frame_equal(getattr(a, name), getattr(b, name))


def test_hot_key_advice_for_a_key_not_read_whole():
    rows = [row(shard="0001", key="counter", command="incr", ts=T0 + i / 10) for i in range(30)]
    rows += [row(shard="0001", key=f"k{i}", ts=T0 + i / 10) for i in range(5)]
    rows += [row(shard="0002", key=f"j{i}", ts=T0 + i / 10) for i in range(5)]
    rows += [row(shard="0003", key=f"m{i}", ts=T0 + i / 10) for i in range(4)]
    r = rollups.compute(tables(commands(rows)))
    v = verdict(r)
    assert (v.status, v.hot_shard) == ("hot", "0001")
    recs = recommendations(r, v)
    assert recs[0].kind == "hot-key" and "`counter`" in recs[0].text
    assert "no-bytes" in {rec.kind for rec in recs}


def test_hot_slot_advice_only_when_the_slot_has_many_busy_keys():
    rows = [row(shard="0001", key=f"{{tag}}:{i % 4}", ts=T0 + i / 10) for i in range(40)]
    rows += [row(shard="0001", key=f"other{i}", ts=T0 + i / 10) for i in range(4)]
    rows += [row(shard="0002", key=f"j{i}", ts=T0 + i / 10) for i in range(5)]
    rows += [row(shard="0003", key=f"m{i}", ts=T0 + i / 10) for i in range(5)]
    r = rollups.compute(tables(commands(rows)))
    recs = recommendations(r, verdict(r))
    # keys sharing a hash tag: the fix proposes a spread of that tag
    assert any(
        rec.kind == "hash-tag" and "over 4 keys sharing the tag `{tag}`" in rec.text for rec in recs
    )
    # The same load on one key of that slot is a hot key, not a hot slot.
    rows = [row(shard="0001", key="{tag}:0", ts=T0 + i / 10) for i in range(40)]
    rows += [row(shard="0001", key="{tag}:1", ts=T0)]
    rows += [row(shard="0002", key=f"j{i}", ts=T0 + i / 10) for i in range(5)]
    rows += [row(shard="0003", key=f"m{i}", ts=T0 + i / 10) for i in range(5)]
    r = rollups.compute(tables(commands(rows)))
    kinds = [rec.kind for rec in recommendations(r, verdict(r))]
    assert "hot-slot" not in kinds and "hash-tag" not in kinds and "hot-key" in kinds


def test_a_key_shared_and_charged_directly_under_one_signature_sums_both():
    """A key charged its share of one MGET's reply and, in another MGET of the same signature
    whose reply is unknown, the whole row as its first key: both rows count for it once each
    (the shares join the per-key sums without being added up on their own first)."""
    mget = {"command": "mget", "key_pattern": "k:{X}", "arg_count": 2, "key_count": 2}
    rows = [
        row(
            ts=T0,
            key="k:a",
            keys=["k:a", "k:b"],
            reply_bytes=100,
            keys_reply_bytes=[60, 40],
            **mget,
        ),
        row(ts=T0 + 1, key="k:b", keys=["k:b", "k:a"], reply_bytes=None, **mget),
        row(
            ts=T0 + 2,
            key="k:b",
            keys=["k:b", "k:a"],
            reply_bytes=30,
            keys_reply_bytes=[10, 20],
            **mget,
        ),
    ]
    r = rollups.compute(tables(commands(rows)), span=(T0, T0 + 10))
    hot = {d["key_name"]: d for d in r.hot_keys.iter_rows(named=True)}
    assert (hot["k:a"]["commands"], hot["k:a"]["est_bytes_out"]) == (2, 80)
    assert (hot["k:b"]["commands"], hot["k:b"]["est_bytes_out"]) == (3, 50)
    assert hot["k:b"]["top_command"] == "mget"


@pytest.mark.parametrize("with_bytes", [True, False])
def test_hot_keys_cut_keeps_the_ties_a_full_sort_would(with_bytes):
    """The hot keys are cut on the ranking's sums before names are looked up: a cut that falls
    inside a run of tied keys still keeps the ones the name tie-breaker puts first, and the
    top command weighs bytes (or commands) as the full table does."""
    rows = []
    # "t:z", "t:a", "t:m": two GETs each (tied); "t:two": one GET and one big HGETALL.
    for i, key in enumerate(["t:z", "t:a", "t:m", "t:z", "t:a", "t:m"]):
        rows.append(row(ts=T0 + i, key=key, key_pattern="t:{X}", reply_bytes=10))
    rows.append(row(ts=T0, key="t:two", key_pattern="t:{X}", reply_bytes=10))
    rows.append(
        row(ts=T0 + 1, key="t:two", key_pattern="t:{X}", command="hgetall", reply_bytes=5_000)
    )
    rows.append(row(ts=T0 + 2, key="t:two", key_pattern="t:{X}", reply_bytes=10))
    rows.append(row(ts=T0 + 3, key="t:one", key_pattern="t:{X}", reply_bytes=10))
    if not with_bytes:
        rows = [{**r, "reply_bytes": None} for r in rows]
    t = tables(commands(rows))
    full = rollups.compute(t, span=(T0, T0 + 10)).hot_keys
    for limit in (1, 2, 3, 4):
        cut = rollups.compute(t, span=(T0, T0 + 10), limit=limit).hot_keys
        assert_frame_equal(cut, full.head(limit))
    assert full["key_name"].to_list() == ["t:two", "t:a", "t:m", "t:z", "t:one"]
    assert full["top_command"][0] == ("hgetall" if with_bytes else "get")


def _per_key_workload() -> pl.DataFrame:
    """Keys on several shards (one on two: a migration), multi-key replies shared out, whole
    reads, keys without a reply estimate, names that sort apart from their ids."""
    rows = []
    for i in range(40):
        shard = ("0003", "0001", "0010")[i % 3]
        key = f"k:{(i * 7) % 13}"
        rows.append(
            row(
                ts=T0 + i / 4,
                shard=shard,
                key=key,
                key_pattern="k:{N}",
                reply_bytes=None if i % 5 == 0 else 10 * (i % 4 + 1),
            )
        )
    rows.append(row(ts=T0, shard="0001", command="hgetall", key="h:1", reply_bytes=900))
    rows.append(
        row(ts=T0, shard="0010", command="lrange", key="l:1", arg_shape="0 -1", reply_bytes=700)
    )
    rows.append(row(ts=T0 + 1, shard="0003", command="hgetall", key="h:1", reply_bytes=None))
    mget = {"command": "mget", "key_pattern": "k:{N}", "arg_count": 2, "key_count": 2}
    rows.append(
        row(
            ts=T0 + 2,
            shard="0003",
            key="k:3",
            keys=["k:3", "k:12"],
            reply_bytes=50,
            keys_reply_bytes=[20, 30],
            **mget,
        )
    )
    return commands(rows)


def _all_frames(r: rollups.Rollups) -> dict[str, pl.DataFrame]:
    names = ("shards", "nodes", "shard_commands", "hot_keys", "patterns", "signatures")
    names += ("clients", "slots", "series", "large_ops", "node_series", "shard_patterns")
    return {name: getattr(r, name) for name in names}


@pytest.mark.parametrize("limit", [3, 1000])
def test_per_key_rollups_do_not_depend_on_how_keys_are_looked_up_or_sliced(monkeypatch, limit):
    """The per-key table is grouped a slice of key ids at a time and takes each key's slot,
    pattern and name by its id (the analyzer's keys table is by id): a keys table in another
    order (looked up by join) and one slice per key give the same rollups."""
    t = tables(_per_key_workload())
    want = _all_frames(rollups.compute(t, span=(T0, T0 + 20), limit=limit))
    shuffled = replace(t, keys=t.keys.sample(fraction=1.0, shuffle=True, seed=3))
    assert not shuffled.keys["key_id"].is_sorted()
    got = _all_frames(rollups.compute(shuffled, span=(T0, T0 + 20), limit=limit))
    monkeypatch.setattr(breakdowns, "KEY_SLICE_ROWS", 1)
    sliced = _all_frames(rollups.compute(t, span=(T0, T0 + 20), limit=limit))
    for name, frame in want.items():
        assert_frame_equal(got[name], frame)
        assert_frame_equal(sliced[name], frame)
    hot = want["hot_keys"]
    assert hot.schema["shard"] == pl.String and want["slots"].schema["shard"] == pl.String
    if limit > hot.height:  # the key read on two shards is a hot key of each
        assert hot.filter(pl.col("key_name") == "h:1")["shard"].sort().to_list() == ["0001", "0003"]
    assert want["large_ops"].select("shard", "key_name").rows() == [
        ("0001", "h:1"),
        ("0010", "l:1"),
        ("0003", "h:1"),
    ]


@pytest.mark.parametrize("with_bytes", [True, False])
def test_hot_keys_cut_among_keys_without_an_estimate(with_bytes):
    """A cut that falls among keys whose bytes are unknown (nulls rank last) keeps the ones a
    sort of every key would, by commands then name."""
    rows = [row(ts=T0, key="b:big", key_pattern="b:{X}", reply_bytes=10 if with_bytes else None)]
    for i, key in enumerate(["n:c", "n:a", "n:b", "n:a", "n:d", "n:c", "n:e"]):
        rows.append(row(ts=T0 + i, key=key, key_pattern="n:{X}", reply_bytes=None))
    t = tables(commands(rows))
    full = rollups.compute(t, span=(T0, T0 + 10)).hot_keys
    for limit in range(1, 7):
        cut = rollups.compute(t, span=(T0, T0 + 10), limit=limit).hot_keys
        assert_frame_equal(cut, full.head(limit))


def test_rollups_of_chunk_sums_read_unfolded_match_one_chunk():
    """The per-key sums are read as the chunks left them (the same key in several chunks, not
    folded into one row first): the rollups are those of the rows added up at once."""
    t = tables(_per_key_workload())
    rows = t.rows.collect()
    chunked = Partials()
    for chunk in (rows.slice(0, 15), rows.slice(15, 20), rows.slice(35)):
        chunked.add(chunk)
    assert len(chunked.parts["keys"]) == 3
    want = _all_frames(rollups.compute(t, span=(T0, T0 + 20)))
    got = _all_frames(rollups.compute(t, partials=chunked, span=(T0, T0 + 20)))
    for name, frame in want.items():
        assert_frame_equal(got[name], frame)
