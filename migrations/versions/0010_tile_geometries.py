"""Each unit version's geometry as vector-tile pixels of zooms 11-14, kept by PostgreSQL itself.

A tile's cost is mostly `ST_AsMVTGeom`: reprojecting every unit in the tile, snapping it to the
tile's 4096-pixel grid and making it valid again (Wagyu). None of that depends on which tile of
a zoom asks: done once per version over the whole world at zoom z (`4096 << z` pixels across,
no clipping), a unit lying inside a tile is that geometry moved by the tile's offset
(`projections/features.py`, which says which zooms have a column); only units crossing a tile's
edge are still clipped per request.

Only where it can pay: a column is NULL when the version's box, in that zoom's pixels, is wider
or taller than a buffered tile (a few pixels to spare for snapping). Such a version (a city, a
district at these zooms) is never inside one tile, so the tile clips it as before and the tiles
are the same bytes; its large outline was most of the cost of writing the columns (inserting
the demo's versions: 12x the bare insert with every column, 7.5x with these). The box is the
geometry's own bounding box: Web Mercator maps longitude and latitude each on its own and
monotonically, so its corners give the reprojected outline's box with no PROJ call per row.

Stored generated columns: PostgreSQL computes them from `geom` on every insert and update, so
the projection (COPY, closes) and a rebuild maintain them with no code of their own, and a
rebuild makes them again deterministically. Every function used is IMMUTABLE. Adding them
rewrites `unit_versions` once under an exclusive lock (docs/operations.md).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: The zooms kept; projections/features.py TILE_PIXEL_ZOOMS must name the same.
ZOOMS = (11, 12, 13, 14)
#: A buffered tile's width in pixels (4096 + 2 * 64), and 2 more for snapping (each bound
#: moves at most half a pixel): a box wider or taller than this is never inside a tile.
FITS = 4096 + 2 * 64 + 2
#: Web Mercator's y of a latitude in degrees, in turns of the world (x is linear in longitude).
#: Clamped to +-85 degrees (the map ends at 85.05): a pole would be ln(0), an error on insert.
MERCATOR = "ln(tan(pi() / 4 + radians(least(greatest({}, -85), 85)) / 2)) / (2 * pi())"


def _pixels(zoom: int) -> str:
    """The column's expression: NULL when the version cannot lie inside a tile of the zoom."""
    world = 4096 << zoom
    wide = f"(ST_XMax(geom) - ST_XMin(geom)) / 360 * {world}"
    tall = f"({MERCATOR.format('ST_YMax(geom)')} - {MERCATOR.format('ST_YMin(geom)')}) * {world}"
    return (
        f"CASE WHEN {wide} <= {FITS} AND {tall} <= {FITS} "
        f"THEN ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(0, 0, 0), "
        f"{world}, 0, false) END"
    )


def upgrade() -> None:
    # One statement: the table is rewritten once, not once per column.
    columns = ", ".join(
        f"ADD COLUMN tile_pixels_{zoom} geometry GENERATED ALWAYS AS ({_pixels(zoom)}) STORED"
        for zoom in ZOOMS
    )
    op.execute(f"ALTER TABLE unit_versions {columns}")


def downgrade() -> None:
    for zoom in ZOOMS:
        op.execute(f"ALTER TABLE unit_versions DROP COLUMN IF EXISTS tile_pixels_{zoom}")
