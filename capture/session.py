"""`hotshard capture`: one MONITOR stream per chosen node, safely, into a capture folder.

Order, so the byte counts reconcile (docs/RECONCILE.md, "Ground truth"): discover → COMMAND →
slot stats (Valkey) → INFO on every node of the monitored shards → MONITOR on the chosen nodes →
the window (output-buffer polls, live status) → RESET on every stream → INFO again → slot stats →
read-placement check → key sizes → manifest.
"""

from __future__ import annotations

import contextlib
import functools
import math
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import redis

from hotshard.capture import (
    commandlog,
    costs,
    disk,
    info,
    placement,
    poll,
    slotstats,
    window_sample,
)
from hotshard.capture.connect import (
    ConnectOptions,
    control_client,
    describe_failure,
    prompt_password,
)
from hotshard.capture.errors import (
    CaptureError,
    CaptureIncomplete,
    CaptureInterrupted,
    DiskWriteFailed,
    UsageError,
)
from hotshard.capture.format import counters, manifest
from hotshard.capture.format.manifest import InfoSnapshot, Manifest, NodeCapture
from hotshard.capture.signals import SignalScope
from hotshard.capture.stream import COMPRESSIONS, MonitorStream
from hotshard.capture.topology import Topology, locate, slot_owners
from hotshard.capture.watchdog import Watchdog

NODE_CHOICES = ("replicas", "primaries", "all")
# Stop reasons of a node that was not captured for the whole window.
FAILED_REASONS = (None, "error", "output_buffer", "disk_full", "disk_error", "watchdog_lost")


@dataclass
class CaptureOptions:
    cluster: str | None = None
    endpoints: list[str] = field(default_factory=list)
    region: str | None = None
    profile: str | None = None
    duration: float = 60.0
    out: str | None = None  # default: captures/<cluster>-<UTC time>/
    nodes: str = "replicas"  # replicas | primaries | all
    shards: list[str] = field(default_factory=list)
    connect: ConnectOptions = field(default_factory=ConnectOptions)
    compress: str = "zstd"
    level: int | None = None
    max_bytes: int | None = None  # per node, raw MONITOR bytes
    max_omem: int = 32 << 20  # stop a node when its monitor connection's output buffer passes this
    sizes: bool = True
    sizes_top: int = 500
    sizes_rate: float | None = None
    start_sample_seconds: float = window_sample.DEFAULT_SECONDS  # 0: sizes after the window only
    quiet: bool = False
    flush_seconds: float = 2.0
    poll_seconds: float = 1.0
    poll_interval: float = poll.DEFAULT_INTERVAL  # INFO stats during the window; 0: never
    read_throttle: tuple[int, float] | None = None  # tests only: a deliberately slow reader
    after_sizes: bool = True  # bench only: False skips the after-window sample (window cost alone)

    def validate(self) -> None:
        if self.nodes not in NODE_CHOICES:
            raise UsageError(f"--nodes takes one of {', '.join(NODE_CHOICES)}, not {self.nodes!r}")
        if self.compress not in COMPRESSIONS:
            raise UsageError(
                f"--compress takes one of {', '.join(COMPRESSIONS)}, not {self.compress!r}"
            )
        if not math.isfinite(self.duration) or self.duration <= 0:
            raise UsageError("-d/--duration must be a positive number of seconds")
        if self.max_omem <= 0:
            raise UsageError("--max-omem must be above 0, e.g. 32MB (the guard cannot be off)")
        if self.max_bytes is not None and self.max_bytes < 0:
            raise UsageError("--max-bytes must be a size above 0, e.g. 2GB")
        if not (0 <= self.poll_interval < math.inf):
            raise UsageError(
                f"--poll-interval takes seconds (0 turns the polls off), not {self.poll_interval:g}"
            )
        if not (0 <= self.start_sample_seconds < math.inf):
            raise UsageError(
                "--start-sample-seconds takes seconds (0 turns the in-window sampler off), not "
                f"{self.start_sample_seconds:g}"
            )
        if self.sizes_top < 0:
            raise UsageError(f"--sizes-top takes a count of keys, not {self.sizes_top}")
        if self.sizes_rate is not None and not (0 < self.sizes_rate < math.inf):
            raise UsageError(
                f"--sizes-rate takes commands per second above 0, not {self.sizes_rate:g}"
            )

    def for_manifest(self) -> dict[str, Any]:
        """What the manifest may say about how the capture ran (secrets go through redact)."""
        c = self.connect
        return {
            "cluster": self.cluster,
            "endpoints": list(self.endpoints),
            "region": self.region,
            "duration": self.duration,
            "nodes": self.nodes,
            "shards": list(self.shards),
            "compress": self.compress,
            "level": self.level,
            "max_bytes": self.max_bytes,
            "max_omem": self.max_omem,
            "sizes": self.sizes,
            "start_sample_seconds": self.start_sample_seconds,
            "poll_interval": self.poll_interval,
            "tls": c.tls,
            "tls_insecure": c.tls_insecure,
            "tls_ca": c.tls_ca,
            "user": c.user,
            "password": "(given)" if c.password else None,  # never the secret itself
        }


