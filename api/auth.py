"""Bearer tokens: editors may write, analysts (and editors) run jobs; reads are open unless
the settings close them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from api import error_codes as codes
from api.dependencies import ServicesDep
from api.errors import ApiError
from domain.roles import JOB_ROLES, WRITE_ROLES
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
    if owner.role not in WRITE_ROLES:
        raise ApiError.of(codes.FORBIDDEN, f"a {owner.role}'s token may not write")
    return owner


async def require_job_runner(request: Request, services: ServicesDep) -> TokenOwner:
    """The analyst (or editor) asking about jobs; 401 without a valid token, 403 for
    another role's."""
    token = _presented(request)
    if token is None:
        raise _unauthorized("jobs need an analyst token: Authorization: Bearer <token>")
    owner = await run_in_threadpool(services.tokens.owner, token)
    if owner is None:
        raise _unauthorized("the token is unknown or revoked")
    if owner.role not in JOB_ROLES:
        roles = " or ".join(JOB_ROLES)
        raise ApiError.of(codes.FORBIDDEN, f"jobs need an {roles} token, not a {owner.role}'s")
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
JobRunner = Annotated[TokenOwner, Depends(require_job_runner)]
