"""The import report for people: names, before and after, area moved, a point for every
problem; and the same report as GeoJSON, to open in QGIS next to the layer.

The plan (`projections.imports.ImportPlan`) says what changes as lists of codes, which the API
kept from the start (`established`, `redrawn`, ...); this adds what a GIS officer needs to act
on it without looking codes up: `summary` (counts), `entries` (each changed unit with its code,
name and level, before and after: name, parent and geodesic area; area gained and lost; a
point), every problem and note with the units' `names` and a `location_point`, and `repairs`
when the plan made any. Nothing here reads the database: the plan carries what it read.
"""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry import Point, mapping
from shapely.geometry.base import BaseGeometry

from domain.errors import Problem
from domain.geometry import area_m2, point_on
from projections.imports import Entry, ImportPlan, UnitState

#: The `kind` of each feature of the GeoJSON report.
KINDS = ("change", "problem", "repair", "note")


def _m2(value: float) -> float:
    return round(value, 1)


def _state(state: UnitState | None, area: float | None = None) -> dict[str, Any] | None:
    if state is None:
        return None
    area = area_m2(state.geometry) if area is None else area
    return {"name": state.name, "parent": state.parent, "area_m2": _m2(area)}


def entry_dict(entry: Entry) -> dict[str, Any]:
    """One changed unit: what changes, before and after, the area moved, and where it is."""
    before, after = entry.before, entry.after
    same = before is not None and after is not None and after.geometry is before.geometry
    area_before = area_m2(before.geometry) if before is not None else None
    gained = lost = 0.0
    if before is not None and after is not None and "redrawn" in entry.changes:
        gained = area_m2(after.geometry.difference(before.geometry))
        lost = area_m2(before.geometry.difference(after.geometry))
    elif before is None and after is not None:
        gained = area_m2(after.geometry)
    elif after is None and before is not None:
        lost = area_m2(before.geometry)
    shown = after or before
    return {
        "code": entry.code,
        "name": shown.name if shown is not None else None,
        "level": entry.level,
        "changes": list(entry.changes),
        "feature": None if entry.feature is None else f"features[{entry.feature}]",
        "before": _state(before, area_before),
        "after": _state(after, area_before if same else None),
        "area_gained_m2": _m2(gained),
        "area_lost_m2": _m2(lost),
        "location_point": point_on(shown.geometry) if shown is not None else None,
    }


def people_report(
    plan: ImportPlan, problems: list[Problem], unchecked: list[str] | None = None
) -> dict[str, Any]:
    """The plan's report with what people need added (see the module's docstring).

    `problems` are the outcome's, already placed (`ImportPlan.place`); `unchecked` names the
    parents whose map-wide rules wait until the features' own problems are fixed.
    """
    report = plan.report()
    entries = [entry_dict(e) for e in plan.entries.values()]
    by_code = plan.by_code()
    report["level"] = plan.level
    report["problems"] = [p.as_dict() for p in problems]
    report["notes"] = [plan.place(n, by_code).as_dict() for n in plan.notes]
    report["summary"] = {
        "features": len(plan.features),
        "established": len(plan.established),
        "redrawn": len(plan.redrawn),
        "renamed": len(plan.renamed),
        "transferred": len(plan.transferred),
        "ended": len(plan.ended),
        "unchanged": plan.unchanged,
        "area_gained_m2": _m2(sum(e["area_gained_m2"] for e in entries)),
        "area_lost_m2": _m2(sum(e["area_lost_m2"] for e in entries)),
        "problems": len(problems),
        "notes": len(plan.notes),
        "repairs": len(report["repairs"]),
        "not_checked": list(unchecked or []),
    }
    report["entries"] = entries
    return report


def _feature(where: BaseGeometry | dict[str, Any] | None, **properties: Any) -> dict[str, Any]:
    geometry = Point(where["lon"], where["lat"]) if isinstance(where, dict) else where
    shape = None
    if geometry is not None and not geometry.is_empty:
        shape = mapping(geometry)
    return {"type": "Feature", "properties": properties, "geometry": shape}


def _area_or_point(geometry: BaseGeometry | None, point: dict[str, float] | None) -> Any:
    """The problem's area where it has one (an overlap, a gap), else its point."""
    if geometry is not None and not geometry.is_empty:
        polygons = [p for p in shapely.get_parts(geometry) if p.geom_type.endswith("Polygon")]
        if polygons:
            return shapely.multipolygons(polygons) if len(polygons) > 1 else polygons[0]
    return point


