"""RESP2 sizes on the wire, written once for both halves (docs/RECONCILE.md, "RESP sizes").

Each size is a formula over a length or a count and the function that counts its decimal
digits. Capture calls them on Python ints (`decimal_digits`, the default); analyze passes its
Polars digits (analyze/estimate/resp_exprs.py) and gets the same layout column by column. RESP3's maps
(`%N`) and sets (`~N`) have the array header's size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar


class _Number(Protocol):
    def __add__(self, other: Any, /) -> Any: ...


N = TypeVar("N", bound=_Number)  # an int, or in analyze a Polars expression

NULL = 5  # `$-1\r\n` (null bulk) or `*-1\r\n` (null array)
RESP3_NULL = 3  # `_\r\n`
OK = 5  # `+OK\r\n`


def decimal_digits(n: int) -> int:
    """Characters of `n` in decimal, a minus sign included."""
    return len(str(n))


def bulk(length: N, digits: Callable[[N], N] = decimal_digits) -> N:  # type: ignore[assignment]
    """A bulk string of `length` bytes: `$<length>\\r\\n<bytes>\\r\\n`."""
    return length + digits(length) + 5


def array_header(count: N, digits: Callable[[N], N] = decimal_digits) -> N:  # type: ignore[assignment]
    """The header of an array of `count` elements: `*<count>\\r\\n`."""
    return digits(count) + 3


def integer(value: N, digits: Callable[[N], N] = decimal_digits) -> N:  # type: ignore[assignment]
    """An integer reply: `:<value>\\r\\n`."""
    return digits(value) + 3


def simple(length: N) -> N:
    """A simple string or an error of `length` bytes: `+<text>\\r\\n`, `-<CODE message>\\r\\n`;
    also an integer reply whose text is `length` characters long."""
    return length + 3


def error(message: str) -> int:
    """An error reply `-<message>\\r\\n` (the message with its code, e.g. `NOPERM ...`)."""
    return simple(len(message.encode()))


def command(args: list[bytes]) -> int:
    """A command as a client sends it: an array of bulk strings."""
    return array_header(len(args)) + sum(bulk(len(a)) for a in args)


def reply(value: object) -> int:
    """A reply as redis-py returns it without response callbacks: None is a null bulk, an int
    an integer, bytes or str a bulk string, a list or tuple an array, an exception an error
    (redis-py keeps the code it strips from the message in `status_code`)."""
    if value is None:
        return NULL
    if isinstance(value, bool | int):
        return integer(int(value))
    if isinstance(value, bytes | str):
        return bulk(len(value.encode() if isinstance(value, str) else value))
    if isinstance(value, list | tuple):
        return array_header(len(value)) + sum(reply(v) for v in value)
    if isinstance(value, Exception):
        code = getattr(value, "status_code", None)
        return error(f"{code} {value}" if code else str(value))
    raise TypeError(f"not a RESP2 reply: {type(value).__name__}")
