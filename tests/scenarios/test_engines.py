"""Where the engines differ (Redis 7.0, Valkey 9.1, Redis 6.2), each shown on a real server.

Key specs come from each server's own `COMMAND` reply and are checked against that server's
`COMMAND GETKEYS`; MONITOR's picture of scripts and MULTI; the INFO fields the tool reads;
`CLUSTER SHARDS` vs `CLUSTER NODES`. Score formatting and RESP3 are in tests/estimate/test_replies.py,
slot stats in tests/measure/test_slotstats.py.
"""

from __future__ import annotations

import contextlib

import polars as pl
import pytest
import redis

from hotshard.analyze.keys import keyspecs
from hotshard.analyze.read.parse import Source
from hotshard.analyze.rows import make
from hotshard.capture import info
from hotshard.capture.connect import ConnectOptions, control_client
from hotshard.capture.format import counters
from hotshard.capture.format.manifest import jsonable
from hotshard.capture.topology import discover, parse_cluster_nodes
from tests import frames
from tests.read.test_parse_real_monitor import SENTINEL, MonitorRecorder
from tests.servers import start_node, start_replica

# Commands whose keys are found differently (index, keyword, keynum, several specs, subcommands).
COMMON = [
    ("MSET", "a", "1", "b", "2"),
    ("MGET", "a", "b", "c"),
    ("EVAL", "return 1", "2", "k1", "k2"),
    ("XREAD", "COUNT", "1", "STREAMS", "s1", "s2", "0", "0"),
    ("ZUNIONSTORE", "d", "2", "z1", "z2"),
    ("GEORADIUS", "g", "0", "0", "1", "km", "STORE", "gd"),
    ("OBJECT", "ENCODING", "a"),
    ("BITOP", "AND", "bd", "a", "b"),
    ("LMOVE", "l1", "l2", "LEFT", "RIGHT"),
    ("GETEX", "a", "EX", "100"),
    ("COPY", "a", "a2"),
    ("ZRANGESTORE", "zd", "z1", "0", "-1"),
]
SINCE_7 = [
    ("LMPOP", "2", "l1", "l2", "LEFT"),
    ("SINTERCARD", "2", "s1", "s2"),
    ("EVAL_RO", "return 1", "1", "k1"),
]
# Added by Valkey (absent from Redis 7.0's COMMAND): their keys come from Valkey's own specs.
VALKEY = [
    ("MSETEX", "2", "mk1", "v1", "mk2", "v2", "EX", "100"),  # keynum, keys 2 apart
    ("DELIFEQ", "a", "1"),
    ("HSETEX", "h", "FIELDS", "1", "f", "v"),
    ("HGETEX", "h", "FIELDS", "1", "f"),
    ("HEXPIRE", "h", "100", "FIELDS", "1", "f"),
    ("HGETDEL", "h", "FIELDS", "1", "f"),
]


def argvs_for(engine) -> list[tuple[str, ...]]:
    out = list(COMMON)
    if engine.at_least(7):
        out += SINCE_7
    if engine.valkey:
        out += VALKEY
    return out


def test_keys_from_the_servers_own_command_reply(engine_node, tmp_path):
    """Each command line runs under MONITOR; the parser's keys (by the specs of that server's
    COMMAND reply, as capture saves it) equal what the server itself says: COMMAND GETKEYS."""
    node = engine_node
    control = control_client(node.host, node.port, ConnectOptions())
    reply = jsonable(control.execute_command("COMMAND"))
    assert (len(reply[0]) > 8) == node.engine.at_least(7)  # 6.2: no key specs, first/last/step
    specs = keyspecs.load(reply)
    client = node.client()
    argvs = argvs_for(node.engine)
    # sorted: 6.2 lists ZUNIONSTORE's sources before its destination
    truth = [
        sorted(str(k) for k in control.execute_command("COMMAND GETKEYS", *argv)) for argv in argvs
    ]
    recorder = MonitorRecorder(node.host, node.port)
    for argv in argvs:
        with contextlib.suppress(redis.ResponseError):  # WRONGTYPE: still run, still shown
            client.execute_command(*argv)
    client.execute_command("ECHO", SENTINEL)
    path = recorder.save(tmp_path / "keys.monitor")
    ctx = make.Context.create(commands_reply=reply)
    frame = frames.parse_log(path, ctx, node="n", shard="0001").filter(
        pl.col("command").is_in([a[0].lower() for a in argvs])
    )
    assert frame["command"].to_list() == [a[0].lower() for a in argvs]
    # `keys` lists every key of multi-key commands; a one-key command has it in key_name
    got = [
        sorted(many) if many is not None else [one] if one is not None else []
        for many, one in frame.select("keys", "key_name").iter_rows()
    ]
    assert got == truth
    # the plain-Python reference agrees too
    assert [sorted(argv[i] for i in specs.positions(list(argv))) for argv in argvs] == truth


def test_msetex_keys_are_a_keystep_apart():
    """Valkey's MSETEX is the first keynum spec with keystep 2: values are not keys."""
    spec = keyspecs.KeySpec("index", index=1, find="keynum", keynumidx=0, firstkey=1, step=2)
    argv = ["MSETEX", "3", "a", "1", "b", "2", "c", "3", "EX", "9"]
    assert keyspecs.key_positions([spec], argv) == [2, 4, 6]


