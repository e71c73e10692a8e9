"""A real redis-server prints MONITOR lines; we record the raw bytes and parse them back.

Nasty keys and values go through real clients (TCP and a unix socket), plus EVAL with
redis.call, MULTI/EXEC, multi-key commands and a command that fails with WRONGTYPE.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

import polars as pl
import redis

from hotshard.analyze.read.parse import Source, line_stats
from hotshard.capture.format.lines import key_text, unescape_bytes
from tests.frames import parse_log, split_log
from tests.resp import request_size
from tests.servers import start_node

SENTINEL = b"hotshard-parse-test-done"
NASTY_KEYS = [
    b"plain:key",
    b"with space",
    b'with "quotes"',
    b"back\\slash\\",
    b'quote space" "inside',
    b"\\x41 literal",
    b"caf\xc3\xa9:\xe2\x82\xac",
    b"bin\x00\xff\xfe\x80",
    b"cr\r\nlf",
    b"tab\tbell\abs\b",
    b"",
    b"{tag}:x",
]


class MonitorRecorder:
    """MONITOR over a raw socket, bytes copied as they arrive (like capture does)."""

    def __init__(self, host: str, port: int | None = None, unix: str | None = None):
        if unix:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(unix)
        else:
            self.sock = socket.create_connection((host, port))
        self.sock.settimeout(10)
        self.data = bytearray()
        self.sock.sendall(b"MONITOR\r\n")
        while not self.data.startswith(b"+OK\r\n"):
            self.data += self.sock.recv(65536)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while SENTINEL not in self.data:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.data += chunk
        # read up to the end of the sentinel line
        while not self.data.endswith(b"\r\n"):
            self.data += self.sock.recv(65536)

    def save(self, path: Path) -> Path:
        self.thread.join(10)
        self.sock.close()
        path.write_bytes(bytes(self.data))
        return path


def run_commands(client: redis.Redis) -> list[list[bytes]]:
    """Send the commands; return the argv of each as the server received it."""
    sent: list[list[bytes]] = []

    def call(*argv: bytes) -> None:
        sent.append(list(argv))
        with contextlib.suppress(redis.ResponseError):  # WRONGTYPE: still shown by MONITOR
            client.execute_command(*argv)

    for i, key in enumerate(NASTY_KEYS):
        call(b"SET", key, b"value " + key + b"\x00\xff", b"EX", b"600")
        call(b"GET", key)
        call(b"HSET", b"h:" + key, b'field "' + str(i).encode(), b"\\value\n")
    call(b"MGET", NASTY_KEYS[0], NASTY_KEYS[1], NASTY_KEYS[7])
    call(b"DEL", NASTY_KEYS[2], NASTY_KEYS[3])
    call(b"ZADD", b"z:2025-10-17", b"1.5", b"member one")
    call(b"ZREVRANGE", b"z:2025-10-17", b"0", b"-1", b"WITHSCORES")
    call(b"LPUSH", NASTY_KEYS[0], b"x")  # WRONGTYPE
    call(b"EVAL", b"return redis.call('get', KEYS[1])", b"1", NASTY_KEYS[6])
    pipe = client.pipeline(transaction=True)
    pipe.incr(b'counter "1"')
    pipe.get(NASTY_KEYS[7])
    pipe.execute()
    sent += [[b"MULTI"], [b"INCRBY", b'counter "1"', b"1"], [b"GET", NASTY_KEYS[7]], [b"EXEC"]]
    return sent


def parsed(path: Path) -> pl.DataFrame:
    """The wide rows, in file order, with each line's arguments as quoted (`args`)."""
    wide = parse_log(path, node="127.0.0.1:1", shard="0001")
    split = split_log(path)
    assert split.select("ts", "command").equals(wide.select("ts", "command"))
    return wide.with_columns(args=split["args"])


def client_commands(frame: pl.DataFrame) -> pl.DataFrame:
    """Lines of the test client, without redis-py's connection handshake and the sentinel."""
    return frame.filter(
        (pl.col("origin") == "client")
        & ~pl.col("command").is_in(["client", "hello", "echo", "select", "ping"])
    )


def test_real_monitor_round_trip(engine_node, tmp_path):
    redis_node = engine_node
    recorder = MonitorRecorder(redis_node.host, redis_node.port)
    client = redis_node.client()
    sent = run_commands(client)
    client.execute_command(b"ECHO", SENTINEL)
    path = recorder.save(tmp_path / "real.monitor")

    frame = parsed(path)
    stats = line_stats([Source(path)]).row(0, named=True)
    assert stats["errors"] == 0 and stats["skipped"] == 1  # the +OK
    assert stats["truncated_last_line"] is False

    got = client_commands(frame)
    assert got.height == len(sent)
    for row, argv in zip(got.iter_rows(named=True), sent, strict=True):
        assert row["command"] == argv[0].decode().lower()
        assert [unescape_bytes(a) for a in row["args"]] == argv[1:]
        assert row["request_bytes"] == request_size(argv)

    # Keys come back exactly, as bytes and as text (key_text).
    sets = got.filter(command="set")
    assert sets["key_bytes"].to_list() == NASTY_KEYS
    assert list(zip(sets["key_name"], sets["key_binary"], strict=True)) == [
        key_text(k) for k in NASTY_KEYS
    ]
    mget = got.filter(command="mget").row(0, named=True)
    assert mget["keys"] == [key_text(k)[0] for k in (NASTY_KEYS[0], NASTY_KEYS[1], NASTY_KEYS[7])]
    assert got.filter(command="del")["key_count"].to_list() == [2]

    # EVAL first, then one [0 lua] line per redis.call.
    lua = frame.filter(origin="script").row(0, named=True)
    assert (lua["client"], lua["client_kind"], lua["command"]) == ("lua", "lua", "get")
    assert lua["key_bytes"] == NASTY_KEYS[6]
    assert got.filter(command="eval")["key_name"].to_list() == [NASTY_KEYS[6].decode()]


def test_real_monitor_unix_socket_client(tmp_path):
    sock = tmp_path / "redis.sock"
    node = start_node(tmp_path, config={"unixsocket": str(sock), "unixsocketperm": "700"})
    try:
        recorder = MonitorRecorder(node.host, unix=str(sock))
        client = redis.Redis(unix_socket_path=str(sock), protocol=2)
        client.set(b'unix key "1"', b"\xff")
        client.execute_command(b"ECHO", SENTINEL)
        path = recorder.save(tmp_path / "unix.monitor")
    finally:
        node.stop()
    got = parsed(path).filter(command="set").row(0, named=True)
    assert got["client"] == f"unix:{sock}"
    assert (got["client_kind"], got["client_ip"]) == ("unix", None)
    assert got["key_bytes"] == b'unix key "1"'