@dataclass
class CaptureResult:
    folder: Path
    manifest: Manifest
    problem: CaptureError | None = None  # what stopped the whole capture (a full disk)

    def raise_for_status(self) -> None:
        """CaptureIncomplete / CaptureInterrupted when the capture was not complete."""
        m = self.manifest
        if self.problem is not None:
            raise self.problem
        if m.status == "interrupted":
            raise CaptureInterrupted(
                f"interrupted — {self.folder} holds what was captured until then "
                "(manifest status: interrupted)"
            )
        if m.status != "complete":
            failed = [n for n in m.nodes if n.monitored and n.stop_reason in FAILED_REASONS]
            what = "; ".join(f"{n.node} (shard {n.shard}): {n.stop_reason}" for n in failed)
            raise CaptureIncomplete(
                f"capture {m.status}: {what or 'see warnings'} — the other nodes are complete "
                f"in {self.folder}"
            )

    def summary(self) -> str:
        m = self.manifest
        lines = [f"capture folder: {self.folder}  (status {m.status})"]
        for n in m.nodes:
            if n.monitored:
                lines.append(
                    f"  {n.shard} {n.role:<8} {n.node:<24} {n.lines:>12,} lines "
                    f"{_mb(n.bytes_received):>10} raw {_mb(n.bytes_written):>10} on disk  "
                    f"{n.stop_reason}"
                )
        lines += [f"warning: {w}" for w in m.warnings]
        return "\n".join(lines)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


# -- the one entry point ----------------------------------------------------------------------
def run_capture(
    options: CaptureOptions,
    *,
    stderr: TextIO | None = None,
    ask_password: Callable[[str], str | None] | None = prompt_password,
    stop: threading.Event | None = None,
) -> CaptureResult:
    """Discover, capture, write the folder; returns even when the capture is partial/interrupted
    (call `raise_for_status`). Raises CaptureError before anything is captured.

    `stop`, when set by the caller, ends the window early like the duration does.
    """
    options.validate()
    stderr = stderr or sys.stderr
    topology = locate(
        cluster=options.cluster,
        endpoints=options.endpoints,
        region=options.region,
        profile=options.profile,
        options=options.connect,
        ask_password=ask_password,
    )
    chosen, warnings = choose_nodes(topology, options.nodes, options.shards)
    folder = make_folder(options.out, options.cluster or topology.seed or "capture")
    m = Manifest(
        cluster=options.cluster,
        cluster_mode=topology.cluster_mode,
        created_at=time.time(),
        duration_requested=options.duration,
        options=options.for_manifest(),
        shards=topology.shards,
        nodes=topology.nodes,
        warnings=[*topology.warnings, *warnings],
    )
    for n in chosen:
        n.monitored = True
        n.compression = options.compress
        n.file = manifest.monitor_file_name(n.shard, n.role, n.host, n.port, options.compress)
    watched = [n for n in m.nodes if n.shard in {c.shard for c in chosen}]
    reserve = disk.Reserve(folder, disk.RESERVE_BASE + disk.RESERVE_PER_NODE * len(watched))
    try:
        write_manifest(folder, m)
    except BaseException:
        reserve.release()
        raise
    return Session(options, topology, m, folder, stderr, stop, reserve).run()


def write_manifest(folder: Path, m: Manifest) -> None:
    try:
        manifest.write(folder, m)
    except OSError as exc:
        raise disk.write_failed(folder / manifest.MANIFEST_NAME, exc) from None


