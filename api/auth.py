"""Bearer tokens: editors may write; reads are open unless the settings close them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from api import error_codes as codes
from api.dependencies import ServicesDep
from api.errors import ApiError
from projections.tokens import TokenOwner


def _presented(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _unauthorized(message: str) -> ApiError:
    return ApiError.of(
        codes.UNAUTHORIZED,
        message,
        headers={"WWW-Authenticate": "Bearer"},
    )


def require_editor(request: Request, services: ServicesDep) -> TokenOwner:
    """The editor making this request; 401 without a valid token, 403 for a reader's."""
    token = _presented(request)
    if token is None:
        raise _unauthorized("send an editor token: Authorization: Bearer <token>")
    owner = services.tokens.owner(token)
    if owner is None:
        raise _unauthorized("the token is unknown or revoked")
    if owner.role != "editor":
        raise ApiError.of(codes.FORBIDDEN, "this token may only read")
    return owner


async def require_reader(request: Request, services: ServicesDep) -> TokenOwner | None:
    """When reads are closed, any live token; otherwise nothing is needed.

    Async, so open reads cost no thread hop; the token check itself runs in a thread.
    """
    if not services.settings.reads_require_token:
        return None
    token = _presented(request)
    owner = await run_in_threadpool(services.tokens.owner, token) if token else None
    if owner is None:
        raise _unauthorized("reads need a token: Authorization: Bearer <token>")
    return owner


Editor = Annotated[TokenOwner, Depends(require_editor)]
