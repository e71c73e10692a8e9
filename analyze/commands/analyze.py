"""`hotshard analyze`: inputs -> rows, keys, signatures -> rollups -> report, summary, SQLite.

One pass reads every source a chunk at a time (`hotshard.analyze.rows.rows`: per-key work once per distinct
key), counts the capture's health as it goes and writes `OUT/commands/` (Parquet, partitioned by
shard) in memory bounded by the chunk and the number of distinct keys; SQLite fills from the
same rows on the other core meanwhile. Rollups read the narrow dataset back.
Outputs are built in a temporary folder next to OUT and swapped in at the end, so a rerun never
mixes old and new files and a failed run leaves the previous output untouched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import itertools
import math
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import polars as pl

from hotshard.analyze import humanize, schema
from hotshard.analyze.commands import plan
from hotshard.analyze.errors import AnalyzeError, BadInput, BadRules
from hotshard.analyze.estimate import logged
from hotshard.analyze.estimate.replies import write_commands
from hotshard.analyze.findings import extent, fixes, rollups, slotplan, timeline
from hotshard.analyze.findings.findings import Findings, Window
from hotshard.analyze.findings.verdict import HOT_KEY_SHARE, recommendations, verdict
from hotshard.analyze.keys import patterns
from hotshard.analyze.measure import bandwidth, reconcile, selfcheck, slotstats
from hotshard.analyze.read import parse
from hotshard.analyze.read.inputs import Inputs, check_window, parse_time, resolve
from hotshard.analyze.render import charts, metrics, redact, report, summary
from hotshard.analyze.rows import rows
from hotshard.analyze.store import private, tables
from hotshard.analyze.store import sqlite as sqlite_out
from hotshard.capture import __version__

COMMANDS_DIR = tables.COMMANDS_DIR
REPORT_NAME = "report.md"
SUMMARY_NAME = "summary.json"
KEY_SIZES_NAME = "key_sizes.parquet"
METRICS_NAME = "hotshard.prom"  # Prometheus textfile (analyze/render/metrics.py)
MARKER = ".hotshard-out"  # marks a folder this tool wrote, so a rerun may replace it
# docs/BENCHMARKS.md: zstd costs more time than the smaller files are worth.
PARQUET_COMPRESSION: Literal["lz4"] = "lz4"


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
    sqlite_index: bool = False  # build the query index now, not on the first `hotshard query`
    cloudwatch: bool = False
    region: str | None = None
    quiet: bool = False
    console: bool = True  # print the short summary on stdout (check/diff keep stdout for markdown)
    tolerance: float = selfcheck.TOLERANCE  # self-check: a node off by more is named
    max_line_bytes: int = parse.MAX_LINE_BYTES  # longer lines are skipped with a note
    redact: bool = (
        False  # outputs safe to share (analyze/render/redact.py): no key names, no addresses
    )
    redact_key: str | None = None  # the secret that keeps redaction tags stable across runs


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
        print(f"hotshard: warning: {humanize.printable(message)}", file=sys.stderr)


def run_analyze(options: AnalyzeOptions) -> AnalysisResult:
    """Analyze the inputs into `options.out`; print a short summary on stdout."""
    progress = _Progress(options.quiet)
    timings: dict[str, float] = {}
    if options.redact:  # the commands table is every key and address: not in a shared folder
        options = dataclasses.replace(options, sqlite=False)
    out = Path(options.out)
    with _out_lock(out):
        return _analyze(options, out, progress, timings)


def _analyze(
    options: AnalyzeOptions, out: Path, progress: _Progress, timings: dict[str, float]
) -> AnalysisResult:
    _check_out(out)
    inputs = resolve(options.inputs, options.shard, options.node)
    check_out_apart(out, [*options.inputs, *(str(s.path) for s in inputs.sources)])
    sources = _sources(inputs, options.max_line_bytes)
    if options.cloudwatch and not inputs.manifests:
        raise BadInput(
            "--cloudwatch needs a capture folder (its manifest maps nodes to AWS cache cluster ids)"
        )
    ctx = _context(inputs, options)

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
    ctx = dataclasses.replace(ctx, since=window.since)

    tmp = private.build_folder(out)  # 0700, next to out
    try:
        (tmp / MARKER).write_text("written by hotshard analyze; safe to delete\n")
        db = _Database(tmp / sqlite_out.DB_NAME, options.sqlite, timings, options.sqlite_index)
        with db:
            progress(f"parsing into {COMMANDS_DIR}/ (Parquet)")
            t = time.perf_counter()
            polls = _poll_clients(inputs)
            chunks = (
                (
                    rows.source_rows(
                        s,
                        ctx,
                        _keep(window, polls.get(s.node)),
                        c,
                    ),
                    s.shard,
                )
                for s, c in zip(sources, counts, strict=True)
            )
            finished = itertools.count(1)

            def parsed() -> None:
                progress(f"parsed {next(finished)}/{len(sources)} source(s)")

            partials = rollups.Partials()

            def written(chunk: pl.DataFrame) -> None:
                db.add(chunk)
                partials.add(chunk)

            files = write_sources(chunks, tmp / COMMANDS_DIR, written, parsed)
            parse_seconds = time.perf_counter() - t
            timings["parse"] = parse_seconds
            lines = sum(c.rows for c in counts)
            progress(
                f"parsed {humanize.count(lines)} lines in {parse_seconds:.1f} s "
                f"({humanize.count(round(lines / max(parse_seconds, 1e-9)))} lines/s), "
                f"{humanize.count(ctx.keys.count)} distinct keys"
            )
            # The plotting library loads while the tables and rollups are made (Polars, no GIL).
            threading.Thread(target=charts.preload, name="hotshard-charts", daemon=True).start()
            core = extent.core(partials.node_seconds())
            names: dict[str, list[str]] = {}
            for src in sources:
                names.setdefault(src.node, []).append(Path(src.path).name)
            if core is not None and (outlying := extent.note(core, names)):
                partials.clip_seconds(core.start, core.end)
                inputs.warnings.append(outlying)
            else:
                core = None
            if not upfront:
                line_stats = parse.stats_frame(sources, counts)
                window = _window(options, inputs, line_stats, core)  # the span, from the lines
            lo, hi = _bounds(window)
            inputs.warnings.extend(
                n
                for s, c in zip(sources, counts, strict=True)
                if (n := c.step_note(Path(s.path).name, lo, hi))
            )
            inputs.warnings.extend(line_stats["note"].drop_nulls().to_list())
            t = time.perf_counter()
            found = tables.Tables(
                rows=scan_dataset(files),
                keys=ctx.keys.table(),
                signatures=ctx.signatures.table(),
                sources=_sources_table(sources),
            )
            tables.write(tmp, found.keys, found.signatures, found.sources)
            db.add_tables(found)
            timings["tables"] = time.perf_counter() - t
            findings, n_rows = _outputs(
                tmp,
                found,
                partials,
                inputs,
                line_stats,
                window,
                options,
                timings,
                progress,
                db,
                _covered(counts, window, inputs),
            )
        if options.redact:
            _keep_only_shareable(tmp)
        private.restrict(tmp)  # files 0600 before anyone can see them (analyze/store/private.py)
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
        "metrics": out / METRICS_NAME,
    }
    if not options.redact:
        paths["commands"] = out / COMMANDS_DIR
    if options.sqlite:
        paths["sqlite"] = out / sqlite_out.DB_NAME
    result = AnalysisResult(out=out, rows=n_rows, findings=findings, files=paths, timings=timings)
    total = time.perf_counter() - progress.t0
    stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items())
    progress(
        f"done: {humanize.count(n_rows)} commands, "
        f"{humanize.count(round(lines / max(total, 1e-9)))} lines/s overall ({stages})"
    )
    for warning in inputs.warnings:
        progress.warn(warning)
    if options.console:
        print(console_summary(result))
    return result


# hotshard.prom is made from the (redacted) summary: as shareable as it is.
SHAREABLE = (REPORT_NAME, SUMMARY_NAME, METRICS_NAME, charts.CHARTS_DIR, MARKER)


def _keep_only_shareable(folder: Path) -> None:
    """A redacted output keeps the report, summary and charts; the commands table (Parquet),
    the key and signature tables and the sampled key sizes name every key: they go."""
    for entry in sorted(folder.iterdir()):
        if entry.name in SHAREABLE:
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _context(inputs: Inputs, options: AnalyzeOptions) -> rows.Context:
    """Key specs, pattern rules and sampled sizes of this analysis."""
    if options.rules is not None and not Path(options.rules).is_file():
        raise BadRules(f"{options.rules}: no such rules file")
    return rows.Context.create(
        inputs.commands_reply,
        patterns.load_rules(options.rules),
        inputs.key_sizes,
        inputs.resp,
        inputs.start_key_sizes,
        {s.node: s.shard for s in inputs.sources if s.shard != "unknown"},
        inputs.client_protocols,
        logged.by_node(inputs.manifests),
    )


def _sources(inputs: Inputs, max_line_bytes: int = parse.MAX_LINE_BYTES) -> list[parse.Source]:
    return [
        parse.Source(
            path=s.path,
            max_line_bytes=max_line_bytes,
            node=s.node,
            shard=s.shard,
            role=s.role,
            primary_addresses=s.primary_addresses,
        )
        for s in inputs.sources
    ]


def _sources_table(sources: Iterable[parse.Source]) -> pl.DataFrame:
    return pl.DataFrame(
        [(Path(s.path).name, s.node, s.shard, s.role) for s in sources],
        schema=tables.SOURCES,
        orient="row",
    )


def _window(
    options: AnalyzeOptions,
    inputs: Inputs,
    line_stats: pl.DataFrame,
    core: extent.Extent | None = None,
) -> Window:
    """The window analyzed; `core`: the data's extent when some timestamps lie outside it."""
    cap_start, cap_end = inputs.capture_span()
    first = _float(line_stats["first_ts"].min()) if line_stats.height else None
    last = _float(line_stats["last_ts"].max()) if line_stats.height else None
    if core is not None:
        first = core.start if first is None else max(first, core.start)
        last = core.end if last is None else min(last, core.end)
    start = cap_start if cap_start is not None else first
    end = cap_end if cap_end is not None else last
    since = parse_time(options.since, start, "since")
    until = parse_time(options.until, start, "until")
    if since is not None and until is not None and until <= since:
        raise BadInput(f"--until ({options.until}) is not after --since ({options.since})")
    check_window(since, until, start, end)
    if since is not None and (start is None or since > start):
        start = since
    if until is not None and (end is None or until < end):
        end = until
    return Window(since=since, until=until, start=start, end=end)


