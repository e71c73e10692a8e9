"""Collections that change between the two key-size samples: each whole read placed between them
by the writes MONITOR showed (analyze/estimate/cardinality.py), against the bytes a raw socket received."""

from __future__ import annotations

import threading
from collections import defaultdict

import polars as pl
import pytest

from hotshard.analyze.commands.analyze import AnalyzeOptions, run_analyze
from hotshard.analyze.estimate import cardinality, collection_writes, placement, through_time
from hotshard.analyze.store import dataset
from hotshard.capture import sizing
from hotshard.capture.format import manifest as mf
from hotshard.capture.format.manifest import KeySize
from tests.capturing import capture_options
from tests.resp import RawConnection

CARD_COMMANDS = (b'"ZCARD" "', b'"LLEN" "', b'"HLEN" "', b'"SCARD" "', b'"STRLEN" "')


def sampler_done(path, keys: set[bytes], sampler: str) -> bool:
    """Whether the partial capture file shows the sampler's cardinality of every key in `keys`,
    then its TIME (the moment the sample says it was taken)."""
    seen: set[bytes] = set()
    for line in sizing.iter_lines(path):
        if f" {sampler}] ".encode() not in line:
            continue
        for cmd in CARD_COMMANDS:
            if cmd in line:
                seen.add(line.rsplit(cmd, 1)[1].rstrip(b'"\r\n'))
        if b'"TIME"' in line and keys <= seen:
            return True
    return False


def wait_for_start_sample(folder, keys: set[bytes], node: str | None = None) -> None:
    """Until the start sample of `node` (the one monitored node) has measured `keys`."""
    started = mf.read(folder)
    (n,) = [n for n in started.nodes if n.monitored and node in (None, n.node)]
    assert n.sampler_client
    path = folder / str(n.file)
    done = threading.Event()
    for _ in range(600):
        if sampler_done(path, keys, n.sampler_client):
            return
        done.wait(0.05)
    raise AssertionError("the start sample never measured the keys")


def _capture_options(node, out):
    from hotshard.capture.session import CaptureOptions

    return CaptureOptions(
        endpoints=[node.address],
        out=str(out),
        nodes="all",
        duration=120,
        quiet=True,
        flush_seconds=0.1,
        start_sample_seconds=1.0,
    )


