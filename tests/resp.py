"""A raw RESP socket for tests: send commands as bytes, count reply bytes exactly.

redis-py parses replies away; the reply model is about bytes on the wire, so tests that check it
talk to redis-server through this instead.
"""

from __future__ import annotations

import socket
import time

from hotshard.capture.format.lines import escape_bytes


def encode(*args: bytes | str | int | float) -> bytes:
    """One command as a RESP2 array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        data = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def request_size(argv: list[bytes]) -> int:
    """The bytes of a command as a client sends it (the array `encode` builds)."""
    return len(encode(*argv))


def monitor_args(*args: bytes | str | int | float) -> list[str]:
    """Arguments as a MONITOR line quotes them (without the quotes, escapes unresolved)."""
    return [escape_bytes(a if isinstance(a, bytes) else str(a).encode()) for a in args]


class RawConnection:
    """One TCP connection to a node; `reply_size` sends a command and returns its reply's bytes."""

    def __init__(self, host: str, port: int, timeout: float = 10) -> None:
        self.sock = socket.create_connection((host, port), timeout)
        self.buf = b""
        self.received = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fill(self) -> None:
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("server closed the connection")
        self.received += len(data)
        self.buf += data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_reply(self) -> tuple[int, object]:
        """(bytes on the wire, decoded value) of one reply, RESP2 or RESP3."""
        line = self._line()
        size = len(line) + 2
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-", b":", b"_", b",", b"#", b"("):
            return size, (line if kind != b"-" else RuntimeError(rest.decode()))
        if kind in (b"$", b"=", b"!"):
            n = int(rest)
            if n < 0:
                return size, None
            data = self._exact(n + 2)
            return size + n + 2, data[:-2]
        if kind in (b"*", b"~", b">", b"%", b"|"):
            n = int(rest)
            if n < 0:
                return size, None
            items = []
            for _ in range(2 * n if kind in (b"%", b"|") else n):
                part, value = self.read_reply()
                size += part
                items.append(value)
            return size, items
        raise ValueError(f"not RESP: {line!r}")

    def read_until(self, marker: bytes, timeout: float = 10) -> None:
        """Read the stream (a MONITOR one) until `marker` has arrived: everything up to it is
        counted in the connection's bytes."""
        deadline = time.monotonic() + timeout
        while marker not in self.buf:
            assert time.monotonic() < deadline, "monitor stream stalled"
            self._fill()

    def send(self, *args: bytes | str | int | float) -> None:
        self.sock.sendall(encode(*args))

    def reply_size(self, *args: bytes | str | int | float) -> int:
        self.send(*args)
        return self.read_reply()[0]

    def call(self, *args: bytes | str | int | float) -> object:
        self.send(*args)
        return self.read_reply()[1]
