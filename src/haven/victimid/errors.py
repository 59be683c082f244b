"""Errors of the victim-identification workspace."""

from haven.errors import HavenError


class VictimIdError(HavenError):
    """A victim-identification step cannot run; the message says what to do."""


class ModelMissingError(VictimIdError):
    """A model file (faces) or program (OCR) is not installed."""
