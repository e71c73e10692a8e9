"""The analysis output is as private as the capture it comes from (folders 0700, files 0600):
it holds production key names and client addresses.

The output is built inside a folder `tempfile.mkdtemp` makes private, so the files the writers
create with the usual umask (Polars, SQLite, ADBC) are unreachable by others while they are
written; `restrict` then tightens them before the folder is swapped into place.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hotshard.analyze.errors import BadInput

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def restrict(folder: Path) -> None:
    """Every folder under `folder` (itself included) 0700, every file 0600; symlinks untouched."""
    os.chmod(folder, FOLDER_MODE)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, FOLDER_MODE)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, FILE_MODE)


def build_folder(out: Path) -> Path:
    """A new private folder next to `out` to build the output in (swapped in when complete).

    An --out where nothing can be created (a read-only or missing place) is one readable line.
    """
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as exc:
        where = exc.filename or out.parent
        raise BadInput(
            f"--out {out}: cannot create the output folder ({where}: {exc.strerror or exc}) — "
            "choose an --out in a folder you can write to"
        ) from None
