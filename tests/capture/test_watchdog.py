"""The output-buffer watchdog holds while the capture process is frozen, and never outlives it."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from hotshard.capture.errors import ExitStatus
from hotshard.capture.format import manifest
from hotshard.capture.signals import SUSPEND_REFUSED
from tests.capturing import REDIS_BENCHMARK, capture_process, command_counts, lines_of, monitored
from tests.servers import make_tls_files, start_node

ROOT = Path(__file__).parents[2]


def start_capture(node, out: Path, *extra: str, env=None) -> subprocess.Popen[str]:
    """`hotshard capture` as a real process of its own (signals reach only it)."""
    args = ["--endpoints", node.address, "-d", "300", "--out", str(out), "--no-sizes", "--quiet"]
    return capture_process(*args, *extra, env=env)


def wait_until(condition, what: str, timeout: float = 60, proc=None):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"capture exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def started(out: Path) -> bool:
    return (out / "manifest.json").exists() and manifest.read(out).started_at is not None


def monitors(node) -> list[dict]:
    return [c for c in node.client().client_list() if "O" in c["flags"]]


def state(pid: int) -> str | None:
    """The process state letter (R, S, T stopped, Z zombie), None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def watchdog_of(pid: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if (
            int(stat.rsplit(")", 1)[1].split()[1]) == pid
            and b"hotshard.capture.watchdog" in cmdline
        ):
            return int(entry.name)
    return None


@dataclass
class Target:
    """A node to capture, how the test itself reaches it, and how the load and capture do."""

    node: object
    client: Callable[[], redis.Redis]
    capture_args: list[str] = field(default_factory=list)
    load_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))


@pytest.fixture(params=["plain", "tls+auth"])
def target(request, tmp_path_factory) -> Iterator[Target]:
    """A plain node, or a TLS-only node with a password: the watchdog uses the same settings."""
    folder = tmp_path_factory.mktemp("frozen")
    if request.param == "plain":
        node = start_node(folder)
        yield Target(node, node.client)
    else:
        secret = "frozen-tls-secret"
        files = make_tls_files(folder / "certs")
        node = start_node(folder, tls_files=files, password=secret)
        ca = files["ca"]
        tls = {"ssl": True, "ssl_ca_certs": ca, "ssl_cert_reqs": ssl.CERT_REQUIRED}
        yield Target(
            node,
            lambda: node.client(**tls),
            capture_args=["--tls", "on", "--tls-ca", ca],
            load_args=["--tls", "--cacert", ca, "-a", secret],
            env={**os.environ, "HOTSHARD_PASSWORD": secret},
        )
    node.stop()


