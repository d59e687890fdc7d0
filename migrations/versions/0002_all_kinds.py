"""Every kind of the domain in the read model: offices and coverage, matters, lineage, history,
and a subdivided copy of unit geometry for point lookups.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: Vertices per piece of subdivided geometry: small pieces make point-in-polygon cheap and
#: their bounding boxes tight, so the spatial index rejects almost every candidate.
SUBDIVIDE_VERTICES = 128


def _bitemporal(table: str, key: str) -> None:
    op.execute(
        f"ALTER TABLE {table} ADD CONSTRAINT {table}_bitemporal_excl "
        f"EXCLUDE USING gist ({key} WITH =, valid WITH &&, recorded WITH &&)"
    )
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_valid_not_empty CHECK (NOT isempty(valid))")
    op.execute(
        f"ALTER TABLE {table} ADD CONSTRAINT {table}_recorded_not_empty CHECK (NOT isempty(recorded))"
    )


def upgrade() -> None:
    op.execute("ALTER TABLE unit_versions ADD COLUMN provenance text NOT NULL DEFAULT ''")
    op.execute("CREATE INDEX unit_versions_parent_idx ON unit_versions (parent_code, level)")
    op.execute("CREATE INDEX unit_versions_level_valid_idx ON unit_versions USING gist (level, valid) WHERE upper_inf(recorded)")

    # Subdivided pieces of every unit version, kept in step by triggers: the projection writes
    # unit_versions only, and a piece can never outlive or miss its version.
    op.execute(
        """
        CREATE TABLE unit_version_parts (
            unit_id uuid NOT NULL,
            level text NOT NULL,
            valid daterange NOT NULL,
            recorded tstzrange NOT NULL,
            geom geometry(Polygon, 4326) NOT NULL
        )
        """
    )
    op.execute(
        "CREATE INDEX unit_version_parts_current_gix ON unit_version_parts "
        "USING gist (geom, valid) WHERE upper_inf(recorded)"
    )
    op.execute(
        "CREATE INDEX unit_version_parts_gix ON unit_version_parts USING gist (geom, valid, recorded)"
    )
    op.execute("CREATE INDEX unit_version_parts_version_idx ON unit_version_parts (unit_id)")
    op.execute(
        f"""
        CREATE FUNCTION unit_version_parts_sync() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          -- The projection only ever closes a version (its recorded range) or drops it.
          IF TG_OP = 'UPDATE' THEN
            UPDATE unit_version_parts SET recorded = NEW.recorded
             WHERE unit_id = OLD.unit_id AND valid = OLD.valid AND recorded = OLD.recorded;
          ELSIF TG_OP = 'DELETE' THEN
            DELETE FROM unit_version_parts
             WHERE unit_id = OLD.unit_id AND valid = OLD.valid AND recorded = OLD.recorded;
          ELSE
            INSERT INTO unit_version_parts (unit_id, level, valid, recorded, geom)
            SELECT NEW.unit_id, NEW.level, NEW.valid, NEW.recorded, part
              FROM ST_Subdivide(NEW.geom, {SUBDIVIDE_VERTICES}) AS part;
          END IF;
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER unit_version_parts_sync AFTER INSERT OR UPDATE OR DELETE ON unit_versions "
        "FOR EACH ROW EXECUTE FUNCTION unit_version_parts_sync()"
    )

    op.execute(
        """
        CREATE TABLE office_versions (
            code text NOT NULL,
            kind text NOT NULL,
            name text NOT NULL,
            unit_code text NOT NULL,
            address geometry(Point, 4326),
            address_text text NOT NULL DEFAULT '',
            serves text[] NOT NULL DEFAULT '{}',
            valid daterange NOT NULL,
            recorded tstzrange NOT NULL,
            change_set uuid NOT NULL,
            position bigint NOT NULL
        )
        """
    )
    _bitemporal("office_versions", "code")
    op.execute("CREATE INDEX office_versions_unit_idx ON office_versions USING gist (unit_code, valid) WHERE upper_inf(recorded)")
    op.execute("CREATE INDEX office_versions_serves_idx ON office_versions USING gin (serves)")

    # Workstation coverage, one row per (workstation, community) and version, also by trigger.
    op.execute(
        """
        CREATE TABLE coverage_versions (
            workstation text NOT NULL,
            community text NOT NULL,
            valid daterange NOT NULL,
            recorded tstzrange NOT NULL
        )
        """
    )
    op.execute(
        "CREATE INDEX coverage_versions_community_idx ON coverage_versions "
        "USING gist (community, valid, recorded)"
    )
    op.execute(
        "CREATE INDEX coverage_versions_workstation_idx ON coverage_versions "
        "USING gist (workstation, valid, recorded)"
    )
    op.execute(
        """
        CREATE FUNCTION coverage_versions_sync() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'UPDATE' THEN
            UPDATE coverage_versions SET recorded = NEW.recorded
             WHERE workstation = OLD.code AND valid = OLD.valid AND recorded = OLD.recorded;
          ELSIF TG_OP = 'DELETE' THEN
            DELETE FROM coverage_versions
             WHERE workstation = OLD.code AND valid = OLD.valid AND recorded = OLD.recorded;
          ELSE
            INSERT INTO coverage_versions (workstation, community, valid, recorded)
            SELECT NEW.code, community, NEW.valid, NEW.recorded FROM unnest(NEW.serves) AS community;
          END IF;
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER coverage_versions_sync AFTER INSERT OR UPDATE OR DELETE ON office_versions "
        "FOR EACH ROW EXECUTE FUNCTION coverage_versions_sync()"
    )

    op.execute(
        """
        CREATE TABLE matter_versions (
            matter text NOT NULL,
            name text NOT NULL DEFAULT '',
            office_kind text NOT NULL,
            level text NOT NULL,
            valid daterange NOT NULL,
            recorded tstzrange NOT NULL,
            change_set uuid NOT NULL,
            position bigint NOT NULL
        )
        """
    )
    _bitemporal("matter_versions", "matter")

    op.execute(
        """
        CREATE TABLE lineage_edges (
            predecessor text NOT NULL,
            successor text NOT NULL,
            kind text NOT NULL,
            effective date NOT NULL,
            recorded_at timestamptz NOT NULL,
            change_set uuid NOT NULL,
            position bigint NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX lineage_edges_predecessor_idx ON lineage_edges (predecessor)")
    op.execute("CREATE INDEX lineage_edges_successor_idx ON lineage_edges (successor)")

    op.execute(
        """
        CREATE TABLE unit_events (
            code text NOT NULL,
            event text NOT NULL,
            operation text NOT NULL,
            effective date NOT NULL,
            recorded_at timestamptz NOT NULL,
            actor text NOT NULL,
            reason text NOT NULL,
            document text NOT NULL,
            change_set uuid NOT NULL,
            position bigint NOT NULL,
            details jsonb NOT NULL DEFAULT '{}'
        )
        """
    )
    op.execute("CREATE INDEX unit_events_code_idx ON unit_events (code, position)")


def downgrade() -> None:
    for table in ("unit_events", "lineage_edges", "matter_versions", "coverage_versions", "office_versions", "unit_version_parts"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.execute("DROP FUNCTION IF EXISTS coverage_versions_sync")
    op.execute("DROP FUNCTION IF EXISTS unit_version_parts_sync")
    op.execute("ALTER TABLE unit_versions DROP COLUMN IF EXISTS provenance")
