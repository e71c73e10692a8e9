"""The `hotshard` command line: parse arguments, call one library function, map errors.

Lives in `capture/` because the bastion install (no polars) must run `capture` and `endpoints`;
the analyze commands import their half lazily. Each command below is a plain documented function:
fire builds the CLI from the dict in `COMMANDS`, and the docstring is the `--help` page.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import importlib.util
import inspect
import math
import os
import sys
import traceback as tb
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fire
from fire.decorators import SetParseFn

from hotshard.capture import flags
from hotshard.capture.errors import ExitStatus, HotshardError, UsageError
from hotshard.capture.format.escape import printable

if TYPE_CHECKING:
    from hotshard.capture.connect import ConnectOptions


# fire parses values with literal_eval (`--shard 0001` could become 1, `a,b` a tuple): every
# command takes its values as text and converts them itself with these helpers.
def as_list(value: Any) -> list[str]:
    """`a,b` / ('a','b') / ['a'] / None -> list of non-empty strings."""
    if value is None or value is False:
        return []
    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
    else:
        items = str(value).split(",")
    return [i.strip() for i in items if i.strip()]


def as_int(value: Any, name: str, minimum: int | None = None) -> int | None:
    if value is None:
        return None
    try:
        number = int(str(value).replace("_", ""))
    except ValueError:
        raise UsageError(f"--{name} takes a whole number, not {value!r}") from None
    if minimum is not None and number < minimum:
        raise UsageError(f"--{name} takes a whole number of at least {minimum}, not {value!r}")
    return number


def as_float(value: Any, name: str, minimum: float | None = None) -> float | None:
    if value is None:
        return None
    try:
        number = float(str(value))
    except ValueError:
        raise UsageError(f"--{name} takes a number, not {value!r}") from None
    if not math.isfinite(number) or (minimum is not None and number < minimum):
        least = f" of at least {minimum:g}" if minimum is not None else ""
        raise UsageError(f"--{name} takes a finite number{least}, not {value!r}")
    return number


def as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"--{name} is a switch: use --{name} or --no{name}, not {value!r}")


def as_share(value: Any, name: str) -> float | None:
    """`5%`, `0.05` -> 0.05 (a share between 0 and 1)."""
    if value is None:
        return None
    text = str(value).strip()
    percent = text.endswith("%")
    try:
        number = float(text.rstrip("%")) / (100 if percent else 1)
    except ValueError:
        raise UsageError(f"--{name} takes a share such as 5% or 0.05, not {value!r}") from None
    if not math.isfinite(number) or not 0 <= number <= 1:
        raise UsageError(f"--{name} takes a share between 0% and 100%, not {value!r}")
    return number


# -- analyze half (imports polars lazily) ---------------------------------------------------
@SetParseFn(str)
def analyze(
    *inputs: str,
    out: str = "hotshard-out",
    shard: str | None = None,
    node: str | None = None,
    since: str | None = None,
    until: str | None = None,
    top: str = "20",
    rules: str | None = None,
    sqlite: bool = True,
    sqlite_index: bool = False,
    cloudwatch: bool = False,
    region: str | None = None,
    tolerance: str = "5%",
    max_line_bytes: str = "64MiB",
    redact: bool = False,
    redact_key: str | None = None,
    quiet: bool = False,
) -> None:
    """Analyze a capture folder or plain MONITOR logs (.log, .gz, .zst).

    Args:
      inputs: capture folder(s) or MONITOR log file(s).
      out: output folder for hotshard.db, commands/ (Parquet), report.md, summary.json.
      shard: shard label for plain logs (e.g. 0001).
      node: node label "host:port" for plain logs.
      since: start of the time window: epoch seconds, ISO time, or +SECONDS from capture start.
      until: end of the time window, same forms as --since.
      top: how many rows in each ranking.
      rules: TOML file of key-pattern rules (tried before the defaults).
      sqlite: write hotshard.db (use --nosqlite to skip it).
      sqlite_index: build hotshard.db's query index now (otherwise the first `hotshard query` does).
      cloudwatch: fetch NetworkBytesOut from CloudWatch for the capture window.
      region: AWS region for --cloudwatch (default: AWS_REGION / profile).
      tolerance: self-check: name the nodes whose estimate is off from measured by more (5%).
      max_line_bytes: lines longer than this are skipped with a note (64MiB; a line under it
        costs ~8x its length in memory while it is parsed).
      redact: outputs safe to share: keys as pattern#tag, client hosts as host#tag, no SQLite or Parquet.
      redact_key: the secret behind the tags (or HOTSHARD_REDACT_KEY): the same key gets the same tag in every run made with it.
      quiet: no progress on stderr.
    """
    from hotshard.analyze.commands.analyze import AnalyzeOptions, run_analyze

    if not inputs:
        raise UsageError("analyze needs at least one input: a capture folder or a MONITOR log")
    options = AnalyzeOptions(
        inputs=list(inputs),
        out=out,
        shard=shard,
        node=node,
        since=since,
        until=until,
        top=as_int(top, "top", minimum=1) or 20,
        rules=rules,
        sqlite=as_bool(sqlite, "sqlite"),
        sqlite_index=as_bool(sqlite_index, "sqlite_index"),
        cloudwatch=as_bool(cloudwatch, "cloudwatch"),
        region=region,
        tolerance=as_share(tolerance, "tolerance") or 0.0,
        max_line_bytes=max(1, as_bytes(max_line_bytes, "max-line-bytes") or 1),
        redact=as_bool(redact, "redact") or redact_key is not None,
        redact_key=None if redact_key is None else str(redact_key),
        quiet=as_bool(quiet, "quiet"),
    )
    run_analyze(options)


@SetParseFn(str)
def query(sql: str, db: str = "hotshard-out/hotshard.db", *, timeout: str | None = None) -> None:
    """Run SQL over the SQLite output of `hotshard analyze` and print a table, rows as they come.

    Args:
      sql: the query, e.g. "SELECT key_name, COUNT(*) FROM commands GROUP BY 1 ORDER BY 2 DESC".
      db: path to hotshard.db (or the analyze output folder).
      timeout: stop the query after this many seconds (exit 2); none by default.
    """
    from hotshard.analyze.commands.query import run_query

    run_query(sql, db, timeout=as_float(timeout, "timeout", minimum=0.001))


def _redactor(redact: Any, redact_key: Any) -> Any:
    """The `Redactor` of --redact / --redact-key (or HOTSHARD_REDACT_KEY), or None."""
    if not as_bool(redact, "redact") and redact_key is None:
        return None
    from hotshard.analyze.render.redact import Redactor

    return Redactor.create(None if redact_key is None else str(redact_key))


@SetParseFn(str)
def check(
    target: str,
    rules: str | None = None,
    junit: str | None = None,
    quiet: bool = True,
    fail_unjudged: bool = False,
    redact: bool = False,
    redact_key: str | None = None,
) -> None:
    """Fail a build when the traffic breaks a rule; exit 0 clean, 1 a rule broken, 2 bad input.

    Args:
      target: an analysis output folder, a capture folder, or MONITOR log(s).
      rules: TOML rules file (default: the shipped set, analyze/data/check_rules.toml).
      junit: also write the result as JUnit XML to this file (for CI test reports).
      quiet: no analysis progress on stderr (use --noquiet to see it).
      fail_unjudged: exit 1 when a rule cannot be judged on this input (no sizes, one shard,
        nothing measured); without it such a rule is reported "not judged" and exit is 0.
      redact: name keys as pattern#tag and nodes by shard and role (see analyze --redact).
      redact_key: the secret behind the tags (or HOTSHARD_REDACT_KEY).
    """
    from hotshard.analyze.commands.check import run_check

    red = _redactor(redact, redact_key)
    run_check(
        target,
        rules=rules,
        junit=junit,
        quiet=as_bool(quiet, "quiet"),
        fail_unjudged=as_bool(fail_unjudged, "fail-unjudged"),
        redactor=red,
    )


@SetParseFn(str)
def diff(
    before: str,
    after: str,
    top: str = "20",
    out: str | None = None,
    redact: bool = False,
    redact_key: str | None = None,
) -> None:
    """Compare two analyses (or captures, or logs): per shard, pattern and signature, per second.

    Args:
      before: analysis output folder, capture folder or MONITOR log of the "before" traffic.
      after: the same for the "after" traffic.
      top: rows per table.
      out: also write the markdown to this file.
      redact: patterns with no variable part shown as {KEY} (see analyze --redact).
      redact_key: the secret behind the tags (or HOTSHARD_REDACT_KEY).
    """
    from hotshard.analyze.commands.diff import run_diff

    top_rows = as_int(top, "top", minimum=1) or 20
    run_diff(before, after, top=top_rows, out=out, redactor=_redactor(redact, redact_key))


@SetParseFn(str)
def plan(target: str, goal: str = "1.1", quiet: bool = True) -> None:
    """Can moving slots cool the hot shard? ElastiCache layouts and self-managed slot moves.

    Args:
      target: an analysis output folder, a capture folder, or MONITOR log(s).
      goal: self-managed moves stop once the hottest shard is under this times the mean load.
      quiet: no analysis progress on stderr (use --noquiet to see it).
    """
    from hotshard.analyze.commands.plan import run_plan

    run_plan(target, as_float(goal, "goal", minimum=1.0) or 1.1, quiet=as_bool(quiet, "quiet"))


# -- capture half (no polars) ------------------------------------------------------------------
_BYTE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 10**6, "mb": 10**6, "g": 10**9,
               "gb": 10**9, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}  # fmt: skip


def as_bytes(value: Any, name: str) -> int | None:
    """`1000`, `32MB`, `1GiB` -> bytes."""
    if value is None:
        return None
    text = str(value).strip().lower().replace("_", "")
    number = text.rstrip("kmgib")
    unit = text[len(number) :]
    try:
        size = int(float(number) * _BYTE_UNITS[unit])
    except (ValueError, KeyError, OverflowError):
        size = -1
    if size < 0:
        raise UsageError(f"--{name} takes a size such as 500MB or 1GiB, not {value!r}")
    return size


SAVE_TO_DB_OUT = "hotshard-out"  # where --save-to-db analyzes the capture


def _apart(capture: Path, analysis: Path) -> None:
    """Refuse, before capturing, a capture folder inside (or holding) the --save-to-db output:
    the analysis replaces its folder as a whole and would delete the capture."""
    cap, ana = capture.resolve(), analysis.resolve()
    if cap == ana or ana in cap.parents or cap in ana.parents:
        raise UsageError(
            f"--out {capture} and --save-to-db's output ./{analysis} overlap: the analysis "
            "replaces its folder as a whole and would delete the capture — choose an --out "
            f"outside ./{analysis}"
        )


# The connection flags every command that talks to servers takes (capture/connect.py
# ConnectOptions), written once: name, default, help line.
CONNECTION_FLAGS: tuple[tuple[str, Any, str], ...] = (
    ("tls", "auto", "in-transit encryption: auto (default: detect), on or off."),
    ("tls_insecure", False, "do not verify the server certificate (not recommended)."),
    ("tls_ca", None, "CA bundle (PEM) to verify server certificates with."),
    ("user", None, "ACL user name (with the password below)."),
    (
        "password",
        None,
        "-p: the password (leaks into shell history; prefer HOTSHARD_PASSWORD, REDISCLI_AUTH "
        "or --password-file; a terminal prompt is the last resort).",
    ),
    ("password_file", None, "file whose first line is the password."),
)
_CONNECTION_DOC = "      (connection flags)\n"


def with_connection(fn: Callable[..., None]) -> Callable[..., None]:
    """A command `fn(..., *, connect)` as one that takes the connection flags in place of
    `connect` (its signature says so, its help where the docstring says `(connection flags)`) and gets `connect()`: the ConnectOptions they
    make, built when the command asks (after its own flags are read: a password prompt or the
    --tls-insecure warning never comes before a usage error)."""
    sig = inspect.signature(fn)
    params = [p for p in sig.parameters.values() if p.name != "connect"]
    flags = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
        for name, default, _ in CONNECTION_FLAGS
    ]
    outer = sig.replace(parameters=[*params, *flags])

    @functools.wraps(fn)
    def command(*args: Any, **kwargs: Any) -> None:
        given = outer.bind(*args, **kwargs)
        given.apply_defaults()
        values = dict(given.arguments)
        chosen = [values.pop(name) for name, _, _ in CONNECTION_FLAGS]
        return fn(**values, connect=lambda: _connect_options(*chosen))

    command.__signature__ = outer  # type: ignore[attr-defined]
    lines = "".join(f"      {name}: {text}\n" for name, _, text in CONNECTION_FLAGS)
    command.__doc__ = (fn.__doc__ or "").replace(_CONNECTION_DOC, lines)
    return command


def _connect_options(
    tls: Any, tls_insecure: Any, tls_ca: Any, user: Any, password: Any, password_file: Any
) -> ConnectOptions:
    from hotshard.capture.connect import ConnectOptions, resolve_password

    insecure = as_bool(tls_insecure, "tls-insecure")
    if insecure:  # an explicit opt-out of a safety check is said out loud, once
        print(
            "hotshard: warning: --tls-insecure: server certificates are not verified — anyone "
            "on the network path can pose as the cluster and read the password",
            file=sys.stderr,
        )
    return ConnectOptions(
        tls=str(tls).lower(),
        tls_insecure=insecure,
        tls_ca=tls_ca,
        user=user,
        password=resolve_password(password=password, password_file=password_file),
    )


@SetParseFn(str)
@with_connection
def capture(
    cluster: str | None = None,
    endpoints: str | None = None,
    duration: str = "60",
    out: str | None = None,
    nodes: str = "replicas",
    use_primary: bool = False,
    shards: str | None = None,
    max_bytes: str | None = None,
    max_omem: str = "32MB",
    compress: str = "zstd",
    region: str | None = None,
    profile: str | None = None,
    no_sizes: bool = False,
    sizes_top: str = "500",
    sizes_rate: str | None = None,
    start_sample_seconds: str = "1",
    poll_interval: str = "5",
    save_to_db: bool = False,
    estimate_bandwidth: bool = False,
    quiet: bool = False,
    *,
    connect: Callable[[], ConnectOptions],
) -> None:
    """Capture MONITOR from every shard of a cluster into a capture folder (for `analyze`).

    Args:
      cluster: -c: ElastiCache replication group name (found through AWS), or a label with --endpoints.
      endpoints: host:port[,host:port] of any node(s) of the cluster; skips AWS entirely.
      duration: -d: seconds to capture.
      out: capture folder (default captures/<cluster>-<UTC time>/); must be new or empty.
      nodes: which nodes of each shard to monitor: replicas (default, safest), primaries or all.
      use_primary: same as --nodes primaries (the predecessor's flag).
      shards: only these shards, e.g. 0001,0003.
      (connection flags)
      max_bytes: stop a node after this much MONITOR output, e.g. 2GB (default: no cap).
      max_omem: cut a node when the server buffers more than this for the capture (default 32MB); a separate watchdog process does it, even while the capture is stopped.
      compress: zstd (default), gzip or none.
      region: AWS region (default AWS_REGION / the profile's).
      profile: AWS profile (default AWS_PROFILE).
      no_sizes: skip key-size sampling after the window.
      sizes_top: how many of the busiest keys to size (default 500).
      sizes_rate: key-size sampling rate limit, commands per second per node (the in-window sampler and the after-window sample; default 500).
      start_sample_seconds: seconds into the window when the in-window sampler starts sizing each key soon after its first read (default 1; 0: sizes after the window only), so reads before a key's rewrite get its size then.
      poll_interval: seconds between INFO stats polls of each monitored node during the window (default 5; 0: none), for measured bytes out through time.
      save_to_db: then analyze the capture into ./hotshard-out (needs the analyze extra).
      estimate_bandwidth: kept for old runbooks: key sizes (the bandwidth estimate) are sampled by default.
      quiet: no live status on stderr (warnings still show).
    """
    from hotshard.capture.session import CaptureOptions, run_capture

    which = "primaries" if as_bool(use_primary, "use-primary") else str(nodes)
    then_analyze = as_bool(save_to_db, "save-to-db")  # read now: a bad value must not wait
    options = CaptureOptions(
        cluster=cluster,
        endpoints=as_list(endpoints),
        region=region,
        profile=profile,
        duration=as_float(duration, "duration") or 0.0,
        out=out,
        nodes=which,
        shards=as_list(shards),
        connect=connect(),
        compress=str(compress),
        max_bytes=as_bytes(max_bytes, "max-bytes"),
        max_omem=as_bytes(max_omem, "max-omem") or 0,
        sizes=not as_bool(no_sizes, "no-sizes")
        or as_bool(estimate_bandwidth, "estimate-bandwidth"),
        sizes_top=as_int(sizes_top, "sizes-top", minimum=1) or 500,
        sizes_rate=as_float(sizes_rate, "sizes-rate", minimum=1),
        start_sample_seconds=as_float(start_sample_seconds, "start-sample-seconds", minimum=0)
        or 0.0,
        poll_interval=as_float(poll_interval, "poll-interval", minimum=0) or 0.0,
        quiet=as_bool(quiet, "quiet"),
    )
    if then_analyze and out:
        _apart(Path(out), Path(SAVE_TO_DB_OUT))
    result = run_capture(options)
    with contextlib.suppress(OSError):  # the terminal hung up (EIO): the folder is what counts
        print(result.summary(), flush=True)
    if then_analyze:
        from hotshard.analyze.commands.analyze import AnalyzeOptions, run_analyze

        run_analyze(AnalyzeOptions(inputs=[str(result.folder)], out=SAVE_TO_DB_OUT))
    result.raise_for_status()


@SetParseFn(str)
@with_connection
def endpoints(
    cluster: str | None = None,
    endpoints: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    json: bool = False,
    *,
    connect: Callable[[], ConnectOptions],
) -> None:
    """Discover a cluster's shards, slot ranges, nodes and roles (from the engine itself).

    Args:
      cluster: -c: ElastiCache replication group name (found through AWS).
      endpoints: host:port[,host:port] of any node(s) of the cluster; skips AWS entirely.
      region: AWS region (default AWS_REGION / the profile's).
      profile: AWS profile (default AWS_PROFILE).
      (connection flags)
      json: print JSON instead of text.
    """
    from hotshard.capture.connect import prompt_password
    from hotshard.capture.topology import locate, render_json, render_text

    topology = locate(
        cluster=cluster,
        endpoints=as_list(endpoints),
        region=region,
        profile=profile,
        options=connect(),
        ask_password=prompt_password,
    )
    render = render_json if as_bool(json, "json") else render_text
    print(render(topology, cluster))


COMMANDS = {
    "analyze": analyze,
    "query": query,
    "capture": capture,
    "endpoints": endpoints,
    "check": check,
    "diff": diff,
    "plan": plan,
}


ANALYZE_COMMANDS = ("analyze", "query", "check", "diff")  # need polars & co (the analyze extra)
ANALYZE_EXTRA = (
    "install the analyze extra: pip install 'hotshard[analyze]' (from a clone of the "
    "repository: pip install '.[analyze]', or uv sync --extra analyze)"
)


def need_analyze_extra() -> None:
    """Refuse, before any work, a command that needs the analyze half on a capture-only install."""
    missing = [m for m in ("polars", "pyarrow") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"{' and '.join(missing)} not installed: {ANALYZE_EXTRA}")


def _saves_to_db(args: list[str]) -> bool:
    for i, a in enumerate(args):
        name, eq, value = a.partition("=")
        if name.replace("_", "-") == "--save-to-db":
            nxt = value if eq else (args[i + 1] if i + 1 < len(args) else "true")
            return nxt.startswith("--") or nxt.lower() not in ("0", "false", "no", "off")
    return False


# fire's `-x` shortcuts only work when one parameter starts with x; these are spelled out.
SHORT_FLAGS = {
    "capture": {"-c": "--cluster", "-d": "--duration", "-p": "--password"},
    "endpoints": {"-c": "--cluster", "-p": "--password"},
}


def expand_short_flags(args: list[str]) -> list[str]:
    if not args or args[0] not in SHORT_FLAGS:
        return args
    short = SHORT_FLAGS[args[0]]
    return [args[0], *(short.get(a, a) for a in args[1:])]


# -- entry points ----------------------------------------------------------------------------
def run(argv: Sequence[str] | None = None) -> ExitStatus:
    """Run one command; return its exit status. Errors become one line on stderr."""
    args = list(sys.argv[1:] if argv is None else argv)
    show_traceback = "--traceback" in args
    args = expand_short_flags([a for a in args if a != "--traceback"])
    try:
        if not args or args[0] in flags.HELP:
            print(flags.overview(COMMANDS), end="")
            return ExitStatus.OK if args else ExitStatus.USAGE
        if args[0] not in COMMANDS:
            close = difflib.get_close_matches(args[0], list(COMMANDS), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(f"unknown command {args[0]!r}{hint}; `hotshard --help` lists them")
        command = COMMANDS[args[0]]
        if any(a in flags.HELP[:2] for a in args[1:]):
            print(flags.help_page(args[0], command), end="")
            return ExitStatus.OK
        flags.check(args[0], args[1:], command)  # before anything connects or writes
        if args[0] in ANALYZE_COMMANDS or (args[0] == "capture" and _saves_to_db(args)):
            need_analyze_extra()
        fire.Fire(COMMANDS, command=args, name="hotshard")
    except HotshardError as exc:
        if show_traceback:
            tb.print_exc()
        # Messages quote paths, keys and server replies: inert text, lines kept as written.
        message = "\n".join(printable(line) for line in str(exc).split("\n"))
        _tell(f"hotshard: {message}")
        return exc.exit_status
    except KeyboardInterrupt:
        _tell("hotshard: interrupted")
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:
        return ExitStatus.OK  # `hotshard query ... | head` is fine
    except fire.core.FireExit as exc:
        code = exc.code if isinstance(exc.code, int) else ExitStatus.USAGE
        return ExitStatus(code) if code in {s.value for s in ExitStatus} else ExitStatus.USAGE
    except OSError as exc:  # a file or folder the library did not expect to fail
        if show_traceback:
            tb.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        print(
            f"hotshard: {printable(where + (exc.strerror or str(exc)))} (--traceback for details)",
            file=sys.stderr,
        )
        return ExitStatus.ERROR
    except Exception as exc:  # a bug: still one line, and the way to see the stack
        if show_traceback:
            tb.print_exc()
        print(
            f"hotshard: internal error: {type(exc).__name__}: {printable(str(exc))} — rerun with "
            "--traceback and report it",
            file=sys.stderr,
        )
        return ExitStatus.ERROR
    return ExitStatus.OK


def _tell(text: str) -> None:
    """A last line on stderr, unless the terminal hung up (EIO): the exit status still says."""
    with contextlib.suppress(OSError):
        print(text, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    status = run(argv)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:  # a hung-up terminal: no flush at exit either (it would exit 120)
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    sys.exit(int(status))


# The predecessor's command names, kept for existing runbooks.
def legacy_monitor() -> None:
    """`elasticache-monitor -c CLUSTER -p PASSWORD -d SECONDS [--save-to-db] ...`"""
    main(["capture", *sys.argv[1:]])


def legacy_endpoints() -> None:
    """`elasticache-endpoints -c CLUSTER`"""
    main(["endpoints", *sys.argv[1:]])


def legacy_analyze() -> None:
    """`elasticache-analyze -i FILE [-i FILE ...]`: -i/--input become positional inputs."""
    args: list[str] = []
    rest = list(sys.argv[1:])
    while rest:
        arg = rest.pop(0)
        if arg in ("-i", "--input") and rest:
            args.insert(0, rest.pop(0))
        elif arg.startswith("--input="):
            args.insert(0, arg.split("=", 1)[1])
        else:
            args.append(arg)
    main(["analyze", *args])


def legacy_query() -> None:
    """`elasticache-query "SQL"`"""
    main(["query", *sys.argv[1:]])
