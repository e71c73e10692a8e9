"""The server's `COMMAND` reply, as read from the server or saved in the manifest, read in one
place.

Each entry is a list: name, arity, flags, first key, last key, step, then (Redis 6+) ACL
categories, (7+) tips, key specs and subcommands (entries of the same shape). Capture reads the
read-only flags (capture/placement.py) and the first-key positions (capture/sizing.py); analyze
reads the write flags, what MONITOR never shows, and the key specs (analyze/keys/keyspecs.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Command:
    name: str  # lower case; `container|sub` for a subcommand
    flags: frozenset[str]
    first_key: int | None  # argv position of the first key (0: none at a fixed place)


def commands(reply: Sequence[Any] | None, subcommands: bool = False) -> Iterator[Command]:
    """Every entry of a COMMAND reply (raw bytes or saved text), and with `subcommands` theirs
    too; a malformed entry is passed over."""
    for entry in reply or []:
        if not isinstance(entry, list | tuple) or not entry:
            continue
        flags = entry[2] if len(entry) >= 3 and isinstance(entry[2], list | tuple) else []
        try:
            first_key: int | None = int(entry[3]) if len(entry) >= 4 else None
        except (TypeError, ValueError):
            first_key = None
        yield Command(_text(entry[0]), frozenset(_text(f) for f in flags), first_key)
        if subcommands and len(entry) >= 10 and isinstance(entry[9], list | tuple):
            yield from commands(entry[9], subcommands=True)


def _text(value: Any) -> str:
    return (value.decode() if isinstance(value, bytes) else str(value)).lower()
