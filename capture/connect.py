"""How hotshard reaches a node: TLS, AUTH, passwords, and errors a user can act on.

One socket factory (`open_socket`) serves both the raw MONITOR readers and the redis-py control
clients (`control_client`), so TLS and timeouts behave the same everywhere. Passwords live only
in `ConnectOptions.password` (never printed, never written); `resolve_password` finds them.
"""

from __future__ import annotations

import dataclasses
import functools
import getpass
import inspect
import ipaddress
import os
import socket
import ssl
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import redis
import redis.connection

from hotshard.capture.errors import AuthError, ConnectionFailed, TLSError, UsageError

TLS_MODES = ("auto", "on", "off")
PASSWORD_ENV = ("HOTSHARD_PASSWORD", "REDISCLI_AUTH")
PASSWORD_HINT = "pass the password with HOTSHARD_PASSWORD or --password-file"


@dataclass(frozen=True)
class ConnectOptions:
    """Everything needed to open a connection to any node of one cluster."""

    tls: str = "auto"  # auto | on | off; discovery settles "auto" to on/off once
    tls_insecure: bool = False  # skip certificate checks (explicit opt-in only)
    tls_ca: str | None = None  # CA bundle (PEM) to trust instead of the system store
    # Name to verify certificates against when a node is addressed by IP (ElastiCache announces
    # IPs; its certificate names the cluster's domain, which is the name the user gave us).
    tls_server_name: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 5.0

    def __post_init__(self) -> None:
        if self.tls not in TLS_MODES:
            raise UsageError(f"--tls takes one of {', '.join(TLS_MODES)}, not {self.tls!r}")
        if self.tls_ca and not Path(self.tls_ca).is_file():
            raise UsageError(f"--tls-ca {self.tls_ca}: no such file")
        if self.tls_ca:
            try:
                tls_context(self)  # a bad bundle is a usage error, not a failed handshake later
            except ssl.SSLError as exc:
                raise UsageError(
                    f"--tls-ca {self.tls_ca}: not a PEM bundle of CA certificates "
                    f"({exc.reason or exc})"
                ) from None

    def settled(self, tls: bool) -> ConnectOptions:
        return dataclasses.replace(self, tls="on" if tls else "off")

    @property
    def use_tls(self) -> bool:
        return self.tls == "on"


