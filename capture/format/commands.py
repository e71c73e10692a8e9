"""The server's `COMMAND` reply, as read from the server or saved in the manifest, read in one
place.

Each entry is a list: name, arity, flags, first key, last key, step, then (Redis 6+) ACL
categories, (7+) tips, key specs and subcommands (entries of the same shape). Capture reads the
read-only flags (capture/placement.py) and the first-key positions (capture/sizing.py); analyze
reads the write flags, what MONITOR never shows, and the key positions (analyze/keys/keyspecs.py:
the key specs, else the first/last/step of servers before 7.0).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Command:
    name: str  # lower case; `container|sub` for a subcommand
    flags: frozenset[str]
    first_key: int | None  # argv position of the first key (0: none at a fixed place)
    last_key: int | None = None  # argv position of the last key (negative: from the end)
    step: int | None = None  # between keys
    # The key specs as the server gives them (Redis 7+; None before), bytes made text.
    key_specs: tuple[Any, ...] | None = field(default=None, hash=False)
    has_subcommands: bool = False  # a container: argv[1] names the subcommand


def commands(reply: Sequence[Any] | None, subcommands: bool = False) -> Iterator[Command]:
    """Every entry of a COMMAND reply (raw bytes or saved text), and with `subcommands` theirs
    too; a malformed entry is passed over."""
    for entry in reply or []:
        if not isinstance(entry, list | tuple) or not entry:
            continue
        flags = entry[2] if len(entry) >= 3 and isinstance(entry[2], list | tuple) else []
        subs = entry[9] if len(entry) >= 10 and isinstance(entry[9], list | tuple) else None
        yield Command(
            _text(entry[0]),
            frozenset(_text(f) for f in flags),
            _int(entry, 3),
            last_key=_int(entry, 4),
            step=_int(entry, 5),
            key_specs=_plain(entry[8]) if len(entry) >= 9 else None,
            has_subcommands=bool(subs),
        )
        if subcommands and subs is not None:
            yield from commands(subs, subcommands=True)


def _text(value: Any) -> str:
    return (value.decode() if isinstance(value, bytes) else str(value)).lower()


def _int(entry: Sequence[Any], i: int) -> int | None:
    try:
        return int(entry[i]) if len(entry) > i else None
    except (TypeError, ValueError):
        return None


def _plain(value: Any) -> Any:
    """A reply's nested lists as tuples and its bytes as text, raw or saved alike (maps, as
    RESP3 saves them, stay maps)."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, list | tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value