def _covered(counts: list[parse.LineCounts], window: Window, inputs: Inputs) -> float | None:
    """The seconds a plain log's lines cover when a node's clock stepped back (the union of
    the spans between steps, inside the window); None otherwise (the window's length)."""
    lo, hi = _bounds(window)
    if not any(c.real_steps(lo, hi) for c in counts) or inputs.capture_span()[0] is not None:
        return None
    spans = sorted((max(a, lo), min(b, hi)) for c in counts for a, b in c.segments)
    total, reach = 0.0, -math.inf
    for a, b in spans:
        if b > max(a, reach):
            total += b - max(a, reach)
        reach = max(reach, b)
    return total


def _bounds(window: Window) -> tuple[float, float]:
    lo = window.start if window.start is not None else -math.inf
    return lo, window.end if window.end is not None else math.inf


def _keep(
    window: Window, poll_client: tuple[str, ...] | None
) -> Callable[[pl.LazyFrame], pl.LazyFrame]:
    """The header rows of one source that count: in the window, not the capture's own polls."""

    def keep(lf: pl.LazyFrame) -> pl.LazyFrame:
        return _filter_window(_without_polls(lf, poll_client), window)

    return keep


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _filter_window(lf: pl.LazyFrame, w: Window) -> pl.LazyFrame:
    if w.since is not None:
        lf = lf.filter(pl.col("ts") >= w.since)
    if w.until is not None:
        lf = lf.filter(pl.col("ts") < w.until)
    return lf


