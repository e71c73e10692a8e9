"""Where each command's keys are, from the server's key specs (`keyspecs`), as the table the
native core finds them by (analyze/native/src/keyspecs.rs), once per analysis.

Commands take one of three shapes there:
- fast (GET, SET, HGET, ZRANGE, ... most traffic): one key at argv 1.
- simple (MGET, MSET, DEL, BITOP, LMOVE, OBJECT ENCODING, ...): the keys are one run of argv
  positions with a step.
- general (EVAL/FCALL numkeys, XREAD ... STREAMS, Z*STORE, LMPOP, GEORADIUS ... STORE, MIGRATE,
  SORT ... STORE): up to three spec slots, each a begin (index, or keyword search) and a find
  (range or keynum).

The core also gives each command line its `arg_shape`: the arguments that are not keys, a
keyword (`KEYWORDS`, a subcommand) in upper case, a range's integer kept (`RANGE_COMMANDS`),
anything else `?`, at most `SHAPE_TOKENS` of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from hotshard.analyze.keys.keyspecs import DROP_EMPTY_KEYS, KeySpec, KeySpecs
from hotshard.analyze.read import scanner

MAX_SLOTS = 3  # most key specs of any command (GEORADIUS: key, STORE, STOREDIST)
SHAPE_TOKENS = 8  # arg_shape keeps this many non-key arguments, then "…" (the core's too)


def _simple(specs: list[KeySpec]) -> tuple[int, int, int] | None:
    """(first, lastkey, step) when the specs are plain index ranges forming one run."""
    if not specs or any(s.begin != "index" or s.find != "range" or s.limit > 1 for s in specs):
        return None
    first, lastkey, step = specs[0].index, specs[0].lastkey, specs[0].step
    for spec in specs[1:]:
        if lastkey < 0 or (step != 1 and lastkey > 0) or spec.index != first + lastkey + 1:
            return None
        lastkey = spec.lastkey if spec.lastkey < 0 else spec.index + spec.lastkey - first
        step = spec.step if spec.lastkey != 0 else 1
    return first, lastkey, step


# One spec slot as the core takes it: index, keyword, startfrom, range, lastkey, limit,
# keynumidx, firstkey, step.
Slot = tuple[int | None, str | None, int, bool, int, int, int, int, int]
# One command: name, fast, (first, lastkey, step) of one run, slots, drop empty keys.
Command = tuple[str, bool, tuple[int, int, int] | None, list[Slot], bool]


def _slot(spec: KeySpec) -> Slot:
    index = spec.index if spec.begin == "index" else None
    keyword = (spec.keyword or "") if spec.begin == "keyword" else None
    return (
        index,
        keyword,
        spec.startfrom,
        spec.find == "range",
        spec.lastkey,
        spec.limit,
        spec.keynumidx,
        spec.firstkey,
        spec.step,
    )


def _commands(specs: KeySpecs) -> list[Command]:
    out: list[Command] = []
    for name, command_specs in sorted(specs.by_command.items()):
        if not command_specs:
            continue
        simple = _simple(command_specs)
        # One key at argv 1 (GET, SET, HGET, ZRANGE...): the core's fast path.
        fast = simple == (1, 0, 1) and name not in DROP_EMPTY_KEYS and "|" not in name
        slots = [] if simple else [_slot(s) for s in command_specs[:MAX_SLOTS]]
        out.append((name, fast, simple, slots, name in DROP_EMPTY_KEYS))
    return out


# -- arg_shape ------------------------------------------------------------------------------------
# Arguments kept as they are (upper case) in arg_shape: options that change what a command
# returns or does. Everything else is a value, shown as `?`.
_KEYWORD_TEXT = """
    WITHSCORES WITHSCORE WITHVALUES WITHCOORD WITHDIST WITHHASH WITHMATCHLEN LIMIT COUNT EX PX
    EXAT PXAT KEEPTTL PERSIST NX XX GT LT CH INCR GET BYSCORE BYLEX REV MATCH TYPE STREAMS
    BLOCK NOACK GROUP MAXLEN MINID LEFT RIGHT BEFORE AFTER ASC DESC ALPHA BY STORE STOREDIST
    FROMMEMBER FROMLONLAT BYRADIUS BYBOX ANY WEIGHTS AGGREGATE SUM MIN MAX IDLE TIME RETRYCOUNT
    FORCE JUSTID REPLACE COPY KEYS AUTH AUTH2 RANK LEN IDX MINMATCHLEN NOMKSTREAM ENTRIESREAD
    SAMPLES OVERFLOW WRAP SAT FAIL U8 I8 U16 I16 U32 I32 U64 I64 AND OR XOR NOT ABSTTL FREQ
    LOAD M KM FT MI SCHEDULE ASYNC SYNC BIT BYTE
"""
KEYWORDS = frozenset(_KEYWORD_TEXT.split())
# Commands whose integer arguments are mostly ranges or counts (LRANGE k 0 -1, ... LIMIT 0 10,
# COUNT 100): arg_shape keeps them. Elsewhere integers are values (SET k 0, EXPIRE k 60) -> `?`.
_RANGE_TEXT = """
    lrange ltrim lindex zrange zrevrange zrangestore zremrangebyrank getrange substr bitcount
    bitpos srandmember zrandmember hrandfield spop lpop rpop zpopmin zpopmax bzpopmin bzpopmax
    lpos scan sscan hscan zscan lmpop blmpop zmpop bzmpop zrangebyscore zrevrangebyscore
    zrangebylex zrevrangebylex sort sort_ro xrange xrevrange xread xreadgroup xautoclaim
    xpending
"""
RANGE_COMMANDS = frozenset(_RANGE_TEXT.split())


@dataclass(frozen=True)
class KeyPlan:
    """Key specs as the native core takes them (`scanner.parser`), built once per analysis."""

    commands: list[Command]
    containers: list[str]  # commands whose argv 1 names a subcommand
    keywords: list[str]  # arguments kept in arg_shape, in every spelling
    ranged: list[str]  # `RANGE_COMMANDS`
    # Commands whose one key is argv 1, quoted as MONITOR prints them (`"GET`, `"get`, `"Get`).
    fast_spellings: list[str]

    def parser(self, long_arg: int | None = None, fast: bool = True) -> scanner.Parser:
        """The native parser of one analysis (`scanner.parser`); `fast`: the commands whose one
        key is argv 1 take the fast path (off: every line is its own tail, keys by spec)."""
        return scanner.parser(
            self.fast_spellings if fast else (),
            long_arg,
            self.commands,
            self.containers,
            self.keywords,
            self.ranged,
        )


def plan(specs: KeySpecs) -> KeyPlan:
    words = KEYWORDS | _subcommands(specs)
    commands = _commands(specs)
    fast = [c[0] for c in commands if c[1]]
    spellings = sorted({f'"{s}' for n in fast for s in (n, n.upper(), n.title())})
    keywords = sorted(words | {w.lower() for w in words} | {w.title() for w in words})
    return KeyPlan(commands, sorted(specs.containers), keywords, sorted(RANGE_COMMANDS), spellings)


def _subcommands(specs: KeySpecs) -> set[str]:
    return {name.partition("|")[2].upper() for name in specs.by_command if "|" in name}
