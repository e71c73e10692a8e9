"""Capture against real servers under load: nothing lost, bytes accounted for, files as promised."""

from __future__ import annotations

import gzip
import json
import os
import stat
import time
from pathlib import Path

import pytest
import zstandard

from hotshard.analyze.measure import reconcile
from hotshard.capture.cli import run
from hotshard.capture.connect import ConnectOptions
from hotshard.capture.errors import ExitStatus
from hotshard.capture.format import manifest, resp
from hotshard.capture.format.counters import parse_info
from hotshard.capture.format.reader import MonitorFile
from hotshard.capture.session import CaptureOptions, run_capture
from hotshard.capture.stream import FrameWriter
from tests.capturing import (
    background_capture,
    benchmark,
    capture_options,
    command_counts,
    expected_lines,
    flushed,
    lines_of,
    monitored,
)
from tests.resp import RawConnection


def assert_nothing_lost(folder: Path, m: manifest.Manifest, min_lines: int) -> None:
    for node in monitored(m):
        lines = lines_of(folder, node)
        assert len(lines) == node.lines, node.node
        assert node.lines >= min_lines, node.node
        assert command_counts(lines) == expected_lines(folder, m, node), node.node
        assert node.stop_reason == "duration"
        assert node.bytes_written == (folder / node.file).stat().st_size


@pytest.mark.slow
def test_all_nodes_under_load_lose_nothing(engine_cluster, tmp_path):
    redis_cluster = engine_cluster
    seed = redis_cluster.seed
    options = capture_options(seed.address, tmp_path, nodes="all", sizes=False)
    # Replicas compare exactly with commandstats only when no PING can fall outside MONITOR.
    with redis_cluster.no_replication_pings(), background_capture(options) as bg:
        bg.wait_started(files=6)
        benchmark(
            seed.host, seed.port, n=20_000, tests="set,get,lpush,lpop,incr,hset", cluster=True
        )
        redis_cluster.wait_replicas_synced()  # replicas apply the last writes
        result = bg.stop()
    m = result.manifest
    assert m.status == "complete"
    assert len(monitored(m)) == 6
    assert {n.role for n in monitored(m)} == {"primary", "replica"}
    # each primary got about a third of 6 x 20,000 commands; its replica the writes
    assert_nothing_lost(result.folder, m, min_lines=10_000)
    assert manifest.read(result.folder).status == "complete"


@pytest.mark.slow
def test_primaries_only_and_reads_missed_by_replicas(redis_cluster, tmp_path):
    seed = redis_cluster.seed
    base = dict(endpoints=[seed.address], duration=120, sizes=False, quiet=True)
    with background_capture(
        CaptureOptions(out=str(tmp_path / "p"), nodes="primaries", **base)
    ) as bg:
        bg.wait_started(files=3)
        benchmark(seed.host, seed.port, n=10_000, tests="set,get", cluster=True)
        result = bg.stop()
    assert [n.role for n in monitored(result.manifest)] == ["primary"] * 3
    assert_nothing_lost(result.folder, result.manifest, min_lines=3_000)
    assert not result.manifest.warnings

    # Replicas only (the default): the GETs served by the primaries are reported as missed.
    with background_capture(CaptureOptions(out=str(tmp_path / "r"), **base)) as bg:
        bg.wait_started(files=3)
        benchmark(seed.host, seed.port, n=10_000, tests="get", cluster=True)
        result = bg.stop()
    m = result.manifest
    assert [n.role for n in monitored(m)] == ["replica"] * 3
    missed = [w for w in m.warnings if "reads" in w and "not monitored" in w]
    assert len(missed) == 3, m.warnings
    assert all("--use-primary" in w for w in missed)


def _client_list_calls(app: RawConnection) -> int:
    """CLIENT LIST calls the node counted so far, asked on the application's own connection (so
    the reply is application traffic, counted by `app.received`). Redis 6.2 counts CLIENT as one."""
    stats = parse_info(app.call("INFO", "commandstats").decode())["commandstats"]
    return int((stats.get("cmdstat_client|list") or stats["cmdstat_client"])["calls"])


def test_bytes_reconcile_to_the_byte(engine_node, tmp_path):
    """Δ total_net_output_bytes = MONITOR bytes + the tool's own replies + the app's replies."""
    redis_node = engine_node
    app = RawConnection(redis_node.host, redis_node.port)  # connected before INFO
    options = capture_options(
        redis_node.address, tmp_path, nodes="all", sizes=False, poll_seconds=0.1
    )
    with background_capture(options) as bg:
        bg.wait_started(files=1)
        values = [b"x" * i for i in range(200)]
        for i, v in enumerate(values):
            app.send("SET", f"k{i}", v)
        for i in range(len(values)):
            app.send("GET", f"k{i}")
        replies = [app.read_reply()[0] for _ in range(2 * len(values))]
        assert sum(replies) == 5 * len(values) + sum(resp.bulk(len(v)) for v in values)
        # Until the watchdog has polled CLIENT LIST twice more inside the window.
        calls, deadline = [_client_list_calls(app)], time.monotonic() + 60
        while calls[-1] < calls[0] + 2:
            assert time.monotonic() < deadline, f"no CLIENT LIST polls: {calls[0]} calls"
            time.sleep(0.02)
            calls.append(_client_list_calls(app))
        result = bg.stop()
    app.close()
    app_bytes = app.received
    node = monitored(result.manifest)[0]
    stats = lambda snap, k: snap.sections["stats"][k]  # noqa: E731
    out = stats(node.info_after, "total_net_output_bytes") - stats(
        node.info_before, "total_net_output_bytes"
    )
    # Redis 6.2 has no total_net_repl_output_bytes; with no replica there is none to subtract.
    assert ("total_net_repl_output_bytes" in node.info_after.sections["stats"]) == (
        redis_node.engine.at_least(7)
    )
    assert reconcile.measured_repl_bytes_out(node) == 0  # no replica here
    assert node.overhead_bytes_out > node.info_before.reply_bytes  # INFO + CLIENT LIST polls
    assert out - node.bytes_received - node.overhead_bytes_out == app_bytes
    assert reconcile.measured_bytes_out(node) == app_bytes
    assert node.lines == 2 * len(values) + len(calls)  # the app's INFO lines too