def _poll_clients(inputs: Inputs) -> dict[str, tuple[str, ...]]:
    """node -> the addresses of the capture's INFO polls (capture/poll.py) and start-of-window
    sampler (capture/window_sample.py) there."""
    out: dict[str, tuple[str, ...]] = {}
    for m in inputs.manifests:
        for n in m.nodes:
            own = tuple(a for a in (n.poll_client, n.sampler_client) if a)
            if own:
                out[n.node] = own
    return out


def _without_polls(lf: pl.LazyFrame, clients: tuple[str, ...] | None) -> pl.LazyFrame:
    """The capture's own polls and samples are not the application's traffic: leave them out."""
    return lf.filter(~pl.col("client").is_in(list(clients)).fill_null(False)) if clients else lf


def write_sources(
    sources: Iterable[tuple[Iterable[pl.DataFrame], str]],
    folder: Path,
    done: Callable[[pl.DataFrame], None] | None = None,
    source_done: Callable[[], None] | None = None,
) -> list[Path]:
    """Write each source's chunks of rows to `folder/shard=<id>/<n>-<k>.parquet`, one after
    the other, calling `done(rows)` as each chunk is written (SQLite takes them on the other
    core) and `source_done()` after each source. Returns the files."""
    for n, (chunks, shard) in enumerate(sources):
        for k, chunk in enumerate(chunks):
            path = folder / f"shard={quote(shard, safe='')}" / f"{n:05d}-{k:05d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            schema.for_parquet(chunk).write_parquet(path, compression=PARQUET_COMPRESSION)
            if done is not None:
                done(chunk)
            del chunk  # its rows go before the next chunk is read
        if source_done is not None:
            source_done()
    return _files(folder)


