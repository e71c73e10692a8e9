"""The floor of any Polars analyzer that writes one row per command: read, split, write.

    uv run python -m bench.floor CAPTURE_FOLDER [OUT_FILE]

Per `.monitor.zst`, a chunk of whole lines at a time, read as the analyzer reads them
(`hotshard.analyze.read.parse.line_chunks`, `CHUNK_BYTES`): cut into lines with Polars, split the header (`splitn(" ", 4)`) and the body (`splitn('" "', 3)`)
and write ts, db, client, command and first argument as Parquet (lz4) — no keys, slots,
patterns, replies, rollups or report. What `hotshard analyze --nosqlite` costs beyond this is
the product; this is what no design of the same outputs on this machine can go under.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

from hotshard.analyze.read import parse

# Bytes -> one String row per line: the floor's own reading (the analyzer's native core scans
# the bytes instead), lossy UTF-8 as the analyzer reads them.
_LINES = dict(
    has_header=False,
    separator="\x00",
    quote_char=None,
    schema={"line": pl.String},
    encoding="utf8-lossy",
    truncate_ragged_lines=True,
)


def chunks(path: Path):
    """The file's lines, a chunk at a time, as the analyzer reads the file."""
    file = parse.open_source(parse.Source(path))
    for block in parse.line_chunks(file, parse.CHUNK_BYTES):
        yield pl.read_csv(block, **_LINES)


def main() -> None:
    folder = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("/dev/null")
    n = 0
    for path in sorted(folder.glob("*.monitor.zst")):
        for k, lines in enumerate(chunks(path)):
            head = pl.col("line").str.splitn(" ", 4)
            body = pl.col("body").str.splitn('" "', 3)
            rows = (
                lines.lazy()
                .select(
                    ts=head.struct.field("field_0")
                    .str.strip_prefix("+")
                    .cast(pl.Float64, strict=False),
                    db=head.struct.field("field_1")
                    .str.strip_prefix("[")
                    .cast(pl.Int32, strict=False),
                    client=head.struct.field("field_2").str.strip_suffix("]"),
                    body=head.struct.field("field_3"),
                )
                .filter(pl.col("ts").is_not_null())
                .select(
                    "ts",
                    "db",
                    "client",
                    command=body.struct.field("field_0").str.strip_prefix('"').str.to_lowercase(),
                    key=body.struct.field("field_1"),
                )
                .collect()
            )
            n += rows.height
            target = (
                out
                if out == Path("/dev/null")
                else out.with_name(f"{out.stem}-{path.stem}-{k}.parquet")
            )
            rows.write_parquet(target, compression="lz4")
    print(n)


if __name__ == "__main__":
    main()
