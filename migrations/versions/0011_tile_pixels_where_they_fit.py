"""Stored tile pixels only for versions that can lie inside one tile of their zoom.

Migration 0010 made every version's `ST_AsMVTGeom` over the whole world at zooms 11-14 on
every insert and update. A tile uses a version's stored pixels only when the version lies
inside the tile with its buffer (`projections/features.py`); a district or a city never does
at these zooms, yet their large outlines were most of the work of writing them. Now a column is
NULL when the version's box, in that zoom's pixels, is wider or taller than a buffered tile (a
few pixels to spare for snapping): the tile clips such a version, as it already did, so the
tiles are the same bytes. The box is the geometry's stored bounding box, not a reprojected outline.

PostgreSQL 15 cannot change a generated column's expression: the columns are dropped and added
again (one table rewrite).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

#: The zooms kept; projections/features.py TILE_PIXEL_ZOOMS must name the same.
ZOOMS = (11, 12, 13, 14)
#: A buffered tile's width in pixels (4096 + 2 * 64), and 2 more for snapping (each bound
#: moves at most half a pixel): a box wider or taller than this is never inside a tile.
FITS = 4096 + 2 * 64 + 2
#: Web Mercator's y of a latitude in degrees, in turns of the world (x is linear in longitude).
#: Clamped to +-85 degrees (the map ends at 85.05): a pole would be ln(0), an error on insert;
#: a box clamped shorter only keeps a column that is NULL-able, as migration 0010 did.
MERCATOR = "ln(tan(pi() / 4 + radians(least(greatest({}, -85), 85)) / 2)) / (2 * pi())"


def _pixels(zoom: int) -> str:
    """The column's expression: NULL when the version cannot lie inside a tile of the zoom.

    The box is the geometry's own bounding box (stored with it): Web Mercator maps longitude
    and latitude each on its own and monotonically, so its corners give the reprojected
    outline's box, with no reprojection and no PROJ call per row.
    """
    world = 4096 << zoom
    wide = f"(ST_XMax(geom) - ST_XMin(geom)) / 360 * {world}"
    tall = f"({MERCATOR.format('ST_YMax(geom)')} - {MERCATOR.format('ST_YMin(geom)')}) * {world}"
    return (
        f"CASE WHEN {wide} <= {FITS} AND {tall} <= {FITS} "
        f"THEN ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(0, 0, 0), "
        f"{world}, 0, false) END"
    )


def _replace(fitted: bool) -> None:
    drops = ", ".join(f"DROP COLUMN tile_pixels_{zoom}" for zoom in ZOOMS)
    adds = ", ".join(
        f"ADD COLUMN tile_pixels_{zoom} geometry GENERATED ALWAYS AS ("
        + (
            _pixels(zoom)
            if fitted
            else f"ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(0, 0, 0), "
            f"{4096 << zoom}, 0, false)"
        )
        + ") STORED"
        for zoom in ZOOMS
    )
    # One statement: the table is rewritten once.
    op.execute(f"ALTER TABLE unit_versions {drops}, {adds}")


def upgrade() -> None:
    _replace(fitted=True)


def downgrade() -> None:
    _replace(fitted=False)
