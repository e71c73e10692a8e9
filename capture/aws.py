"""From an ElastiCache cluster name to a first endpoint and AWS's own names for shards and nodes.

Only `describe_replication_groups` is required (IAM: `elasticache:DescribeReplicationGroups`);
`describe_cache_clusters(ShowCacheNodeInfo=True)` adds per-node endpoints when allowed. Roles and
slot ranges are never taken from here: they come from the engine (see `topology`).
Honours AWS_PROFILE / AWS_REGION (and AWS_ENDPOINT_URL, which the tests point at moto).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from hotshard.capture.errors import AwsError

ACTION_GROUPS = "elasticache:DescribeReplicationGroups"
ACTION_CLUSTERS = "elasticache:DescribeCacheClusters"
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}
_BAD_CREDENTIALS = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
}


@dataclass
class AwsMember:
    cache_cluster_id: str  # e.g. "mycluster-0001-002": the name CloudWatch and the console use
    cache_node_id: str | None = None
    address: str | None = None  # only when describe_cache_clusters tells us
    port: int | None = None


@dataclass
class AwsNodeGroup:
    node_group_id: str  # "0001"
    slots: list[tuple[int, int]] = field(default_factory=list)
    primary_endpoint: tuple[str, int] | None = None  # cluster mode disabled only
    members: list[AwsMember] = field(default_factory=list)


@dataclass
class AwsCluster:
    name: str
    region: str | None
    cluster_mode: bool
    configuration_endpoint: tuple[str, int] | None
    node_groups: list[AwsNodeGroup]
    tls: bool = False
    auth_token: bool = False
    warnings: list[str] = field(default_factory=list)

    def seeds(self) -> list[tuple[str, int]]:
        """Endpoints to reach the engine through, best first."""
        out: list[tuple[str, int]] = []
        if self.configuration_endpoint:
            out.append(self.configuration_endpoint)
        out += [g.primary_endpoint for g in self.node_groups if g.primary_endpoint]
        out += [
            (m.address, m.port) for g in self.node_groups for m in g.members if m.address and m.port
        ]
        return list(dict.fromkeys(out))

    def member_addresses(self) -> dict[tuple[str, int], str]:
        """(host, port) -> AWS node id, for members whose endpoint AWS gave us."""
        return {
            (m.address, m.port): m.cache_cluster_id
            for g in self.node_groups
            for m in g.members
            if m.address and m.port
        }


def parse_slots(text: str | None) -> list[tuple[int, int]]:
    """AWS `Slots` text, e.g. "0-5460,6000" -> [(0, 5460), (6000, 6000)]."""
    out = []
    for item in (text or "").split(","):
        item = item.strip()
        if item:
            lo, _, hi = item.partition("-")
            out.append((int(lo), int(hi or lo)))
    return out


def describe_cluster(
    name: str, *, region: str | None = None, profile: str | None = None
) -> AwsCluster:
    """The replication group called `name` (or the group a cache cluster of that name is in)."""
    import boto3
    import botocore.config
    import botocore.exceptions

    # botocore reads AWS_DEFAULT_REGION; AWS_REGION is what our users' runbooks set.
    region = region or os.environ.get("AWS_REGION") or None
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        config = botocore.config.Config(
            connect_timeout=5, read_timeout=15, retries={"max_attempts": 3, "mode": "standard"}
        )
        client = session.client("elasticache", config=config)
    except botocore.exceptions.ProfileNotFound:
        raise AwsError(
            f"AWS profile {profile!r} is not configured — check AWS_PROFILE / --profile"
        ) from None
    except botocore.exceptions.NoRegionError:
        raise AwsError(_no_region()) from None
    region = client.meta.region_name

    group = _replication_group(client, name, region)
    cluster = _from_group(group, region)
    try:
        _add_node_endpoints(client, cluster)
    except AwsError as exc:  # nice to have: the engine gives us every node anyway
        cluster.warnings.append(f"{exc}; AWS node ids are not shown")
    return cluster


def _replication_group(client: Any, name: str, region: str | None) -> dict[str, Any]:
    try:
        reply = _call(client, "describe_replication_groups", ACTION_GROUPS, ReplicationGroupId=name)
        return reply["ReplicationGroups"][0]
    except _NotFound:
        pass
    # Maybe a node name ("mycluster-0001-001") or a single-node cluster: find its group.
    try:
        reply = _call(client, "describe_cache_clusters", ACTION_CLUSTERS, CacheClusterId=name)
    except _NotFound:
        reply = {"CacheClusters": []}
    except AwsError:
        reply = {"CacheClusters": []}
    group_id = next((c.get("ReplicationGroupId") for c in reply["CacheClusters"]), None)
    if group_id and group_id != name:
        return _replication_group(client, group_id, region)
    raise AwsError(
        f"no ElastiCache cluster named {name!r} in region {region} — check -c/--cluster and "
        "AWS_REGION/--region (`aws elasticache describe-replication-groups` lists them)"
    )


def _from_group(group: dict[str, Any], region: str | None) -> AwsCluster:
    cfg = group.get("ConfigurationEndpoint") or {}
    node_groups = []
    for g in group.get("NodeGroups", []):
        primary = g.get("PrimaryEndpoint") or {}
        node_groups.append(
            AwsNodeGroup(
                node_group_id=str(g.get("NodeGroupId", "")),
                slots=parse_slots(g.get("Slots")),
                primary_endpoint=(primary["Address"], int(primary.get("Port") or 6379))
                if primary.get("Address")
                else None,
                members=[
                    AwsMember(
                        cache_cluster_id=m["CacheClusterId"],
                        cache_node_id=m.get("CacheNodeId"),
                        address=(m.get("ReadEndpoint") or {}).get("Address"),
                        port=(m.get("ReadEndpoint") or {}).get("Port"),
                    )
                    for m in g.get("NodeGroupMembers", [])
                ],
            )
        )
    return AwsCluster(
        name=group["ReplicationGroupId"],
        region=region,
        cluster_mode=bool(group.get("ClusterEnabled")),
        configuration_endpoint=(cfg["Address"], int(cfg.get("Port") or 6379))
        if cfg.get("Address")
        else None,
        node_groups=node_groups,
        tls=bool(group.get("TransitEncryptionEnabled")),
        auth_token=bool(group.get("AuthTokenEnabled")),
    )


def _add_node_endpoints(client: Any, cluster: AwsCluster) -> None:
    """Fill member endpoints from describe_cache_clusters (empty in moto; fine)."""
    members = {m.cache_cluster_id: m for g in cluster.node_groups for m in g.members}
    marker = None
    while True:
        kwargs: dict[str, Any] = {"ShowCacheNodeInfo": True, "MaxRecords": 100}
        if marker:
            kwargs["Marker"] = marker
        reply = _call(client, "describe_cache_clusters", ACTION_CLUSTERS, **kwargs)
        for cc in reply.get("CacheClusters", []):
            member = members.get(cc.get("CacheClusterId", ""))
            nodes = cc.get("CacheNodes") or []
            endpoint = (nodes[0].get("Endpoint") or {}) if nodes else {}
            if member and endpoint.get("Address"):
                member.address, member.port = endpoint["Address"], int(endpoint.get("Port") or 0)
        marker = reply.get("Marker")
        if not marker:
            return


class _NotFound(Exception):
    pass


def _call(client: Any, method: str, action: str, **kwargs: Any) -> dict[str, Any]:
    """One AWS call; every failure becomes an AwsError that says what to do."""
    import botocore.exceptions as bx

    region = client.meta.region_name
    try:
        return getattr(client, method)(**kwargs)
    except (bx.NoCredentialsError, bx.PartialCredentialsError):
        raise AwsError(
            "no AWS credentials found — set AWS_PROFILE (or run where an instance role applies), "
            "or skip AWS and name a node with --endpoints HOST:PORT"
        ) from None
    except bx.NoRegionError:
        raise AwsError(_no_region()) from None
    except bx.ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        if code.endswith("NotFoundFault") or code.endswith("NotFound"):
            raise _NotFound(code) from None
        if code in _DENIED or "not authorized" in message:
            raise AwsError(
                f"AWS denied {action} ({code}) — allow that action for your IAM identity, "
                "or skip AWS with --endpoints HOST:PORT"
            ) from None
        if code in _BAD_CREDENTIALS:
            raise AwsError(
                f"AWS rejected the credentials ({code}: {message}) — refresh them "
                "(e.g. `aws sso login`) or check AWS_PROFILE"
            ) from None
        raise AwsError(f"AWS {action} failed in region {region}: {code}: {message}") from None
    except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError) as exc:
        raise AwsError(
            f"cannot reach the AWS ElastiCache API in region {region} ({exc}) — check the "
            "network/proxy, or skip AWS with --endpoints HOST:PORT"
        ) from None


def _no_region() -> str:
    return "no AWS region — set AWS_REGION or pass --region"
