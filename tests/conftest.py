"""Session fixtures: real redis-server processes (see tests/servers.py)."""

from __future__ import annotations

import pytest

from tests.servers import (
    ENGINES,
    Cluster,
    Engine,
    Node,
    make_tls_files,
    start_acl_node,
    start_cluster,
    start_node,
    start_replica,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden files (samples/*/expected) instead of comparing against them",
    )


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


# Valkey's per-slot counters are on in its test cluster (tests/measure/test_slotstats.py reads them).
CLUSTER_CONFIG = {"valkey91": {"cluster-slot-stats-enabled": "yes"}}


@pytest.fixture(scope="session")
def clusters(tmp_path_factory: pytest.TempPathFactory):
    """`clusters(engine_name)`: one 3+3 cluster per engine, started on first use, per session."""
    started: dict[str, Cluster] = {}

    def get(name: str) -> Cluster:
        if name not in started:
            started[name] = start_cluster(
                tmp_path_factory.mktemp(f"cluster-{name}"),
                engine=ENGINES[name],
                config=CLUSTER_CONFIG.get(name),
            )
        return started[name]

    try:
        yield get
    finally:
        for cluster in started.values():
            cluster.stop()


@pytest.fixture(scope="session", params=list(ENGINES))
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each engine in turn (redis70, valkey91, redis62); narrow a test to some with
    `@pytest.mark.parametrize("engine", ["valkey91"], indirect=True)`."""
    return ENGINES[request.param]


@pytest.fixture(scope="session")
def redis_cluster(clusters):
    """A real Redis 7.0 Cluster: 3 primaries + 3 replicas on free loopback ports, per session."""
    return clusters("redis70")


@pytest.fixture(scope="session")
def engine_cluster(clusters, engine: Engine) -> Cluster:
    """The 3+3 cluster of `engine` (shared by every test of the session on that engine)."""
    return clusters(engine.name)


def _fresh_node(tmp_path_factory: pytest.TempPathFactory, engine: Engine):
    node: Node = start_node(tmp_path_factory.mktemp("node"), engine=engine)
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def redis_node(tmp_path_factory: pytest.TempPathFactory):
    """A fresh standalone redis-server (7.0) for one test."""
    yield from _fresh_node(tmp_path_factory, ENGINES["redis70"])


@pytest.fixture
def engine_node(tmp_path_factory: pytest.TempPathFactory, engine: Engine):
    """A fresh standalone server of `engine` for one test."""
    yield from _fresh_node(tmp_path_factory, engine)


@pytest.fixture
def tls_node(tmp_path_factory: pytest.TempPathFactory):
    """A TLS-only redis-server with a throwaway CA (`node.extra["tls"]` holds ca/cert/key paths)."""
    folder = tmp_path_factory.mktemp("tls")
    files = make_tls_files(folder / "certs")
    node = start_node(folder, tls_files=files)
    node.extra["tls"] = files
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def acl_node(tmp_path_factory: pytest.TempPathFactory):
    """A node with ACL users (tests.servers.ACL_USERS): app (all), reader (no MONITOR)."""
    node = start_acl_node(tmp_path_factory.mktemp("acl"))
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def primary_with_replica(tmp_path, engine):
    """A primary (cluster mode disabled) of each engine with one replica in sync, for one test."""
    primary = start_node(tmp_path, engine=engine)
    replica = None
    try:
        replica = start_replica(tmp_path, primary)
        yield primary
    finally:
        if replica is not None:
            replica.stop()
        primary.stop()


@pytest.fixture
def replica_pair(tmp_path_factory: pytest.TempPathFactory):
    """A primary and its replica, cluster mode disabled, fresh for one test (may be killed)."""
    folder = tmp_path_factory.mktemp("pair")
    primary = start_node(folder, config={"repl-diskless-sync-delay": "0"})  # sync at once
    replica = None
    try:
        replica = start_replica(folder, primary)
        yield primary, replica
    finally:
        if replica is not None:
            replica.stop()
        primary.stop()


# The bundled samples, analyzed once per session (tests/samples_fixture.py).
from tests.samples_fixture import analyzed  # noqa: E402, F401
