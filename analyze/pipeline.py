"""`hotshard analyze`: inputs -> Parquet dataset -> rollups -> report, summary, SQLite.

One pass reads every source a chunk at a time (`analyze.chunks`: each distinct command body of a
chunk parsed once), counts the capture's health as it goes and writes `OUT/commands/` (Parquet,
partitioned by shard) in memory bounded by the chunk; everything after reads that dataset.
Outputs are built in a temporary folder next to OUT and swapped in at the end, so a rerun never
mixes old and new files and a failed run leaves the previous output untouched.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl

from analyze import humanize, report, rollups, schema, slotstats, summary
from analyze import sqlite as sqlite_out
from analyze.errors import AnalyzeError, BadInput, BadRules
from analyze.findings import Findings, Window
from analyze.inputs import Inputs, parse_time, resolve
from analyze.verdict import recommendations, verdict
from capture import __version__

COMMANDS_DIR = "commands"
REPORT_NAME = "report.md"
SUMMARY_NAME = "summary.json"
KEY_SIZES_NAME = "key_sizes.parquet"
MARKER = ".hotshard-out"  # marks a folder this tool wrote, so a rerun may replace it


@dataclass
class AnalyzeOptions:
    inputs: list[str]
    out: str = "hotshard-out"
    shard: str | None = None
    node: str | None = None
    since: str | None = None
    until: str | None = None
    top: int = 20
    rules: str | None = None
    sqlite: bool = True
    cloudwatch: bool = False
    region: str | None = None
    quiet: bool = False
    console: bool = True  # print the short summary on stdout (check/diff keep stdout for markdown)


@dataclass
class AnalysisResult:
    out: Path
    rows: int  # commands written to the Parquet dataset (and SQLite)
    findings: Findings
    files: dict[str, Path] = field(default_factory=dict)  # output name -> path
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds


class _Progress:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"hotshard: [{time.perf_counter() - self.t0:6.1f}s] {message}", file=sys.stderr)

    def warn(self, message: str) -> None:
        """Shown even with --quiet: something about the input the user must know."""
        print(f"hotshard: warning: {message}", file=sys.stderr)


def run_analyze(options: AnalyzeOptions) -> AnalysisResult:
    """Analyze the inputs into `options.out`; print a short summary on stdout."""
    progress = _Progress(options.quiet)
    timings: dict[str, float] = {}
    out = Path(options.out)
    _check_out(out)
    inputs = resolve(options.inputs, options.shard, options.node)
    parse = _parser()
    sources = _sources(inputs)
    if options.cloudwatch and not inputs.manifests:
        raise BadInput(
            "--cloudwatch needs a capture folder (its manifest maps nodes to AWS cache cluster ids)"
        )

    # The capture's health is counted while parsing, unless a --since/--until relative to the
    # first line needs that line before the parse (plain logs: no manifest start).
    counts = [parse.LineCounts() for _ in sources]
    upfront = bool(options.since or options.until) and inputs.capture_span()[0] is None
    if upfront:
        progress(f"checking {len(sources)} source(s)")
        t = time.perf_counter()
        line_stats = parse.line_stats(sources)
        timings["line_stats"] = time.perf_counter() - t
    else:
        line_stats = pl.DataFrame(schema=parse.STATS_SCHEMA)  # for the window's bounds: none yet
    window = _window(options, inputs, line_stats)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; the output is a normal folder
    try:
        (tmp / MARKER).write_text("written by hotshard analyze; safe to delete\n")
        db = _Database(tmp / sqlite_out.DB_NAME, options.sqlite, timings)
        with db:
            progress(f"parsing into {COMMANDS_DIR}/ (Parquet)")
            t = time.perf_counter()
            # The window filter goes first: lines outside it never reach the key/reply stages.
            plans = parse_plans(inputs, options, window, counts)

            finished = itertools.count(1)

            def parsed() -> None:
                progress(f"parsed {next(finished)}/{len(sources)} source(s)")

            files = write_sources(plans, tmp / COMMANDS_DIR, db.add, parsed)
            timings["parse"] = time.perf_counter() - t
            if not upfront:
                line_stats = parse.stats_frame(sources, counts)
                window = _window(options, inputs, line_stats)  # the span, from the lines read
            inputs.warnings.extend(line_stats["note"].drop_nulls().to_list())
            findings, rows = _outputs(
                tmp, files, inputs, line_stats, window, options, timings, progress, db
            )
        _swap(tmp, out)
    except _WRITE_ERRORS as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _write_failed(out, exc) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    paths = {
        "report": out / REPORT_NAME,
        "summary": out / SUMMARY_NAME,
        "commands": out / COMMANDS_DIR,
    }
    if options.sqlite:
        paths["sqlite"] = out / sqlite_out.DB_NAME
    result = AnalysisResult(out=out, rows=rows, findings=findings, files=paths, timings=timings)
    stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items())
    progress(f"done: {humanize.count(rows)} commands ({stages})")
    for warning in inputs.warnings:
        progress.warn(warning)
    if options.console:
        print(console_summary(result))
    return result


# -- stages ---------------------------------------------------------------------------------
def parse_plans(
    inputs: Inputs, options: AnalyzeOptions, window: Window, counts: list[Any] | None = None
) -> Iterator[tuple[Iterator[pl.LazyFrame], str]]:
    """Per source, its shard and its plans, one per chunk of lines (`analyze.chunks`): the
    lines in the window, parsed through every stage, in the columns of `schema.COMMANDS`.
    Memory is bounded by the chunk. A source's plans are built as they are asked for, so each
    chunk's data is freed once its plan has run. `counts` (one `parse.LineCounts` per source)
    are filled with every line's health as the chunks are read."""
    _, stages = _stages(inputs, options)
    from analyze import chunks

    def keep(lf: pl.LazyFrame) -> pl.LazyFrame:
        return _filter_window(lf, window)

    for i, source in enumerate(_sources(inputs)):
        tally = counts[i] if counts is not None else None
        yield chunks.chunk_plans(source, stages, keep, counts=tally), source.shard


