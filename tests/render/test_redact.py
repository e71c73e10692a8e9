"""`--redact`: nothing in a redacted analysis names a key, a client or a node address.

A real capture of a real cluster, its keys e-mail addresses, analyzed with `--redact` through
the CLI: every file written and everything printed is searched for the original key names and
addresses.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hotshard.analyze.render.redact import Redactor
from hotshard.capture.cli import run
from hotshard.capture.errors import ExitStatus
from hotshard.capture.format import manifest
from hotshard.capture.session import CaptureOptions
from tests.capturing import background_capture, monitored

EMAILS = [f"first.last{i}@example-corp.com" for i in range(12)]


def _capture(redis_cluster, folder: Path) -> list[str]:
    """A short capture while an application reads and writes e-mail keys; the keys used."""
    options = CaptureOptions(
        endpoints=[redis_cluster.seed.address],
        out=str(folder),
        nodes="primaries",
        duration=60,
        quiet=True,
        poll_seconds=0.05,
        poll_interval=0.3,
    )
    keys = [f"session:{e}" for e in EMAILS] + [f"cart:{{{e}}}:items" for e in EMAILS]
    client = redis_cluster.cluster_client()
    with background_capture(options) as bg:
        bg.wait_started(files=3)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for i, key in enumerate(keys):
                if key.startswith("cart:"):
                    client.rpush(key, "x" * 50)
                    client.lrange(key, 0, -1)
                else:
                    client.set(key, "v" * (100 + i))
                    client.get(key)
        bg.stop()
    client.close()
    return keys


def _everything(out: Path, printed: str) -> str:
    files = sorted(p for p in out.rglob("*") if p.is_file())
    return printed + "".join(p.read_bytes().decode("utf-8", "replace") for p in files)


@pytest.mark.slow
def test_a_redacted_analysis_names_no_key_and_no_address(redis_cluster, tmp_path, capsys):
    folder = tmp_path / "cap"
    keys = _capture(redis_cluster, folder)
    m = manifest.read(folder)
    addresses = {n.node for n in m.nodes} | {n.node.replace(":", "_") for n in m.nodes}
    hosts = {n.node.rsplit(":", 1)[0] for n in m.nodes}  # the clients ran there too
    out = tmp_path / "out"
    status = run(["analyze", str(folder), "--out", str(out), "--redact", "--redact-key", "s3cret"])
    printed = capsys.readouterr()
    assert status == ExitStatus.OK, printed.err
    shared = sorted(p.name for p in out.iterdir())
    assert shared == [".hotshard-out", "charts", "hotshard.prom", "report.md", "summary.json"]
    text = _everything(out, printed.out + printed.err)
    for secret in [*keys, *EMAILS, *addresses, *hosts, "example-corp"]:
        assert secret not in text, secret
    report = (out / "report.md").read_text()
    tag = Redactor(b"s3cret").key("session:" + EMAILS[0], "session:{EMAIL}")
    assert f"`{tag}`" in report or "session:{EMAIL}" in report
    assert "Redacted (`--redact`)" in report
    # The first screen of this real scenario still says where, why, what to do and how sure.
    screen = report.split("\n## ", 1)[0]
    assert len(screen.splitlines()) <= 25
    for label in ("Where", "Cause", "Fix", "How sure"):
        assert f"- **{label}:** " in screen, label
    assert "{EMAIL}" in screen.split("- **Cause:** ", 1)[1].split("\n", 1)[0]
    assert "Self-check: the estimate" in screen  # measured by the server: a capture folder
    assert "host#" in report
    for n in monitored(m):
        assert n.node not in report

    # check and diff, redacted, print nothing that names a key or an address either
    for args in (["check", str(folder)], ["diff", str(folder), str(folder)]):
        status = run([*args, "--redact", "--redact-key", "s3cret"])
        printed = capsys.readouterr()
        assert status in (ExitStatus.OK, ExitStatus.ERROR), printed.err
        assert "internal error" not in printed.err
        for secret in [*keys, *EMAILS, *addresses, *hosts]:
            assert secret not in printed.out + printed.err, (args[0], secret)


def test_tags_are_stable_with_one_secret_and_differ_across_secrets():
    a, b = Redactor(b"one"), Redactor(b"two")
    key = "session:first.last@example-corp.com"
    assert a.key(key, "session:{EMAIL}") == Redactor(b"one").key(key, "session:{EMAIL}")
    assert a.key(key, "session:{EMAIL}") != b.key(key, "session:{EMAIL}")
    assert a.key(key, "session:{EMAIL}").startswith("session:{EMAIL}#")
    assert a.key("plain-token-abc", "plain-token-abc").startswith("{KEY}#")  # no variable part
    assert Redactor.create().per_run  # no secret: a random one, said in the report
