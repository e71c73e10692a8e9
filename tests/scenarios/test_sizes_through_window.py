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

from bench import workloads_changing as workloads
from hotshard.analyze.commands.analyze import AnalyzeOptions, run_analyze
from hotshard.analyze.store import dataset
from hotshard.capture.session import CaptureOptions
from tests.capturing import background_capture

TARGET = 0.03  # every node above MIN_SHARE of the traffic within ±3% of its measured bytes
MIN_SHARE = 0.01


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
    return nodes, dataset.read(out).rows.collect()


def _assert_within(nodes: list[dict]) -> None:
    off = [
        (n["node"], n["role"], n["ratio"], n["share"])
        for n in nodes
        if (n["share"] or 0) > MIN_SHARE and (n["ratio"] is None or abs(n["ratio"] - 1) > TARGET)
    ]
    assert not off, f"nodes outside ±{TARGET:.0%}: {off}"


def test_strings_rewritten_under_reads_spread_over_the_window(redis_cluster, tmp_path):
    """kB values rewritten to ~300 B, each group of keys first read later than the previous one
    and rewritten two seconds after its first read, pipelined GETs on the primaries all through
    the window (bench/workloads_changing.py): per node within ±3% of the server's counters,
    and the GETs' estimate is what the client received."""
    cluster = redis_cluster
    keys = workloads.load_strings(cluster)
    cluster.wait_replicas_synced()
    app, reader = workloads.clients(cluster)
    with background_capture(_options(cluster, tmp_path / "cap")) as bg:
        bg.wait_started(files=len(cluster.nodes))
        received = workloads.rewritten_strings(app, keys)
        result = bg.stop()
    app.close()
    reader.close()
    nodes, rows = _check(result.folder, tmp_path / "out")
    gets = rows.filter(pl.col("command") == "get", pl.col("key_name").str.starts_with("page:"))
    assert gets["reply_bytes"].sum() == received
    _assert_within(nodes)


def test_strings_read_before_the_sampler_reached_them_and_rewritten(redis_cluster, tmp_path):
    """Profiles read heavily in the window's first second, then rewritten from ~3 kB to
    ~300 B before the in-window sampler measured them (bench/workloads_changing.py): their
    early reads are sized by the profiles of the pattern the window never wrote, not by their
    after-window size. Before, those reads were sized at ~300 B: the nodes at ~0.75x."""
    cluster = redis_cluster
    keys = workloads.load_documents(cluster)
    cluster.wait_replicas_synced()
    app = cluster.cluster_client()
    with background_capture(_options(cluster, tmp_path / "cap")) as bg:
        bg.wait_started(files=len(cluster.nodes))
        received = workloads.documents_rewritten_early(app, keys)
        result = bg.stop()
    app.close()
    nodes, rows = _check(result.folder, tmp_path / "out")
    gets = rows.filter(pl.col("command") == "get", pl.col("key_name").str.starts_with("user:"))
    assert abs(gets["reply_bytes"].sum() / received - 1) < TARGET
    _assert_within(nodes)
    # the premise: reads before their key's rewrite that nothing measured in time
    assert gets.filter(pl.col("reply_confidence") == "pattern").height > 100


def test_collections_growing_trimmed_expiring_read_late_from_replicas(redis_cluster, tmp_path):
    """Sorted sets growing by ZADDs of 200 members, lists trimmed from 3,000 to 1,000 items,
    hashes whose TTL runs out, config strings rewritten; each group first read late in the
    window, read from the replicas (written on the primaries): per node within ±3%."""
    cluster = redis_cluster
    tags = workloads.load_collections(cluster)
    cluster.wait_replicas_synced()
    workloads.wait_replicas_listed(cluster)
    writer, reader = workloads.clients(cluster)
    with background_capture(_options(cluster, tmp_path / "cap")) as bg:
        bg.wait_started(files=len(cluster.nodes))
        workloads.changing_collections(writer, reader, tags)
        result = bg.stop()
    writer.close()
    reader.close()
    nodes, rows = _check(result.folder, tmp_path / "out")
    replicas = [n for n in nodes if n["role"] == "replica"]
    assert sum(n["share"] or 0 for n in replicas) > 0.5  # the premise: reads on the replicas
    _assert_within(nodes)
    # each kind of knowledge was used: measured in the window, placed, exact after a rewrite
    kinds = set(rows.filter(pl.col("origin") == "client")["reply_confidence"].to_list())
    assert {"sampled-during", "exact"} <= kinds and kinds & {"interpolated", "replayed"}


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


