"""A full disk stops the capture at once, keeps what was written, and says so in one line."""

from __future__ import annotations

import contextlib
import errno
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotshard.capture import disk
from hotshard.capture.cli import run
from hotshard.capture.errors import DiskWriteFailed, ExitStatus
from hotshard.capture.format import manifest
from tests.capturing import REDIS_BENCHMARK, lines_of, monitored


@contextlib.contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A small RAM disk mounted at `folder` (needs root, or CAP_SYS_ADMIN)."""
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill ({done.stderr.strip() or 'mount failed'})")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def errors_only(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if not ln.startswith("hotshard: warning:")]


def test_a_full_disk_stops_at_once_keeps_every_frame_and_says_how_much_was_needed(
    redis_node, tmp_path, capsys
):
    with tmpfs(tmp_path / "disk", "2m") as small:
        out = small / "cap"
        load: list[subprocess.Popen] = []

        def traffic() -> None:  # bounded: at most this many commands, loopback only
            deadline = time.monotonic() + 30
            while not list(out.glob("*.monitor*")) and time.monotonic() < deadline:
                time.sleep(0.05)
            target = ["-h", "127.0.0.1", "-p", str(redis_node.port)]
            bounded = ["-n", "2000000", "-t", "set", "-r", "100000", "-d", "64", "-q"]
            load.append(
                subprocess.Popen(
                    [REDIS_BENCHMARK, *target, "-c", "10", "-P", "16", *bounded],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

        side = threading.Thread(target=traffic, daemon=True)
        side.start()
        try:
            args = ["--endpoints", redis_node.address, "-d", "120", "--out", str(out)]
            status = run(["capture", *args, "--no-sizes", "--quiet"])
        finally:
            side.join(30)
            for p in load:
                p.kill()
                p.wait(10)
        err = capsys.readouterr().err
        assert "Traceback" not in err
        (line,) = errors_only(err)
        assert status == ExitStatus.ERROR, err
        assert line.startswith("hotshard: the disk is full writing "), line
        assert "the whole -d 120 s needs about" in line and "--out on a bigger disk" in line
        m = manifest.read(out)
        (n,) = monitored(m)
        assert m.status == "partial" and m.ended_at
        assert n.stop_reason == "disk_full"
        assert any(w.startswith("the disk is full") for w in m.warnings)
        assert any("buffered lines not written" in e for e in n.errors)
        assert not n.gaps  # a full disk is not a lost connection: no reconnect
        # every frame on disk is complete and holds whole lines, as many as the manifest says
        assert n.bytes_written == (out / n.file).stat().st_size > 0
        assert len(lines_of(out, n)) == n.lines > 0
        assert not (out / disk.RESERVE_NAME).exists()
    clients = redis_node.client().client_list()
    assert not [c for c in clients if "O" in c["flags"]]  # the server let the stream go


def test_too_little_space_to_start_is_one_line(redis_node, tmp_path, capsys):
    with tmpfs(tmp_path / "disk", "64k") as tiny:
        args = ["--endpoints", redis_node.address, "-d", "5", "--out", str(tiny / "c")]
        status = run(["capture", *args, "--no-sizes", "--quiet"])
    err = capsys.readouterr().err
    (line,) = errors_only(err)
    assert status == ExitStatus.ERROR
    assert "not enough free space to start a capture" in line and "--out" in line


def test_an_io_error_says_check_the_disk(tmp_path):
    failure = disk.write_failed(tmp_path / "f", OSError(errno.EIO, "Input/output error"))
    text = disk.stopped_message(tmp_path, failure, written=10**6, elapsed=1.0, duration=60)
    assert text.startswith(f"the disk failed writing {tmp_path / 'f'} (Input/output error)")
    assert "check the disk" in text and disk.stop_reason(failure) == "disk_error"
    quota = disk.write_failed(tmp_path / "f", OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert isinstance(quota, DiskWriteFailed) and disk.stop_reason(quota) == "disk_full"
    assert "about 59.0 MB more" in disk.stopped_message(
        tmp_path, quota, written=10**6, elapsed=1.0, duration=60
    )