def line_plans(
    inputs: Inputs, options: AnalyzeOptions, window: Window
) -> Iterator[tuple[pl.LazyFrame, str]]:
    """The same rows as `parse_plans`, line by line in one streaming plan per source: the
    reference the chunked parse is tested against."""
    parse, stages = _stages(inputs, options)
    columns = [pl.col(c).cast(t) for c, t in schema.COMMANDS.items()]
    for source in _sources(inputs):
        yield stages(_filter_window(parse.scan([source]), window)).select(columns), source.shard


def _parser() -> Any:
    try:
        from analyze import parse
    except ImportError as exc:
        raise AnalyzeError(
            f"the MONITOR parser is not available in this build ({exc}); cannot analyze"
        ) from None
    return parse


def _sources(inputs: Inputs) -> list[Any]:
    parse = _parser()
    return [
        parse.Source(
            path=s.path,
            node=s.node,
            shard=s.shard,
            role=s.role,
            primary_addresses=s.primary_addresses,
        )
        for s in inputs.sources
    ]


def _stages(
    inputs: Inputs, options: AnalyzeOptions
) -> tuple[Any, Callable[[pl.LazyFrame], pl.LazyFrame]]:
    """The parser module and the composed lazy stages after `scan` (keys, slot, patterns, replies)."""
    parse = _parser()
    from analyze import keys, keyspecs, patterns, slots

    if options.rules is not None and not Path(options.rules).is_file():
        raise BadRules(f"{options.rules}: no such rules file")
    specs = keyspecs.load(inputs.commands_reply)
    rules = patterns.load_rules(options.rules)

    def add_patterns(lf: pl.LazyFrame) -> pl.LazyFrame:
        return patterns.add_patterns(lf, rules)

    try:
        from analyze import replies
    except ImportError:
        replies = None

    def key_patterns(lf: pl.LazyFrame) -> pl.LazyFrame:
        # Sampled keys get the same patterns as captured keys (no command: no signature).
        return lf.with_columns(key_pattern=patterns.pattern_expr(pl.col("key_name"), rules))

    sizes = None
    if replies is not None and inputs.key_sizes:
        sizes = replies.sizes_frame(inputs.key_sizes, key_patterns)

    def run(lf: pl.LazyFrame) -> pl.LazyFrame:
        lf = keys.add_keys(lf, specs)
        lf = slots.add_slot(lf)
        lf = add_patterns(lf)
        if replies is not None:
            lf = replies.estimate(lf, sizes, inputs.server_version, inputs.resp)
        else:
            lf = lf.with_columns(
                reply_bytes=pl.lit(None, pl.Int64), reply_confidence=pl.lit("unknown")
            )
        return lf

    return parse, run