# -- passwords ---------------------------------------------------------------------------------
def resolve_password(
    *,
    password: str | None = None,
    password_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    stderr: TextIO | None = None,
) -> str | None:
    """The password from, in order: --password-file, -p/--password, HOTSHARD_PASSWORD, REDISCLI_AUTH.

    None when no source gives one (the caller may prompt later, see `prompt_password`).
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    stderr = stderr or sys.stderr
    if password_file:
        try:
            raw = Path(password_file).read_bytes()
        except OSError as exc:
            raise UsageError(f"--password-file {password_file}: {exc.strerror or exc}") from None
        # A BOM (Windows editors write one) is not part of the password: AUTH would fail with
        # a password that looks right. UTF-16 (Notepad's "Unicode") is read as what it is.
        utf16 = raw.startswith((b"\xff\xfe", b"\xfe\xff"))
        try:
            text = raw.decode("utf-16" if utf16 else "utf-8-sig")
        except UnicodeDecodeError:
            raise UsageError(
                f"--password-file {password_file}: not text (neither UTF-8 nor UTF-16)"
            ) from None
        value = text.splitlines()[0] if text.strip() else ""
        if not value:
            raise UsageError(f"--password-file {password_file} is empty")
        return value
    if password:
        print(
            "hotshard: warning: -p/--password leaks into shell history and the process list; "
            "prefer HOTSHARD_PASSWORD or --password-file",
            file=stderr,
        )
        return str(password)
    for name in PASSWORD_ENV:
        if env.get(name):
            return env[name]
    return None


def prompt_password(node: str) -> str | None:
    """Ask on the terminal, only when there is one; None otherwise."""
    if not sys.stdin.isatty():
        return None
    return getpass.getpass(f"password for {node}: ") or None


# -- sockets -----------------------------------------------------------------------------------
def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=8)
def tls_context(options: ConnectOptions) -> ssl.SSLContext:
    """One context per set of options: loading a CA store for every connection is slow."""
    ctx = ssl.create_default_context(cafile=options.tls_ca)
    if options.tls_insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def open_socket(host: str, port: int, options: ConnectOptions) -> socket.socket:
    """A connected TCP (or TLS) socket with keepalive on; raw OSError/SSLError on failure."""
    sock = socket.create_connection((host.strip("[]"), port), timeout=options.timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    # A silent network drop is noticed within ~25 s instead of hours.
    for opt, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, opt):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), value)
    if not options.use_tls:
        return sock
    name = host.strip("[]")
    ctx = tls_context(options)
    if is_ip(name) and options.tls_server_name:
        name = options.tls_server_name
    try:
        return ctx.wrap_socket(sock, server_hostname=name)
    except BaseException:
        sock.close()
        raise


def server_said(node: str, options: ConnectOptions) -> str | None:
    """The error line a server sends on accept before closing (`-ERR max number of clients
    reached`), read on a fresh connection; None when it says nothing within a second."""
    host, _, port = node.rpartition(":")
    try:
        sock = open_socket(host, int(port), replace(options, timeout=min(options.timeout, 2.0)))
    except (OSError, ValueError):
        return None
    try:
        sock.settimeout(1.0)
        data = sock.recv(512)
    except OSError:
        return None
    finally:
        sock.close()
    line = data.split(b"\r\n", 1)[0]
    if not line.startswith(b"-"):
        return None
    return line[1:].decode("utf-8", "backslashreplace").removeprefix("ERR ")


def describe_failure(node: str, exc: BaseException, options: ConnectOptions) -> Exception:
    """Turn a low-level failure into one readable CaptureError naming the node and the fix."""
    if isinstance(exc, ConnectionFailed | AuthError | TLSError):
        return exc
    if isinstance(exc, redis.AuthenticationError | redis.ResponseError):
        return auth_error(node, str(exc), options)
    root: BaseException = exc
    while isinstance(root, redis.RedisError) and (cause := root.__cause__ or root.__context__):
        root = cause
    if isinstance(root, ssl.SSLCertVerificationError) and "mismatch" in str(root.verify_message):
        return TLSError(
            f"node {node}: its TLS certificate is not for this address ({root.verify_message}) — "
            "connect through the name the certificate was issued for (e.g. the configuration "
            "endpoint), or --tls-insecure to skip the check"
        )
    if isinstance(root, ssl.SSLCertVerificationError):
        return TLSError(
            f"node {node}: TLS certificate not trusted ({root.verify_message}) — pass the CA "
            "bundle with --tls-ca, or --tls-insecure to skip the check"
        )
    if isinstance(root, ssl.SSLError):
        return TLSError(
            f"node {node}: TLS handshake failed ({root.reason or root}) — the node may not use "
            "in-transit encryption: try --tls off"
        )
    text = str(root).lower()
    if isinstance(root, ConnectionResetError | EOFError) or (
        isinstance(root, redis.ConnectionError)
        and ("closed" in text or "has data" in text or "max number of clients" in text)
    ):
        # The server may have said why before it closed (Redis writes `-ERR max number of
        # clients reached` on accept): ask again, and say what it said.
        said = str(root) if "max number of clients" in text else server_said(node, options)
        if said:
            hint = (
                " — the node is at its maxclients limit: wait, or close idle clients"
                if "max number of clients" in said.lower()
                else ""
            )
            return ConnectionFailed(f"node {node}: the server refused the connection: {said}{hint}")
        hint = " — it may require TLS: try --tls on" if not options.use_tls else ""
        return ConnectionFailed(f"node {node}: the server closed the connection{hint}")
    if isinstance(root, socket.gaierror):
        return ConnectionFailed(f"node {node}: cannot resolve the host name ({root.strerror})")
    if isinstance(root, TimeoutError | socket.timeout | redis.TimeoutError):
        return ConnectionFailed(
            f"node {node}: no answer within {options.timeout:g} s — check that this host can "
            "reach the cluster (security group, VPC, port)"
        )
    if isinstance(root, OSError):
        return ConnectionFailed(
            f"node {node}: unreachable ({root.strerror or root}) — check that this host can "
            "reach the cluster (security group, VPC, port)"
        )
    return ConnectionFailed(f"node {node}: {root}")


def auth_error(node: str, message: str, options: ConnectOptions) -> Exception:
    """An error reply (`-NOAUTH ...`) as the error a user can act on."""
    upper = message.upper()
    if "NOAUTH" in upper or "AUTHENTICATION REQUIRED" in upper:
        return AuthError(f"node {node}: NOAUTH — {PASSWORD_HINT}")
    if "WRONGPASS" in upper or "INVALID PASSWORD" in upper or "INVALID USERNAME" in upper:
        who = f"user {options.user!r}" if options.user else "the password"
        return AuthError(
            f"node {node}: WRONGPASS — {who} was rejected; check --user and {PASSWORD_HINT}"
        )
    if "WITHOUT ANY PASSWORD CONFIGURED" in upper:
        return AuthError(
            f"node {node}: the node has no password — unset HOTSHARD_PASSWORD/REDISCLI_AUTH "
            "and drop --password-file"
        )
    if "NOPERM" in upper or "NO PERMISSIONS" in upper:
        return AuthError(
            f"node {node}: {message.strip()} — the ACL user needs +monitor +info "
            "+client|id +client|list +client|kill +client|setname +command +cluster|shards +role "
            "(and read commands for key sizes)"
        )
    return ConnectionFailed(f"node {node}: {message.strip()}")


# -- redis-py control clients ------------------------------------------------------------------
def _no_client_setinfo() -> dict[str, Any]:
    """redis-py >= 5 sends CLIENT SETINFO on connect; switch it off (less noise on the node)."""
    params = inspect.signature(redis.Redis.__init__).parameters
    if "driver_info" in params:
        return {"driver_info": None}
    if "lib_name" in params:
        return {"lib_name": None, "lib_version": None}
    return {}


_CLIENT_KWARGS = _no_client_setinfo()


def _raw(response: Any, **_: Any) -> Any:
    return response


# Replies we parse ourselves (and whose exact size on the wire we count).
RAW_REPLIES = ("INFO", "CLUSTER SHARDS", "CLUSTER NODES", "ROLE", "COMMAND", "CLIENT LIST")


def control_client(host: str, port: int, options: ConnectOptions) -> redis.Redis:
    """A redis-py client (RESP2) for control commands; replies left raw for RAW_REPLIES."""
    conn_class = type(
        "HotshardConnection",
        (redis.connection.Connection,),
        {"_connect": lambda self: open_socket(self.host, self.port, options)},
    )
    pool = redis.ConnectionPool(
        connection_class=conn_class,
        host=host.strip("[]"),
        port=port,
        username=options.user,
        password=options.password,
        protocol=2,
        socket_timeout=max(options.timeout, 10.0),
        socket_connect_timeout=options.timeout,
        **_CLIENT_KWARGS,
    )
    # Used from one thread at a time, the pool keeps reusing one connection; it connects lazily.
    client = redis.Redis(connection_pool=pool, protocol=2)
    for name in RAW_REPLIES:
        client.set_response_callback(name, _raw)
    return client


def probe(host: str, port: int, options: ConnectOptions) -> ConnectOptions:
    """Reach one node and settle TLS auto-detection; raise a readable error if that fails.

    `tls=auto` tries plain text first: a TLS-only server drops a plain PING, while a plain server
    would sit waiting on a TLS ClientHello.
    """
    node = f"{host}:{port}"
    if options.tls == "auto":
        try:
            sock = open_socket(host, port, options.settled(False))
        except OSError as exc:
            raise describe_failure(node, exc, options) from None
        try:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            first = sock.recv(64)
        except OSError:
            first = b""
        finally:
            sock.close()
        options = options.settled(first[:1] not in (b"+", b"-"))
    client = control_client(host, port, options)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise describe_failure(node, exc, options) from None
    except OSError as exc:
        raise describe_failure(node, exc, options) from None
    finally:
        client.close()
    return options


def with_prompted_password(
    host: str, port: int, options: ConnectOptions, ask: Callable[[str], str | None] | None
) -> ConnectOptions:
    """`probe`, and on NOAUTH without a password ask once on the terminal and retry."""
    try:
        return probe(host, port, options)
    except AuthError as exc:
        if options.password or ask is None or "NOAUTH" not in str(exc):
            raise
        password = ask(f"{host}:{port}")
        if not password:
            raise
        return probe(host, port, dataclasses.replace(options, password=password))
