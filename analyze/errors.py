"""The analyze half's errors; the CLI maps them to a message and an exit status."""

from __future__ import annotations

from hotshard.capture.errors import ExitStatus, HotshardError


class AnalyzeError(HotshardError):
    """Root of the analyze half's errors."""


class BadInput(AnalyzeError):
    """An input path is missing, unreadable, or not a MONITOR log / capture folder."""

    exit_status = ExitStatus.USAGE


class BadRules(AnalyzeError):
    """A pattern-rules or check-rules file is invalid."""

    exit_status = ExitStatus.USAGE


class QueryError(AnalyzeError):
    """SQL given to `hotshard query` failed."""

    exit_status = ExitStatus.USAGE


class NoDatabase(AnalyzeError):
    """`hotshard query` found no hotshard.db."""

    exit_status = ExitStatus.USAGE
