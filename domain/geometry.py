"""Territory geometry: parsing, validation and the compact form stored in events.

Geometry is validated, never repaired: a self-intersecting ring is a mistake an editor must
see (with shapely's reason and location), not something to hide with `make_valid`.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from domain.errors import Problem

#: Metric CRS for areas and tolerances; CGCS2000 / 3-degree Gauss-Kruger CM 114E suits Shenzhen.
DEFAULT_METRIC_CRS = "EPSG:4547"

#: Coordinates are stored to 1e-7 degrees (about 1 cm): enough for any boundary, and it makes
#: the stored bytes independent of floating-point noise in the editor's software.
COORDINATE_DECIMALS = 7

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
    """Check a shapely geometry is a non-empty valid (Multi)Polygon and round its coordinates."""
    if isinstance(geometry, Polygon):
        geometry = MultiPolygon([geometry])
    if not isinstance(geometry, MultiPolygon):
        raise _error(
            "geometry_wrong_type",
            f"geometry must be a Polygon or MultiPolygon, not {geometry.geom_type}",
            location,
        )
    if geometry.is_empty:
        raise _error("geometry_empty", "geometry is empty", location)
    if shapely.get_num_coordinates(geometry) > MAX_VERTICES:
        raise _error(
            "geometry_too_large", f"geometry has more than {MAX_VERTICES} vertices", location
        )
    geometry = round_coordinates(geometry)
    if not geometry.is_valid:
        raise _error(
            "geometry_invalid",
            f"geometry is not valid: {explain_validity(geometry)}",
            location,
        )
    if geometry.area == 0:
        raise _error("geometry_empty", "geometry has zero area", location)
    return geometry


def round_coordinates(geometry: MultiPolygon) -> MultiPolygon:
    """Snap coordinates to the stored precision (see `COORDINATE_DECIMALS`)."""
    rounded = shapely.transform(geometry, lambda xy: xy.round(COORDINATE_DECIMALS))
    assert isinstance(rounded, MultiPolygon)
    return rounded


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


@lru_cache(maxsize=8)
def _to_metric(metric_crs: str) -> Transformer:
    return Transformer.from_crs("EPSG:4326", metric_crs, always_xy=True)


#: Edges longer than this (degrees) are densified before projecting: a straight edge in
#: lon/lat is a curve in a metric CRS, and two polygons sharing part of a long edge would
#: otherwise seem to overlap or leave gaps of square kilometres. At 0.005 degrees (500 m) the
#: chords still sag by millimetres, so a sliver of 0.01 m² along a 3.6 km boundary edge (a
#: vertex inserted next to the edge, within a centimetre) measured 1.2 m²; at 0.001 degrees it
#: measures its true area.
DENSIFY_DEGREES = 0.001


def metric(geometry: BaseGeometry, metric_crs: str = DEFAULT_METRIC_CRS) -> BaseGeometry:
    """The geometry in a metric CRS, for areas in m² and tolerances in metres."""
    transformer = _to_metric(metric_crs)
    dense = shapely.segmentize(geometry, DENSIFY_DEGREES)
    return shapely.transform(dense, lambda xy: _stack(transformer.transform(xy[:, 0], xy[:, 1])))


def area_m2(geometry: BaseGeometry, metric_crs: str = DEFAULT_METRIC_CRS) -> float:
    """Area in square metres in the metric CRS."""
    return float(metric(geometry, metric_crs).area)


def _stack(xy: tuple[Any, Any]) -> Any:
    return np.column_stack(xy)


def _error(code: str, message: str, location: str) -> GeometryError:
    return GeometryError(Problem(code=code, message=message, location=location))
