"""Reading a layer file someone sent: GeoJSON or GeoPackage, decided by content, read as data.

An import file comes from outside (an HTTP upload, or a file an operator was handed), so it is
read by plain Python, never by GDAL:

- The format is decided by the bytes, never by the name: a JSON object (a ``FeatureCollection``
  or one ``Feature``) is GeoJSON; an SQLite database with the GeoPackage ``application_id``
  (``GPKG``, ``GP10``, ``GP11``) or a ``gpkg_contents`` table is a GeoPackage. Anything else
  (VRT or other XML, HTML, ZIP, shapefile, KML, CSV, an empty file, SQLite that is not a
  GeoPackage) is refused (`UnsupportedFile`, 415) saying what it looks like, before anything
  parses it.
- Why not GDAL restricted to one driver: pyogrio opens with every registered driver (it has no
  "allowed drivers" argument), GDAL's config options that switch off ``/vsicurl/`` and friends
  are process-wide (and would also govern the exports), and GDAL's GeoPackage driver reads the
  views listed in ``gpkg_contents`` and registers SQL functions of its own. An attacker's file
  only has to match one driver's identification or reach one virtual file system for the
  service to read a local file or fetch a URL (both happened). A reader that never calls GDAL
  has none of those doors: GeoJSON is parsed with `json` and built with shapely; a GeoPackage
  is opened with `sqlite3` read-only and immutable (nothing is ever written, no journal is
  replayed), ``trusted_schema`` off, extension loading off, and an authorizer that allows only
  this module's own ``SELECT``s of base tables: nothing that runs through a view or a trigger,
  no SQL function, no ``ATTACH``. Only base tables listed in ``gpkg_contents`` /
  ``gpkg_geometry_columns`` are read (never views or virtual tables); geometry blobs are decoded
  by their GeoPackage header, then WKB by shapely.
- Coordinate reference systems go to pyproj only as an authority code (EPSG, OGC) or, for a
  GeoPackage's own definition, as WKT without PROJ-string extensions (``EXTENSION["PROJ4", ..]``
  would let PROJ open files named in it); PROJ's network is left off.

The result is the same as GDAL would read (tests compare with pyogrio on trusted files): one
`LayerFeature` per feature, its properties, and its geometry in lon/lat (reprojected when the
file has another CRS), 2D. What is wrong with one feature (a coordinate that is not finite or is
off the earth, a geometry that is not a polygon, a property that is an object, a lone surrogate:
the import reports it only for the fields it reads)
is a `Problem` on that feature, reported with its index and field; what makes the whole file
unusable (not JSON, an engineering or unknown CRS, no geometry column, several tables and no
choice) is a `LayerError` (422). Every message is written here: no exception text of sqlite,
PROJ or shapely, and no server path, reaches the client.
"""

from __future__ import annotations

import codecs
import json
import math
import re
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from domain.errors import Problem

SQLITE_MAGIC = b"SQLite format 3\x00"
#: GeoPackage application_id values (header offset 68): 'GPKG' (1.2+), 'GP10', 'GP11'.
GEOPACKAGE_IDS = {0x47504B47, 0x47503130, 0x47503131}
#: Only polygons become territories; the other GeoJSON geometry types are named when refused.
POLYGON_TYPES = {"Polygon", "MultiPolygon"}
OTHER_GEOJSON_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "GeometryCollection"}
#: Text in a CRS definition that would make PROJ read files or use PROJ strings.
UNSAFE_CRS_TEXT = ("EXTENSION[", "PARAMETERFILE[", "+INIT", "+NADGRIDS", "+GEOIDGRIDS", "+PROJ")
#: Longest value of the file quoted back in a message, and most table names listed.
SHOWN_CHARS = 60
SHOWN_NAMES = 10
#: Degrees a coordinate may pass ±180/±90 by: real files hold 180.00000000000006 (the stored
#: precision rounds it away); anything more is off the earth or in another CRS.
SLACK = 1e-9


@dataclass(frozen=True)
class LayerFeature:
    """One feature read from the file; `problems` say what keeps it from being imported."""

    index: int
    properties: dict[str, Any]
    geometry: BaseGeometry | None
    problems: tuple[Problem, ...] = ()


