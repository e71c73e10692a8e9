"""`NetworkBytesOut` from CloudWatch, against moto in server mode with the real boto3 client."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto.server import ThreadedMotoServer

from hotshard.analyze.measure import cloudwatch
from hotshard.capture.format.manifest import Manifest, NodeCapture
from tests.servers import free_port

REGION = "eu-west-1"


@pytest.fixture
def moto(monkeypatch):
    """A moto server on a free loopback port; fake credentials, no instance metadata lookups."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def client(endpoint: str, service: str = "cloudwatch", **creds):
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint, **creds)


def manifest() -> Manifest:
    nodes = [
        NodeCapture(
            node=f"10.0.0.{i}:6379",
            host=f"10.0.0.{i}",
            port=6379,
            role=role,
            shard=shard,
            aws_node_id=f"shop-{shard}-00{i}",
            monitored=True,
        )
        for i, (shard, role) in enumerate(
            [("0001", "primary"), ("0001", "replica"), ("0002", "replica")], 1
        )
    ]
    nodes.append(
        NodeCapture(node="10.0.0.9:6379", host="10.0.0.9", port=6379, role="replica", shard="0003")
    )
    return Manifest(nodes=nodes)


def put(cw, cluster_id: str, when: datetime, value: float) -> None:
    cw.put_metric_data(
        Namespace="AWS/ElastiCache",
        MetricData=[
            {
                "MetricName": "NetworkBytesOut",
                "Dimensions": [
                    {"Name": "CacheClusterId", "Value": cluster_id},
                    {"Name": "CacheNodeId", "Value": "0001"},
                ],
                "Timestamp": when,
                "Value": value,
                "Unit": "Bytes",
            }
        ],
    )


def test_fetches_sums_per_node_and_minute(moto):
    cw = client(moto)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    for minute in range(3):
        put(
            cw, "shop-0001-001", start + timedelta(minutes=minute, seconds=5), 1000.0 * (minute + 1)
        )
        put(cw, "shop-0001-001", start + timedelta(minutes=minute, seconds=35), 1.0)
        put(cw, "shop-0001-002", start + timedelta(minutes=minute, seconds=5), 10_000_000.0)
    put(cw, "shop-0001-001", start + timedelta(minutes=30), 99.0)  # outside the window
    put(cw, "other-0001-001", start + timedelta(seconds=5), 5.0)  # another cluster

    frame = cloudwatch.fetch_metric(
        manifest(), start.timestamp() + 20, start + timedelta(minutes=2, seconds=50), client=cw
    )
    assert frame.schema == cloudwatch.CLOUDWATCH_SCHEMA
    rows = frame.filter(frame["node"] == "10.0.0.1:6379")
    assert rows["bytes_out"].to_list() == [1001.0, 2001.0, 3001.0]  # widened to whole minutes
    assert rows["ts"].to_list()[0] == start
    tot = cloudwatch.totals(frame)
    assert tot.rows() == [
        ("10.0.0.1:6379", "shop-0001-001", 6003.0, 3),
        ("10.0.0.2:6379", "shop-0001-002", 30_000_000.0, 3),
    ]


def test_many_nodes_are_split_into_calls_of_500(moto):
    cw = client(moto)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    ids = [f"big-{i:04d}-001" for i in range(501)]
    put(cw, ids[0], start + timedelta(seconds=1), 7.0)
    put(cw, ids[-1], start + timedelta(seconds=1), 8.0)
    frame = cloudwatch.fetch_metric(ids, start, start + timedelta(minutes=1), client=cw)
    assert sorted(frame["bytes_out"].to_list()) == [7.0, 8.0]


def test_clear_errors(moto, monkeypatch, tmp_path):
    now = datetime.now(UTC)
    with pytest.raises(cloudwatch.CloudWatchError, match="no node has an AWS cache cluster id"):
        cloudwatch.fetch_metric(Manifest(nodes=manifest().nodes[3:]), now, now)
    with pytest.raises(cloudwatch.CloudWatchError, match="multiple of 60"):
        cloudwatch.fetch_metric(["a"], now, now, client=client(moto), period=90)

    # no credentials anywhere: a message that says what to set
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    bare = boto3.Session(region_name=REGION).client("cloudwatch", endpoint_url=moto)
    with pytest.raises(cloudwatch.CloudWatchError, match=r"no AWS credentials.*AWS_PROFILE"):
        cloudwatch.fetch_metric(["a"], now, now, client=bare)


def reset_auth(endpoint: str, count: bytes) -> None:
    """Make moto enforce IAM policies after `count` more requests (b"inf": never)."""
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth", data=count, headers={"Content-Type": "text/plain"}
    )
    urllib.request.urlopen(request, timeout=10).close()


def test_access_denied_names_the_permission(moto):
    creds = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    iam = client(moto, "iam", **creds)
    iam.create_user(UserName="no-cloudwatch")
    key = iam.create_access_key(UserName="no-cloudwatch")["AccessKey"]
    # from now on moto checks IAM policies; this user has none
    reset_auth(moto, b"0")
    try:
        cw = client(
            moto, aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
        )
        now = datetime.now(UTC)
        with pytest.raises(
            cloudwatch.CloudWatchError, match=r"AccessDenied.*cloudwatch:GetMetricData"
        ):
            cloudwatch.fetch_metric(["shop-0001-001"], now, now, client=cw)
    finally:
        reset_auth(moto, b"inf")
