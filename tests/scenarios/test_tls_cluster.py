"""A TLS Redis Cluster, as ElastiCache in-transit encryption makes it: clients, the cluster bus and
replication all on TLS (`tls-cluster yes`, `tls-replication yes`), certificates from a throwaway
CA (trustme). Captured end to end with verification on; an unverifiable certificate is refused.
"""

from __future__ import annotations

import pytest

from hotshard.capture.cli import run
from hotshard.capture.connect import ConnectOptions
from hotshard.capture.errors import ExitStatus
from hotshard.capture.format import manifest
from hotshard.capture.session import CaptureOptions
from tests.capturing import background_capture, command_counts, expected_lines, lines_of, monitored
from tests.servers import ENGINES, make_tls_files, running_cluster


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls-cluster")
    files = make_tls_files(folder / "certs")
    with running_cluster(folder, engine=ENGINES["redis70"], tls_files=files) as cluster:
        yield cluster, files


@pytest.mark.slow
def test_tls_cluster_captured_end_to_end_with_verification(tls_cluster, tmp_path):
    cluster, files = tls_cluster
    seed = cluster.seed
    options = CaptureOptions(
        endpoints=[seed.address],
        out=str(tmp_path / "cap"),
        nodes="all",
        duration=120,
        quiet=True,
        connect=ConnectOptions(tls="auto", tls_ca=files["ca"]),  # auto: finds TLS by itself
    )
    # Replicas compare exactly with commandstats only when no PING can fall outside MONITOR.
    with cluster.no_replication_pings(), background_capture(options) as bg:
        bg.wait_started(files=6)
        rc = cluster.cluster_client()
        for i in range(300):
            rc.set(f"tls:{i}", "v" * i)
            rc.get(f"tls:{i}")
        cluster.wait_replicas_synced()
        result = bg.stop()
    m = result.manifest
    assert m.status == "complete", m.warnings
    # as asked: auto-detected, verified (the nodes have no plain-text port: port 0)
    assert (m.options["tls"], m.options["tls_insecure"]) == ("auto", False)
    nodes = monitored(m)
    assert len(nodes) == 6 and {n.role for n in nodes} == {"primary", "replica"}
    assert {n.port for n in nodes} == {n.port for n in cluster.nodes}  # the TLS ports
    for node in nodes:
        lines = lines_of(result.folder, node)
        assert len(lines) == node.lines
        assert command_counts(lines) == expected_lines(result.folder, m, node), node.node
    assert sum(command_counts(lines_of(result.folder, n))["set"] for n in nodes) == 2 * 300
    assert sum(n.lines for n in nodes if n.role == "primary") >= 600
    assert manifest.read(result.folder).status == "complete"


def test_an_unverifiable_certificate_is_refused_in_one_line(tls_cluster, tmp_path, capsys):
    cluster, _ = tls_cluster
    out = tmp_path / "cap"
    argv = ["capture", "--endpoints", cluster.seed.address, "--tls", "on", "-d", "1"]
    status = run([*argv, "--out", str(out), "--no-sizes", "--quiet"])  # no --tls-ca: not trusted
    err = capsys.readouterr().err
    assert status == ExitStatus.ERROR
    assert err.count("\n") == 1, err
    assert f"node {cluster.seed.address}: TLS certificate not trusted" in err
    assert "--tls-ca" in err and "--tls-insecure" in err
    assert not list(out.glob("*.monitor*"))  # nothing was captured unverified
