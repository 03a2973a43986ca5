"""The one exception hierarchy.

Every error a user can cause is a :class:`LabgateError` with a stable ``code``, an HTTP
``status`` and a message that says what went wrong and what to do. The API turns them
into ``{"error": {"code", "message", "details"}}``; the CLI prints the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class FieldProblem:
    """One invalid input field: where (``body.password``) and why."""

    field: str
    message: str

    @classmethod
    def of(cls, error: Mapping[str, Any]) -> FieldProblem:
        """One of pydantic's validation errors, in words for a person."""
        field = ".".join(str(part) for part in error.get("loc", ()))
        kind = error.get("type", "")
        if field == "body" and kind in ("model_attributes_type", "dict_type"):
            message = "The request body must be a JSON object sent as application/json."
        elif kind == "extra_forbidden":
            message = "Unknown field."
        elif kind == "missing":
            message = "This field is required."
        else:
            message = str(error.get("msg", "Invalid value.")).removeprefix("Value error, ")
        return cls(field, message)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class LabgateError(Exception):
    """Base of every expected error."""

    code = "error"
    status = 400
    # More members of the error object and response headers, for errors that tell the
    # caller how to continue (a resumable upload's offset: ``{"offset": 5}``).
    extra: Mapping[str, object] = MappingProxyType({})
    headers: Mapping[str, str] = MappingProxyType({})

    def __init__(self, message: str, *, details: list[FieldProblem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class ConfigurationError(LabgateError):
    code = "configuration_error"
    status = 500


class BadRequest(LabgateError):
    code = "bad_request"
    status = 400


class NotAuthenticated(LabgateError):
    code = "not_authenticated"
    status = 401


class InvalidCredentials(LabgateError):
    code = "invalid_credentials"
    status = 401


class AccountDisabled(LabgateError):
    code = "account_disabled"
    status = 403


class Forbidden(LabgateError):
    code = "forbidden"
    status = 403


class PasswordChangeRequired(Forbidden):
    code = "password_change_required"


class ViewOnly(Forbidden):
    """The caller may look at a shared session, not act in it (a GUEST)."""

    code = "view_only"


class CsrfFailed(LabgateError):
    code = "csrf_failed"
    status = 403


class NotFound(LabgateError):
    code = "not_found"
    status = 404


class Conflict(LabgateError):
    code = "conflict"
    status = 409


class LimitReached(LabgateError):
    """A per-user cap (a setting) is reached: something must end before more can start.
    ``code`` names the cap (``too_many_transfers``, ...)."""

    status = 409

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class QuotaExceeded(Conflict):
    """A launch would go beyond a quota (of the user's role, a group of theirs, the
    experiment). The message says which limit, what is in use and when it frees up;
    ``quota`` has the same as fields, answered as the error object's ``quota``."""

    code = "quota_exceeded"

    def __init__(self, message: str, quota: Mapping[str, object]) -> None:
        super().__init__(message)
        self.extra = {"quota": dict(quota)}


class Gone(LabgateError):
    """What was asked for existed and is over (an expired invitation, an ended session);
    ``code`` says which."""

    status = 410

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class PayloadTooLarge(LabgateError):
    code = "payload_too_large"
    status = 413


class ValidationFailed(LabgateError):
    code = "validation_error"
    status = 422


class RateLimited(LabgateError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
