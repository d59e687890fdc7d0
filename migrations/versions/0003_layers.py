"""Layers for desktop GIS (a function for any level and date, a view of today's map) and the
index that joins subdivided pieces back to their version.

Per-level views (``layer_district`` ...) depend on the configured levels, so
`jurisdictions migrate` creates them after the migrations (see projections/layers.py).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX unit_versions_identity_idx ON unit_versions "
        "(unit_id, lower(valid), lower(recorded))"
    )
    op.execute(
        """
        CREATE FUNCTION units_on(p_level text, p_day date DEFAULT CURRENT_DATE)
        RETURNS TABLE (
            code text, name text, name_en text, level text, parent_code text,
            valid_from date, valid_to date, provenance text, geom geometry(MultiPolygon, 4326)
        )
        LANGUAGE sql STABLE AS $$
            SELECT code, name, name_en, level, parent_code, lower(valid), upper(valid),
                   provenance, geom
              FROM unit_versions
             WHERE level = p_level AND valid @> p_day AND upper_inf(recorded)
             ORDER BY code
        $$
        """
    )
    op.execute(
        "COMMENT ON FUNCTION units_on(text, date) IS "
        "'The units of one level valid on a date, as currently recorded.'"
    )
    op.execute(
        """
        CREATE VIEW current_units AS
        SELECT code, name, name_en, level, parent_code, lower(valid) AS valid_from,
               upper(valid) AS valid_to, provenance, geom
          FROM unit_versions
         WHERE valid @> CURRENT_DATE AND upper_inf(recorded)
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS current_units")
    op.execute("DROP FUNCTION IF EXISTS units_on(text, date)")
    op.execute("DROP INDEX IF EXISTS unit_versions_identity_idx")
