"""The capture never hurts the server and never loses what it got: drops, kills, limits, auth, TLS."""

from __future__ import annotations

import ssl
import subprocess
import threading
import time
from dataclasses import replace

import pytest
import redis

from hotshard.capture.cli import run
from hotshard.capture.errors import CaptureIncomplete, ExitStatus
from hotshard.capture.format import manifest
from hotshard.capture.session import CaptureOptions
from tests.capturing import (
    REDIS_BENCHMARK,
    background_capture,
    capture_options,
    capture_process,
    command_counts,
    expected_lines,
    flushed,
    lines_of,
    monitored,
    wait_for_files,
)
from tests.servers import ACL_USERS, start_node


def keep_writing(
    client: redis.Redis, stop: threading.Event, done: list[int] | None = None
) -> threading.Thread:
    """SETs until `stop`; `done[0]` counts the ones that succeeded."""
    done = done if done is not None else [0]

    def target() -> None:
        i = 0
        while not stop.is_set():
            try:
                client.set(f"w:{i}", i)
                done[0] += 1
            except redis.RedisError:
                time.sleep(0.05)
            i += 1

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def monitors(node) -> list[str]:
    """The node's MONITOR connections (flag O in CLIENT LIST)."""
    return [c for c in node.client().client_list() if "O" in c["flags"]]


