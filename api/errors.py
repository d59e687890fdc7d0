"""The one place that turns exceptions into HTTP errors of the contract's shape.

Every error body is ``{"error": {"code", "message", "details": [...]}}``. Routes raise domain
errors or `ApiError.of(CODE, ...)` with a code of the one table (`api/error_codes.py`); they never
build error responses themselves.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import psycopg
import psycopg_pool
from eventsourcing.persistence import OperationalError as StoreUnavailable
from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api import error_codes as codes
from api.error_codes import ErrorCode
from api.schemas import ErrorResponse
from domain.errors import (
    ConcurrentChange,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    InvalidChangeSet,
    UnitNotFound,
)

LOGGER = logging.getLogger(__name__)


class ErrorJSONResponse(JSONResponse):
    """An error body that always renders: a message may quote what the client sent, and a
    lone surrogate in it (from ``"\\ud800"`` in a JSON body) cannot be encoded as UTF-8."""

    def render(self, content: Any) -> bytes:
        """JSON as Starlette writes it, lone surrogates written as their escapes."""
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")


class ApiError(Exception):
    """A client mistake the routes detect themselves (beyond request validation).

    `extra` adds fields beside ``error`` in the body (an import's report).
    """

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers
        self.extra = extra or {}

    @classmethod
    def of(
        cls,
        error: ErrorCode,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> ApiError:
        """The error of a code of the table, with the table's status."""
        return cls(error.status, error.code, message, details, headers, extra)


def error_body(
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The contract's error shape."""
    return {**(extra or {}), "error": {"code": code, "message": message, "details": details or []}}


def error_response(
    error: ErrorCode,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    status_code: int | None = None,
) -> JSONResponse:
    """The contract's error response for a code of the table (middleware answers with it too)."""
    return ErrorJSONResponse(
        error_body(error.code, message, details),
        status_code=status_code or error.status,
        headers=headers,
    )


def _validation_details(
    exc: RequestValidationError | ValidationError, prefix: str = ""
) -> list[dict[str, Any]]:
    details = []
    for error in exc.errors():
        location = ".".join(str(part) for part in (prefix, *error.get("loc", ())) if part != "")
        details.append({"location": location, "message": error.get("msg", "invalid")})
    return details


def item_error(exc: ValidationError, prefix: str) -> dict[str, Any]:
    """The contract's error (code, message, details) of one item of a batch, answered in its
    place instead of failing the whole request."""
    details = _validation_details(exc, prefix)
    where = ", ".join(d["location"] for d in details[:5])
    return {"code": _error_code(exc).code, "message": f"invalid point: {where}", "details": details}


def _error_code(exc: RequestValidationError | ValidationError) -> ErrorCode:
    """One kind of mistake with a code of its own (a date, a number): that code."""
    kinds = {str(error.get("type")) for error in exc.errors()}
    return (
        codes.PARAMETER_CODES.get(kinds.pop(), codes.INVALID_REQUEST)
        if len(kinds) == 1
        else codes.INVALID_REQUEST
    )


#: The error responses most routes share, for the OpenAPI document.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed request body", "model": ErrorResponse},
    404: {"description": "Not found", "model": ErrorResponse},
    422: {
        "description": "Invalid parameters or body, every problem listed",
        "model": ErrorResponse,
    },
    503: {
        "description": "Database unavailable; retry after Retry-After seconds",
        "model": ErrorResponse,
    },
}


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping from exceptions to responses."""

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        where = ", ".join(d["location"] for d in details)
        error = _error_code(exc)
        if len(details) == 1:
            message = f"invalid request parameter {where}: {details[0]['message']}"
        else:
            message = f"invalid request parameters: {where}" if where else "invalid request"
        return error_response(error, message, details)

    @app.exception_handler(ValidationError)
    async def _invalid_body(_: Request, exc: ValidationError) -> JSONResponse:
        details = _validation_details(exc, "body")
        where = ", ".join(d["location"] for d in details[:5])
        return error_response(_error_code(exc), f"invalid request body: {where}", details)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return ErrorJSONResponse(
            error_body(exc.code, exc.message, exc.details, exc.extra),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(InvalidChangeSet)
    async def _invalid_change_set(_: Request, exc: InvalidChangeSet) -> JSONResponse:
        return error_response(
            codes.INVALID_CHANGE_SET, str(exc), [p.as_dict() for p in exc.problems]
        )

    @app.exception_handler(UnitNotFound)
    async def _not_found(_: Request, exc: UnitNotFound) -> JSONResponse:
        return error_response(codes.UNIT_NOT_FOUND, str(exc))

    @app.exception_handler(ConcurrentChange)
    async def _conflict(_: Request, exc: ConcurrentChange) -> JSONResponse:
        details = [item.as_dict() for item in exc.interferences]
        return error_response(codes.CONCURRENT_CHANGE, str(exc), details)

    @app.exception_handler(IdempotencyKeyInvalid)
    async def _key_invalid(_: Request, exc: IdempotencyKeyInvalid) -> JSONResponse:
        message = f"Idempotency-Key: {exc.reason}"
        return error_response(
            codes.INVALID_REQUEST,
            message,
            [{"location": "header.idempotency-key", "message": exc.reason}],
        )

    @app.exception_handler(IdempotencyKeyReused)
    async def _key_reused(_: Request, exc: IdempotencyKeyReused) -> JSONResponse:
        return error_response(
            codes.IDEMPOTENCY_KEY_REUSED,
            f"Idempotency-Key: {exc}",
            [
                {
                    "location": "header.idempotency-key",
                    "message": "already used for a different request",
                    "change_set": str(exc.change_set),
                }
            ],
        )

    async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
        LOGGER.warning("database unavailable: %s", exc)
        return error_response(
            codes.DATABASE_UNAVAILABLE,
            "the database is unavailable; retry shortly",
            headers={"Retry-After": "2"},
        )

    for unavailable in (psycopg.OperationalError, psycopg_pool.PoolTimeout, StoreUnavailable):
        app.add_exception_handler(unavailable, _unavailable)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = {404: codes.NOT_FOUND, 405: codes.METHOD_NOT_ALLOWED}.get(
            exc.status_code, codes.HTTP_ERROR
        )
        headers = getattr(exc, "headers", None)
        if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
            # Several routes may share a path (GET and POST /v1/changesets): allow them all.
            headers = {"Allow": ", ".join(_allowed_methods(request))}
        return error_response(error, str(exc.detail), headers=headers, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        # Every 5xx is a bug; it still answers in the contract's shape, and is logged in full.
        LOGGER.error("unhandled error", exc_info=exc)
        return error_response(codes.INTERNAL_ERROR, "internal error; it was logged")


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.routes:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            match, _ = route.matches({**request.scope, "method": method})
            if match == Match.FULL:
                methods.add(method)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)
