"""One error base class; the HTTP layer turns each into an RFC 9457 problem document."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class LendGuardError(Exception):
    status_code: int = 500
    title: str = "Internal error"

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class ValidationFailed(LendGuardError):
    status_code = 422
    title = "Validation failed"


class NotFound(LendGuardError):
    status_code = 404
    title = "Not found"


class Conflict(LendGuardError):
    status_code = 409
    title = "Conflict"


class IdempotencyMismatch(LendGuardError):
    """The same ``event_id`` arrived again with a different body."""

    status_code = 422
    title = "Event id reused with a different body"


class RuleSetInvalid(LendGuardError):
    status_code = 422
    title = "Rule set invalid"


class Unauthorized(LendGuardError):
    status_code = 401
    title = "Unauthorized"


class Forbidden(LendGuardError):
    status_code = 403
    title = "Forbidden"


class ServiceUnavailable(LendGuardError):
    """A dependency (the database, NATS) is unreachable, timing out or locked, or the service
    is rebuilding its state: nothing was applied, and the same request may be sent again after
    ``retry_after`` seconds (idempotent by ``event_id`` for events)."""

    status_code = 503
    title = "Service unavailable"

    def __init__(
        self, detail: str, *, errors: list[FieldError] | None = None, retry_after: int = 1
    ) -> None:
        super().__init__(detail, errors=errors)
        self.retry_after = retry_after


class RateLimited(LendGuardError):
    """Too many requests from one client IP, for one username or on one API key: nothing was
    done, and the same request may be sent again after ``retry_after`` seconds (the
    ``Retry-After`` header)."""

    status_code = 429
    title = "Too many requests"

    def __init__(
        self, detail: str, *, errors: list[FieldError] | None = None, retry_after: int = 1
    ) -> None:
        super().__init__(detail, errors=errors)
        self.retry_after = retry_after