def wait_until(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_node_killed_mid_capture_is_partial_and_the_others_complete(replica_pair, tmp_path, capsys):
    primary, replica = replica_pair
    out = tmp_path / "cap"
    stop = threading.Event()

    timeline = []

    def traffic_then_kill() -> None:  # inside the 10 s window, so commandstats match
        wait_for_files(out, 2)
        timeline.append(("started", time.time()))
        done = [0]
        writer = keep_writing(primary.client(), stop, done)
        # The replica's file holds lines (a frame every 2 s) before it dies, and the primary
        # takes writes after it did.
        (replica_file,) = out.glob(f"*_{replica.port}.monitor*")
        wait_until(lambda: b'"set"' in flushed(replica_file).lower(), "the replica's lines")
        replica.kill()
        timeline.append(("killed", time.time()))
        after_kill = done[0]
        wait_until(lambda: done[0] >= after_kill + 100, "writes after the kill")
        stop.set()
        writer.join(5)
        timeline.append(("stopped", time.time()))

    side = threading.Thread(target=traffic_then_kill, daemon=True)
    side.start()
    try:
        status = run(
            [
                "capture",
                "--endpoints",
                replica.address,
                "--nodes",
                "all",
                "-d",
                "10",
                "--out",
                str(out),
                "--no-sizes",
                "--quiet",
            ]
        )
    finally:
        stop.set()
        side.join(10)
    err = capsys.readouterr().err
    assert status == ExitStatus.PARTIAL, err
    assert f"{replica.address} (shard 0001): error" in err
    m = manifest.read(out)
    assert m.status == "partial"
    by_role = {n.role: n for n in monitored(m)}
    dead, alive = by_role["replica"], by_role["primary"]
    assert dead.stop_reason == "error" and dead.gaps and dead.gaps[0].end >= dead.gaps[0].start
    assert dead.lines > 0 and len(lines_of(out, dead)) == dead.lines  # whole lines, up to the kill
    assert alive.stop_reason == "duration"
    lines = lines_of(out, alive)
    assert len(lines) == alive.lines > 100
    assert command_counts(lines) == expected_lines(out, m, alive)


def test_node_restarted_mid_capture_reconnects_and_records_the_gap(tmp_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp("restart")
    node = start_node(folder)
    try:
        options = capture_options(node.address, tmp_path, sizes=False)
        with background_capture(options) as bg:
            bg.wait_started(files=1)
            node.client().set("before", 1)
            node.kill()
            node = start_node(folder, port=node.port)
            wait_until(lambda: monitors(node), "the capture's MONITOR on the restarted node")
            # MONITOR gets the line before the client its reply: stop's RESET comes after it.
            node.client().set("after", 1)
            result = bg.stop()
    finally:
        node.stop()
    m = result.manifest
    (n,) = monitored(m)
    assert m.status == "complete", m.warnings
    assert len(n.gaps) == 1 and n.gaps[0].end > n.gaps[0].start
    assert any("not monitored for" in w for w in m.warnings)
    data = b"\n".join(lines_of(result.folder, n))
    assert b'"set" "before"' in data.lower() and b'"set" "after"' in data.lower()


def test_output_buffer_guard_stops_a_reader_that_falls_behind(redis_node, tmp_path):
    limit = 256 << 10
    options = CaptureOptions(
        endpoints=[redis_node.address],
        out=str(tmp_path / "cap"),
        duration=120,
        sizes=False,
        quiet=True,
        max_omem=limit,
        poll_seconds=0.2,
        read_throttle=(4096, 0.02),  # ~200 KB/s: far slower than the traffic below
    )
    load = None
    try:
        with background_capture(options) as bg:
            bg.wait_started(files=1)
            load = subprocess.Popen(
                [
                    REDIS_BENCHMARK,
                    "-p",
                    str(redis_node.port),
                    "-c",
                    "10",
                    "-P",
                    "16",
                    "-n",
                    "2000000",
                    "-t",
                    "set",
                    "-d",
                    "200",
                    "-q",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            bg.thread.join(60)  # the guard ends the only stream, which ends the window
            result = bg.stop()
    finally:
        if load is not None:
            load.kill()
            load.wait(10)
    m = result.manifest
    (n,) = monitored(m)
    assert n.stop_reason == "output_buffer"
    assert n.max_omem > limit
    assert m.status == "partial"
    assert any("--max-omem" in w for w in m.warnings)
    assert not monitors(redis_node)  # the server let it go
    with pytest.raises(CaptureIncomplete) as info:
        result.raise_for_status()
    assert info.value.exit_status == ExitStatus.PARTIAL


def test_max_bytes_stops_that_node_cleanly(redis_node, tmp_path):
    cap = 100_000
    options = capture_options(redis_node.address, tmp_path, sizes=False, max_bytes=cap)
    with background_capture(options) as bg:
        bg.wait_started(files=1)
        subprocess.run(
            [
                REDIS_BENCHMARK,
                "-p",
                str(redis_node.port),
                "-n",
                "20000",
                "-P",
                "16",
                "-t",
                "set",
                "-q",
            ],
            capture_output=True,
            timeout=60,
        )
        bg.thread.join(30)
        result = bg.stop()
    (n,) = monitored(result.manifest)
    assert n.stop_reason == "max_bytes"
    assert cap <= n.bytes_received < cap + (4 << 20)
    assert len(lines_of(result.folder, n)) == n.lines
    assert result.manifest.status == "complete"


# -- auth --------------------------------------------------------------------------------------
def capture_cli(node, tmp_path, *extra: str) -> list[str]:
    return [
        "capture",
        "--endpoints",
        node.address,
        "-d",
        "0.5",
        "--out",
        str(tmp_path / "cap"),
        "--no-sizes",
        "--quiet",
        *extra,
    ]


def test_acl_user_and_password_from_the_environment(acl_node, tmp_path, capsys, monkeypatch):
    password = ACL_USERS["app"][0]
    monkeypatch.setenv("HOTSHARD_PASSWORD", password)
    status = run(capture_cli(acl_node, tmp_path, "--user", "app"))
    printed = capsys.readouterr()
    assert status == ExitStatus.OK, printed.err
    m = manifest.read(tmp_path / "cap")
    assert m.options["user"] == "app" and m.options["password"] == "(given)"
    assert password not in (tmp_path / "cap" / "manifest.json").read_text()
    assert password not in printed.out + printed.err


def test_password_file_and_the_predecessors_flag(acl_node, tmp_path, capsys):
    secret = tmp_path / "pw"
    secret.write_text(ACL_USERS["app"][0] + "\n")
    assert (
        run(
            [
                "endpoints",
                "--endpoints",
                acl_node.address,
                "--user",
                "app",
                "--password-file",
                str(secret),
            ]
        )
        == ExitStatus.OK
    )
    assert (
        run(
            [
                "endpoints",
                "--endpoints",
                acl_node.address,
                "--user",
                "app",
                "-p",
                ACL_USERS["app"][0],
            ]
        )
        == ExitStatus.OK
    )
    assert "leaks into shell history" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), "NOAUTH — pass the password with HOTSHARD_PASSWORD or --password-file"),
        (("--user", "app", "-p", "wrong"), "WRONGPASS — user 'app' was rejected"),
        (("--user", "reader", "-p", ACL_USERS["reader"][0]), "NOPERM"),
    ],
)
def test_auth_failures_name_the_node_and_the_fix(acl_node, tmp_path, capsys, args, expected):
    status = run(capture_cli(acl_node, tmp_path, *args))
    err = capsys.readouterr().err
    assert status == ExitStatus.ERROR
    assert f"hotshard: node {acl_node.address}" in err
    assert expected in err
    errors = [ln for ln in err.splitlines() if not ln.startswith("hotshard: warning:")]
    assert len(errors) == 1, err  # one readable message, no traceback


