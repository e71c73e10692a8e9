"""Sizes through the whole window (issue 24): keys first read late in the window, values and
collections changing under the reads, on a real 3+3 cluster driven the way an application would
(redis-py `RedisCluster`, pipelines, hash tags, reads from replicas). Every node's estimate is
compared with the server's own counters (`summary.json` self-check: INFO bytes out corrected for
the capture's own traffic), and the GETs/whole reads with what the clients received."""

from __future__ import annotations

import json
import random
import threading
import time

import polars as pl
from redis.cluster import LoadBalancingStrategy

from hotshard.analyze.commands.analyze import AnalyzeOptions, run_analyze
from hotshard.analyze.store import tables
from hotshard.capture.format import resp
from hotshard.capture.session import CaptureOptions
from tests.capturing import background_capture

TARGET = 0.03  # every node above MIN_SHARE of the traffic within ±3% of its measured bytes
MIN_SHARE = 0.01
GROUPS = 6  # one hash tag each: its keys live on one node


def _options(cluster, out) -> CaptureOptions:
    return CaptureOptions(
        endpoints=[cluster.seed.address],
        out=str(out),
        nodes="all",
        duration=300,
        quiet=True,
        flush_seconds=0.2,
        start_sample_seconds=1.0,
        poll_interval=0,
    )


def _check(folder, out) -> tuple[list[dict], pl.DataFrame]:
    run_analyze(AnalyzeOptions(inputs=[str(folder)], out=str(out), quiet=True, sqlite=False))
    nodes = json.loads((out / "summary.json").read_text())["self_check"]["nodes"]
    return nodes, tables.read(out).rows.collect()


def _assert_within(nodes: list[dict]) -> None:
    off = [
        (n["node"], n["role"], n["ratio"], n["share"])
        for n in nodes
        if (n["share"] or 0) > MIN_SHARE and (n["ratio"] is None or abs(n["ratio"] - 1) > TARGET)
    ]
    assert not off, f"nodes outside ±{TARGET:.0%}: {off}"


def _wait_replicas_listed(cluster, timeout: float = 60) -> None:
    """Until every node's CLUSTER SLOTS lists a replica per range: Redis 7.0 lists a replica
    only once the cluster has gossiped its replication offset, and until then a client told to
    read from replicas reads from the primaries."""
    deadline = time.monotonic() + timeout
    client = cluster.cluster_client()
    while time.monotonic() < deadline:
        views = [n.client().execute_command("CLUSTER", "SLOTS") for n in cluster.nodes]
        if all(len(r) > 3 for view in views for r in view):
            client.close()
            return
        for i in range(3):  # moves every shard's offset on
            client.set(f"nudge:{i}", "1")
        _wait(0.2)
    raise AssertionError("CLUSTER SLOTS never listed the replicas")


def _wait(seconds: float) -> None:
    threading.Event().wait(seconds)


def test_strings_rewritten_under_reads_spread_over_the_window(redis_cluster, tmp_path):
    """kB values rewritten to ~300 B, each group of keys first read a second later than the
    previous one and rewritten two seconds after its first read, reads on the primaries
    (pipelined GETs) all through the window: per node within ±3% of the server's counters."""
    cluster = redis_cluster
    rnd = random.Random(24)
    keys = {g: [f"page:{{p{g}}}:{i}" for i in range(12)] for g in range(GROUPS)}
    app = cluster.cluster_client()
    for names in keys.values():
        with app.pipeline(transaction=False) as pipe:
            for k in names:
                pipe.set(k, "v" * rnd.randint(2000, 4000))
            pipe.execute()
    cluster.wait_replicas_synced()
    value: dict[str, int] = {k: int(app.strlen(k)) for names in keys.values() for k in names}
    received = 0
    with background_capture(_options(cluster, tmp_path / "cap")) as bg:
        bg.wait_started(files=len(cluster.nodes))
        for step in range(24):  # 0.4 s a step: group g first read at step 3g, rewritten at 3g + 5
            for g, names in keys.items():
                first = 3 * g
                if step < first:
                    continue
                with app.pipeline(transaction=False) as pipe:
                    if step == first + 5:
                        for k in names:
                            value[k] = rnd.randint(250, 350)
                            pipe.set(k, "w" * value[k])
                    for k in names:
                        pipe.get(k)
                    replies = pipe.execute()
                for reply in replies:
                    if isinstance(reply, bytes):
                        received += resp.bulk(len(reply))
            _wait(0.4)
        result = bg.stop()
    app.close()
    nodes, rows = _check(result.folder, tmp_path / "out")
    gets = rows.filter(pl.col("command") == "get", pl.col("key_name").str.starts_with("page:"))
    assert gets["reply_bytes"].sum() == received
    _assert_within(nodes)


