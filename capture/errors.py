"""Errors and exit statuses shared by both halves; only the CLI turns them into messages."""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    OK = 0
    ERROR = 1  # the job failed (or, for `check`, a rule was broken)
    USAGE = 2  # bad arguments or bad input
    PARTIAL = 3  # some nodes/shards failed, the rest was captured
    INTERRUPTED = 130


class HotshardError(Exception):
    """Root of every error hotshard reports to a user. The message says what happened and what to do."""

    exit_status: ExitStatus = ExitStatus.ERROR


class UsageError(HotshardError):
    exit_status = ExitStatus.USAGE


class CaptureError(HotshardError):
    """Root of the capture half's errors."""


class DiscoveryError(CaptureError):
    """The topology could not be found (no credentials, unknown cluster, unreachable node...)."""


class AuthError(CaptureError):
    """NOAUTH / WRONGPASS / missing ACL permission."""


class ConnectionFailed(CaptureError):
    """A node could not be reached or dropped for good."""


class TLSError(ConnectionFailed):
    """TLS required but not used, not offered, or a certificate that does not verify."""


class AwsError(DiscoveryError):
    """AWS refused or could not answer (credentials, IAM permission, unknown cluster)."""


class CaptureIncomplete(CaptureError):
    """The capture folder was written, but not every node was captured for the whole window."""

    exit_status = ExitStatus.PARTIAL


class CaptureInterrupted(CaptureError):
    """Ctrl-C / SIGTERM: the capture stopped cleanly early; the folder holds what was captured."""

    exit_status = ExitStatus.INTERRUPTED


class ManifestError(HotshardError):
    """A capture folder's manifest is missing, unreadable or of an unknown version."""

    exit_status = ExitStatus.USAGE


class DiskWriteFailed(CaptureError):
    """The capture folder's disk refused a write: full (ENOSPC), over quota (EDQUOT), failing
    (EIO), read-only. Not an OSError on purpose: a full disk is not a lost connection."""

    def __init__(self, message: str, *, errno: int | None = None, needed: int = 0):
        super().__init__(message)
        self.errno = errno
        self.needed = needed  # bytes the failed write wanted
