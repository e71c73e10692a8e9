"""Key sizes shortly after the window opens: what a read before the key's first write returned.

The after-window sample (capture/sizing.py) sizes a key as it ended; a string rewritten during
the window was another size before. A few seconds into the window (`--start-sample-seconds`)
this sampler ranks the keys of every monitored node's partial capture file with the same light
parser, and measures them the same way (same rate limit, never a whole value) into
`key_sizes_start.jsonl`; the analyzer sizes a read before the key's first write by it
(analyze/estimate/through_time.py).

It runs inside the window, so MONITOR shows its lines and the node's bytes out include its
replies. Its connection is opened (READONLY, CLIENT INFO) before the "before" INFO, and its
address is recorded as `sampler_client` so the analyzer leaves those lines out; the bytes of its
replies go into the node's `overhead_bytes_out`, so the window's reconciliation stays exact.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import redis

from hotshard.capture import sizing
from hotshard.capture.format.manifest import KeySize, Manifest, NodeCapture, read_commands
from hotshard.capture.info import client_info_address

DEFAULT_SECONDS = 5.0


class StartSample:
    """One sampler connection per monitored node, opened before the window; `start()` once."""

    def __init__(
        self,
        folder: Path,
        manifest: Manifest,
        nodes: list[NodeCapture],
        connect: Callable[[NodeCapture], redis.Redis],
        *,
        top: int = 500,
        rate: float = 500.0,
    ) -> None:
        self.folder, self.manifest, self.top, self.rate = folder, manifest, top, rate
        self.pipes: dict[str, tuple[NodeCapture, redis.Redis, sizing.Pipe]] = {}
        self.sizes: list[KeySize] = []
        self.errors: list[str] = []
        self.thread: threading.Thread | None = None
        self.cancelled = threading.Event()
        self.lock = threading.Lock()
        self.ranking = threading.Lock()
        for n in nodes:
            try:
                client = connect(n)
                readonly = manifest.cluster_mode and n.role == "replica"
                pipe = sizing.Pipe(client, rate, readonly)
                (reply,) = pipe.run([("CLIENT", "INFO")])
            except Exception as exc:  # any failure to reach a node only skips its start sample
                self.errors.append(f"node {n.node}: start-of-window key sizes skipped ({exc})")
                continue
            n.sampler_client = client_info_address(reply)
            if n.sampler_client is None:  # its lines could not be told from the application's
                pipe.close()
                self.errors.append(
                    f"node {n.node}: start-of-window key sizes skipped (CLIENT INFO gave no "
                    "address, Redis >= 6.2 needed)"
                )
                continue
            pipe.reply_bytes = 0  # what came before the "before" INFO is outside the window
            self.pipes[n.node] = (n, client, pipe)

    def start(self) -> None:
        """Rank and measure in a background thread (the window keeps being watched)."""
        if self.thread is None and self.pipes:
            self.thread = threading.Thread(target=self._run, name="start-sample", daemon=True)
            self.thread.start()

    def bytes_out(self, node: NodeCapture) -> int:
        """Reply bytes the sampler received from `node` so far."""
        entry = self.pipes.get(node.node)
        return entry[2].reply_bytes if entry else 0

    def finish(self, cancel: bool = False) -> None:
        """Wait for the sample (`cancel`: only for the batch under way, after an interrupt);
        add its replies to each node's overhead; close the connections. Before the "after"
        INFO."""
        if cancel:
            self.cancelled.set()
        if self.thread is not None:
            self.thread.join()
        for n, _, pipe in self.pipes.values():
            n.overhead_bytes_out += pipe.reply_bytes
            pipe.close()

    def _run(self) -> None:
        # Every node measured at once (each at its own rate): one after the other, the last
        # node's sample came 20+ s into the window, after the changes it should bracket
        # (docs/BENCHMARKS.md). Ranking the keys stays one node at a time.
        positions = sizing.key_positions(read_commands(self.folder, self.manifest))
        threads = [
            threading.Thread(
                target=self._node, args=(n, client, pipe, positions), name="start-sample-node"
            )
            for n, client, pipe in self.pipes.values()
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.sizes.sort(key=lambda s: (s.node, s.key))  # the file's order: not the threads'

    def _node(
        self, n: NodeCapture, client: redis.Redis, pipe: sizing.Pipe, positions: dict[str, int]
    ) -> None:
        path = sizing.monitored_file(self.folder, n)
        if path is None:
            return
        try:
            with self.ranking:  # Python per line: one file at a time, as the readers need the GIL
                scores = sizing.rank_keys(path, positions)
                keys = sizing.choose_keys(scores, top=self.top)
            pipe.restart_rate()  # no burst for the seconds the connection sat idle
            sizes = sizing.measure_keys(
                client, n.node, keys, rate=self.rate, pipe=pipe, stop=self.cancelled.is_set
            )
        except Exception as exc:  # a sampling failure never touches the capture
            self.errors.append(f"node {n.node}: start-of-window key sizes failed ({exc})")
            return
        with self.lock:
            self.sizes += sizes
