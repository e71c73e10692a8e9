"""What a server says when it refuses is what the user reads: a node at maxclients, a password
file saved by a Windows editor, a watchdog that cannot reach the node it promises to guard.
Real servers, the real CLI."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hotshard.capture.cli import run
from hotshard.capture.errors import ExitStatus
from tests.servers import start_node

ROOT = Path(__file__).parents[2]


@pytest.fixture
def node(tmp_path):
    n = start_node(tmp_path)
    yield n
    n.stop()


@pytest.fixture
def full_node(node):
    """The node at its maxclients limit: one connection held, the limit set to 1."""
    held = socket.create_connection((node.host, node.port))
    held.sendall(b"CONFIG SET maxclients 1\r\n")
    assert held.recv(64) == b"+OK\r\n"
    yield node
    held.sendall(b"CONFIG SET maxclients 10000\r\n")
    held.recv(64)
    held.close()


def hotshard(*argv: str, cwd: Path = ROOT) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-c", "from hotshard.capture.cli import main; main()", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stderr


def test_maxclients_is_said_not_blamed_on_tls(full_node):
    status, err = hotshard("endpoints", "--endpoints", full_node.address)
    assert status != ExitStatus.OK
    assert "max number of clients reached" in err and "maxclients" in err
    assert "TLS" not in err and "has data" not in err


def test_a_watchdog_that_cannot_connect_is_a_refusal(node, tmp_path):
    """maxclients 1: the capture's own control connection takes the one slot, so the watchdog
    (its own process, its own connection) cannot reach the node: no capture, unguarded."""
    c = node.client()
    c.config_set("maxclients", "1")
    c.close()
    out = tmp_path / "cap"
    status, err = hotshard(
        "capture", "--endpoints", node.address, "-d", "2", "--out", str(out), "--no-sizes"
    )
    assert status not in (ExitStatus.OK, ExitStatus.PARTIAL), err
    assert "watchdog cannot reach" in err and "max number of clients reached" in err
    assert not list(out.glob("*.monitor*"))  # nothing captured unguarded


@pytest.mark.parametrize(
    "encode",
    [
        lambda pw: b"\xef\xbb\xbf" + pw.encode() + b"\r\n",  # UTF-8 with BOM (Notepad)
        lambda pw: (pw + "\r\n").encode("utf-16"),  # "Unicode" (UTF-16 LE with BOM)
    ],
    ids=["utf8-bom", "utf16"],
)
def test_a_password_file_with_a_bom_is_read_as_the_password(tmp_path, encode):
    node = start_node(tmp_path, password="s3cret-pw")
    try:
        secret = tmp_path / "pw.txt"
        secret.write_bytes(encode("s3cret-pw"))
        status, err = hotshard(
            "endpoints", "--endpoints", node.address, "--password-file", str(secret)
        )
        assert status == ExitStatus.OK, err
    finally:
        node.stop()


def test_a_password_file_that_is_not_text_is_one_line(tmp_path, capsys):
    secret = tmp_path / "pw.bin"
    secret.write_bytes(b"\xff\x00\xc3\x28 not text")
    status = run(["endpoints", "--endpoints", "127.0.0.1:1", "--password-file", str(secret)])
    err = capsys.readouterr().err
    assert status == ExitStatus.USAGE and "not text" in err and err.count("\n") == 1
