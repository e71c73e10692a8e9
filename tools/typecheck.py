"""Type-check capture/ and analyze/ under the names they install as: `hotshard.capture`, ...

mypy names a file after its folders (capture/cli.py would be `cli` in package `capture`) and
cannot follow the editable install's import finder, so every `hotshard.capture...` import would
go unresolved and silently unchecked. This runs mypy with pyproject.toml's `[tool.mypy]` options, and each file
given the module name it is imported by. `just lint` runs it; extra arguments go to mypy.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mypy import build
from mypy.errors import CompileError
from mypy.main import process_options
from mypy.modulefinder import BuildSource

ROOT = Path(__file__).resolve().parent.parent
# The same mapping as pyproject.toml's [tool.setuptools] package-dir.
PACKAGES = {"hotshard.capture": "capture", "hotshard.analyze": "analyze"}


def sources() -> list[BuildSource]:
    found = []
    for name, folder in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found.append(BuildSource(str(path.relative_to(ROOT)), ".".join((name, *parts))))
    return found


def main(argv: list[str]) -> int:
    os.chdir(ROOT)
    _, options = process_options([*argv, *PACKAGES.values()])  # reads pyproject.toml
    files = sources()
    try:
        messages = build.build(files, options).errors
    except CompileError as e:
        messages = e.messages
    for message in messages:
        print(message)
    errors = sum(": error:" in m for m in messages)
    if errors:
        print(f"Found {errors} errors (checked {len(files)} source files)")
        return 1
    print(f"Success: no issues found in {len(files)} source files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