def _files(folder: Path) -> list[Path]:
    files = sorted(folder.rglob("*.parquet"))
    if not files:
        empty = folder / "shard=unknown" / "00000000.parquet"
        empty.parent.mkdir(parents=True, exist_ok=True)
        schema.for_parquet(schema.empty()).write_parquet(empty)
        files = [empty]
    return files


class _Database:
    """hotshard.db, filled in a background thread from the rows as each chunk is written, then
    the keys and signatures, the indexes and the views. SQLite is single-threaded and slow per
    row; this way it uses the core the other stages leave idle instead of running alone after
    them. At most `PENDING` chunks wait for it: a slower SQLite slows the parse down instead of
    holding every chunk in memory."""

    PENDING = 2

    def __init__(
        self, path: Path, enabled: bool, timings: dict[str, float], index: bool = False
    ) -> None:
        self.path, self.timings, self.index = path, timings, index
        self.pool = ThreadPoolExecutor(max_workers=1) if enabled else None
        self.jobs: list[Future[int]] = []
        if enabled:
            sqlite_out.create_commands(path)

    def __enter__(self) -> _Database:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def add(self, chunk: pl.DataFrame) -> None:
        """Queue a chunk of rows; raise at once if an earlier one failed to go in."""
        if self.pool is None:
            return
        for job in self.jobs:
            if job.done() and job.exception() is not None:
                job.result()  # fail now, not after parsing every other source
        pending = [job for job in self.jobs if not job.done()]
        while len(pending) >= self.PENDING:
            t = time.perf_counter()
            pending[0].result()
            self.timings["sqlite_wait"] = self.timings.get("sqlite_wait", 0.0) + (
                time.perf_counter() - t
            )
            pending = [job for job in self.jobs if not job.done()]
        arrow = sqlite_out.commands_arrow(chunk)
        self.jobs.append(
            self.pool.submit(
                self._timed, "sqlite_rows", sqlite_out.append_commands, self.path, arrow
            )
        )

    def add_tables(self, found: tables.Tables) -> None:
        """Queue the keys and signatures tables, the indexes and the views, after the rows."""
        if self.pool is not None:
            self.jobs.append(
                self.pool.submit(
                    self._timed,
                    "sqlite_tables",
                    sqlite_out.write_dimensions,
                    self.path,
                    found,
                    self.index,
                )
            )

    def finish(self) -> int:
        """Return the row count once everything queued is in."""
        if self.pool is None:
            return 0
        t = time.perf_counter()
        rows_in = sum(job.result() or 0 for job in self.jobs)
        self.timings["sqlite_wait"] = self.timings.get("sqlite_wait", 0.0) + (
            time.perf_counter() - t
        )
        return rows_in

    def _timed(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t


def scan_dataset(files: list[Path]) -> pl.LazyFrame:
    # The shard is a column inside the files: no hive parsing (it would read "0001" as 1).
    return (
        schema.with_all_columns(pl.scan_parquet(files, hive_partitioning=False))
        .select(list(schema.COMMANDS))
        .cast(schema.COMMANDS)  # type: ignore[arg-type]
    )


def _outputs(
    tmp: Path,
    found: tables.Tables,
    partials: rollups.Partials,
    inputs: Inputs,
    line_stats: pl.DataFrame,
    window: Window,
    options: AnalyzeOptions,
    timings: dict[str, float],
    progress: _Progress,
    db: _Database,
    duration: float | None = None,
) -> tuple[Findings, int]:
    t = time.perf_counter()
    progress("computing rollups")
    span = (
        (window.start, window.end) if window.start is not None and window.end is not None else None
    )
    r = rollups.compute(
        found,
        partials=partials,
        span=span,
        duration=duration,
        shards_known=inputs.shards_known,
        nodes_known=inputs.nodes_known,
    )
    check = selfcheck.build(
        inputs.manifests,
        found.rows,
        inputs.commands_reply,
        options.tolerance,
        (window.since, window.until),
    )
    v = verdict(r, check)
    if inputs.role_changes:  # the verdict says so: the roles it compares did not hold throughout
        v = dataclasses.replace(
            v,
            text=f"{v.text} Note: a monitored node of shard {', '.join(inputs.role_changes)} "
            "changed role during the window (a failover: see Health) — reads moved between "
            "nodes mid-window, so this comparison mixes before and after.",
        )
    if inputs.slot_moves:  # a reshard: per-shard numbers of the moved slots are mixed
        v = dataclasses.replace(
            v,
            text=f"{v.text} Note: slots moved between shards {', '.join(inputs.slot_moves)} "
            "during the window (a reshard: see Health) — per-shard numbers for those slots "
            "mix their old and new owner.",
        )
    recs = recommendations(r, v, _cardinalities(inputs), context=_fix_context(found, r, inputs))
    per_minute = _cloudwatch(inputs, window, options, progress)
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
        cloudwatch_bytes_out=_cloudwatch_totals(per_minute),
        slot_stats=slotstats.measured(inputs.manifests),
        commandlog=logged.coverage(inputs.manifests, found.rows),
        database=options.sqlite,
        timeline=timeline.build(r, window, inputs.manifests, per_minute),
        node_ids={
            n.node: n.aws_node_id for m in inputs.manifests for n in m.nodes if n.aws_node_id
        },
        self_check=check,
        plan=_plan(r, inputs, v.values),
        network=_network(inputs, window, options, per_minute, check, r.duration),
    )
    if options.redact:
        red = redact.Redactor.create(options.redact_key)
        findings = redact.findings(findings, red, _cardinalities(inputs))
        findings.redaction = redact.note(red)
        # The plan from the redacted rollups, without the primaries' addresses and ids or the
        # sampled key names; the allowance table with node labels.
        load = plan.from_rollups(findings.rollups, totals=findings.verdict.values)
        findings.plan = slotplan.build(load) if load is not None else None
        findings.network = bandwidth.relabel(findings.network, red.node, red.text)
        inputs.warnings[:] = findings.warnings  # stderr too
    drawn = time.perf_counter()
    findings.charts = charts.write(tmp, findings, inputs.manifests)
    timings["charts"] = time.perf_counter() - drawn
    (tmp / REPORT_NAME).write_text(report.render(findings), encoding="utf-8")
    (tmp / SUMMARY_NAME).write_text(summary.render(findings, __version__), encoding="utf-8")
    (tmp / METRICS_NAME).write_text(
        metrics.render(summary.build(findings, __version__)), encoding="utf-8"
    )
    if not options.redact:
        _write_key_sizes(tmp / KEY_SIZES_NAME, inputs)
    timings["rollups_report"] = time.perf_counter() - t
    if options.sqlite:
        progress("finishing hotshard.db")
        db.finish()
        t = time.perf_counter()
        sqlite_out.write_summaries(
            db.path, summary_tables(findings, found.signatures), info_table(findings)
        )
        timings["sqlite_summaries"] = time.perf_counter() - t
    return findings, r.totals.rows