def test_collections_growing_trimmed_expiring_read_late_from_replicas(redis_cluster, tmp_path):
    """Sorted sets growing by ZADDs of 200 members, lists trimmed from 3,000 to 1,000 items,
    hashes whose TTL runs out, config strings rewritten; each group first read late in the
    window, read from the replicas (written on the primaries): per node within ±3%."""
    cluster = redis_cluster
    rnd = random.Random(7)
    writer = cluster.cluster_client()
    tags = [f"{{c{g}}}" for g in range(GROUPS)]
    for g, tag in enumerate(tags):
        with writer.pipeline(transaction=False) as pipe:
            for name in ("board", "log", "sess", "cfg"):
                pipe.delete(f"{name}:{tag}")
            pipe.zadd(f"board:{tag}", {f"player:{i:05d}": i * 3 for i in range(1000)})
            for i in range(0, 3000, 500):
                pipe.rpush(f"log:{tag}", *[f"event:{j:06d}:" + "e" * 12 for j in range(i, i + 500)])
            pipe.hset(f"sess:{tag}", mapping={f"f{j}": "s" * 40 for j in range(50)})
            pipe.pexpire(f"sess:{tag}", 6000 + 1200 * g)  # runs out while it is read
            pipe.set(f"cfg:{tag}", "c" * rnd.randint(1500, 2500))
            pipe.execute()
    cluster.wait_replicas_synced()
    _wait_replicas_listed(cluster)
    reader = cluster.cluster_client(load_balancing_strategy=LoadBalancingStrategy.RANDOM_REPLICA)
    with background_capture(_options(cluster, tmp_path / "cap")) as bg:
        bg.wait_started(files=len(cluster.nodes))
        # 0.4 s a step: group g first read at step 2 + 3g, written 2 and 3 s after that
        for step in range(26):
            for g, tag in enumerate(tags):
                first = 2 + 3 * g
                if step < first:
                    continue
                if step in (first + 5, first + 8):  # written on the primaries
                    with writer.pipeline(transaction=False) as pipe:
                        base = 10_000 + 200 * step
                        pipe.zadd(
                            f"board:{tag}", {f"new:{base + i:06d}": base + i for i in range(200)}
                        )
                        if step == first + 5:
                            pipe.ltrim(f"log:{tag}", 0, 999)
                        pipe.set(f"cfg:{tag}", "n" * rnd.randint(200, 400))
                        pipe.execute()
                    writer.wait(1, 2000)  # the replica has it before the next reads
                reader.zrange(f"board:{tag}", 0, -1, withscores=True)
                reader.lrange(f"log:{tag}", 0, -1)
                reader.hgetall(f"sess:{tag}")
                reader.get(f"cfg:{tag}")
            _wait(0.4)
        result = bg.stop()
    writer.close()
    reader.close()
    nodes, _ = _check(result.folder, tmp_path / "out")
    replicas = [n for n in nodes if n["role"] == "replica"]
    assert sum(n["share"] or 0 for n in replicas) > 0.5  # the premise: reads on the replicas
    _assert_within(nodes)


def test_after_window_info_is_taken_when_monitor_stops(redis_cluster, tmp_path):
    """Every node's "after" INFO snapshot is within 1 s of the end of its MONITOR stream, even
    with keys still waiting for the in-window sampler."""
    cluster = redis_cluster
    app = cluster.cluster_client()
    with background_capture(_options(cluster, tmp_path / "cap")) as bg:
        bg.wait_started(files=len(cluster.nodes))
        t0 = time.monotonic()
        i = 0
        while time.monotonic() - t0 < 3:  # many keys: more than the sampler can measure
            with app.pipeline(transaction=False) as pipe:
                for j in range(200):
                    pipe.get(f"many:{{m{j % 6}}}:{i}:{j}")
                pipe.execute()
            i += 1
        result = bg.stop()
    app.close()
    for n in result.manifest.nodes:
        if n.monitored:
            assert n.info_after is not None and n.ended_at is not None
            assert abs(n.info_after.at - n.ended_at) < 1.0, (n.node, n.info_after.at, n.ended_at)
