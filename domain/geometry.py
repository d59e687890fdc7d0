"""Territory geometry: parsing, validation, the stored precision, areas and the compact form
stored in events.

Geometry is validated, never repaired: a self-intersecting ring is a mistake an editor must
see (with shapely's reason and location), not something to hide with `make_valid`. Reaching
the stored precision is the service's own doing, though, so it must never turn a valid
geometry invalid: where rounding each vertex would (a hole within 1e-8 degrees of its shell, a
sliver spike), the geometry is snap-rounded instead (GEOS snap-rounding keeps it valid) and
the change is reported (`snap_to_grid`, `snap_layer`).

Areas are geodesic (on the WGS84 ellipsoid, pyproj's `Geod`), the figure PostGIS gives for
`ST_Area(geom::geography)`: correct in any country, without choosing a national CRS.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from domain.errors import Problem

#: Coordinates are stored to 1e-7 degrees (about 1 cm): enough for any boundary, and it makes
#: the stored bytes independent of floating-point noise in the editor's software.
COORDINATE_DECIMALS = 7
GRID_SIZE = 10.0**-COORDINATE_DECIMALS

#: The ellipsoid every area is measured on (as PostGIS measures geography).
GEOD = Geod(ellps="WGS84")

MAX_VERTICES = 1_000_000


class GeometryError(ValueError):
    """A geometry that cannot be a unit's territory; `problem` says why and where."""

    def __init__(self, problem: Problem):
        self.problem = problem
        super().__init__(problem.message)


def parse_territory(value: Any, location: str) -> MultiPolygon:
    """Turn a GeoJSON Polygon or MultiPolygon (lon/lat) into a valid MultiPolygon.

    Raises `GeometryError` naming `location` for anything else: wrong type, coordinates out of
    range or not finite, empty or invalid rings.
    """
    if not isinstance(value, dict):
        raise _error("geometry_not_object", "geometry must be a GeoJSON object", location)
    kind = value.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        raise _error(
            "geometry_wrong_type",
            f"geometry must be a Polygon or MultiPolygon, not {kind!r}",
            location,
        )
    coordinates = value.get("coordinates")
    if not isinstance(coordinates, list | tuple) or not coordinates:
        raise _error("geometry_empty", "geometry has no coordinates", location)
    _check_positions(coordinates, location, depth=3 if kind == "Polygon" else 4)
    _check_rings(coordinates if kind == "MultiPolygon" else [coordinates], location)
    try:
        geometry = shape(value)
    except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException) as exc:
        raise _error("geometry_malformed", f"geometry cannot be read: {exc}", location) from exc
    return as_valid_territory(geometry, location)


def as_valid_territory(geometry: BaseGeometry, location: str) -> MultiPolygon:
    """Check a shapely geometry is a non-empty valid (Multi)Polygon and bring it to the stored
    precision without breaking it (see `snap_to_grid`)."""
    return snap_to_grid(geometry, location)[0]


@dataclass(frozen=True)
class Snap:
    """What reaching the stored precision did to a geometry rounding alone would break."""

    reason: str
    area_changed_m2: float

    @property
    def message(self) -> str:
        """What happened, for the import report."""
        return (
            f"rounding each vertex to {COORDINATE_DECIMALS} decimals would make it invalid "
            f"({self.reason}); snap-rounded to the grid instead, which keeps it valid "
            f"(area changed by {self.area_changed_m2:.3f} m²)"
        )


def snap_to_grid(geometry: BaseGeometry, location: str) -> tuple[MultiPolygon, Snap | None]:
    """The geometry at the stored precision, valid, and what snapping did (None: only rounded).

    Rounding every vertex keeps coincident vertices coincident, so neighbours stay neighbours,
    and is what the register always did: it stays the way whenever its result is valid, so the
    stored bytes of every geometry accepted before are unchanged. A geometry valid as given that
    rounding would break is snap-rounded instead (`shapely.set_precision`, mode "valid_output":
    vertices still land on the grid, edges are noded where they meet). Raises `GeometryError`
    for a geometry that is invalid both as given and rounded, or empty at the stored precision.
    """
    geometry = _as_multipolygon(geometry, location)
    if geometry.is_empty:
        raise _error("geometry_empty", "geometry is empty", location)
    if shapely.get_num_coordinates(geometry) > MAX_VERTICES:
        raise _error(
            "geometry_too_large", f"geometry has more than {MAX_VERTICES} vertices", location
        )
    rounded = round_coordinates(geometry)
    snap = None
    if not rounded.is_valid:
        if not geometry.is_valid:
            reason = explain_validity(geometry)
            raise GeometryError(
                Problem(
                    "geometry_invalid",
                    f"geometry is not valid: {reason}",
                    location,
                    extra=_reason_point(reason),
                )
            )
        reason = explain_validity(rounded)
        rounded = _as_multipolygon(
            shapely.normalize(shapely.set_precision(geometry, GRID_SIZE, mode="valid_output")),
            location,
        )
        snap = Snap(reason, abs(area_m2(rounded) - area_m2(geometry)))
    if rounded.is_empty or rounded.area == 0:
        raise _error(
            "geometry_empty",
            f"geometry has zero area at the stored precision ({GRID_SIZE:g} degrees)",
            location,
        )
    return rounded, snap


