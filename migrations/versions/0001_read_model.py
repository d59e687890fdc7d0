"""Extensions and the first read-model tables: unit versions and the change-set log.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    # btree_gist: scalar equality (unit_id WITH =) inside a GiST exclusion constraint.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")

    op.create_table(
        "unit_versions",
        sa.Column("unit_id", postgresql.UUID(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False, server_default=""),
        sa.Column("parent_code", sa.Text(), nullable=True),
        sa.Column("valid", postgresql.DATERANGE(), nullable=False),
        sa.Column("recorded", postgresql.TSTZRANGE(), nullable=False),
        sa.Column(
            "geom",
            Geometry("MULTIPOLYGON", srid=4326, spatial_index=False),
            nullable=False,
        ),
        sa.Column("change_set", postgresql.UUID(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("NOT isempty(valid)", name="unit_versions_valid_not_empty"),
        sa.CheckConstraint("NOT isempty(recorded)", name="unit_versions_recorded_not_empty"),
        comment="Every version of every unit: valid over `valid`, believed over `recorded`.",
    )
    # No two versions of one unit may overlap in both valid and recorded time.
    op.execute(
        "ALTER TABLE unit_versions ADD CONSTRAINT unit_versions_bitemporal_excl "
        "EXCLUDE USING gist (unit_id WITH =, valid WITH &&, recorded WITH &&)"
    )
    # Lookups "as currently recorded" hit this smaller partial index; "as recorded at T" the
    # full one. Both put geometry first: a point query narrows by space, then by date.
    op.execute(
        "CREATE INDEX unit_versions_current_gix ON unit_versions "
        "USING gist (geom, valid) WHERE upper_inf(recorded)"
    )
    op.execute(
        "CREATE INDEX unit_versions_bitemporal_gix ON unit_versions "
        "USING gist (geom, valid, recorded)"
    )
    op.execute("CREATE INDEX unit_versions_code_idx ON unit_versions (code, lower(valid))")

    op.create_table(
        "change_set_log",
        sa.Column("id", postgresql.UUID(), primary_key=True),
        sa.Column("effective", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("operations", postgresql.JSONB(), nullable=False),
        sa.Column("units", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False, unique=True),
        comment="The log of legal acts: one row per applied change set.",
    )
    op.create_index("change_set_log_effective_idx", "change_set_log", ["effective"])


def downgrade() -> None:
    op.drop_table("change_set_log")
    op.drop_table("unit_versions")
