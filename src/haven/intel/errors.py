"""Errors of the intel pipeline; all are `HavenError`s with a message the analyst can act on."""

from __future__ import annotations

from haven.errors import HavenError


class IntelError(HavenError):
    """Base of the intel pipeline's errors."""


class RecordFileError(IntelError):
    """An input list cannot be read at all (format unknown, encoding undecidable, corrupt)."""


class MappingError(IntelError):
    """The column mapping is unreadable or names columns the file does not have."""


class OperationError(IntelError):
    """The operation directory is missing a step's output or is inconsistent."""
