"""A whole-collection read, defined once: the reads that return every element of a key.

Two evaluators read these tables: `whole_collection` here, on a command's raw arguments
(capture/sizing.py weighs such reads up when it ranks the keys to sample), and
`hotshard.analyze.findings.breakdowns.full_read`, a Polars expression over the rows' `arg_shape` (large-key
operations, `hotshard check`'s full-range rule). Spans are compared as MONITOR quotes them
(`-inf`, not `-INF`: arg_shape keeps only that spelling); options in any case.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

# Always the whole collection, whatever the arguments.
WHOLE_COLLECTIONS = frozenset(
    {"smembers", "hgetall", "hkeys", "hvals", "sinter", "sunion", "sdiff"}
)

# Range reads, by command: whole when the arguments after the key start with the span that
# means "everything" (no span: whatever the arguments). The span depends on the option that says
# what the arguments are: None for the command's own meaning, BYSCORE/BYLEX for ZRANGE's scores
# and names.
FULL_SPANS: dict[str, dict[str | None, tuple[str, ...]]] = {
    "lrange": {None: ("0", "-1")},
    "zrange": {None: ("0", "-1"), "BYSCORE": ("-inf", "+inf"), "BYLEX": ("-", "+")},
    "zrevrange": {None: ("0", "-1")},
    "zrangebyscore": {None: ("-inf", "+inf")},
    "zrevrangebyscore": {None: ("+inf", "-inf")},
    "zrangebylex": {None: ("-", "+")},
    "zrevrangebylex": {None: ("+", "-")},
    "xrange": {None: ("-", "+")},
    "xrevrange": {None: ("+", "-")},
    "sort": {None: ()},
    "sort_ro": {None: ()},
}
BY = ("BYSCORE", "BYLEX")
# With BYSCORE or BYLEX, REV takes the span's ends the other way round (`+inf -inf ... REV`).
REVERSE = "REV"
# Options after which the reply is not the whole collection (a page, or SORT's stored count).
LIMITING = frozenset({"LIMIT", "COUNT", "STORE"})

# Reads of a whole value that is not a collection; capture ranks their keys like whole reads.
WHOLE_VALUES = frozenset({"get", "getex", "getdel", "getset", "mget", "dump"})

CANDIDATES = WHOLE_COLLECTIONS | FULL_SPANS.keys()  # commands that can be whole-collection reads


def full_spans() -> Iterator[tuple[str, str | None, bool, tuple[str, ...]]]:
    """(command, BY option or None, whether REV is there, the span that reads everything) for
    every range read of FULL_SPANS."""
    for command, spans in FULL_SPANS.items():
        for by, ends in spans.items():
            for reverse in (False, True):
                yield command, by, reverse, ends[::-1] if by is not None and reverse else ends


_SPANS = {(command, by, reverse): ends for command, by, reverse, ends in full_spans()}


def whole_collection(command: str, args: Sequence[str]) -> bool:
    """Whether lower-case `command` with `args` (those after its key, as MONITOR quotes them,
    escapes unresolved) returns a whole collection."""
    if command in WHOLE_COLLECTIONS:
        return True
    words = {a.upper() for a in args}
    if command not in FULL_SPANS or words & LIMITING:
        return False
    by = next((b for b in BY if b in words), None)
    ends = _SPANS.get((command, by, REVERSE in words))
    return ends is not None and tuple(args[: len(ends)]) == ends