def _fix_context(found: tables.Tables, r: rollups.Rollups, inputs: Inputs) -> fixes.Context:
    """Evidence for the hot keys' fixes: one filtered pass over the rows of a few keys."""
    hot = r.hot_keys.filter(pl.col("share_of_shard") >= HOT_KEY_SHARE).head(20)
    rows = None
    if not hot.is_empty():
        rows = fixes.evidence(found, hot, write_commands(inputs.commands_reply))
    scripts = fixes.script_bytes(found) if r.totals.script else 0
    return fixes.context(rows, inputs.manifests, scripts)


def _plan(r: rollups.Rollups, inputs: Inputs, totals: dict[str, float]) -> slotplan.Plan | None:
    """The slot plan, its shard loads the verdict's (`totals`): one skew everywhere."""
    load = plan.from_rollups(r, inputs.manifests, inputs.key_sizes, totals)
    return slotplan.build(load) if load is not None else None


def _write_key_sizes(path: Path, inputs: Inputs) -> None:
    """The capture's sampled key sizes beside the commands, so `check` can judge an output alone."""
    if not inputs.key_sizes:
        return
    # `vars`, not `dataclasses.asdict` (a deep copy, slow for many keys): the fields are scalars.
    rows = [vars(k) for k in inputs.key_sizes]
    frame = pl.DataFrame(rows, infer_schema_length=None).sort(["node", "key"])
    frame.write_parquet(path)


