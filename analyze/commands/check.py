"""`hotshard check`: rules a build fails on, judged on one analysis.

The rules live in a small TOML file (analyze/data/check_rules.toml is the default set). Each rule
is a pure function of the analysis (summary.json + the commands dataset) returning violations;
the edges render them as markdown (a PR comment) and JUnit XML (what CI systems display).
"""

from __future__ import annotations

import math
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from hotshard.analyze import schema
from hotshard.analyze.commands.analysis import Analysis, open_analysis
from hotshard.analyze.commands.analyze import KEY_SIZES_NAME
from hotshard.analyze.errors import AnalyzeError, BadInput, BadRules
from hotshard.analyze.findings import rollups
from hotshard.analyze.humanize import size as human_bytes
from hotshard.analyze.render.redact import Redactor
from hotshard.capture.errors import ExitStatus
from hotshard.capture.format.escape import code, printable

DEFAULT_RULES = Path(__file__).parent.parent / "data" / "check_rules.toml"
KEY_LIMIT = 200  # a key in a violation is shortened only past this many characters


class RulesBroken(AnalyzeError):
    """At least one rule was broken: the build should fail."""

    exit_status = ExitStatus.ERROR


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


@dataclass(frozen=True)
class CheckResult:
    target: str
    results: list[RuleResult]

    @property
    def broken(self) -> list[RuleResult]:
        return [r for r in self.results if not r.ok]

    @property
    def not_judged(self) -> list[RuleResult]:
        return [r for r in self.results if r.ok and r.unjudged is not None]


# -- rules ------------------------------------------------------------------------------------
_CLIENT = pl.col("origin") == schema.ORIGIN_CLIENT


def _full_range_read(a: Analysis, cfg: dict[str, Any]) -> RuleResult:
    max_members = int(cfg.get("max_members", 1000))
    max_reply = int(cfg.get("max_reply_bytes", 1_000_000))
    reads = (
        a.commands()
        .filter(_CLIENT & rollups.full_read())
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


def _shard_skew(a: Analysis, cfg: dict[str, Any]) -> RuleResult:
    max_ratio = float(cfg.get("max_ratio", 3.0))
    hot = a.summary.get("hot_shard") or {}
    ratio = hot.get("skew_ratio")
    violations = []
    if ratio is not None and ratio > max_ratio:
        violations.append(
            Violation(
                subject=f"shard {hot.get('shard')}",
                message=f"shard {printable(str(hot.get('shard')))} carries {ratio:.1f}× the "
                "median of the other "
                f"shards by {hot.get('basis', 'bytes')}"
                + (f", {hot['estimate']} estimate" if hot.get("estimate") else "")
                + f" (limit {max_ratio:g}×)",
            )
        )
    return RuleResult(
        "shard_skew",
        f"hottest shard at most {max_ratio:g}× the others",
        violations,
        unjudged=None if ratio is not None else "no skew to judge (fewer than two busy shards)",
    )


def _balance(a: Analysis, cfg: dict[str, Any]) -> RuleResult:
    max_score = float(cfg.get("max_score", 1.0))
    score = a.summary.get("balance_score")
    violations = []
    if score is not None and score > max_score:
        violations.append(
            Violation(
                subject="cluster",
                message=f"balance score {score:.2f} (hottest shard / mean shard load − 1) "
                f"above {max_score:g}",
            )
        )
    return RuleResult(
        "balance",
        f"balance score at most {max_score:g} (0 = even)",
        violations,
        unjudged=None if score is not None else "no balance score in this analysis",
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


# -- rendering ---------------------------------------------------------------------------------
def to_markdown(result: CheckResult) -> str:
    broken, unjudged = result.broken, result.not_judged
    if broken:
        head = f"## hotshard check: {len(broken)} of {len(result.results)} rule(s) broken"
    elif unjudged:
        passed = len(result.results) - len(unjudged)
        head = (
            f"## hotshard check: {passed} rule(s) pass, {len(unjudged)} not judged "
            "(the input cannot tell)"
        )
    else:
        head = f"## hotshard check: all {len(result.results)} rule(s) pass"
    lines = [head, "", f"Checked: {code(result.target, 200)}", ""]
    lines += ["| Rule | Result | What it checks |", "|---|---|---|"]
    for r in result.results:
        if not r.ok:
            status = f"❌ {len(r.violations)} violation(s)"
        elif r.unjudged is not None:
            status = f"⚪ not judged: {r.unjudged}"
        else:
            status = "✅ pass"
        lines.append(f"| `{r.rule}` | {status} | {r.description} |")
    for r in broken:
        lines += ["", f"### `{r.rule}`", ""]
        lines += [f"- {v.message}" for v in r.violations]
    return "\n".join(lines) + "\n"


def to_junit(result: CheckResult) -> str:
    """JUnit XML that parses whatever the keys hold: every text goes through `printable`
    (XML 1.0 cannot carry most control characters, even as `&#..;` references), and
    ElementTree escapes the markup characters."""
    suite = ET.Element(
        "testsuite",
        name="hotshard check",
        tests=str(len(result.results)),
        failures=str(len(result.broken)),
        errors="0",
        skipped=str(len(result.not_judged)),
    )
    for r in result.results:
        case = ET.SubElement(suite, "testcase", classname="hotshard.check", name=printable(r.rule))
        if r.ok and r.unjudged is not None:
            ET.SubElement(case, "skipped", message=printable(f"not judged: {r.unjudged}"))
        if not r.ok:
            failure = ET.SubElement(
                case,
                "failure",
                message=printable(f"{len(r.violations)} violation(s): {r.description}"),
            )
            failure.text = "\n".join(printable(v.message) for v in r.violations)
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BadInput(
            f"--junit {path}: cannot write it ({exc.strerror or exc}) — choose a writable path"
        ) from None


# -- the command ------------------------------------------------------------------------------
def run_check(
    target: str,
    rules: str | None = None,
    junit: str | None = None,
    quiet: bool = True,
    fail_unjudged: bool = False,
    redactor: Redactor | None = None,
) -> CheckResult:
    """Judge `target` (analysis output, capture folder or log) against the rules; print markdown.

    Raises `RulesBroken` (exit 1) when a rule is broken, or (`fail_unjudged`) when a rule could
    not be judged on this input, after printing and writing JUnit.
    """
    config = load_rules(rules)
    with open_analysis(target, quiet=quiet, redactor=redactor) as analysis:
        result = CheckResult(target=analysis.name, results=evaluate(analysis, config))
    print(to_markdown(result), end="")
    if junit:
        _write(Path(junit), to_junit(result))
    if result.broken:
        names = ", ".join(r.rule for r in result.broken)
        raise RulesBroken(f"{len(result.broken)} rule(s) broken: {names}")
    if fail_unjudged and result.not_judged:
        names = ", ".join(r.rule for r in result.not_judged)
        raise RulesBroken(
            f"{len(result.not_judged)} rule(s) not judged on this input (--fail-unjudged): {names}"
        )
    return result
