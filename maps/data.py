"""What the map pages read from the projections, as plain values.

The pages depend on the `MapSource` protocol only, so they can be rendered without a database
(the asset tests do); `ReadModelSource` answers it from the read model.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Protocol

from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import polylabel

from projections.features import FeatureQuery, FeatureStore
from projections.queries import ReadModelQueries

Bounds = tuple[float, float, float, float]
#: Shenzhen, for an empty register (west, south, east, north).
DEFAULT_BOUNDS: Bounds = (113.75, 22.4, 114.62, 22.86)
#: The most versions of one unit, and the most lineage relatives, drawn on a unit's page.
MAX_VERSIONS = 60
MAX_RELATIVES = 40


class MapSource(Protocol):
    """Everything the pages need to know."""

    def count(self, day: dt.date, level: str) -> int:
        """How many units of `level` are live on `day`."""

    def labels(self, day: dt.date, level: str) -> list[dict[str, Any]]:
        """Units of `level` on `day` with a point inside each to put its name at."""

    def bounds(self, day: dt.date, level: str) -> Bounds | None:
        """The extent of the units of `level` on `day` (None: no unit)."""

    def changes(self, before: dt.date, after: dt.date) -> dict[str, list[dict[str, Any]]]:
        """What differs between the map on `before` and on `after` (as ``/v1/changes``)."""

    def change_dates(self) -> list[dict[str, Any]]:
        """Dates on which change sets took effect, latest first, with how many and why."""

    def exists(self, code: str) -> bool:
        """Whether the code was ever registered."""

    def versions(self, code: str, levels: tuple[str, ...]) -> list[dict[str, Any]]:
        """Every version of a unit as GeoJSON Features (simplified), oldest first."""

    def lineage(self, code: str) -> dict[str, list[dict[str, Any]]]:
        """Predecessors and successors (as ``/v1/units/{code}/lineage``)."""

    def history(self, code: str) -> list[dict[str, Any]]:
        """Every change to the unit (as ``/v1/units/{code}/history``)."""


def compact(
    geometry: dict[str, Any] | str | None, tolerance: float | None = None
) -> dict[str, Any] | None:
    """A GeoJSON geometry simplified within `tolerance` degrees (default: a 1/1500 of its extent,
    below a pixel when it fills the screen), with 5 decimals (about 1 m)."""
    if geometry is None:
        return None
    if isinstance(geometry, str):
        geometry = json.loads(geometry)
    shaped = shape(geometry)
    if tolerance is None:
        west, south, east, north = shaped.bounds
        tolerance = max(0.00002, max(east - west, north - south) / 1500)
    simplified = shaped.simplify(tolerance, preserve_topology=True)
    return {
        "type": simplified.geom_type,
        "coordinates": _rounded(mapping(simplified)["coordinates"]),
    }


def _rounded(value: Any) -> Any:
    if isinstance(value, float | int):
        return round(float(value), 5)
    return [_rounded(v) for v in value]


def label_point(geometry: BaseGeometry) -> tuple[float, float]:
    """A point well inside the largest part of a (Multi)Polygon: (lon, lat)."""
    parts = list(getattr(geometry, "geoms", [geometry]))
    largest = max(parts, key=lambda part: part.area)
    try:
        point = polylabel(largest, tolerance=0.0005)
    except Exception:  # degenerate rings: fall back to any interior point
        point = largest.representative_point()
    return round(point.x, 5), round(point.y, 5)


class ReadModelSource:
    """`MapSource` over the projections' queries."""

    def __init__(self, queries: ReadModelQueries, features: FeatureStore) -> None:
        self.queries = queries
        self.features = features

    def count(self, day: dt.date, level: str) -> int:
        """How many units of `level` are live on `day`."""
        return self.queries.units_on(day, level=level, geometry=False, limit=1).total

    def labels(self, day: dt.date, level: str) -> list[dict[str, Any]]:
        """Units of `level` on `day` with a point inside each to put its name at."""
        page = self.queries.units_on(day, level=level, geometry=True, simplify=0.0005)
        out = []
        for unit in page.items:
            geometry = unit["geometry"]
            if isinstance(geometry, str):
                geometry = json.loads(geometry)
            lon, lat = label_point(shape(geometry))
            out.append(
                {
                    "code": unit["code"],
                    "name": unit["name"],
                    "level": unit["level"],
                    "parent": unit["parent"],
                    "lon": lon,
                    "lat": lat,
                }
            )
        return out

    def bounds(self, day: dt.date, level: str) -> Bounds | None:
        """The extent of the units of `level` on `day` (None: no unit)."""
        page = self.queries.units_on(day, level=level, geometry=True, simplify=0.01)
        boxes = [shape(u["geometry"]).bounds for u in page.items if u["geometry"]]
        if not boxes:
            return None
        return (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )

    def changes(self, before: dt.date, after: dt.date) -> dict[str, list[dict[str, Any]]]:
        """What differs between the map on `before` and on `after`."""
        return self.queries.changes(before, after)

    def change_dates(self) -> list[dict[str, Any]]:
        """Dates on which change sets took effect, latest first, with how many and why."""
        dates: dict[dt.date, dict[str, Any]] = {}
        for change_set in self.queries.change_sets(limit=2000).items:
            entry = dates.setdefault(
                change_set["effective"],
                {"date": change_set["effective"], "change_sets": 0, "reason": change_set["reason"]},
            )
            entry["change_sets"] += 1
        return sorted(dates.values(), key=lambda e: e["date"], reverse=True)

    def exists(self, code: str) -> bool:
        """Whether the code was ever registered."""
        return self.queries.unit_exists(code)

    def versions(self, code: str, levels: tuple[str, ...]) -> list[dict[str, Any]]:
        """Every version of a unit as GeoJSON Features (simplified), oldest first."""
        everything = FeatureQuery(period=(None, None), limit=MAX_VERSIONS)
        for level in levels:
            features, _ = self.features.items(level, everything, code=code)
            if features:
                for feature in features:
                    feature["geometry"] = compact(feature["geometry"])
                return sorted(features, key=lambda f: str(f["properties"]["valid_from"]))
        return []

    def lineage(self, code: str) -> dict[str, list[dict[str, Any]]]:
        """Predecessors and successors, transitively."""
        return self.queries.lineage(code)

    def history(self, code: str) -> list[dict[str, Any]]:
        """Every change to the unit, in the order recorded."""
        return self.queries.unit_history(code)
