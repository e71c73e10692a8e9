"""Topology discovery: shards, slot ranges, nodes and roles, always as the engine reports them.

Through any one reachable node: `CLUSTER SHARDS` (Redis 7+), falling back to `CLUSTER NODES`,
and `ROLE` when cluster mode is disabled. Node-name patterns (`-001` = primary) are never trusted:
failovers swap them. Shard ids are the AWS node-group ids ("0001") when AWS told us, otherwise
"0001", "0002", ... in slot order — the same cluster always gets the same ids.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis

from hotshard.capture.connect import (
    ConnectOptions,
    control_client,
    describe_failure,
    is_ip,
    with_prompted_password,
)
from hotshard.capture.errors import (
    AuthError,
    ConnectionFailed,
    DiscoveryError,
    TLSError,
    UsageError,
)
from hotshard.capture.format.counters import parse_info, server_identity
from hotshard.capture.format.manifest import NodeCapture, ShardInfo

if TYPE_CHECKING:
    from hotshard.capture.aws import AwsCluster

DEFAULT_PORT = 6379


@dataclass
class Topology:
    cluster_mode: bool
    shards: list[ShardInfo]
    nodes: list[NodeCapture]
    options: ConnectOptions  # with TLS auto-detection settled and the password, if prompted
    server_version: str | None = None
    seed: str | None = None  # the node discovery went through
    server_name: str = "redis"  # or "valkey"
    warnings: list[str] = field(default_factory=list)
    cluster_state: str | None = None  # CLUSTER INFO of the seed: ok | fail (None: cluster off)

    def shard_nodes(self, shard: str) -> list[NodeCapture]:
        return [n for n in self.nodes if n.shard == shard]


# -- addresses ---------------------------------------------------------------------------------
def parse_endpoint(text: str) -> tuple[str, int]:
    """`host:port`, `host` (port 6379), `[v6]:port` -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or str(DEFAULT_PORT)
        if not bracket or (rest and not rest.startswith(":")):
            host = ""
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, str(DEFAULT_PORT)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(
            f"--endpoints: {text!r} is not host:port (a port 1-65535; IPv6 as [addr]:port)"
        )
    return host, int(port)


def node_name(host: str, port: int) -> str:
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]:{port}"
    except ValueError:
        pass
    return f"{host}:{port}"


# -- discovery ---------------------------------------------------------------------------------
def locate(
    *,
    cluster: str | None,
    endpoints: Sequence[str],
    options: ConnectOptions,
    region: str | None = None,
    profile: str | None = None,
    ask_password: Callable[[str], str | None] | None = None,
) -> Topology:
    """The topology from `--endpoints` if given (no AWS call at all), else from the cluster name
    through AWS to its configuration endpoint, then the engine."""
    if endpoints:
        return discover([parse_endpoint(e) for e in endpoints], options, ask_password=ask_password)
    if not cluster:
        raise UsageError(
            "name the cluster with -c/--cluster NAME, or a node with --endpoints HOST:PORT"
        )
    from hotshard.capture.aws import describe_cluster

    aws = describe_cluster(cluster, region=region, profile=profile)
    if aws.tls and options.tls == "auto":
        options = dataclasses.replace(options, tls="on")
    topology = discover(aws.seeds(), options, aws=aws, ask_password=ask_password)
    topology.warnings += aws.warnings
    return topology


def discover(
    seeds: Sequence[tuple[str, int]],
    options: ConnectOptions,
    *,
    aws: AwsCluster | None = None,
    ask_password: Callable[[str], str | None] | None = None,
) -> Topology:
    """The topology, through the first seed that answers (auth and TLS errors stop at once)."""
    if not seeds:
        raise UsageError("no endpoint to start from: pass -c/--cluster or --endpoints")
    failures: list[ConnectionFailed] = []
    for host, port in seeds:
        if options.tls_server_name is None and not is_ip(host):
            # ElastiCache nodes announce IPs; their certificate names the domain we came through.
            options = dataclasses.replace(options, tls_server_name=host)
        try:
            settled = with_prompted_password(host, port, options, ask_password)
        except (AuthError, TLSError):
            raise
        except ConnectionFailed as exc:
            failures.append(exc)
            continue
        client = control_client(host, port, settled)
        try:
            topology = from_engine(client, host, port, settled)
        except redis.RedisError as exc:
            raise describe_failure(node_name(host, port), exc, settled) from None
        finally:
            client.close()
        if aws is not None:
            apply_aws(topology, aws)
        return topology
    if len(failures) == 1:
        raise failures[0]
    raise DiscoveryError("no endpoint answered:\n  " + "\n  ".join(map(str, failures)))


