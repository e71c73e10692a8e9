"""The capture commands through the real entry point: flags, legacy names, exit statuses."""

from __future__ import annotations

import sys
import threading

import pytest

from hotshard.capture import cli
from hotshard.capture.cli import as_bytes, expand_short_flags, run
from hotshard.capture.errors import ExitStatus, UsageError
from hotshard.capture.format import manifest
from tests.servers import start_node


def test_the_predecessors_monitor_command_captures_then_analyzes(
    tmp_path_factory, tmp_path, monkeypatch, capsys
):
    """`elasticache-monitor -c CLUSTER -p PASSWORD -d SECONDS --save-to-db ...` still works."""
    pytest.importorskip("polars")
    node = start_node(tmp_path_factory.mktemp("legacy"), password="legacy-pw")
    try:
        stop = threading.Event()

        def traffic() -> None:
            client = node.client()
            while not stop.wait(0.01):
                client.set("legacy:key", "v")
                client.get("legacy:key")

        writer = threading.Thread(target=traffic, daemon=True)
        writer.start()
        monkeypatch.chdir(tmp_path)
        argv = [
            "elasticache-monitor",
            "-c",
            "prod-cache",
            "-p",
            "legacy-pw",
            "-d",
            "1",
            "--save-to-db",
            "--estimate-bandwidth",
            "--endpoints",
            node.address,
            "--use-primary",
        ]
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as done:
            cli.legacy_monitor()
    finally:
        stop.set()
        writer.join(5)
        node.stop()
    printed = capsys.readouterr()
    assert done.value.code == ExitStatus.OK, printed.err
    (folder,) = (tmp_path / "captures").iterdir()
    assert folder.name.startswith("prod-cache-") and folder.name.endswith("Z")
    m = manifest.read(folder)
    assert m.cluster == "prod-cache" and m.status == "complete"
    assert [n.role for n in m.nodes if n.monitored] == ["primary"]
    assert (tmp_path / "hotshard-out" / "hotshard.db").exists()
    assert "leaks into shell history" in printed.err
    assert "legacy-pw" not in printed.out + (folder / "manifest.json").read_text()


def test_the_predecessors_endpoints_command(redis_node, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["elasticache-endpoints", "--endpoints", redis_node.address])
    with pytest.raises(SystemExit) as done:
        cli.legacy_endpoints()
    assert done.value.code == ExitStatus.OK
    assert f"primary  {redis_node.address}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nodes", "some"], "--nodes takes one of replicas, primaries, all"),
        (["--compress", "lz4"], "--compress takes one of zstd, gzip, none"),
        (["-d", "soon"], "--duration takes a number"),
        (["--max-bytes", "lots"], "--max-bytes takes a size"),
        (["--shards", "0009"], "--shards: no shard 0009 (shards: 0001)"),
        (["-d", "nan"], "--duration takes a finite number"),
        (["-d", "1e400"], "--duration takes a finite number"),
        (["--max-omem", "0"], "--max-omem must be above 0"),
        (["--max-omem", "-1MB"], "--max-omem takes a size"),
        (["--max-bytes", "1e400"], "--max-bytes takes a size"),
        (["--sizes-top", "-3"], "--sizes-top takes a whole number of at least 1"),
        (["--sizes-rate", "0"], "--sizes-rate takes a finite number of at least 1"),
        (["--poll-interval", "-5"], "--poll-interval takes a finite number of at least 0"),
        (["--poll-interval", "often"], "--poll-interval takes a number"),
        (
            ["--start-sample-seconds", "-1"],
            "--start-sample-seconds takes a finite number of at least 0",
        ),
        (["--endpoints", "127.0.0.1:99999"], "is not host:port (a port 1-65535"),
        (["--endpoints", "[::1"], "is not host:port"),
        (["--password-file", "/"], "--password-file /: Is a directory"),
        (["--out", "/dev/null"], "--out /dev/null: cannot create it (Not a directory)"),
    ],
)
def test_bad_flags_are_usage_errors(redis_node, tmp_path, capsys, args, message):
    out = [] if "--out" in args else ["--out", str(tmp_path / "c")]
    status = run(["capture", "--endpoints", redis_node.address, *out, *args])
    err = capsys.readouterr().err
    assert status == ExitStatus.USAGE, err
    assert message in err
    assert [ln for ln in err.splitlines() if not ln.startswith("hotshard: warning:")] == [
        ln for ln in err.splitlines() if message in ln
    ]  # the one line, no traceback


def test_a_ca_bundle_that_holds_no_certificate_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    status = run(["endpoints", "--endpoints", "127.0.0.1:1", "--tls", "on", "--tls-ca", str(bad)])
    err = capsys.readouterr().err
    assert status == ExitStatus.USAGE
    assert err == f"hotshard: --tls-ca {bad}: not a PEM bundle of CA certificates " + (
        "(NO_CERTIFICATE_OR_CRL_FOUND)\n"
    )


def test_out_folder_must_be_new(redis_node, tmp_path, capsys):
    (tmp_path / "old.txt").write_text("x")
    status = run(["capture", "--endpoints", redis_node.address, "--out", str(tmp_path), "-d", "1"])
    assert status == ExitStatus.USAGE
    assert "exists and is not empty" in capsys.readouterr().err


def test_values_that_fire_would_mangle_arrive_as_text(redis_node, tmp_path, capsys):
    # `--shards 0001` would be the int 1 and `a,b` a tuple without SetParseFn(str)
    status = run(
        [
            "capture",
            "--endpoints",
            redis_node.address,
            "--out",
            str(tmp_path / "c"),
            "-d",
            "0.3",
            "--shards",
            "0001",
            "--no-sizes",
            "--quiet",
        ]
    )
    assert status == ExitStatus.OK, capsys.readouterr().err


def test_short_flags_and_sizes():
    assert expand_short_flags(["capture", "-c", "x", "-d", "5", "-p", "pw"]) == [
        "capture",
        "--cluster",
        "x",
        "--duration",
        "5",
        "--password",
        "pw",
    ]
    assert expand_short_flags(["analyze", "-c", "x"]) == ["analyze", "-c", "x"]
    assert as_bytes("32MB", "x") == 32_000_000 and as_bytes("1GiB", "x") == 1 << 30
    assert as_bytes("500", "x") == 500 and as_bytes(None, "x") is None
    with pytest.raises(UsageError):
        as_bytes("1TB", "x")


def test_every_capture_flag_is_documented():
    import inspect

    for command in (cli.capture, cli.endpoints):
        doc = inspect.getdoc(command) or ""
        for name in inspect.signature(command).parameters:
            assert f"  {name}:" in doc, f"{command.__name__} --{name} has no help text"
