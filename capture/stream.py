"""One node's MONITOR stream: raw socket bytes straight into a compressed file.

A thread per node reads the socket with `recv_into` into one big buffer and hands whole buffers
to the compressor — no per-line Python work (counting newlines with `bytearray.count` is the only
look at the data). A read that found little waiting is followed by a short nap (`NAP_SECONDS`),
so each read takes many lines: what a read costs beyond its bytes (the wake-up, two system
calls, the loop, the GIL among a thread per node) was most of the CPU on a 16-node capture
(docs/BENCHMARKS.md, "Session 8 — capture cost").

Every `flush_seconds`, or when the buffer is full, the buffered lines become one complete zstd
frame (or gzip member) appended to the file, so the file on disk is always a valid sequence of
frames: a SIGKILLed capture keeps everything up to its last flush.

The file holds the MONITOR lines exactly as the server sent them (`+<ts> [db addr] "cmd" ...\\r\\n`),
from the first line after MONITOR's `+OK` to the last one before the `+RESET` reply.

Stopping is exact: the reader sends `RESET` on the monitor connection and keeps reading until the
`+RESET` reply arrives at a line boundary, so every byte the server wrote was received and counted
(`bytes_received`, which also counts the handshake replies: the byte totals reconcile with the
server's `total_net_output_bytes`).
"""

from __future__ import annotations

import collections
import contextlib
import os
import select
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import zstandard

from hotshard.capture import disk
from hotshard.capture.connect import ConnectOptions, auth_error, describe_failure, open_socket
from hotshard.capture.errors import (
    AuthError,
    CaptureError,
    ConnectionFailed,
    DiskWriteFailed,
    UsageError,
)
from hotshard.capture.format.manifest import Gap, NodeCapture

COMPRESSIONS = ("zstd", "gzip", "none")
DEFAULT_LEVEL = {"zstd": 1, "gzip": 1, "none": 0}
BUFFER_SIZE = 4 << 20
# The in-window sampler's view of the stream (`recent`): the last whole lines of the buffer, at
# most this many bytes, refreshed this often. A copy of 64 KiB twice a second, whatever the rate.
TAP_BYTES = 64 << 10
TAP_SECONDS = 0.5
TAP_KEEP = 8
# After a read of less than NAP_BYTES, wait NAP_SECONDS before the next: the kernel holds what
# arrives meanwhile (at the rate that filled NAP_BYTES in a nap, 5 MB/s, 256 KiB; a faster node
# never naps). Over TLS (a read is one record) only when nothing more is waiting. 16 nodes at
# ~7k lines/s each: ~40 lines a read without it, ~300 with it.
NAP_SECONDS = 0.05
NAP_BYTES = 256 << 10
RESET_REPLY = b"+RESET\r\n"
CLIENT_NAME = "hotshard-monitor"


