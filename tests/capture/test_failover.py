"""A failover during the window: the monitored replica becomes a primary (REPLICAOF NO ONE, what
a failover does to the promoted node). The capture reads the role in each poll; the analysis
says when it changed, in Health and in the verdict, and does not show the node as a replica.
A real primary and replica, the real CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

from hotshard.capture.cli import run
from hotshard.capture.errors import ExitStatus
from hotshard.capture.format import manifest
from tests.capturing import capture_process, wait_for_files

ROOT = Path(__file__).parents[2]


def test_a_replica_promoted_mid_window_is_said_with_its_time(replica_pair, tmp_path, capsys):
    primary, replica = replica_pair
    primary.client().set("k", "v" * 100)
    out = tmp_path / "cap"
    argv = ["--endpoints", replica.address, "-d", "6", "--out", str(out)]
    argv += ["--no-sizes", "--quiet", "--poll-interval", "0.5"]
    proc = capture_process(*argv)
    try:
        wait_for_files(out, 1)
        reader = replica.client()
        for _ in range(300):
            reader.get("k")
        time.sleep(1.5)  # a few polls as a replica
        promoted_at = time.time()
        reader.execute_command("REPLICAOF", "NO", "ONE")
        for _ in range(300):
            reader.get("k")
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (ExitStatus.OK, ExitStatus.PARTIAL), err
    # Said on the console as the polls see it (with --quiet too), once.
    assert err.count(f"node {replica.address} (shard") == 1, err
    assert "its role changed from replica to primary by " in err, err
    m = manifest.read(out)
    (node,) = [n for n in m.nodes if n.monitored]
    assert node.node == replica.address and node.role == "replica"
    roles = [p.role for p in node.polls]
    assert roles[0] == "replica" and roles[-1] == "primary", roles

    analysis = tmp_path / "analysis"
    status = run(["analyze", str(out), "--out", str(analysis), "--quiet"])
    console = capsys.readouterr()
    assert status == ExitStatus.OK, console.err
    report = (analysis / "report.md").read_text()
    health = report.split("## Health")[1].split("\n## ")[0]
    assert f"node {replica.address} (shard" in health
    assert "its role changed from replica to primary between" in health
    # What it served in each role: the 300 GETs before REPLICAOF NO ONE, and the 300 after it
    # (before or after the first poll that read the new role).
    served = health.split("; it served ")[1].split("\n")[0]
    numbers = [int(w.replace(",", "")) for w in served.split() if w.replace(",", "").isdigit()]
    assert served.startswith(f"{numbers[0]} client commands as a replica, "), served
    assert served.endswith(" as a primary"), served
    assert numbers[0] == 300 and numbers[1] + numbers[2] == 300, served
    # When: between the last poll as a replica and the first as a primary.
    last_replica = max(p.at for p in node.polls if p.role == "replica")
    first_primary = min(p.at for p in node.polls if p.role == "primary")
    assert last_replica <= promoted_at + 0.5 and first_primary >= promoted_at - 0.5
    summary = json.loads((analysis / "summary.json").read_text())
    shard = summary["nodes"][0]["shard"]
    verdict = summary["hot_shard"]["text"]
    assert f"a monitored node of shard {shard} changed role during the window" in verdict
    roles_shown = {n["role"] for n in summary["nodes"]}
    assert roles_shown == {"replica→primary"}
