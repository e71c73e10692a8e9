"""Session fixtures: real redis-server processes (see tests/servers.py)."""

from __future__ import annotations

import pytest

from tests.servers import (
    Node,
    make_tls_files,
    running_cluster,
    start_acl_node,
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


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory):
    """A real Redis Cluster: 3 primaries + 3 replicas on free loopback ports, once per session."""
    with running_cluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


@pytest.fixture
def redis_node(tmp_path_factory: pytest.TempPathFactory):
    """A fresh standalone redis-server for one test."""
    node: Node = start_node(tmp_path_factory.mktemp("node"))
    try:
        yield node
    finally:
        node.stop()


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