def from_engine(client: redis.Redis, host: str, port: int, options: ConnectOptions) -> Topology:
    name, version = _server_identity(client)
    try:
        groups = parse_cluster_shards(client.execute_command("CLUSTER SHARDS"), options.use_tls)
    except redis.ResponseError as exc:
        text = str(exc).lower()
        if "cluster support disabled" in text:
            return _standalone(client, host, port, options, version, name)
        if "unknown" not in text:  # not "unknown subcommand/command": a real error
            raise
        groups = parse_cluster_nodes(client.execute_command("CLUSTER NODES").decode())
    for _, members in groups:
        for m in members:
            if not m["host"] and m["port"] == port:
                m["host"] = host  # the seed itself, before any peer told it its address
    shards, nodes = _build(groups)
    for n in nodes:
        n.server_version, n.server_name = version, name
    topology = Topology(
        True, shards, nodes, options, version, seed=node_name(host, port), server_name=name
    )
    topology.cluster_state = _cluster_state(client)
    topology.warnings += health_warnings(topology)
    return topology


def slot_owners(
    client: redis.Redis, host: str, port: int, options: ConnectOptions
) -> dict[str, list[tuple[int, int]]] | None:
    """Each primary's slots as the engine says now (`manifest.slots_after`); None standalone."""
    topology = from_engine(client, host, port, options)
    if not topology.cluster_mode:
        return None
    return {s.primary: list(s.slots) for s in topology.shards if s.primary}


def _cluster_state(client: redis.Redis) -> str | None:
    try:
        reply = client.execute_command("CLUSTER INFO")
    except redis.ResponseError:
        return None
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else None
    if text is None:  # redis-py parsed it into a dict
        return str(reply.get("cluster_state")) if isinstance(reply, dict) else None
    for line in text.splitlines():
        if line.startswith("cluster_state:"):
            return line.split(":", 1)[1].strip()
    return None


def health_warnings(topology: Topology) -> list[str]:
    """What a capture of this cluster cannot see: a failed primary, a cluster that is down."""
    out = []
    if topology.cluster_state not in (None, "ok"):
        out.append(
            f"cluster_state:{topology.cluster_state} (as {topology.seed} sees it) — the cluster "
            "refuses commands for some or all keys; fix the cluster first, a capture now shows "
            "an outage, not the usual traffic"
        )
    for shard in topology.shards:
        members = topology.shard_nodes(shard.shard)
        dead = [n for n in members if n.role == "primary" and n.health == "failed"]
        for n in dead:
            replicas = [r.node for r in members if r.role == "replica" and r.health != "failed"]
            out.append(
                f"shard {shard.shard}: its primary {n.node} is marked failed and no replica took "
                "over — its slots are not served"
                + (
                    f"; a capture of {', '.join(replicas)} shows replication only"
                    if replicas
                    else ""
                )
            )
    return out


def _server_identity(client: redis.Redis) -> tuple[str, str | None]:
    raw = client.execute_command("INFO", "server")
    return server_identity(parse_info(raw.decode("utf-8", "replace")).get("server", {}))


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# A group: (slot ranges, [node dicts: id, host, port, role, health]).
Group = tuple[list[tuple[int, int]], list[dict[str, Any]]]


def parse_cluster_shards(reply: list[Any], tls: bool = False) -> list[Group]:
    """`CLUSTER SHARDS` (RESP2, raw) -> groups."""
    groups: list[Group] = []
    for shard in reply:
        shard_map = {_text(shard[i]): shard[i + 1] for i in range(0, len(shard), 2)}
        flat = [int(s) for s in shard_map.get("slots", [])]
        slots = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
        nodes = []
        for raw_node in shard_map.get("nodes", []):
            node = {_text(raw_node[i]): raw_node[i + 1] for i in range(0, len(raw_node), 2)}
            port = node.get("tls-port") if tls and node.get("tls-port") else node.get("port")
            endpoint = _text(node.get("endpoint") or b"")
            host = endpoint if endpoint and endpoint != "?" else _text(node.get("ip", b""))
            nodes.append(
                {
                    "id": _text(node.get("id", b"")),
                    "host": host,
                    "port": int(port or 0),
                    "role": "primary" if _text(node.get("role")) == "master" else "replica",
                    "health": _health(
                        _text(node.get("health", b"online")), node.get("replication-offset")
                    ),
                }
            )
        groups.append((slots, nodes))
    return groups


