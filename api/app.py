"""The FastAPI application: wiring only; the work is in the routes and the layers below."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.auth import require_reader
from api.errors import install_error_handlers
from api.routes import changesets, health, imports, lookup, ogc, tiles, units
from jurisdictions.bootstrap import build_services
from jurisdictions.settings import Settings, get_settings

LOGGER = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; long-lived objects are made in its lifespan, not at import."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings)
        app.state.services = services
        stop = threading.Event()
        follower: threading.Thread | None = None
        if settings.run_projection:
            follower = threading.Thread(
                target=services.worker.follow, args=(stop,), name="projection", daemon=True
            )
            follower.start()
        try:
            yield
        finally:
            stop.set()
            if follower is not None:
                follower.join(timeout=10)
            services.close()

    app = FastAPI(
        title="Jurisdiction Ledger",
        version="0.1.0",
        summary="Administrative boundaries and grids through time: lookups, layers and history.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=[o.strip() for o in settings.cors_origins.split(",") if o.strip()],
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )
    app.include_router(health.router)
    reads = [Depends(require_reader)]
    for module in (lookup, units, changesets, imports, ogc, tiles):
        app.include_router(module.router, dependencies=reads)
    return app