class LayerError(ValueError):
    """The file cannot be read as a layer (422 ``file_unreadable``); the message says why."""


class UnsupportedFile(LayerError):
    """The file is neither GeoJSON nor a GeoPackage (415 ``unsupported_file``)."""


class _BadFeature(ValueError):
    """One feature's problem, raised inside the readers and turned into a `Problem`."""

    def __init__(self, code: str, message: str, location: str):
        super().__init__(message)
        self.problem = Problem(code, message, location)


Transform = Callable[[Any], Any]


def read_layer(path: Path, layer: str | None = None) -> list[LayerFeature]:
    """The features of a GeoJSON or GeoPackage file (by content), geometries in lon/lat.

    `layer` picks a GeoPackage's feature table when it has several (GeoJSON has one layer).
    Raises `UnsupportedFile` for any other format and `LayerError` for a file that cannot be
    read as a layer.
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(100)
            # A GeoPackage is read by SQLite from the file; GeoJSON is parsed from memory.
            data = head if head.startswith(SQLITE_MAGIC) else head + handle.read()
    except OSError as exc:
        raise LayerError("the file cannot be opened") from exc
    if file_kind(data) == "gpkg":
        return _read_geopackage(path, layer)
    return _read_geojson(data)


def file_kind(data: bytes) -> str:
    """'geojson' or 'gpkg' from a file's bytes (for SQLite, its 100-byte header), or
    `UnsupportedFile` saying what the file looks like."""
    if data.startswith(SQLITE_MAGIC):
        if len(data) < 100:
            raise LayerError("the file starts like an SQLite database but is cut short")
        return "gpkg"  # the application id and tables are checked when it is opened
    if data.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n").startswith(b"{"):
        return "geojson"
    raise UnsupportedFile(
        f"the file is {_describe(data)}; only GeoJSON (a FeatureCollection or a Feature) "
        "and GeoPackage files are imported"
    )


def _describe(data: bytes) -> str:
    """What a refused file looks like, for the message."""
    text = data.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")[:4096]
    if not data:
        return "empty"
    if not text:
        return "blank (only white space)"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16 text (GeoJSON must be UTF-8)"
    if text.startswith(b"<"):
        lowered = text.lower()
        if b"ogrvrtdatasource" in lowered:
            return "a GDAL virtual dataset (VRT XML)"
        if b"<kml" in lowered:
            return "KML"
        if b"<html" in lowered or b"<!doctype html" in lowered:
            return "an HTML page"
        return "an XML document"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "a ZIP archive (a zipped shapefile or KMZ is not imported)"
    if data.startswith(b"\x00\x00\x27\x0a"):
        return "an ESRI shapefile"
    if data.startswith(b"\x1f\x8b"):
        return "gzip-compressed data"
    if text.startswith(b"["):
        return "a JSON array, not a GeoJSON object"
    try:  # incremental: the cut at 4096 bytes may split a character
        codecs.getincrementaldecoder("utf-8")().decode(text)
    except UnicodeDecodeError:
        return "binary data of an unknown format"
    return "text that is not JSON (CSV, WKT or similar)"


def _shown(value: Any) -> str:
    """A value of the file quoted in a message: short, and printable."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


# GeoJSON ---------------------------------------------------------------------------------------


def _constant(name: str) -> float:
    """JSON has no NaN or Infinity; Python's parser reads them, and each feature says where."""
    return float(name.replace("Infinity", "inf"))


