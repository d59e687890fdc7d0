"""Close and drop versions through btree indexes, not by range equality.

The projection closes a version (`UPDATE ... SET recorded`) and its triggers follow it into
`unit_version_parts` and `coverage_versions`. They matched rows with ``valid = OLD.valid AND
recorded = OLD.recorded``; PostgreSQL estimates range equality as nearly unique and served it
from the GiST indexes on (geom, valid, recorded), which on a register where most units share
their founding range scanned them all: 20-130 ms per closed version on 290,000 units, seconds
per change set. Matching the bounds instead (``lower(valid) = lower(OLD.valid)`` ...) leaves
the GiST indexes nothing to offer, and the btree on the key finds the few rows.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: Vertices per subdivided piece (as in 0002).
SUBDIVIDE_VERTICES = 128

#: The same version as OLD, by the bounds of its two ranges.
SAME_VERSION = (
    "lower(valid) = lower(OLD.valid) AND upper(valid) IS NOT DISTINCT FROM upper(OLD.valid) "
    "AND lower(recorded) = lower(OLD.recorded) "
    "AND upper(recorded) IS NOT DISTINCT FROM upper(OLD.recorded)"
)
OLD_SAME_VERSION = "valid = OLD.valid AND recorded = OLD.recorded"


def _unit_parts_sync(same: str) -> str:
    return f"""
        CREATE OR REPLACE FUNCTION unit_version_parts_sync() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          -- The projection only ever closes a version (its recorded range) or drops it.
          IF TG_OP = 'UPDATE' THEN
            UPDATE unit_version_parts SET recorded = NEW.recorded
             WHERE unit_id = OLD.unit_id AND {same};
          ELSIF TG_OP = 'DELETE' THEN
            DELETE FROM unit_version_parts WHERE unit_id = OLD.unit_id AND {same};
          ELSE
            INSERT INTO unit_version_parts (unit_id, level, valid, recorded, geom)
            SELECT NEW.unit_id, NEW.level, NEW.valid, NEW.recorded, part
              FROM ST_Subdivide(NEW.geom, {SUBDIVIDE_VERTICES}) AS part;
          END IF;
          RETURN NULL;
        END $$
        """


def _coverage_sync(same: str) -> str:
    return f"""
        CREATE OR REPLACE FUNCTION coverage_versions_sync() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'UPDATE' THEN
            UPDATE coverage_versions SET recorded = NEW.recorded
             WHERE workstation = OLD.code AND {same};
          ELSIF TG_OP = 'DELETE' THEN
            DELETE FROM coverage_versions WHERE workstation = OLD.code AND {same};
          ELSE
            INSERT INTO coverage_versions (workstation, community, valid, recorded)
            SELECT NEW.code, community, NEW.valid, NEW.recorded FROM unnest(NEW.serves) AS community;
          END IF;
          RETURN NULL;
        END $$
        """


def upgrade() -> None:
    op.execute(
        "CREATE INDEX coverage_versions_workstation_code_idx ON coverage_versions (workstation)"
    )
    op.execute(_unit_parts_sync(SAME_VERSION))
    op.execute(_coverage_sync(SAME_VERSION))


def downgrade() -> None:
    op.execute(_coverage_sync(OLD_SAME_VERSION))
    op.execute(_unit_parts_sync(OLD_SAME_VERSION))
    op.execute("DROP INDEX IF EXISTS coverage_versions_workstation_code_idx")