def test_collections_changing_mid_window_on_a_real_node(redis_node, tmp_path):
    """A zset growing (ZADD), a list trimmed (LTRIM) and pushed to, a hash deleted, a set whose
    TTL runs out: every whole read's estimate is what the client received, each family within
    0.5%, and the labels say which reads were placed (`interpolated`), measured (`sampled`) or
    known (`exact`)."""
    from tests.capturing import background_capture

    node = redis_node
    app = RawConnection(node.host, node.port)
    app.call("ZADD", "z", *[x for i in range(50) for x in (1000 + i, f"member:{i:04d}")])
    app.call("RPUSH", "l", *[f"item:{i:05d}" for i in range(200)])
    app.call("HSET", "h", *[x for i in range(30) for x in (f"field:{i:03d}", "v" * 40)])
    app.call("SADD", "s", *[f"tag:{i:03d}" for i in range(25)])
    app.call("PEXPIRE", "s", 8000)  # before the window: MONITOR shows no write of it
    received: dict[str, int] = defaultdict(int)
    reads = {
        "zrange": ("ZRANGE", "z", 0, -1, "WITHSCORES"),
        "lrange": ("LRANGE", "l", 0, -1),
        "hgetall": ("HGETALL", "h"),
        "smembers": ("SMEMBERS", "s"),
    }

    def read(name: str, times: int = 1) -> None:
        for _ in range(times):
            received[name] += app.reply_size(*reads[name])

    folder = tmp_path / "cap"
    with background_capture(_capture_options(node, folder)) as bg:
        bg.wait_started(files=1)
        for name in reads:  # before the start sample: the keys it ranks
            read(name, 2)
        wait_for_start_sample(folder, {b"z", b"l", b"h", b"s"})
        for name in reads:
            read(name, 2)
        for i in range(50, 80):  # the zset grows one member at a time
            app.call("ZADD", "z", 1000 + i, f"member:{i:04d}")
            read("zrange")
        app.call("LTRIM", "l", 0, 99)  # trimmed to 100, pushed to, trimmed to 50
        read("lrange", 2)
        for i in range(10):
            app.call("RPUSH", "l", f"extra:{i:05d}")
            read("lrange")
        app.call("LTRIM", "l", 0, 49)
        read("lrange", 2)
        app.call("DEL", "h")
        read("hgetall", 3)  # empty replies
        watcher = RawConnection(node.host, node.port)
        for _ in range(400):  # until the TTL ran out (a read then finds nothing)
            if watcher.call("PTTL", "s") == -2:
                break
            threading.Event().wait(0.05)
        watcher.close()
        read("smembers", 2)
        result = bg.stop()
    app.close()

    out = tmp_path / "out"
    run_analyze(AnalyzeOptions(inputs=[str(result.folder)], out=str(out), quiet=True))
    rows = (
        dataset.read(out)
        .rows.filter(pl.col("command").is_in(list(reads)))
        .sort("ts")
        .select("command", "reply_bytes", "reply_confidence")
        .collect()
    )
    for name, got in received.items():
        estimate = rows.filter(pl.col("command") == name)["reply_bytes"].sum()
        assert abs(estimate / got - 1) < 0.005, (name, estimate, got)

    def labels(name: str) -> list[str]:
        return rows.filter(pl.col("command") == name)["reply_confidence"].to_list()

    assert labels("zrange") == ["sampled-during"] * 4 + ["interpolated"] * 29 + ["sampled"]
    # after `LTRIM l 0 99` the list is taken to be 100 long (it was longer: a capped list), and
    # pushed to from there (`replayed`) until the next LTRIM
    assert labels("lrange") == ["sampled-during"] * 4 + ["replayed"] * 12 + ["sampled"] * 2
    assert labels("hgetall") == ["sampled-during"] * 4 + ["exact"] * 3
    (s,) = [
        s for s in mf.read_key_sizes(result.folder, result.manifest, start=True) if s.key == "s"
    ]
    assert s.ttl_ms is not None  # the premise: the start sample saw the TTL
    assert labels("smembers") == ["sampled-during"] * 4 + ["exact"] * 2
    hgetall = rows.filter(pl.col("command") == "hgetall")["reply_bytes"].to_list()
    assert hgetall[-3:] == [4, 4, 4]  # `*0\r\n`


def _sized(**kw) -> KeySize:
    return KeySize(node="n", **kw)


