"""Text from the data (keys, patterns, client names, shard labels) made safe for people to read.

Every human-facing output goes through here: the terminal (an ESC or BEL in a key must not reach
it as an escape sequence), markdown (a newline must not start a `## heading` or a table row, a
backtick must not end a code span, a `|` must not split a cell) and JUnit XML (XML 1.0 has no way
to write most control characters at all). It lives in `capture/` because the CLI does, and both
halves print; it needs nothing but the standard library.
"""

from __future__ import annotations

import re

# C0 and C1 controls and DEL, Unicode line/paragraph separators, bidirectional overrides (they
# reorder what a terminal or a browser shows), the BOM, and what XML 1.0 cannot hold at all
# (lone surrogates, U+FFFE/U+FFFF).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff"
    "\ud800-\udfff\ufffe\uffff]"
)
# The names Redis itself prints (MONITOR, redis-cli), so a key reads as it does there.
_NAMES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x07": "\\a", "\x08": "\\b"}


def _escape(match: re.Match[str]) -> str:
    ch = match[0]
    if ch in _NAMES:
        return _NAMES[ch]
    n = ord(ch)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


def printable(text: str) -> str:
    """One line of inert text: control and reordering characters as Redis prints them
    (`\\n`, `\\x1b`, `\\u202e`). Safe for a terminal, inside markdown, and in XML."""
    return _UNSAFE.sub(_escape, text)


def code(text: str | None, limit: int = 80) -> str:
    """`text` as a markdown inline code span, shortened to `limit` characters; the fence is one
    backtick longer than any run of backticks inside, so none can close it early."""
    if text is None:
        return "—"
    text = printable(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def cell(value: object) -> str:
    """A markdown table cell: one line, `|` escaped (GitHub splits cells on it even inside code
    spans, and shows `\\|` as `|` there too)."""
    if value is None:
        return "—"
    return printable(str(value)).replace("|", "\\|")