def resp_command(*args: str | bytes) -> bytes:
    """A command as a RESP array (binary-safe: passwords may hold spaces)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class FrameWriter:
    """Appends independent compressed frames to a new private file (mode 0600)."""

    def __init__(self, path: Path, compression: str = "zstd", level: int | None = None):
        if compression not in COMPRESSIONS:
            raise UsageError(
                f"--compress takes one of {', '.join(COMPRESSIONS)}, not {compression!r}"
            )
        self.path = Path(path)
        self.compression = compression
        self.level = DEFAULT_LEVEL[compression] if level is None else level
        self.bytes_written = 0
        # A checksum per frame: a frame damaged later (a bad copy, a bad disk) is then always
        # detected and skipped by the analyzer, never read as garbage text. ~free (xxhash).
        self._zstd = (
            zstandard.ZstdCompressor(level=self.level, write_checksum=True)
            if compression == "zstd"
            else None
        )
        try:
            self._fd = os.open(
                self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600
            )
        except OSError as exc:
            if not disk.is_disk_error(exc):
                raise
            raise disk.write_failed(self.path, exc) from None

    def write(self, data: memoryview | bytes) -> None:
        """One complete frame holding `data` (the compressors release the GIL)."""
        if not len(data):
            return
        if self._zstd is not None:
            frame = self._zstd.compress(data)
        elif self.compression == "gzip":
            packer = zlib.compressobj(self.level, zlib.DEFLATED, 31)  # 31: gzip member
            frame = packer.compress(data) + packer.flush()
        else:
            frame = bytes(data)
        view = memoryview(frame)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            if not disk.is_disk_error(exc):
                raise
            # Cut the half-written frame off: the file stays a sequence of complete frames.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self.bytes_written)
            raise disk.write_failed(self.path, exc, needed=len(frame)) from None
        self.bytes_written += len(frame)

    def close_quietly(self) -> None:
        """After a disk error: close without a last fsync (that would fail again)."""
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1

    def close(self) -> None:
        if self._fd < 0:
            return
        try:
            os.fsync(self._fd)
        except OSError as exc:
            if not disk.is_disk_error(exc):
                raise
            raise disk.write_failed(self.path, exc) from None
        finally:
            os.close(self._fd)
            self._fd = -1


class _Closed(ConnectionResetError):
    pass


def _waiting(sock: socket.socket) -> bool:
    """More of the stream to read now: decrypted bytes of the last TLS record, or bytes in the
    kernel's buffer."""
    pending = sock.pending() if isinstance(sock, ssl.SSLSocket) else 0
    return pending > 0 or bool(select.select([sock], [], [], 0)[0])


