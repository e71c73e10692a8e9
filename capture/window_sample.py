"""Key sizes through the window: each key sized soon after its first read, within a budget.

The after-window sample (capture/sizing.py) sizes a key as it ended; a string rewritten or a
collection grown or trimmed during the window was another size when it was read. From a second
or so into the window (`--start-sample-seconds`) this sampler looks at every monitored node's
stream as it arrives and measures the keys it has not measured yet, like the after-window
sample but lighter (never a whole value: TYPE, PTTL and the cardinality, 3 commands for a string,
2 for a missing key; a collection's encoding, MEMORY USAGE and 100 elements; on the node that
served the reads), into `key_sizes_start.jsonl`, each with the node's time (`sampled_at`). The
analyzer sizes a read by the measurement nearest to it that no write separates from it
(analyze/estimate/through_time.py, analyze/estimate/cardinality.py).

Bounded per node, whatever the traffic: key discovery parses the newest of the last lines the
stream received (`MonitorStream.since`: slices kept at each flush and twice a second), as many
as half its CPU budget per tick parses at the cost per line it measured so far (at most
`lines_per_tick`) — one pass of a regular expression over them and Python only per distinct
client, command and key (`discover_lines`); a tick is skipped while the node's sampler has used
more than `cpu_share` of a core since it started (discovery and measurements together): a
sample of the stream that never falls behind it. Measurements go through the same rate
limiter as the after-window sample (`rate` commands/s), at most `max_keys` keys. Keys wait in a
queue ranked by what their reads could cost (a whole-collection read weighs 100, a whole
value 10, any other command 1), so the keys that can move the estimate most are measured
first. Nodes are sampled side by side (a thread each); they stop a second before a timed window ends (an
interrupt stops them at once, after the pipelined batch under way), so nothing but the
watchdog's last report stands between the end of MONITOR and the "after" INFO.

It runs inside the window, so MONITOR shows its lines and the node's bytes out include its
replies. Its connection is opened (READONLY, CLIENT INFO) before the "before" INFO, and its
address is recorded as `sampler_client` so the analyzer leaves those lines out; the bytes of its
replies go into the node's `overhead_bytes_out`, so the window's reconciliation stays exact.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import redis

from hotshard.capture import sizing
from hotshard.capture.format import lines, reads
from hotshard.capture.format.manifest import KeySize, Manifest, NodeCapture, read_commands
from hotshard.capture.info import client_info_address

DEFAULT_SECONDS = 1.0
TICK_SECONDS = 0.5
# Keys measured in one pipelined batch: the longest a stop waits is one batch at `rate`.
BATCH = 8
STOP_BEFORE = 1.0  # seconds before the end of a timed window when the sampler stops
# What a read could cost, roughly: a whole collection can be megabytes, a whole value (GET)
# kilobytes, anything else a few bytes.
WHOLE_COLLECTION_WEIGHT = 100.0
WHOLE_VALUE_WEIGHT = 10.0
OTHER_WEIGHT = 1.0
COMMANDS_PER_KEY = 4  # TYPE, PTTL, cardinality, a share of TIME; collections a few more
# Elements sampled per collection. The analyzer takes element sizes from the after-window sample
# (1,000 elements) and only the cardinality and time from this one, unless the key was gone by
# then: a smaller sample costs the CPU budget a tenth (redis-py parses every element).
SAMPLE = 100
EDGE = 10
# Of one core, per node, for discovery and measurements together (16 nodes: 6.4% of a core).
# 0.5% before discovery cost half as much per line: about the same keys measured for 4/5 of the
# CPU (docs/BENCHMARKS.md, "Session 8 — capture cost").
CPU_SHARE = 0.004
LINE_COST = 3e-6  # discovery's CPU seconds per line until a node's own are measured

# `tap(seq)`: the slices of lines a node's stream kept after slice `seq`, and the last slice's
# number (`MonitorStream.since`).
Tap = Callable[[int], tuple[int, list[bytes]]]


class WindowSample:
    """One sampler connection per monitored node, opened before the window; `start()` once."""

    def __init__(
        self,
        folder: Path,
        manifest: Manifest,
        nodes: list[NodeCapture],
        connect: Callable[[NodeCapture], redis.Redis],
        *,
        rate: float = 500.0,
        max_keys: int = 2000,
        lines_per_tick: int = 1000,
        tick: float = TICK_SECONDS,
        cpu_share: float = CPU_SHARE,
    ) -> None:
        self.folder, self.manifest, self.rate = folder, manifest, rate
        self.max_keys, self.lines_per_tick, self.tick = max_keys, lines_per_tick, tick
        self.cpu_share = cpu_share
        self.cpu_budget = cpu_share * tick / 2  # CPU seconds of key discovery per node and tick
        self.pipes: dict[str, tuple[NodeCapture, redis.Redis, sizing.Pipe]] = {}
        self.sizes: list[KeySize] = []
        self.errors: list[str] = []
        self.threads: dict[str, threading.Thread] = {}
        self.cancelled = threading.Event()
        self.lock = threading.Lock()
        self.cpu_seconds = 0.0  # the samplers' threads, for bench/capture_bench.py
        self.lines_parsed = 0
        self.commands = 0
        for n in nodes:
            try:
                client = connect(n)
                readonly = manifest.cluster_mode and n.role == "replica"
                pipe = sizing.Pipe(client, rate, readonly)
                (reply,) = pipe.run([("CLIENT", "INFO")])
            except Exception as exc:  # any failure to reach a node only skips its sample
                self.errors.append(f"node {n.node}: in-window key sizes skipped ({exc})")
                continue
            n.sampler_client = client_info_address(reply)
            if n.sampler_client is None:  # its lines could not be told from the application's
                pipe.close()
                self.errors.append(
                    f"node {n.node}: in-window key sizes skipped (CLIENT INFO gave no "
                    "address, Redis >= 6.2 needed)"
                )
                continue
            pipe.reply_bytes = 0  # what came before the "before" INFO is outside the window
            self.pipes[n.node] = (n, client, pipe)

    @property
    def started(self) -> bool:
        return bool(self.threads)

    def join(self, node: str) -> None:
        """Wait for `node`'s sampler to end (after `stop`: its batch under way at most)."""
        thread = self.threads.get(node)
        if thread is not None:
            thread.join()

    def start(self, taps: dict[str, Tap]) -> None:
        """A sampling thread per node that has a tap on its stream (`taps`: node -> tap)."""
        if self.threads or not self.pipes:
            return
        positions = sizing.key_positions(read_commands(self.folder, self.manifest))
        for name, (n, client, pipe) in sorted(self.pipes.items()):
            tap = taps.get(name)
            if tap is None:
                continue
            t = threading.Thread(
                target=self._node,
                args=(n, client, pipe, tap, positions),
                name=f"window-sample {name}",
                daemon=True,
            )
            self.threads[name] = t
            t.start()

    def bytes_out(self, node: NodeCapture) -> int:
        """Reply bytes the sampler received from `node` so far."""
        entry = self.pipes.get(node.node)
        return entry[2].reply_bytes if entry else 0

    def stop(self) -> None:
        """Ask every node's sampler to stop after its batch under way (returns at once)."""
        self.cancelled.set()

    def finish(self) -> None:
        """Stop; add its replies to each node's overhead. Before the "after" INFO (so every
        reply it counts is in the window's delta); `close()` after it."""
        self.cancelled.set()
        for t in self.threads.values():
            t.join()
        for n, _, pipe in self.pipes.values():
            n.overhead_bytes_out += pipe.reply_bytes
            pipe.reply_bytes = 0
        self.sizes.sort(key=lambda s: (s.node, s.key))  # the file's order: not the threads'

    def close(self) -> None:
        """Close the connections (nothing is sent: no bytes out)."""
        for _, _, pipe in self.pipes.values():
            pipe.close()
        self.pipes.clear()

    def _node(
        self,
        n: NodeCapture,
        client: redis.Redis,
        pipe: sizing.Pipe,
        tap: Tap,
        positions: dict[str, int],
    ) -> None:
        cpu0 = time.thread_time()
        queue: Counter[bytes] = Counter()  # keys waiting, by what their reads could cost
        done: set[bytes] = set()
        own = f" {n.sampler_client}] ".encode()
        last_seq = 0
        per_tick = max(1, int(self.rate * self.tick / COMMANDS_PER_KEY))
        parsed = commands = 0
        line_cost = LINE_COST  # CPU seconds per line of this node's discovery, as measured
        pipe.restart_rate()  # no burst for the seconds the connection sat idle
        began = time.monotonic()
        try:
            while not self.cancelled.wait(self.tick) and len(done) < self.max_keys:
                spent = time.thread_time() - cpu0
                if spent > self.cpu_share * (time.monotonic() - began):
                    continue  # over its CPU budget: this tick is skipped
                last_seq, recent = tap(last_seq)
                if recent:
                    # as many of the newest lines as half the tick's budget parses
                    limit = max(64, min(self.lines_per_tick, int(self.cpu_budget / line_cost)))
                    t0 = time.thread_time()
                    seen = self._discover(recent, own, positions, queue, done, limit)
                    parsed += seen
                    if seen >= 64:
                        line_cost = (line_cost + (time.thread_time() - t0) / seen) / 2
                if not queue:
                    continue
                take = min(per_tick, self.max_keys - len(done))
                keys = [k for k, _ in sorted(queue.items(), key=lambda kv: (-kv[1], kv[0]))[:take]]
                for k in keys:
                    del queue[k]
                    done.add(k)
                sent = pipe.limiter.sent
                sizes = sizing.measure_keys(
                    client,
                    n.node,
                    keys,
                    rate=self.rate,
                    pipe=pipe,
                    batch=BATCH,
                    stop=self.cancelled.is_set,
                    light=True,
                    sample=SAMPLE,
                    edge=EDGE,
                )
                commands += pipe.limiter.sent - sent
                measured = [s for s in sizes if s.sampled_at is not None]
                with self.lock:
                    self.sizes += measured
        except Exception as exc:  # a sampling failure never touches the capture
            self.errors.append(f"node {n.node}: in-window key sizes failed ({exc})")
        finally:
            with self.lock:
                self.cpu_seconds += time.thread_time() - cpu0
                self.lines_parsed += parsed
                self.commands += commands

    def _discover(
        self,
        recent: list[bytes],
        own: bytes,
        positions: dict[str, int],
        queue: Counter[bytes],
        done: set[bytes],
        limit: int | None = None,
    ) -> int:
        """Queue the keys of the last `limit` lines (`lines_per_tick`) of `recent` (slices of
        whole lines) not measured yet; returns the lines parsed."""
        limit = self.lines_per_tick if limit is None else limit
        lines: list[bytes] = []
        for data in reversed(recent):  # the newest first, up to the budget
            lines[:0] = data.rstrip(b"\n").split(b"\n")[-limit:]
            if len(lines) > limit:
                break
        lines = lines[-limit:]
        deadline = time.thread_time() + self.cpu_budget
        found, whole = discover_lines(b"\n".join(lines), own, positions, deadline)
        for key, weight in found.items():
            if key not in done:
                queue[key] += weight
        return whole - sum(1 for line in lines if not line)


