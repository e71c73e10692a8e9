"""The analyze half's errors; the CLI maps them to a message and an exit status."""

from __future__ import annotations

from hotshard.capture.errors import ExitStatus, HotshardError


class AnalyzeError(HotshardError):
    """Root of the analyze half's errors."""


class AnalyzeUsageError(AnalyzeError):
    """What the user gave cannot be analyzed: fix the command line or the files it names."""

    exit_status = ExitStatus.USAGE


class BadInput(AnalyzeUsageError):
    """An input path is missing, unreadable, or not a MONITOR log / capture folder."""


class BadRules(AnalyzeUsageError):
    """A pattern-rules or check-rules file is invalid."""


class QueryError(AnalyzeUsageError):
    """SQL given to `hotshard query` failed."""


class NoDatabase(AnalyzeUsageError):
    """`hotshard query` found no hotshard.db."""