def test_a_user_without_client_kill_is_told_and_a_slow_reader_still_stops(acl_node, tmp_path):
    """The watchdog may not cut: it warns at start, and a running capture stops itself."""
    from hotshard.capture.connect import ConnectOptions

    limit = 256 << 10
    options = CaptureOptions(
        endpoints=[acl_node.address],
        out=str(tmp_path / "cap"),
        duration=120,
        sizes=False,
        quiet=True,
        max_omem=limit,
        read_throttle=(4096, 0.02),  # ~200 KB/s: far slower than the traffic below
        connect=ConnectOptions(user="nokill", password=ACL_USERS["nokill"][0]),
    )
    load = None
    try:
        with background_capture(options) as bg:
            bg.wait_started(files=1)
            where = ["-h", "127.0.0.1", "-p", str(acl_node.port)]
            app = ["--user", "app", "-a", ACL_USERS["app"][0]]
            bounded = ["-n", "2000000", "-t", "set", "-d", "200", "-q"]
            load = subprocess.Popen(
                [REDIS_BENCHMARK, *where, *app, "-c", "10", "-P", "16", *bounded],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            bg.thread.join(60)  # the only stream stops, which ends the window
            result = bg.stop()
    finally:
        if load is not None:
            load.kill()
            load.wait(10)
    m = result.manifest
    (n,) = monitored(m)
    assert any("may not run CLIENT KILL (add +client|kill)" in w for w in m.warnings)
    assert n.stop_reason == "output_buffer" and n.max_omem > limit
    assert not [c for c in acl_node.client().client_list() if "O" in c["flags"]]


def test_a_user_without_client_list_is_told_the_buffer_is_not_watched(acl_node, tmp_path):
    import io

    from hotshard.capture.connect import ConnectOptions

    options = capture_options(
        acl_node.address,
        tmp_path,
        sizes=False,
        poll_seconds=0.1,
        connect=ConnectOptions(user="nolist", password=ACL_USERS["nolist"][0]),
    )
    err = io.StringIO()
    with background_capture(options, stderr=err) as bg:
        bg.wait_started(files=1)
        deadline = time.monotonic() + 30
        while "CLIENT LIST failed" not in err.getvalue():
            assert time.monotonic() < deadline, err.getvalue()
            time.sleep(0.05)
        result = bg.stop()
    (warning,) = [w for w in result.manifest.warnings if "CLIENT LIST failed" in w]
    assert "its output buffer is not watched (the ACL user needs +client|list)" in warning
    assert err.getvalue().count("CLIENT LIST failed") == 1  # said once, not every poll


# -- TLS ---------------------------------------------------------------------------------------
def test_tls_verified_with_a_ca_bundle(tls_node, tmp_path, capsys):
    ca = tls_node.extra["tls"]["ca"]
    status = run(capture_cli(tls_node, tmp_path, "--tls-ca", ca))  # --tls auto finds TLS
    assert status == ExitStatus.OK, capsys.readouterr().err
    assert manifest.read(tmp_path / "cap").options["tls"] == "auto"
    assert (
        run(["endpoints", "--endpoints", tls_node.address, "--tls", "on", "--tls-ca", ca, "--json"])
        == ExitStatus.OK
    )
    assert '"tls": true' in capsys.readouterr().out


def test_tls_certificate_checked_by_default(tls_node, tmp_path, capsys):
    status = run(capture_cli(tls_node, tmp_path, "--tls", "on"))
    err = capsys.readouterr().err
    assert status == ExitStatus.ERROR
    assert "TLS certificate not trusted" in err and "--tls-ca" in err


def test_tls_insecure_skips_the_check_and_says_so_once(tls_node, tmp_path, capsys):
    assert run(capture_cli(tls_node, tmp_path, "--tls-insecure")) == ExitStatus.OK
    err = capsys.readouterr().err
    assert err.count("certificates are not verified") == 1, err
    assert run(["endpoints", "--endpoints", tls_node.address, "--tls-insecure"]) == ExitStatus.OK
    assert capsys.readouterr().err.count("certificates are not verified") == 1


def test_plain_text_to_a_tls_node_says_so(tls_node, tmp_path, capsys):
    status = run(capture_cli(tls_node, tmp_path, "--tls", "off"))
    err = capsys.readouterr().err
    assert status == ExitStatus.ERROR
    assert "try --tls on" in err


def test_tls_capture_content(tls_node, tmp_path):

    ca = tls_node.extra["tls"]["ca"]
    from hotshard.capture.connect import ConnectOptions

    options = capture_options(
        tls_node.address, tmp_path, sizes=False, connect=ConnectOptions(tls="on", tls_ca=ca)
    )
    with background_capture(options) as bg:
        bg.wait_started(files=1)
        client = redis.Redis(
            port=tls_node.port,
            ssl=True,
            ssl_ca_certs=ca,
            protocol=2,
            ssl_cert_reqs=ssl.CERT_REQUIRED,
        )
        for i in range(500):
            client.set(f"t{i}", i)
        result = bg.stop()
    (n,) = monitored(result.manifest)
    assert command_counts(lines_of(result.folder, n))["set"] == 500


def test_a_node_announced_by_ip_is_verified_against_the_name_we_came_through(tmp_path_factory):
    """ElastiCache announces IPs, its certificate names the cluster's domain: check that name."""
    from hotshard.capture.connect import ConnectOptions, open_socket
    from hotshard.capture.errors import TLSError
    from hotshard.capture.topology import discover
    from tests.servers import make_tls_files

    folder = tmp_path_factory.mktemp("tls-name")
    files = make_tls_files(folder / "certs", names=("localhost",))  # no IP in the certificate
    node = start_node(folder, tls_files=files)
    try:
        options = ConnectOptions(tls="on", tls_ca=files["ca"])
        with pytest.raises(ssl.SSLCertVerificationError):
            open_socket("127.0.0.1", node.port, options).close()
        open_socket("127.0.0.1", node.port, replace(options, tls_server_name="localhost")).close()
        # through a name, discovery remembers it for the IPs the engine announces
        assert discover([("localhost", node.port)], options).options.tls_server_name == "localhost"
        with pytest.raises(TLSError, match="certificate is not for this address"):
            discover([("127.0.0.1", node.port)], options)
    finally:
        node.stop()


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_stops_cleanly_and_keeps_everything(redis_node, tmp_path, sig):
    import signal

    out = tmp_path / "cap"
    args = ["--endpoints", redis_node.address, "-d", "300", "--out", str(out)]
    proc = capture_process(*args, "--no-sizes", "--quiet")
    try:
        wait_for_files(out, 1)
        client = redis_node.client()
        for i in range(2000):
            client.set(f"s{i}", i)
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == ExitStatus.INTERRUPTED, err
    assert "interrupted" in err
    m = manifest.read(out)
    (n,) = monitored(m)
    assert m.status == "interrupted" and n.stop_reason == "interrupted"
    assert command_counts(lines_of(out, n))["set"] == 2000 and len(lines_of(out, n)) == n.lines
