"""Helpers for capture tests: run a capture in the background, load traffic, read files back."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotshard.capture.format import lines, manifest
from hotshard.capture.format.manifest import Manifest, NodeCapture
from hotshard.capture.format.reader import MonitorFile
from hotshard.capture.session import CaptureOptions, CaptureResult, run_capture

REDIS_BENCHMARK = shutil.which("redis-benchmark") or "/usr/bin/redis-benchmark"
ROOT = Path(__file__).parents[1]


def capture_process(*args: str, **popen: Any) -> subprocess.Popen:
    """`hotshard capture ARGS` as a real process of its own (signals reach only it), its output
    piped as text unless `popen` says otherwise."""
    options = {"cwd": ROOT, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    main = "from hotshard.capture.cli import main; main()"
    return subprocess.Popen([sys.executable, "-c", main, "capture", *args], **(options | popen))


def wait_for_files(folder: Path, count: int, timeout: float = 30) -> None:
    """Until `count` MONITOR files exist in `folder` (the capture has started streaming)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if folder.exists() and len(list(folder.glob("*.monitor*"))) >= count:
            return
        time.sleep(0.05)
    raise AssertionError("monitor files did not appear")


@dataclass
class Background:
    """A capture running in a thread; `stop()` ends its window, `result` is set afterwards."""

    options: CaptureOptions
    stop_event: threading.Event = field(default_factory=threading.Event)
    result: CaptureResult | None = None
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def wait_started(self, files: int, timeout: float = 30) -> None:
        """Until `files` monitor files exist (each is created when its MONITOR is on)."""
        folder = Path(self.options.out)
        deadline = threading.Event()
        for _ in range(int(timeout / 0.05)):
            if self.error or (self.thread and not self.thread.is_alive()):
                break
            if folder.exists() and len(list(folder.glob("*.monitor*"))) >= files:
                m = manifest.read(folder)
                if m.started_at:
                    return
            deadline.wait(0.05)
        raise AssertionError(f"capture did not start: {self.error!r}")

    def stop(self, timeout: float = 60) -> CaptureResult:
        self.stop_event.set()
        assert self.thread is not None
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "capture did not stop"
        if self.error:
            raise self.error
        assert self.result is not None
        return self.result


@contextlib.contextmanager
def background_capture(options: CaptureOptions, stderr=None) -> Iterator[Background]:
    bg = Background(options)

    def target() -> None:
        try:
            bg.result = run_capture(options, stderr=stderr, ask_password=None, stop=bg.stop_event)
        except BaseException as exc:
            bg.error = exc

    bg.thread = threading.Thread(target=target, daemon=True)
    bg.thread.start()
    try:
        yield bg
    finally:
        bg.stop_event.set()
        bg.thread.join(60)


def benchmark(
    host: str, port: int, *, n: int, tests: str, cluster: bool = False, password: str | None = None
) -> None:
    """redis-benchmark, pipelined, bounded: -c 10 -P 16 -n N."""
    cmd = [REDIS_BENCHMARK, "-h", host, "-p", str(port), "-c", "10", "-n", str(n), "-P", "16"]
    cmd += ["-t", tests, "-q", "-r", "1000"]
    if cluster:
        cmd.append("--cluster")
    if password:
        cmd += ["-a", password]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def lines_of(folder: Path, node: NodeCapture) -> list[bytes]:
    """Every line of a node's capture file, which must end whole (the capture ended it)."""
    file = MonitorFile(Path(folder) / node.file)
    got = list(file.lines())
    assert (file.partial, file.truncated, file.damaged) == (None, False, False), file.notes
    return got


def flushed(path: Path) -> bytes:
    """The whole lines a running capture's file holds so far (the frame being written is not
    readable yet)."""
    return b"".join(MonitorFile(path).blocks()) if path.exists() else b""


def command_counts(monitor_lines: list[bytes]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in monitor_lines:
        parsed = lines.split(line)
        assert parsed is not None and line.startswith(b"+"), f"not a MONITOR line: {line[:120]!r}"
        counts[parsed.args[0].decode().lower()] += 1
    return counts


# Run by the capture itself on each monitored node between the INFO snapshots, but outside the
# MONITOR window: the "before" INFO, the monitor connection's handshake, its closing RESET.
OWN_COMMANDS = Counter({"info": 1, "client|setname": 1, "client|id": 1, "reset": 1})


def not_monitored(folder: Path, m: manifest.Manifest) -> set[str]:
    """Commands MONITOR never shows (flagged admin, or skip_monitor), from the saved COMMAND."""
    out = set()
    stack = list(manifest.read_commands(folder, m) or [])
    while stack:
        entry = stack.pop()
        if {"admin", "skip_monitor"} & set(entry[2]):
            out.add(entry[0])
        if len(entry) >= 10:
            stack += entry[9]
    return out


def expected_lines(folder: Path, m: manifest.Manifest, node: manifest.NodeCapture) -> Counter:
    """Per command: what the node ran in the window (commandstats) that MONITOR shows."""
    hidden = not_monitored(folder, m)
    expected: Counter[str] = Counter()
    for name, calls in (calls_delta(node) - OWN_COMMANDS).items():
        if name not in hidden:
            expected[name.split("|")[0]] += calls
    return expected


def calls_delta(node: NodeCapture) -> Counter[str]:
    from hotshard.capture.format.counters import calls_delta as delta

    return Counter(delta(node.info_before, node.info_after))


def monitored(m: Manifest) -> list[NodeCapture]:
    return [n for n in m.nodes if n.monitored]


def capture_options(endpoint: str, tmp_path: Path, **options: Any) -> CaptureOptions:
    """The options of a test capture of `endpoint` into `tmp_path/cap`: quiet, and a duration
    long enough that the test stops it (`options` add to or override these)."""
    defaults: dict[str, Any] = {"duration": 120, "quiet": True}
    return CaptureOptions(endpoints=[endpoint], out=str(tmp_path / "cap"), **(defaults | options))