# The command and its first argument, the common case (a key at position 1, no escapes in the
# command): one match per line instead of the full grammar (sizing.parse_line: every argument
# cut and decoded), which cost the sampler's budget ~13 µs a line.
_HEAD = re.compile(rb'\+?[0-9.]+ \[[0-9]+ [^\]]*\] "([^"\\]*)" "((?:[^"\\]|\\.)*)"')


# The same for every line of a slice at once, with the client: one pass of the regular
# expression over the slice (from each line's `\n+`, the key's escapes unrolled: ~1.3 µs a line,
# where a match per line cost ~2 µs and the Python around it as much again), a count of the
# distinct (client, command, key) in C, then Python only per distinct one. The address ends at
# the first `] "` (an IPv6 address has `]:` in it, a unix socket path may have spaces).
_HEADS = re.compile(rb'\n\+[0-9.]+ \[[0-9]+ ([^\r\n]*?)\] "([^"\\]*)" "([^"\\]*(?:\\.[^"\\]*)*)"')


def discover_lines(
    data: bytes, own: bytes, positions: dict[str, int], deadline: float = float("inf")
) -> tuple[Counter[bytes], int]:
    """The keys the MONITOR lines of `data` read or write, each with what its reads could cost
    (the sum of `discover_line` over the lines), leaving out the lines of client `own` (as
    `b" addr] "`); and the number of lines looked at. Lines whose keys the first argument does
    not give (MGET, scripts, range reads, a key further on) are read with the full grammar, each
    distinct command line once, until `thread_time()` passes `deadline`."""
    found: Counter[bytes] = Counter()
    address = own.strip()[:-1]
    weights: dict[bytes, float | None] = {}  # command as sent -> its first argument's weight
    for (client, raw, arg), count in Counter(_HEADS.findall(b"\n" + data)).items():
        if client == address:
            continue
        if raw not in weights:
            weights[raw] = _first_key_weight(raw, positions)
        weight = weights[raw]
        if weight:
            key = lines.unescape_bytes(arg.decode("latin-1")) if b"\\" in arg else arg
            found[key] += weight * count  # type: ignore[assignment]
    total = data.count(b"\n") + 1 if data else 0
    needs_line = tuple(b'] "%s" ' % raw for raw, weight in weights.items() if weight is None)
    if not needs_line:
        return found, total - data.count(own)
    bodies: Counter[bytes] = Counter()
    for line in data.split(b"\n"):  # the command and its arguments, without time and client
        at = line.find(b'] "')
        if at >= 0 and line.startswith(needs_line, at) and own not in line:
            bodies[line[at + 2 :]] += 1
    for n, (body, count) in enumerate(bodies.items()):
        if n % 64 == 63 and time.thread_time() > deadline:
            break
        info = sizing.parse_line(b"+0 [0 -] " + body.rstrip(b"\r"), positions)
        if info is None or info.key is None:
            continue
        weight = _weight(info)
        for key in (info.key, *info.others):
            found[key] += weight * count  # type: ignore[assignment]
    return found, total - data.count(own)