def test_cli_capture_writes_a_private_self_describing_folder(redis_node, tmp_path, capsys):
    out = tmp_path / "cap"
    status = run(
        [
            "capture",
            "--endpoints",
            redis_node.address,
            "-d",
            "1",
            "--out",
            str(out),
            "--no-sizes",
            "--quiet",
            "--nodes",
            "all",
        ]
    )
    printed = capsys.readouterr()
    assert status == ExitStatus.OK, printed.err
    assert f"capture folder: {out}" in printed.out
    m = manifest.read(out)
    assert m.status == "complete" and m.started_at and m.ended_at > m.started_at
    (node,) = monitored(m)
    assert node.file == f"0001-primary-127.0.0.1_{redis_node.port}.monitor.zst"
    assert node.info_before and node.info_after and node.server_version == "7.0.15"
    assert m.commands_file and json.loads((out / m.commands_file).read_text())
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert m.options["nodes"] == "all" and m.options["password"] is None


def test_gzip_and_a_password_that_is_never_written(tmp_path, tmp_path_factory, capsys, monkeypatch):
    from tests.servers import start_node

    secret = "s3cret pass"  # a space, so AUTH must be sent binary-safe
    quoted = {"requirepass": f'"{secret}"', "masterauth": f'"{secret}"'}
    node = start_node(tmp_path_factory.mktemp("pw"), password=secret, config=quoted)
    try:
        monkeypatch.setenv("HOTSHARD_PASSWORD", secret)
        out = tmp_path / "cap"
        with background_capture(
            CaptureOptions(
                endpoints=[node.address],
                out=str(out),
                compress="gzip",
                duration=120,
                sizes=False,
                connect=ConnectOptions(password=secret),
            )
        ) as bg:
            bg.wait_started(files=1)
            client = node.client()
            for i in range(100):
                client.set(f"k{i}", i)
            result = bg.stop()
        status = run(["endpoints", "--endpoints", node.address])
    finally:
        node.stop()
    assert status == ExitStatus.OK
    (n,) = monitored(result.manifest)
    assert n.file.endswith(".monitor.gz")
    data = gzip.decompress((out / n.file).read_bytes())
    assert data.count(b'"SET"') == 100
    assert result.manifest.options["password"] == "(given)"
    printed = capsys.readouterr()
    for path in out.iterdir():
        if not path.name.endswith(".gz"):
            assert secret not in path.read_text(), path
    assert secret not in printed.out + printed.err


def test_sigkill_leaves_files_readable_up_to_the_last_flush(redis_node, tmp_path):
    """A killed capture: every file is a valid zstd stream of whole MONITOR lines."""
    import subprocess
    import sys

    out = tmp_path / "cap"
    code = "from hotshard.capture.cli import main; main()"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "capture",
            "--endpoints",
            redis_node.address,
            "-d",
            "300",
            "--out",
            str(out),
            "--no-sizes",
            "--quiet",
            "--nodes",
            "all",
        ],
        cwd=Path(__file__).parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    written = 0
    try:
        client = redis_node.client()
        deadline = time.monotonic() + 60
        while not list(out.glob("*.monitor.zst")) and time.monotonic() < deadline:
            time.sleep(0.1)
        (path,) = out.glob("*.monitor.zst")
        for _ in range(2):  # two batches, each waited for: the file holds several frames
            for i in range(written, written + 1000):
                client.set(f"key:{i}", "v" * (i % 50))
            written += 1000
            last = b'"SET" "key:%d"' % (written - 1)
            while last not in flushed(path):  # a frame every 2 s
                assert time.monotonic() < deadline, "the capture flushed nothing"
                time.sleep(0.1)
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert subprocess.run(["zstd", "-tq", str(path)]).returncode == 0
    file = MonitorFile(path)
    lines = list(file.lines())
    assert (file.partial, file.truncated, file.damaged) == (None, False, False), file.notes
    assert len(lines) > i // 4, (len(lines), i)
    assert all(line.startswith(b"+") for line in lines)
    sets = [line for line in lines if b'"SET" "key:' in line]
    assert len(sets) == written  # every write flushed before the kill, once
    assert manifest.read(out).status == "running"  # never finished, but still readable
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_run_capture_returns_the_result(redis_node, tmp_path):
    result = run_capture(
        CaptureOptions(
            endpoints=[redis_node.address],
            out=str(tmp_path / "c"),
            duration=0.5,
            sizes=False,
            quiet=True,
        ),
        ask_password=None,
    )
    result.raise_for_status()
    assert result.manifest.status == "complete"
    assert result.folder == tmp_path / "c"


def test_zstd_frames_carry_a_checksum(tmp_path):
    """So the analyzer can tell a frame damaged later from text, and skip only that frame."""
    writer = FrameWriter(tmp_path / "f.monitor.zst")
    writer.write(b'1.0 [0 1.2.3.4:5] "PING"\r\n' * 100)
    writer.write(b'2.0 [0 1.2.3.4:5] "PING"\r\n')
    writer.close()
    data = (tmp_path / "f.monitor.zst").read_bytes()
    assert zstandard.get_frame_parameters(data).has_checksum
    assert zstandard.ZstdDecompressor().decompressobj().decompress(data).count(b"PING") == 100
