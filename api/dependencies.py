"""Access to the long-lived services built in the app's lifespan."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from jurisdictions.bootstrap import Services
from projections.features import AnswerCache


async def get_services(request: Request) -> Services:
    """The services the lifespan stored on the app (async: no thread hop per request)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def answer_cache(services: Services, name: str, mib: int) -> AnswerCache[Any]:
    """This process's answer cache called `name` (made on first use, `mib` MiB at most)."""
    cache: AnswerCache[Any] | None = services.extras.get(name)
    if cache is None:
        cache = services.extras.setdefault(name, AnswerCache[Any](mib * 1024 * 1024))
    return cache