def _read_geojson(data: bytes) -> list[LayerFeature]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LayerError(f"the GeoJSON is not UTF-8 text (byte {exc.start})") from exc
    try:
        document = json.loads(text, parse_constant=_constant)
    except RecursionError as exc:
        raise LayerError("the JSON is nested too deeply to be a GeoJSON layer") from exc
    except json.JSONDecodeError as exc:
        raise LayerError(
            f"the file is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    except ValueError as exc:  # an integer literal of thousands of digits
        raise LayerError("the JSON holds a number too long to read") from exc
    if not isinstance(document, dict):
        raise UnsupportedFile("the file is JSON but not an object; send a GeoJSON object")
    kind = document.get("type")
    if kind == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list):
            raise LayerError("the FeatureCollection has no 'features' list")
    elif kind == "Feature":
        features = [document]
    elif kind in POLYGON_TYPES or kind in OTHER_GEOJSON_TYPES:
        raise LayerError(
            f"the file is a bare GeoJSON {kind}; send a Feature or a FeatureCollection whose "
            "features carry the code in their properties"
        )
    else:
        raise UnsupportedFile(
            f"the file is a JSON object of type {_shown(kind)}, not a GeoJSON FeatureCollection "
            "or Feature"
        )
    transform = _lon_lat_transform(_geojson_crs(document.get("crs")))
    read = [_geojson_feature(index, item, transform) for index, item in enumerate(features)]
    return _with_all_fields(read)


def _geojson_crs(member: Any) -> CRS | None:
    """The legacy (2008) ``crs`` member: a name or an EPSG code; a link is never followed."""
    if member is None:
        return None  # RFC 7946: lon/lat on WGS 84
    if not isinstance(member, dict) or not isinstance(member.get("properties"), dict):
        raise LayerError("the GeoJSON 'crs' member is not an object with 'properties'")
    kind, properties = member.get("type"), member["properties"]
    if kind == "name" and isinstance(properties.get("name"), str):
        return _named_crs(properties["name"])
    if kind == "EPSG" and isinstance(properties.get("code"), int | str):
        return _authority_crs("EPSG", str(properties["code"]), f"EPSG:{properties['code']}")
    if kind == "link":
        raise LayerError("the GeoJSON 'crs' is a link; links are not followed, name the CRS")
    raise LayerError(f"the GeoJSON 'crs' of type {_shown(kind)} is not understood")


_CRS_NAME = re.compile(
    r"(?:urn:ogc:def:crs:|https?://www\.opengis\.net/def/crs/)?"
    r"(?P<authority>EPSG|OGC)[:/](?:[0-9.]*[:/])?(?P<code>[A-Za-z0-9]{1,20})",
    re.IGNORECASE,
)


def _named_crs(name: str) -> CRS:
    match = _CRS_NAME.fullmatch(name.strip())
    if match is None:
        raise LayerError(
            "the GeoJSON 'crs' name is not an EPSG or OGC code (e.g. urn:ogc:def:crs:EPSG::4547"
            " or EPSG:4547); PROJ strings and WKT are not read"
        )
    return _authority_crs(match["authority"].upper(), match["code"], name)


def _authority_crs(authority: str, code: str, shown: str) -> CRS:
    try:
        return CRS.from_authority(authority, code.upper() if authority == "OGC" else code)
    except CRSError as exc:
        raise LayerError(f"the CRS {_shown(shown)} is unknown") from exc


def _geojson_feature(index: int, item: Any, transform: Transform | None) -> LayerFeature:
    where = f"features[{index}]"
    if not isinstance(item, dict) or item.get("type", "Feature") != "Feature":
        problem = Problem("feature_malformed", "each feature must be a GeoJSON Feature", where)
        return LayerFeature(index, {}, None, (problem,))
    problems: list[Problem] = []
    raw_properties = item.get("properties")
    properties: dict[str, Any] = {}
    if isinstance(raw_properties, dict):
        properties = _scalars(raw_properties.items(), where, problems)
    elif raw_properties is not None:
        problems.append(Problem("field_wrong_type", "properties must be an object or null", where))
    geometry = None
    raw = item.get("geometry")
    if raw is not None:
        try:
            geometry = _to_lon_lat(_geojson_geometry(raw, f"{where}.geometry"), transform, where)
        except _BadFeature as exc:
            problems.append(exc.problem)
    return LayerFeature(index, properties, geometry, tuple(problems))


