"""Opt-in repair of territories, each repair reported: nothing is changed silently.

Real layers do not nest to the register's tolerance: two sources disagree along shared edges,
a child reaches a little beyond its parent's coastline, a ring crosses itself. The register
refuses such geometry (`domain.invariants`, `domain.geometry`), which is right unless the
editor asks for a repair. The repairs an import or a change set may ask for:

- `make_valid`: an invalid polygon becomes shapely's `make_valid` of it (method "structure"),
  keeping only its polygonal parts (a collapsed spike or a line goes);
- `clip_to_parent`: a child loses whatever lies outside its parent on the effective date;
- `snap_to_neighbours`: a child's small disagreements with its family are closed, so the
  family's rules hold: an overhang beyond the parent's edge is cut off, an overlap with a
  sibling is left to the sibling (one on the map, or one earlier in code order), a gap
  between the parent's edge and its children is given to the child sharing the longest edge
  with it. "Small" is a piece narrower than `SNAP_WIDTH_M` (what snapping the edges onto each
  other would close) or, with `sliver_m2`, any piece of at most that many geodesic m².

In a change set the repairs reach every territory it sets (`repair_change_set`): an
establish's or a redraw's, the grids of a `lay_grids`/`regrid` (their community the parent),
the parts of a `split` (the unit split the parent). `repairable_units` is the same rule for
which problems a hint may offer a repair for.

Each repair is a `Repair`: the unit, what was done, the m² changed and a point on the area
changed (and that area, for the GeoJSON report). Pieces larger than asked for are left alone:
the invariants then report them as before. Pure shapely: no web, no SQL.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from domain.commands import ChangeSetRequest, Establish, LayGrids, Redraw, Split
from domain.errors import Problem
from domain.geometry import GRID_SIZE, area_m2, from_wkb_hex, round_coordinates
from domain.workspace import Store

#: The repairs an editor may ask for, in the order they are applied.
REPAIRS = ("make_valid", "clip_to_parent", "snap_to_neighbours")

#: A piece of overlap, overhang or gap narrower than this (metres) is closed by
#: `snap_to_neighbours` whatever its area: snapping the two edges onto each other would close it.
SNAP_WIDTH_M = 1.0

#: Metres per degree of latitude (the narrow-piece test needs only a rough figure).
_METRES_PER_DEGREE = 111_320.0


class RepairOptionsError(ValueError):
    """Repair options that cannot be used; `code` is the API error code, `field` the input."""

    def __init__(self, code: str, message: str, field: str):
        self.code = code
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class RepairOptions:
    """Which repairs an import or a change set asks for (none by default)."""

    make_valid: bool = False
    clip_to_parent: bool = False
    snap_to_neighbours: bool = False
    #: With `snap_to_neighbours`: gaps, overlaps and overhangs of at most this many m² are
    #: closed (0: only those narrower than `SNAP_WIDTH_M`).
    sliver_m2: float = 0.0

    @classmethod
    def of(cls, repairs: Iterable[str] = (), sliver_m2: float | str | None = 0.0) -> RepairOptions:
        """From the form, the body or the command line: names repeated or comma-separated.

        Raises `RepairOptionsError` for a name not in `REPAIRS` ("repair_unknown") or a
        `sliver_m2` that is not a finite number >= 0 ("sliver_m2_invalid").
        """
        names = [n.strip().lower() for item in repairs for n in str(item).split(",")]
        names = [n for n in names if n]
        unknown = [n for n in names if n not in REPAIRS]
        if unknown:
            raise RepairOptionsError(
                "repair_unknown",
                f"unknown repair {unknown[0][:40]!r}: the repairs are {', '.join(REPAIRS)}",
                "repair",
            )
        try:
            sliver = 0.0 if sliver_m2 is None or sliver_m2 == "" else float(sliver_m2)
        except (TypeError, ValueError):
            sliver = math.nan
        if not math.isfinite(sliver) or sliver < 0 or isinstance(sliver_m2, bool):
            raise RepairOptionsError(
                "sliver_m2_invalid",
                f"sliver_m2 must be a number of m² >= 0, not {str(sliver_m2)[:40]!r}",
                "sliver_m2",
            )
        return cls(
            make_valid="make_valid" in names,
            clip_to_parent="clip_to_parent" in names,
            snap_to_neighbours="snap_to_neighbours" in names,
            sliver_m2=sliver,
        )

    @property
    def names(self) -> list[str]:
        """The repairs asked for, in `REPAIRS` order."""
        return [n for n in REPAIRS if getattr(self, n)]

    @property
    def fits_families(self) -> bool:
        """Whether any repair needs the families (parents and siblings) on the date."""
        return self.clip_to_parent or self.snap_to_neighbours

    def as_dict(self) -> dict[str, Any]:
        """For the report: what was asked for."""
        return {"repair": self.names, "sliver_m2": self.sliver_m2}


@dataclass(frozen=True)
class Repair:
    """One repair of one unit's territory, as the report lists it."""

    code: str
    name: str
    level: str
    repair: str
    message: str
    area_m2: float
    lon: float
    lat: float
    #: The area changed (added or removed; for `make_valid` the repaired territory).
    geometry: BaseGeometry

    @classmethod
    def of(cls, fix: Fix, name: str, level: str, sliver_m2: float) -> Repair:
        """The report's entry for a family fix of the unit `fix.code` (named `name`)."""
        lon, lat = point_on(fix.piece)
        message = describe(fix, sliver_m2)
        return cls(
            fix.code, name, level, fix.repair, message, area_m2(fix.piece), lon, lat, fix.piece
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, as `report["repairs"]` lists it."""
        return {
            "code": self.code,
            "name": self.name,
            "level": self.level,
            "repair": self.repair,
            "message": self.message,
            "area_m2": round(self.area_m2, 1),
            "location": {"lon": round(self.lon, 7), "lat": round(self.lat, 7)},
        }


@dataclass(frozen=True)
class Fix:
    """What a family repair did to one child: `kind` is "clipped", "overhang", "overlap" or
    "gap"; `piece` the area removed (or added, for "gap"); `other` the sibling involved."""

    code: str
    repair: str
    kind: str
    piece: BaseGeometry
    other: str | None = None


def polygonal(geometry: BaseGeometry) -> MultiPolygon:
    """The polygons of an overlay or `make_valid` result (points and lines dropped)."""
    parts = [p for p in _flat_parts(geometry) if isinstance(p, Polygon) and not p.is_empty]
    return MultiPolygon(parts)


def make_valid_territory(geometry: BaseGeometry) -> tuple[MultiPolygon, float]:
    """An invalid polygon made valid, keeping its polygonal parts only, and the m² changed.

    The area changed is measured against the polygon its rings describe when read with the
    even-odd rule (what a GIS draws): zero for a ring that only touches itself.
    """
    fixed = polygonal(shapely.make_valid(geometry, method="structure", keep_collapsed=False))
    drawn = polygonal(shapely.make_valid(geometry, method="linework"))
    changed = area_m2(shapely.symmetric_difference(fixed, drawn, grid_size=None))
    return fixed, changed


def point_on(geometry: BaseGeometry) -> tuple[float, float]:
    """A point on the geometry (on its largest polygon), lon/lat, for the report."""
    parts = [p for p in _flat_parts(geometry) if not p.is_empty]
    if not parts:
        return (math.nan, math.nan)
    largest = max(parts, key=lambda p: p.area)
    point = largest.representative_point() if largest.area > 0 else largest.centroid
    return (float(point.x), float(point.y))


def fit_family(
    parent: MultiPolygon | None,
    children: Mapping[str, MultiPolygon],
    fixed: Mapping[str, MultiPolygon],
    options: RepairOptions,
    full_coverage: bool = True,
) -> tuple[dict[str, MultiPolygon], list[Fix]]:
    """Clip and snap the `children` being changed to their `parent` (None: the top level)
    and to their `fixed` siblings (on the map, not changed); what each one became, and how.

    In order: `clip_to_parent` removes all of a child outside the parent; `snap_to_neighbours`
    removes small overhangs beyond the parent, then small overlaps with the fixed siblings and
    with the children before it in code order, then (with `full_coverage`) gives each small gap
    of the parent to the changed child sharing the longest edge with it. Overlays keep the
    stored precision (`grid_size`), so the results need no further rounding.

    Should GEOS fail on an overlay (a TopologyException on a pathological input), the family
    is left as given and nothing reported as repaired: the register's rules then say what is
    wrong, never a 5xx.
    """
    try:
        return _fit_family(parent, children, fixed, options, full_coverage)
    except shapely.errors.GEOSException:
        return dict(children), []


def _fit_family(
    parent: MultiPolygon | None,
    children: Mapping[str, MultiPolygon],
    fixed: Mapping[str, MultiPolygon],
    options: RepairOptions,
    full_coverage: bool,
) -> tuple[dict[str, MultiPolygon], list[Fix]]:
    out = {code: children[code] for code in sorted(children)}
    fixes: list[Fix] = []
    if parent is not None and options.clip_to_parent:
        for code, child in out.items():
            outside = polygonal(shapely.difference(child, parent, grid_size=GRID_SIZE))
            if area_m2(outside) > 0:
                out[code] = polygonal(shapely.intersection(child, parent, grid_size=GRID_SIZE))
                fixes.append(Fix(code, "clip_to_parent", "clipped", outside))
    if not options.snap_to_neighbours:
        return out, fixes
    small = _small(options.sliver_m2)
    if parent is not None:
        for code, child in out.items():
            outside = polygonal(shapely.difference(child, parent, grid_size=GRID_SIZE))
            pieces = [p for p in outside.geoms if small(p)]
            for piece in pieces:
                fixes.append(Fix(code, "snap_to_neighbours", "overhang", piece))
            out[code] = _minus(out[code], pieces)
    done: list[tuple[str, MultiPolygon]] = sorted(fixed.items())
    tree_items = list(done)
    for code in list(out):
        child = out[code]
        tree = shapely.STRtree([g for _, g in tree_items]) if tree_items else None
        hits = tree.query(child, predicate="intersects") if tree is not None else []
        for i in sorted(int(h) for h in hits):
            other, shape = tree_items[i]
            overlap = polygonal(shapely.intersection(child, shape, grid_size=GRID_SIZE))
            pieces = [p for p in overlap.geoms if area_m2(p) > 0 and small(p)]
            for piece in pieces:
                fixes.append(Fix(code, "snap_to_neighbours", "overlap", piece, other))
            child = _minus(child, pieces)
        out[code] = child
        tree_items.append((code, child))
    if parent is not None and full_coverage and out:
        # Measured as the invariants measure it (no grid): snap-rounding would hide gaps
        # thinner than a grid cell, which still add up along a long edge.
        covered = shapely.union_all([g for _, g in tree_items])
        gap = polygonal(shapely.difference(parent, covered))
        for piece in gap.geoms:
            if area_m2(piece) == 0 or not small(piece):
                continue
            taker = _longest_edge(piece, out)
            if taker is None:
                continue
            fixes.append(Fix(taker, "snap_to_neighbours", "gap", piece))
            out[taker] = polygonal(shapely.union(out[taker], piece, grid_size=GRID_SIZE))
    references = [*fixed.values(), *([parent] if parent is not None else [])]
    for code in [c for c in out if any(f.code == c for f in fixes)]:
        others = [g for c, g in out.items() if c != code]
        out[code] = _rounded(_follow_edges(out[code], children[code], [*references, *others]))
    return out, fixes


@dataclass(frozen=True)
class _Member:
    """One territory of a change set the family repairs set: an establish's or a redraw's
    (`slot` None), or a grid of a `lay_grids`/`regrid` or a part of a `split` (`slot` its
    place in the operation's list)."""

    index: int
    slot: int | None
    code: str
    level: str
    name: str
    #: ("parent", code): a child of that unit (None: the top level); ("split", code): a part
    #: of that unit's split, fitted to the unit's territory before the split.
    family: tuple[str, str | None]
    geometry: MultiPolygon
    #: The unit it lies in once the change set is done (a split's part: the unit's parent).
    parent: str | None


@dataclass
class _Family:
    """What a family of `_Member`s is fitted to, beyond its parent and siblings on the map."""

    #: A split's family: the unit's territory before the split (read when the split is met).
    outline: MultiPolygon | None = None
    #: A split's family: whether its parts must cover the unit (otherwise the rules' say).
    full_coverage: bool = True
    #: The parent's children on the map are left out (a `regrid` replaces them all).
    replaces: bool = False


def _members(
    store: Store, request: ChangeSetRequest
) -> tuple[list[_Member], dict[tuple[str, str | None], _Family]]:
    """The territories the family repairs set, in operation order, and their families.

    This is the one rule of what the repairs can reach: `repair_change_set` fits these, and
    `repairable_units` (which problems get a hint) names their families. Operations the
    register would refuse anyway (an unknown unit, a parent not live) are left out.
    """
    day = request.effective
    levels = store.rules.levels
    members: list[_Member] = []
    families: dict[tuple[str, str | None], _Family] = {}
    seen: dict[str, MultiPolygon] = {}
    level_of: dict[str, str] = {}

    def territory(code: str) -> MultiPolygon | None:
        if code in seen:
            return seen[code]
        unit = store.find_unit(code)
        version = unit.version_on(day) if unit is not None else None
        return from_wkb_hex(version.geometry) if version is not None else None

    def add(member: _Member) -> None:
        members.append(member)
        families.setdefault(member.family, _Family())

    for index, op in enumerate(request.operations):
        if isinstance(op, Establish):
            family = ("parent", op.parent)
            add(_Member(index, None, op.code, op.level, op.name, family, op.geometry, op.parent))
            seen[op.code] = op.geometry
            level_of[op.code] = op.level
        elif isinstance(op, Redraw):
            unit = store.find_unit(op.unit)
            version = unit.version_on(day) if unit is not None else None
            if version is not None:
                family = ("parent", version.parent)
                name = version.name
                add(
                    _Member(
                        index, None, op.unit, version.level, name, family, op.geometry, family[1]
                    )
                )
                seen[op.unit] = op.geometry
        elif isinstance(op, LayGrids):
            community = store.find_unit(op.community)
            version = community.version_on(day) if community is not None else None
            above = level_of.get(op.community) or (version.level if version else None)
            level = levels.child_of(above) if above is not None else None
            if level is None:
                continue
            family = ("parent", op.community)
            for slot, grid in enumerate(op.grids):
                add(
                    _Member(
                        index, slot, grid.code, level, grid.name, family, grid.geometry, family[1]
                    )
                )
                seen[grid.code] = grid.geometry
            about = families.setdefault(family, _Family())
            about.replaces = about.replaces or op.replace
        elif isinstance(op, Split):
            unit = store.find_unit(op.unit)
            version = unit.version_on(day) if unit is not None else None
            outline = territory(op.unit)
            if version is None or outline is None:
                continue
            family = ("split", op.unit)
            own = any(p.code == op.unit for p in op.parts)
            for slot, part in enumerate(op.parts):
                name = part.name or version.name
                member = _Member(
                    index,
                    slot,
                    part.code,
                    version.level,
                    name,
                    family,
                    part.geometry,
                    version.parent,
                )
                add(member)
                seen[part.code] = part.geometry
            # A split-off without the unit's own part leaves it the rest: no gap to close.
            families[family] = _Family(outline, op.mode == "full" or own)
    return members, families


def repairable_units(store: Store, request: ChangeSetRequest) -> set[str]:
    """The units whose families the repairs can fit in this change set (the territories
    they set, their parents, the units split): a family problem naming none of them is
    not one a repair would fix, so it gets no hint."""
    members, _ = _members(store, request)
    around = {m.family[1] for m in members} | {m.parent for m in members}
    return {m.code for m in members} | {code for code in around if code is not None}


def repair_change_set(
    store: Store, request: ChangeSetRequest, options: RepairOptions
) -> tuple[ChangeSetRequest, list[Repair]]:
    """The change set with the territories it sets (`establish`, `redraw`, the grids of
    `lay_grids`/`regrid`, the parts of `split`) clipped and snapped to their families on the
    effective date (`fit_family`), and every repair.

    The families are read from `store` (the register) as the change set will find them: the
    parent's territory (or its new one, if the change set redraws it too: families are fitted
    top down) and the siblings the change set leaves alone (none for a `regrid`, which
    replaces them). A split's parts are fitted to the unit's territory before the split: no
    part beyond it, no two parts overlapping, and (for a full split, or one that names the
    unit's own part) no gap between them.
    """
    if not options.fits_families:
        return request, []
    day = request.effective
    members, families = _members(store, request)
    if not members:
        return request, []
    order = {level: i for i, level in enumerate(store.rules.levels.names)}
    changed = {m.code: m.geometry for m in members if m.family[0] == "parent"}
    grouped: dict[tuple[str, str | None], list[_Member]] = {}
    for member in members:
        grouped.setdefault(member.family, []).append(member)

    def rank(key: tuple[str, str | None]) -> tuple[int, str, str]:
        return (order.get(grouped[key][0].level, 0), key[0], str(key[1]))

    operations = list(request.operations)
    repairs: list[Repair] = []
    for key in sorted(grouped, key=rank):
        family = grouped[key]
        about = families[key]
        kind, parent_code = key
        outline: MultiPolygon | None = about.outline
        fixed: dict[str, MultiPolygon] = {}
        codes = {m.code for m in family}
        if kind == "parent" and parent_code is not None:
            above = store.find_unit(parent_code)
            version = above.version_on(day) if above is not None else None
            outline = changed.get(parent_code)
            if outline is None and version is not None:
                outline = from_wkb_hex(version.geometry)
            if outline is None:
                continue  # the register reports the parent
            siblings = sorted(above.children_ever - codes) if above is not None else []
            for sibling_code in [] if about.replaces else siblings:
                sibling = store.find_unit(sibling_code)
                now = sibling.version_on(day) if sibling is not None else None
                if now is not None and now.parent == parent_code:
                    fixed[sibling_code] = changed.get(sibling_code) or from_wkb_hex(now.geometry)
        full = about.full_coverage if kind == "split" else store.rules.full_coverage
        children = {m.code: m.geometry for m in family}
        result, fixes = fit_family(outline, children, fixed, options, full)
        for member in family:
            geometry = result[member.code]
            if geometry.equals_exact(children[member.code], 0) or geometry.is_empty:
                continue
            if kind == "parent":
                changed[member.code] = geometry
            operations[member.index] = _with_geometry(
                operations[member.index], member.slot, geometry
            )
        names = {m.code: (m.name, m.level) for m in family}
        repairs.extend(Repair.of(fix, *names[fix.code], options.sliver_m2) for fix in fixes)
    return replace(request, operations=tuple(operations)), repairs


def _with_geometry(op: Any, slot: int | None, geometry: MultiPolygon) -> Any:
    """The operation with the territory at `slot` (see `_Member`) replaced."""
    if slot is None:
        return replace(op, geometry=geometry)
    if isinstance(op, LayGrids):
        grids = list(op.grids)
        grids[slot] = replace(grids[slot], geometry=geometry)
        return replace(op, grids=tuple(grids))
    parts = list(op.parts)
    parts[slot] = replace(parts[slot], geometry=geometry)
    return replace(op, parts=tuple(parts))


def _rounded(geometry: MultiPolygon) -> MultiPolygon:
    """At the stored precision, if rounding keeps it valid (the overlays' results are on the
    grid but for floating-point noise)."""
    rounded = round_coordinates(geometry)
    return rounded if rounded.is_valid else geometry


def describe(fix: Fix, sliver_m2: float) -> str:
    """What a fix did, in words, for the report."""
    m2 = area_m2(fix.piece)
    if fix.kind == "clipped":
        return f"clipped to its parent: {m2:.1f} m² outside the parent removed"
    limit = f"at most {sliver_m2:g} m²" if sliver_m2 > 0 else f"narrower than {SNAP_WIDTH_M:g} m"
    if fix.kind == "overhang":
        return f"snapped to its parent's edge: an overhang of {m2:.1f} m² ({limit}) removed"
    if fix.kind == "overlap":
        return (
            f"snapped to its neighbour {fix.other}: an overlap of {m2:.1f} m² ({limit}) "
            f"left to {fix.other}"
        )
    return f"closed a gap of {m2:.1f} m² ({limit}) along its edge"


#: The repair that would fix each problem, for the hint a refused import or change set carries.
HINTS: dict[str, str] = {
    "geometry_invalid": "repair=make_valid makes it valid (keeping its polygonal parts), and "
    "reports the area changed",
    "child_outside_parent": "repair=clip_to_parent removes the part outside the parent (or "
    "snap_to_neighbours with sliver_m2 at least its area)",
    "siblings_overlap": "repair=snap_to_neighbours with sliver_m2 at least its area leaves the "
    "overlap to one of them",
    "coverage_gap": "repair=snap_to_neighbours with sliver_m2 at least its area gives the gap "
    "to a unit of the change set along its edge",
    "split_part_outside": "repair=clip_to_parent removes the parts' area beyond the unit split "
    "(or snap_to_neighbours with sliver_m2 at least its area)",
    "split_leaves_gap": "repair=snap_to_neighbours with sliver_m2 at least its area gives the "
    "gap to the part along its edge",
}


#: The problems of a family: a repair fits only the families of the territories it sets.
FAMILY_PROBLEMS = frozenset(HINTS) - {"geometry_invalid"}


def with_hint(problem: Problem, repairable: Collection[str] | None = None) -> Problem:
    """The problem with a `hint` naming the repair option that would fix it, if one would.

    `repairable` (`repairable_units`; None: every unit, as in an import, which sets every
    territory) limits the hints of family problems to those naming a unit whose family the
    repairs reach: a gap left by a dissolve, say, is not one a repair would close.
    """
    hint = HINTS.get(problem.code)
    if hint is None or "hint" in problem.extra:
        return problem
    if (
        repairable is not None
        and problem.code in FAMILY_PROBLEMS
        and not set(problem.units) & set(repairable)
    ):
        return problem
    return replace(problem, extra={**problem.extra, "hint": hint})


def _small(sliver_m2: float) -> Any:
    """The test of a piece `snap_to_neighbours` closes."""
    half = SNAP_WIDTH_M / 2 / _METRES_PER_DEGREE

    def small(piece: BaseGeometry) -> bool:
        if sliver_m2 > 0 and area_m2(piece) <= sliver_m2:
            return True
        # Narrower than the snap width everywhere: an inward buffer of half of it leaves nothing.
        return bool(piece.buffer(-half).is_empty)

    return small


def _minus(geometry: MultiPolygon, pieces: list[BaseGeometry]) -> MultiPolygon:
    if not pieces:
        return geometry
    cut = shapely.union_all(pieces, grid_size=GRID_SIZE)
    return polygonal(shapely.difference(geometry, cut, grid_size=GRID_SIZE))


def _longest_edge(piece: BaseGeometry, children: Mapping[str, MultiPolygon]) -> str | None:
    """The child sharing the longest edge with `piece` (None if none shares an edge)."""
    best: str | None = None
    length = 0.0
    edge = piece.boundary
    for code, child in children.items():
        if not child.intersects(piece.buffer(GRID_SIZE)):
            continue
        shared = edge.intersection(child.buffer(GRID_SIZE * 2)).length
        if shared > length:
            best, length = code, shared
    return best


def _follow_edges(
    geometry: MultiPolygon, before: MultiPolygon, references: list[MultiPolygon]
) -> MultiPolygon:
    """The repaired geometry without the vertices the overlays put where its edge crossed a
    neighbour's (or the parent's) edge, once it follows that edge on both sides.

    Such a vertex lies on the neighbour's edge, but rounded to the grid it lies a little off
    it, and along a long border those little triangles add up to m² of overlap or gap. It is
    dropped where the vertices before and after it are on the neighbour's edge and the line
    between them follows it (the neighbour's own edge); a vertex of the geometry as given or
    of a neighbour always stays.
    """
    boundaries = [shapely.boundary(r) for r in references if not r.is_empty]
    if not boundaries:
        return geometry
    lines = shapely.union_all(boundaries)
    kept = {tuple(xy) for xy in shapely.get_coordinates([*references, before]).round(7)}
    near = GRID_SIZE * 2

    shapely.prepare(lines)

    def on_edge(x: float, y: float) -> bool:
        return bool(shapely.dwithin(lines, shapely.Point(x, y), near))

    def ring(coords: Any) -> list[tuple[float, float]]:
        xy = np.asarray(coords)[:-1, :2]
        candidates = np.array([tuple(v) not in kept for v in xy.round(7)], dtype=bool)
        if candidates.any():
            candidates[candidates] = shapely.dwithin(lines, shapely.points(xy[candidates]), near)
        points = [(float(x), float(y)) for x, y in xy]
        if not candidates.any():
            return [*points, points[0]]
        out: list[tuple[float, float]] = []
        for i, (x, y) in enumerate(points):
            if not candidates[i]:
                out.append((x, y))
                continue
            before_xy = out[-1] if out else points[i - 1]
            after_xy = points[(i + 1) % len(points)]
            middle = ((before_xy[0] + after_xy[0]) / 2, (before_xy[1] + after_xy[1]) / 2)
            if not (on_edge(*before_xy) and on_edge(*after_xy) and on_edge(*middle)):
                out.append((x, y))
        return [*out, out[0]] if len(out) >= 3 else [*points, points[0]]

    polygons = [
        Polygon(ring(p.exterior.coords), [ring(h.coords) for h in p.interiors])
        for p in geometry.geoms
    ]
    result = MultiPolygon(polygons)
    if not result.is_valid or abs(result.area - geometry.area) > geometry.area * 1e-6:
        return geometry
    return result


def _flat_parts(geometry: BaseGeometry) -> list[BaseGeometry]:
    parts = list(shapely.get_parts(geometry))
    flat: list[BaseGeometry] = []
    while parts:
        part = parts.pop()
        if shapely.get_type_id(part) >= 4:
            parts.extend(shapely.get_parts(part))
        else:
            flat.append(part)
    return flat
