"""A fix per hot key by its kind, on real workloads against a Redis 7.0 cluster (redis-py
RedisCluster clients, as an application would), and `hotshard diff` following a fix."""

from __future__ import annotations

import pytest
import redis

from hotshard.analyze.findings import fixes
from hotshard.capture.cli import run
from hotshard.capture.errors import ExitStatus
from tests.scenarios.test_plan_cluster import capture_and_analyze, keys_in

pytestmark = pytest.mark.slow


def background(rc: redis.RedisCluster, prefix: str) -> None:
    """Light traffic on every shard, so the kind's key stands out on its own shard."""
    for k in keys_in(0, 16383, 6, f"{prefix}-bg"):
        rc.get(k)


def read_hot(rc: redis.RedisCluster) -> None:
    rc.set("fx-flag", "on")
    for _ in range(300):
        rc.get("fx-flag")
    background(rc, "rh")


def write_hot(rc: redis.RedisCluster) -> None:
    for _ in range(300):
        rc.incr("fx-counter")
    background(rc, "wh")


def big_value(rc: redis.RedisCluster) -> None:
    rc.set("fx-blob", "b" * 150_000)
    for _ in range(10):
        rc.get("fx-blob")
    background(rc, "bv")


def hash_tag(rc: redis.RedisCluster) -> None:
    keys = [f"tenant:{{fxacme}}:item:{i}" for i in range(30)]
    for k in keys:
        rc.set(k, "v" * 2_000)
    for _ in range(5):
        for k in keys:
            rc.get(k)
    background(rc, "ht")


def script(rc: redis.RedisCluster) -> None:
    rc.set("{fxs}:a", "x" * 30_000)
    rc.set("{fxs}:b", "y" * 30_000)
    lua = "return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}"
    for _ in range(20):
        rc.eval(lua, 2, "{fxs}:a", "{fxs}:b")
    background(rc, "sc")


WORKLOADS = {
    "read-hot": (read_hot, "fx-flag"),
    "write-hot": (write_hot, "fx-counter"),
    "big-value": (big_value, "fx-blob"),
    "hash-tag": (hash_tag, "{fxacme}"),
    "script": (script, None),
}


@pytest.mark.parametrize("kind", sorted(WORKLOADS))
def test_each_kind_gets_its_fix(redis_cluster, tmp_path, kind):
    workload, subject = WORKLOADS[kind]
    summary = capture_and_analyze(redis_cluster, workload, tmp_path)
    recs = [r for r in summary["recommendations"] if r["kind"] == kind]
    assert recs, [(r["kind"], r["text"][:80]) for r in summary["recommendations"]]
    rec = recs[0]
    if subject is not None:
        assert rec["subject"] == subject
    if kind == "read-hot":
        assert "CLIENT TRACKING" in rec["text"] and "300 reads" in rec["text"]
        # one connection, one write before the window: tracking refetches once
        assert rec["saves_bytes"] == pytest.approx(299 * len("$2\r\non\r\n"), rel=0.05)
    if kind == "write-hot":
        assert "300 writes" in rec["text"] and "× 1 replica(s)" in rec["text"]
    if kind == "big-value":
        assert "150.0 kB each" in rec["text"] or "150.0 kB" in rec["text"]
    if kind == "hash-tag":
        slots, _ = fixes.tag_spread("fxacme", {})
        assert "30 keys sharing the tag `{fxacme}`" in rec["text"]
        assert ", ".join(str(s) for s in slots) in rec["text"]
        assert "per shard: 0001" in rec["text"]
    if kind == "script":
        assert rec["text"].startswith("**A script pulls a large total**")


def test_diff_says_whether_the_saving_happened(redis_cluster, tmp_path):
    before = capture_and_analyze(redis_cluster, read_hot, tmp_path / "before")
    assert any(r["kind"] == "read-hot" for r in before["recommendations"])

    def cached(rc: redis.RedisCluster) -> None:  # the fix applied: one read, served locally after
        rc.get("fx-flag")
        background(rc, "rh")

    capture_and_analyze(redis_cluster, cached, tmp_path / "after")
    out = tmp_path / "diff.md"
    code = run(
        [
            "diff",
            str(tmp_path / "before" / "analysis"),
            str(tmp_path / "after" / "analysis"),
            "--out",
            str(out),
        ]
    )
    assert code == ExitStatus.OK
    text = out.read_text()
    assert "## Recommended fixes" in text
    line = next(x for x in text.splitlines() if x.startswith("| read-hot |"))
    assert "`fx-flag`" in line and "| saved " in line
