"""Each node's bytes/s against its node type's bandwidth (analyze/measure/bandwidth.py): the node type
from ElastiCache and NetworkBandwidthOutAllowanceExceeded from CloudWatch, moto in server mode
with the real boto3 client."""

from __future__ import annotations

import json
import math
import shutil
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from hotshard.analyze.commands.analyze import AnalyzeOptions, run_analyze
from hotshard.analyze.measure import bandwidth
from hotshard.capture.format import manifest
from tests.measure.test_cloudwatch import (
    REGION,
    moto,  # noqa: F401 (a fixture)
)
from tests.measure.test_cloudwatch import client as cloudwatch_client
from tests.measure.test_cloudwatch import put as put_metric

SAMPLES = Path(__file__).parents[2] / "samples"


def put_allowance(cw, cluster_id: str, when: datetime, value: float) -> None:
    cw.put_metric_data(
        Namespace="AWS/ElastiCache",
        MetricData=[
            {
                "MetricName": bandwidth.ALLOWANCE_METRIC,
                "Dimensions": [
                    {"Name": "CacheClusterId", "Value": cluster_id},
                    {"Name": "CacheNodeId", "Value": "0001"},
                ],
                "Timestamp": when,
                "Value": value,
                "Unit": "Count",
            }
        ],
    )


def test_the_shipped_table_has_its_source_and_the_spec_example():
    t = bandwidth.table()
    assert t.source.startswith("https://docs.aws.amazon.com/") and t.retrieved
    assert t.types["cache.t4g.small"] == bandwidth.NodeType(0.128, 5.0)  # SPEC §8
    assert all(v.baseline_gbps > 0 for v in t.types.values())
    assert all(v.burst_gbps is None or v.burst_gbps > v.baseline_gbps for v in t.types.values())


def test_nodes_against_their_allowance_with_moto(moto, monkeypatch, tmp_path):  # noqa: F811
    folder = tmp_path / "cap"
    shutil.copytree(SAMPLES / "hot-zset", folder, ignore=shutil.ignore_patterns("expected"))
    data = json.loads((folder / manifest.MANIFEST_NAME).read_text())
    data["cluster"] = "bwshop"  # moto's state is per process: names no other test uses
    # The sample's addresses (ports change with every recording).
    at = {(n["shard"], n["role"]): f"{n['host']}:{n['port']}" for n in data["nodes"]}
    for n in data["nodes"]:
        n["aws_node_id"] = f"bwshop-{n['shard']}-{'001' if n['role'] == 'primary' else '002'}"
    (folder / manifest.MANIFEST_NAME).write_text(json.dumps(data))
    m = manifest.read(folder)
    ec = boto3.client("elasticache", region_name=REGION, endpoint_url=moto)
    ec.create_replication_group(
        ReplicationGroupId="bwshop",
        ReplicationGroupDescription="hotshard test",
        Engine="redis",
        CacheNodeType="cache.t4g.small",
        NumNodeGroups=3,
        ReplicasPerNodeGroup=1,
        ClusterMode="enabled",
    )
    first = math.floor(m.started_at / 60) * 60
    when = datetime.fromtimestamp(first + 5, UTC)
    cw = cloudwatch_client(moto)
    put_metric(cw, "bwshop-0002-002", when, 600_000_000.0)  # 10 MB/s in that minute
    put_metric(cw, "bwshop-0001-002", when, 6_000.0)
    put_allowance(cw, "bwshop-0002-002", when, 42.0)
    put_allowance(cw, "bwshop-0001-002", when, 0.0)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)
    out = tmp_path / "out"
    run_analyze(
        AnalyzeOptions(
            inputs=[str(folder)],
            out=str(out),
            cloudwatch=True,
            region=REGION,
            quiet=True,
            console=False,
        )
    )
    summary = json.loads((out / "summary.json").read_text())
    net = summary["network"]
    assert net["source"] == bandwidth.table().source
    nodes = {n["node"]: n for n in net["nodes"]}
    assert len(nodes) == 6  # primaries too: CloudWatch sees them, the capture did not
    hot = nodes[at["0002", "replica"]]
    assert hot["node_type"] == "cache.t4g.small"
    assert hot["baseline_bytes_per_s"] == 0.128e9 / 8
    assert hot["burst_bytes_per_s"] == 5e9 / 8
    assert hot["cloudwatch_peak_bytes_per_s"] == 10_000_000.0
    assert hot["peak_share_of_baseline"] == round(10_000_000 / 16_000_000, 6)
    assert hot["allowance_exceeded"] == 42.0
    measured = next(x for x in summary["nodes"] if x["node"] == at["0002", "replica"])
    assert hot["client_source"] == "measured"
    duration = summary["window"]["duration_s"]
    assert hot["client_bytes_per_s"] == pytest.approx(measured["measured_bytes_out"] / duration)
    assert nodes[at["0001", "replica"]]["allowance_exceeded"] == 0.0
    assert nodes[at["0001", "primary"]]["cloudwatch_peak_bytes_per_s"] is None  # no data put
    report = (out / "report.md").read_text()
    assert "## Network allowance" in report
    assert "hit the bandwidth allowance" in report and f"`{at['0002', 'replica']}`" in report
    assert "| cache.t4g.small | 16.0 MB/s | 625.0 MB/s |" in report