def choose_nodes(
    topology: Topology, which: str, shards: list[str]
) -> tuple[list[NodeCapture], list[str]]:
    """The nodes to MONITOR: per shard its replicas (default), its primary, or all nodes."""
    known = [s.shard for s in topology.shards]
    wanted = [s.zfill(4) if s.isdigit() else s for s in shards] or known
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise UsageError(f"--shards: no shard {', '.join(unknown)} (shards: {', '.join(known)})")
    chosen, warnings = [], []
    for shard in wanted:
        members = [n for n in topology.shard_nodes(shard) if n.health != "failed"]
        replicas = [n for n in members if n.role == "replica"]
        primaries = [n for n in members if n.role == "primary"]
        if which == "all":
            picked = members
        elif which == "primaries":
            picked = primaries
        else:
            picked = replicas
            if not replicas and primaries:
                warnings.append(f"shard {shard} has no healthy replica: monitoring its primary")
                picked = primaries
        if not picked:
            warnings.append(f"shard {shard}: no healthy node to monitor")
        chosen += picked
    return chosen, warnings


def make_folder(out: str | None, label: str) -> Path:
    if out:
        folder = Path(out)
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        safe = "".join(c if c.isalnum() or c in ".-" else "_" for c in label)
        folder = Path("captures") / f"{safe}-{stamp}"
    try:
        if folder.exists() and any(folder.iterdir()):
            raise UsageError(f"--out {folder} exists and is not empty — choose a new folder")
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise UsageError(
            f"--out {folder}: cannot create it ({exc.strerror or exc}) — choose a folder this "
            "user can write, on a disk with room"
        ) from None
    return folder