def _window(options: AnalyzeOptions, inputs: Inputs, line_stats: pl.DataFrame) -> Window:
    cap_start, cap_end = inputs.capture_span()
    first = line_stats["first_ts"].min() if line_stats.height else None
    last = line_stats["last_ts"].max() if line_stats.height else None
    start = cap_start if cap_start is not None else first
    end = cap_end if cap_end is not None else last
    since = parse_time(options.since, start, "since")
    until = parse_time(options.until, start, "until")
    if since is not None and until is not None and until <= since:
        raise BadInput(f"--until ({options.until}) is not after --since ({options.since})")
    if since is not None and (start is None or since > start):
        start = since
    if until is not None and (end is None or until < end):
        end = until
    return Window(since=since, until=until, start=start, end=end)


def _filter_window(lf: pl.LazyFrame, w: Window) -> pl.LazyFrame:
    if w.since is not None:
        lf = lf.filter(pl.col("ts") >= w.since)
    if w.until is not None:
        lf = lf.filter(pl.col("ts") < w.until)
    return lf


def write_dataset(plan: pl.LazyFrame, folder: Path) -> list[Path]:
    """Stream `plan` into `folder/shard=<id>/*.parquet`; return the files (sorted).

    An empty result still gets one empty file, so the dataset can always be scanned.
    """
    plan.sink_parquet(pl.PartitionBy(folder, key="shard", include_key=True), mkdir=True)
    return _files(folder)


def write_sources(
    sources: Iterable[tuple[Iterable[pl.LazyFrame], str]],
    folder: Path,
    done: Callable[[Path], None] | None = None,
    source_done: Callable[[], None] | None = None,
) -> list[Path]:
    """Stream each source's chunk plans into `folder/shard=<id>/<n>-<k>.parquet`, one after
    the other (each one already keeps both cores busy), calling `done(file)` as each file is
    complete — SQLite fills from finished files while the next chunk is parsed — and
    `source_done()` after each source. Returns the files."""
    for n, (plans, shard) in enumerate(sources):
        for k, plan in enumerate(plans):
            path = folder / f"shard={quote(shard, safe='')}" / f"{n:05d}-{k:05d}.parquet"
            plan.sink_parquet(path, mkdir=True)
            del plan  # its chunk goes before the next one is read
            if done is not None:
                done(path)
        if source_done is not None:
            source_done()
    return _files(folder)


def _files(folder: Path) -> list[Path]:
    files = sorted(folder.rglob("*.parquet"))
    if not files:
        empty = folder / "shard=unknown" / "00000000.parquet"
        empty.parent.mkdir(parents=True, exist_ok=True)
        schema.empty_commands().write_parquet(empty)
        files = [empty]
    return files


