"""`just cluster-up [ENGINE]` / `just cluster-down`: a local cluster for trying hotshard by hand.

Starts 3 primaries + 3 replicas (real servers of ENGINE: redis70, the default, valkey91 or
redis62; see tests/servers.py) that keep running after this script exits; their pids and ports
are written to DIR/cluster.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path

from tests import servers
from tests.servers import start_cluster


def up(folder: str, engine: str = "redis70") -> None:
    root = Path(folder).resolve()
    root.mkdir(parents=True, exist_ok=True)
    state = root / "cluster.json"
    if state.exists():
        sys.exit(f"{state} exists: run `just cluster-down {folder}` first")
    servers.KEEP_SERVERS = True
    if engine not in servers.ENGINES:
        sys.exit(f"unknown engine {engine!r}: one of {', '.join(servers.ENGINES)}")
    cluster = start_cluster(root, engine=servers.ENGINES[engine])
    nodes = [{"port": n.port, "pid": n.proc.pid} for n in cluster.nodes]
    state.write_text(json.dumps({"nodes": nodes}, indent=2))
    print(f"cluster up: seed 127.0.0.1:{cluster.seed.port}")
    print(f"try: uv run hotshard endpoints --endpoints 127.0.0.1:{cluster.seed.port}")


def down(folder: str) -> None:
    state = Path(folder).resolve() / "cluster.json"
    if not state.exists():
        sys.exit(f"no cluster state in {folder}")
    for node in json.loads(state.read_text())["nodes"]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(node["pid"], signal.SIGTERM)
    state.unlink()
    print("cluster down")


if __name__ == "__main__":
    if not 3 <= len(sys.argv) <= 4 or sys.argv[1] not in ("up", "down"):
        sys.exit("usage: python -m tests.cluster_cli up DIR [ENGINE] | down DIR")
    {"up": up, "down": down}[sys.argv[1]](*sys.argv[2:])
