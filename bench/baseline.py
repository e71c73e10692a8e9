"""The baseline every analyzer speed target is a ratio to: a counts-only per-line Python script.

    uv run python -m bench.baseline CAPTURE_FOLDER

What a competent engineer writes in ten minutes during an incident: decode each `.monitor.zst`
with `zstandard`, one `re.match` per line, and count commands, first keys and clients in dicts.
It writes no table and sizes no reply, so it is a floor for "Python per line", not a rival
product. It prints the line count and the top entries (so the work cannot be optimized away).
"""

from __future__ import annotations

import io
import re
import sys
from collections import Counter
from pathlib import Path

import zstandard

# Header, command and first argument; the rest of the line is not looked at.
LINE = re.compile(r'^\+?(\d+\.\d+) \[(\d+) ([^\]]*)\] "([^"]*)"(?: "((?:[^"\\]|\\.)*)")?')


def count(folder: Path) -> tuple[int, Counter[str], Counter[str], Counter[str]]:
    """Lines read, and counts per command, per first argument and per client address."""
    commands: Counter[str] = Counter()
    keys: Counter[str] = Counter()
    clients: Counter[str] = Counter()
    lines = 0
    for path in sorted(folder.glob("*.monitor.zst")):
        with path.open("rb") as raw:
            reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
            for line in io.TextIOWrapper(reader, "utf-8", "replace"):
                lines += 1
                m = LINE.match(line)
                if m is None:
                    continue
                commands[m.group(4).lower()] += 1
                clients[m.group(3)] += 1
                if m.group(5) is not None:
                    keys[m.group(5)] += 1
    return lines, commands, keys, clients


def main() -> None:
    lines, commands, keys, clients = count(Path(sys.argv[1]))
    print(f"{lines} lines, {len(keys)} distinct first arguments, {len(clients)} clients")
    print(commands.most_common(5), keys.most_common(5))


if __name__ == "__main__":
    main()
