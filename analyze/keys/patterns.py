"""Key patterns: ordered regex rules that fold the variable parts of a key into placeholders,
`large_sortedset:app:2025-10-17` -> `large_sortedset:app:{DATE}`, and command signatures.

Rules apply in order, each to the result of the previous one, as Polars `str.replace_all` (Rust
regex: no look-around; `$1` / `${name}` refer to groups). User rules from a TOML file come
first, then the defaults:

    {BIN}   a part of the key (between `:` `/` `|` `{` `}`) holding raw bytes: `\\xHH` escapes of
            a binary key, or control characters
    {EMAIL} e-mail addresses (`name@host.tld`)
    {UUID}  8-4-4-4-12 hex UUIDs
    {DATE}  ISO dates and times (2025-10-17, 2025-10-17T10:00:00Z, 2025/10/17), compact 20251017
    {IP}    IPv4 addresses
    {HEX}   runs of 16+ hex characters with a letter or not (hashes, tokens), except all-digit runs,
            and whole words of 8-15 hex characters with a letter (`sess:4f3a9b2c`; not `deadbee`,
            too short, nor `user_4f3a9b2c`: `_` joins words, as for {ID})
    {ULID}  ULIDs (26 characters of Crockford base32, upper case)
    {ID}    numbers: any run of 6+ digits (`order1234567`), and a shorter number standing alone
            between non-word characters (`user:42:cart`, `a/7/b`; not `v2`, not `user_42`) —
            one placeholder, so `user:7` and `user:1234567` share a pattern

The defaults use no capture groups (a capturing replace is much slower in Rust regex:
docs/BENCHMARKS.md, "Choices in the code") and ASCII word boundaries. Greedy digit runs are maximal, which stands in for look-around: after the 9+
digit rule, an 8-digit date can only match a whole run. They run once per distinct key
(`hotshard.analyze.rows.ids`), and a rule with a literal precheck (`Rule.needs`) runs its regex only on
the keys that hold that literal: most keys have no `-`, `.` or escape.

The rules file (`--rules`):

    defaults = true              # optional; false keeps only the rules below

    [[rule]]
    name = "tenant"              # optional, used in messages
    match = 'tenant-[a-z]+'
    replace = "tenant-{TENANT}"
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from hotshard.analyze.errors import BadRules


@dataclass(frozen=True)
class Rule:
    match: str  # Rust regex
    replace: str  # replacement; `$1`, `${1}` refer to groups
    name: str = ""
    # A cheap regex every match must contain (a literal or a class): keys without it skip the rule.
    needs: str | None = None


_B = r"(?-u:\b)"  # ASCII word boundary: DFA-friendly, unlike the Unicode one
_MONTH, _DAY = "(?:0[1-9]|1[0-2])", "(?:0[1-9]|[12][0-9]|3[01])"
_TIME = r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?"

# A whole word of 8 to 15 hex characters with at least one letter (a session or request id,
# `4f3a9b2c`): the first letter after 0-7 digits, or after more (runs of 16+ are already {HEX};
# all-digit words are numbers, left to the {ID} rules). No look-around: one alternative per
# position of the first letter.
_HEX_WORD = (
    f"{_B}(?:"
    + "|".join(
        [f"[0-9]{{{p}}}[a-fA-F][0-9a-fA-F]{{{7 - p},}}" for p in range(8)]
        + ["[0-9]{8,}[a-fA-F][0-9a-fA-F]*"]
    )
    + f"){_B}"
)

DEFAULT_RULES: tuple[Rule, ...] = (
    # A key part holding raw bytes: `\xHH` escapes (binary keys) or control characters.
    Rule(
        r"[^:/|{}]*(?:\\x[0-9a-fA-F]{2}|[\x00-\x1f\x7f])[^:/|{}]*",
        "{BIN}",
        "binary",
        r"\\x|[\x00-\x1f\x7f]",
    ),
    # E-mail addresses: whole, before the number rules take their digits apart.
    Rule(
        r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}",
        "{EMAIL}",
        "email",
        "@",
    ),
    Rule(
        "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        "{UUID}",
        "uuid",
        "-",
    ),
    Rule(f"[0-9]{{4}}[-/]{_MONTH}[-/]{_DAY}{_TIME}", "{DATE}", "iso-date", "[-/]"),
    Rule(rf"{_B}(?:[0-9]{{1,3}}\.){{3}}[0-9]{{1,3}}{_B}", "{IP}", "ipv4", r"\."),
    Rule("[0-9]{16,}", "{ID}", "long-number"),  # before hex: all digits is a number
    Rule("[0-9a-fA-F]{16,}", "{HEX}", "hex"),
    Rule(_HEX_WORD, "{HEX}", "hex-word"),  # session and request ids: 8-15 hex, a letter
    # ULIDs (26 Crockford base32, upper case, time first): `01ARZ3NDEKTSV4RRFFQ69G5FAV`
    Rule(f"{_B}[0-7][0-9A-HJKMNP-TV-Z]{{25}}{_B}", "{ULID}", "ulid"),
    Rule("[0-9]{9,}", "{ID}", "number"),  # leaves digit runs of 8 or less for the date rule
    Rule(f"(?:19|20)[0-9]{{2}}{_MONTH}{_DAY}", "{DATE}", "compact-date"),
    # 6+ digits anywhere, or a whole number between non-word characters (one pass: alternation)
    Rule(f"[0-9]{{6,}}|{_B}[0-9]+{_B}", "{ID}", "number"),
)


def add_pattern(
    lf: pl.LazyFrame, key: str, rules: Sequence[Rule] = DEFAULT_RULES, name: str = "key_pattern"
) -> pl.LazyFrame:
    """Add column `name`: the pattern of column `key`. One stage per rule (an expression that
    used its input twice would be evaluated twice per rule); a rule with a precheck runs its
    regex only on the keys that could match (null elsewhere is free)."""
    lf = lf.with_columns(pl.col(key).alias(name))
    out = pl.col(name)
    plain = out  # rules without a precheck chain into one expression, staged before the next
    for rule in rules:
        if rule.needs is None:
            plain = plain.str.replace_all(rule.match, rule.replace)
            continue
        if plain is not out:
            lf, plain = lf.with_columns(plain), out
        hit = pl.when(out.str.contains(rule.needs)).then(out)
        lf = lf.with_columns(pl.coalesce(hit.str.replace_all(rule.match, rule.replace), out))
    if plain is not out:
        lf = lf.with_columns(plain)
    return lf


def signature_expr(command: pl.Expr, pattern: pl.Expr, shape: pl.Expr) -> pl.Expr:
    """`ZREVRANGE | large_sortedset:app:{DATE} | 0 -1`; `GET | user:{ID}` without arguments;
    `PING`, or `SCAN | - | 0 MATCH ? COUNT 100`, for commands without a key."""
    has_shape = shape.fill_null("") != ""
    return pl.concat_str(
        command.str.to_uppercase(),
        pl.when(pattern.is_not_null() | has_shape).then(" | " + pattern.fill_null("-")),
        pl.when(has_shape).then(" | " + shape),
        ignore_nulls=True,
    )


# -- rules files ------------------------------------------------------------------------------------
def check_rule(rule: Rule, where: str) -> None:
    """Raise BadRules when Polars (Rust regex) cannot compile the rule."""
    if any(look in rule.match for look in ("(?=", "(?!", "(?<=", "(?<!")):
        raise BadRules(
            f"{where}: {rule.match!r} uses look-around, which Rust regex does not support — "
            "match the context in a group and put it back with $1"
        )
    try:
        pl.select(pl.lit("probe").str.replace_all(rule.match, rule.replace))
    except pl.exceptions.PolarsError as exc:
        detail = str(exc).strip().splitlines()[0]
        raise BadRules(f"{where}: invalid regex {rule.match!r} ({detail})") from None


def load_rules(path: str | Path | None) -> tuple[Rule, ...]:
    """The rules of a TOML file followed by the defaults (unless it says `defaults = false`)."""
    if path is None:
        return DEFAULT_RULES
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise BadRules(f"{path}: cannot read the rules file ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadRules(f"{path}: not valid TOML ({exc})") from None
    entries = data.get("rule", [])
    if not isinstance(entries, list):
        raise BadRules(f"{path}: rules are [[rule]] tables with `match` and `replace`")
    rules = []
    for i, entry in enumerate(entries, 1):
        where = f"{path}: rule {i}" + (f" ({entry['name']})" if entry.get("name") else "")
        if not isinstance(entry.get("match"), str) or not isinstance(entry.get("replace"), str):
            raise BadRules(f"{where}: needs `match` (a regex) and `replace` (text)")
        unknown = set(entry) - {"match", "replace", "name"}
        if unknown:
            raise BadRules(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        rule = Rule(entry["match"], entry["replace"], str(entry.get("name", "")))
        check_rule(rule, where)
        rules.append(rule)
    defaults = data.get("defaults", True)
    if not isinstance(defaults, bool):
        raise BadRules(f"{path}: `defaults` is true or false")
    return (*rules, *(DEFAULT_RULES if defaults else ()))