NO_OFFSET = "offset 0"  # Redis 7.0 says `loading` for a replica that has no offset yet


def _health(engine: str, offset: Any = None) -> str:
    # CLUSTER SHARDS says `fail`; CLUSTER NODES' `fail` flag is read as the same word below.
    if engine == "fail":
        return "failed"
    # Redis 7.0 derives `loading` from the replica's offset alone (0: nothing replicated yet,
    # e.g. a fresh cluster), not from an RDB load: say that, it is no alarm.
    if engine == "loading" and offset is not None and int(offset) == 0:
        return NO_OFFSET
    return engine


def parse_cluster_nodes(text: str) -> list[Group]:
    """`CLUSTER NODES` text (Redis < 7) -> groups, one per primary."""
    primaries: dict[str, Group] = {}
    replicas: list[tuple[str, dict[str, Any]]] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        node_id, addr, flags, master = parts[0], parts[1], set(parts[2].split(",")), parts[3]
        hostport = addr.split("@")[0]
        host, _, port = hostport.rpartition(":")
        if "noaddr" in flags or "handshake" in flags or not port.isdigit():
            continue
        health = "failed" if "fail" in flags else "suspected" if "fail?" in flags else "online"
        node = {"id": node_id, "host": host.strip("[]"), "port": int(port), "health": health}
        if "master" in flags:
            slots = []
            for item in parts[8:]:
                if item.startswith("["):  # a slot being migrated/imported
                    continue
                lo, _, hi = item.partition("-")
                slots.append((int(lo), int(hi or lo)))
            primaries[node_id] = (slots, [{**node, "role": "primary"}])
        else:
            replicas.append((master, {**node, "role": "replica"}))
    for master, node in replicas:
        if master in primaries:
            primaries[master][1].append(node)
    return list(primaries.values())


def _build(groups: list[Group]) -> tuple[list[ShardInfo], list[NodeCapture]]:
    """Groups -> shards numbered in slot order, nodes primary first."""

    def order(group: Group) -> tuple[int, str]:
        slots, nodes = group
        primary = next((n for n in nodes if n["role"] == "primary"), nodes[0] if nodes else {})
        first = min((lo for lo, _ in slots), default=1 << 20)  # slot-less shards go last
        return first, node_name(primary.get("host", ""), primary.get("port", 0))

    shards, nodes = [], []
    for i, (slots, members) in enumerate(sorted((g for g in groups if g[1]), key=order), 1):
        shard_id = f"{i:04d}"
        slots = sorted(slots)
        members = sorted(members, key=lambda n: (n["role"] != "primary", n["host"], n["port"]))
        primary = next((m for m in members if m["role"] == "primary"), None)
        primary_name = node_name(primary["host"], primary["port"]) if primary else None
        names = []
        for m in members:
            name = node_name(m["host"], m["port"])
            names.append(name)
            nodes.append(
                NodeCapture(
                    node=name,
                    host=m["host"],
                    port=m["port"],
                    role=m["role"],
                    shard=shard_id,
                    slots=list(slots),
                    cluster_node_id=m.get("id") or None,
                    primary_node=primary_name if m["role"] == "replica" else None,
                    health=m.get("health"),
                )
            )
        shards.append(
            ShardInfo(shard=shard_id, slots=list(slots), nodes=names, primary=primary_name)
        )
    return shards, nodes


def _standalone(
    client: redis.Redis,
    host: str,
    port: int,
    options: ConnectOptions,
    version: str | None,
    name: str = "redis",
) -> Topology:
    """Cluster mode disabled: one shard, the primary and its replicas, found with ROLE."""
    role = client.execute_command("ROLE")
    if _text(role[0]) != "master":  # a replica: ask its primary for the whole group
        p_host, p_port = _text(role[1]), int(role[2])
        primary = control_client(p_host, p_port, options)
        try:
            role = primary.execute_command("ROLE")
        except redis.RedisError as exc:
            raise describe_failure(node_name(p_host, p_port), exc, options) from None
        finally:
            primary.close()
        host, port = p_host, p_port
    members = [{"host": host, "port": port, "role": "primary", "health": "online"}]
    for entry in role[2]:
        members.append(
            {"host": _text(entry[0]), "port": int(entry[1]), "role": "replica", "health": "online"}
        )
    shards, nodes = _build([([], members)])
    for n in nodes:
        n.server_version, n.server_name = version, name
    return Topology(
        False, shards, nodes, options, version, seed=node_name(host, port), server_name=name
    )