class _Database:
    """hotshard.db, filled in a background thread: rows as each source's file is finished,
    then the indexes. SQLite is single-threaded and slow per row; this way it uses the core
    the other stages leave idle instead of running alone after them."""

    def __init__(self, path: Path, enabled: bool, timings: dict[str, float]) -> None:
        self.path, self.timings = path, timings
        self.pool = ThreadPoolExecutor(max_workers=1) if enabled else None
        self.jobs: list[Future[int]] = []
        if enabled:
            sqlite_out.create_commands(path)

    def __enter__(self) -> _Database:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def add(self, file: Path) -> None:
        """Queue a finished Parquet file; raise at once if an earlier one failed to go in."""
        for job in self.jobs:
            if job.done() and job.exception() is not None:
                job.result()  # fail now, not after parsing every other source
        if self.pool is not None:
            self.jobs.append(
                self.pool.submit(
                    self._timed, "sqlite_rows", sqlite_out.append_commands, self.path, [file]
                )
            )

    def finish(self) -> int:
        """Queue the indexes after the rows; return the row count once everything is in."""
        if self.pool is None:
            return 0
        index = self.pool.submit(
            self._timed, "sqlite_indexes", sqlite_out.index_commands, self.path
        )
        t = time.perf_counter()
        rows = sum(job.result() for job in self.jobs)
        index.result()
        self.timings["sqlite_wait"] = time.perf_counter() - t
        return rows

    def _timed(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t


def scan_dataset(files: list[Path]) -> pl.LazyFrame:
    # The shard column is inside the files: no hive parsing (it would read "0001" as 1).
    return pl.scan_parquet(files, hive_partitioning=False, schema=schema.COMMANDS)


def _outputs(
    tmp: Path,
    files: list[Path],
    inputs: Inputs,
    line_stats: pl.DataFrame,
    window: Window,
    options: AnalyzeOptions,
    timings: dict[str, float],
    progress: _Progress,
    db: _Database,
) -> tuple[Findings, int]:
    t = time.perf_counter()
    progress("computing rollups")
    lf = scan_dataset(files)
    span = (
        (window.start, window.end) if window.start is not None and window.end is not None else None
    )
    r = rollups.compute(
        lf, span=span, shards_known=inputs.shards_known, nodes_known=inputs.nodes_known
    )
    v = verdict(r)
    recs = recommendations(r, v, _cardinalities(inputs))
    findings = Findings(
        inputs=inputs.infos,
        window=window,
        line_stats=line_stats,
        rollups=r,
        verdict=v,
        recommendations=recs,
        top=options.top,
        warnings=inputs.warnings,
        measured_bytes_out=_measured(inputs),
        cloudwatch_bytes_out=_cloudwatch(inputs, window, options, progress),
        slot_stats=slotstats.measured(inputs.manifests),
        database=options.sqlite,
    )
    (tmp / REPORT_NAME).write_text(report.render(findings), encoding="utf-8")
    (tmp / SUMMARY_NAME).write_text(summary.render(findings, __version__), encoding="utf-8")
    _write_key_sizes(tmp / KEY_SIZES_NAME, inputs)
    timings["rollups_report"] = time.perf_counter() - t
    if options.sqlite:
        progress("finishing hotshard.db (indexes)")
        db.finish()
        t = time.perf_counter()
        sqlite_out.write_summaries(db.path, summary_tables(findings), info_table(findings))
        timings["sqlite_summaries"] = time.perf_counter() - t
    return findings, r.totals.rows


def _write_key_sizes(path: Path, inputs: Inputs) -> None:
    """The capture's sampled key sizes beside the commands, so `check` can judge an output alone."""
    if not inputs.key_sizes:
        return
    # `vars`, not `dataclasses.asdict` (a deep copy: 1.4 s for 40k keys); the fields are scalars.
    rows = [vars(k) for k in inputs.key_sizes]
    frame = pl.DataFrame(rows, infer_schema_length=None).sort(["node", "key"])
    frame.write_parquet(path)


def _measured(inputs: Inputs) -> dict[str, int | None]:
    """node -> bytes the server counted for its clients over the window (capture folders only)."""
    try:
        from analyze import reconcile
    except ImportError:
        return {}
    return {
        n.node: reconcile.measured_bytes_out(n)
        for m in inputs.manifests
        for n in m.nodes
        if n.monitored
    }


def _cloudwatch(
    inputs: Inputs, window: Window, options: AnalyzeOptions, progress: _Progress
) -> dict[str, float]:
    """node -> CloudWatch NetworkBytesOut over the window (whole minutes), when asked for."""
    if not options.cloudwatch or window.start is None or window.end is None:
        return {}
    from analyze import cloudwatch

    progress("reading NetworkBytesOut from CloudWatch")
    out: dict[str, float] = {}
    for m in inputs.manifests:
        frame = cloudwatch.fetch_network_bytes_out(m, window.start, window.end, options.region)
        for node, _, total, _ in cloudwatch.totals(frame).iter_rows():
            out[node] = float(total)
    return out


def _cardinalities(inputs: Inputs) -> pl.DataFrame | None:
    rows = [(k.key, k.cardinality) for k in inputs.key_sizes if k.cardinality is not None]
    if not rows:
        return None
    return pl.DataFrame(rows, schema={"key": pl.String, "cardinality": pl.Int64}, orient="row")


def summary_tables(f: Findings) -> dict[str, pl.DataFrame]:
    """The small tables that go into hotshard.db beside `commands`."""
    r = f.rollups
    line_stats = f.line_stats.select(
        [c for c, t in f.line_stats.schema.items() if not isinstance(t, pl.List | pl.Struct)]
    )
    return {
        "shards": r.shards,
        "nodes": r.nodes,
        "shard_commands": r.shard_commands,
        "hot_keys": r.hot_keys,
        "patterns": r.patterns,
        "signatures": r.signatures,
        "clients": r.clients,
        "slots": r.slots,
        "series": r.series,
        "large_ops": r.large_ops,
        "line_stats": line_stats,
    }


def info_table(f: Findings) -> dict[str, Any]:
    v = f.verdict
    return {
        "tool_version": __version__,
        "basis": f.rollups.basis,
        "hot_shard": v.hot_shard,
        "verdict": v.status,
        "skew_ratio": None if v.skew is None else round(v.skew, 6),
        "window_start": f.window.start,
        "window_end": f.window.end,
        "duration_s": f.rollups.duration,
    }


def _write_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError, sqlite3.Error, pl.exceptions.ComputeError]
    try:
        import adbc_driver_manager

        errors.append(adbc_driver_manager.Error)
    except ImportError:  # pragma: no cover - adbc is part of the analyze extra
        pass
    return tuple(errors)


