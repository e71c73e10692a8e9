"""The MONITOR line grammar and Redis' quoting, in Python (docs/MONITOR.md).

    +1697549123.123456 [0 10.0.0.1:53422] "ZREVRANGE" "key" "0" "-1"

A timestamp, `[db address]` (the address may be `[::1]:6000`, `lua` for a command a script ran,
or a unix socket path with spaces in it), then every argument in double quotes, quoted the way
Redis' `sdscatrepr` quotes (`escape_bytes`). The bastion reads its own capture back with this
(capture/sizing.py) and tests check capture files with it; the analyzer's vectorized twin of the
same grammar is analyze/read/parse.py (header) and analyze/rows/make.py (arguments).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# One quoted argument, escapes included.
QUOTED = re.compile(rb'"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Line:
    ts: float
    db: int
    client: str  # as printed: "10.0.0.1:53422", "[::1]:6000", "lua", "unix:/tmp/r.sock"
    args: list[bytes]  # each argument as quoted, still escaped (`unescape_bytes` gives bytes)


def split(line: bytes) -> Line | None:
    """One line (with or without its `+` and `\\r\\n`) cut into its parts; None for what is not a
    command line (`+OK`, garbage)."""
    open_ = line.find(b" [")
    close = line.find(b'] "', open_)
    if open_ < 0 or close < 0:
        return None
    head = line[:open_].removeprefix(b"+")
    db, _, client = line[open_ + 2 : close].partition(b" ")
    args = QUOTED.findall(line, close + 2)
    try:
        return Line(float(head), int(db), client.decode("utf-8", "replace"), args) if args else None
    except ValueError:
        return None


def key_text(key: bytes) -> tuple[str, bool]:
    """The text form of a key and whether it is binary.

    Valid UTF-8 keys are their text. Other keys use Redis' own quoting without the quotes
    (`\\\\`, `\\"`, `\\n`, `\\r`, `\\t`, `\\a`, `\\b`, `\\xHH`) and are flagged binary, which makes
    the form reversible with `unescape_bytes`.
    """
    try:
        return key.decode("utf-8"), False
    except UnicodeDecodeError:
        return escape_bytes(key), True


_ESCAPES = {
    0x5C: "\\\\",
    0x22: '\\"',
    0x0A: "\\n",
    0x0D: "\\r",
    0x09: "\\t",
    0x07: "\\a",
    0x08: "\\b",
}


def escape_bytes(data: bytes) -> str:
    """Redis' `sdscatrepr` quoting (without the surrounding quotes)."""
    out = []
    for b in data:
        if b in _ESCAPES:
            out.append(_ESCAPES[b])
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


_UNESCAPES = {"\\": 0x5C, '"': 0x22, "n": 0x0A, "r": 0x0D, "t": 0x09, "a": 0x07, "b": 0x08}


def unescape_bytes(text: str) -> bytes:
    """Inverse of `escape_bytes`."""
    out = bytearray()
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "x" and i + 4 <= n:
                out.append(int(text[i + 2 : i + 4], 16))
                i += 4
                continue
            if nxt in _UNESCAPES:
                out.append(_UNESCAPES[nxt])
                i += 2
                continue
        out.extend(c.encode("utf-8"))
        i += 1
    return bytes(out)