def geojson_report(
    plan: ImportPlan, problems: list[Problem], report: dict[str, Any]
) -> dict[str, Any]:
    """The report as a GeoJSON FeatureCollection (lon/lat, RFC 7946), one feature per change
    (its geometry after; an ended unit's before), problem (its area or point), repair (the
    area changed) and note (a point), each with `kind` and readable properties. The JSON
    report's other fields (summary, mode, applied, ...) ride along as foreign members."""
    out: list[dict[str, Any]] = []
    for entry, shown in zip(plan.entries.values(), report["entries"], strict=True):
        state = entry.after or entry.before
        before, after = shown["before"] or {}, shown["after"] or {}
        out.append(
            _feature(
                state.geometry if state is not None else None,
                kind="change",
                what=", ".join(shown["changes"]),
                code=shown["code"],
                name=shown["name"],
                level=shown["level"],
                feature=shown["feature"],
                message=describe_entry(shown),
                name_before=before.get("name"),
                name_after=after.get("name"),
                parent_before=before.get("parent"),
                parent_after=after.get("parent"),
                area_before_m2=before.get("area_m2"),
                area_after_m2=after.get("area_m2"),
                area_gained_m2=shown["area_gained_m2"],
                area_lost_m2=shown["area_lost_m2"],
            )
        )
    for problem, shown in zip(problems, report["problems"], strict=True):
        out.append(_marker("problem", shown, _area_or_point(problem.geometry, _point(shown))))
    for repair, shown in zip(plan.repairs, report["repairs"], strict=True):
        geometry = getattr(repair, "geometry", None)
        out.append(_marker("repair", shown, _area_or_point(geometry, _point(shown))))
    for shown in report["notes"]:
        out.append(_marker("note", shown, _point(shown)))
    members = {k: v for k, v in report.items() if k not in ("entries", "problems", "notes")}
    members.pop("repairs", None)
    return {"type": "FeatureCollection", **members, "features": out}


def _point(shown: dict[str, Any]) -> dict[str, float] | None:
    point = shown.get("location_point")
    if point is None and isinstance(shown.get("location"), dict):
        point = shown["location"]  # a repair's point
    return point if isinstance(point, dict) and "lon" in point else None


def _marker(kind: str, shown: dict[str, Any], geometry: Any) -> dict[str, Any]:
    units = shown.get("units") or ([shown["code"]] if kind == "repair" else [])
    names = shown.get("names") or ([shown.get("name")] if kind == "repair" else [])
    return _feature(
        geometry,
        kind=kind,
        what=shown.get("repair") if kind == "repair" else shown.get("code"),
        code=units[0] if units else None,
        name=names[0] if names else None,
        units=", ".join(units),
        names=", ".join(n or "?" for n in names),
        message=shown.get("message"),
        location=shown.get("location") if isinstance(shown.get("location"), str) else None,
        area_m2=shown.get("area_m2"),
    )


def describe_entry(entry: dict[str, Any]) -> str:
    """One line for a changed unit: what changes, from what to what."""
    before, after = entry["before"] or {}, entry["after"] or {}
    parts: list[str] = []
    for change in entry["changes"]:
        if change == "redrawn":
            parts.append(
                f"redrawn ({before.get('area_m2', 0):,.0f} → {after.get('area_m2', 0):,.0f} m², "
                f"+{entry['area_gained_m2']:,.0f} −{entry['area_lost_m2']:,.0f})"
            )
        elif change == "renamed":
            parts.append(f"renamed {before.get('name')!r} → {after.get('name')!r}")
        elif change == "transferred":
            parts.append(f"transferred {before.get('parent')} → {after.get('parent')}")
        elif change == "established":
            parent = after.get("parent") or "-"
            parts.append(f"established under {parent} ({after.get('area_m2', 0):,.0f} m²)")
        elif change == "ended":
            parts.append(f"ended ({before.get('area_m2', 0):,.0f} m²)")
        else:
            parts.append(change)
    return "; ".join(parts)


def describe_problem(problem: dict[str, Any]) -> str:
    """One line for a problem (or note): code, unit and name, where, m², what."""
    units = problem.get("units") or []
    names = problem.get("names") or []
    who = " ".join(
        f"{u} {n}" if n else u for u, n in zip(units, names + [None] * len(units), strict=False)
    )
    if not who and problem.get("name"):
        who = f"(no code) {problem['name']}"
    point = problem.get("location_point")
    where = problem.get("location") or ""
    if point:
        where = f"{where} @ {point['lon']:.6f},{point['lat']:.6f}".strip()
    area = problem.get("area_m2")
    parts = [problem["code"], who or "-", where or "-"]
    if area is not None:
        parts.append(f"{area:,.1f} m²")
    line = "  ".join(parts) + f"  {problem['message']}"
    hint = problem.get("hint")
    return f"{line}  (hint: {hint})" if hint else line
