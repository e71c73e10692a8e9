"""Session fixtures: real redis-server processes (see tests/servers.py)."""

from __future__ import annotations

import pytest

from tests.servers import Node, running_cluster, start_node


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
