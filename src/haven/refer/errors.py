"""Errors of the referral step; all are `HavenError`s with a message the analyst can act on."""

from __future__ import annotations

from haven.errors import HavenError


class ReferError(HavenError):
    """Base of the referral step's errors."""


class KeyFileError(ReferError):
    """A signing key, age recipient or age identity file cannot be read."""


class PackageIntegrityError(ReferError):
    """A package failed verification: a hash, the manifest or the signature does not match."""

    def __init__(self, package: str, problems: list[str]) -> None:
        self.package = package
        self.problems = problems
        listed = "\n  ".join(problems)
        super().__init__(f"{package} failed verification ({len(problems)} problem(s)):\n  {listed}")
