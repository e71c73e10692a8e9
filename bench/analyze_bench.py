"""Benchmark `hotshard analyze` against a counts-only per-line Python script, in the same run.

    uv run python -m bench.analyze_bench [--lines 3000000] [--runs 3] [--memory 5000000,50000000]

For each mix of bench/synth.py — "repeat" (keys from fixed pools) and "highcard" (most first keys
never repeat) — it generates (or reuses, under bench/data/) a 3-shard capture folder of `lines`
lines and runs, each in a fresh process whose peak RSS is read with wait4(), in turn (baseline,
no SQLite, all outputs; `runs` rounds, so a noisy moment hits all three alike):

- the baseline, `python -m bench.baseline FOLDER`: zstd decode, one `re.match` per line,
  counts of commands, first keys and clients (bench/baseline.py);
- `hotshard analyze --nosqlite` (Parquet, report, summary);
- `hotshard analyze` with every output (Parquet, report, summary, SQLite).

Each round also measures two floors: bench/floor.py (read, split, write one row per command,
nothing else) and the analysis of a small capture (samples/hot-zset: what an analysis costs
whatever its length), and the report says what a target leaves for the rows once both are paid.

It prints per run the seconds, lines/s, peak RSS and the analyzer's own stage timings, then the
median ratio to the baseline of the same round against the targets (issue 22: high-cardinality
mix ≥ 2× with all outputs and ≥ 4× without SQLite; repeating mix ≥ 3× and ≥ 6×; peak RSS
≤ 1 GB), the memory per distinct key (the two mixes' peak RSS apart, over their distinct keys
apart), and the native parse alone in lines/s of CPU on one thread beside `zstd -d` of the same
files. With `--memory A,B` it also analyzes the repeating mix at A and B lines once each and
prints the growth of peak RSS (target ≤ +10% from 5M to 50M lines).

Every process may write its bytecode cache (an installed tool has one): a machine that sets
PYTHONDONTWRITEBYTECODE otherwise pays seconds of compiling polars and matplotlib per run.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import fire

from bench import synth

OUT = Path(__file__).parent / "out"
TARGETS = {  # mix -> (all outputs, without SQLite): ratio to the baseline, at least
    "highcard": (2.0, 4.0),
    "repeat": (3.0, 6.0),
}
PARSE_TARGET = 4e6  # lines/s of the native parse alone, one thread
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
RSS_LIMIT = 1 << 30


@dataclass
class Run:
    name: str
    lines: int
    seconds: float
    peak_rss: int  # bytes
    stages: str = ""  # the analyzer's own per-stage timings
    cpu: float = 0.0  # user + system seconds of the process tree (wait4)

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


def measure(cmd: list[str], name: str, lines: int) -> Run:
    """Run `cmd` in a fresh process; wall time, that process tree's peak RSS and CPU seconds
    (wait4: on a shared machine the CPU ratio moves less than the wall-clock one)."""
    t = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV
    )
    stderr = proc.stderr.read() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{name} failed:\n{stderr[-2000:]}")
    done = [ln for ln in stderr.splitlines() if "] done: " in ln]
    stages = done[-1].split("(", 1)[-1].rstrip(")") if done else ""
    # ru_maxrss is the largest single process of the waited tree (KiB on Linux).
    cpu = usage.ru_utime + usage.ru_stime
    return Run(name, lines, seconds, usage.ru_maxrss * 1024, stages, cpu)


def count_lines(folder: Path) -> int:
    files = " ".join(str(p) for p in sorted(folder.glob("*.monitor.zst")))
    out = subprocess.run(f"zstd -dc {files} | wc -l", shell=True, capture_output=True, text=True)
    return int(out.stdout.strip())


def parse_alone(folder: Path) -> str:
    """The native parse of every file's text, in CPU seconds on this thread (best of 3), beside
    `zstd -d` of the same files (CPU of the child)."""
    from hotshard.analyze.keys import find, keyspecs
    from hotshard.analyze.read import parse

    files = sorted(folder.glob("*.monitor.zst"))
    blocks = [
        b for f in files for b in parse.line_chunks(parse.open_source(parse.Source(f)), 32 << 20)
    ]
    lines = sum(b.count(b"\n") for b in blocks)
    parser = find.plan(keyspecs.load(None)).parser()
    best = float("inf")
    for _ in range(3):
        t = time.thread_time()
        for block in blocks:
            parser.scan(block, False)
        best = min(best, time.thread_time() - t)
    before = os.times()
    subprocess.run(["zstd", "-dc", *map(str, files)], stdout=subprocess.DEVNULL, check=True)
    after = os.times()
    zstd = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return (
        f"Native parse alone: {lines / best / 1e6:.2f}M lines/s on one thread (CPU; target "
        f"≥ {PARSE_TARGET / 1e6:.0f}M), `zstd -d` of the same files {lines / zstd / 1e6:.2f}M lines/s "
        f"({lines:,} lines, {sum(map(len, blocks)) / 2**20:,.0f} MiB of text)."
    )


def distinct_keys(out: Path) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(out / "keys.parquet").num_rows


def analyze_cmd(folder: Path, out: Path, sqlite: bool) -> list[str]:
    cli = "from hotshard.capture.cli import main; main()"
    args = [sys.executable, "-c", cli, "analyze", str(folder), "--out", str(out)]
    return args + ([] if sqlite else ["--nosqlite"])


def baseline_cmd(folder: Path) -> list[str]:
    return [sys.executable, "-m", "bench.baseline", str(folder)]


def floor_cmd(folder: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "bench.floor", str(folder), str(out / "floor.parquet")]


# A capture of a few thousand lines: what an analysis costs whatever its length (start-up, the
# key sizes, findings, report, charts).
SMALL = Path(__file__).parent.parent / "samples" / "hot-zset"


def generate(lines: int, mix: str) -> Path:
    """The capture folder, generated in a child process: a child forked from a process that
    grew (Polars generating the data) starts with its RSS, and wait4 would report that."""
    make = f"from bench import synth; synth.generate({lines}, mix={mix!r})"
    subprocess.run([sys.executable, "-c", make], check=True, env=ENV)
    return synth.generate(lines, mix=mix)


def bench_mix(mix: str, lines: int, runs: int) -> list[dict[str, Run]]:
    folder = generate(lines, mix)
    actual = count_lines(folder)
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"analyze-{mix}-{lines}"
    rounds = []
    for i in range(runs):
        r = {
            "baseline": measure(baseline_cmd(folder), "baseline (counts-only script)", actual),
            "nosqlite": measure(analyze_cmd(folder, out, False), "analyze --nosqlite", actual),
            "all": measure(analyze_cmd(folder, out, True), "analyze (all outputs)", actual),
            # What no analyzer of these outputs goes under, measured beside them (`floors`).
            "floor": measure(floor_cmd(folder, OUT), "floor (read, split, write)", actual),
            "fixed": measure(
                analyze_cmd(SMALL, OUT / "analyze-small", True),
                "fixed cost (a small capture)",
                count_lines(SMALL),
            ),
        }
        for run in r.values():
            print(
                f"  {mix} round {i + 1}: {run.name:30s} {run.seconds:6.2f} s "
                f"(CPU {run.cpu:6.2f} s) {run.rate / 1e6:5.2f}M lines/s "
                f"{run.peak_rss / 2**20:7,.0f} MiB  {run.stages}",
                file=sys.stderr,
            )
        rounds.append(r)
    KEYS[mix] = distinct_keys(out)
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(OUT / "analyze-small", ignore_errors=True)
    (OUT / "floor.parquet").unlink(missing_ok=True)
    return rounds


KEYS: dict[str, int] = {}  # mix -> distinct keys of its last analysis


def memory(sizes: list[int]) -> list[Run]:
    out = OUT / "analyze-memory"
    runs = []
    for n in sizes:
        folder = generate(n, "repeat")
        run = measure(analyze_cmd(folder, out, True), f"analyze {n:,} lines", count_lines(folder))
        print(
            f"  memory: {run.name} {run.seconds:.1f} s {run.peak_rss / 2**20:,.0f} MiB  {run.stages}",
            file=sys.stderr,
        )
        runs.append(run)
    shutil.rmtree(out, ignore_errors=True)
    return runs


def report(results: dict[str, list[dict[str, Run]]], mem: list[Run]) -> str:
    rows = [
        "| Mix | Run | Median s | Lines/s | × baseline (median of rounds) | Target | CPU s "
        "| × baseline in CPU | Peak RSS |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mix, rounds in results.items():
        all_target, nosql_target = TARGETS[mix]
        for key, target in (("baseline", None), ("nosqlite", nosql_target), ("all", all_target)):
            seconds = statistics.median(r[key].seconds for r in rounds)
            rate = rounds[0][key].lines / seconds
            rss = max(r[key].peak_rss for r in rounds)
            cpu = statistics.median(r[key].cpu for r in rounds)
            if target is None:
                ratio, goal, cpu_ratio = "1.00", "—", "1.00"
            else:
                ratio = f"{statistics.median(r['baseline'].seconds / r[key].seconds for r in rounds):.2f}"
                cpu_ratio = (
                    f"{statistics.median(r['baseline'].cpu / r[key].cpu for r in rounds):.2f}"
                )
                goal = f"≥ {target}"
            rows.append(
                f"| {mix} | {rounds[0][key].name} | {seconds:.2f} | {rate / 1e6:.2f}M | {ratio} | "
                f"{goal} | {cpu:.1f} | {cpu_ratio} | {rss / 2**20:,.0f} MiB |"
            )
    out = "\n".join(rows) + floors(results)
    if {"highcard", "repeat"} <= results.keys() and KEYS["highcard"] != KEYS["repeat"]:
        peak = {m: max(r["all"].peak_rss for r in results[m]) for m in ("highcard", "repeat")}
        per_key = (peak["highcard"] - peak["repeat"]) / (KEYS["highcard"] - KEYS["repeat"])
        out += (
            f"\n\nMemory per distinct key: {per_key:,.0f} B (peak RSS of the two mixes apart, "
            f"{(peak['highcard'] - peak['repeat']) / 2**20:,.0f} MiB, over their distinct keys apart, "
            f"{KEYS['highcard']:,} vs {KEYS['repeat']:,}; target ≤ 200 B)."
        )
    if len(mem) >= 2:
        growth = mem[-1].peak_rss / mem[0].peak_rss - 1
        out += (
            f"\n\nPeak RSS, repeating mix, all outputs: {mem[0].peak_rss / 2**20:,.0f} MiB at "
            f"{mem[0].lines:,} lines, {mem[-1].peak_rss / 2**20:,.0f} MiB at {mem[-1].lines:,} "
            f"lines ({growth * 100:+.1f}%; target ≤ +10%)."
        )
    return out


def floors(results: dict[str, list[dict[str, Run]]]) -> str:
    """What the rounds' floors leave for the rows: a ratio R to the baseline needs the whole
    analysis in baseline / R seconds, of which the fixed cost is spent whatever the length."""
    lines = []
    for mix, rounds in results.items():
        base = statistics.median(r["baseline"].seconds for r in rounds)
        floor = statistics.median(r["floor"].seconds for r in rounds)
        fixed = statistics.median(r["fixed"].seconds for r in rounds)
        _, nosql_target = TARGETS[mix]
        left = base / nosql_target - fixed
        lines.append(
            f"- {mix}: the Polars floor (bench/floor.py: read, split into five columns, write "
            f"Parquet; nothing else) {floor:.2f} s = {base / floor:.2f}× the baseline; the fixed "
            f"cost of an analysis (a {rounds[0]['fixed'].lines:,}-line capture, all outputs) "
            f"{fixed:.2f} s; so {nosql_target}× without SQLite leaves "
            + (
                f"{left:.2f} s for the rows ({left / floor:.2f}× the floor's time)."
                if left > 0
                else "nothing for the rows."
            )
        )
    return "\n\nFloors, same rounds:\n" + "\n".join(lines)


def main(
    lines: int = 3_000_000, runs: int = 3, mixes: str = "highcard,repeat", memory_sizes: str = ""
) -> None:
    """Benchmark `hotshard analyze` beside the counts-only baseline, per mix.

    Args:
      lines: lines per capture (over 3 shards).
      runs: rounds of (baseline, --nosqlite, all outputs) per mix; medians are reported.
      mixes: which mixes of bench/synth.py, comma-separated.
      memory_sizes: e.g. "5000000,50000000": also measure peak RSS growth on the repeating mix.
    """
    # Compile every module's bytecode once, so no timed run pays for it.
    warm = "import hotshard.analyze.commands.analyze, matplotlib.pyplot, bench.baseline"
    subprocess.run([sys.executable, "-c", warm], check=True, env=ENV)
    results = {}
    for mix in str(mixes).split(","):
        print(f"bench: {mix}, {int(lines):,} lines", file=sys.stderr)
        results[mix] = bench_mix(mix, int(lines), int(runs))
    sizes = [int(n) for n in str(memory_sizes).strip("()").split(",") if n.strip()]
    print(report(results, memory(sizes) if sizes else []))
    print()
    print(parse_alone(synth.generate(int(lines), mix=str(mixes).split(",")[0])))


if __name__ == "__main__":
    fire.Fire(main)
