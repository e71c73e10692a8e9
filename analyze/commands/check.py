"""`hotshard check`: rules a build fails on (commands/check_rules.py), judged on one analysis
and rendered as markdown (a PR comment) and JUnit XML (what CI systems display).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from hotshard.analyze.commands.analysis import open_analysis
from hotshard.analyze.commands.check_rules import RuleResult, evaluate, load_rules
from hotshard.analyze.errors import AnalyzeError, BadInput
from hotshard.analyze.render.redact import Redactor
from hotshard.capture.errors import ExitStatus
from hotshard.capture.format.escape import code, printable


class RulesBroken(AnalyzeError):
    """At least one rule was broken: the build should fail."""

    exit_status = ExitStatus.ERROR


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