class MonitorStream:
    """MONITOR on one node into one file, in a thread; reconnects after drops, records gaps."""

    def __init__(
        self,
        node: NodeCapture,
        path: Path,
        options: ConnectOptions,
        *,
        compression: str = "zstd",
        level: int | None = None,
        max_bytes: int | None = None,
        flush_seconds: float = 2.0,
        buffer_size: int = BUFFER_SIZE,
        use_reset: bool = True,
        drain_timeout: float = 10.0,
        throttle: tuple[int, float] | None = None,
        on_monitor: Callable[[int], None] | None = None,
        was_cut: Callable[[int], bool] | None = None,
    ):
        self.node = node
        self.path = Path(path)
        self.options = options
        self.compression = compression
        self.level = level
        self.max_bytes = max_bytes
        self.flush_seconds = flush_seconds
        self.use_reset = use_reset
        self.drain_timeout = drain_timeout
        self.throttle = throttle  # (bytes per read, pause): a slow reader, for tests only
        # The watchdog (capture/watchdog.py): told each monitor connection's client id, and
        # asked after a drop whether it cut the connection (then there is no reconnect).
        self.on_monitor = on_monitor
        self.was_cut = was_cut
        self.cut = False
        self.disk_error: DiskWriteFailed | None = None  # the disk refused a write: stopped
        # Counters, read by the session thread while this one runs.
        self.bytes_received = 0
        self.lines = 0
        self.client_id: int | None = None
        self.connected = False
        self.omem = 0
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.stop_reason: str | None = None
        self.errors: list[str] = []
        self.failure: CaptureError | None = None  # why the first connection failed
        self.gaps: list[Gap] = []
        self.cpu_seconds = 0.0
        self.reads = 0  # socket reads of the stream (bench/window_bench.py: lines per read)
        # The last lines received, for the in-window sampler's key discovery
        # (capture/window_sample.py): a few slices of at most TAP_BYTES, numbered.
        self._recent: collections.deque[tuple[int, bytes]] = collections.deque(maxlen=TAP_KEEP)
        self._recent_seq = 0
        self._tapped = 0  # buf[:_tapped] is kept already
        self.started = threading.Event()  # MONITOR is on (or the first connection failed)
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._abort = threading.Event()
        self._buf = bytearray(buffer_size)
        self._view = memoryview(self._buf)
        self._pos = 0
        self._line_start = True  # buf[0] begins a MONITOR line
        self._writer: FrameWriter | None = None
        self._thread = threading.Thread(target=self._run, name=f"monitor {node.node}", daemon=True)

    @property
    def name(self) -> str:
        return f"{self.node.node} (shard {self.node.shard})"

    @property
    def label(self) -> str:
        return f"node {self.name}"

    @property
    def bytes_written(self) -> int:
        return self._writer.bytes_written if self._writer else 0

    @property
    def failed(self) -> bool:
        """Ended without a monitor connection (never started, or dropped and never came back)."""
        return (
            self.finished.is_set()
            and not self.connected
            and not self.cut
            and self.disk_error is None
        )

    def _disk_failed(self, exc: DiskWriteFailed) -> None:
        """Stop for good: what is on disk stays; the buffered lines cannot be written."""
        if self.disk_error is None:
            self.disk_error = exc
        self.stop(disk.stop_reason(exc))
        lost = self._buf.count(b"\n", 0, self._pos)
        self.lines -= lost  # `lines` stays the count of lines in the file
        self._pos = 0
        self.errors.append(f"{self.label}: {exc}; stopped, {lost:,} buffered lines not written")

    def _cut_by_watchdog(self) -> bool:
        if self.was_cut is None or self.client_id is None or not self.was_cut(self.client_id):
            return False
        self.cut = True
        self.stop("output_buffer")
        self.errors.append(
            f"{self.label}: cut by the output-buffer watchdog (the server buffered more than "
            "--max-omem for this connection)"
        )
        return True

    def start(self) -> None:
        self._thread.start()

    def stop(self, reason: str, *, abort: bool = False) -> None:
        """Ask for a clean stop (RESET, then read to its reply); the first reason given is kept.

        `abort` closes the connection at once instead: the server frees the connection's output
        buffer immediately, at the price of the bytes still in flight.
        """
        if self.stop_reason is None:
            self.stop_reason = reason
        if abort:
            self._abort.set()
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        cpu0 = time.thread_time()
        sock: socket.socket | None = None
        try:
            try:
                sock = self._open()
            except CaptureError as exc:
                self.errors.append(str(exc))
                self.failure = exc
                return
            self.started_at = time.time()
            self.started.set()
            while sock is not None:
                try:
                    self._pump(sock)
                    break
                except OSError as exc:
                    reason = f"connection lost ({exc})"
                finally:
                    sock.close()  # also on a disk error: the server frees the buffer at once
                self._end_segment()
                if self._cut_by_watchdog():
                    break
                sock = self._reconnect(reason)
        except DiskWriteFailed as exc:
            self._disk_failed(exc)
        except Exception as exc:  # a bug: record it, never hang the session
            self.errors.append(f"{self.label}: {type(exc).__name__}: {exc}")
            self.connected = False
        finally:
            self.started.set()
            if self._writer is not None:
                try:
                    if self.disk_error is None:
                        self._flush(final=True)
                    self._writer.close()
                except DiskWriteFailed as exc:
                    self._disk_failed(exc)
                    self._writer.close_quietly()
            self.ended_at = time.time()
            for gap in self.gaps:
                gap.end = gap.end or self.ended_at
            self.cpu_seconds = time.thread_time() - cpu0
            self.finished.set()

    def _open(self) -> socket.socket:
        """Connect, authenticate, MONITOR; leftover stream bytes land in the buffer."""
        node = self.name
        try:
            sock = open_socket(self.node.host, self.node.port, self.options)
        except OSError as exc:
            raise describe_failure(node, exc, self.options) from None
        try:
            if self.throttle:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.throttle[0] * 2)
            sock.settimeout(max(self.options.timeout, 5.0))
            pending = bytearray()
            if self.options.password:
                user = [self.options.user] if self.options.user else []
                self._call(sock, pending, resp_command("AUTH", *user, self.options.password))
            self._call(sock, pending, resp_command("CLIENT", "SETNAME", CLIENT_NAME), fatal=False)
            reply = self._call(sock, pending, resp_command("CLIENT", "ID"), fatal=False)
            self.client_id = int(reply[1:]) if reply.startswith(b":") else None
            self._call(sock, pending, resp_command("MONITOR"))
            if self.on_monitor is not None and self.client_id is not None:
                self.on_monitor(self.client_id)
        except OSError as exc:
            sock.close()
            raise describe_failure(node, exc, self.options) from None
        except CaptureError:
            sock.close()
            raise
        if self._writer is None:
            try:
                self._writer = FrameWriter(self.path, self.compression, self.level)
            except BaseException:
                sock.close()
                raise
        n = len(pending)
        self._buf[:n] = pending
        self._pos = n
        self._line_start = True
        self.lines += pending.count(b"\n")
        self.connected = True
        return sock

    def _call(
        self, sock: socket.socket, pending: bytearray, cmd: bytes, fatal: bool = True
    ) -> bytes:
        """Send one command and read its one-line reply (handshake only: +, -, : replies)."""
        sock.sendall(cmd)
        while True:
            end = pending.find(b"\r\n")
            if end >= 0:
                break
            chunk = sock.recv(65536)
            if not chunk:
                raise _Closed("the server closed the connection")
            self.bytes_received += len(chunk)
            pending.extend(chunk)
        reply = bytes(pending[:end])
        del pending[: end + 2]
        if reply.startswith(b"-ERR max number of clients"):  # said on accept, then it closes
            said = reply[1:].decode("utf-8", "replace").removeprefix("ERR ")
            raise ConnectionFailed(
                f"node {self.name}: the server refused the connection: {said} — the node is at "
                "its maxclients limit: wait, or close idle clients"
            )
        if reply.startswith(b"-") and fatal:
            raise auth_error(self.name, reply[1:].decode("utf-8", "replace"), self.options)
        return reply

    def _pump(self, sock: socket.socket) -> None:
        """Read until the server confirms the stop; raises OSError when the connection drops."""
        buf, view, size = self._buf, self._view, len(self._buf)
        limit = self.throttle[0] if self.throttle else size
        pause = self.throttle[1] if self.throttle else 0.0
        stop_cmd = resp_command("RESET" if self.use_reset else "QUIT")
        tls = isinstance(sock, ssl.SSLSocket)  # a read returns one record (16 KiB) at most
        sock.settimeout(0.2)
        next_flush = time.monotonic() + self.flush_seconds
        next_tap = time.monotonic() + TAP_SECONDS
        stop_sent = 0.0
        pos = self._pos
        while True:
            now = time.monotonic()
            if now >= next_tap:
                self._tap(pos)
                next_tap = now + TAP_SECONDS
            if pos == size or (pos and now >= next_flush):
                self._pos = pos
                self._flush()
                pos = self._pos
                next_flush = now + self.flush_seconds
            if self._abort.is_set():
                self._pos = pos
                self._drop_partial_line()  # the file keeps whole lines only
                self.errors.append(f"{self.label}: connection closed without draining it")
                return
            if not stop_sent and self._stop.is_set():
                sock.sendall(stop_cmd)
                stop_sent = now
            elif stop_sent and now - stop_sent > self.drain_timeout:
                self.errors.append(
                    f"{self.label}: the server did not confirm the stop within "
                    f"{self.drain_timeout:g} s; closed the connection (byte counts may be short)"
                )
                self._pos = pos
                return
            try:
                n = sock.recv_into(view[pos : min(size, pos + limit)])
            except TimeoutError:
                continue
            if n == 0:
                self._pos = pos
                if stop_sent and not self.use_reset:  # QUIT: the server closes after +OK
                    self._strip_reply(b"+OK\r\n")
                    return
                raise _Closed("closed by the server")
            self.bytes_received += n
            self.reads += 1
            full = n == size - pos  # it stopped at the buffer's end, not at the socket's
            self.lines += buf.count(b"\n", pos, pos + n)
            pos += n
            if pause:
                time.sleep(pause)
            elif n < NAP_BYTES and not full and not stop_sent and not (tls and _waiting(sock)):
                time.sleep(NAP_SECONDS)
            if self.max_bytes and self.bytes_received >= self.max_bytes:
                self.stop("max_bytes")
            if stop_sent and self.use_reset and pos >= 8 and buf[pos - 8 : pos] == RESET_REPLY:
                self._pos = pos
                if self._strip_reply(RESET_REPLY):
                    return

    def _tap(self, pos: int) -> None:
        """Keep the whole lines of `buf[:pos]` not kept yet (at most the last TAP_BYTES of
        them) for the in-window sampler (`since`)."""
        done = self._tapped
        end = self._buf.rfind(b"\n", done, pos) + 1
        if end <= done:
            return
        start = max(done, end - TAP_BYTES)
        if start > done:  # begin at a line start
            start = self._buf.find(b"\n", start - 1, end) + 1
        self._tapped = end
        if 0 < start < end or start == done:
            self._recent_seq += 1
            self._recent.append((self._recent_seq, bytes(self._view[start:end])))

    def since(self, seq: int) -> tuple[int, list[bytes]]:
        """The lines kept for the sampler after refresh `seq` (oldest first; older ones are
        dropped unseen when the sampler falls behind) and the last refresh's number."""
        kept = list(self._recent)
        return (kept[-1][0] if kept else seq), [data for n, data in kept if n > seq]

    def _strip_reply(self, reply: bytes) -> bool:
        """Drop the stop command's reply from the buffer end, if it stands on its own line."""
        pos, k = self._pos, len(reply)
        if pos < k or self._buf[pos - k : pos] != reply:
            return False
        if (self._buf[pos - k - 1] == 0x0A) if pos > k else self._line_start:
            self._pos = pos - k
            self.lines -= 1
            return True
        return False

    def _flush(self, final: bool = False) -> None:
        """Write buffered complete lines as one frame (all bytes when `final`)."""
        pos = self._pos
        cut = pos if final else self._buf.rfind(b"\n", 0, pos) + 1
        if cut == 0:  # one line longer than the buffer: flush it in pieces
            cut = pos
        self._tap(cut)
        self._tapped = 0  # what stays in the buffer holds no whole line
        if cut and self._writer is not None:
            self._writer.write(self._view[:cut])
        rest = pos - cut
        self._line_start = self._buf[cut - 1] == 0x0A if cut else self._line_start
        if rest:
            self._buf[:rest] = self._buf[cut:pos]
        self._pos = rest

    def _drop_partial_line(self) -> None:
        last = self._buf.rfind(b"\n", 0, self._pos) + 1
        if last or self._line_start:
            self._pos = last

    def _end_segment(self) -> None:
        """After a drop: drop the half-received last line, so the file has whole lines only."""
        self.connected = False
        self._drop_partial_line()
        self._flush(final=True)
        if not self._line_start and self._writer is not None:
            self._writer.write(b"\r\n")  # a line cut by the drop ends here
            self._line_start = True

    def _reconnect(self, reason: str) -> socket.socket | None:
        gap = Gap(start=time.time(), end=None, reason=reason)
        self.gaps.append(gap)
        self.errors.append(f"{self.label}: {reason}; reconnecting")
        delay = 0.5
        while not self._stop.wait(delay):
            try:
                sock = self._open()
            except AuthError as exc:
                self.errors.append(str(exc))
                return None
            except (CaptureError, ConnectionFailed) as exc:
                gap.reason = f"{reason}; last retry: {exc}"
                delay = min(delay * 2, 5.0)
                continue
            gap.end = time.time()
            self.errors.append(f"{self.label}: reconnected after {gap.end - gap.start:.1f} s")
            return sock
        return None
