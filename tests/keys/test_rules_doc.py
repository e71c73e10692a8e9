"""docs/RULES.md: its two example files load, and do what the page says they do."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from hotshard.analyze.commands import check_rules
from hotshard.analyze.keys import patterns

DOC = Path(__file__).parents[2] / "docs" / "RULES.md"


def _examples(tmp_path: Path) -> tuple[Path, Path]:
    """The page's two ```toml blocks, written to files as a reader would save them."""
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 2, "docs/RULES.md: one pattern example and one check example"
    files = (tmp_path / "patterns.toml", tmp_path / "check.toml")
    for path, text in zip(files, blocks, strict=True):
        path.write_text(text)
    return files


def test_the_pattern_example_folds_what_the_page_says(tmp_path):
    pattern_file, _ = _examples(tmp_path)
    rules = patterns.load_rules(pattern_file)
    assert [r.name for r in rules[:2]] == ["tenant", "order code"]
    keys = pl.LazyFrame({"key": ["cache:tenant-acme:ord_7QK2M9XZ:lines", "tenant-acme:user:42"]})
    got = patterns.add_pattern(keys, "key", rules).collect()["key_pattern"].to_list()
    assert got == ["cache:tenant-{TENANT}:{ORDER}:lines", "tenant-{TENANT}:user:{ID}"]
    text = DOC.read_text()
    for key, pattern in zip(keys.collect()["key"], got, strict=True):
        assert f"`{key}` becomes `{pattern}`" in text


def test_the_check_example_loads_three_rules(tmp_path):
    _, check_file = _examples(tmp_path)
    rules = check_rules.load_rules(str(check_file))
    assert set(rules) == {"full_range_read", "shard_skew", "forbidden_commands"}
    assert rules["forbidden_commands"]["commands"] == ["keys", "flushall"]
    # Every rule the page's table names is a rule check knows, with the settings it lists.
    for section, settings in re.findall(r"^\| `\[(\w+)\]` \| ([^|]+) \|", DOC.read_text(), re.M):
        assert section in check_rules.RULES
        assert set(re.findall(r"`(\w+)`", settings)) == check_rules._KNOWN_SETTINGS[section]
