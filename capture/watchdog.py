"""The output-buffer watchdog: a process of its own that cuts a MONITOR connection the server
buffers too much for — even while the capture process is stopped (SIGSTOP, Ctrl-Z), swapped out
or stuck on a slow disk, when a guard inside it could not act (docs/CAPTURE.md, "A reader that
falls behind").

The capture starts it with `python -P -m hotshard.capture.watchdog` in a new session (so a terminal's Ctrl-C
or Ctrl-Z never reaches it) and talks to it over its stdin/stdout in JSON lines. Secrets travel
in the first line on the pipe, never in argv, the environment or the process title.

    capture -> watchdog   {"config": {...}}             nodes, connect options, limit, interval
                          {"watch": node, "id": N}      a monitor connection's client id
                          {"report": true}              ask for the latest omem per node
                          {"release": node}             stop polling it (its MONITOR ended)
                          {"stop": true}                send the totals and exit
    watchdog -> capture   {"ready": {node: warning}}    connected (None, or what it cannot do)
                          {"cut": node, "id": N, "omem": X}   written *before* CLIENT KILL
                          {"omem": {node: X}, "overhead": {node: bytes}}   answer to "report"
                          {"released": node}            no poll of it from now on
                          {"warning": text}             a node it cannot watch after all
                          {"done": {node: {"overhead": bytes, "max_omem": X}}}

It exits by itself at EOF on its stdin, or when its parent changes: a capture that dies or ends
never leaves it behind. It writes only when asked or when it cuts, so a frozen capture that
reads nothing can never fill the pipe and block it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis

from hotshard.capture.connect import PASSWORD_ENV, ConnectOptions, control_client, describe_failure
from hotshard.capture.errors import CaptureError
from hotshard.capture.format import resp
from hotshard.capture.format.counters import version_tuple
from hotshard.capture.format.manifest import NodeCapture

INTERVAL = 0.25  # between CLIENT LIST polls: the overshoot past the limit is one interval's growth
KILL_REPLY = 4  # `:1\r\n` (or `:0\r\n`): CLIENT KILL ID's reply, counted in bytes out
NO_CLIENT = (1 << 63) - 1  # a client id no server hands out: a harmless permission probe


class WatchdogError(CaptureError):
    """The watchdog could not be started, or stopped answering."""


def client_field(raw: bytes, client_id: int, name: str) -> int | None:
    """A numeric field (`omem=0`) of the CLIENT LIST line of connection `client_id`."""
    for line in raw.decode("utf-8", "replace").splitlines():
        fields = dict(item.partition("=")[::2] for item in line.split())
        if fields.get("id") == str(client_id) and fields.get(name, "").isdigit():
            return int(fields[name])
    return None


def _client_list(version: tuple[int, ...], client_id: int) -> tuple[str | int, ...]:
    if version >= (6, 2):
        return ("CLIENT LIST", "ID", client_id)
    if version >= (5,):  # a MONITOR connection is of type normal
        return ("CLIENT LIST", "TYPE", "normal")
    return ("CLIENT LIST",)


# -- the capture's side ------------------------------------------------------------------------
class Watchdog:
    """Starts, feeds and reads the watchdog process; safe to call from every stream thread."""

    def __init__(self, nodes: list[NodeCapture], connect: ConnectOptions, limit: int):
        self.nodes = nodes
        self.connect = connect
        self.limit = limit
        self.interval = INTERVAL
        self.omem: dict[str, int] = {}
        self.overhead: dict[str, int] = {}  # bytes its polls made each node send, so far
        self.released: set[str] = set()  # nodes it confirmed it polls no more
        self.cuts: dict[tuple[str, int], int] = {}  # (node, client id) -> omem when cut
        self.unseen_cuts: list[tuple[str, int, int]] = []  # for the session to report once
        self.lost = False  # the process ended or stopped answering before `finish`
        self.failure: str | None = None  # what it reported before it gave up
        self.warnings: list[str] = []  # what it cannot watch after all, for the session to say
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()
        self._partial = b""
        self._done: dict[str, dict[str, int]] | None = None
        self._ready: dict[str, str | None] | None = None

    def start(self, timeout: float) -> dict[str, str]:
        """Spawn it and wait until it reached every node; returns node -> what it cannot do
        there (unreachable, no permission to cut), for the capture to warn about."""
        try:
            self._proc = subprocess.Popen(
                # -P: the installed package, never a `capture/` folder in the working dir
                [sys.executable, "-P", "-m", "hotshard.capture.watchdog"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,  # it reports on stdout; nothing reaches the terminal
                env={k: v for k, v in os.environ.items() if k not in PASSWORD_ENV},
                start_new_session=True,  # outside the terminal's process group
                close_fds=True,
            )
        except OSError as exc:
            raise WatchdogError(
                f"the output-buffer watchdog did not start ({exc.strerror or exc}) — the "
                "capture does not run without it"
            ) from None
        assert self._proc.stdout is not None
        os.set_blocking(self._proc.stdout.fileno(), False)
        config = {
            "parent": os.getpid(),
            "limit": self.limit,
            "interval": self.interval,
            "connect": dataclasses.asdict(self.connect),
            "nodes": [
                {"node": n.node, "host": n.host, "port": n.port, "version": n.server_version}
                for n in self.nodes
            ],
        }
        self._send({"config": config})
        deadline = time.monotonic() + timeout
        while self._ready is None:
            left = deadline - time.monotonic()
            if self.lost or left <= 0:
                self.close()
                why = f" ({self.failure})" if self.failure else ""
                raise WatchdogError(
                    f"the output-buffer watchdog did not come up{why} — the capture does not "
                    "run without it; report this if it persists"
                )
            select.select([self._proc.stdout], [], [], min(left, 0.5))
            self.drain()
        unreachable = sorted(
            err.removeprefix(UNREACHABLE)
            for err in self._ready.values()
            if err and err.startswith(UNREACHABLE)
        )
        if unreachable:  # the guard is a promise: no capture on a node it cannot watch
            self.close()
            raise WatchdogError(
                f"the output-buffer watchdog cannot reach a node ({unreachable[0]}) — the "
                "capture does not run unguarded; fix the cause and start it again"
            )
        return {node: err for node, err in self._ready.items() if err}

    def watch(self, node: str, client_id: int) -> None:
        self._send({"watch": node, "id": client_id})

    def request_report(self) -> None:
        self._send({"report": True})

    def release(self, node: str, timeout: float = 2.0) -> bool:
        """Stop its polls of `node` (whose MONITOR ended); True once it confirmed that no poll
        of it is under way or to come, so an INFO taken now counts every poll reply."""
        self._send({"release": node})
        deadline = time.monotonic() + timeout
        while node not in self.released and not self.lost and time.monotonic() < deadline:
            proc = self._proc
            if proc is None or proc.stdout is None or proc.stdout.closed:
                break
            select.select([proc.stdout], [], [], 0.05)
            self.drain()
        return node in self.released

    def was_cut(self, node: str, client_id: int) -> bool:
        """Whether the watchdog cut this connection (it says so before it cuts)."""
        self.drain()
        return (node, client_id) in self.cuts

    def drain(self) -> None:
        """Read whatever it wrote, without waiting."""
        with self._lock:
            if self._proc is None or self._proc.stdout is None or self._proc.stdout.closed:
                return
            while True:
                try:
                    chunk = os.read(self._proc.stdout.fileno(), 65536)
                except BlockingIOError:
                    break
                except OSError:
                    chunk = b""
                if not chunk:
                    if self._done is None:
                        self.lost = True
                    self._proc.stdout.close()
                    break
                self._partial += chunk
            *lines, self._partial = self._partial.split(b"\n")
            for line in lines:
                if line.strip():
                    self._apply(json.loads(line))

    def _apply(self, event: dict[str, Any]) -> None:
        if "cut" in event:
            key = (str(event["cut"]), int(event["id"]))
            if key not in self.cuts:
                self.cuts[key] = int(event["omem"])
                self.unseen_cuts.append((*key, int(event["omem"])))
        elif "omem" in event:
            self.omem.update({str(k): int(v) for k, v in event["omem"].items()})
            self.overhead.update({str(k): int(v) for k, v in event.get("overhead", {}).items()})
        elif "released" in event:
            self.released.add(str(event["released"]))
        elif "ready" in event:
            self._ready = dict(event["ready"])
        elif "done" in event:
            self._done = dict(event["done"])
        elif "warning" in event:
            self.warnings.append(str(event["warning"]))
        elif "error" in event:
            self.failure = str(event["error"])
            self.lost = True

    def take_cuts(self) -> list[tuple[str, int, int]]:
        """Cuts not handed out before: (node, client id, omem)."""
        self.drain()
        with self._lock:
            cuts, self.unseen_cuts = self.unseen_cuts, []
        return cuts

    def take_warnings(self) -> list[str]:
        """Warnings not handed out before."""
        self.drain()
        with self._lock:
            warnings, self.warnings = self.warnings, []
        return warnings

    def finish(self, timeout: float = 15.0, close: bool = True) -> dict[str, dict[str, int]]:
        """Stop it; per node the bytes its polls made the node send, and the highest omem.
        `close=False`: leave reaping its process to `close()` (it polls no more by then)."""
        self._send({"stop": True})
        deadline = time.monotonic() + timeout
        while self._done is None and not self.lost and time.monotonic() < deadline:
            if self._proc is None or self._proc.stdout is None or self._proc.stdout.closed:
                break
            select.select([self._proc.stdout], [], [], 0.2)
            self.drain()
        if close or self._done is None:
            self.close()
        return self._done or {}

    def close(self) -> None:
        """Close its stdin (it exits at EOF) and reap it; kill it if it does not go."""
        proc = self._proc
        if proc is None:
            return
        with self._lock:
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None and not pipe.closed:
                    with contextlib.suppress(OSError):
                        pipe.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def _send(self, message: dict[str, Any]) -> None:
        with self._lock:
            proc = self._proc
            if proc is None or proc.stdin is None or proc.stdin.closed:
                return
            try:
                proc.stdin.write(json.dumps(message).encode() + b"\n")
                proc.stdin.flush()
            except (BrokenPipeError, OSError):
                self.lost = True


# -- the watchdog process ----------------------------------------------------------------------
@dataclass
class _Target:
    node: str
    client: redis.Redis
    version: tuple[int, ...]
    client_id: int | None = None
    overhead: int = 0
    polls: int = 0  # CLIENT LIST calls (commandstats counts them: analyze/measure/unshown.py)
    kills: int = 0
    max_omem: int = 0
    omem: int = 0


def _error_bytes(exc: redis.ResponseError) -> int:
    # redis-py drops the error code from the message; put back the one we can get here
    code = "NOPERM" if isinstance(exc, redis.exceptions.NoPermissionError) else "ERR"
    return resp.error(f"{code} {exc}")


UNREACHABLE = "unreachable: "  # a `ready` value: the watchdog could not connect to the node


def _check(client: redis.Redis, node: str, connect: ConnectOptions) -> str | None:
    """Connect now (the handshake stays outside the INFO window) and make sure we may cut:
    what the capture should warn about, or None."""
    try:
        client.ping()
        client.execute_command("CLIENT KILL", "ID", NO_CLIENT)  # `:0` when allowed
    except redis.ResponseError as exc:
        # redis-py strips the NOPERM code (NoPermissionError); older versions keep it
        denied = isinstance(exc, redis.exceptions.NoPermissionError) or "NOPERM" in str(exc)
        if not denied and "no permissions" not in str(exc):
            return None  # an old server's wording: the real CLIENT KILL will tell
        return (
            f"node {node}: the ACL user may not run CLIENT KILL (add +client|kill), so the "
            "watchdog can only ask the capture to stop this node: it is not guarded while the "
            "capture is frozen"
        )
    except (redis.RedisError, OSError) as exc:
        return f"{UNREACHABLE}{describe_failure(node, exc, connect)}"
    return None


class _Process:
    def __init__(self, config: dict[str, Any]):
        self.parent = int(config["parent"])
        self.limit = int(config["limit"])
        self.interval = float(config["interval"])
        connect = ConnectOptions(**config["connect"])
        self.targets: dict[str, _Target] = {}
        ready: dict[str, str | None] = {}
        for n in config["nodes"]:
            client = control_client(n["host"], int(n["port"]), connect)
            ready[n["node"]] = _check(client, n["node"], connect)
            self.targets[n["node"]] = _Target(n["node"], client, version_tuple(n["version"]))
        emit({"ready": ready})

    def poll(self, lines: _Lines | None = None) -> bool:
        """One CLIENT LIST per watched connection; between two nodes, the messages waiting on
        `lines` are answered (a release is confirmed after one round trip, not after the round:
        16 nodes on a loaded machine took seconds). False when one asked it to stop."""
        for t in self.targets.values():
            if lines is not None:
                messages = lines.read(0)
                if messages is None or not all(self.handle(m) for m in messages):
                    return False
            if t.client_id is None:
                continue
            try:
                t.polls += 1
                raw = t.client.execute_command(*_client_list(t.version, t.client_id))
            except redis.ResponseError as exc:
                t.overhead += _error_bytes(exc)
                t.client_id = None  # it would fail every time: say so once, stop asking
                emit({"warning": f"node {t.node}: CLIENT LIST failed ({exc}); its output "
                      "buffer is not watched (the ACL user needs +client|list)"})  # fmt: skip
                continue
            except (redis.RedisError, OSError):
                continue  # the node dropped: the capture reconnects and tells us the new id
            t.overhead += resp.bulk(len(raw))
            omem = client_field(raw, t.client_id, "omem")
            if omem is None:
                continue
            t.omem = omem
            t.max_omem = max(t.max_omem, omem)
            if omem > self.limit:
                emit({"cut": t.node, "id": t.client_id, "omem": omem})  # first, then cut
                try:
                    t.kills += 1
                    t.client.execute_command("CLIENT KILL", "ID", t.client_id)
                    t.overhead += KILL_REPLY
                except redis.ResponseError as exc:
                    t.overhead += _error_bytes(exc)
                except (redis.RedisError, OSError):
                    pass
                t.client_id = None
        return True

    def handle(self, message: dict[str, Any]) -> bool:
        """Act on one message; False when it asks us to stop."""
        if "watch" in message and message["watch"] in self.targets:
            self.targets[message["watch"]].client_id = int(message["id"])
        elif "release" in message:
            target = self.targets.get(str(message["release"]))
            if target is not None:
                target.client_id = None
            emit({"released": str(message["release"])})
        elif "report" in message:
            emit(
                {
                    "omem": {t.node: t.omem for t in self.targets.values()},
                    "overhead": {t.node: t.overhead for t in self.targets.values()},
                }
            )
        elif "stop" in message:
            emit(
                {
                    "done": {
                        t.node: {
                            "overhead": t.overhead,
                            "max_omem": t.max_omem,
                            "polls": t.polls,
                            "kills": t.kills,
                        }
                        for t in self.targets.values()
                    }
                }
            )
            return False
        return True

    def run(self, lines: _Lines) -> None:
        next_poll = time.monotonic()
        while os.getppid() == self.parent:
            now = time.monotonic()
            if now >= next_poll:
                if not self.poll(lines):
                    return
                next_poll = now + self.interval
            messages = lines.read(max(0.0, next_poll - time.monotonic()))
            if messages is None:  # EOF: the capture ended or died
                return
            for message in messages:
                if not self.handle(message):
                    return


class _Lines:
    """JSON lines from a file descriptor, waiting at most `timeout` for them."""

    def __init__(self, fd: int):
        self.fd = fd
        self.partial = b""

    def read(self, timeout: float) -> list[dict[str, Any]] | None:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return []
        chunk = os.read(self.fd, 65536)
        if not chunk:
            return None
        self.partial += chunk
        *lines, self.partial = self.partial.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]


def emit(message: dict[str, Any]) -> None:
    os.write(1, json.dumps(message).encode() + b"\n")  # < PIPE_BUF: one atomic write


def main() -> None:
    lines = _Lines(0)
    first: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while not first:
        got = lines.read(max(0.0, deadline - time.monotonic()))
        if got is None or time.monotonic() > deadline:
            return
        first = got
    try:
        process = _Process(first[0]["config"])
        for message in first[1:]:
            if not process.handle(message):
                return
        process.run(lines)
    except BrokenPipeError:
        return  # the capture is gone
    except Exception as exc:  # tell the capture rather than die silently
        with contextlib.suppress(OSError):
            emit({"error": f"{type(exc).__name__}: {exc}"})


if __name__ == "__main__":
    main()
