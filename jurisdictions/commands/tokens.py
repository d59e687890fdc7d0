"""API tokens: made, revoked and listed by the CLI (`jurisdictions tokens`)."""

from __future__ import annotations

from jurisdictions.bootstrap import Services


def create_token(services: Services, role: str, actor: str) -> tuple[str, str]:
    """A new token for `actor` with `role`: its id and the secret (shown once, stored hashed).

    Raises `ValueError` for a role that does not exist.
    """
    return services.tokens.create(role, actor)


def revoke_token(services: Services, token_id: str) -> bool:
    """Revoke a live token; False when there is no live token with this id."""
    return services.tokens.revoke(token_id)


def list_tokens(services: Services) -> list[dict[str, object]]:
    """Every token, live or revoked, never with its secret."""
    return list(services.tokens.list())
