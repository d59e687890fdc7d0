"""Bulk assignment jobs submitted over HTTP (`/v1/jobs`), and the `analyst` token role.

A job is a record, not a process: it survives a restart of the server. The runner (one per
database, holding an advisory lock) takes accepted jobs in order, reports progress in the
row, and records the result or the error; a job found `running` when a runner starts was
interrupted and is put back to `accepted` to run again (docs/jobs.md).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE jobs (
            id text PRIMARY KEY,
            owner text NOT NULL,
            spec jsonb NOT NULL,
            status text NOT NULL DEFAULT 'accepted' CHECK (
                status IN ('accepted', 'running', 'successful', 'failed', 'dismissed')
            ),
            progress jsonb NOT NULL DEFAULT '{}'::jsonb,
            result jsonb,
            error jsonb,
            message text NOT NULL DEFAULT '',
            attempts integer NOT NULL DEFAULT 0,
            created timestamptz NOT NULL DEFAULT now(),
            started timestamptz,
            finished timestamptz,
            updated timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX jobs_owner_created ON jobs (owner, created)")
    op.execute("CREATE INDEX jobs_waiting ON jobs (created) WHERE status = 'accepted'")
    op.execute("ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check")
    op.execute(
        "ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check "
        "CHECK (role IN ('reader', 'editor', 'analyst'))"
    )


def downgrade() -> None:
    op.execute("DELETE FROM api_tokens WHERE role = 'analyst'")
    op.execute("ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check")
    op.execute(
        "ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check "
        "CHECK (role IN ('reader', 'editor'))"
    )
    op.execute("DROP TABLE jobs")
