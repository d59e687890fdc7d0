"""The keys each projection batch touched, for the lookup index's refresh by difference.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE read_model_changes (position bigint NOT NULL, kind text NOT NULL, "
        "keys text[] NOT NULL)"
    )
    op.execute("CREATE INDEX read_model_changes_position_idx ON read_model_changes (position)")
    op.execute(
        "CREATE TABLE read_model_change_log (one boolean PRIMARY KEY DEFAULT true CHECK (one), "
        "generation bigint NOT NULL, horizon bigint NOT NULL)"
    )
    # A read model projected before this table existed is complete only from its position on.
    op.execute(
        """
        DO $$
        DECLARE reached bigint := 0;
        BEGIN
          IF to_regclass('readmodel_tracking') IS NOT NULL THEN
            SELECT coalesce(max(notification_id), 0) INTO reached FROM readmodel_tracking;
          END IF;
          INSERT INTO read_model_change_log (generation, horizon) VALUES (1, reached);
        END $$
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS read_model_change_log")
    op.execute("DROP TABLE IF EXISTS read_model_changes")