# -- the window --------------------------------------------------------------------------------
class Session:
    def __init__(
        self,
        options: CaptureOptions,
        topology: Topology,
        m: Manifest,
        folder: Path,
        stderr: TextIO,
        stop: threading.Event | None = None,
        reserve: disk.Reserve | None = None,
    ):
        self.options = options
        self.reserve = reserve  # room kept for the final manifest (capture/disk.py)
        self.problem: CaptureError | None = None
        self.connect = topology.options
        self.manifest = m
        self.folder = folder
        self.stderr = stderr
        self.monitored = [n for n in m.nodes if n.monitored]
        shards = {n.shard for n in self.monitored}
        self.watched = [n for n in m.nodes if n.shard in shards]  # every node of those shards
        self.controls: dict[str, redis.Redis] = {}
        self.streams: dict[str, MonitorStream] = {}
        self.readonly = placement.FALLBACK_READS  # replaced by the server's own COMMAND flags
        self.interrupted = threading.Event()
        self.stop_requested = stop or threading.Event()
        self.status = StatusLine(stderr, quiet=options.quiet)
        self.watchdog: Watchdog | None = None
        self._watchdog_lost = False
        self.poller: poll.Poller | None = None
        self.start_sample: window_sample.WindowSample | None = None

    def say(self, text: str) -> None:
        self.status.message(f"hotshard: {text}")

    def warn(self, text: str) -> None:
        self.manifest.warnings.append(text)
        self.status.message(f"hotshard: warning: {text}", force=True)

    def run(self) -> CaptureResult:
        for text in self.manifest.warnings:  # from discovery and node choice: say them up front
            self.status.message(f"hotshard: warning: {text}", force=True)
        try:
            with SignalScope(self):
                self._open_controls()
                self._start_polls()
                self._save_commands()
                self._start_watchdog()
                slots_start = slotstats.before(self.controls, self.watched)  # outside the INFOs
                commandlog.before(self.controls, self.watched)
                self._open_start_sample()
                self._snapshot("before")
                self._start_streams()
                self._measure_client_list()
                stop_reason = self._window()
                # Nothing unbounded between the end of a node's MONITOR and its "after" INFO
                # (`_node_ended`): the sampler stops with the streams (one batch at most).
                if self.start_sample is not None:
                    self.start_sample.stop()
                self._stop_streams(stop_reason)
                self._finish_start_sample()
                self._finish_watchdog()
                self._snapshot("after")
                slotstats.after(self.controls, self.watched, slots_start)
                commandlog.after(self.controls, self.watched)
                self._after_window_costs()
                self._finish(stop_reason)
        except BaseException as exc:
            if self.start_sample is not None:
                self.start_sample.stop()
            for s in self.streams.values():
                s.stop("error", abort=True)
            self.manifest.status = "failed"
            self._record_streams()
            self._release_reserve()
            with contextlib.suppress(OSError):  # the error below says what happened
                manifest.write(self.folder, self.manifest)
            if isinstance(exc, OSError) and (disk.is_disk_error(exc) or exc.filename):
                raise disk.write_failed(exc.filename or self.folder, exc) from None
            raise
        finally:
            if self.start_sample is not None:
                self.start_sample.stop()
                for t in self.start_sample.threads.values():  # after its batch under way
                    t.join()
                self.start_sample.close()
            if self.watchdog is not None:
                self.watchdog.close()
            for c in self.controls.values():
                c.close()
        # The capture is complete on disk by now; sizing only adds to it.
        if self.problem is None and self.options.after_sizes:
            self._sizes()
            write_manifest(self.folder, self.manifest)
        return CaptureResult(self.folder, self.manifest, self.problem)

    def _release_reserve(self) -> None:
        if self.reserve is not None:
            self.reserve.release()

    # -- setup -------------------------------------------------------------------------------
    def _open_controls(self) -> None:
        for n in self.watched:
            client = control_client(n.host, n.port, self.connect)
            try:
                client.ping()
            except (redis.RedisError, OSError) as exc:
                error = describe_failure(n.node, exc, self.connect)
                client.close()
                n.errors.append(str(error))
                if n.monitored:
                    self.warn(f"{error}; not captured")
                continue
            self.controls[n.node] = client

    def _save_commands(self) -> None:
        """The server's COMMAND reply (key specs for the parser), before the window opens."""
        for n in self.monitored:
            client = self.controls.get(n.node)
            if client is None:
                continue
            try:
                reply = client.execute_command("COMMAND")
            except redis.RedisError as exc:
                self.warn(f"node {n.node}: COMMAND failed ({exc}); the analyzer uses its defaults")
                return
            try:
                manifest.write_commands(self.folder, self.manifest, reply)
            except OSError as exc:
                raise disk.write_failed(self.folder / manifest.COMMANDS_NAME, exc) from None
            self.readonly = placement.readonly_commands(reply)
            return

    def _node_ended(self, node: str) -> None:
        """The "after" INFO of a node whose stream has just ended, once nothing of ours sends to
        it any more: its sampler has finished its batch, the watchdog polls it no more."""
        if self.start_sample is not None:
            self.start_sample.join(node)
        if self.watchdog is not None and not self.watchdog.release(node):
            return  # taken with the others, after the watchdog's totals
        n = self.manifest.node(node)
        if n is not None and n.node in self.controls:
            self._snapshot("after", [n])

    def _snapshot(self, when: str, only: list[NodeCapture] | None = None) -> None:
        """INFO on every watched node (`only`: those), but an "after" one already taken. The
        "after" ones are taken side by side (a thread per node): one after the other, the last
        node's came seconds after its MONITOR stopped on a loaded cluster, counting traffic the
        stream never saw."""
        nodes = [n for n in (only or self.watched) if n.node in self.controls]
        if when == "after":
            nodes = [n for n in nodes if n.info_after is None]
        if when == "after" and len(nodes) > 1:
            with ThreadPoolExecutor(max_workers=min(16, len(nodes))) as pool:
                snaps = list(pool.map(self._info, nodes))
        else:
            snaps = [self._info(n) for n in nodes]
        for n, snap in zip(nodes, snaps, strict=True):
            if isinstance(snap, BaseException):
                n.errors.append(
                    f"INFO {when} the window failed: {describe_failure(n.node, snap, self.connect)}"
                )
                continue
            if when == "before":
                n.info_before = snap
                name, version = counters.server_identity(snap.sections.get("server", {}))
                n.server_name, n.server_version = name, version or n.server_version
                n.overhead_bytes_out += snap.reply_bytes  # counted in the "after" delta
            else:
                n.info_after = snap

    def _info(self, n: NodeCapture) -> InfoSnapshot | redis.RedisError | OSError:
        try:
            return info.snapshot(self.controls[n.node], n.server_version)
        except (redis.RedisError, OSError) as exc:
            return exc

    def _start_watchdog(self) -> None:
        """The output-buffer guard, in its own process (capture/watchdog.py), before INFO."""
        nodes = [n for n in self.monitored if n.node in self.controls]
        if not nodes:
            return
        self.watchdog = Watchdog(nodes, self.connect, self.options.max_omem)
        problems = self.watchdog.start(timeout=self.connect.timeout * 2 + 10)
        for _, text in sorted(problems.items()):
            self.warn(text)

    def _finish_watchdog(self) -> None:
        """Before the "after" INFO: its polls' replies are bytes out the node sent for us."""
        if self.watchdog is None:
            return
        self._watch()
        # its process exits after the "after" INFO (`run`'s finally closes it): only its
        # totals stand between the end of MONITOR and the snapshot
        for node, totals in self.watchdog.finish(close=False).items():
            n = self.manifest.node(node)
            if n is not None:
                n.overhead_bytes_out += int(totals.get("overhead", 0))
                n.max_omem = max(n.max_omem, int(totals.get("max_omem", 0)))
                own = n.own_calls if n.own_calls is not None else {}
                own["client|list"] = own.get("client|list", 0) + int(totals.get("polls", 0))
                own["client|kill"] = own.get("client|kill", 0) + int(totals.get("kills", 0))
                n.own_calls = own

    # -- what MONITOR does not show (capture/costs.py) ---------------------------------------
    def _measure_client_list(self) -> None:
        """One CLIENT LIST per monitored node inside the window: what an agent's call costs."""
        for n in self.monitored:
            client = self.controls.get(n.node)
            if client is None or n.node not in self.streams:
                continue
            listed = costs.client_list(client)
            size = listed.size
            n.client_protocols = dict(sorted(listed.protocols.items()))
            if size is not None:
                n.client_list_lines, n.client_list_clients = listed.lines, listed.clients
            own = n.own_calls if n.own_calls is not None else {}
            own["client|list"] = own.get("client|list", 0) + 1
            n.own_calls = own
            if size is not None:
                n.reply_sizes["client|list"] = size
                n.overhead_bytes_out += size

    def _after_window_costs(self) -> None:
        """The tool's own calls between the snapshots; reply sizes and subscribers, measured
        after the "after" INFO (MONITOR would show these, and the window is closed)."""
        for n in self.monitored:
            stream = self.streams.get(n.node)
            client = self.controls.get(n.node)
            if stream is None or client is None:
                continue
            own = n.own_calls if n.own_calls is not None else {}
            connections = 1 + len(n.gaps)  # each reconnect repeats the handshake
            handshake = ["client|setname", "client|id", "monitor"]
            if self.connect.password:
                handshake.append("auth")
            for name in handshake:
                own[name] = own.get(name, 0) + connections
            own["info"] = own.get("info", 0) + 1  # the "before" snapshot
            own["reset"] = own.get("reset", 0) + 1
            n.own_calls = own
            sizes, subscribers = costs.after_window(
                client, n.server_version, self.manifest.cluster_mode
            )
            n.reply_sizes.update(sizes)
            n.pubsub = subscribers

    def _start_streams(self) -> None:
        o = self.options
        dog = self.watchdog
        for n in self.monitored:
            if n.node not in self.controls:  # unreachable at setup: recorded as failed
                n.stop_reason = "error"
                continue
            assert n.file is not None  # every monitored node was given its file at setup
            stream = MonitorStream(
                n,
                self.folder / n.file,
                self.connect,
                compression=o.compress,
                level=o.level,
                max_bytes=o.max_bytes,
                flush_seconds=o.flush_seconds,
                use_reset=counters.version_tuple(n.server_version) >= (6, 2),
                throttle=o.read_throttle,
                on_monitor=functools.partial(dog.watch, n.node) if dog else None,
                was_cut=functools.partial(dog.was_cut, n.node) if dog else None,
            )
            self.streams[n.node] = stream
            stream.start()
        deadline = time.monotonic() + self.connect.timeout * 3 + 5
        for stream in self.streams.values():
            stream.started.wait(max(0.1, deadline - time.monotonic()))
        started = [s.started_at for s in self.streams.values() if s.started_at]
        if not started:  # the same cause everywhere, most likely (password, ACL, TLS)
            failures = [s.failure for s in self.streams.values() if s.failure]
            raise failures[0] if failures else CaptureError("no node could be monitored")
        for s in self.streams.values():
            if s.started_at is None:
                self.warn(f"{s.errors[-1] if s.errors else s.label + ': MONITOR did not start'}")
            elif s.client_id is None:
                self.warn(
                    f"{s.label}: CLIENT ID failed, so the watchdog cannot find this connection "
                    "and its output buffer is not watched (the ACL user needs +client|id)"
                )
        self.manifest.started_at = min(started)
        write_manifest(self.folder, self.manifest)
        self.say(
            f"monitoring {len(started)} node(s) for {self.options.duration:g} s into {self.folder}"
        )

    # -- during ------------------------------------------------------------------------------
    def _window(self) -> str:
        """Wait for the duration, an interrupt, or every stream ending; return why it ended."""
        end = time.monotonic() + self.options.duration
        sample_at = time.monotonic() + self.options.start_sample_seconds
        while True:
            if self.start_sample is not None and time.monotonic() >= sample_at:
                self.start_sample.start(self._taps())
            self._watch()
            self._poll()
            self.status.show(self.streams)
            full = next((s.disk_error for s in self.streams.values() if s.disk_error), None)
            if full is not None:  # every node writes to the same disk: stop them all now
                return disk.stop_reason(full)
            if self._watchdog_lost:
                return "watchdog_lost"
            if self.interrupted.is_set():
                return "interrupted"
            if self.stop_requested.is_set():
                return "duration"
            if all(s.finished.is_set() for s in self.streams.values()):
                return "duration"
            left = end - time.monotonic()
            if left <= 0:
                return "duration"
            wait = min(self.options.poll_seconds, left)
            if self.start_sample is not None:
                # it stops a moment before the streams, so its last batch is over by the end
                before = left - window_sample.STOP_BEFORE
                if before <= 0:
                    self.start_sample.stop()
                else:
                    wait = min(wait, before)
            if self.start_sample is not None and not self.start_sample.started:
                wait = max(0.0, min(wait, sample_at - time.monotonic()))
            self.interrupted.wait(self.poller.wait_for(wait) if self.poller else wait)

    def _taps(self) -> dict[str, window_sample.Tap]:
        """Per monitored node, what its stream received last (capture/window_sample.py)."""
        return {node: stream.since for node, stream in self.streams.items()}

    def _start_polls(self) -> None:
        """INFO stats through the window (capture/poll.py), on the control connections."""
        self.poller = poll.Poller(
            [n for n in self.monitored],
            self.controls,
            self.options.poll_interval,
            self._own_traffic,
        )

    def _own_traffic(self, node: NodeCapture) -> tuple[int, int]:
        """(MONITOR bytes received, other bytes the node sent for us) so far, for a poll."""
        stream = self.streams.get(node.node)
        dog = self.watchdog.overhead.get(node.node, 0) if self.watchdog else 0
        sampler = self.start_sample.bytes_out(node) if self.start_sample else 0
        return (stream.bytes_received if stream else 0), node.overhead_bytes_out + dog + sampler

    def _poll(self) -> None:
        if self.poller is None:
            return
        rounds = self.poller.rounds
        for text in self.poller.tick():
            self.warn(text)
        while self.poller.role_changes:  # said now; the polls in the manifest are the record
            text = self.poller.role_changes.pop(0)
            self.status.message(f"hotshard: warning: {text}", force=True)
        if self.poller.rounds != rounds:  # a killed capture keeps its polls; the end reports
            with contextlib.suppress(OSError):  # a full disk, which the streams report
                manifest.write(self.folder, self.manifest)

    def _watch(self) -> None:
        """Take the watchdog's news: the omem it saw, and the connections it cut."""
        dog = self.watchdog
        if dog is None:
            return
        for node, client_id, omem in dog.take_cuts():
            stream = self.streams[node]
            stream.node.max_omem = max(stream.node.max_omem, omem)
            if stream.client_id == client_id:
                stream.stop("output_buffer", abort=True)  # the server has let it go already
            self.warn(
                f"{stream.label}: the server held {omem / 1e6:.1f} MB of MONITOR output for this "
                f"capture (limit --max-omem {self.options.max_omem / 1e6:.1f} MB) — the watchdog "
                "cut this node to protect the server; the reader could not keep up (the capture "
                "was stopped or slowed: keep it running, or use a shorter --duration, fewer "
                "nodes, or a bigger bastion)"
            )
        for text in dog.take_warnings():
            self.warn(text)
        for node, omem in dog.omem.items():
            if node in self.streams:
                self.streams[node].omem = omem
                self.streams[node].node.max_omem = max(self.streams[node].node.max_omem, omem)
        if dog.lost and not self._watchdog_lost:
            self._watchdog_lost = True  # ends the window: no capture runs unguarded
        dog.request_report()

    def _kill_monitor(self, stream: MonitorStream) -> None:
        """A reader stuck (on a hung disk, say) keeps its MONITOR connection open after the
        watchdog is gone: close it on the server, so nothing buffers for it any more."""
        client = self.controls.get(stream.node.node)
        if client is None or stream.client_id is None:
            return
        try:
            client.execute_command("CLIENT KILL", "ID", stream.client_id)
        except (redis.RedisError, OSError):
            return
        stream.node.overhead_bytes_out += 4  # `:1\r\n`
        stream.errors.append(f"{stream.label}: its connection was closed on the server instead")

    def _stop_streams(self, reason: str) -> None:
        """Stop every stream; each node's "after" INFO is taken as soon as its own stream has
        ended (on a loaded cluster the last stream drains seconds after the first)."""
        abort = reason in ("disk_full", "disk_error")  # a clean stop would write more
        for s in self.streams.values():
            s.stop(reason, abort=abort)
        deadline = time.monotonic() + 30
        pending = dict(self.streams)
        with ThreadPoolExecutor(max_workers=min(16, len(pending) or 1)) as closing:
            while pending:
                for node, s in list(pending.items()):
                    if s.finished.is_set():
                        s.join()
                        del pending[node]
                        closing.submit(self._node_ended, node)  # each node on its own
                    elif time.monotonic() > deadline:
                        del pending[node]
                        s.errors.append(f"{s.label}: reader did not stop within 30 s")
                        self._kill_monitor(s)
                self.status.show(self.streams)
                if pending:
                    time.sleep(0.01)
        self.manifest.ended_at = time.time()
        self.status.show(self.streams, final=True)

    # -- after -------------------------------------------------------------------------------
    def _record_streams(self) -> None:
        for s in self.streams.values():
            n = s.node
            n.started_at, n.ended_at = s.started_at, s.ended_at
            n.bytes_received, n.bytes_written, n.lines = s.bytes_received, s.bytes_written, s.lines
            n.gaps = list(s.gaps)
            n.errors += [e for e in s.errors if e not in n.errors]
            n.stop_reason = "error" if s.failed or not s.finished.is_set() else s.stop_reason

    def _finish(self, reason: str) -> None:
        self._record_streams()
        for text in placement.check(self.manifest.nodes, self.readonly):
            self.warn(text)
        for n in self.monitored:
            if n.gaps:
                self.warn(
                    f"node {n.node} (shard {n.shard}) was not monitored for "
                    f"{sum((g.end or 0) - g.start for g in n.gaps):.1f} s (reconnects)"
                )
        failed = [n for n in self.monitored if n.stop_reason in FAILED_REASONS]
        if reason == "interrupted":
            self.manifest.status = "interrupted"
        elif failed:
            self.manifest.status = "partial"
        else:
            self.manifest.status = "complete"
        self._release_reserve()  # its room is for this write, whatever filled the disk
        self.manifest.slots_after = self._slots_after()
        if reason == "watchdog_lost":
            text = (
                "the output-buffer watchdog stopped during the window, so the capture ended "
                f"early rather than run unguarded — {self.folder} holds what was captured "
                "(manifest status partial); run the capture again"
            )
            self.manifest.warnings.append(text)
            self.problem = CaptureError(text)
        errors = [s.disk_error for s in self.streams.values() if s.disk_error]
        if errors:
            m = self.manifest
            text = disk.stopped_message(
                self.folder,
                errors[0],
                written=sum(s.bytes_written for s in self.streams.values()),
                elapsed=(m.ended_at or 0) - (m.started_at or 0),
                duration=self.options.duration,
            )
            self.manifest.warnings.append(text)
            self.problem = DiskWriteFailed(text, errno=errors[0].errno)
        write_manifest(self.folder, self.manifest)

    def _slots_after(self) -> dict[str, list[tuple[int, int]]] | None:
        """Slot ownership re-read after the window, from the first monitored node that answers
        (a reshard or failover during it moves slots)."""
        if not self.manifest.cluster_mode:
            return None
        for n in self.monitored:
            try:
                client = control_client(n.host, n.port, self.connect)
                try:
                    return slot_owners(client, n.host, n.port, self.connect)
                finally:
                    client.close()
            except (redis.RedisError, OSError) as exc:
                self.warn(f"node {n.node}: slot ownership not re-read after the window ({exc})")
        return None

    def _sizes(self) -> None:
        """Key sizes (capture/sizing.py); a failure there never loses the capture."""
        if not self.options.sizes:
            return
        from hotshard.capture import sizing

        kwargs: dict[str, Any] = {"top": self.options.sizes_top}
        if self.options.sizes_rate is not None:
            kwargs["rate"] = self.options.sizes_rate
        if not self.options.quiet:
            kwargs["progress"] = lambda *args, **_: self.say(" ".join(map(str, args)))
        try:
            sizes = sizing.sample_sizes(self.folder, self.manifest, self.sizing_client, **kwargs)
        except Exception as exc:
            self.warn(f"key sizes skipped: {exc}")
            return
        try:
            manifest.write_key_sizes(self.folder, self.manifest, sizes)
        except OSError as exc:
            self.manifest.key_sizes_file = None
            self.warn(f"key sizes not written: {disk.write_failed(manifest.KEY_SIZES_NAME, exc)}")

    def _open_start_sample(self) -> None:
        """The in-window sampler's connections (capture/window_sample.py), before the "before"
        INFO."""
        o = self.options
        if not o.sizes or o.start_sample_seconds <= 0:
            return
        nodes = [n for n in self.monitored if n.node in self.controls]
        kwargs: dict[str, Any] = {"max_keys": max(1, 4 * o.sizes_top)}
        if o.sizes_rate is not None:
            kwargs["rate"] = o.sizes_rate
        self.start_sample = window_sample.WindowSample(
            self.folder, self.manifest, nodes, self.sizing_client, **kwargs
        )
        for text in self.start_sample.errors:
            self.warn(text)

    def _finish_start_sample(self) -> None:
        """Its replies are overhead of the window; its sizes go to key_sizes_start.jsonl. It
        stops with the window: the keys still queued keep the after-window sample."""
        sample = self.start_sample
        if sample is None:
            return
        errors = len(sample.errors)
        sample.finish()
        for text in sample.errors[errors:]:
            self.warn(text)
        if not sample.started:
            return  # the window ended before the sample was due
        try:
            manifest.write_key_sizes(self.folder, self.manifest, sample.sizes, start=True)
        except OSError as exc:
            self.manifest.key_sizes_start_file = None
            self.warn(
                f"start key sizes not written: {disk.write_failed(manifest.START_SIZES_NAME, exc)}"
            )

    def sizing_client(self, node: NodeCapture) -> redis.Redis:
        """A client for key reads on `node` (sizing sends READONLY itself on cluster replicas)."""
        return control_client(node.host, node.port, self.connect)


