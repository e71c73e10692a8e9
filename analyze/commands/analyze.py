"""`hotshard analyze`: sources -> rows dataset -> findings -> outputs, one hand-off each.

- read/ resolves the inputs into sources and the time window;
- rows/ reads each source a chunk at a time (per-key work once per distinct key) and store/
  writes the chunks as they come: `OUT/commands/` (Parquet, by shard) and hotshard.db on the
  other core, in memory bounded by the chunk and the number of distinct keys;
- findings/ builds one `Findings` from the dataset read back;
- render/ writes the report, summary, metrics and charts from it, and the console summary.
The output folder is built aside and swapped in whole (store/outfolder.py). This module only
sequences the stages.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from hotshard.analyze import humanize
from hotshard.analyze.errors import BadInput, BadRules
from hotshard.analyze.estimate import logged
from hotshard.analyze.findings import extent
from hotshard.analyze.findings.build import build, cardinalities
from hotshard.analyze.findings.found import Findings
from hotshard.analyze.findings.partials import Partials
from hotshard.analyze.keys import patterns
from hotshard.analyze.measure import cloudwatch, selfcheck
from hotshard.analyze.read import parse, window
from hotshard.analyze.read.inputs import Inputs, Source, resolve
from hotshard.analyze.render import charts, console, outputs, query_tables, redact
from hotshard.analyze.rows import make, prepass
from hotshard.analyze.store import dataset, outfolder
from hotshard.analyze.store.database import Database


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


@dataclass
class _Sources:
    """What read/ hands on: the inputs, one `Source` per file, the context rows need, and the
    window when it must be known before the rows are read."""

    inputs: Inputs
    files: list[Source]
    context: make.Context
    window: window.Window
    line_stats: pl.DataFrame
    upfront: bool  # the window came from a first pass over the lines


@dataclass
class _Dataset:
    """What rows/ and store/ hand on: the dataset's tables, the rollups made on the way, and
    the window and line statistics the pass measured."""

    found: dataset.Tables
    partials: Partials
    window: window.Window
    line_stats: pl.DataFrame
    covered: float | None  # seconds the lines cover when shorter than the window
    lines: int


def run_analyze(options: AnalyzeOptions) -> AnalysisResult:
    """Analyze the inputs into `options.out`; print a short summary on stdout."""
    progress = console.Progress(options.quiet)
    timings: dict[str, float] = {}
    if options.redact:  # the commands table is every key and address: not in a shared folder
        options = dataclasses.replace(options, sqlite=False)
    out = Path(options.out)
    with outfolder.locked(out):
        src = _read(options, out, progress, timings)
        with outfolder.building(out, shareable_only=options.redact) as tmp:
            db = Database(tmp / outfolder.DB_NAME, options.sqlite, timings, options.sqlite_index)
            with db:
                data = _rows(src, options, tmp, db, progress, timings)
                # What the findings need of the sources is the inputs: the parse's context (its
                # dictionary of keys, ~60 bytes a key, now in `data.found.keys`) is let go.
                inputs = src.inputs
                del src
                t = time.perf_counter()
                progress("computing rollups")
                findings = _findings(inputs, data, options, progress)
                outputs.write(tmp, findings)
                if not options.redact:
                    dataset.write_key_sizes(tmp / outfolder.KEY_SIZES_NAME, inputs)
                timings["rollups_report"] = time.perf_counter() - t
                if options.sqlite:
                    progress("finishing hotshard.db")
                    db.finish(
                        query_tables.tables(findings, data.found.signatures),
                        query_tables.info(findings),
                    )
    files = {
        "report": out / outfolder.REPORT_NAME,
        "summary": out / outfolder.SUMMARY_NAME,
        "metrics": out / outfolder.METRICS_NAME,
    }
    if not options.redact:
        files["commands"] = out / outfolder.COMMANDS_DIR
    if options.sqlite:
        files["sqlite"] = out / outfolder.DB_NAME
    n_rows = findings.rollups.totals.rows
    result = AnalysisResult(out=out, rows=n_rows, findings=findings, files=files, timings=timings)
    total = time.perf_counter() - progress.t0
    stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items())
    progress(
        f"done: {humanize.count(n_rows)} commands, "
        f"{humanize.count(round(data.lines / max(total, 1e-9)))} lines/s overall ({stages})"
    )
    for warning in findings.warnings:
        progress.warn(warning)
    if options.console:
        print(console.summary(findings, out, files))
    return result


def _read(
    options: AnalyzeOptions, out: Path, progress: console.Progress, timings: dict[str, float]
) -> _Sources:
    """The inputs resolved, checked against --out, and the window when it is needed first."""
    inputs = resolve(options.inputs, options.shard, options.node)
    outfolder.check_apart(out, [*options.inputs, *(str(s.path) for s in inputs.sources)])
    files = [dataclasses.replace(s, max_line_bytes=options.max_line_bytes) for s in inputs.sources]
    if options.cloudwatch and not inputs.manifests:
        raise BadInput(
            "--cloudwatch needs a capture folder (its manifest maps nodes to AWS cache cluster ids)"
        )
    if options.rules is not None and not Path(options.rules).is_file():
        raise BadRules(f"{options.rules}: no such rules file")
    context = make.Context.create(
        inputs.commands_reply,
        patterns.load_rules(options.rules),
        inputs.key_sizes,
        inputs.resp,
        inputs.start_key_sizes,
        {s.node: s.shard for s in inputs.sources if s.shard != "unknown"},
        inputs.client_protocols,
        logged.by_node(inputs.manifests),
    )
    # The capture's health is counted while parsing, unless a --since/--until relative to the
    # first line needs that line before the parse (plain logs: no manifest start).
    upfront = bool(options.since or options.until) and inputs.capture_span()[0] is None
    if upfront:
        progress(f"checking {len(files)} source(s)")
        t = time.perf_counter()
        line_stats = parse.line_stats(files)
        timings["line_stats"] = time.perf_counter() - t
    else:
        line_stats = pl.DataFrame(schema=parse.STATS_SCHEMA)  # for the window's bounds: none yet
    w = window.window(options.since, options.until, inputs, line_stats)
    context = dataclasses.replace(context, since=w.since)  # in-window sizes checked before it
    return _Sources(inputs, files, context, w, line_stats, upfront)


def _rows(
    src: _Sources,
    options: AnalyzeOptions,
    tmp: Path,
    db: Database,
    progress: console.Progress,
    timings: dict[str, float],
) -> _Dataset:
    """Read every source into the dataset (Parquet, and SQLite through `db`), then settle the
    window on the data's real extent."""
    inputs, files, w = src.inputs, src.files, src.window
    progress(f"parsing into {outfolder.COMMANDS_DIR}/ (Parquet)")
    t = time.perf_counter()
    counts = [parse.LineCounts() for _ in files]
    polls = window.poll_clients(inputs)
    # Each source's pre-pass (its writes) is read while the source before it is parsed.
    writes = prepass.Ahead(files, src.context)
    chunks = (
        (
            make.source_rows(
                s, src.context, window.keep(w, polls.get(s.node)), c, writes=writes.of(i)
            ),
            s.shard,
        )
        for i, (s, c) in enumerate(zip(files, counts, strict=True))
    )
    finished = itertools.count(1)

    def parsed() -> None:
        progress(f"parsed {next(finished)}/{len(files)} source(s)")

    partials = Partials()

    def written(chunk: pl.DataFrame) -> None:
        db.add(chunk)
        partials.add(chunk)

    try:
        written_files = dataset.write_sources(chunks, tmp / outfolder.COMMANDS_DIR, written, parsed)
    finally:
        writes.close()
    parse_seconds = time.perf_counter() - t
    timings["parse"] = parse_seconds
    lines = sum(c.rows for c in counts)
    progress(
        f"parsed {humanize.count(lines)} lines in {parse_seconds:.1f} s "
        f"({humanize.count(round(lines / max(parse_seconds, 1e-9)))} lines/s), "
        f"{humanize.count(src.context.keys.count)} distinct keys"
    )
    # The plotting library loads while the tables and rollups are made (Polars, no GIL).
    threading.Thread(target=charts.preload, name="hotshard-charts", daemon=True).start()
    core = extent.core(partials.node_seconds())
    names: dict[str, list[str]] = {}
    for s in files:
        names.setdefault(s.node, []).append(Path(s.path).name)
    span = None
    if core is not None and (outlying := extent.note(core, names)):
        partials.clip_seconds(core.start, core.end)
        inputs.warnings.append(outlying)
        span = (core.start, core.end)
    line_stats = src.line_stats
    if not src.upfront:
        line_stats = parse.stats_frame(files, counts)
        w = window.window(options.since, options.until, inputs, line_stats, span)
    lo, hi = w.bounds()
    inputs.warnings.extend(
        n
        for s, c in zip(files, counts, strict=True)
        if (n := c.step_note(Path(s.path).name, lo, hi))
    )
    inputs.warnings.extend(line_stats["note"].drop_nulls().to_list())
    t = time.perf_counter()
    found = dataset.Tables(
        rows=dataset.scan(written_files),
        keys=src.context.keys.table(),
        signatures=src.context.signatures.table(),
        sources=dataset.sources_table(files),
    )
    dataset.write_tables(tmp, found.keys, found.signatures, found.sources)
    db.add_tables(found)
    timings["tables"] = time.perf_counter() - t
    return _Dataset(found, partials, w, line_stats, window.covered(counts, w, inputs), lines)


def _findings(
    inputs: Inputs, data: _Dataset, options: AnalyzeOptions, progress: console.Progress
) -> Findings:
    """The findings of the dataset, redacted with --redact."""
    w = data.window
    per_minute = None
    if options.cloudwatch and w.start is not None and w.end is not None:
        progress("reading NetworkBytesOut from CloudWatch")
        per_minute = cloudwatch.bytes_out(inputs.manifests, w.start, w.end, options.region)
    findings = build(
        data.found,
        data.partials,
        inputs,
        data.line_stats,
        w,
        duration=data.covered,
        top=options.top,
        tolerance=options.tolerance,
        per_minute=per_minute,
        region=options.region,
        database=options.sqlite,
    )
    if options.redact:
        red = redact.Redactor.create(options.redact_key)
        findings = redact.findings(findings, red, cardinalities(inputs))
    return findings
