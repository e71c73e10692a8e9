"""One skew everywhere (issue 24): the headline, the slot plan (the report's and `hotshard plan`'s),
`balance_score` and `hotshard check` compare the shards on the same values — with server
counters, the full estimate (modelled replies plus what MONITOR does not show) — on a real
Redis 7.0 cluster where an agent's INFO replies (not shown by MONITOR) weigh on one shard."""

from __future__ import annotations

import json
import sqlite3

import pytest

from hotshard.analyze import humanize
from hotshard.analyze.commands import plan as plan_command
from hotshard.analyze.findings import slotplan
from hotshard.capture.cli import run
from hotshard.capture.errors import ExitStatus
from tests.capturing import background_capture, capture_options

pytestmark = pytest.mark.slow


def test_plan_balance_and_check_use_the_headline_skew(redis_cluster, tmp_path, capsys):
    cluster = redis_cluster
    rc = cluster.cluster_client()
    hot, warm, cool = cluster.primaries()
    keys = {n.address: [] for n in (hot, warm, cool)}
    i = 0
    while min(len(v) for v in keys.values()) < 20:  # 20 keys owned by each primary
        key = f"k:{i}"
        owner = rc.get_node_from_key(key)
        keys[f"{owner.host}:{owner.port}"].append(key)
        i += 1
    for k in keys[hot.address][:20]:
        rc.set(k, "h" * 8_000)
    for k in keys[warm.address][:20]:
        rc.set(k, "w" * 2_000)
    for k in keys[cool.address][:20]:
        rc.set(k, "c" * 1_000)
    agent = cool.client()
    options = capture_options(cluster.seed.address, tmp_path, nodes="primaries", poll_interval=0)
    with background_capture(options) as bg:
        bg.wait_started(files=3)
        for _ in range(10):
            for shard in keys.values():
                for k in shard[:20]:
                    rc.get(k)
        for _ in range(150):  # ~0.7 MB of INFO on the cool shard, sized from the capture's own INFO
            agent.info()
        bg.stop()
    rc.close()
    out = tmp_path / "out"
    assert run(["analyze", str(tmp_path / "cap"), "--out", str(out), "--quiet"]) == ExitStatus.OK
    summary = json.loads((out / "summary.json").read_text())
    hot_shard = summary["hot_shard"]
    assert hot_shard["estimate"] == "full"
    skew = hot_shard["skew_ratio"]
    modelled = {s["shard"]: s["est_bytes_out"] for s in summary["shards"]}
    # the premise: the modelled replies alone give another skew
    assert abs(slotplan.skew(modelled) / skew - 1) > 0.2, (modelled, skew)
    values = hot_shard["values"]
    assert slotplan.skew(values) == pytest.approx(skew, rel=1e-6)
    loads = list(values.values())
    assert summary["balance_score"] == pytest.approx(max(loads) / (sum(loads) / 3) - 1, rel=1e-5)
    # the report's plan and `hotshard plan` on the output
    report = (out / "report.md").read_text()
    assert f"Skew now {humanize.ratio(skew)}" in report
    plan = plan_command.run_plan(str(out))
    capsys.readouterr()
    assert plan.skew_before == pytest.approx(skew, rel=1e-4)
    with sqlite3.connect(out / "hotshard.db") as db:
        info = dict(db.execute("select key, value from info").fetchall())
    assert info["estimate"] == "full"
