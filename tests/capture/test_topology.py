"""Discovery from the engine itself: any node gives the same shards, slots and roles."""

from __future__ import annotations

import json
import time

import pytest

from hotshard.capture.cli import run
from hotshard.capture.connect import ConnectOptions, control_client
from hotshard.capture.errors import ConnectionFailed, ExitStatus, UsageError
from hotshard.capture.session import choose_nodes
from hotshard.capture.topology import (
    discover,
    parse_cluster_nodes,
    parse_cluster_shards,
    parse_endpoint,
)
from tests.servers import free_port


def shape(topology) -> list[tuple]:
    return [
        (
            s.shard,
            tuple(s.slots),
            s.primary,
            tuple((n.node, n.role) for n in topology.shard_nodes(s.shard)),
        )
        for s in topology.shards
    ]


def test_every_node_gives_the_same_topology(engine_cluster):
    """On every engine: CLUSTER SHARDS (Redis 7.0, Valkey), CLUSTER NODES (Redis 6.2)."""
    redis_cluster = engine_cluster
    seen = {
        n.address: shape(discover([(n.host, n.port)], ConnectOptions()))
        for n in redis_cluster.nodes
    }
    first = next(iter(seen.values()))
    assert all(s == first for s in seen.values()), seen
    # 3 shards numbered in slot order, covering every slot, each a primary and a replica
    assert [s[0] for s in first] == ["0001", "0002", "0003"]
    assert [s[1] for s in first] == [((0, 5460),), ((5461, 10922),), ((10923, 16383),)]
    roles = {node: role for s in first for node, role in s[3]}
    engine = {"master": "primary", "slave": "replica"}
    assert roles == {n.address: engine[redis_cluster.role(n)] for n in redis_cluster.nodes}
    for s in first:
        assert [r for _, r in s[3]] == ["primary", "replica"] and s[2] == s[3][0][0]


def test_cluster_nodes_fallback_agrees_with_cluster_shards(redis_cluster):
    client = control_client(redis_cluster.seed.host, redis_cluster.seed.port, ConnectOptions())
    from_shards = parse_cluster_shards(client.execute_command("CLUSTER SHARDS"))
    from_nodes = parse_cluster_nodes(client.execute_command("CLUSTER NODES").decode())

    def norm(groups):
        return sorted(
            (tuple(slots), tuple(sorted((n["id"], n["host"], n["port"], n["role"]) for n in nodes)))
            for slots, nodes in groups
        )

    assert norm(from_shards) == norm(from_nodes)


def test_replica_nodes_know_their_primary(redis_cluster):
    topology = discover([(redis_cluster.seed.host, redis_cluster.seed.port)], ConnectOptions())
    for n in topology.nodes:
        shard = next(s for s in topology.shards if s.shard == n.shard)
        assert n.primary_node == (shard.primary if n.role == "replica" else None)
        assert n.cluster_node_id and len(n.cluster_node_id) == 40
        assert n.slots == shard.slots


def test_cluster_mode_disabled_from_the_replica(replica_pair):
    primary, replica = replica_pair
    topology = discover([(replica.host, replica.port)], ConnectOptions())
    assert not topology.cluster_mode
    assert shape(topology) == [
        ("0001", (), primary.address, ((primary.address, "primary"), (replica.address, "replica")))
    ]


def test_node_choice(redis_cluster):
    topology = discover([(redis_cluster.seed.host, redis_cluster.seed.port)], ConnectOptions())
    chosen, _ = choose_nodes(topology, "replicas", [])
    assert [(n.shard, n.role) for n in chosen] == [
        ("0001", "replica"),
        ("0002", "replica"),
        ("0003", "replica"),
    ]
    chosen, _ = choose_nodes(topology, "primaries", ["1", "0003"])
    assert [(n.shard, n.role) for n in chosen] == [("0001", "primary"), ("0003", "primary")]
    chosen, _ = choose_nodes(topology, "all", ["0002"])
    assert [n.role for n in chosen] == ["primary", "replica"]
    with pytest.raises(UsageError, match="no shard 0009"):
        choose_nodes(topology, "all", ["0009"])


# Valkey says `redis_version:7.2.4` for compatibility: its own version is the one to show.
ENGINE_TEXT = {"redis70": "redis 7.0.15", "valkey91": "valkey 9.1.2", "redis62": "redis 6.2.14"}


def test_endpoints_cli_text_and_json(engine_cluster, capsys):
    redis_cluster = engine_cluster
    replica = redis_cluster.replicas()[0]
    assert run(["endpoints", "--endpoints", replica.address]) == ExitStatus.OK
    text = capsys.readouterr().out
    assert f"cluster mode on, {ENGINE_TEXT[redis_cluster.engine.name]}" in text
    assert "shard 0001  slots 0-5460" in text and "shard 0003  slots 10923-16383" in text
    assert text.count("  primary  ") == 3 and text.count("  replica  ") == 3

    assert run(["endpoints", "--endpoints", replica.address, "--json"]) == ExitStatus.OK
    data = json.loads(capsys.readouterr().out)
    assert (
        f"{data['server_name']} {data['server_version']}" == ENGINE_TEXT[redis_cluster.engine.name]
    )
    assert [s["shard"] for s in data["shards"]] == ["0001", "0002", "0003"]
    assert {n["node"] for s in data["shards"] for n in s["nodes"]} == {
        n.address for n in redis_cluster.nodes
    }


