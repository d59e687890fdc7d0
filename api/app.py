"""The FastAPI application: wiring only; the work is in the routes and the layers below."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import error_codes as codes
from api.auth import require_reader
from api.caching import ReadCaching
from api.columnar import PARQUET
from api.edge import Edge
from api.errors import error_response, install_error_handlers
from api.operations import ChangeSetBody
from api.routes import (
    changesets,
    docs,
    health,
    imports,
    jobs,
    lookup,
    maps,
    matters,
    offices,
    ogc,
    tiles,
    units,
)
from api.schemas import BatchRequest
from jurisdictions.bootstrap import running
from jurisdictions.jobs import JobRunner
from jurisdictions.settings import Settings, get_settings
from projections.features import SERVICE_AREAS
from projections.lookup_index import Snapshot
from projections.routing import ReadContext, read_context

LOGGER = logging.getLogger(__name__)

#: Answers shorter than this are sent as they are; longer ones gzipped when the client accepts.
GZIP_MIN_BYTES = 1024
#: Sent as they are even to clients that accept gzip: Starlette's list (images, zip, fonts, ...)
#: and Parquet, compressed inside already (job results: zstd; batch answers: snappy), which
#: gzip would only cost the server's cores for and rob of its Content-Length. Arrow IPC
#: streams are written uncompressed, so they stay gzipped: about a quarter of the bytes
#: (docs/http.md, "Caching and compression").
NOT_GZIPPED = (*DEFAULT_EXCLUDED_CONTENT_TYPES, PARQUET, "application/x-parquet")
#: A read-model position as clients send it back (a 202's `position`).
MIN_POSITION = re.compile(r"[0-9]{1,18}")


class ReadRouting:
    """`X-Min-Position` (the position a write answered with): reads must see it, so a replica
    answers only once it has replayed that far; `X-Read-From` says who answered.

    A plain ASGI middleware: Starlette's `BaseHTTPMiddleware` ran every request in extra tasks
    and memory streams, a cost each uncached tile paid.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route one request's reads, and say where they went."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("x-min-position", "").strip()
        if header and not MIN_POSITION.fullmatch(header):
            message = "X-Min-Position must be a position: a whole number of at most 18 digits"
            refusal = error_response(
                codes.INVALID_REQUEST,
                message,
                [{"location": "header.x-min-position", "message": message}],
            )
            await refusal(scope, receive, send)
            return
        context = ReadContext(int(header) if header else 0)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Read-From"] = context.read_from
            await send(message)

        token = read_context.set(context)
        try:
            await self.app(scope, receive, sending)
        finally:
            read_context.reset(token)


def create_app(settings: Settings | None = None, *, preloaded: Snapshot | None = None) -> FastAPI:
    """Build the app; long-lived objects are made in its lifespan, not at import."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with running(settings, "server", preloaded=preloaded) as services:
            app.state.services = services
            # Jobs run in this process if it takes the runner's lock (one per database).
            runner = JobRunner(settings, services.jobs).start()
            try:
                yield
            finally:
                runner.stop()

    app = FastAPI(
        title="Jurisdiction Ledger",
        version="0.1.0",
        summary="Administrative boundaries and grids through time: lookups, layers and history.",
        lifespan=lifespan,
        # /docs and /redoc are served by api/routes/docs.py, with their assets vendored.
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    # Innermost first. ETags inside the read routing (they need the request's X-Min-Position);
    # compression outside them (an ETag names the content, Vary says it may come compressed).
    app.add_middleware(ReadCaching, closed_reads=settings.reads_require_token)
    app.add_middleware(
        GZipMiddleware,
        minimum_size=GZIP_MIN_BYTES,
        compresslevel=5,
        exclude_content_types=NOT_GZIPPED,
    )
    if settings.cors_origins:
        # A browser app's preflight names the headers it will send: every request header the
        # API reads must be allowed, and the answers' own headers exposed, or fetch() fails.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=[o.strip() for o in settings.cors_origins.split(",") if o.strip()],
            allow_methods=["GET", "HEAD", "POST", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "If-None-Match",
                "X-Min-Position",
            ],
            expose_headers=["ETag", "Location", "Retry-After", "X-Read-From", "X-Cache"],
            max_age=3600,
        )

    app.add_middleware(ReadRouting)

    # Outermost: header limits, parameter characters, HEAD and dropped clients, for every route.
    app.add_middleware(
        Edge,
        max_header_bytes=settings.max_header_bytes,
        max_header_count=settings.max_header_count,
    )

    app.include_router(health.router)
    app.include_router(docs.router)  # open, as /openapi.json is
    # Open reads (the default) need no per-request dependency at all; closed ones check tokens.
    reads = [Depends(require_reader)] if settings.reads_require_token else []
    for module in (lookup, units, matters, offices, changesets, imports, ogc, tiles):
        app.include_router(module.router, dependencies=reads)
    app.include_router(maps.router, dependencies=reads)
    app.include_router(jobs.router)  # its own token check: an analyst's or editor's
    _customise_openapi(app, settings)
    return app


def _customise_openapi(app: FastAPI, settings: Settings) -> None:
    """Levels are configuration: list them as enums wherever a parameter takes one. Bodies the
    routes read themselves (to answer 400/413/415 in the contract's shape) get their schemas."""
    levels = list(settings.level_scheme.names)
    collections = [*levels, SERVICE_AREAS]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            for path in schema["paths"].values():
                for operation in path.values():
                    for parameter in operation.get("parameters", []):
                        if parameter["name"] == "level":
                            _set_enum(parameter["schema"], levels)
                        elif parameter["name"] == "collection_id":
                            _set_enum(parameter["schema"], collections)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (BatchRequest, ChangeSetBody):
                body = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(body.pop("$defs", {}))
                components[model.__name__] = body
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _set_enum(schema: dict[str, Any], values: list[str]) -> None:
    """Put the enum on the string alternative of a (possibly nullable) schema."""
    for option in schema.get("anyOf", [schema]):
        if option.get("type") == "string":
            option["enum"] = values
