"""Indexes for the offices of a lookup: by unit code, and workstations by community.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX office_versions_unit_code_idx ON office_versions (unit_code, kind)")
    op.execute(
        "CREATE INDEX office_versions_code_idx ON office_versions (code, lower(valid))"
    )
    op.execute("CREATE INDEX coverage_versions_community_code_idx ON coverage_versions (community)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS coverage_versions_community_code_idx")
    op.execute("DROP INDEX IF EXISTS office_versions_code_idx")
    op.execute("DROP INDEX IF EXISTS office_versions_unit_code_idx")