def _geojson_geometry(value: Any, where: str) -> BaseGeometry:
    """A GeoJSON Polygon or MultiPolygon, its arrays checked before shapely builds it."""
    if not isinstance(value, dict):
        raise _BadFeature("geometry_not_object", "the geometry must be a GeoJSON object", where)
    kind = value.get("type")
    if kind not in POLYGON_TYPES:
        raise _BadFeature(
            "geometry_wrong_type",
            f"the geometry must be a Polygon or MultiPolygon, not {_shown(kind)}",
            where,
        )
    coordinates = value.get("coordinates")
    if not isinstance(coordinates, list) or not coordinates:
        raise _BadFeature("geometry_empty", "the geometry has no coordinates", where)
    polygons = [coordinates] if kind == "Polygon" else coordinates
    shell: list[Any] = []
    for polygon in polygons:
        if not isinstance(polygon, list) or not polygon:
            raise _BadFeature("geometry_malformed", "a polygon must be a list of rings", where)
        rings = []
        for ring in polygon:
            if not isinstance(ring, list):
                raise _BadFeature("geometry_malformed", "a ring must be a list of positions", where)
            rings.append([_position(p, where) for p in ring])
            if len(ring) < 4:
                raise _BadFeature(
                    "ring_too_short", "a linear ring needs at least four positions", where
                )
            if rings[-1][0] != rings[-1][-1]:
                raise _BadFeature(
                    "ring_not_closed", "a linear ring must end where it starts", where
                )
        shell.append(rings)
    geojson = {"type": "MultiPolygon", "coordinates": shell}
    if kind == "Polygon":
        geojson = {"type": "Polygon", "coordinates": shell[0]}
    try:
        return shape(geojson)
    except (ValueError, TypeError, shapely.errors.GEOSException) as exc:
        raise _BadFeature("geometry_malformed", "the geometry cannot be built", where) from exc


def _position(value: Any, where: str) -> tuple[float, float]:
    """[x, y] (a z or m after them is dropped: the register is 2D), finite numbers."""
    if not isinstance(value, list) or not 2 <= len(value) <= 4:
        raise _BadFeature("geometry_malformed", "a position must be [x, y]", where)
    if not all(isinstance(c, int | float) and not isinstance(c, bool) for c in value):
        raise _BadFeature("geometry_malformed", "a position must hold numbers only", where)
    try:
        x, y = float(value[0]), float(value[1])
    except OverflowError as exc:  # an integer beyond any float
        raise _BadFeature("coordinate_not_finite", "a coordinate is too large", where) from exc
    if not (math.isfinite(x) and math.isfinite(y)):
        raise _BadFeature("coordinate_not_finite", f"a coordinate is not finite: [{x}, {y}]", where)
    return (x, y)


# GeoPackage ------------------------------------------------------------------------------------

_ALLOWED_PRAGMAS = {"table_info"}


def _authorize(action: int, arg1: str | None, arg2: str | None, db: str | None, inner: Any) -> int:
    """Only this module's own reads run: a view or trigger (`inner`) reads nothing, no function
    runs, nothing is written or attached."""
    if inner is not None:
        return sqlite3.SQLITE_DENY
    if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ):
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and arg1 in _ALLOWED_PRAGMAS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _quote(name: str) -> str:
    """An SQLite identifier, quoted (names come from the file's own metadata tables)."""
    return '"' + name.replace('"', '""') + '"'


def _open_geopackage(path: Path) -> sqlite3.Connection:
    uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
    connection = sqlite3.connect(uri, uri=True)
    try:
        if hasattr(connection, "enable_load_extension"):
            connection.enable_load_extension(False)
        connection.execute("PRAGMA trusted_schema = OFF")
        connection.execute("PRAGMA query_only = ON")
        connection.set_authorizer(_authorize)
    except BaseException:
        connection.close()
        raise
    return connection


def _read_geopackage(path: Path, layer: str | None) -> list[LayerFeature]:
    try:
        connection = _open_geopackage(path)
    except sqlite3.Error as exc:
        raise LayerError("the SQLite file cannot be opened (it may be damaged)") from exc
    try:
        return _read_tables(connection, path, layer)
    except sqlite3.Error as exc:
        raise LayerError(
            "the GeoPackage cannot be read: it is damaged or uses what is not read here "
            "(views, virtual tables, SQL functions)"
        ) from exc
    finally:
        connection.close()