def _first_key_weight(raw: bytes, positions: dict[str, int]) -> float | None:
    """What a read of command `raw` (as sent) could cost when its first argument is its one key;
    0: no key; None: the line is needed (the keys are elsewhere, or the arguments decide)."""
    command = raw.decode("latin-1").lower()
    pos = positions.get(command)
    if pos is None:
        pos = 0 if command in sizing.KEYLESS else 1
    if command in _SLOW or command in reads.CANDIDATES or pos > 1:
        return None
    if pos <= 0:
        return 0.0
    return WHOLE_VALUE_WEIGHT if command in reads.WHOLE_VALUES else OTHER_WEIGHT


def discover_line(line: bytes, positions: dict[str, int]) -> list[tuple[bytes, float]]:
    """The keys one MONITOR line reads or writes, each with what its read could cost (the
    keys `sizing.parse_line` finds, cheaper for the common lines)."""
    m = _HEAD.match(line)
    if m is not None:
        command = m.group(1).decode("latin-1").lower()
        pos = positions.get(command)
        if pos is None:
            pos = 0 if command in sizing.KEYLESS else 1
        if pos == 0 and command not in _SLOW:
            return []
        if pos == 1 and command not in _SLOW and command not in reads.CANDIDATES:
            raw = m.group(2)
            key = lines.unescape_bytes(raw.decode("latin-1")) if b"\\" in raw else raw
            weight = WHOLE_VALUE_WEIGHT if command in reads.WHOLE_VALUES else OTHER_WEIGHT
            return [(key, weight)]
    info = sizing.parse_line(line.rstrip(b"\r"), positions)
    if info is None or info.key is None:
        return []
    weight = _weight(info)
    return [(info.key, weight), *((k, weight) for k in info.others)]


# Commands whose keys the first argument does not give (or not alone).
_SLOW = frozenset({"mget", "xread", "xreadgroup", *sizing.EVAL_LIKE})


def _weight(info: sizing.LineInfo) -> float:
    if not info.full_read:
        return OTHER_WEIGHT
    return WHOLE_VALUE_WEIGHT if info.command in reads.WHOLE_VALUES else WHOLE_COLLECTION_WEIGHT
