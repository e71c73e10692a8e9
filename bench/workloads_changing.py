"""Workloads whose data changes under the reads, keys first read late in the window (issue 24),
built the way an application would: redis-py `RedisCluster` clients, pipelines, hash tags,
reads from replicas. Used by bench/accuracy_bench.py and tests/scenarios/test_sizes_through_window.py.

- `rewritten strings`: kB values rewritten to ~300 B, each group of keys (one hash tag) first
  read a little later than the previous one and rewritten two seconds after its first read,
  pipelined GETs on the primaries all through.
- `documents rewritten early`: 960 user profiles of ~3 kB (one hash tag per user, so a
  pattern on every shard); 600 of them read four times right after the capture starts and
  rewritten to ~300 B before the in-window sampler has measured them, then every profile read
  all through the window. The reads before the rewrite can only be sized by the profiles the
  window never wrote.
- `changing collections`: sorted sets growing by ZADDs of 200 members, lists trimmed from 3,000
  to 1,000 items, hashes whose TTL runs out, config strings rewritten; each group first read
  late, read from the replicas (written on the primaries).
"""

from __future__ import annotations

import random
import threading
import time

from redis.cluster import LoadBalancingStrategy, RedisCluster

from hotshard.capture.format import resp

GROUPS = 6  # one hash tag each: its keys live on one node
STEP = 0.4  # seconds between two rounds of reads


def _wait(seconds: float) -> None:
    threading.Event().wait(seconds)


# -- strings rewritten under reads ----------------------------------------------------------------
def load_strings(cluster, seed: int = 24) -> dict[int, list[str]]:
    """12 keys of 2-4 kB per group, written before the window; the keys per group."""
    rnd = random.Random(seed)
    keys = {g: [f"page:{{p{g}}}:{i}" for i in range(12)] for g in range(GROUPS)}
    app = cluster.cluster_client()
    for names in keys.values():
        with app.pipeline(transaction=False) as pipe:
            for k in names:
                pipe.set(k, "v" * rnd.randint(2000, 4000))
            pipe.execute()
    app.close()
    return keys


def clients(cluster) -> tuple[RedisCluster, RedisCluster]:
    """A client on the primaries and one reading from the replicas. Made before the window: a
    `RedisCluster` asks the seed node for COMMAND (~100 kB) and CLUSTER SLOTS when it starts."""
    return cluster.cluster_client(), cluster.cluster_client(
        load_balancing_strategy=LoadBalancingStrategy.RANDOM_REPLICA
    )


def rewritten_strings(
    app: RedisCluster, keys: dict[int, list[str]], seed: int = 24, steps: int = 24
) -> int:
    """Group g first read at step 3g, rewritten to ~300 B at step 3g + 5; the bytes of the GET
    replies the client received."""
    rnd = random.Random(seed + 1)
    received = 0
    for step in range(steps):
        for g, names in keys.items():
            first = 3 * g
            if step < first:
                continue
            with app.pipeline(transaction=False) as pipe:
                if step == first + 5:
                    for k in names:
                        pipe.set(k, "w" * rnd.randint(250, 350))
                for k in names:
                    pipe.get(k)
                replies = pipe.execute()
            for reply in replies:
                if isinstance(reply, bytes):
                    received += resp.bulk(len(reply))
        _wait(STEP)
    return received


# -- documents rewritten right after the capture starts ----------------------------------------
DOCUMENTS = 960
REWRITTEN = 600


def load_documents(cluster, seed: int = 31) -> list[str]:
    """`DOCUMENTS` profiles of 2.8-3.2 kB, written before the window; their keys."""
    rnd = random.Random(seed)
    keys = [f"user:{{{i}}}:profile" for i in range(DOCUMENTS)]
    app = cluster.cluster_client()
    with app.pipeline(transaction=False) as pipe:
        for k in keys:
            pipe.set(k, "d" * rnd.randint(2800, 3200))
        pipe.execute()
    app.close()
    return keys


def documents_rewritten_early(
    app: RedisCluster, keys: list[str], seed: int = 32, rounds: int = 4, steps: int = 12
) -> int:
    """The first `REWRITTEN` profiles read `rounds` times at once, then rewritten to ~300 B;
    then every profile read at each of `steps`; the bytes of the GET replies received."""
    rnd = random.Random(seed)
    early = keys[:REWRITTEN]

    def read(names: list[str]) -> int:
        with app.pipeline(transaction=False) as pipe:
            for k in names:
                pipe.get(k)
            replies = pipe.execute()
        return sum(resp.bulk(len(r)) if isinstance(r, bytes) else resp.NULL for r in replies)

    received = sum(read(early) for _ in range(rounds))
    with app.pipeline(transaction=False) as pipe:
        for k in early:
            pipe.set(k, "r" * rnd.randint(250, 350))
        pipe.execute()
    for _ in range(steps):
        received += read(keys)
        _wait(STEP)
    return received


# -- collections changing under reads from replicas ---------------------------------------------
def load_collections(cluster, seed: int = 7, ttl_ms: int = 6000) -> list[str]:
    """Per group a zset of 1,000, a list of 3,000, a hash expiring `ttl_ms` + 1.2 s × g from now,
    a config string of ~2 kB; the groups' hash tags."""
    rnd = random.Random(seed)
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
            pipe.pexpire(f"sess:{tag}", ttl_ms + 1200 * g)  # runs out while it is read
            pipe.set(f"cfg:{tag}", "c" * rnd.randint(1500, 2500))
            pipe.execute()
    writer.close()
    return tags


def wait_replicas_listed(cluster, timeout: float = 60) -> None:
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


def changing_collections(
    writer: RedisCluster, reader: RedisCluster, tags: list[str], seed: int = 8, steps: int = 26
) -> None:
    """Group g first read at step 2 + 3g; 2 and 3 s later 200 members are added to its zset,
    its list trimmed to 1,000 (the first time) and its config rewritten, on the primaries
    (`writer`); every read from the replicas (`reader`)."""
    rnd = random.Random(seed)
    for step in range(steps):
        for g, tag in enumerate(tags):
            first = 2 + 3 * g
            if step < first:
                continue
            if step in (first + 5, first + 8):
                with writer.pipeline(transaction=False) as pipe:
                    base = 10_000 + 200 * step
                    pipe.zadd(f"board:{tag}", {f"new:{base + i:06d}": base + i for i in range(200)})
                    if step == first + 5:
                        pipe.ltrim(f"log:{tag}", 0, 999)
                    pipe.set(f"cfg:{tag}", "n" * rnd.randint(200, 400))
                    pipe.execute()
                writer.wait(1, 2000)  # the replica has it before the next reads
            reader.zrange(f"board:{tag}", 0, -1, withscores=True)
            reader.lrange(f"log:{tag}", 0, -1)
            reader.hgetall(f"sess:{tag}")
            reader.get(f"cfg:{tag}")
        _wait(STEP)
