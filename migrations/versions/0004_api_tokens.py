"""API tokens: only their SHA-256 is stored; the token itself is shown once when created.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE api_tokens (
            id text PRIMARY KEY,
            token_sha256 text NOT NULL UNIQUE,
            role text NOT NULL CHECK (role IN ('reader', 'editor')),
            actor text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE api_tokens")
