"""Small GeoPackages built byte by byte with sqlite3, for the hostile-upload tests.

GDAL writes GeoPackages of about 100 kB (its metadata tables and indexes); these are a few kB,
so they fit in the bad-input catalogue. `tests/unit/test_layer_files.py` checks GDAL reads a
well-formed one exactly as the service does, so they are real GeoPackages.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
    'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4326"]]'
)


@dataclass
class Table:
    """A feature table: rows of (properties, geometry: a blob, None, or anything to store)."""

    name: str
    rows: Sequence[tuple[Mapping[str, Any], Any]]
    srs_id: int = 4326
    geometry_type: str = "MULTIPOLYGON"
    columns: dict[str, str] = field(default_factory=lambda: {"code": "TEXT", "name": "TEXT"})


def blob(geometry: BaseGeometry | bytes, srs_id: int = 4326, envelope: bool = True) -> bytes:
    """A GeoPackage geometry: 'GP', version 0, flags (little-endian, xy envelope), srs_id."""
    wkb = geometry if isinstance(geometry, bytes) else shapely.to_wkb(geometry, byte_order=1)
    flags = 0x01 | (0x02 if envelope else 0)
    head = b"GP" + bytes([0, flags]) + struct.pack("<i", srs_id)
    if envelope and not isinstance(geometry, bytes):
        west, south, east, north = geometry.bounds
        head += struct.pack("<4d", west, east, south, north)
    elif envelope:
        head += struct.pack("<4d", 0, 0, 0, 0)
    return head + wkb


def build(
    path: Path,
    tables: list[Table],
    srs: dict[int, tuple[str, int, str]] | None = None,
    extra_sql: str = "",
    application_id: int = 0x47504B47,
) -> Path:
    """Write a GeoPackage: the three metadata tables, `tables`, then `extra_sql` (views,
    triggers, damage). `srs` maps srs_id to (organization, id, definition)."""
    path.unlink(missing_ok=True)
    systems = {
        4326: ("EPSG", 4326, WGS84_WKT),
        -1: ("NONE", -1, "undefined"),
        0: ("NONE", 0, "undefined"),
        **(srs or {}),
    }
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA page_size = 512")
        db.execute(f"PRAGMA application_id = {application_id}")
        db.execute("PRAGMA user_version = 10400")
        db.executescript(
            """
            CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY
              KEY, organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL,
              definition TEXT NOT NULL, description TEXT);
            CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT
              NOT NULL, identifier TEXT UNIQUE, description TEXT DEFAULT '', last_change
              DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), min_x DOUBLE,
              min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER);
            CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT
              NULL, geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT
              NULL, m TINYINT NOT NULL, CONSTRAINT pk_geom_cols PRIMARY KEY (table_name,
              column_name));
            """
        )
        for srs_id, (organization, code, definition) in systems.items():
            db.execute(
                "INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, '')",
                (f"srs {srs_id}", srs_id, organization, code, definition),
            )
        for table in tables:
            columns = ", ".join(f'"{name}" {kind}' for name, kind in table.columns.items())
            db.execute(
                f'CREATE TABLE "{table.name}" (fid INTEGER PRIMARY KEY AUTOINCREMENT, '
                f"geom {table.geometry_type}, {columns})"
            )
            db.execute(
                "INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) "
                "VALUES (?, 'features', ?, ?)",
                (table.name, table.name, table.srs_id),
            )
            db.execute(
                "INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', ?, ?, 0, 0)",
                (table.name, table.geometry_type, table.srs_id),
            )
            names = list(table.columns)
            marks = ", ".join("?" * (len(names) + 1))
            quoted = ", ".join(f'"{name}"' for name in names)
            for properties, geometry in table.rows:
                db.execute(
                    f'INSERT INTO "{table.name}" (geom, {quoted}) VALUES ({marks})',
                    (geometry, *(properties.get(name) for name in names)),
                )
        if extra_sql:
            db.executescript(extra_sql)
    db.close()
    return path
