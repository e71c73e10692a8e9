"""AWS discovery against moto in server mode, through the real boto3 client.

moto (docs/AWS.md) knows replication groups with cluster mode, but not the members' endpoints or
roles — which hotshard takes from the engine anyway. So: AWS gives the first endpoint and the
names (node-group ids), the engine gives slots and roles; both halves are tested here.
"""

from __future__ import annotations

import json
import urllib.request

import boto3
import pytest
from moto.server import ThreadedMotoServer

from hotshard.capture.aws import describe_cluster
from hotshard.capture.cli import run
from hotshard.capture.connect import ConnectOptions
from hotshard.capture.errors import AwsError, ExitStatus
from hotshard.capture.topology import discover
from tests.servers import free_port

REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto_url():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_url, monkeypatch, tmp_path):
    """Environment for boto3: moto's endpoint, fake keys, AWS_REGION, no files, no IMDS."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return boto3.client("elasticache", region_name=REGION)


def create_group(client, name: str, slots: list[str] | None = None, tls: bool = False) -> None:
    kwargs = {}
    if slots:
        kwargs["NodeGroupConfiguration"] = [
            {"NodeGroupId": f"{i:04d}", "Slots": s, "ReplicaCount": 1}
            for i, s in enumerate(slots, 1)
        ]
    client.create_replication_group(
        ReplicationGroupId=name,
        ReplicationGroupDescription="hotshard test",
        Engine="redis",
        CacheNodeType="cache.t4g.micro",
        NumNodeGroups=len(slots) if slots else 3,
        ReplicasPerNodeGroup=1,
        ClusterMode="enabled",
        TransitEncryptionEnabled=tls,
        **kwargs,
    )


def test_a_cluster_name_gives_its_configuration_endpoint_and_aws_names(aws):
    create_group(aws, "hot-a", tls=True)
    cluster = describe_cluster("hot-a")
    host, port = cluster.configuration_endpoint
    assert host.startswith("clustercfg.hot-a.") and port == 6379
    assert cluster.seeds() == [(host, port)]
    assert cluster.cluster_mode and cluster.tls and cluster.region == REGION
    assert [g.node_group_id for g in cluster.node_groups] == ["0001", "0002", "0003"]
    assert [m.cache_cluster_id for m in cluster.node_groups[1].members] == [
        "hot-a-0002-001",
        "hot-a-0002-002",
    ]
    assert cluster.node_groups[2].slots and cluster.node_groups[2].slots[0][1] == 16383


def test_aws_node_group_ids_name_the_engine_shards(aws, redis_cluster):
    # AWS numbers its node groups its own way (after a resharding, say): slots decide.
    create_group(aws, "hot-b", slots=["10923-16383", "0-5460", "5461-10922"])
    cluster = describe_cluster("hot-b")
    seed = redis_cluster.seed
    topology = discover([(seed.host, seed.port)], ConnectOptions(), aws=cluster)
    assert [(s.shard, s.slots) for s in topology.shards] == [
        ("0001", [(10923, 16383)]),
        ("0002", [(0, 5460)]),
        ("0003", [(5461, 10922)]),
    ]
    for shard in topology.shards:
        nodes = topology.shard_nodes(shard.shard)
        assert [n.role for n in nodes] == ["primary", "replica"]
        assert all(n.slots == shard.slots for n in nodes)


def test_an_unknown_cluster_says_where_it_looked(aws, capsys):
    with pytest.raises(AwsError, match="no ElastiCache cluster named 'nope' in region us-east-1"):
        describe_cluster("nope")
    with pytest.raises(AwsError, match="in region eu-west-1"):
        create_group(aws, "hot-c")
        describe_cluster("hot-c", region="eu-west-1")  # exists, but in another region
    assert run(["endpoints", "-c", "nope"]) == ExitStatus.ERROR
    err = capsys.readouterr().err
    assert err.startswith("hotshard: no ElastiCache cluster named 'nope'") and err.count("\n") == 1


def test_no_credentials(aws, monkeypatch, capsys):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(AwsError, match=r"no AWS credentials found .* --endpoints"):
        describe_cluster("hot-a")
    assert run(["capture", "-c", "hot-a", "-d", "1"]) == ExitStatus.ERROR
    assert "no AWS credentials" in capsys.readouterr().err


def test_a_missing_permission_names_the_iam_action(aws, moto_url, monkeypatch):
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="bastion")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "elasticache:DescribeCacheClusters", "Resource": "*"}
        ],
    }
    iam.put_user_policy(UserName="bastion", PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="bastion")["AccessKey"]
    create_group(aws, "hot-d")

    def enforce(count: str) -> None:  # moto checks IAM policies from the count-th request on
        request = urllib.request.Request(
            f"{moto_url}/moto-api/reset-auth",
            data=count.encode(),
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        urllib.request.urlopen(request, timeout=10).read()

    enforce("0")
    try:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        with pytest.raises(AwsError, match="AWS denied elasticache:DescribeReplicationGroups"):
            describe_cluster("hot-d")
    finally:
        enforce("inf")


def test_endpoints_given_means_no_aws_call(aws, monkeypatch, redis_cluster, tmp_path):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")  # AWS would fail: it must not be asked
    out = tmp_path / "cap"
    status = run(
        [
            "capture",
            "-c",
            "hot-a",
            "--endpoints",
            redis_cluster.seed.address,
            "-d",
            "0.2",
            "--out",
            str(out),
            "--no-sizes",
            "--quiet",
            "--shards",
            "2",
        ]
    )
    assert status == ExitStatus.OK
    from hotshard.capture.format import manifest

    m = manifest.read(out)
    assert m.cluster == "hot-a"
    assert [(n.shard, n.role) for n in m.nodes if n.monitored] == [("0002", "replica")]
