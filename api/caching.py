"""HTTP caching of reads: ETags keyed on the read-model position, 304 on `If-None-Match`.

One definition for every cacheable answer: JSON reads (this middleware) and vector tiles
(api/routes/tiles.py) both tag with :func:`etag` over the position the answer was read at, so
an ETag changes exactly when the read model does (and, for the JSON reads, when the
register's "today" does: a request without a date means today).
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from projections.features import cacheable_position

#: JSON answers are revalidated on every use (the read model may move at any moment); a
#: revalidation answered 304 costs no body.
JSON_CACHE_CONTROL = "no-cache"
#: Answers that describe the process, not the read model: never tagged.
UNTAGGED = ("/healthz", "/readyz", "/metrics")
#: Answers that change without the read model moving, and need a token: jobs (their status
#: and results belong to one actor and move as the job runs).
UNTAGGED_PREFIXES = ("/v1/jobs",)
#: Answers tagged by their own route (vector tiles, api/routes/tiles.py): not looked at here,
#: so an uncached tile pays for one tag, not two.
OWN_TAGS = "/tiles/"
_JSON_TYPES = (b"application/json", b"application/geo+json", b"application/schema+json")


def etag(position: int, *parts: object) -> str:
    """A strong ETag for an answer read at `position` for the request named by `parts`."""
    key = "/".join(str(p) for p in (position, *parts))
    return '"' + hashlib.sha1(key.encode()).hexdigest()[:20] + '"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """Whether an `If-None-Match` header names `tag` (weak comparison, `*` matches all)."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == tag:
            return True
    return False


def read_position(services: Any) -> int | None:
    """The position this request's answer may be tagged with (None: not knowable now)."""
    return cacheable_position(services.watch, services.reads.needed_position)


class ReadCaching:
    """Tag every 200 JSON answer of a GET with an ETag and `Cache-Control`, and answer 304
    when the client's `If-None-Match` already names it.

    With open reads a matching request is answered 304 before any work; with closed reads
    (JL_READS_REQUIRE_TOKEN) the route runs first, so a 304 is only given to a client that
    would have been answered. Answers that already carry an ETag or `Cache-Control` (tiles,
    maps) keep theirs.
    """

    def __init__(self, app: ASGIApp, closed_reads: bool) -> None:
        self.app = app
        self.closed_reads = closed_reads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Tag, short-circuit or pass on one request."""
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or scope["path"] in UNTAGGED
            or scope["path"].startswith(UNTAGGED_PREFIXES)
            or scope["path"].startswith(OWN_TAGS)
        ):
            await self.app(scope, receive, send)
            return
        services: Any = getattr(scope["app"].state, "services", None)
        position = read_position(services) if services is not None else None
        if services is None or position is None:
            await self.app(scope, receive, send)
            return
        today = services.settings.today()
        query = scope.get("query_string", b"").decode("latin-1")
        request = Headers(scope=scope)
        # Where the request was asked too, as the links of OGC documents are built from it
        # (`request.base_url`): the scheme (https behind a proxy that says so in
        # X-Forwarded-Proto, which uvicorn's proxy headers turn into the scope's scheme for
        # trusted proxies), the host and the prefix the app is mounted at.
        where = (scope.get("scheme", ""), request.get("host", ""), scope.get("root_path", ""))
        tag = etag(position, today, *where, scope["path"], query)
        wanted = matches(request.get("if-none-match"), tag)
        headers = {"ETag": tag, "Cache-Control": JSON_CACHE_CONTROL, "Vary": "Accept-Encoding"}
        if wanted and not self.closed_reads:
            await _not_modified(send, headers)
            return
        state = {"tagged": False, "skip_body": False}

        async def tagging(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = MutableHeaders(raw=message["headers"])
                kind = raw.get("content-type", "").encode("latin-1")
                if (
                    message["status"] == 200
                    and kind.startswith(_JSON_TYPES)
                    and "etag" not in raw
                    and "cache-control" not in raw
                ):
                    if wanted:
                        state["skip_body"] = True
                        await _not_modified(send, headers)
                        return
                    for name, value in headers.items():
                        raw[name] = value
            elif state["skip_body"]:
                return
            await send(message)

        await self.app(scope, receive, tagging)


async def _not_modified(send: Send, headers: dict[str, str]) -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": 304, "headers": raw})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
