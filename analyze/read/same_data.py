"""Is one MONITOR file given twice? The same data read twice would count every command twice.

Three ways it happens: the same path twice (caught in `inputs.resolve`), a capture folder and one
of its own files, and a copy of a file under another name. Files are compared by identity (device
and inode) first, then by content, and only files of equal size are ever read for it.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from pathlib import Path

from hotshard.analyze.errors import BadInput


def refuse(paths: list[Path], origins: list[str]) -> None:
    """Raise BadInput when two sources that come from different inputs hold the same data.

    `origins[i]` names the input (as the user typed it) that `paths[i]` came from. Files of
    one capture folder are never compared with each other: each is its own node by
    construction, and two idle nodes may well write identical bytes.
    """
    stats: list[os.stat_result | None] = []
    for path in paths:
        try:
            stats.append(os.stat(path))
        except OSError:
            stats.append(None)  # unreadable: the parser says so, with the path
    by_size: dict[int, list[int]] = defaultdict(list)
    by_identity: dict[tuple[int, int], int] = {}
    for i, st in enumerate(stats):
        if st is None or st.st_size == 0:
            continue  # nothing in it to count twice
        first = by_identity.setdefault((st.st_dev, st.st_ino), i)
        if first != i and origins[first] != origins[i]:
            raise BadInput(_message(paths, origins, first, i, same_file=True))
        if first == i:
            by_size[st.st_size].append(i)
    for group in by_size.values():
        if len({origins[i] for i in group}) < 2:
            continue
        digests: dict[bytes, int] = {}
        for i in group:
            first = digests.setdefault(_digest(paths[i]), i)
            if first != i and origins[first] != origins[i]:
                raise BadInput(_message(paths, origins, first, i, same_file=False))


def _digest(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return hashlib.file_digest(fh, "blake2b").digest()
    except OSError:
        return str(path).encode()  # unreadable: never equal to another file's digest


def _message(paths: list[Path], origins: list[str], a: int, b: int, same_file: bool) -> str:
    def inside(i: int) -> bool:  # a file of a capture folder, not an input of its own
        return str(paths[i]) != origins[i]

    def named(i: int) -> str:
        return f"{paths[i]} (of capture folder {origins[i]})" if inside(i) else str(paths[i])

    if same_file and inside(a) != inside(b):
        folder, given = (a, b) if inside(a) else (b, a)
        what = f"{origins[given]} is already part of capture folder {origins[folder]}"
    else:
        how = "is the same file as" if same_file else "has the same content as"
        what = f"{named(b)} {how} {named(a)}"
    return (
        f"{what}: its MONITOR data would be counted twice — give each capture folder or log "
        "once (a capture folder already includes its own files)"
    )