def test_reads_are_placed_by_the_writes_around_them():
    """Frames in, frames out: a zset from 10 to 20 members over 10 single ZADDs, a DEL and
    re-creation of a set between its samples, and a hash whose TTL runs out (no line shows it)."""
    brackets = cardinality.Brackets(
        [
            _sized(key="z", type="zset", cardinality=10, sampled_at=10.0, avg_member_bulk=10.0),
            _sized(key="s", type="set", cardinality=5, sampled_at=10.0, avg_member_bulk=8.0),
            _sized(key="h", type="hash", cardinality=3, sampled_at=10.0, ttl_ms=20_000),
            _sized(key="same", type="set", cardinality=4, sampled_at=10.0),
            _sized(key="d", type="set", cardinality=2, sampled_at=10.0),
        ],
        [
            _sized(key="z", type="zset", cardinality=20, sampled_at=100.0, avg_member_bulk=10.0),
            _sized(key="s", type="set", cardinality=2, sampled_at=100.0, avg_member_bulk=8.0),
            _sized(key="h", type="none", cardinality=0, sampled_at=100.0),
            _sized(key="same", type="set", cardinality=4, sampled_at=100.0),
            _sized(key="d", type="set", cardinality=4, sampled_at=100.0),
        ],
    ).of("n")
    assert brackets is not None
    # `same` did not change between its samples: placed too (a write before its first sample
    # would show in the lines read anyway for the others)
    assert brackets["key_name"].to_list() == ["d", "h", "s", "same", "z"]
    events = pl.DataFrame(
        {
            "key_name": ["z"] * 10 + ["s", "s", "d", "d"],
            "ts": [20.0 + i for i in range(10)] + [50.0, 60.0, 8.0, 9.0],
            "_w": [1.0] * 10 + [0.0, 2.0, 0.0, 2.0],
            "_d": [1.0] * 10 + [0.0, 2.0, 0.0, 2.0],
            "_after": [None] * 10 + [0, None, 0, None],
        },
        schema=collection_writes.EVENTS,
    )
    reads = pl.DataFrame(
        {
            "key_name": ["z", "z", "z", "z", "s", "s", "s", "s", "h", "h", "d", "d"],
            "ts": [5.0, 15.0, 24.5, 40.0, 30.0, 55.0, 65.0, 5.0, 25.0, 35.0, 7.0, 8.5],
        }
    ).sort("ts")
    placed = placement.place(reads, placement.timeline(brackets, events)).sort("key_name", "ts")
    assert placed.select("key_name", "ts", "_c", "_conf").rows() == [
        ("d", 7.0, None, None),  # before a DEL before the first sample: nothing known
        ("d", 8.5, 0, "exact"),
        ("h", 25.0, 3, "sampled-during"),
        ("h", 35.0, 0, "exact"),
        ("s", 5.0, 5, "sampled-during"),
        ("s", 30.0, 5, "sampled-during"),
        ("s", 55.0, 0, "exact"),
        ("s", 65.0, 2, "sampled"),
        ("z", 5.0, 10, "sampled-during"),
        ("z", 15.0, 10, "sampled-during"),
        ("z", 24.5, 15, "interpolated"),
        ("z", 40.0, 20, "sampled"),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["redis70", "valkey91"], indirect=True)
def test_start_sample_on_a_cluster_replica_and_valkey(engine_cluster, tmp_path):
    """The start sample reads a replica after READONLY (its reads are the replica's own), on
    Redis and Valkey: a zset read on the replica, growing on the primary, is placed between
    its samples, and the replica's estimate is what its client received."""
    from tests.capturing import background_capture

    cluster = engine_cluster
    cluster.wait_replicas_synced()
    replica = cluster.replicas()[0]
    port = int(replica.client().info("replication")["master_port"])
    primary = next(p for p in cluster.primaries() if p.port == port)
    key = _key_on(primary)
    writer = RawConnection(primary.host, primary.port)
    writer.call("DEL", key)
    writer.call("ZADD", key, *[x for i in range(40) for x in (500 + i, f"m:{i:04d}")])
    writer.call("WAIT", 1, 5000)
    reader = RawConnection(replica.host, replica.port)
    reader.call("READONLY")
    received = 0
    options = capture_options(
        cluster.seed.address,
        tmp_path,
        nodes="replicas",
        flush_seconds=0.1,
        start_sample_seconds=1.0,
    )
    try:
        with background_capture(options) as bg:
            bg.wait_started(files=len(cluster.replicas()))
            for _ in range(3):
                received += reader.reply_size("ZRANGE", key, 0, -1, "WITHSCORES")
            wait_for_start_sample(tmp_path / "cap", {key.encode()}, replica.address)
            for i in range(40, 60):
                writer.call("ZADD", key, 500 + i, f"m:{i:04d}")
                writer.call("WAIT", 1, 5000)  # the replica has it before the read
                received += reader.reply_size("ZRANGE", key, 0, -1, "WITHSCORES")
            result = bg.stop()
    finally:
        writer.call("DEL", key)
        writer.close()
        reader.close()
    m = result.manifest
    (start,) = [s for s in mf.read_key_sizes(result.folder, m, start=True) if s.key == key]
    assert (start.node, start.type, start.cardinality, start.error) == (
        replica.address,
        "zset",
        40,
        None,
    )
    out = tmp_path / "out"
    run_analyze(AnalyzeOptions(inputs=[str(result.folder)], out=str(out), quiet=True))
    rows = (
        dataset.read(out)
        .rows.filter((pl.col("command") == "zrange") & (pl.col("origin") == "client"))
        .sort("ts")
        .collect()
    )
    assert rows["reply_confidence"].to_list() == ["sampled-during"] * 3 + ["interpolated"] * 19 + [
        "sampled"
    ]
    estimate = rows["reply_bytes"].sum()
    assert abs(estimate / received - 1) < 0.005, (estimate, received)


