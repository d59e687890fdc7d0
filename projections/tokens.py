"""API tokens: created and revoked by the CLI, checked by the API.

Not a projection (tokens are configuration, not part of the register's history), but kept here
with the rest of the SQL. A token is 32 random bytes shown once; only its SHA-256 is stored, so
a copy of the database gives no one the power to edit. High-entropy tokens need no slow hash.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from domain.roles import ROLES

__all__ = ["ROLES", "TokenOwner", "TokenStore", "digest"]
PREFIX = "jl_"


@dataclass(frozen=True)
class TokenOwner:
    """Who a presented token belongs to."""

    id: str
    role: str
    actor: str


def digest(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """Create, revoke and check tokens."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def create(self, role: str, actor: str) -> tuple[str, str]:
        """A new token for `actor` with `role`: returns (id, token); the token is not kept."""
        if role not in ROLES:
            msg = f"role must be one of {', '.join(ROLES)}"
            raise ValueError(msg)
        if not actor.strip():
            msg = "actor must name a person or system"
            raise ValueError(msg)
        token_id = secrets.token_hex(4)
        token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO api_tokens (id, token_sha256, role, actor) VALUES (%s, %s, %s, %s)",
                (token_id, digest(token), role, actor.strip()),
            )
        return token_id, token

    def revoke(self, token_id: str) -> bool:
        """Revoke a token by id; False if there was no such live token."""
        with self.pool.connection() as conn:
            cursor = conn.execute(
                "UPDATE api_tokens SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL",
                (token_id,),
            )
            return cursor.rowcount == 1

    def owner(self, token: str) -> TokenOwner | None:
        """Who holds a live token, or None."""
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            row = cursor.execute(
                "SELECT id, role, actor FROM api_tokens "
                "WHERE token_sha256 = %s AND revoked_at IS NULL",
                (digest(token),),
                prepare=True,
            ).fetchone()
        return TokenOwner(**row) if row else None

    def list(self) -> list[dict[str, object]]:
        """Every token (never the token itself)."""
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            return cursor.execute(
                "SELECT id, role, actor, created_at, revoked_at FROM api_tokens ORDER BY created_at"
            ).fetchall()
