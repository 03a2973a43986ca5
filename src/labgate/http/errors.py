"""Turning every error into ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from labgate.errors import FieldProblem, LabgateError, RateLimited

log = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


def error_body(
    code: str,
    message: str,
    details: list[FieldProblem] | None = None,
    extra: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {**(extra or {}), "code": code, "message": message}
    if details:
        error["details"] = [{"field": d.field, "message": d.message} for d in details]
    return {"error": error}


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[FieldProblem] | None = None,
    extra: Mapping[str, object] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details, extra), status_code=status)


async def _labgate_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LabgateError)
    response = error_response(exc.status, exc.code, exc.message, exc.details, exc.extra)
    response.headers.update(exc.headers)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "invalid_json", "The request body is not valid JSON.")
    details = [FieldProblem.of(e) for e in errors]
    summary = "; ".join(str(d) for d in details[:3])
    return error_response(422, "validation_error", f"Invalid request: {summary}", details)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else "Request failed."
    if exc.status_code == 404 and message == "Not Found":
        message = "No such API endpoint."
    if exc.status_code == 405:
        message = "This method is not allowed here."
    return error_response(exc.status_code, code, message)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        500, "internal_error", "Something went wrong on the server. It has been logged."
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LabgateError, _labgate_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