def _key_on(node) -> str:
    """A key whose slot `node` serves."""
    from hotshard.analyze.keys.slots import hash_slot

    owned: set[int] = set()
    for lo, hi, *nodes in node.client().execute_command("CLUSTER SLOTS"):
        if int(nodes[0][1]) == node.port:
            owned.update(range(int(lo), int(hi) + 1))
    return next(k for k in (f"grow:{i}" for i in range(5000)) if hash_slot(k.encode()) in owned)


def test_a_node_borrows_the_samples_of_its_shard():
    """Each node's start sample ranks its own first seconds: a replica that read a key only later
    takes its primary's sample of it — never one from another shard."""
    start = [_sized(key="z", type="zset", cardinality=10, sampled_at=10.0)]
    start[0].node = "primary"
    after = [
        KeySize(node=n, key="z", type="zset", cardinality=20, sampled_at=100.0, avg_member_bulk=9)
        for n in ("primary", "replica", "other")
    ]
    shards = {"primary": "0001", "replica": "0001", "other": "0002"}
    brackets = cardinality.Brackets(start, after, shards)
    for node in ("primary", "replica"):
        got = brackets.of(node)
        assert got is not None and got.select("key_name", "_c0", "_c1").rows() == [("z", 10, 20)]
    assert brackets.of("other") is None
    strings = through_time.StartSizes(
        [KeySize(node="primary", key="s", type="string", cardinality=7, sampled_at=10.0)], shards
    )
    assert strings.of("replica") is not None and strings.of("replica")["key_name"].to_list() == [
        "s"
    ]
    assert strings.of("other") is None


@pytest.mark.parametrize("resp", [2, 3])
def test_placed_reads_are_framed_as_the_clients_speak(resp):
    """RESP2 `*2n` of member, score bulks; RESP3 `*n` of `*2` pairs with `,score` doubles and a
    `%n` map for HGETALL. Rows the model sized the same stay as they were."""
    start = [
        _sized(key="z", type="zset", cardinality=2, sampled_at=10.0),
        _sized(key="h", type="hash", cardinality=2, sampled_at=10.0),
    ]
    after = [
        _sized(
            key="z",
            type="zset",
            cardinality=5,
            sampled_at=100.0,
            avg_member_bulk=10.0,
            avg_score_bulk=9.0,
            avg_score_len=3.0,
        ),
        _sized(
            key="h",
            type="hash",
            cardinality=5,
            sampled_at=100.0,
            avg_field_bulk=8,
            avg_value_bulk=9,
        ),
    ]
    brackets = cardinality.Brackets(start, after).of("n")
    assert brackets is not None
    rows = pl.DataFrame(
        {
            "ts": [20.0, 21.0, 22.0, 23.0],
            "db": [0, 0, 0, 1],
            "key_name": ["z", "h", "z", "z"],
            "origin": ["client"] * 4,
            "reply_bytes": [999, 999, 999, 999],
            "reply_confidence": ["sampled"] * 4,
            "_rd": [7, 1, 5, 7],  # the third: an LRANGE of a zset (WRONGTYPE), the last: db 1
            "_r1": [0, 0, 0, 0],
            "_r2": [-1, -1, -1, -1],
        },
        schema_overrides={"db": pl.Int32, "_rd": pl.Int8, "reply_bytes": pl.Int64},
    )
    got = cardinality.Collections(
        brackets, pl.DataFrame(schema=collection_writes.EVENTS), resp
    ).apply(rows)
    zset = 4 + 2 * (4 + 10 + 3 + 3) if resp == 3 else 4 + 2 * (10 + 9)
    assert got["reply_bytes"].to_list() == [zset, 4 + 2 * (8 + 9), 999, 999]
    assert got["reply_confidence"].to_list() == ["sampled-during"] * 2 + ["sampled"] * 2
    assert not set(cardinality.READ_COLUMNS) & set(got.columns)