# -- AWS labels --------------------------------------------------------------------------------
def apply_aws(topology: Topology, aws: AwsCluster) -> None:
    """Relabel shards with AWS node-group ids and nodes with AWS node ids, where they match.

    Shards match node groups by the largest slot overlap (or, cluster mode disabled, the only
    group); nodes match members by address. Anything unmatched keeps its engine-derived label.
    """
    groups = list(aws.node_groups)
    mapping: dict[str, str] = {}
    if not topology.cluster_mode and len(groups) == 1 and len(topology.shards) == 1:
        mapping[topology.shards[0].shard] = groups[0].node_group_id
    else:
        for shard in topology.shards:
            best = max(groups, key=lambda g: _overlap(shard.slots, g.slots), default=None)
            if best is not None and _overlap(shard.slots, best.slots) > 0:
                mapping[shard.shard] = best.node_group_id
                groups.remove(best)
    used = set(mapping.values())
    spare = (f"{i:04d}" for i in range(1, 10000) if f"{i:04d}" not in used)
    new_ids = {s.shard: mapping.get(s.shard) or next(spare) for s in topology.shards}
    for n in topology.nodes:
        n.shard = new_ids[n.shard]
    for shard in topology.shards:
        shard.shard = new_ids[shard.shard]
    topology.shards.sort(key=lambda s: s.shard)
    topology.nodes.sort(key=lambda n: (n.shard, n.role != "primary", n.host, n.port))
    by_address = aws.member_addresses()
    for n in topology.nodes:
        n.aws_node_id = by_address.get((n.host, n.port)) or n.aws_node_id


def _overlap(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> int:
    return sum(max(0, min(ah, bh) - max(al, bl) + 1) for al, ah in a for bl, bh in b)


# -- output ------------------------------------------------------------------------------------
def format_slots(slots: list[tuple[int, int]]) -> str:
    if not slots:
        return "(all keys)"
    return ",".join(f"{lo}-{hi}" if lo != hi else str(lo) for lo, hi in slots)


def render_text(topology: Topology, cluster: str | None = None) -> str:
    mode = "cluster mode on" if topology.cluster_mode else "cluster mode off"
    version = (
        f", {topology.server_name} {topology.server_version}" if topology.server_version else ""
    )
    tls = ", TLS" if topology.options.use_tls else ""
    name = cluster or topology.seed or "cluster"
    lines = [
        f"{name} ({mode}{version}{tls}): {len(topology.shards)} shards, {len(topology.nodes)} nodes"
    ]
    for shard in topology.shards:
        lines.append(f"shard {shard.shard}  slots {format_slots(shard.slots)}")
        for n in topology.shard_nodes(shard.shard):
            flag = (
                "replication offset 0 (nothing replicated yet; CLUSTER SHARDS says loading)"
                if n.health == NO_OFFSET
                else (n.health or "online").upper()
                if n.health not in (None, "online")
                else ""
            )
            extra = [n.aws_node_id or "", flag]
            lines.append(f"  {n.role:<8} {n.node:<28} {' '.join(e for e in extra if e)}".rstrip())
    lines += [f"warning: {w}" for w in topology.warnings]
    return "\n".join(lines)


def render_json(topology: Topology, cluster: str | None = None) -> str:
    data = {
        "cluster": cluster,
        "cluster_mode": topology.cluster_mode,
        "server_name": topology.server_name,
        "server_version": topology.server_version,
        "tls": topology.options.use_tls,
        "cluster_state": topology.cluster_state,
        "shards": [
            {
                "shard": s.shard,
                "slots": [list(r) for r in s.slots],
                "primary": s.primary,
                "nodes": [
                    {
                        "node": n.node,
                        "host": n.host,
                        "port": n.port,
                        "role": n.role,
                        "aws_node_id": n.aws_node_id,
                        "cluster_node_id": n.cluster_node_id,
                        "health": n.health,
                    }
                    for n in topology.shard_nodes(s.shard)
                ],
            }
            for s in topology.shards
        ],
        "warnings": topology.warnings,
    }
    return json.dumps(data, indent=2)