def _read_tables(
    connection: sqlite3.Connection, path: Path, layer: str | None
) -> list[LayerFeature]:
    with path.open("rb") as handle:
        header = handle.read(100)
    application_id = int.from_bytes(header[68:72], "big")
    objects = {
        name: (kind, sql or "")
        for kind, name, sql in connection.execute("SELECT type, name, sql FROM sqlite_master")
    }
    if application_id not in GEOPACKAGE_IDS and "gpkg_contents" not in objects:
        raise UnsupportedFile(
            "the file is an SQLite database but not a GeoPackage (no GeoPackage application id "
            "and no gpkg_contents table)"
        )
    base_tables = {
        name
        for name, (kind, sql) in objects.items()
        if kind == "table" and not sql.upper().lstrip().startswith("CREATE VIRTUAL")
    }
    for table in ("gpkg_contents", "gpkg_geometry_columns", "gpkg_spatial_ref_sys"):
        if table not in base_tables:
            raise LayerError(f"the GeoPackage has no {table} table")
    rows = connection.execute(
        "SELECT c.table_name, c.data_type, g.column_name, g.srs_id "
        "FROM gpkg_contents AS c LEFT JOIN gpkg_geometry_columns AS g "
        "ON g.table_name = c.table_name"
    ).fetchall()
    tables: dict[str, tuple[str, int]] = {}
    skipped: list[str] = []
    for table, data_type, column, srs_id in rows:
        if not isinstance(table, str):
            continue
        if data_type == "features" and isinstance(column, str) and table in base_tables:
            tables[table] = (column, int(srs_id) if isinstance(srs_id, int) else -1)
        else:
            skipped.append(table)
    if not tables:
        note = (
            f" (not read: {_names(skipped)}: attribute tables, views or tiles)" if skipped else ""
        )
        raise LayerError(f"the GeoPackage has no feature table with a geometry column{note}")
    if layer is not None:
        if layer not in tables:
            raise LayerError(
                f"the GeoPackage has no feature table {_shown(layer)}; it has {_names(tables)}"
            )
        chosen = layer
    elif len(tables) > 1:
        raise LayerError(
            f"the GeoPackage has {len(tables)} feature tables ({_names(tables)}); "
            "name the one to import with the form field 'layer' (--layer)"
        )
    else:
        chosen = next(iter(tables))
    geometry_column, srs_id = tables[chosen]
    transform = _lon_lat_transform(_geopackage_crs(connection, srs_id))
    return _read_features(connection, chosen, geometry_column, transform)


def _names(names: Iterable[str]) -> str:
    listed = sorted(names)
    shown = ", ".join(_shown(name) for name in listed[:SHOWN_NAMES])
    return shown + (f" and {len(listed) - SHOWN_NAMES} more" if len(listed) > SHOWN_NAMES else "")


def _geopackage_crs(connection: sqlite3.Connection, srs_id: int) -> CRS | None:
    """The table's CRS: by EPSG code when it has one, else its WKT definition."""
    if srs_id == 0:
        return None  # "undefined geographic": lon/lat, checked for range like any
    if srs_id == -1:
        raise LayerError(
            "the layer's CRS is 'undefined Cartesian' (srs_id -1): its coordinates cannot be "
            "placed on the earth; save the layer with a real CRS"
        )
    row = connection.execute(
        "SELECT organization, organization_coordsys_id, definition FROM gpkg_spatial_ref_sys "
        "WHERE srs_id = ?",
        (srs_id,),
    ).fetchone()
    if row is None:
        raise LayerError(f"the layer's CRS (srs_id {srs_id}) is not in gpkg_spatial_ref_sys")
    organization, code, definition = row
    if isinstance(organization, str) and organization.upper() == "EPSG" and isinstance(code, int):
        try:
            return CRS.from_epsg(code)
        except CRSError:
            pass  # not in this PROJ database: the definition may still say it
    if not isinstance(definition, str) or definition.strip().lower() in ("", "undefined"):
        raise LayerError(f"the layer's CRS (srs_id {srs_id}) is undefined")
    if any(text in definition.upper() for text in UNSAFE_CRS_TEXT):
        raise LayerError(
            f"the layer's CRS (srs_id {srs_id}) uses a PROJ string or an extension; only plain "
            "WKT or an EPSG code is read"
        )
    try:
        return CRS.from_wkt(definition)
    except CRSError as exc:
        raise LayerError(f"the layer's CRS (srs_id {srs_id}) is not valid WKT") from exc