def test_first_dead_endpoint_is_skipped(redis_cluster):
    dead = ("127.0.0.1", free_port())
    topology = discover(
        [dead, (redis_cluster.seed.host, redis_cluster.seed.port)], ConnectOptions()
    )
    assert len(topology.shards) == 3


def test_unreachable_node_is_one_readable_line(capsys):
    port = free_port()
    assert run(["endpoints", "--endpoints", f"127.0.0.1:{port}"]) == ExitStatus.ERROR
    err = capsys.readouterr().err
    assert err.startswith(f"hotshard: node 127.0.0.1:{port}: unreachable")
    assert "security group" in err and err.count("\n") == 1
    with pytest.raises(ConnectionFailed):
        discover([("127.0.0.1", port)], ConnectOptions())


def test_no_endpoint_and_no_cluster_is_a_usage_error(capsys):
    assert run(["endpoints"]) == ExitStatus.USAGE
    assert "-c/--cluster" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.1.5:6380", ("10.0.1.5", 6380)),
        ("redis.local", ("redis.local", 6379)),
        ("[::1]:7000", ("::1", 7000)),
    ],
)
def test_parse_endpoint(text, expected):
    assert parse_endpoint(text) == expected


def test_a_dead_primary_is_flagged_in_endpoints_and_capture(tmp_path_factory, tmp_path, capsys):
    """A primary that died with no replica taking over: endpoints flags it, capture warns."""
    from hotshard.capture.format import manifest
    from tests.servers import running_cluster

    with running_cluster(tmp_path_factory.mktemp("dead-primary")) as cluster:
        for replica in cluster.replicas():  # keep the primary dead: no failover
            replica.client().config_set("cluster-replica-no-failover", "yes")
        dead = cluster.primaries()[1]
        seed = next(n for n in cluster.nodes if n is not dead)
        dead.kill()
        deadline = time.monotonic() + 60
        while seed.client().execute_command("CLUSTER INFO")["cluster_state"] != "fail":
            assert time.monotonic() < deadline, "the cluster never marked the primary failed"
            time.sleep(0.1)

        assert run(["endpoints", "--endpoints", seed.address, "--json"]) == ExitStatus.OK
        data = json.loads(capsys.readouterr().out)
        assert data["cluster_state"] == "fail"
        nodes = {n["node"]: n for s in data["shards"] for n in s["nodes"]}
        assert nodes[dead.address]["health"] == "failed"
        assert any(dead.address in w and "marked failed" in w for w in data["warnings"])

        assert run(["endpoints", "--endpoints", seed.address]) == ExitStatus.OK
        text = capsys.readouterr().out
        (line,) = [ln for ln in text.splitlines() if ln.startswith("  ") and dead.address in ln]
        assert line.split()[0] == "primary" and "FAILED" in line
        assert "warning: cluster_state:fail" in text

        out = tmp_path / "cap"
        args = ["--endpoints", seed.address, "-d", "0.5", "--out", str(out), "--no-sizes"]
        status = run(["capture", *args, "--quiet"])
        err = capsys.readouterr().err
        assert status == ExitStatus.OK, err
        assert f"warning: shard 0002: its primary {dead.address} is marked failed" in err
        m = manifest.read(out)
        assert any(dead.address in w and "marked failed" in w for w in m.warnings)
        assert any(w.startswith("cluster_state:fail") for w in m.warnings)
        assert m.node(dead.address).health == "failed" and not m.node(dead.address).monitored


def test_a_replica_at_offset_0_is_not_reported_as_loading():
    """Redis 7.0 `CLUSTER SHARDS` says `loading` for a replica whose offset is 0 (a fresh
    cluster, nothing written yet): that is what `endpoints` says, not LOADING."""
    from hotshard.capture.topology import NO_OFFSET

    def node(role: bytes, offset: int, health: bytes) -> list:
        return [b"id", b"a" * 40, b"port", 7001, b"ip", b"10.0.0.1", b"endpoint", b"10.0.0.1",
                b"role", role, b"replication-offset", offset, b"health", health]  # fmt: skip

    reply = [[b"slots", [0, 16383], b"nodes", [
        node(b"master", 0, b"online"), node(b"replica", 0, b"loading"),
        node(b"replica", 5, b"loading"),
    ]]]  # fmt: skip
    ((_, nodes),) = parse_cluster_shards(reply)
    assert [n["health"] for n in nodes] == ["online", NO_OFFSET, "loading"]
