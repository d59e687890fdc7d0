"""Access to the long-lived services built in the app's lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from jurisdictions.bootstrap import Services


async def get_services(request: Request) -> Services:
    """The services the lifespan stored on the app (async: no thread hop per request)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
