"""The rows dataset: `OUT/commands/` (Parquet, partitioned by shard), written a chunk at a time
as the sources are read, and read back lazily for the rollups.

Takes each source's chunks of rows; hands on the dataset's files (`write_sources`) and the
`tables.Tables` the later stages read (`found`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import polars as pl

from hotshard.analyze import schema
from hotshard.analyze.read.inputs import Inputs, Source
from hotshard.analyze.store import tables

# docs/BENCHMARKS.md: zstd costs more time than the smaller files are worth.
PARQUET_COMPRESSION: Literal["lz4"] = "lz4"


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


def scan(files: list[Path]) -> pl.LazyFrame:
    """The dataset's rows, every column of `schema.COMMANDS` in its type."""
    # The shard is a column inside the files: no hive parsing (it would read "0001" as 1).
    return (
        schema.with_all_columns(pl.scan_parquet(files, hive_partitioning=False))
        .select(list(schema.COMMANDS))
        .cast(schema.COMMANDS)  # type: ignore[arg-type]
    )


def sources_table(sources: Iterable[Source]) -> pl.DataFrame:
    """One row per source file: its name, node, shard and role."""
    return pl.DataFrame(
        [(Path(s.path).name, s.node, s.shard, s.role) for s in sources],
        schema=tables.SOURCES,
        orient="row",
    )


def write_key_sizes(path: Path, inputs: Inputs) -> None:
    """The capture's sampled key sizes beside the commands, so `check` can judge an output alone."""
    if not inputs.key_sizes:
        return
    # `vars`, not `dataclasses.asdict` (a deep copy, slow for many keys): the fields are scalars.
    rows = [vars(k) for k in inputs.key_sizes]
    frame = pl.DataFrame(rows, infer_schema_length=None).sort(["node", "key"])
    frame.write_parquet(path)
