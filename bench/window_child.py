"""The capture a `bench.window_bench` run measures, in a process of its own: it imports what
`hotshard capture` imports and nothing of the bench (fire, the test servers), so the child's CPU
is the capture's.

    python -m bench.window_child SEED FOLDER DURATION 0|1

Runs the capture of every node (`--nodes all`) without the after-window sample (that runs
after the window, on the files), with the in-window sampler when the last argument is 1, and
writes `bench-cpu.json` beside it: CPU seconds of the stream threads, of the sampler threads
(and the lines its discovery looked at), socket reads, and the process's own CPU and that of
the watchdog process it started and reaped.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path
from typing import Any

from hotshard.capture import stream, window_sample
from hotshard.capture.session import CaptureOptions, run_capture

STREAMS: list[stream.MonitorStream] = []
SAMPLERS: list[window_sample.WindowSample] = []


def _registering(cls: Any, into: list[Any]) -> None:
    init = cls.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        into.append(self)

    cls.__init__ = __init__


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main(seed: str, folder: str, duration: str, sample: str) -> None:
    _registering(stream.MonitorStream, STREAMS)
    _registering(window_sample.WindowSample, SAMPLERS)
    options = CaptureOptions(
        endpoints=[seed],
        out=folder,
        nodes="all",
        duration=float(duration),
        quiet=True,
        start_sample_seconds=1.0 if sample == "1" else 0.0,
        after_sizes=False,
    )
    run_capture(options, ask_password=None).raise_for_status()
    cpu = {
        "streams": sum(s.cpu_seconds for s in STREAMS),
        "reads": sum(s.reads for s in STREAMS),
        "sampler": sum(s.cpu_seconds for s in SAMPLERS),
        "sampler_lines": sum(s.lines_parsed for s in SAMPLERS),
        "process": _cpu(resource.RUSAGE_SELF),
        "watchdog": _cpu(resource.RUSAGE_CHILDREN),
    }
    (Path(folder) / "bench-cpu.json").write_text(json.dumps(cpu))


if __name__ == "__main__":
    main(*sys.argv[1:5])