def _measured(inputs: Inputs) -> dict[str, int | None]:
    """node -> bytes the server counted for its clients over the window (capture folders only)."""
    return {
        n.node: reconcile.measured_bytes_out(n)
        for m in inputs.manifests
        for n in m.nodes
        if n.monitored
    }


def _cloudwatch(
    inputs: Inputs, window: Window, options: AnalyzeOptions, progress: _Progress
) -> pl.DataFrame | None:
    """CloudWatch NetworkBytesOut per node and minute over the window, when asked for."""
    if not options.cloudwatch or window.start is None or window.end is None:
        return None
    from hotshard.analyze.measure import cloudwatch

    progress("reading NetworkBytesOut from CloudWatch")
    frames = [
        cloudwatch.fetch_network_bytes_out(m, window.start, window.end, options.region)
        for m in inputs.manifests
    ]
    return pl.concat(frames) if frames else None


def _network(
    inputs: Inputs,
    window: Window,
    options: AnalyzeOptions,
    per_minute: pl.DataFrame | None,
    check: selfcheck.SelfCheck,
    duration: float,
) -> bandwidth.Network | None:
    """Each node's bytes/s against its node type's bandwidth (with --cloudwatch only)."""
    if per_minute is None or window.start is None or window.end is None:
        return None
    from hotshard.analyze.measure import cloudwatch

    warnings: list[str] = []
    frames = []
    for m in inputs.manifests:
        try:
            frames.append(
                cloudwatch.fetch_metric(
                    m,
                    window.start,
                    window.end,
                    options.region,
                    metric=bandwidth.ALLOWANCE_METRIC,
                    column="exceeded",
                )
            )
        except cloudwatch.CloudWatchError as exc:
            warnings.append(f"{bandwidth.ALLOWANCE_METRIC} unknown: {exc}")
    types, type_warnings = bandwidth.node_types(inputs.manifests, options.region)
    nodes = sorted({(n.node, n.shard, n.role) for m in inputs.manifests for n in m.nodes})
    client: dict[str, tuple[int, str]] = {}
    replication: dict[str, int | None] = {}
    for n in check.nodes:
        client[n.node] = (
            (n.measured, "measured") if n.measured is not None else (n.estimated, "estimated")
        )
        rep = n.replication
        replication[n.node] = rep.measured if rep.measured is not None else rep.estimated
    return bandwidth.build(
        nodes,
        types,
        per_minute,
        pl.concat(frames) if frames else None,
        client,
        replication,
        duration,
        [*warnings, *type_warnings],
    )


