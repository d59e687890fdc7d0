"""Where the projection is stuck, if it is: one row per projected application.

The API runs as several processes and only the one holding the projection lock projects; a
stall it meets must be visible to all of them (`/readyz`) and to the CLI (`jurisdictions
status`), so it is kept in the database, not in memory. The projection writes the row when an
event cannot be applied and deletes it once it has moved past that event.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE read_model_stall (
            application_name text PRIMARY KEY,
            position bigint NOT NULL,
            event_topic text NOT NULL,
            reason text NOT NULL,
            since timestamptz NOT NULL DEFAULT now(),
            last_attempt timestamptz NOT NULL DEFAULT now(),
            attempts integer NOT NULL DEFAULT 1
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS read_model_stall")
