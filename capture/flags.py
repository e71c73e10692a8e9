"""The command line read before fire runs anything: unknown flags refused, help written for people.

fire reports an unknown flag only after the command has run (a capture on production with the
default guard, an analysis over `./hotshard-out`), and its help pages show Python names
(`--tls_insecure`) and fire internals. `check` reads the arguments against the command's own
signature first; `help_page` writes the help from the same docstrings, with the README's dashes.
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from hotshard.capture.errors import UsageError

HELP = ("--help", "-h", "help")


@dataclass(frozen=True)
class Signature:
    """What a command accepts: flags (dashed names), positional names, and whether it takes many."""

    flags: dict[str, bool]  # --name -> is a switch (bool default)
    positional: list[str]
    many: bool  # *inputs
    keyword: frozenset[str] = frozenset()  # flags only (after `*`): never filled by position

    @classmethod
    def of(cls, fn: Callable[..., object]) -> Signature:
        flags: dict[str, bool] = {}
        positional: list[str] = []
        many = False
        keyword: set[str] = set()
        for p in inspect.signature(fn).parameters.values():
            if p.kind is p.VAR_POSITIONAL:
                many = True
                continue
            flags["--" + p.name.replace("_", "-")] = isinstance(p.default, bool)
            if p.kind is p.KEYWORD_ONLY:
                keyword.add("--" + p.name.replace("_", "-"))
            if p.default is p.empty:
                positional.append(p.name)
        return cls(flags, positional, many, frozenset(keyword))


def check(command: str, args: Sequence[str], fn: Callable[..., object]) -> None:
    """Refuse an unknown flag, a flag without its value or an extra argument, before any work."""
    sig = Signature.of(fn)
    loose: list[str] = []
    named: set[str] = set()
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":  # fire's own flags follow; nothing of ours
            break
        if arg.startswith("-") and not _number(arg):
            name, eq, _ = arg.partition("=")
            name = _long(name, sig).replace("_", "-")
            switch = sig.flags.get(name)
            negated = name.startswith("--no") and sig.flags.get("--" + name[4:]) is True
            if switch is None and not negated:
                raise UsageError(_unknown(command, name, sig))
            named.add(name)
            if negated or eq:
                continue
            if i < len(args) and not args[i].startswith("--"):
                i += 1  # fire takes the next word as the flag's value
            elif not switch:
                raise UsageError(f"{command}: {name} needs a value")
        else:
            loose.append(arg)
    # fire fills parameters from positional words too, in order, unless named as flags.
    free = [f for f in sig.flags if f not in named and f not in sig.keyword]
    if not sig.many and len(loose) > len(free):
        takes = ", ".join(p.upper() for p in sig.positional)
        raise UsageError(
            f"{command}: unexpected argument {loose[len(free)]!r}"
            + (f" ({command} takes {takes})" if takes else "")
        )


def _long(name: str, sig: Signature) -> str:
    """fire's `-x`: the one flag starting with that letter (none or several: not a flag)."""
    if name.startswith("--") or len(name) != 2:
        return name
    matches = [f for f in sig.flags if f[2:].startswith(name[1])]
    return matches[0] if len(matches) == 1 else name


def _number(text: str) -> bool:
    return re.fullmatch(r"-\d+(\.\d*)?", text) is not None


def _unknown(command: str, name: str, sig: Signature) -> str:
    choices = [*sig.flags, *("--no" + f[2:] for f, switch in sig.flags.items() if switch)]
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}?)" if close else f" (see hotshard {command} --help)"
    return f"{command}: unknown option {name}{hint}"


# -- help pages ------------------------------------------------------------------------------
def help_page(command: str, fn: Callable[..., object]) -> str:
    """`hotshard COMMAND --help`: usage, what it does, each flag with the README's spelling."""
    doc = inspect.getdoc(fn) or ""
    summary, _, rest = doc.partition("\n")
    args = _args(rest)
    sig = Signature.of(fn)
    usage = [f"hotshard {command}"]
    usage += [p.upper() for p in sig.positional]
    if sig.many:
        usage.append("INPUT [INPUT ...]")
    usage.append("[OPTIONS]")
    lines = [f"usage: {' '.join(usage)}", "", summary.strip(), ""]
    shown = {}
    for name, text in args.items():
        short = re.match(r"(-\w): (.*)", text)  # "-c: ..." in a docstring: the short form
        flag = _flag(name, sig)
        shown[f"{short.group(1)}, {flag}" if short else flag] = short.group(2) if short else text
    width = max((len(f) for f in shown), default=0)
    for flag, text in shown.items():
        lines.append(f"  {flag.ljust(width)}  {text}")
    return "\n".join(lines).rstrip() + "\n"


def _flag(name: str, sig: Signature) -> str:
    dashed = "--" + name.replace("_", "-")
    if name in sig.positional or dashed not in sig.flags:
        return name.upper()
    return dashed if sig.flags[dashed] else f"{dashed} VALUE"


def _args(text: str) -> dict[str, str]:
    """The `Args:` block of a docstring: name -> one line of text."""
    out: dict[str, str] = {}
    block = text.split("Args:", 1)[1] if "Args:" in text else ""
    for line in block.splitlines():
        m = re.match(r"\s+(\w+): (.*)", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def overview(commands: Mapping[str, Callable[..., object]]) -> str:
    """`hotshard --help`: every command with the first line of its docstring."""
    width = max(len(c) for c in commands)
    lines = ["usage: hotshard COMMAND [ARGS] [OPTIONS]", "", "commands:"]
    for name, fn in commands.items():
        first = (inspect.getdoc(fn) or "").split("\n", 1)[0]
        lines.append(f"  {name.ljust(width)}  {first}")
    lines += ["", "`hotshard COMMAND --help` lists a command's options; --traceback shows a stack."]
    return "\n".join(lines) + "\n"
