"""The rules `hotshard check` judges an analysis by, and their TOML file.

Each rule is a pure function of the analysis (summary.json + the commands dataset) and its
settings, returning violations; analyze/data/check_rules.toml is the default set.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from hotshard.analyze import schema
from hotshard.analyze.commands.analysis import Analysis
from hotshard.analyze.errors import BadRules
from hotshard.analyze.findings.breakdowns import full_read
from hotshard.analyze.humanize import size as human_bytes
from hotshard.analyze.store.outfolder import KEY_SIZES_NAME
from hotshard.capture.format.escape import code, printable

DEFAULT_RULES = Path(__file__).parent.parent / "data" / "check_rules.toml"
KEY_LIMIT = 200  # a key in a violation is shortened only past this many characters


@dataclass(frozen=True)
class Violation:
    subject: str  # the key, pattern, shard or command at fault
    message: str


@dataclass(frozen=True)
class RuleResult:
    rule: str
    description: str
    violations: list[Violation] = field(default_factory=list)
    # Why the input cannot tell whether the rule holds (no sizes, one shard, nothing measured):
    # such a rule is "not judged", never "passed".
    unjudged: str | None = None

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def passed(self) -> bool:
        return not self.violations and self.unjudged is None


# -- the rules ------------------------------------------------------------------------------------
_CLIENT = pl.col("origin") == schema.ORIGIN_CLIENT


def _full_range_read(a: Analysis, cfg: dict[str, Any]) -> RuleResult:
    max_members = int(cfg.get("max_members", 1000))
    max_reply = int(cfg.get("max_reply_bytes", 1_000_000))
    reads = (
        a.commands()
        .filter(_CLIENT & full_read())
        .group_by("node", "shard", "key_name", "command")
        .agg(
            pl.len().alias("count"),
            pl.col("reply_bytes").max().alias("max_reply"),
            pl.col("arg_shape").min().alias("arg_shape"),
        )
        .collect()
    )
    members = _members(a)
    if members is not None:
        reads = reads.join(members, on=["node", "key_name"], how="left")
    else:
        reads = reads.with_columns(pl.lit(None, pl.Int64).alias("members"))
    too_big = (pl.col("members") > max_members) | (
        pl.col("members").is_null() & (pl.col("max_reply") > max_reply)
    )
    unknown = reads.filter(pl.col("members").is_null() & pl.col("max_reply").is_null()).height
    rows = reads.filter(too_big).sort(
        ["shard", "key_name", "command", "node"], nulls_last=True, maintain_order=True
    )
    violations = []
    for r in rows.iter_rows(named=True):
        size = (
            f"{r['members']:,} members"
            if r["members"] is not None
            else f"replies up to {human_bytes(r['max_reply'])}"
        )
        call = f"{r['command'].upper()} {r['key_name']} {r['arg_shape'] or ''}".rstrip()
        violations.append(
            Violation(
                subject=r["key_name"],
                message=f"{code(call, KEY_LIMIT)} read the whole key ({size}) {r['count']:,}× "
                f"on shard {printable(r['shard'])} (node {printable(r['node'])}) — paginate it",
            )
        )
    return RuleResult(
        "full_range_read",
        f"no whole-collection read of a key above {max_members:,} members "
        f"(or {human_bytes(max_reply)} when unsampled)",
        violations,
        unjudged=f"{unknown:,} whole-collection read(s) of keys of unknown size (no sampled "
        "sizes nor reply sizes: a capture folder has them)"
        if unknown
        else None,
    )


def _members(a: Analysis) -> pl.DataFrame | None:
    path = a.folder / KEY_SIZES_NAME
    if not path.exists():
        return None
    members = (
        pl.read_parquet(path)
        .select("node", pl.col("key").alias("key_name"), pl.col("cardinality").alias("members"))
        .unique(["node", "key_name"], keep="first", maintain_order=True)
    )
    if a.redactor is not None:  # named as the redacted commands name keys and nodes
        members = a.key_names(members).with_columns(
            pl.col("node").map_elements(a.redactor.node, return_dtype=pl.String)
        )
    return members


def _pattern_share(a: Analysis, cfg: dict[str, Any]) -> RuleResult:
    max_share = float(cfg.get("max_share", 0.5))
    min_bytes = int(cfg.get("min_shard_bytes", 10_000_000))
    client = a.commands().filter(_CLIENT & pl.col("reply_bytes").is_not_null())
    shards = client.group_by("shard").agg(pl.col("reply_bytes").sum().alias("shard_bytes"))
    rows = (
        client.group_by("shard", "key_pattern")
        .agg(pl.col("reply_bytes").sum().alias("bytes"), pl.len().alias("count"))
        .join(shards, on="shard")
        .with_columns((pl.col("bytes") / pl.col("shard_bytes")).alias("share"))
        .filter((pl.col("shard_bytes") >= min_bytes) & (pl.col("share") > max_share))
        .sort(["shard", "bytes", "key_pattern"], descending=[False, True, False], nulls_last=True)
        .collect()
    )
    sized = client.select(pl.len()).collect().item()
    violations = [
        Violation(
            subject=str(r["key_pattern"]),
            message=f"pattern {code(r['key_pattern'], KEY_LIMIT)} makes {r['share']:.1%} of "
            f"shard {printable(r['shard'])}'s "
            f"bytes out ({human_bytes(r['bytes'])} of {human_bytes(r['shard_bytes'])}, "
            f"{r['count']:,} commands)",
        )
        for r in rows.iter_rows(named=True)
    ]
    return RuleResult(
        "pattern_share",
        f"no key pattern above {max_share:.0%} of a shard's bytes out "
        f"(shards above {human_bytes(min_bytes)})",
        violations,
        unjudged=None if sized else "no reply sizes in this input (a capture folder has them)",
    )


def _at_most(
    rule: str, text: str, value: float | None, limit: float, unjudged: str, violation: Violation
) -> RuleResult:
    """A rule on one number of the summary: broken when it is above `limit`."""
    broken = value is not None and value > limit
    return RuleResult(
        rule, text, [violation] if broken else [], unjudged=None if value is not None else unjudged
    )


def _shard_skew(a: Analysis, cfg: dict[str, Any]) -> RuleResult:
    max_ratio = float(cfg.get("max_ratio", 3.0))
    hot = a.summary.get("hot_shard") or {}
    ratio = hot.get("skew_ratio")
    return _at_most(
        "shard_skew",
        f"hottest shard at most {max_ratio:g}× the others",
        ratio,
        max_ratio,
        "no skew to judge (fewer than two busy shards)",
        Violation(
            subject=f"shard {hot.get('shard')}",
            message=f"shard {printable(str(hot.get('shard')))} carries {ratio or 0:.1f}× the "
            "median of the other "
            f"shards by {hot.get('basis', 'bytes')}"
            + (f", {hot['estimate']} estimate" if hot.get("estimate") else "")
            + f" (limit {max_ratio:g}×)",
        ),
    )


def _balance(a: Analysis, cfg: dict[str, Any]) -> RuleResult:
    max_score = float(cfg.get("max_score", 1.0))
    score = a.summary.get("balance_score")
    return _at_most(
        "balance",
        f"balance score at most {max_score:g} (0 = even)",
        score,
        max_score,
        "no balance score in this analysis",
        Violation(
            subject="cluster",
            message=f"balance score {score or 0:.2f} (hottest shard / mean shard load − 1) "
            f"above {max_score:g}",
        ),
    )


def _forbidden_commands(a: Analysis, cfg: dict[str, Any]) -> RuleResult:
    names = [str(c).lower() for c in cfg.get("commands", [])]
    rows = (
        a.commands()
        .filter(_CLIENT & pl.col("command").is_in(names))
        .group_by("command", "shard")
        .agg(pl.len().alias("count"))
        .sort(["command", "shard"])
        .collect()
    )
    violations = [
        Violation(
            subject=r["command"],
            message=f"{code(r['command'].upper())} ran {r['count']:,}× on shard "
            f"{printable(r['shard'])}",
        )
        for r in rows.iter_rows(named=True)
    ]
    shown = ", ".join(n.upper() for n in names) or "(none listed)"
    return RuleResult("forbidden_commands", f"never run {shown}", violations)


def _key_rate(a: Analysis, cfg: dict[str, Any]) -> RuleResult:
    limit = float(cfg.get("max_ops_per_s", 5000))
    rows = (
        a.commands()
        .filter(_CLIENT & pl.col("key_name").is_not_null())
        .group_by("shard", "key_name")
        .agg(pl.len().alias("count"))
        .with_columns((pl.col("count") / a.duration).alias("rate"))
        .filter(pl.col("rate") > limit)
        .sort(["rate", "shard", "key_name"], descending=[True, False, False])
        .collect()
    )
    violations = [
        Violation(
            subject=r["key_name"],
            message=f"key {code(r['key_name'], KEY_LIMIT)} on shard {printable(r['shard'])}: "
            f"{r['rate']:,.0f} commands/s "
            f"({r['count']:,} in {a.duration:.0f} s)",
        )
        for r in rows.iter_rows(named=True)
    ]
    return RuleResult("key_rate", f"no key above {limit:,.0f} commands/s", violations)


def _estimate_accuracy(a: Analysis, cfg: dict[str, Any]) -> RuleResult:
    """The self-check of summary.json (analyze/measure/selfcheck.py) as a rule: every node carrying at
    least `min_share` of the measured bytes out has an estimate within `max_error` of them."""
    max_error = float(cfg.get("max_error", 0.05))
    min_share = float(cfg.get("min_share", 0.01))
    nodes = (a.summary.get("self_check") or {}).get("nodes") or []
    checked = [n for n in nodes if n.get("ratio") is not None]
    violations = [
        Violation(
            subject=n["node"],
            message=f"node {printable(n['node'])} (shard {printable(n['shard'])}, {n['role']}, "
            f"{n['share'] * 100:.1f}% of the traffic): estimated {human_bytes(n['est_bytes_out'])}"
            f" = {n['ratio']:.3f}× of the measured {human_bytes(n['measured_bytes_out'])}"
            f" — {human_bytes(abs(n['unexplained_bytes']))} "
            f"{'unexplained' if n['unexplained_bytes'] > 0 else 'over-estimated'}",
        )
        for n in sorted(checked, key=lambda n: (n["shard"], n["node"]))
        if (n.get("share") or 0) >= min_share and abs(n["ratio"] - 1) > max_error
    ]
    return RuleResult(
        "estimate_accuracy",
        f"estimate within {max_error * 100:g}% of measured bytes out on every node above "
        f"{min_share * 100:g}% of the traffic",
        violations,
        unjudged=None if checked else "nothing measured to compare (needs a capture folder)",
    )


RULES: dict[str, Callable[[Analysis, dict[str, Any]], RuleResult]] = {
    "full_range_read": _full_range_read,
    "pattern_share": _pattern_share,
    "shard_skew": _shard_skew,
    "balance": _balance,
    "forbidden_commands": _forbidden_commands,
    "key_rate": _key_rate,
    "estimate_accuracy": _estimate_accuracy,
}
# Each setting and what it must be: "count" a whole number >= 0, "number" a finite number >= 0,
# "share" a number from 0 to 1, "names" a list of command names.
_SETTINGS: dict[str, dict[str, str]] = {
    "full_range_read": {"max_members": "count", "max_reply_bytes": "count"},
    "pattern_share": {"max_share": "share", "min_shard_bytes": "count"},
    "shard_skew": {"max_ratio": "number"},
    "balance": {"max_score": "number"},
    "forbidden_commands": {"commands": "names"},
    "key_rate": {"max_ops_per_s": "number"},
    "estimate_accuracy": {"max_error": "number", "min_share": "share"},
}
_KNOWN_SETTINGS = {rule: set(settings) for rule, settings in _SETTINGS.items()}
_KINDS = {
    "count": "a whole number, 0 or more",
    "number": "a number, 0 or more",
    "share": "a number from 0 to 1",
    "names": 'a list of command names, e.g. ["keys", "flushall"]',
}


def _valid(kind: str, value: Any) -> bool:
    """Whether a setting's value is what its rule can judge with (`true` is not 1, `nan` and a
    string are not numbers: each would quietly pass everything)."""
    if kind == "names":
        return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if not math.isfinite(value) or value < 0:
        return False
    if kind == "count":
        return float(value).is_integer()
    return kind != "share" or value <= 1


# -- rules file -------------------------------------------------------------------------------
def load_rules(path: str | None) -> dict[str, dict[str, Any]]:
    """The rules to check: the file's sections, validated; the default set without a file."""
    source = Path(path) if path else DEFAULT_RULES
    try:
        data = tomllib.loads(source.read_text())
    except FileNotFoundError:
        raise BadRules(f"{source}: no such rules file") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadRules(f"{source}: not valid TOML ({exc})") from None
    for section, settings in data.items():
        if section not in RULES:
            raise BadRules(f"{source}: unknown rule [{section}] — known rules: {', '.join(RULES)}")
        if not isinstance(settings, dict):
            raise BadRules(f"{source}: [{section}] must be a table of settings")
        unknown = set(settings) - _KNOWN_SETTINGS[section]
        if unknown:
            raise BadRules(
                f"{source}: [{section}] has unknown setting(s) {', '.join(sorted(unknown))} — "
                f"known: {', '.join(sorted(_KNOWN_SETTINGS[section]))}"
            )
        for name, value in settings.items():
            kind = _SETTINGS[section][name]
            if not _valid(kind, value):
                raise BadRules(
                    f"{source}: [{section}] {name} = {printable(repr(value))} — it must be "
                    f"{_KINDS[kind]}"
                )
    return data


def evaluate(a: Analysis, rules: dict[str, dict[str, Any]]) -> list[RuleResult]:
    """Every configured rule's result, in the order of `RULES`."""
    return [RULES[name](a, rules[name]) for name in RULES if name in rules]
