"""Service errors: each maps to one HTTP status in `app`, with a message a user can act on."""

from __future__ import annotations

from haven.errors import HavenError


class ServiceError(HavenError):
    status = 400


class BadInput(ServiceError):
    status = 422


class NotAuthenticated(ServiceError):
    status = 401


class Forbidden(ServiceError):
    """The role may never do this (independent of which object is named)."""

    status = 403


class NotFound(ServiceError):
    """Absent, or present but outside the caller's scope: the two are indistinguishable."""

    status = 404


class Conflict(ServiceError):
    status = 409


class TooLarge(ServiceError):
    status = 413


class Throttled(ServiceError):
    """Too many failed logins for an account name or a source address: wait `retry_after`."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