def _read_features(
    connection: sqlite3.Connection, table: str, geometry_column: str, transform: Transform | None
) -> list[LayerFeature]:
    columns = connection.execute(f"PRAGMA table_info({_quote(table)})").fetchall()
    names = [str(column[1]) for column in columns]
    if geometry_column not in names:
        raise LayerError(f"the table {_shown(table)} has no column {_shown(geometry_column)}")
    # GDAL reads an INTEGER PRIMARY KEY as the feature id, not as a field.
    fid = next((str(c[1]) for c in columns if c[5] == 1 and str(c[2]).upper() == "INTEGER"), None)
    fields = [
        (str(c[1]), str(c[2]).upper()) for c in columns if str(c[1]) not in (fid, geometry_column)
    ]
    selected = [
        _quote(fid) if fid else "rowid",
        *(_quote(name) for name in (geometry_column, *(name for name, _ in fields))),
    ]
    query = f"SELECT {', '.join(selected)} FROM {_quote(table)}"  # noqa: S608 (quoted names)
    features = []
    for index, row in enumerate(connection.execute(query)):
        where = f"features[{index}]"
        problems: list[Problem] = []
        values = (
            (name, bool(value) if kind == "BOOLEAN" and isinstance(value, int) else value)
            for (name, kind), value in zip(fields, row[2:], strict=True)
        )
        properties = _scalars(values, where, problems)
        geometry = None
        if row[1] is not None:
            try:
                geometry = _to_lon_lat(
                    _geopackage_geometry(row[1], f"{where}.geometry"), transform, where
                )
            except _BadFeature as exc:
                problems.append(exc.problem)
        if problems:
            problems = [
                Problem(p.code, f"{p.message} (fid {row[0]})", p.location) for p in problems
            ]
        features.append(LayerFeature(index, properties, geometry, tuple(problems)))
    return features


#: Envelope type (flags bits 1-3) -> envelope bytes after the 8-byte header.
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def _geopackage_geometry(blob: Any, where: str) -> BaseGeometry:
    """A GeoPackage binary geometry: 'GP', version, flags, srs_id, envelope, then WKB."""
    if not isinstance(blob, bytes) or len(blob) < 8 or blob[:2] != b"GP":
        raise _BadFeature("geometry_malformed", "the geometry is not a GeoPackage geometry", where)
    flags = blob[3]
    if flags & 0x20:
        raise _BadFeature(
            "geometry_malformed", "extended GeoPackage geometries are not read", where
        )
    envelope = (flags >> 1) & 0x07
    if envelope not in _ENVELOPE_BYTES:
        raise _BadFeature("geometry_malformed", "the geometry header is damaged", where)
    try:
        with np.errstate(invalid="ignore"):  # NaN coordinates are reported, not warned about
            geometry = shapely.from_wkb(blob[8 + _ENVELOPE_BYTES[envelope] :])
    except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
        raise _BadFeature(
            "geometry_malformed", "the geometry's WKB cannot be read (or is a curve)", where
        ) from exc
    if not isinstance(geometry, BaseGeometry) or geometry.geom_type not in POLYGON_TYPES:
        kind = geometry.geom_type if isinstance(geometry, BaseGeometry) else "nothing"
        raise _BadFeature(
            "geometry_wrong_type",
            f"the geometry must be a Polygon or MultiPolygon, not {kind}",
            where,
        )
    return shapely.force_2d(geometry)


# Shared ----------------------------------------------------------------------------------------


