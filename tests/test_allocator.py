"""Polars' allocator gives freed memory back promptly once hotshard.analyze is imported
(analyze/allocator.py): measured in fresh interpreters, since the setting only counts before
Polars loads."""

import os
import subprocess
import sys

from hotshard.analyze import allocator

# Allocate ~400 MiB in 500 mid-size frames, free them, keep Polars busy for a second with small
# work (jemalloc decays pages as it allocates), and print MiB held: at start, full, after.
CHILD = """
import sys, time
import hotshard.analyze  # noqa: F401  (first: the setting counts only before Polars loads)
import polars as pl

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 >> 20

base = rss()
frames = [pl.DataFrame({"a": pl.int_range(i, i + 100_000, eager=True)}) for i in range(500)]
full = rss()
del frames
for _ in range(20):
    pl.DataFrame({"a": range(1000)}).sum()
    time.sleep(0.05)
print(base, full, rss())
"""


def held_after_free(conf: str | None) -> tuple[int, int]:
    """(MiB allocated, MiB still held after freeing it) in a child with `conf` in the
    environment (None: not set, hotshard's choice applies)."""
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    if conf is not None:
        env["_RJEM_MALLOC_CONF"] = conf
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True
    ).stdout
    base, full, after = map(int, out.split())
    return full - base, after - base


def test_the_setting_is_in_place_before_polars_loads():
    code = (
        "import os, sys, hotshard.analyze; "
        "print('polars' in sys.modules, os.environ.get('_RJEM_MALLOC_CONF'))"
    )
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["False", allocator.CONF]
    env["_RJEM_MALLOC_CONF"] = "narenas:2"  # the user's own setting wins
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["False", "narenas:2"]


def test_freed_frames_go_back_to_the_system():
    allocated, held = held_after_free(None)
    assert allocated > 300
    assert held < 30, f"{held} MiB of {allocated} still held"
    # The variable reaches Polars' allocator: no decay set through it keeps the pages (never
    # purged: a long but finite decay purged some of them by chance, on a busy machine).
    _, held_long = held_after_free("dirty_decay_ms:-1,muzzy_decay_ms:-1")
    assert held_long > 100, held_long