def test_score_updates_barely_move_a_leaderboard():
    """ZADDs that mostly update scores: before the first sample, the read is placed at the pace
    of the writes between the samples (+1 over 10), not by the members they name (-4)."""
    brackets = cardinality.Brackets(
        [_sized(key="lb", type="zset", cardinality=100, sampled_at=10.0, avg_member_bulk=9.0)],
        [_sized(key="lb", type="zset", cardinality=101, sampled_at=100.0, avg_member_bulk=9.0)],
    ).of("n")
    assert brackets is not None
    times = [2.0, 3.0, 4.0, 6.0] + [20.0 + i for i in range(10)]
    events = pl.DataFrame(
        {
            "key_name": ["lb"] * len(times),
            "ts": times,
            "_w": [1.0] * len(times),
            "_d": [1.0] * len(times),
            "_after": [None] * len(times),
        },
        schema=collection_writes.EVENTS,
    )
    reads = pl.DataFrame({"key_name": ["lb", "lb"], "ts": [1.0, 25.0]})
    placed = placement.place(reads, placement.timeline(brackets, events))
    assert placed.select("_c", "_conf").rows() == [(100, "replayed"), (101, "interpolated")]


def test_a_read_before_a_trim_no_sample_preceded(redis_node, tmp_path):
    """Lists read, then trimmed (`LTRIM 0 999`) before the in-window sampler started: nothing
    about the key precedes those reads, and its samples are post-trim. They are sized by the
    pattern's siblings the window did not change (`pattern`), never by the key's post-change
    size; a list with no such sibling by the bound the trim gives (`bounded`: at least 1,000).
    Before: every one of them at the post-trim 1,000 items, labelled `sampled`."""
    from dataclasses import replace

    from tests.capturing import background_capture

    node = redis_node
    app = RawConnection(node.host, node.port)
    items = [f"event:{i:06d}" for i in range(3000)]
    for key in ("log:1", "log:2", "log:3", "solo"):
        app.call("DEL", key)
        for i in range(0, 3000, 500):
            app.call("RPUSH", key, *items[i : i + 500])
    received: dict[str, int] = defaultdict(int)
    folder = tmp_path / "cap"
    options = replace(_capture_options(node, folder), start_sample_seconds=2.0)
    with background_capture(options) as bg:
        bg.wait_started(files=1)
        for key in ("log:1", "solo"):  # before the sampler started, then trimmed
            received[f"{key} before"] += app.reply_size("LRANGE", key, 0, -1)
            app.call("LTRIM", key, 0, 999)
        for key in ("log:1", "log:2", "log:3", "solo"):
            received[key] += app.reply_size("LRANGE", key, 0, -1)
        wait_for_start_sample(folder, {b"log:1", b"log:2", b"log:3", b"solo"})
        for key in ("log:1", "log:2", "log:3", "solo"):
            received[key] += app.reply_size("LRANGE", key, 0, -1)
        result = bg.stop()
    app.close()
    out = tmp_path / "out"
    run_analyze(AnalyzeOptions(inputs=[str(result.folder)], out=str(out), quiet=True))
    rows = (
        dataset.read(out)
        .rows.filter(pl.col("command") == "lrange")
        .sort("ts")
        .select("key_name", "reply_bytes", "reply_confidence")
        .collect()
    )
    first = {k: rows.filter(pl.col("key_name") == k).row(0, named=True) for k in ("log:1", "solo")}
    assert first["log:1"]["reply_confidence"] == "pattern"
    assert first["log:1"]["reply_bytes"] == received["log:1 before"]  # 3,000 items, exactly
    assert first["solo"]["reply_confidence"] == "bounded"
    assert first["solo"]["reply_bytes"] == received["solo"] // 2  # 1,000 items: the bound
