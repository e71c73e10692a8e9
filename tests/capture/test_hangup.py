"""The SSH session to the bastion drops: the capture gets SIGHUP and its terminal is gone (every
write to it fails with EIO). It must finalize like on Ctrl-C: files closed, manifest complete
with its end, the disk reserve removed, exit 130. A real capture of a real server, on a real
pseudo-terminal whose master side is closed before the hang-up."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
from pathlib import Path

from hotshard.capture.errors import ExitStatus
from hotshard.capture.format import manifest
from tests.capturing import command_counts, lines_of, monitored, wait_for_files


def test_a_hang_up_finalizes_the_capture_even_with_the_terminal_gone(redis_node, tmp_path):
    out = tmp_path / "cap"
    master, slave = pty.openpty()
    argv = ["capture", "--endpoints", redis_node.address, "-d", "300", "--out", str(out)]
    argv += ["--no-sizes"]  # not --quiet: the status line writes to the terminal
    proc = subprocess.Popen(
        [sys.executable, "-c", "from hotshard.capture.cli import main; main()", *argv],
        cwd=Path(__file__).parents[2],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    try:
        wait_for_files(out, 1)
        client = redis_node.client()
        for i in range(500):
            client.set(f"h{i}", i)
        os.close(master)  # the terminal is gone: writes to it now fail with EIO
        master = -1
        proc.send_signal(signal.SIGHUP)
        proc.wait(timeout=60)
    finally:
        if master >= 0:
            os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == ExitStatus.INTERRUPTED
    m = manifest.read(out)
    (n,) = monitored(m)
    assert m.status == "interrupted" and m.ended_at is not None
    assert n.stop_reason == "interrupted"
    assert command_counts(lines_of(out, n))["set"] == 500
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no reserve left