def test_a_frozen_capture_is_cut_by_the_watchdog_then_finishes(target, tmp_path):
    node, limit, out = target.node, 4_000_000, tmp_path / "cap"

    def monitor_ids() -> set[int]:
        return {c["id"] for c in target.client().client_list() if "O" in c["flags"]}

    proc = start_capture(node, out, "--max-omem", "4MB", *target.capture_args, env=target.env)
    load = None
    try:
        wait_until(lambda: started(out), "MONITOR", proc=proc)
        (mon,) = monitor_ids()
        where = ["-h", "127.0.0.1", "-p", str(node.port), *target.load_args]  # loopback only
        bounded = ["-n", "5000000", "-t", "set", "-d", "100", "-q"]  # at most this many commands
        load = subprocess.Popen(
            [REDIS_BENCHMARK, *where, "-c", "10", "-P", "16", *bounded],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processed = lambda: target.client().info("stats")["total_commands_processed"]  # noqa: E731
        wait_until(lambda: processed() > 10_000, "the load to start")
        os.kill(proc.pid, signal.SIGSTOP)
        wait_until(lambda: state(proc.pid) == "T", "the capture to stop")
        wait_until(lambda: mon not in monitor_ids(), "the watchdog to cut the monitor connection")
        assert state(proc.pid) == "T"  # the capture never ran meanwhile: the watchdog did it
        load.kill()
        load.wait(10)
        os.kill(proc.pid, signal.SIGCONT)
        _, err = proc.communicate(timeout=60)
    finally:
        if load is not None and load.poll() is None:
            load.kill()
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
    assert proc.returncode == ExitStatus.PARTIAL, err
    assert "Traceback" not in err
    assert "the watchdog cut this node" in err and f"{node.address} (shard 0001)" in err
    m = manifest.read(out)
    (n,) = monitored(m)
    assert m.status == "partial" and m.ended_at
    assert n.stop_reason == "output_buffer" and n.max_omem > limit
    assert any("watchdog" in e for e in n.errors + m.warnings)
    assert not n.gaps  # a cut connection is not reconnected
    assert len(lines_of(out, n)) == n.lines > 0  # what was read is kept, in whole lines
    assert not monitor_ids()


def test_the_watchdog_never_outlives_the_capture_and_gets_no_secret(tmp_path_factory, tmp_path):
    secret = "watchdog-secret-pw"
    node = start_node(tmp_path_factory.mktemp("wd"), password=secret)
    pw = tmp_path / "pw"
    pw.write_text(secret + "\n")
    out = tmp_path / "cap"
    proc = start_capture(node, out, "--password-file", str(pw))
    try:
        wait_until(lambda: started(out), "MONITOR", proc=proc)
        dog = wait_until(lambda: watchdog_of(proc.pid), "the watchdog process")
        assert os.getsid(dog) != os.getsid(proc.pid)  # outside the terminal's session
        assert secret.encode() not in Path(f"/proc/{dog}/cmdline").read_bytes()
        assert secret.encode() not in Path(f"/proc/{dog}/environ").read_bytes()
        proc.kill()
        proc.wait(10)
        wait_until(lambda: state(dog) in (None, "Z"), "the watchdog to exit with its capture")
    finally:
        if proc.poll() is None:
            proc.kill()
        node.stop()


def test_ctrl_z_is_refused_with_one_line_and_the_capture_goes_on(redis_node, tmp_path):
    out = tmp_path / "cap"
    proc = start_capture(redis_node, out)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        wait_until(lambda: started(out), "MONITOR", proc=proc)
        proc.send_signal(signal.SIGTSTP)
        wait_until(lambda: any("not suspending" in ln for ln in lines), "the refusal", proc=proc)
        assert state(proc.pid) not in ("T", None)
        client = redis_node.client()
        for i in range(500):
            client.set(f"z{i}", i)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        reader.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    refusals = [ln for ln in lines if "not suspending" in ln]
    assert refusals == [f"hotshard: {SUSPEND_REFUSED}\n"]
    assert proc.returncode == ExitStatus.INTERRUPTED, "".join(lines)
    m = manifest.read(out)
    (n,) = monitored(m)
    assert m.status == "interrupted"
    assert command_counts(lines_of(out, n))["set"] == 500


def test_a_capture_whose_watchdog_dies_ends_rather_than_run_unguarded(redis_node, tmp_path):
    out = tmp_path / "cap"
    proc = start_capture(redis_node, out)
    try:
        wait_until(lambda: started(out), "MONITOR", proc=proc)
        dog = wait_until(lambda: watchdog_of(proc.pid), "the watchdog process")
        os.kill(dog, signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == ExitStatus.ERROR, err
    errors = [ln for ln in err.splitlines() if not ln.startswith("hotshard: warning:")]
    assert len(errors) == 1 and errors[0].startswith("hotshard: the output-buffer watchdog stopped")
    m = manifest.read(out)
    (n,) = monitored(m)
    assert m.status == "partial" and n.stop_reason == "watchdog_lost"
    assert not monitors(redis_node)


def test_a_capture_folder_in_the_working_directory_does_not_shadow_the_watchdog(
    redis_node, tmp_path
):
    """`python -m hotshard.capture.watchdog` would import a ./hotshard/ package (or ./capture/)
    first; the watchdog runs with -P."""
    for name in ("hotshard", "capture"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise ImportError('not hotshard')\n")
    hotshard = Path(sys.executable).parent / "hotshard"
    args = ["--endpoints", redis_node.address, "-d", "0.5", "--out", "cap", "--no-sizes"]
    done = subprocess.run(
        [str(hotshard), "capture", *args, "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == ExitStatus.OK, done.stderr
    assert manifest.read(tmp_path / "cap").status == "complete"
