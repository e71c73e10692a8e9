"""The `hotshard` command line: parse arguments, call one library function, map errors.

Lives in `capture/` because the bastion install (no polars) must run `capture` and `endpoints`;
the analyze commands import their half lazily. Each command below is a plain documented function:
fire builds the CLI from the dict in `COMMANDS`, and the docstring is the `--help` page.
"""

from __future__ import annotations

import sys
import traceback as tb
from collections.abc import Sequence
from typing import Any

import fire
from fire.decorators import SetParseFn

from capture.errors import ExitStatus, HotshardError, UsageError


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


def as_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    try:
        return int(str(value).replace("_", ""))
    except ValueError:
        raise UsageError(f"--{name} takes a whole number, not {value!r}") from None


def as_float(value: Any, name: str) -> float | None:
    if value is None:
        return None
    try:
        return float(str(value))
    except ValueError:
        raise UsageError(f"--{name} takes a number, not {value!r}") from None


def as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"--{name} is a switch: use --{name} or --no{name}, not {value!r}")


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
    cloudwatch: bool = False,
    region: str | None = None,
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
      cloudwatch: fetch NetworkBytesOut from CloudWatch for the capture window.
      region: AWS region for --cloudwatch (default: AWS_REGION / profile).
      quiet: no progress on stderr.
    """
    from analyze.pipeline import AnalyzeOptions, run_analyze

    if not inputs:
        raise UsageError("analyze needs at least one input: a capture folder or a MONITOR log")
    options = AnalyzeOptions(
        inputs=list(inputs),
        out=out,
        shard=shard,
        node=node,
        since=since,
        until=until,
        top=as_int(top, "top") or 20,
        rules=rules,
        sqlite=as_bool(sqlite, "sqlite"),
        cloudwatch=as_bool(cloudwatch, "cloudwatch"),
        region=region,
        quiet=as_bool(quiet, "quiet"),
    )
    run_analyze(options)


@SetParseFn(str)
def query(sql: str, db: str = "hotshard-out/hotshard.db") -> None:
    """Run SQL over the SQLite output of `hotshard analyze` and print a table.

    Args:
      sql: the query, e.g. "SELECT key_name, COUNT(*) FROM commands GROUP BY 1 ORDER BY 2 DESC".
      db: path to hotshard.db (or the analyze output folder).
    """
    from analyze.query import run_query

    run_query(sql, db)


# -- capture half (no polars) ------------------------------------------------------------------
def capture(**kwargs: Any) -> None:
    """Capture MONITOR from every shard of a cluster into a capture folder (see --help)."""
    raise UsageError("capture is not implemented yet")


def endpoints(**kwargs: Any) -> None:
    """Discover a cluster's shards, slot ranges and nodes."""
    raise UsageError("endpoints is not implemented yet")


COMMANDS = {
    "analyze": analyze,
    "query": query,
    "capture": capture,
    "endpoints": endpoints,
}


# -- entry points ----------------------------------------------------------------------------
def run(argv: Sequence[str] | None = None) -> ExitStatus:
    """Run one command; return its exit status. Errors become one line on stderr."""
    args = list(sys.argv[1:] if argv is None else argv)
    show_traceback = "--traceback" in args
    args = [a for a in args if a != "--traceback"]
    try:
        fire.Fire(COMMANDS, command=args, name="hotshard")
    except HotshardError as exc:
        if show_traceback:
            tb.print_exc()
        print(f"hotshard: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("hotshard: interrupted", file=sys.stderr)
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:
        return ExitStatus.OK  # `hotshard query ... | head` is fine
    except fire.core.FireExit as exc:
        code = exc.code if isinstance(exc.code, int) else ExitStatus.USAGE
        return ExitStatus(code) if code in iter(ExitStatus) else ExitStatus.USAGE
    return ExitStatus.OK


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(int(run(argv)))


# The predecessor's command names, kept for existing runbooks.
def legacy_monitor() -> None:
    """`elasticache-monitor -c CLUSTER -p PASSWORD -d SECONDS [--save-to-db] ...`"""
    main(["capture", *sys.argv[1:]])


def legacy_endpoints() -> None:
    """`elasticache-endpoints -c CLUSTER`"""
    main(["endpoints", *sys.argv[1:]])


def legacy_analyze() -> None:
    """`elasticache-analyze -i FILE [-i FILE ...]`: -i/--input become positional inputs."""
    args, rest = [], list(sys.argv[1:])
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
