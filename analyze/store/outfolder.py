"""The output folder (`--out`): its file names, built aside and swapped in whole.

Takes the path the user gave; hands the stages a private folder to write into (`building`),
then swaps it into place, so a rerun never mixes old and new files and a failed run leaves the
previous output untouched. One analysis at a time writes one --out (a lock beside it).

The output is as private as the capture it comes from (folders 0700, files 0600): it holds
production key names and client addresses. It is built inside a folder `tempfile.mkdtemp` makes
private, so the files the writers create with the usual umask (Polars, SQLite, ADBC) are
unreachable by others while they are written; `restrict` then tightens them before the swap.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import polars as pl

from hotshard.analyze import humanize
from hotshard.analyze.errors import AnalyzeError, BadInput
from hotshard.analyze.store.sqlite import DB_NAME as DB_NAME
from hotshard.analyze.store.tables import COMMANDS_DIR as COMMANDS_DIR

REPORT_NAME = "report.md"
SUMMARY_NAME = "summary.json"
METRICS_NAME = "hotshard.prom"  # Prometheus textfile (render/metrics.py)
CHARTS_DIR = "charts"  # render/charts.py
KEY_SIZES_NAME = "key_sizes.parquet"  # the capture's sampled key sizes, for `check`
MARKER = ".hotshard-out"  # marks a folder this tool wrote, so a rerun may replace it
# What a redacted output keeps; hotshard.prom is made from the (redacted) summary.
SHAREABLE = (REPORT_NAME, SUMMARY_NAME, METRICS_NAME, CHARTS_DIR, MARKER)

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


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold `out` for this analysis alone (a lock beside it), after checking it may be
    replaced: an empty folder or an earlier hotshard output."""
    with _lock(out):
        check(out)
        yield


@contextlib.contextmanager
def building(out: Path, shareable_only: bool = False) -> Iterator[Path]:
    """A private folder to write the output into, swapped in as `out` when the block ends
    without error; removed, with `out` untouched, when it fails (an I/O failure becomes one
    readable AnalyzeError). `shareable_only` (--redact) keeps only `SHAREABLE` files."""
    tmp = build_folder(out)  # 0700, next to out
    try:
        (tmp / MARKER).write_text("written by hotshard analyze; safe to delete\n")
        yield tmp
        if shareable_only:
            _keep_only_shareable(tmp)
        restrict(tmp)  # files 0600 before anyone can see them
        _swap(tmp, out)
    except WRITE_ERRORS as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _write_failed(out, exc) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def check(out: Path) -> None:
    """Refuse to replace anything but an empty folder or an earlier hotshard output."""
    if not out.exists():
        return
    if not out.is_dir():
        raise BadInput(f"--out {out}: exists and is not a folder")
    if (out / MARKER).exists() or not any(out.iterdir()):
        return
    raise BadInput(
        f"--out {out}: the folder exists and was not written by hotshard analyze — "
        "choose another --out (hotshard replaces its output folder as a whole)"
    )


def check_apart(out: Path, inputs: Iterable[str | Path]) -> None:
    """Refuse an --out that holds an input or lies inside one: replacing the output folder as
    a whole would delete the input, or write into a capture."""
    real_out = out.resolve()
    for text in inputs:
        real = Path(text).resolve()
        if real == real_out or real_out in real.parents:
            raise BadInput(
                f"--out {out} holds the input {text}: writing the output replaces that folder "
                "as a whole and would delete it — choose another --out"
            )
        if real in real_out.parents:
            raise BadInput(
                f"--out {out} is inside the input {text}: the output would be written into "
                "the capture — choose an --out outside it"
            )


def _keep_only_shareable(folder: Path) -> None:
    """A redacted output keeps the report, summary and charts; the commands table (Parquet),
    the key and signature tables and the sampled key sizes name every key: they go."""
    for entry in sorted(folder.iterdir()):
        if entry.name in SHAREABLE:
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _write_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError, sqlite3.Error, pl.exceptions.ComputeError]
    try:
        import adbc_driver_manager

        errors.append(adbc_driver_manager.Error)
    except ImportError:  # pragma: no cover - adbc is part of the analyze extra
        pass
    return tuple(errors)


# What a full disk, a file-size limit or an unwritable folder raise from Polars, SQLite and ADBC.
WRITE_ERRORS = _write_errors()


def _write_failed(out: Path, exc: BaseException) -> AnalyzeError:
    """One readable line for an I/O failure on the way (a full disk, most often). The previous
    output, if any, is untouched: nothing was swapped in."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    message = f"stopped, {out} left as it was: {detail}"
    try:
        free = shutil.disk_usage(out.parent if out.parent.exists() else Path.cwd()).free
    except OSError:
        free = None
    if free is not None and free < 1 << 30:
        message += (
            f" — only {humanize.size(free)} free on that disk: free space or choose another --out"
        )
    else:
        message += (
            " — check the inputs are readable and --out is writable (--traceback for details)"
        )
    return AnalyzeError(message)


@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    """One analysis at a time into one --out: two would both report success while one's files
    replace the other's. A lock file beside the folder, held with `flock` (released by the
    kernel if this process dies), removed at the end. Folders made for it that end up empty
    (the analysis was refused) are removed too: a refused run leaves nothing behind."""
    lock = out.parent / f".{out.name}.lock"
    made = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise BadInput(
            f"--out {out}: cannot create the output folder ({exc.filename or out.parent}: "
            f"{exc.strerror or exc}) — choose an --out in a folder you can write to"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BadInput(
                f"--out {out}: another hotshard analyze is writing this folder now — wait for "
                "it to finish, or choose another --out"
            ) from None
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.unlink(lock)
    finally:
        os.close(fd)
        for folder in made:  # deepest first; stops at the first one holding something
            try:
                folder.rmdir()
            except OSError:
                break


def _swap(tmp: Path, out: Path) -> None:
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.rename(out, old / "out")
        os.rename(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, out)