def _scalars(
    items: Iterable[tuple[Any, Any]], where: str, problems: list[Problem]
) -> dict[str, Any]:
    """Properties as plain values; an object, an array, bytes, NaN or a lone surrogate is a
    problem naming the field."""
    properties: dict[str, Any] = {}
    for name, value in items:
        location = f"{where}.properties.{name}"
        if not _storable(name):
            problems.append(
                Problem("text_invalid", "a property name holds a lone surrogate", where)
            )
            continue
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(
                Problem("field_wrong_type", f"property {name!r} is not a finite number", location)
            )
            value = None
        elif isinstance(value, str) and not _storable(value):
            problems.append(
                Problem(
                    "text_invalid",
                    f"property {name!r} holds a lone surrogate (not valid Unicode)",
                    location,
                )
            )
            value = None
        elif value is not None and not isinstance(value, str | int | float | bool):
            problems.append(
                Problem(
                    "field_wrong_type",
                    f"property {name!r} must be a string, number, boolean or null, "
                    f"not {_kind_of(value)}",
                    location,
                )
            )
            value = None
        properties[name] = value
    return properties


def _kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bytes):
        return "binary data"
    return type(value).__name__


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _with_all_fields(features: list[LayerFeature]) -> list[LayerFeature]:
    """Every feature with every field of the layer (missing ones None), as GDAL reads it."""
    names: dict[str, None] = {}
    for feature in features:
        names.update(dict.fromkeys(feature.properties))
    return [
        LayerFeature(
            f.index,
            {name: f.properties.get(name) for name in names},
            f.geometry,
            f.problems,
        )
        for f in features
    ]


def _lon_lat_transform(crs: CRS | None) -> Transform | None:
    """A function from the file's coordinates to lon/lat, or None when they are lon/lat."""
    if crs is None:
        return None
    if crs.is_compound and crs.sub_crs_list:
        crs = crs.sub_crs_list[0]
    if crs.is_engineering or not (crs.is_geographic or crs.is_projected):
        raise LayerError(
            f"the layer's CRS ({_shown(crs.name)}) is of the kind {_shown(crs.type_name)}, not "
            "a geographic or projected CRS: its coordinates cannot be placed on the earth"
        )
    wgs84 = CRS.from_epsg(4326)
    if crs.equals(wgs84, ignore_axis_order=True) or crs.to_epsg() == 4326:
        return None
    try:
        transformer = Transformer.from_crs(crs, wgs84, always_xy=True)
    except (CRSError, ProjError) as exc:
        raise LayerError(
            f"the layer's CRS ({_shown(crs.name)}) cannot be transformed to lon/lat"
        ) from exc

    def apply(xy: Any) -> Any:
        # PROJ answers plausible lon/lat for points far outside a projection's domain (y = 1e9
        # in a Gauss-Kruger CRS comes back as 109.5E 1.8S): a point that does not come back
        # where it started is not on the earth.
        lon, lat = transformer.transform(xy[:, 0], xy[:, 1], errcheck=False)
        back = np.column_stack(transformer.transform(lon, lat, direction="INVERSE", errcheck=False))
        if not np.allclose(back, xy[:, :2], rtol=1e-7, atol=1e-6):
            raise ValueError("not invertible")
        return np.column_stack((lon, lat))

    return apply


def _to_lon_lat(geometry: BaseGeometry, transform: Transform | None, where: str) -> BaseGeometry:
    """The geometry in lon/lat; every coordinate finite and on the earth."""
    location = f"{where}.geometry"
    if transform is not None:
        try:
            geometry = shapely.transform(geometry, transform)
        except (ProjError, ValueError, shapely.errors.GEOSException) as exc:
            raise _BadFeature(
                "coordinates_out_of_range",
                "the coordinates cannot be transformed to lon/lat: they lie outside what the "
                "file's CRS can place on the earth (is the CRS right?)",
                location,
            ) from exc
    coordinates = shapely.get_coordinates(geometry)
    if not np.isfinite(coordinates).all():
        raise _BadFeature(
            "coordinate_not_finite",
            "a coordinate is not finite"
            + (" after transforming to lon/lat" if transform is not None else ""),
            location,
        )
    off = (np.abs(coordinates[:, 0]) > 180 + SLACK) | (np.abs(coordinates[:, 1]) > 90 + SLACK)
    if off.any():
        lon, lat = coordinates[int(np.argmax(off))][:2]
        raise _BadFeature(
            "coordinates_out_of_range",
            f"position [{lon:.6g}, {lat:.6g}] is outside lon -180..180 / lat -90..90"
            + (" after transforming to lon/lat" if transform is not None else "")
            + "; is the file's CRS right?",
            location,
        )
    return geometry
