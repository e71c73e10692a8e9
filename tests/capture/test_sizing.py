"""Key-size sampling on real servers: the right keys, the right numbers, never a whole value."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
import zstandard

from hotshard.capture import sizing
from hotshard.capture.format.manifest import Manifest, NodeCapture
from tests.resp import RawConnection


def record_monitor(node, workload, path: Path) -> int:
    """Run `workload(client)` under MONITOR, write the raw stream to a .zst file; return lines."""
    mon = RawConnection(node.host, node.port)
    try:
        mon.send("MONITOR")
        while b"+OK\r\n" not in mon.buf:
            mon._fill()
        workload(node.client())
        node.client().echo("end-of-workload")
        while b"end-of-workload" not in mon.buf:
            mon._fill()
        data = mon.buf
    finally:
        mon.close()
    path.write_bytes(zstandard.ZstdCompressor().compress(data))
    return data.count(b"\n")


def manifest_for(node, file: str, lines: int, *, role="primary", cluster_mode=False) -> Manifest:
    return Manifest(
        cluster_mode=cluster_mode,
        nodes=[
            NodeCapture(
                node=node.address,
                host=node.host,
                port=node.port,
                role=role,
                shard="0001",
                monitored=True,
                file=file,
                compression="zstd",
                lines=lines,
            )
        ],
    )


def hot_workload(r: redis.Redis) -> None:
    r.zadd("large_sortedset:app:2025-10-17", {f"user:{i}": i * 1.17 for i in range(20_000)})
    r.hset("profile:big", mapping={f"f{i}": "x" * 50 for i in range(5000)})
    r.sadd("members:big", *range(5000))
    r.rpush("queue:big", *[f"job-{i}" for i in range(5000)])
    r.set("blob", "b" * 100_000)
    for _ in range(30):
        r.zrevrange("large_sortedset:app:2025-10-17", 0, -1, withscores=True)
    for i in range(200):
        r.set(f"session:{i}", "s" * (i % 50))
        r.get(f"session:{i}")
    for _ in range(5):
        r.hgetall("profile:big")
        r.smembers("members:big")
        r.lrange("queue:big", 0, -1)
        r.get("blob")
    r.eval("return redis.call('get', KEYS[1])", 1, "blob")


def commandstats(r: redis.Redis) -> dict[str, int]:
    return {k.removeprefix("cmdstat_"): v["calls"] for k, v in r.info("commandstats").items()}


def test_sample_sizes_on_a_node(engine_node, tmp_path):
    redis_node = engine_node
    lines = record_monitor(redis_node, hot_workload, tmp_path / "n.monitor.zst")
    manifest = manifest_for(redis_node, "n.monitor.zst", lines)
    r = redis_node.client()
    stats_before = commandstats(r)
    mon = RawConnection(redis_node.host, redis_node.port)
    mon.send("MONITOR")
    messages: list[str] = []
    try:
        sizes = sizing.sample_sizes(
            tmp_path,
            manifest,
            lambda n: redis.Redis(host=n.host, port=n.port, protocol=3),
            top=3,
            per_pattern=2,
            sample=500,
            rate=5000,
            progress=messages.append,
        )
        r.echo("end-of-sizing")
        while b"end-of-sizing" not in mon.buf:
            mon._fill()
    finally:
        mon.close()
    stats_after = commandstats(r)
    by_key = {s.key: s for s in sizes}
    # the top keys by traffic, plus up to 2 keys of every rough pattern (session:{N} has 200)
    assert {"large_sortedset:app:2025-10-17", "profile:big", "members:big", "blob"} <= set(by_key)
    assert len([k for k in by_key if k.startswith("session:")]) == 2
    assert not [s for s in sizes if s.error]
    z = by_key["large_sortedset:app:2025-10-17"]
    assert (z.type, z.encoding, z.cardinality, z.sample_n, z.edge_n) == (
        "zset",
        "skiplist",
        20_000,
        500,
        100,
    )
    # scores as this server prints them: 17 significant digits before Redis 7.2 (e.g.
    # 523412.16999999998, 15.6 characters on average here), the shortest form on Valkey (~11.4),
    # over the whole set; a random sample of 500 plus both ends lands within ~1 of its format's
    seventeen = sum(len(f"{i * 1.17:.17g}") for i in range(20_000)) / 20_000
    shortest = sum(len(repr(i * 1.17).removesuffix(".0")) for i in range(20_000)) / 20_000
    midway = (seventeen + shortest) / 2  # 13.5: the two formats are 4 characters apart
    assert (z.avg_score_len < midway) == redis_node.engine.valkey, (z.avg_score_len, midway)
    assert z.avg_score_bulk == pytest.approx(z.avg_score_len + 7, abs=1)
    assert z.avg_member_len == pytest.approx(
        sum(len(f"user:{i}") for i in range(20_000)) / 20_000, abs=0.1
    )
    assert z.head_member_bulk < z.tail_member_bulk  # user:0.. vs user:19900..
    h = by_key["profile:big"]
    assert (h.type, h.cardinality, h.avg_field_len, h.avg_value_len) == (
        "hash",
        5000,
        pytest.approx(4.8, abs=0.3),
        50,
    )
    b = by_key["blob"]
    assert (b.type, b.cardinality, b.sample_n) == ("string", 100_000, 0)
    assert by_key["members:big"].cardinality == 5000
    assert by_key["members:big"].memory_usage > 0
    assert messages and messages[-1].endswith("keys")
    # never a whole value: no full reads in commandstats, none in the MONITOR stream either
    for cmd in ("hgetall", "smembers", "get", "hvals", "hkeys", "getrange"):
        assert stats_after.get(cmd, 0) == stats_before.get(cmd, 0), cmd
    stream = mon.buf.decode("latin-1").lower()
    assert '"zrange" "large_sortedset:app:2025-10-17" "0" "-1"' not in stream
    assert '"lrange" "queue:big" "0" "-1"' not in stream
    assert '"zrandmember" "large_sortedset:app:2025-10-17" "500" "withscores"' in stream


def test_sampling_on_a_cluster_replica(engine_cluster, tmp_path):
    redis_cluster = engine_cluster
    rc = redis_cluster.cluster_client()
    key = "cluster:zset:{r1}"
    rc.zadd(key, {f"m{i}": i / 3 for i in range(3000)})
    rc.hset("cluster:hash:{r1}", mapping={"a": "1", "bb": "22"})
    primary_addr = rc.get_node_from_key(key).name
    primary = next(n for n in redis_cluster.nodes if n.address == primary_addr)
    primary.client().execute_command("WAIT", 1, 5000)
    replica = next(
        n
        for n in redis_cluster.replicas()
        if n.client().info("replication").get("master_port") == primary.port
    )
    before = commandstats(replica.client())
    client = replica.client()
    sizes = sizing.measure_keys(
        client, replica.address, [key.encode(), b"cluster:hash:{r1}"], readonly=True, rate=1000
    )
    assert [(s.type, s.cardinality, s.error) for s in sizes] == [
        ("zset", 3000, None),
        ("hash", 2, None),
    ]
    assert commandstats(replica.client())["zrandmember"] == before.get("zrandmember", 0) + 1
    # the capture-side entry point sends READONLY itself for a replica of a cluster
    lines = b'+1.0 [0 10.0.0.7:4000] "ZRANGE" "cluster:zset:{r1}" "0" "-1"\r\n' * 3
    (tmp_path / "r.monitor.zst").write_bytes(zstandard.ZstdCompressor().compress(lines))
    manifest = manifest_for(replica, "r.monitor.zst", 3, role="replica", cluster_mode=True)
    [z] = sizing.sample_sizes(tmp_path, manifest, lambda n: replica.client())
    assert (z.key, z.type, z.cardinality, z.error) == ("cluster:zset:{r1}", "zset", 3000, None)
    # without READONLY a cluster replica redirects: the error is recorded, nothing raises
    plain = sizing.measure_keys(replica.client(), replica.address, [key.encode()], rate=1000)
    assert plain[0].type is None and "MOVED" in plain[0].error


def test_rate_limit_is_honoured(redis_node):
    r = redis_node.client()
    for i in range(40):
        r.zadd(f"z:{i}", {"a": 1, "b": 2})
    calls_before = sum(commandstats(r).values())
    start = time.monotonic()
    sizing.measure_keys(r, redis_node.address, [f"z:{i}".encode() for i in range(40)], rate=200)
    elapsed = time.monotonic() - start
    sent = sum(commandstats(r).values()) - calls_before - 1  # the INFO above
    assert sent >= 40 * 6  # TYPE, OBJECT, MEMORY, PTTL, ZCARD, ZRANDMEMBER (+ edges)
    assert sent / elapsed <= 200 * 1.25


def test_errors_are_recorded_per_key(redis_node):
    r = redis_node.client()
    r.set("s", "v")
    r.execute_command("ACL", "SETUSER", "sizer", "on", ">pw", "~*", "+@all", "-memory")
    limited = redis_node.client(username="sizer", password="pw")
    [s] = sizing.measure_keys(limited, "n", [b"s"], rate=1000)
    assert (s.type, s.cardinality) == ("string", 1)
    assert s.memory_usage is None and "MEMORY USAGE" in s.error
    dead = redis.Redis(port=1, socket_connect_timeout=0.5)
    [d] = sizing.measure_keys(dead, "n", [b"s"])
    assert d.type is None and d.error.startswith("connect:")


def test_line_parser():
    pos = {"get": 1, "zrevrange": 1, "mget": 1, "eval": 0, "xread": 0, "ping": 0}
    p = sizing.parse_line
    assert p(b'+1.1 [0 1.2.3.4:5] "ZREVRANGE" "k\\xff" "0" "-1"\r\n', pos) == sizing.LineInfo(
        "zrevrange", b"k\xff", True
    )
    assert p(b'1.1 [0 [::1]:5] "zrevrange" "k" "0" "99"', pos).full_read is False
    # a script's read: its reply is sized from what it read (analyze/estimate/scripts.py)
    assert p(b'+1.1 [0 lua] "get" "k"\r\n', pos) == sizing.LineInfo("get", b"k", True)
    assert p(b'+1.1 [0 1.2.3.4:5] "MGET" "a" "b" "c"\r\n', pos) == sizing.LineInfo(
        "mget", b"a", True, (b"b", b"c")
    )
    assert p(b'+1.1 [0 unix:/tmp/s] "EVAL" "return 1" "1" "key \\"q\\""\r\n', pos).key == b'key "q"'
    assert p(b'+1.1 [0 1.2.3.4:5] "XREAD" "COUNT" "2" "STREAMS" "s1" "0"\r\n', pos).key == b"s1"
    assert p(b'+1.1 [0 1.2.3.4:5] "PING"\r\n', pos) is None
    assert p(b"+OK\r\n", pos) is None
    assert sizing.rough_pattern(b"user:123:5f0e6a1c-4b7a-4c2e-9d7e-0123456789ab:deadbeef99") == (
        "user:{N}:{UUID}:{HEX}"
    )


def test_reads_a_torn_zstd_file(tmp_path):
    """A killed capture ends mid-frame: the frames before it still count."""
    cctx = zstandard.ZstdCompressor().compressobj()
    blob = b""
    for i in range(5000):
        blob += cctx.compress(b'+1.%d [0 1.2.3.4:5] "GET" "k%d"\r\n' % (i, i % 7))
        if i % 1000 == 999:
            blob += cctx.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)
            cctx = zstandard.ZstdCompressor().compressobj()
    path = tmp_path / "torn.monitor.zst"
    path.write_bytes(blob[: len(blob) * 2 // 3])
    scores = sizing.rank_keys(path, {})
    assert 1000 <= sum(scores.values()) / sizing.FULL_READ_WEIGHT < 5000  # GET: a full read


def test_wire_size_of_sampling_replies(redis_node):
    """`Pipe.reply_bytes` is what the node sent for the sampling commands, byte for byte."""
    commands = [
        ("TYPE", "s"),
        ("STRLEN", "s"),
        ("OBJECT", "ENCODING", "s"),
        ("PTTL", "nothing"),
        ("HLEN", "s"),  # WRONGTYPE
        ("NOSUCHCOMMAND",),  # ERR
        ("LRANGE", "l", 0, -1),
        ("MEMORY", "USAGE", "nothing"),
        ("GET", "nothing"),
    ]
    client = redis.Redis(host=redis_node.host, port=redis_node.port, protocol=2)
    client.set("s", "x" * 12)
    client.rpush("l", "a", "bb")
    pipe = sizing.Pipe(client, rate=10_000, readonly=False)
    pipe.run(commands)
    pipe.close()
    with RawConnection(redis_node.host, redis_node.port) as raw:
        expected = sum(raw.reply_size(*c) for c in commands)
    assert pipe.reply_bytes == expected


def test_a_stopped_measurement_leaves_the_keys_unmeasured(redis_node):
    client = redis.Redis(host=redis_node.host, port=redis_node.port, protocol=2)
    client.set("k", "v")
    got = sizing.measure_keys(client, redis_node.address, [b"k"], stop=lambda: True)
    assert [(s.key, s.type, s.error) for s in got] == [
        ("k", None, "not measured: the capture was stopped")
    ]
