"""Record the sample captures in samples/: real servers, real traffic, real `hotshard capture`.

    uv run python -m samples.workloads [hot-zset fixed edge legacy]   (or: just sample)

Each scenario starts its own local servers (tests/servers.py), loads data, drives a bounded
workload while hotshard captures it, and writes the folder under samples/<scenario>/. The
expected results beside them (samples/<scenario>/expected/) are rewritten by
`just update-golden`, never by this script. Ports differ on every recording, so re-recording a
sample changes its goldens: review that diff like code.
"""

from __future__ import annotations

import gzip
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import redis
import zstandard
from redis.cluster import LoadBalancingStrategy, RedisCluster

from hotshard.capture.session import CaptureOptions, run_capture
from tests.servers import REDIS_CLI, Cluster, Node, running_cluster, start_node

SAMPLES = Path(__file__).resolve().parent
SEED = 20251017

# The canonical incident: ZREVRANGE 0 -1 of 100k-member sorted sets, one per date.
BIG_MEMBERS = 100_000
HOT_DATES = ("2025-10-13", "2025-10-14", "2025-10-17")  # all on shard 0002
COLD_DATES = ("2025-10-10", "2025-10-11", "2025-10-12", "2025-10-15", "2025-10-16")


# -- capture driver -------------------------------------------------------------------------
def capture_while(
    seed: Node, out: Path, workload: Callable[[], None], *, nodes: str = "replicas"
) -> None:
    """Run `hotshard capture` on the cluster behind `seed` while `workload` runs, then stop it."""
    if out.exists():
        shutil.rmtree(out)
    stop = threading.Event()
    options = CaptureOptions(
        endpoints=[seed.address], duration=120, out=str(out), nodes=nodes, quiet=True
    )
    done: dict = {}
    thread = threading.Thread(
        target=lambda: done.setdefault("result", run_capture(options, stop=stop)), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not list(out.glob("*.monitor.*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # every node's MONITOR is on before traffic starts
    workload()
    time.sleep(0.5)
    stop.set()
    thread.join(120)
    if "result" not in done:
        raise RuntimeError(f"capture into {out} did not finish")
    print(f"recorded {out.relative_to(SAMPLES.parent)}", file=sys.stderr)


# -- data --------------------------------------------------------------------------------------
def load_app_data(rc: RedisCluster, rng: random.Random) -> dict:
    """The app's keyspace: big sorted sets per date, profiles, sessions, carts, orders."""
    for date in HOT_DATES + COLD_DATES:
        key = f"large_sortedset:app:{date}"
        members = BIG_MEMBERS if date in HOT_DATES else 2_000
        pipe = rc.pipeline(transaction=False)
        for start in range(0, members, 5_000):
            chunk = {
                f"item:{i:07d}:{rng.randrange(16**8):08x}": round(rng.uniform(0, 1e6), 2)
                for i in range(start, min(start + 5_000, members))
            }
            pipe.zadd(key, chunk)
        pipe.execute()
    profiles = [f"user:{i}:profile" for i in range(1, 501)]
    sessions = [f"session:{uuid.UUID(int=rng.getrandbits(128))}" for _ in range(200)]
    pipe = rc.pipeline(transaction=False)
    for key in profiles:
        pipe.set(key, "x" * rng.randrange(150, 600))
    for key in sessions:
        pipe.hset(key, mapping={f"field{j}": "v" * rng.randrange(5, 40) for j in range(12)})
    for cart in range(1, 101):
        pipe.set(f"{{cart:{cart}}}:items", ",".join(str(rng.randrange(1000)) for _ in range(8)))
        pipe.set(f"{{cart:{cart}}}:total", str(rng.randrange(10_000)))
    pipe.execute()
    return {"profiles": profiles, "sessions": sessions}


ITERATIONS = 40
PACE_SECONDS = 0.75

RATE_LIMIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], 60000) end
return n
"""


def app_traffic(cluster: Cluster, data: dict, rng: random.Random, *, page: int | None) -> None:
    """The app: reads from replicas, writes to primaries, plus the sorted-set read under test.

    `page=None` reads the whole sorted set (`ZREVRANGE key 0 -1 WITHSCORES`), the incident;
    `page=100` reads only the top 100, the fix.
    """
    reader = RedisCluster(
        host=cluster.seed.host,
        port=cluster.seed.port,
        protocol=2,
        load_balancing_strategy=LoadBalancingStrategy.ROUND_ROBIN_REPLICAS,
    )
    writer = cluster.cluster_client()
    sha = writer.script_load(RATE_LIMIT)
    # redis-py loads the script on one node; every primary needs it for EVALSHA.
    for node in cluster.primaries():
        node.client().script_load(RATE_LIMIT)
    stop = -1 if page is None else page - 1
    # Paced, not flat out: both scenarios span the same ~30 s, so per-second rates compare.
    start = time.monotonic()
    for i in range(ITERATIONS):
        time.sleep(max(0.0, start + i * PACE_SECONDS - time.monotonic()))
        date = HOT_DATES[i % len(HOT_DATES)]
        reader.zrevrange(f"large_sortedset:app:{date}", 0, stop, withscores=True)
        for _ in range(10):
            reader.zrevrange(f"large_sortedset:app:{rng.choice(COLD_DATES)}", 0, 9)
        for _ in range(60):
            reader.get(rng.choice(data["profiles"]))
        for _ in range(4):
            reader.hgetall(rng.choice(data["sessions"]))
        cart = rng.randrange(1, 101)
        reader.mget(f"{{cart:{cart}}}:items", f"{{cart:{cart}}}:total")
        writer.set(rng.choice(data["profiles"]), "y" * rng.randrange(150, 600))
        writer.set(f"cache:page:/products/{rng.randrange(1000)}", "<html>" * 20, ex=60)
        writer.evalsha(sha, 1, f"ratelimit:{{user:{rng.randrange(1, 501)}}}")
        order = rng.randrange(1, 10_000)
        pipe = writer.pipeline(transaction=True)
        pipe.set(f"{{order:{order}}}:status", "paid")
        pipe.rpush(f"{{order:{order}}}:log", f"paid at {i}")
        pipe.execute()
    reader.close()
    writer.close()


def record_app(name: str, *, page: int | None) -> None:
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory() as tmp, running_cluster(Path(tmp)) as cluster:
        data = load_app_data(cluster.cluster_client(), rng)
        _wait_replicas_synced(cluster)
        capture_while(
            cluster.seed, SAMPLES / name, lambda: app_traffic(cluster, data, rng, page=page)
        )


def _wait_replicas_synced(cluster: Cluster, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        offsets = []
        for n in cluster.primaries():
            info = n.client().info("replication")
            offsets.append(
                all(
                    info[k]["offset"] == info["master_repl_offset"]
                    for k in info
                    if k.startswith("slave") and isinstance(info[k], dict)
                )
            )
        if all(offsets):
            return
        time.sleep(0.2)


# -- edge: every line form ----------------------------------------------------------------------
NASTY_KEYS = [
    b"plain",
    b"with space",
    b'with "quotes"',
    b"back\\slash",
    b"new\nline\r\ttab",
    b"bell\x07bs\x08",
    b"bin\x00\xff\xfe",
    "caf\u00e9:\u65e5\u672c".encode(),
    b"{tag}with:braces",
    b'ends with quote"',
    b"ends with backslash\\",
    b"",
]


def edge_traffic(node: Node, unix_path: str) -> None:
    v4 = redis.Redis(host="127.0.0.1", port=node.port, protocol=2)
    v6 = redis.Redis(host="::1", port=node.port, protocol=2)
    unix = redis.Redis(unix_socket_path=unix_path, protocol=2)
    for i, key in enumerate(NASTY_KEYS):
        client = (v4, v6, unix)[i % 3]
        client.set(key, b'value \x01\x02 "q" \\ ' + key)
        client.get(key)
    v4.mset({b"m1": b"a", b"m 2": b"b"})
    v4.mget([b"m1", b"m 2", b"missing"])
    v4.delete(b"m1", b"m 2")
    v4.zadd(b"z", {b"a": 523412.17, b"b": 1.5})
    v4.zrevrange(b"z", 0, -1, withscores=True)
    v4.eval("return redis.call('GET', KEYS[1])", 1, b"with space")
    v4.eval("redis.call('SET', KEYS[1], ARGV[1]); return 1", 1, b"lua:key", b"lua value")
    pipe = v6.pipeline(transaction=True)
    pipe.incr(b"counter")
    pipe.lpush(b"list", b"a", b"b")
    pipe.execute()
    v4.xadd(b"stream", {b"f": b"v"})
    v4.xread({b"stream": b"0"}, count=10)
    for c in (v4, v6, unix):
        c.close()


def record_edge() -> None:
    out = SAMPLES / "edge"
    with tempfile.TemporaryDirectory() as tmp:
        unix_path = str(Path(tmp) / "redis.sock")
        node = start_node(Path(tmp), config={"unixsocket": unix_path, "unixsocketperm": "700"})
        try:
            capture_while(node, out, lambda: edge_traffic(node, unix_path), nodes="primaries")
        finally:
            node.stop()
    _append_damage(next(out.glob("*.monitor.zst")))


def _append_damage(path: Path) -> None:
    """What real files also contain: an internal client's line, garbage, and a killed tail.

    Appended as a complete zstd frame (garbage, the `[0 ]` line no client can produce, and a
    last line cut in the middle as a plain `redis-cli monitor > file` leaves it when killed),
    then the first bytes of a frame that was being written when the capture was SIGKILLed.
    """
    ts = time.time()
    extra = (
        f'+{ts:.6f} [0 ] "ping"\r\n'
        "+this is not a monitor line\r\n"
        "\r\n"
        "-ERR some error reply that slipped in\r\n"
        f'+{ts:.6f} [0 127.0.0.1:1234] "GET" "after-garbage"\r\n'
        f'+{ts:.6f} [0 127.0.0.1:1234] "ZREVRANGE" "cut-off'
    ).encode()
    lost = f'+{ts:.6f} [0 127.0.0.1:1234] "GET" "in-a-lost-frame"\r\n'.encode()
    cut = zstandard.ZstdCompressor().compress(lost)
    with path.open("ab") as fh:
        fh.write(zstandard.ZstdCompressor().compress(extra))
        fh.write(cut[: len(cut) - 6])


# -- legacy: a plain `redis-cli monitor` log ----------------------------------------------------
def record_legacy() -> None:
    out = SAMPLES / "legacy"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        node = start_node(Path(tmp))
        try:
            log = Path(tmp) / "monitor.log"
            with log.open("wb") as fh:
                mon = subprocess.Popen([REDIS_CLI, "-p", str(node.port), "monitor"], stdout=fh)
                time.sleep(0.5)
                c = node.client()
                for i in range(2_000):
                    c.zadd("leaderboard:global", {f"player:{i}": rng.randrange(10**6)})
                for _ in range(40):
                    c.zrevrange("leaderboard:global", 0, -1, withscores=True)
                for _ in range(400):
                    key = f"user:{rng.randrange(100)}:profile"
                    c.set(key, "p" * 200)
                    c.get(key)
                    c.hgetall(f"session:{uuid.UUID(int=rng.getrandbits(128))}")
                time.sleep(0.5)
                mon.terminate()
                mon.wait(10)
            target = out / "monitor.log.gz"
            # mtime=0 and no file name in the header: the same log gives the same bytes.
            with (
                log.open("rb") as src,
                target.open("wb") as raw,
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as dst,
            ):
                shutil.copyfileobj(src, dst)
        finally:
            node.stop()
    print(f"recorded {out.relative_to(SAMPLES.parent)}", file=sys.stderr)


SCENARIOS: dict[str, Callable[[], None]] = {
    "hot-zset": lambda: record_app("hot-zset", page=None),
    "fixed": lambda: record_app("fixed", page=100),
    "edge": record_edge,
    "legacy": record_legacy,
}


def main(names: list[str]) -> None:
    for name in names or list(SCENARIOS):
        if name not in SCENARIOS:
            sys.exit(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
        SCENARIOS[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
