"""The capture folder's disk: full (ENOSPC), over quota (EDQUOT) or failing (EIO), said plainly.

A full disk is not a lost connection: retrying cannot help and every node writes to the same
folder. So a disk error stops every node at once, keeps the complete frames already on disk
(a half-written frame is cut off), and the manifest is still finalized: a small reserve file is
held in the folder from the start and released to make room for it.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from hotshard.capture.errors import DiskWriteFailed

DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EROFS})
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
RESERVE_NAME = ".hotshard-reserve"
# The final manifest holds two INFO snapshots per watched node (~20 kB each) and is written
# beside the old one before it replaces it.
RESERVE_BASE = 256 << 10
RESERVE_PER_NODE = 128 << 10


def is_disk_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_ERRNOS


def stop_reason(exc: DiskWriteFailed) -> str:
    return "disk_full" if exc.errno in FULL_ERRNOS else "disk_error"


def write_failed(path: str | os.PathLike[str], exc: OSError, needed: int = 0) -> DiskWriteFailed:
    """The readable error for an OSError raised while writing `path`."""
    what = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is used up",
        errno.EROFS: "the disk is read-only",
        errno.EIO: "the disk failed",
        errno.EFBIG: "the file grew too large for its file system",
    }.get(exc.errno or 0, "cannot write")
    return DiskWriteFailed(
        f"{what} writing {path} ({exc.strerror or exc})", errno=exc.errno, needed=needed
    )


def free_bytes(folder: str | os.PathLike[str]) -> int | None:
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


class Reserve:
    """A file of `size` bytes held in the capture folder until `release`."""

    def __init__(self, folder: Path, size: int):
        self.path = Path(folder) / RESERVE_NAME
        self.size = size
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise write_failed(self.path, exc) from None
        try:
            try:
                os.posix_fallocate(fd, 0, size)
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                os.write(fd, b"\0" * size)  # a file system without fallocate
        except OSError as exc:
            os.close(fd)
            self.release()
            free = free_bytes(folder)
            raise DiskWriteFailed(
                f"--out {folder}: not enough free space to start a capture "
                f"({mb(free or 0)} free; it needs {mb(size)} for the manifest alone, plus the "
                "MONITOR files) — free space or choose --out on a bigger disk",
                errno=exc.errno,
                needed=size,
            ) from None
        os.close(fd)

    def release(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()


def stopped_message(
    folder: Path, first: DiskWriteFailed, *, written: int, elapsed: float, duration: float
) -> str:
    """One line: what happened, what was kept, how much space the capture wanted, what to do."""
    kept = (
        f"every node stopped at once; the {mb(written)} written until then are kept "
        f"(manifest status partial)"
    )
    if first.errno not in FULL_ERRNOS:
        return f"{first} — {kept}; check the disk (dmesg) and capture with --out on another disk"
    rate = written / elapsed if elapsed > 0 else 0.0
    more = max(rate * duration - written, first.needed)
    free = free_bytes(folder)
    room = f", {mb(free)} free now" if free is not None else ""
    return (
        f"{first} — {kept}; the whole -d {duration:g} s needs about {mb(more)} more at this rate"
        f"{room} — free space or choose --out on a bigger disk, or shorten -d / cap nodes "
        "with --max-bytes"
    )
