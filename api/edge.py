"""What every request passes before any route: one ASGI middleware, so no route can forget it.

- Headers beyond the configured count or size: 431 (the HTTP server refuses larger ones before
  they are read whole; see jurisdictions/http.py).
- Path and query parameters: their percent-escapes must decode as UTF-8 and they may hold no
  control character. PostgreSQL cannot compare a text holding NUL, so a NUL in a code once
  reached a 500; here it is a 422 ``text_invalid`` naming the parameter, for every route.
- ``HEAD`` is answered as ``GET`` without the body, for every ``GET`` route.
- A client that goes away before sending its whole body is logged in one line (Starlette
  raises `ClientDisconnect` in the route; that is the client's doing, not a bug to trace).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi.routing import iter_route_contexts
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import error_codes as codes
from api.errors import error_response

LOGGER = logging.getLogger(__name__)

#: Set in the ASGI scope's state by the HTTP server when it gave up on a slow client's body.
READ_TIMED_OUT = "jl_read_timed_out"

_PATH_PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")
_UNSAFE_BYTES = re.compile(rb"[^\x20-\x7e]")


def text_problem(raw: bytes, plus_is_space: bool = False) -> str | None:
    """What is wrong with a percent-encoded path segment or query value, or None."""
    if b"%" not in raw and not _UNSAFE_BYTES.search(raw):
        return None  # plain visible ASCII, as HTTP servers pass most targets
    if plus_is_space:
        raw = raw.replace(b"+", b" ")
    try:
        text = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"its percent-escapes are not UTF-8 (byte {exc.start})"
    for index, char in enumerate(text):
        if unicodedata.category(char) == "Cc":
            return f"character {index} is a control character (U+{ord(char):04X})"
    return None


class Edge:
    """The middleware; `max_header_bytes` counts names, values and their separators."""

    def __init__(self, app: ASGIApp, max_header_bytes: int, max_header_count: int) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.max_header_count = max_header_count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse, adapt (HEAD) or pass on one request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if scope["method"] == "HEAD":
            scope = {**scope, "method": "GET"}
            send = _without_body(send)
        watch = _BodyWatch(scope, receive)
        try:
            await self.app(scope, watch.receive, send)
        except ClientDisconnect:
            watch.log_once()  # the route was reading the body; nobody is left to answer

    def _refusal(self, scope: Scope) -> Any:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        size = sum(len(name) + len(value) + 4 for name, value in headers)
        if len(headers) > self.max_header_count or size > self.max_header_bytes:
            message = (
                f"the request has {len(headers)} headers of {size} bytes; at most "
                f"{self.max_header_count} headers of {self.max_header_bytes} bytes are accepted"
            )
            return error_response(codes.HEADERS_TOO_LARGE, message, headers={"Connection": "close"})
        problem = _path_problem(scope) or _query_problem(scope["query_string"])
        if problem is None:
            return None
        location, what = problem
        return error_response(
            codes.TEXT_INVALID,
            f"{location}: {what}",
            [{"location": location, "message": what}],
        )


def _path_problem(scope: Scope) -> tuple[str, str] | None:
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    segments = raw.split(b"/")
    for index, segment in enumerate(segments):
        problem = text_problem(segment)
        if problem is not None:
            return f"path.{_parameter_name(scope, index, len(segments))}", problem
    return None


def _parameter_name(scope: Scope, index: int, count: int) -> str:
    """The name of the path parameter in segment `index` of the route the path matches."""
    app = scope.get("app")
    for route in iter_route_contexts(getattr(app, "routes", [])):
        regex = getattr(route, "path_regex", None)
        template = route.path_format
        if regex is None or template is None or not regex.match(scope["path"]):
            continue
        parts = template.split("/")
        if len(parts) == count and (name := _PATH_PARAMETER.search(parts[index])):
            return name.group(1)
    return f"segment[{index}]"


def _query_problem(query: bytes) -> tuple[str, str] | None:
    for pair in query.split(b"&"):
        name, _, value = pair.partition(b"=")
        problem = text_problem(name, plus_is_space=True)
        if problem is not None:
            return "query", f"a parameter name: {problem}"
        problem = text_problem(value, plus_is_space=True)
        if problem is not None:
            label = unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8")
            return f"query.{label}", problem
    return None


def _without_body(send: Send) -> Send:
    """`send` for a HEAD request: the GET answer's status and headers, no body."""

    async def head(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return head


class _BodyWatch:
    """Counts the body as it arrives and logs, once, a client that left before its end."""

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self._receive = receive
        self.received = 0
        self.complete = False
        self.logged = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.complete = not message.get("more_body", False)
        elif message["type"] == "http.disconnect" and not self.complete:
            self.log_once()
        return message

    def log_once(self) -> None:
        if self.logged:
            return
        self.logged = True
        client = self.scope.get("client") or ("?", 0)
        timed_out = (self.scope.get("state") or {}).get(READ_TIMED_OUT)
        why = f"sent nothing for {timed_out} s (answered 408)" if timed_out else "disconnected"
        LOGGER.warning(
            "client %s:%s %s before the end of its body: %s %s after %d bytes",
            client[0],
            client[1],
            why,
            self.scope["method"],
            self.scope["path"],
            self.received,
        )
