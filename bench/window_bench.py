"""What the in-window sampler costs a large capture, same run: streaming alone, then with it.

    uv run python -m bench.window_bench main [--primaries 8] [--duration 30] [--rounds 1]
        [--nobytecode]

Starts a local cluster (8 primaries + 1 replica each: 16 nodes), and captures every node
(a child process, bench/window_child.py, running the capture with `--nodes all`) twice while
`redis-benchmark --cluster` loads it flat out: once with `--start-sample-seconds 0` (streaming
alone), once with the in-window sampler (capture/window_sample.py), the after-window sample left
out (it runs after the window, on the files); `--rounds` repeats the pair. Reported per run:
MONITOR lines, the capture process's CPU per line (user + sys of the child and of the watchdog
process it reaps: the whole capture, start-up included) and peak RSS (`ru_maxrss`), the sampler's
commands per second per node (its lines in each node's own stream, over the window) and the
largest gap between a node's MONITOR stop and its "after" INFO; then where the CPU went (stream
threads, sampler threads, watchdog process, the rest: start-up, the session's own work).

The child imports compiled modules (a bytecode cache the bench fills first, in its temporary
folder), as an installed hotshard does from its second run on; `--nobytecode` measures a
capture that compiles every module it imports (where `PYTHONDONTWRITEBYTECODE` is set and the
package was installed without bytecode: ~0.8 s of CPU for the capture and its watchdog).

Targets (issue 24): with sampling ≤ 2 µs/line and ≤ 200 MB, the after-window INFO within 1 s of
the stop on every node.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import fire

from hotshard.capture.format import manifest as mf
from hotshard.capture.format.reader import MonitorFile
from tests.capturing import REDIS_BENCHMARK
from tests.servers import running_cluster


@dataclass
class Run:
    name: str
    lines: int
    cpu_s: float
    max_rss_mb: float
    window_s: float
    sampler_per_node: list[float]  # commands/s of the sampler, per monitored node
    keys_sampled: int
    info_gap_s: float  # largest |after INFO - MONITOR stop| over the nodes
    parts: dict[str, float]  # bench/window_child.py's bench-cpu.json

    @property
    def us_per_line(self) -> float:
        return self.cpu_s / self.lines * 1e6 if self.lines else float("nan")


def capture(
    seed: str, folder: Path, duration: float, sample: bool, env: dict[str, str]
) -> tuple[float, float]:
    """Run the capture in a child process (bench/window_child.py); its (CPU seconds, peak RSS
    in MB), the watchdog process it reaps included."""
    argv = [sys.executable, "-m", "bench.window_child", seed, str(folder), str(duration)]
    argv.append("1" if sample else "0")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"capture failed: {err[-2000:]}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def child_env(tmp: Path, bytecode: bool) -> dict[str, str]:
    """The child's environment: a bytecode cache of its own, filled now (`bytecode`), or none."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if not bytecode:
        return {**env, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(tmp / "none")}
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    warm = "import bench.window_child, hotshard.capture.watchdog"
    subprocess.run([sys.executable, "-c", warm], check=True, env=env)
    return env


def measure(name: str, folder: Path, cpu_s: float, rss_mb: float) -> Run:
    m = mf.read(folder)
    parts = json.loads((folder / "bench-cpu.json").read_text())
    nodes = [n for n in m.nodes if n.monitored]
    window = max((n.ended_at or 0) - (n.started_at or 0) for n in nodes)
    per_node = []
    for n in nodes:
        marker = f" {n.sampler_client}] ".encode() if n.sampler_client else None
        count = 0
        if marker:
            for block in MonitorFile(folder / str(n.file)).blocks():
                count += block.count(marker)
        per_node.append(count / window if window else 0.0)
    gaps = [
        abs(n.info_after.at - n.ended_at)
        for n in nodes
        if n.info_after is not None and n.ended_at is not None
    ]
    sampled = len(mf.read_key_sizes(folder, m, start=True))
    return Run(
        name,
        sum(n.lines for n in nodes),
        cpu_s,
        rss_mb,
        window,
        per_node,
        sampled,
        max(gaps, default=float("nan")),
        parts,
    )


def load(seed_host: str, seed_port: int, seconds: float) -> subprocess.Popen:
    cmd = [REDIS_BENCHMARK, "-h", seed_host, "-p", str(seed_port), "--cluster", "-c", "16"]
    cmd += ["-P", "16", "-r", "100000", "-n", "100000000", "-t", "set,get,lpush,lrange_100"]
    cmd += ["-q", "-d", "100"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(
    primaries: int = 8, duration: float = 30.0, rounds: int = 1, bytecode: bool = True
) -> None:
    """Captures of the same loaded cluster, with and without the in-window sampler."""
    runs: list[Run] = []
    load_avg = [os.getloadavg()[0]]
    with (
        tempfile.TemporaryDirectory(prefix="hotshard-window-") as tmp,
        running_cluster(Path(tmp) / "cluster", primaries=primaries, replicas=1) as cluster,
    ):
        seed = cluster.seed
        env = child_env(Path(tmp), bytecode)
        for i in range(rounds):
            for name, sample in (("streaming alone", False), ("with the in-window sampler", True)):
                folder = Path(tmp) / f"{name.replace(' ', '-')}-{i}"
                bench = load(seed.host, seed.port, duration)
                time.sleep(2)  # the load is on before the window opens
                try:
                    cpu, rss = capture(seed.address, folder, duration, sample, env)
                finally:
                    bench.terminate()
                    bench.wait()
                runs.append(measure(name, folder, cpu, rss))
                load_avg.append(os.getloadavg()[0])
                print(json.dumps(runs[-1].__dict__), file=sys.stderr)
    loads = ", ".join(f"{x:.1f}" for x in load_avg)
    print(f"\n{len(cluster.nodes)} nodes, --nodes all, window {duration:g} s, same run")
    print(f"load average (1 min) before and after each run: {loads}\n")
    print(
        "| run | lines | CPU µs/line | × streaming | peak RSS | sampler cmds/s per node "
        "(min–max) | keys sampled | after INFO − MONITOR stop (max) |"
    )
    print("|---|---:|---:|---:|---:|---|---:|---:|")
    base = runs[0]
    for r in runs:
        per = r.sampler_per_node
        rate = f"{min(per):.0f}–{max(per):.0f}" if any(per) else "—"
        print(
            f"| {r.name} | {r.lines:,} | {r.us_per_line:.2f} | {r.us_per_line / base.us_per_line:.2f} "
            f"| {r.max_rss_mb:.0f} MB | {rate} | {r.keys_sampled:,} | {r.info_gap_s:.2f} s |"
        )
    print(
        "\n| run | stream threads µs/line | lines per read | sampler µs/line (lines it "
        "parsed) | watchdog process µs/line | the rest µs/line |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for r in runs:
        p, n = r.parts, r.lines
        rest = p["process"] - p["streams"] - p["sampler"]
        sampled = f"{p['sampler'] / n * 1e6:.2f} ({p['sampler_lines']:,})" if p["sampler"] else "—"
        print(
            f"| {r.name} | {p['streams'] / n * 1e6:.2f} | {n / max(p['reads'], 1):.0f} "
            f"| {sampled} | {p['watchdog'] / n * 1e6:.2f} | {rest / n * 1e6:.2f} |"
        )


if __name__ == "__main__":
    fire.Fire({"main": main})
