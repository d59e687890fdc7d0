"""Layers for desktop GIS: per-level views of today's map, and exports to files.

QGIS opens ``layer_<level>`` views (today's map, as currently recorded) or calls
``units_on(level, date)`` for any date, straight from PostGIS. Exports go through pyogrio
(GDAL), so GeoPackage, Shapefile and GeoJSON come out as GDAL writes them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import psycopg
import pyogrio.raw
from psycopg.sql import SQL, Identifier, Literal

from domain.levels import LevelScheme

DRIVERS = {"geojson": "GeoJSON", "gpkg": "GPKG", "shp": "ESRI Shapefile"}
#: Column of units_on() -> field name in the file (Shapefile allows 10 characters).
FIELDS = {
    "code": "code",
    "name": "name",
    "name_en": "name_en",
    "level": "level",
    "parent_code": "parent",
    "valid_from": "valid_from",
    "valid_to": "valid_to",
    "provenance": "provenance",
}
WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
    'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4326"]]'
)


def view_name(level: str) -> str:
    """The view of today's map of one level."""
    return f"layer_{level}"


def ensure_layer_views(conninfo: str, levels: LevelScheme, time_zone: str = "UTC") -> list[str]:
    """Create (or refresh) one view per configured level; returns their names.

    "Today" in these views is the date in the register's ``time_zone`` (JL_TIME_ZONE), not
    the session's CURRENT_DATE, so QGIS sees what the API says (domain/clock.py).
    """
    names = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            SQL(
                "CREATE OR REPLACE VIEW current_units AS "
                "SELECT code, name, name_en, level, parent_code, lower(valid) AS valid_from, "
                "upper(valid) AS valid_to, provenance, geom FROM unit_versions "
                "WHERE valid @> (now() AT TIME ZONE {})::date AND upper_inf(recorded)"
            ).format(Literal(time_zone))
        )
        for level in levels.names:
            name = view_name(level)
            conn.execute(
                SQL(
                    "CREATE OR REPLACE VIEW {} AS SELECT * FROM current_units WHERE level = {}"
                ).format(Identifier(name), Literal(level))
            )
            names.append(name)
    return names


def export_layer(conninfo: str, level: str, day: date, path: Path, file_format: str) -> int:
    """Write the units of `level` valid on `day` to `path`; returns how many were written."""
    driver = DRIVERS[file_format]
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            SQL("SELECT {}, ST_AsBinary(geom) FROM units_on(%s, %s)").format(
                SQL(", ").join(Identifier(f) for f in FIELDS)
            ),
            (level, day),
        ).fetchall()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    geometry = np.array([bytes(row[-1]) for row in rows], dtype=object)
    columns = list(zip(*(row[:-1] for row in rows), strict=True)) if rows else [()] * len(FIELDS)
    field_data = [
        np.array([("" if v is None else str(v)) for v in column], dtype=object)
        for column in columns
    ]
    pyogrio.raw.write(
        str(path),
        geometry,
        field_data,
        list(FIELDS.values()),
        layer=f"{level}_{day.isoformat()}",
        driver=driver,
        geometry_type="MultiPolygon",
        crs=WGS84_WKT,
        encoding="UTF-8" if driver == "ESRI Shapefile" else None,
        # GeoPackage 1.2, not the newest GDAL's 1.4: the desktops GIS staff run (QGIS 3.22 on
        # GDAL 3.6, older ArcGIS) read 1.2 without a "partially supported" warning.
        dataset_options={"VERSION": "1.2"} if driver == "GPKG" else None,
    )
    return len(rows)