# What a full disk, a file-size limit or an unwritable folder raise from Polars, SQLite and ADBC.
_WRITE_ERRORS = _write_errors()


def _write_failed(out: Path, exc: BaseException) -> AnalyzeError:
    """One readable line for an I/O failure on the way (a full disk, most often). The previous
    output, if any, is untouched: nothing was swapped in."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    message = f"stopped, {out} left as it was: {detail}"
    try:
        free = shutil.disk_usage(out.parent if out.parent.exists() else Path.cwd()).free
    except OSError:
        free = None
    if free is not None and free < 1 << 30:
        message += (
            f" — only {humanize.size(free)} free on that disk: free space or choose another --out"
        )
    else:
        message += (
            " — check the inputs are readable and --out is writable (--traceback for details)"
        )
    return AnalyzeError(message)


# -- the output folder ------------------------------------------------------------------------
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _check_out(out: Path) -> None:
    """Refuse to replace anything but an empty folder or an earlier hotshard output."""
    if not out.exists():
        return
    if not out.is_dir():
        raise BadInput(f"--out {out}: exists and is not a folder")
    if (out / MARKER).exists() or not any(out.iterdir()):
        return
    raise BadInput(
        f"--out {out}: the folder exists and was not written by hotshard analyze — "
        "choose another --out (hotshard replaces its output folder as a whole)"
    )


def _swap(tmp: Path, out: Path) -> None:
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.rename(out, old / "out")
        os.rename(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, out)


# -- console ------------------------------------------------------------------------------------
def console_summary(result: AnalysisResult) -> str:
    f = result.findings
    t = f.rollups.totals
    lines = f.lines()
    nodes = len({s for s in f.line_stats["source"].to_list()}) if f.line_stats.height else 0
    out = [
        f"hotshard: {humanize.count(t.rows)} commands from {nodes} source(s) "
        f"({humanize.count(lines['total'])} lines, {humanize.count(lines['errors'])} unparsable), "
        f"{humanize.duration(f.rollups.duration)}",
        f.verdict.text,
    ]
    hk = f.rollups.hot_keys
    if hk.height:
        k = hk.row(0, named=True)
        amount = humanize.size(k["est_bytes_out"]) if f.rollups.basis == "bytes" else None
        extra = f", {amount}" if amount else ""
        out.append(
            f"Top key: {humanize.printable(k['key_name'])} (shard {k['shard']}, "
            f"{humanize.count(k['commands'])} commands{extra})"
        )
    if f.recommendations:
        out.append(f"{len(f.recommendations)} recommendation(s) in the report.")
    o = result.out
    out.append(f"Report:   {o / REPORT_NAME}")
    out.append(f"Summary:  {o / SUMMARY_NAME}")
    out.append(f"Parquet:  {o / COMMANDS_DIR}/")
    if "sqlite" in result.files:
        out.append(f'Database: {o / sqlite_out.DB_NAME}  (hotshard query "SQL" --db {o})')
    return "\n".join(out)
