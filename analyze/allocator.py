"""How Polars' allocator gives memory back, set before Polars loads.

Polars allocates through its own jemalloc, which keeps pages freed in the last 10 s (and pages
it has lazily freed, which stay in the RSS until the kernel needs them) for reuse. An analysis
frees hundreds of MiB at every chunk and stage, so its RSS stayed ~120 MiB above what it held
(docs/BENCHMARKS.md, session 10). Freed pages go back after 200 ms instead, for no measurable
CPU. A value the user set in the environment wins.
"""

import os

CONF_VAR = "_RJEM_MALLOC_CONF"  # the variable Polars' jemalloc (prefix _rjem_) reads at load
CONF = "dirty_decay_ms:200,muzzy_decay_ms:0"


def return_freed_pages() -> None:
    """Ask Polars' jemalloc to give freed pages back within 200 ms; no effect once it loaded."""
    os.environ.setdefault(CONF_VAR, CONF)