def snap_layer(
    geometries: list[BaseGeometry], locations: list[str]
) -> list[tuple[MultiPolygon, Snap | None] | GeometryError]:
    """`snap_to_grid` for every feature of a layer at once, so shared edges stay shared.

    Rounding vertices alone treats neighbours alike. Where a feature had to be snap-rounded,
    the noding may have put new vertices on an edge it shares with a neighbour (a vertex of its
    own lies within a grid cell of that edge), and a shared vertex half-way between two grid
    points may have gone the other way: each neighbour within a grid cell of it then takes the
    same vertices on its copy of the edge (`shapely.snap` to the snapped feature, within 1.5
    grid cells), so no sliver opens or overlaps between them. A neighbour that would not stay
    valid so keeps its rounded form (the two then differ by a grid cell at most along that edge).
    """
    out: list[tuple[MultiPolygon, Snap | None] | GeometryError] = []
    for geometry, location in zip(geometries, locations, strict=True):
        try:
            out.append(snap_to_grid(geometry, location))
        except GeometryError as exc:
            out.append(exc)
    snapped = [i for i, r in enumerate(out) if not isinstance(r, GeometryError) and r[1]]
    if not snapped:
        return out
    good = [i for i, r in enumerate(out) if not isinstance(r, GeometryError)]
    tree = shapely.STRtree([_geometry_of(out[i]) for i in good])
    for i in snapped:
        anchor = _geometry_of(out[i])
        # Within a grid cell, not just touching: GEOS rounds half-way values up where numpy
        # rounds them to even, so a vertex shared with a rounded neighbour may now lie one
        # cell off (sources with 8 decimals have such values); the snap brings them together.
        for j in tree.query(anchor, predicate="dwithin", distance=GRID_SIZE * 1.5):
            k = good[int(j)]
            if k == i:
                continue
            neighbour, note = out[k]  # type: ignore[misc]
            moved = shapely.snap(neighbour, anchor, GRID_SIZE * 1.5)
            if isinstance(moved, Polygon):
                moved = MultiPolygon([moved])
            if (
                isinstance(moved, MultiPolygon)
                and moved.is_valid
                and not moved.equals_exact(neighbour, 0)
                and round_coordinates(moved).equals_exact(moved, 0)
            ):
                out[k] = (moved, note)
    return out


def round_coordinates(geometry: MultiPolygon) -> MultiPolygon:
    """Every vertex rounded to the stored precision (see `COORDINATE_DECIMALS`)."""
    rounded = shapely.transform(geometry, lambda xy: xy.round(COORDINATE_DECIMALS))
    assert isinstance(rounded, MultiPolygon)
    return rounded


def _geometry_of(result: tuple[MultiPolygon, Snap | None] | GeometryError) -> MultiPolygon:
    assert not isinstance(result, GeometryError)
    return result[0]


def _as_multipolygon(geometry: BaseGeometry, location: str) -> MultiPolygon:
    if isinstance(geometry, Polygon):
        return MultiPolygon([geometry]) if not geometry.is_empty else MultiPolygon()
    if isinstance(geometry, MultiPolygon):
        return geometry
    raise _error(
        "geometry_wrong_type",
        f"geometry must be a Polygon or MultiPolygon, not {geometry.geom_type}",
        location,
    )


def _check_positions(node: Any, location: str, depth: int) -> None:
    """Walk GeoJSON coordinate arrays checking every position is a finite lon/lat in range."""
    if depth == 1:
        if (
            not isinstance(node, list | tuple)
            or len(node) < 2
            or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in node)
        ):
            raise _error("geometry_malformed", f"position {node!r} is not [lon, lat]", location)
        lon, lat = float(node[0]), float(node[1])
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise _error("coordinate_not_finite", f"position {node!r} is not finite", location)
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise _error(
                "coordinates_out_of_range",
                f"position {node!r} is outside lon -180..180 / lat -90..90 "
                "(coordinates are lon/lat in degrees)",
                location,
            )
        return
    if not isinstance(node, list | tuple) or not node:
        raise _error("geometry_malformed", "coordinates are not nested arrays", location)
    for child in node:
        _check_positions(child, location, depth - 1)


def _check_rings(polygons: Any, location: str) -> None:
    """RFC 7946: every linear ring has at least four positions and ends where it starts."""
    for polygon in polygons:
        if not polygon:
            raise _error("geometry_empty", "a polygon has no rings", location)
        for ring in polygon:
            if len(ring) < 4:
                raise _error(
                    "ring_too_short", "a linear ring needs at least four positions", location
                )
            if list(ring[0][:2]) != list(ring[-1][:2]):
                raise _error(
                    "ring_not_closed",
                    f"a linear ring must end where it starts ({list(ring[0][:2])})",
                    location,
                )