def test_collections_trimmed_while_the_sampler_is_busy_with_a_cache(redis_cluster, tmp_path):
    """The collections of the test above, read from the replicas beside a cache pattern of 4,000
    ids (a quarter of them cached) read by pipelined GETs all through the window: the in-window
    sampler has a thousand keys waiting on each replica. Before its measurements were light and
    its key discovery cheap (0.5% of a core per node), it reached the lists only after their
    LTRIM, and reads of 3,000 items were sized at 1,000: one replica at 0.93."""
    cluster = redis_cluster
    tags = workloads.load_collections(cluster)
    app = cluster.cluster_client()
    with app.pipeline(transaction=False) as pipe:
        for i in range(0, 4000, 4):
            pipe.set(f"cache:{{u:{i}}}:v", "c" * 1000)
        pipe.execute()
    cluster.wait_replicas_synced()
    workloads.wait_replicas_listed(cluster)
    writer, reader = workloads.clients(cluster)
    stop = threading.Event()

    def cache() -> None:
        rnd = random.Random(1)
        while not stop.is_set():
            with reader.pipeline(transaction=False) as pipe:
                for _ in range(8):
                    pipe.get(f"cache:{{u:{rnd.randrange(4000)}}}:v")
                pipe.execute()
            stop.wait(0.01)

    with background_capture(_options(cluster, tmp_path / "cap")) as bg:
        bg.wait_started(files=len(cluster.nodes))
        side = threading.Thread(target=cache)
        side.start()
        try:
            workloads.changing_collections(writer, reader, tags)
        finally:
            stop.set()
            side.join()
        result = bg.stop()
    for c in (app, writer, reader):
        c.close()
    nodes, rows = _check(result.folder, tmp_path / "out")
    _assert_within(nodes)
    # every read of a list before its trim (on the node that read it) is 3,000 items of 32 B
    logs = rows.filter(pl.col("key_name").str.starts_with("log:"))
    trims = (
        logs.filter(pl.col("command") == "ltrim")
        .group_by("node", "key_name")
        .agg(trimmed=pl.col("ts").min())
    )
    before = (
        logs.filter(pl.col("command") == "lrange")
        .join(trims, on=["node", "key_name"])
        .filter(pl.col("ts") < pl.col("trimmed"))
    )
    assert before.height >= 10
    assert before["reply_bytes"].to_list() == [len("*3000\r\n") + 3000 * 32] * before.height


def test_a_sub_window_sees_the_rewrites_before_it(redis_cluster, tmp_path):
    """The rewritten strings analyzed from just after the first group's rewrite (`--since`): a
    GET in the sub-window of a key measured before the window's start and rewritten between
    that measurement and `--since` is not sized by that measurement (the value it read is the
    rewritten one). Each GET of the sub-window gets the bytes the whole-capture analysis gives
    it (exact: what the client received). Before, the sub-window sized them by the pre-rewrite
    measurement: ~3 kB for a ~300 B value."""
    cluster = redis_cluster
    keys = workloads.load_strings(cluster)
    cluster.wait_replicas_synced()
    app, reader = workloads.clients(cluster)
    with background_capture(_options(cluster, tmp_path / "cap")) as bg:
        bg.wait_started(files=len(cluster.nodes))
        workloads.rewritten_strings(app, keys)
        result = bg.stop()
    app.close()
    reader.close()
    _, whole = _check(result.folder, tmp_path / "whole")
    pages = pl.col("key_name").str.starts_with("page:{p0}")
    rewrite = whole.filter(pl.col("command") == "set", pages)["ts"].max()
    since = rewrite + 0.2
    run_analyze(
        AnalyzeOptions(
            inputs=[str(result.folder)],
            out=str(tmp_path / "sub"),
            quiet=True,
            sqlite=False,
            since=str(since),
        )
    )
    sub = dataset.read(tmp_path / "sub").rows.collect()
    gets = pl.col("command") == "get"

    def per_read(rows: pl.DataFrame) -> list[tuple]:
        return (
            rows.filter(gets, pages, pl.col("ts") >= since)
            .sort("ts", "node")
            .select("ts", "node", "reply_bytes")
            .rows()
        )

    assert len(per_read(sub)) >= 12
    assert per_read(sub) == per_read(whole)
