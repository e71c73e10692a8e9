"""Benchmark `hotshard analyze` end to end against two baselines measured in the same run.

    uv run python -m bench.analyze_bench [--lines N,N] [--baseline-lines M] [--runs R]

For each size N (default 5M and 20M) it generates (or reuses, under bench/data/) a synthetic
3-shard capture folder (bench/synth.py) and runs, each in a fresh process whose peak RSS is read
with wait4():

- `hotshard analyze` with every output (Parquet, report, summary, SQLite);
- `hotshard analyze --nosqlite` (Parquet, report, summary);
- the floor: `zstd -dc FILES | wc -l`;
- the predecessor's way: a per-line Python regex parser inserting into SQLite in batches of 100,
  on the first M lines (its rate does not depend on the size);
- the writers alone, on the table the analyzer wrote: its Parquet read and re-encoded, and its
  rows inserted into SQLite (no index) — the floor for any pipeline with these outputs.

It prints lines/s, peak RSS and the ratios to the targets (issue 2: ≥ 1M lines/s with all
outputs, ≥ 2M lines/s without SQLite, ≥ 10× the per-line baseline, peak RSS < 1.5 GB and at most
+20% from 5M to 20M lines). It prints the markdown table for docs/BENCHMARKS.md on stdout.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import fire

from bench import synth

OUT = Path(__file__).parent / "out"


@dataclass
class Run:
    name: str
    lines: int
    seconds: float
    peak_rss: int  # bytes
    stages: str = ""  # the analyzer's own per-stage timings

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


def measure(cmd: list[str], name: str, lines: int, shell: bool = False) -> Run:
    """Run `cmd` in a fresh process; wall time and that process tree's peak RSS (wait4)."""
    t = time.perf_counter()
    proc = subprocess.Popen(
        cmd, shell=shell, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    stderr = proc.stderr.read() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed ({proc.returncode}):\n{stderr[-2000:]}")
    # ru_maxrss is the largest single process of the waited tree (KiB on Linux).
    done = [ln for ln in stderr.splitlines() if "] done: " in ln]
    stages = done[-1].split("(", 1)[-1].rstrip(")") if done else ""
    return Run(name, lines, seconds, usage.ru_maxrss * 1024, stages)


def count_lines(folder: Path) -> int:
    files = " ".join(str(p) for p in sorted(folder.glob("*.monitor.zst")))
    out = subprocess.run(f"zstd -dc {files} | wc -l", shell=True, capture_output=True, text=True)
    return int(out.stdout.strip())


def analyze_cmd(folder: Path, out: Path, sqlite: bool) -> list[str]:
    cli = "from capture.cli import main; main()"
    args = [sys.executable, "-c", cli, "analyze", str(folder), "--out", str(out)]
    return args + ([] if sqlite else ["--nosqlite"])


# -- the predecessor's way ------------------------------------------------------------------
_LINE = re.compile(r'^\+?(\d+\.\d+) \[(\d+) ([^\]]*)\] "([^"]*)"(?: "((?:[^"\\]|\\.)*)")?(.*)$')


def per_line_baseline(folder: Path, limit: int, db: Path) -> None:
    """A per-line Python regex parser committing to SQLite every 100 rows (run as a subprocess)."""
    import io

    import zstandard

    db.unlink(missing_ok=True)
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE commands (ts REAL, db INTEGER, client TEXT, command TEXT, key_name TEXT,"
        " args TEXT, shard TEXT)"
    )
    batch: list[tuple] = []
    n = 0
    per_file = limit // 3
    for path in sorted(folder.glob("*.monitor.zst")):
        shard = path.name.split("-", 1)[0]
        with path.open("rb") as raw:
            text = io.TextIOWrapper(
                zstandard.ZstdDecompressor().stream_reader(raw), "utf-8", "replace"
            )
            for i, line in enumerate(text):
                if i >= per_file:
                    break
                m = _LINE.match(line.rstrip("\r\n"))
                if not m:
                    continue
                ts, dbn, client, cmd, key, rest = m.groups()
                batch.append((float(ts), int(dbn), client, cmd.lower(), key, rest, shard))
                if len(batch) == 100:
                    conn.executemany("INSERT INTO commands VALUES (?,?,?,?,?,?,?)", batch)
                    conn.commit()
                    n += len(batch)
                    batch.clear()
    conn.executemany("INSERT INTO commands VALUES (?,?,?,?,?,?,?)", batch)
    conn.commit()
    conn.close()


def baseline_cmd(folder: Path, limit: int, db: Path) -> list[str]:
    code = (
        "import sys; from pathlib import Path; from bench.analyze_bench import per_line_baseline;"
        f" per_line_baseline(Path({str(folder)!r}), {limit}, Path({str(db)!r}))"
    )
    return [sys.executable, "-c", code]


# -- the writers alone -----------------------------------------------------------------------
def floor(kind: str, out: Path) -> None:
    """Write the analyzer's own `commands` table again, with nothing else to do: Parquet (read
    and re-encoded, streaming) or SQLite rows through ADBC (no index). No pipeline that writes
    these outputs can beat this on the same machine."""
    import polars as pl

    from analyze import sqlite

    files = sorted((out / "commands").rglob("*.parquet"))
    if kind == "parquet":
        pl.scan_parquet(files).sink_parquet(OUT / "floor.parquet")
        (OUT / "floor.parquet").unlink()
    else:
        db = OUT / "floor.db"
        sqlite.create_commands(db)
        sqlite.append_commands(db, files)
        db.unlink()


def floor_cmd(kind: str, out: Path) -> list[str]:
    code = f"from pathlib import Path; from bench.analyze_bench import floor; floor({kind!r}, Path({str(out)!r}))"
    return [sys.executable, "-c", code]


def _rows(out: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows for f in (out / "commands").rglob("*.parquet"))


# -- running --------------------------------------------------------------------------------
def bench_size(lines: int, baseline_lines: int, runs: int) -> list[Run]:
    folder = synth.generate(lines)
    actual = count_lines(folder)
    OUT.mkdir(parents=True, exist_ok=True)
    results = []
    files = " ".join(str(p) for p in sorted(folder.glob("*.monitor.zst")))
    results.append(
        best(
            runs,
            lambda: measure(f"zstd -dc {files} | wc -l", "zstd -dc | wc -l", actual, shell=True),
        )
    )
    out = OUT / f"analyze-{lines}"
    results.append(
        best(runs, lambda: measure(analyze_cmd(folder, out, False), "analyze --nosqlite", actual))
    )
    results.append(
        best(runs, lambda: measure(analyze_cmd(folder, out, True), "analyze (all outputs)", actual))
    )
    # The writers alone, on the table the analyzer just wrote: no parsing at all.
    rows = _rows(out)
    results.append(measure(floor_cmd("parquet", out), "floor: re-encode its Parquet", rows))
    results.append(measure(floor_cmd("sqlite", out), "floor: its SQLite rows, no index", rows))
    shutil.rmtree(out, ignore_errors=True)
    n = min(baseline_lines, actual)
    db = OUT / "baseline.db"
    results.append(measure(baseline_cmd(folder, n, db), "per-line regex + SQLite/100", n))
    db.unlink(missing_ok=True)
    return results


def best(runs: int, fn) -> Run:
    return min((fn() for _ in range(runs)), key=lambda r: r.seconds)


def table(all_runs: dict[int, list[Run]]) -> str:
    rows = [
        "| Lines | Run | Seconds | Lines/s | Peak RSS | Stages (analyzer's own timings) |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for size, runs in all_runs.items():
        for r in runs:
            rows.append(
                f"| {size / 1e6:.0f}M | {r.name} | {r.seconds:.1f} | {r.rate / 1e6:.2f}M | "
                f"{r.peak_rss / 2**20:,.0f} MiB | {r.stages} |"
            )
    return "\n".join(rows)


def verdicts(all_runs: dict[int, list[Run]]) -> list[str]:
    out = []
    for size, runs in all_runs.items():
        by = {r.name: r for r in runs}
        full, nosql, base = (
            by["analyze (all outputs)"],
            by["analyze --nosqlite"],
            by["per-line regex + SQLite/100"],
        )
        out.append(
            f"{size / 1e6:.0f}M: all outputs {full.rate / 1e6:.2f}M lines/s (target ≥ 1M), "
            f"no SQLite {nosql.rate / 1e6:.2f}M lines/s (target ≥ 2M), "
            f"{full.rate / base.rate:.1f}× the per-line baseline (target ≥ 10×), "
            f"peak RSS {full.peak_rss / 2**20:,.0f} MiB (target < 1,536); "
            f"the writers alone: Parquet {by['floor: re-encode its Parquet'].rate / 1e6:.2f}M "
            f"rows/s, SQLite {by['floor: its SQLite rows, no index'].rate / 1e6:.2f}M rows/s"
        )
    sizes = sorted(all_runs)
    if len(sizes) >= 2:
        small = {r.name: r for r in all_runs[sizes[0]]}
        large = {r.name: r for r in all_runs[sizes[-1]]}
        for name in ("analyze (all outputs)", "analyze --nosqlite"):
            growth = large[name].peak_rss / small[name].peak_rss - 1
            out.append(
                f"RSS growth {sizes[0] / 1e6:.0f}M -> {sizes[-1] / 1e6:.0f}M, {name}: "
                f"{growth * 100:+.0f}% (target ≤ +20%)"
            )
    return out


def main(lines: str = "5000000,20000000", baseline_lines: int = 1_000_000, runs: int = 1) -> None:
    """Benchmark `hotshard analyze` end to end beside the two baselines.

    Args:
      lines: capture sizes to measure, comma-separated.
      baseline_lines: lines the per-line Python baseline parses.
      runs: best of R runs per measurement.
    """
    sizes = [int(n) for n in str(lines).replace("(", "").replace(")", "").split(",") if n.strip()]
    all_runs = {}
    for n in sizes:
        print(f"bench: {n:,} lines", file=sys.stderr)
        all_runs[n] = bench_size(n, int(baseline_lines), int(runs))
        for r in all_runs[n]:
            print(
                f"  {r.name:32s} {r.seconds:7.1f} s  {r.rate / 1e6:6.2f}M lines/s  "
                f"{r.peak_rss / 2**20:7,.0f} MiB  {r.stages}",
                file=sys.stderr,
            )
    print(table(all_runs))
    print()
    for line in verdicts(all_runs):
        print(f"- {line}")


if __name__ == "__main__":
    fire.Fire(main)