def test_monitor_shows_scripts_and_multi_alike(engine_node, tmp_path):
    """EVAL first, then one `lua` line per redis.call; MULTI, the queued commands, EXEC; a
    DISCARDed block shows only MULTI and DISCARD — the same on 6.2, 7.0 and Valkey."""
    node = engine_node
    recorder = MonitorRecorder(node.host, node.port)
    client = node.client()
    client.eval("redis.call('set', KEYS[1], 'x'); return redis.call('get', KEYS[1])", 1, "k")
    pipe = client.pipeline(transaction=True)
    pipe.incr("c")
    pipe.get("k")
    pipe.execute()
    client.execute_command("MULTI")
    client.execute_command("INCR", "c")
    client.execute_command("DISCARD")
    client.execute_command("ECHO", SENTINEL)
    path = recorder.save(tmp_path / "scripts.monitor")
    frame = frames.parse_log(path, node="n", shard="0001")  # file order
    seen = frame.select("command", "origin").rows()
    seen = [r for r in seen if r[0] not in ("client", "hello", "ping", "select")]
    assert seen == [
        ("eval", "client"),
        ("set", "script"),
        ("get", "script"),
        ("multi", "client"),
        ("incrby", "client"),
        ("get", "client"),
        ("exec", "client"),
        ("multi", "client"),
        ("discard", "client"),
        ("echo", "client"),
    ]


def test_info_fields_the_tool_reads(engine_node):
    node = engine_node
    e = node.engine
    control = control_client(node.host, node.port, ConnectOptions())
    control.execute_command("GET", "missing")
    control.execute_command("CLIENT", "ID")
    with contextlib.suppress(redis.ResponseError):
        control.execute_command("LPUSH")  # an error, for errorstats
    version = control.execute_command("INFO", "server")
    name, own = counters.server_identity(counters.parse_info(version.decode())["server"])
    assert (name, own.split(".")[:2]) == (
        "valkey" if e.valkey else "redis",
        [str(v) for v in e.version],
    )
    snap = info.snapshot(control, own)  # 6.2: `INFO all` (one section per call before 7.0)
    assert info.info_command(own)[1] == ("server" if e.at_least(7) else "all")
    sections = snap.sections
    stats = sections["stats"]
    assert "total_net_output_bytes" in stats
    # 6.2 counts replication inside total_net_output_bytes only (see analyze/measure/reconcile.py)
    assert ("total_net_repl_output_bytes" in stats) == e.at_least(7)
    assert "errorstat_ERR" in sections["errorstats"]
    assert "connected_slaves" in sections["replication"]
    # commandstats: subcommands apart from 7.0 on (`client|id`), whole commands on 6.2
    calls = counters.command_calls(snap)
    assert calls["get"] == 1
    assert ("client|id" in calls, "client" in calls) == (e.at_least(7), not e.at_least(7))
    assert ("valkey_version" in sections["server"]) == e.valkey
    if e.valkey:  # Valkey keeps redis_version at 7.2.4 for clients that gate on it
        assert sections["server"]["redis_version"] == "7.2.4"


def test_cluster_shards_or_cluster_nodes(engine_cluster):
    """CLUSTER SHARDS from 7.0 on (Valkey too); 6.2 only has CLUSTER NODES, and discovery falls
    back to it with the same shards."""
    seed = engine_cluster.seed
    control = control_client(seed.host, seed.port, ConnectOptions())
    if engine_cluster.engine.at_least(7):
        assert control.execute_command("CLUSTER SHARDS")
    else:
        with pytest.raises(redis.ResponseError, match=r"(?i)unknown subcommand"):
            control.execute_command("CLUSTER SHARDS")
    topology = discover([(seed.host, seed.port)], ConnectOptions())
    groups = parse_cluster_nodes(control.execute_command("CLUSTER NODES").decode())
    assert sorted(s.slots for s in topology.shards) == sorted(sorted(g[0]) for g in groups)
    assert {n.server_name for n in topology.nodes} == {
        "valkey" if engine_cluster.engine.valkey else "redis"
    }


def test_a_replica_shows_scripts_as_their_effects(engine, tmp_path):
    """On a replica every engine shows a script as MULTI, its writes, EXEC from the primary's
    address (Valkey puts the SELECT inside the MULTI), and rewrites `SET … EX`: to `PX` on 6.2,
    to `PXAT` from 7.0 on. All of it is replicated traffic, none of it client bytes out."""
    primary = start_node(tmp_path, engine=engine, config={"repl-diskless-sync-delay": "0"})
    try:
        replica = start_replica(tmp_path, primary)
        try:
            recorder = MonitorRecorder(replica.host, replica.port)
            client = primary.client()
            client.eval("redis.call('set', KEYS[1], 'x'); redis.call('incr', 'n')", 1, "k")
            client.set("e", "1", ex=100)
            client.set("done", SENTINEL)  # replicated: the recorder stops on it
            path = recorder.save(tmp_path / "replica.monitor")
        finally:
            replica.stop()
    finally:
        primary.stop()
    source = Source(path, node=replica.address, shard="0001", role="replica",
                    primary_addresses=(primary.address,))  # fmt: skip
    frame = frames.parse_logs([source])  # file order
    assert set(frame["origin"]) == {"replicated"}
    assert set(frame["client"]) == {primary.address}
    commands = [c for c in frame["command"] if c not in ("select", "ping")]
    assert commands == ["multi", "set", "incr", "exec", "set", "set"]
    expire = [a.to_list() for a in frames.split_log(path)["args"] if a.to_list()[:1] == ["e"]]
    assert [a[2] for a in expire] == ["PXAT" if engine.at_least(7) else "PX"]