def to_wkb_hex(geometry: BaseGeometry) -> str:
    """The form stored in events: hex WKB, compact and exact."""
    return str(shapely.to_wkb(geometry, hex=True, output_dimension=2))


@lru_cache(maxsize=4096)
def from_wkb_hex(data: str) -> MultiPolygon:
    """Inverse of `to_wkb_hex`, cached because many versions share one geometry."""
    geometry = shapely.from_wkb(data)
    assert isinstance(geometry, MultiPolygon)
    return geometry


#: Edges longer than this (degrees) are densified before measuring: stored edges are straight
#: in lon/lat, a geodesic between the same ends is not, and a sliver along a long edge (a
#: vertex next to a 3.6 km edge, within a centimetre) measured between the geodesic and the
#: vertex would be hundreds of m²; at 0.001 degrees (about 100 m) the two differ by less than a
#: millimetre, and the sliver measures its true area. A large geometry (a whole unit) needs no
#: such care: its edges are cut into about `DENSIFY_PARTS` pieces per side of a square of its
#: area instead, which keeps its area within about 1e-6 of the true one (a 1-degree square:
#: 0.03-degree pieces, 130 vertices, not 4,000) while slivers keep 0.001 degrees.
DENSIFY_DEGREES = 0.001
DENSIFY_PARTS = 30


def area_m2(geometry: BaseGeometry) -> float:
    """Geodesic area in square metres of the polygons of a lon/lat geometry (lines and points
    of an overlay result have none), as PostGIS `ST_Area(geom::geography)`.

    One call of pyproj's geodesic routine (C) per geometry, on one coordinate array out of
    GEOS: shells counter-clockwise and holes clockwise (`orient_polygons`), the rings joined
    through the first vertex there and back (the two bridging edges cancel), so the signed
    area is shells minus holes. Measured in the demo's load, it costs about what projecting
    to a national CRS did, and far less than a call per ring.
    """
    if geometry.is_empty or (planar := geometry.area) == 0:
        return 0.0
    spacing = max(DENSIFY_DEGREES, math.sqrt(planar) / DENSIFY_PARTS)
    parts = shapely.get_parts(geometry)
    kinds = shapely.get_type_id(parts)
    while (kinds >= 4).any():  # the collections of an overlay result
        parts = np.concatenate([parts[kinds < 4], shapely.get_parts(parts[kinds >= 4])])
        kinds = shapely.get_type_id(parts)
    dense = shapely.orient_polygons(shapely.segmentize(parts[kinds == 3], spacing))
    coords, ring_of = shapely.get_coordinates(shapely.get_rings(dense), return_index=True)
    if len(coords) == 0:
        return 0.0
    if ring_of[-1] > 0:
        anchor = coords[:1]
        rings = np.split(coords, np.flatnonzero(np.diff(ring_of)) + 1)
        coords = np.concatenate([part for ring in rings for part in (ring, anchor)])
    area, _ = GEOD.polygon_area_perimeter(coords[:, 0], coords[:, 1])
    return max(float(area), 0.0)


def point_on(geometry: BaseGeometry | None) -> dict[str, float] | None:
    """A point on a geometry's area (on a line or point when it has none), as
    ``{"lon", "lat"}`` to 7 decimals: where an editor goes to see a problem or a change.
    None for an empty or missing geometry, or one GEOS cannot place a point on (invalid)."""
    if geometry is None or geometry.is_empty:
        return None
    try:
        polygons = [p for p in shapely.get_parts(geometry) if p.geom_type.endswith("Polygon")]
        # The largest piece: an overlay result may be a long sliver with crumbs beside it.
        target = max(polygons, key=lambda p: p.area) if polygons else geometry
        point = target.representative_point()
    except shapely.errors.GEOSException:
        point = geometry.envelope.centroid
    if point.is_empty:
        return None
    return {"lon": round(point.x, COORDINATE_DECIMALS), "lat": round(point.y, COORDINATE_DECIMALS)}


def point_extra(geometry: BaseGeometry | None) -> dict[str, Any]:
    """``{"location_point": ...}`` for a problem's `extra` (empty when there is no point)."""
    point = point_on(geometry)
    return {} if point is None else {"location_point": point}


def _reason_point(reason: str) -> dict[str, Any]:
    """The point GEOS names in a validity reason ("Self-intersection[114.03 22.52]")."""
    match = re.search(r"\[(-?[0-9.eE+-]+) (-?[0-9.eE+-]+)", reason)
    if match is None:
        return {}
    try:
        lon, lat = float(match.group(1)), float(match.group(2))
    except ValueError:
        return {}
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return {}
    return {"location_point": {"lon": round(lon, COORDINATE_DECIMALS), "lat": round(lat, 7)}}


def _error(code: str, message: str, location: str) -> GeometryError:
    return GeometryError(Problem(code=code, message=message, location=location))