def _cloudwatch_totals(frame: pl.DataFrame | None) -> dict[str, float]:
    """node -> CloudWatch NetworkBytesOut over the window (whole minutes)."""
    if frame is None:
        return {}
    from hotshard.analyze.measure import cloudwatch

    return {node: float(total) for node, _, total, _ in cloudwatch.totals(frame).iter_rows()}


def _cardinalities(inputs: Inputs) -> pl.DataFrame | None:
    rows = [(k.key, k.cardinality) for k in inputs.key_sizes if k.cardinality is not None]
    if not rows:
        return None
    return pl.DataFrame(rows, schema={"key": pl.String, "cardinality": pl.Int64}, orient="row")


def summary_tables(f: Findings, signatures: pl.DataFrame | None = None) -> dict[str, pl.DataFrame]:
    """The small tables that go into hotshard.db beside `commands`. `signatures` (every
    signature by id) makes the `signatures` table complete: the ranked sums where there are
    some, the id and attributes for all."""
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
        "signatures": r.signatures
        if signatures is None
        else signatures.join(
            r.signatures.drop("command", "key_pattern"), on="signature", how="left"
        ).sort("signature_id"),
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
        "estimate": v.estimate,
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


def check_out_apart(out: Path, inputs: Iterable[str | Path]) -> None:
    """Refuse an --out that holds an input or lies inside one: replacing the output folder as
    a whole (`_swap`) would delete the input, or write into a capture."""
    real_out = out.resolve()
    for text in inputs:
        real = Path(text).resolve()
        if real == real_out or real_out in real.parents:
            raise BadInput(
                f"--out {out} holds the input {text}: writing the output replaces that folder "
                "as a whole and would delete it — choose another --out"
            )
        if real in real_out.parents:
            raise BadInput(
                f"--out {out} is inside the input {text}: the output would be written into "
                "the capture — choose an --out outside it"
            )


@contextlib.contextmanager
def _out_lock(out: Path) -> Iterator[None]:
    """One analysis at a time into one --out: two would both report success while one's files
    replace the other's. A lock file beside the folder, held with `flock` (released by the
    kernel if this process dies), removed at the end."""
    lock = out.parent / f".{out.name}.lock"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise BadInput(
            f"--out {out}: cannot create the output folder ({exc.filename or out.parent}: "
            f"{exc.strerror or exc}) — choose an --out in a folder you can write to"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BadInput(
                f"--out {out}: another hotshard analyze is writing this folder now — wait for "
                "it to finish, or choose another --out"
            ) from None
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.unlink(lock)
    finally:
        os.close(fd)


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
    if line := timeline.console_line(f):
        out.append(line)
    if f.recommendations:
        out.append(f"{len(f.recommendations)} recommendation(s) in the report.")
    o = result.out
    out.append(f"Report:   {o / REPORT_NAME}")
    out.append(f"Summary:  {o / SUMMARY_NAME}")
    if "commands" in result.files:
        out.append(f"Parquet:  {o / COMMANDS_DIR}/")
    if f.redaction:
        out.append("Redacted: keys as pattern#tag, hosts as host#tag; no commands table kept.")
    if "sqlite" in result.files:
        out.append(f'Database: {o / sqlite_out.DB_NAME}  (hotshard query "SQL" --db {o})')
    return "\n".join(out)
