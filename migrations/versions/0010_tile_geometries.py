"""Each unit version's geometry as vector-tile pixels of zooms 11-14, kept by PostgreSQL itself.

A tile's cost is mostly `ST_AsMVTGeom`: reprojecting every unit in the tile, snapping it to the
tile's 4096-pixel grid and making it valid again (Wagyu). None of that depends on which tile of
a zoom asks: done once per version over the whole world at zoom z (`4096 << z` pixels across,
no clipping), a unit lying inside a tile is that geometry moved by the tile's offset
(`projections/features.py`, which says which zooms have a column); only units crossing a tile's
edge are still clipped per request.

Stored generated columns: PostgreSQL computes them from `geom` on every insert and update, so
the projection (COPY, closes) and a rebuild maintain them with no code of their own, and a
rebuild makes them again deterministically. Every function used is IMMUTABLE.

Revision ID: 0010
Revises: 0008 (re-chain to 0009 at merge: another branch adds 0009)
Create Date: 2026-12-06
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: The zooms kept; projections/features.py TILE_PIXEL_ZOOMS must name the same.
ZOOMS = (11, 12, 13, 14)


def upgrade() -> None:
    # One statement: the table is rewritten once, not once per column.
    columns = ", ".join(
        f"ADD COLUMN tile_pixels_{zoom} geometry GENERATED ALWAYS AS (ST_AsMVTGeom("
        f"ST_Transform(geom, 3857), ST_TileEnvelope(0, 0, 0), {4096 << zoom}, 0, false)) STORED"
        for zoom in ZOOMS
    )
    op.execute(f"ALTER TABLE unit_versions {columns}")


def downgrade() -> None:
    for zoom in ZOOMS:
        op.execute(f"ALTER TABLE unit_versions DROP COLUMN IF EXISTS tile_pixels_{zoom}")