# -- live status -------------------------------------------------------------------------------
class StatusLine:
    """A line per node on stderr: redrawn in place on a terminal, every 10 s in a log."""

    def __init__(self, stream: TextIO, quiet: bool = False, every: float = 10.0):
        self.stream = stream
        self.quiet = quiet
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.every = every
        self.drawn = 0
        self.last_print = 0.0
        self.last: dict[str, tuple[float, int]] = {}
        self.gone = False  # the terminal hung up (EIO): nothing more is written to it

    def message(self, text: str, force: bool = False) -> None:
        if self.quiet and not force:
            return

        def say() -> None:
            self._clear()
            print(text, file=self.stream, flush=True)

        self._write(say)

    def _write(self, write: Callable[[], object]) -> None:
        """Write unless the terminal is gone: after a hang-up (SIGHUP, a dropped SSH session) a
        write fails with EIO, and the capture must still finalize — it goes on silently."""
        if self.gone:
            return
        try:
            write()
        except OSError:
            self.gone = True

    def _clear(self) -> None:
        if self.tty and self.drawn:
            self.stream.write(f"\x1b[{self.drawn}F\x1b[J")
            self.drawn = 0

    def show(self, streams: dict[str, MonitorStream], final: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if not self.tty and not final and now - self.last_print < self.every:
            return
        self.last_print = now
        lines = []
        for node, s in streams.items():
            t0, l0 = self.last.get(node, (now, s.lines))
            rate = (s.lines - l0) / (now - t0) if now > t0 else 0.0
            self.last[node] = (now, s.lines)
            state = s.stop_reason or ("running" if s.connected else "reconnecting")
            if s.finished.is_set():
                state = "stopped: " + (s.stop_reason or "error")
            lines.append(
                f"  {s.node.shard} {s.node.role:<8} {node:<24} {s.lines:>12,} lines "
                f"{s.bytes_received / 1e6:>9.1f} MB {rate:>9,.0f} lines/s "
                f"omem {s.omem / 1e6:.1f} MB  {state}"
            )

        def draw() -> None:
            self._clear()
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()
            self.drawn = len(lines) if self.tty and not final else 0

        self._write(draw)
