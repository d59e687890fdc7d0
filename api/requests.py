"""Reading request bodies ourselves, so every mistake gets the contract's error shape."""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi import Request

from api import error_codes as codes
from api.errors import ApiError


async def read_json(request: Request) -> Any:
    """The JSON body; 415 for another content type, 413 when too large, 400 when malformed."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() not in ("application/json", ""):
        raise ApiError.of(
            codes.UNSUPPORTED_MEDIA_TYPE,
            f"send application/json, not {content_type!r}",
        )
    limit: int = request.app.state.services.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise _too_large(limit)
    if not body:
        raise ApiError.of(codes.BODY_MISSING, "the request has no body")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # not strict JSON (NaN, huge integers) or malformed: the standard parser decides
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = (
            f" at line {exc.lineno} column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        raise ApiError.of(
            codes.MALFORMED_JSON,
            f"the body is not valid JSON{where}",
            [{"location": "body", "message": str(exc)}],
        ) from exc


def _too_large(limit: int) -> ApiError:
    return ApiError.of(
        codes.BODY_TOO_LARGE,
        f"the body is larger than {limit} bytes",
    )
