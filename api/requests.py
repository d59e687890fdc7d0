"""Reading request bodies ourselves, so every mistake gets the contract's error shape."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import orjson
from fastapi import Request

from api import error_codes as codes
from api.errors import ApiError

#: The deepest JSON any body may nest (arrays and objects). A change set needs about ten (a
#: MultiPolygon inside a part of an operation of the body), a batch three. Deeper bodies are
#: refused before any parser sees them: Python's `json` recurses (RecursionError), and code
#: reading the values (a repr in an error message) would too.
MAX_JSON_DEPTH = 64
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
#: Every byte but the structure: brackets, quotes and backslashes.
_NOT_STRUCTURE = bytes(range(256)).translate(None, b'[]{}"\\')


def media_type(request: Request) -> str:
    """The body's media type, lower case, without parameters ('' when not given)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_bytes(request: Request) -> bytearray:
    """The raw body; 413 beyond the configured limit, 400 when there is none."""
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
    return body


async def read_json(request: Request) -> Any:
    """The JSON body; 415 for another content type, 413 when too large, 400 when malformed."""
    content_type = request.headers.get("content-type", "")
    if media_type(request) not in ("application/json", ""):
        raise ApiError.of(
            codes.UNSUPPORTED_MEDIA_TYPE,
            f"send application/json, not {content_type!r}",
        )
    body = await read_bytes(request)
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and json_depth(body) > MAX_JSON_DEPTH:
        message = f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep"
        raise ApiError.of(codes.BODY_TOO_DEEP, message, [{"location": "body", "message": message}])
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


def json_depth(body: bytes | bytearray) -> int:
    """How deeply the arrays and objects of a JSON text nest, without parsing it (brackets
    inside strings do not count): linear, vectorised, and not recursive, for any depth."""
    structure = bytes(body).translate(None, _NOT_STRUCTURE)
    if b"\\" in structure or b'"' in structure.replace(b'""', b""):
        # Some string holds a bracket or an escape: drop the strings from the text itself
        # (slower, and rare; the structure alone would misread an escape such as \u001f).
        structure = _STRING.sub(b"", bytes(body)).translate(None, _NOT_STRUCTURE)
    brackets = np.frombuffer(structure.translate(None, b'"'), dtype=np.uint8)
    if not brackets.size:
        return 0
    steps = np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def _too_large(limit: int) -> ApiError:
    return ApiError.of(
        codes.BODY_TOO_LARGE,
        f"the body is larger than {limit} bytes",
    )
