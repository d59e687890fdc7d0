"""Property tests: random change sets on a random map.

Hypothesis draws a map (a city split into districts, streets and communities, with
workstations) and a sequence of change sets of every kind at random dates (backdated, future,
before anything existed), some valid, many not. After every change set:

* a rejected one stored nothing (the notification log did not move), an accepted one stored
  exactly its events and its change-set record, a dry run or a replay nothing;
* the state folded *naively* from the notification log (written here, not the domain's
  `DatedValue`) satisfies every invariant on every date from the change on, checked by brute
  force with shapely and geodesic areas (not the register's projection);

and at the end, for every unit and office and every date where anything changes (and the day
before it), the aggregate rebuilt by the repository answers exactly what the naive fold does.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from api.operations import parse_change_set
from domain.errors import InvalidChangeSet
from domain.geometry import from_wkb_hex
from domain.levels import Rules
from domain.offices import WORKSTATION, office_id
from domain.register import JurisdictionRegister
from domain.units import unit_id
from tests.unit.helpers import in_memory_register

RULES = Rules()
LEVELS = RULES.levels
GEOD = Geod(ellps="WGS84")
#: The checker's own tolerance: geodesic areas differ a little from the register's projected
#: ones, so it allows a few times the register's; real violations here are square kilometres.
CHECK_TOLERANCE_M2 = 4 * RULES.tolerance_m2
LON0, LAT0, STREET_WIDTH, HEIGHT = 114.0, 22.5, 0.01, 0.04
GRID = 0.0025
START = date(2015, 1, 1)
DAYS = [date(2014, 6, 1)] + [date(y, m, 1) for y in range(2015, 2031) for m in (1, 7)]
MISSING = object()


# The naive fold ---------------------------------------------------------------------------------


@dataclass
class Attribute:
    """A value per day, as a list of writes: the last one recorded whose extent holds wins.

    A real-world change on day c holds from c until the next change day already known for the
    attribute when it was recorded; a correction holds exactly over its period.
    """

    writes: list[tuple[date, date | None, Any]] = field(default_factory=list)
    change_days: set[date] = field(default_factory=set)

    def change(self, day: date, value: Any) -> None:
        later = [d for d in self.change_days if d > day]
        self.writes.append((day, min(later) if later else None, value))
        self.change_days.add(day)

    def correct(self, start: date, end: date | None, value: Any) -> None:
        self.writes.append((start, end, value))

    def on(self, day: date) -> Any:
        for start, end, value in reversed(self.writes):
            if start <= day and (end is None or day < end):
                return value
        return MISSING

    def days(self) -> set[date]:
        out = set()
        for start, end, _ in self.writes:
            out.add(start)
            if end is not None:
                out.add(end)
        return out


@dataclass
class Thing:
    """A unit or an office folded from its events."""

    kind: str
    code: str
    level_or_kind: str
    attributes: dict[str, Attribute]
    created: int = 0

    def on(self, day: date) -> dict[str, Any] | None:
        if self.attributes["exists"].on(day) is not True:
            return None
        return {name: a.on(day) for name, a in self.attributes.items() if name != "exists"}

    def days(self) -> set[date]:
        return set().union(*(a.days() for a in self.attributes.values()))


def _handler_name(qualname: str) -> str:
    """``Unit.ChildrenRevised`` -> ``_unit_children_revised``."""
    words = re.sub(r"(?<=[a-z])([A-Z])", r"_\1", qualname.replace(".", "_"))
    return "_" + words.lower()


class NaiveFold:
    """Every unit and office, folded from the notification log in recorded order."""

    def __init__(self, register: JurisdictionRegister) -> None:
        self.register = register
        self.position = 0
        self.things: dict[Any, Thing] = {}

    def catch_up(self) -> None:
        while True:
            notifications = self.register.recorder.select_notifications(
                start=self.position + 1, limit=500
            )
            if not notifications:
                return
            for notification in notifications:
                self.position = notification.id
                self.apply(self.register.mapper.to_domain_event(notification))

    def apply(self, event: Any) -> None:
        name = type(event).__qualname__
        handler: Callable[[Any], None] | None = getattr(self, _handler_name(name), None)
        if name.startswith(("ChangeSet.", "Catalogue.")) or name == "Unit.ChildrenRevised":
            return
        assert handler is not None, f"the naive fold does not know {name}"
        handler(event)

    def _new(self, event: Any, kind: str, code: str, sort: str, values: dict[str, Any]) -> None:
        assert event.originator_id not in self.things, f"{code} created twice"
        thing = Thing(kind, code, sort, {n: Attribute() for n in ("exists", *values)})
        thing.attributes["exists"].change(event.effective, True)
        for attribute, value in values.items():
            thing.attributes[attribute].change(event.effective, value)
        self.things[event.originator_id] = thing

    def _unit_established(self, e: Any) -> None:
        values = {"names": (e.name, e.name_en), "parent": e.parent, "geometry": e.geometry}
        self._new(e, "unit", e.code, e.level, values)

    def _unit_redrawn(self, e: Any) -> None:
        self.things[e.originator_id].attributes["geometry"].change(e.effective, e.geometry)

    def _unit_renamed(self, e: Any) -> None:
        self.things[e.originator_id].attributes["names"].change(e.effective, (e.name, e.name_en))

    def _unit_transferred(self, e: Any) -> None:
        self.things[e.originator_id].attributes["parent"].change(e.effective, e.parent)

    def _unit_dissolved(self, e: Any) -> None:
        self.things[e.originator_id].attributes["exists"].change(e.effective, False)

    def _unit_corrected(self, e: Any) -> None:
        thing = self.things[e.originator_id]
        if e.geometry is not None:
            thing.attributes["geometry"].correct(e.effective, e.valid_to, e.geometry)
        if e.name is not None:
            names = thing.attributes["names"]
            current = names.on(e.effective)
            english = e.name_en if e.name_en is not None else current[1]
            names.correct(e.effective, e.valid_to, (e.name, english))

    def _office_opened(self, e: Any) -> None:
        values = {"name": e.name, "unit": e.unit, "serves": tuple(e.serves)}
        self._new(e, "office", e.code, e.kind, values)

    def _office_closed(self, e: Any) -> None:
        thing = self.things[e.originator_id]
        thing.attributes["exists"].change(e.effective, False)
        thing.attributes["serves"].change(e.effective, ())

    def _office_coverage_changed(self, e: Any) -> None:
        self.things[e.originator_id].attributes["serves"].change(e.effective, tuple(e.serves))

    def _office_reassigned(self, e: Any) -> None:
        self.things[e.originator_id].attributes["unit"].change(e.effective, e.unit)

    # Queries

    def units(self) -> list[Thing]:
        return [t for t in self.things.values() if t.kind == "unit"]

    def offices(self) -> list[Thing]:
        return [t for t in self.things.values() if t.kind == "office"]

    def days(self) -> list[date]:
        return sorted(set().union(*(t.days() for t in self.things.values())))


# The brute-force checker ------------------------------------------------------------------------


def m2(geometry: BaseGeometry) -> float:
    if geometry.is_empty:
        return 0.0
    area, _ = GEOD.geometry_area_perimeter(geometry)
    return abs(area)


def violations(fold: NaiveFold, since: date) -> list[str]:
    """Every broken invariant on every day from `since` on where anything changes."""
    found: list[str] = []
    for unit in fold.units():
        lived = sorted(unit.attributes["exists"].days())
        alive = [d for d in lived if unit.attributes["exists"].on(d) is True]
        # A code is never reused: one contiguous life (none if it ended the day it began).
        if len(alive) > 1:
            found.append(f"{unit.code} lives more than once: {alive}")
    for day in [d for d in fold.days() if d >= since]:
        found.extend(violations_on(fold, day))
    return found


def violations_on(fold: NaiveFold, day: date) -> list[str]:
    found: list[str] = []
    units = {u.code: (u, state) for u in fold.units() if (state := u.on(day)) is not None}
    shapes = {code: from_wkb_hex(state["geometry"]) for code, (_, state) in units.items()}
    families: dict[str, list[str]] = {}
    for code, (unit, state) in sorted(units.items()):
        if not shapes[code].is_valid or shapes[code].is_empty:
            found.append(f"{day} {code} has an invalid geometry")
        expected = LEVELS.parent_of(unit.level_or_kind)
        parent = state["parent"]
        if expected is None:
            if parent is not None:
                found.append(f"{day} top-level {code} has parent {parent}")
            continue
        if parent not in units:
            found.append(f"{day} {code} has no live parent ({parent})")
            continue
        if units[parent][0].level_or_kind != expected:
            found.append(f"{day} {code} is under {parent} of the wrong level")
        families.setdefault(parent, []).append(code)
    for parent, children in sorted(families.items()):
        outline = shapes[parent]
        for child in children:
            outside = m2(shapes[child].difference(outline))
            if outside > CHECK_TOLERANCE_M2:
                found.append(f"{day} {child} reaches {outside:.0f} m² outside {parent}")
        for a, b in itertools.combinations(children, 2):
            if shapes[a].intersects(shapes[b]):
                overlap = m2(shapes[a].intersection(shapes[b]))
                if overlap > CHECK_TOLERANCE_M2:
                    found.append(f"{day} {a} and {b} overlap by {overlap:.0f} m²")
        gap = m2(outline.difference(shapely.union_all([shapes[c] for c in children])))
        if RULES.full_coverage and gap > CHECK_TOLERANCE_M2:
            found.append(f"{day} the children of {parent} leave {gap:.0f} m² uncovered")
    served: dict[str, list[str]] = {}
    for office in fold.offices():
        state = office.on(day)
        if state is None or office.level_or_kind != WORKSTATION:
            continue
        for community in state["serves"]:
            served.setdefault(community, []).append(office.code)
            if community not in units or units[community][1]["parent"] != state["unit"]:
                found.append(f"{day} {office.code} of {state['unit']} serves {community}")
    for code, (unit, _) in sorted(units.items()):
        if unit.level_or_kind == RULES.served_level and len(served.get(code, [])) != 1:
            found.append(f"{day} {code} is served by {served.get(code, [])}")
    return found


def assert_aggregates_match_the_fold(
    register: JurisdictionRegister, fold: NaiveFold, extra: Iterable[date] = ()
) -> int:
    """The repository's aggregates answer, for every date that matters, what the fold does."""
    compared = 0
    for thing in fold.things.values():
        days = set()
        for day in thing.days() | {DAYS[0], date(2040, 1, 1), *extra}:
            days.update({day, day - timedelta(days=1)})
        if thing.kind == "unit":
            unit = register.get_unit(thing.code)
            assert register.repository.get(unit_id(thing.code)).version == unit.version
            for day in sorted(days):
                state = thing.on(day)
                version = unit.version_on(day)
                if state is None:
                    assert version is None, (thing.code, day)
                    continue
                assert version is not None, (thing.code, day)
                assert (version.name, version.name_en) == state["names"], (thing.code, day)
                assert version.parent == state["parent"], (thing.code, day)
                assert version.geometry == state["geometry"], (thing.code, day)
                assert version.level == thing.level_or_kind
                assert version.period.contains(day)
                # A version is one stretch of equal states, as long as it can be.
                assert thing.on(version.period.start) == state
                before = thing.on(version.period.start - timedelta(days=1))
                assert before != state, (thing.code, version.period)
                if version.period.end is not None:
                    assert thing.on(version.period.end) != state, (thing.code, version.period)
                    assert thing.on(version.period.end - timedelta(days=1)) == state
                compared += 1
        else:
            office = register.find_office(thing.code)
            assert office is not None
            assert office.id == office_id(thing.code)
            for day in sorted(days):
                state = thing.on(day)
                assert office.open_on(day) == (state is not None), (thing.code, day)
                if state is not None:
                    assert office.serves_on(day) == state["serves"], (thing.code, day)
                    assert office.unit.value_on(day) == state["unit"], (thing.code, day)
                    compared += 1
    return compared


# The random map ---------------------------------------------------------------------------------


def box(west: float, south: float, east: float, north: float) -> Polygon:
    return shapely.box(round(west, 7), round(south, 7), round(east, 7), round(north, 7))


def geojson(geometry: BaseGeometry) -> dict[str, Any]:
    return dict(mapping(geometry))


def establish(code: str, level: str, parent: str | None, geometry: BaseGeometry) -> dict[str, Any]:
    op = {"op": "establish", "code": code, "level": level, "name": code}
    if parent is not None:
        op["parent"] = parent
    return {**op, "geometry": geojson(geometry)}


@st.composite
def maps(draw: st.DrawFn) -> list[dict[str, Any]]:
    """The operations of a random map: districts of street columns, communities in rows."""
    districts = draw(st.integers(1, 3))
    streets_per = [draw(st.integers(1, 3)) for _ in range(districts)]
    total = sum(streets_per)
    ops = [
        establish("C", "city", None, box(LON0, LAT0, LON0 + total * STREET_WIDTH, LAT0 + HEIGHT))
    ]
    offices: list[dict[str, Any]] = []
    column = 0
    for d, count in enumerate(streets_per, start=1):
        west = LON0 + column * STREET_WIDTH
        ops.append(
            establish(
                f"D{d}",
                "district",
                "C",
                box(west, LAT0, west + count * STREET_WIDTH, LAT0 + HEIGHT),
            )
        )
        for s in range(1, count + 1):
            street = f"S{d}{s}"
            x0 = LON0 + column * STREET_WIDTH
            ops.append(
                establish(
                    street, "street", f"D{d}", box(x0, LAT0, x0 + STREET_WIDTH, LAT0 + HEIGHT)
                )
            )
            cuts = draw(st.sets(st.integers(1, int(HEIGHT / GRID) - 1), max_size=2))
            edges = [LAT0] + [LAT0 + c * GRID for c in sorted(cuts)] + [LAT0 + HEIGHT]
            stations: dict[int, list[str]] = {}
            for k, (south, north) in enumerate(itertools.pairwise(edges), start=1):
                community = f"K{d}{s}{k}"
                ops.append(
                    establish(
                        community, "community", street, box(x0, south, x0 + STREET_WIDTH, north)
                    )
                )
                stations.setdefault(draw(st.integers(0, k - 1)), []).append(community)
            for i, served in sorted(stations.items()):
                offices.append(
                    {
                        "op": "open_workstation",
                        "code": f"W{d}{s}{i}",
                        "name": "ws",
                        "serves": served,
                    }
                )
            column += 1
    return ops + offices


# Random change sets -----------------------------------------------------------------------------


class World:
    """The register under test and what the generators need to know about it."""

    def __init__(self, register: JurisdictionRegister) -> None:
        self.register = register
        self.codes: set[str] = set()
        self.office_codes: set[str] = set()
        self.counter = itertools.count(1)

    def fresh(self, prefix: str = "N") -> str:
        return f"{prefix}{next(self.counter)}"

    def live(self, day: date, level: str | None = None) -> list[tuple[str, Any]]:
        out = []
        for code in sorted(self.codes):
            version = self.register.get_unit(code).version_on(day)
            if version is not None and (level is None or version.level == level):
                out.append((code, version))
        return out

    def shape(self, version: Any) -> MultiPolygon:
        return from_wkb_hex(version.geometry)

    def siblings(self, day: date, code: str, version: Any) -> list[tuple[str, Any]]:
        return [
            (c, v)
            for c, v in self.live(day, version.level)
            if c != code and v.parent == version.parent
        ]

    def workstations(self, day: date, street: str) -> list[str]:
        out = []
        for code in sorted(self.office_codes):
            office = self.register.find_office(code)
            if (
                office is not None
                and office.kind == WORKSTATION
                and office.open_on(day)
                and office.unit.value_on(day) == street
            ):
                out.append(code)
        return out

    def learn(self, ops: Iterable[dict[str, Any]]) -> None:
        """Remember the codes an accepted change set created."""
        for op in ops:
            into = op.get("into")
            candidates = [op.get("code"), into.get("code") if isinstance(into, dict) else None]
            candidates += [p["code"] for p in op.get("parts", []) + op.get("grids", [])]
            for code in candidates:
                if isinstance(code, str) and self.register.find_unit(code) is not None:
                    self.codes.add(code)
                if isinstance(code, str) and self.register.find_office(code) is not None:
                    self.office_codes.add(code)
            for grid in op.get("grids", []):
                if grid.get("officer"):
                    self.office_codes.add(f"{grid['code']}/officer")


def polygonal(geometry: BaseGeometry) -> MultiPolygon | None:
    parts = [p for p in shapely.get_parts(geometry) if isinstance(p, Polygon) and p.area > 1e-12]
    if not parts:
        return None
    return MultiPolygon(parts) if len(parts) > 1 else MultiPolygon([parts[0]])


def cut(draw: st.DrawFn, geometry: BaseGeometry) -> tuple[Any, Any] | None:
    """The geometry cut in two by a random axis-parallel line on the 0.0025 degree grid."""
    west, south, east, north = geometry.bounds
    vertical = draw(st.booleans())
    low, high = (west, east) if vertical else (south, north)
    origin = LON0 if vertical else LAT0
    lines = [
        origin + k * GRID
        for k in range(round((low - origin) / GRID) + 1, round((high - origin) / GRID))
    ]
    if not lines:
        return None
    at = draw(st.sampled_from(lines))
    half = (
        box(west - 1, south - 1, at, north + 1)
        if vertical
        else box(west - 1, south - 1, east + 1, at)
    )
    first, second = polygonal(geometry.intersection(half)), polygonal(geometry.difference(half))
    if first is None or second is None:
        return None
    return first, second


Ops = list[dict[str, Any]]


def pick(draw: st.DrawFn, items: list[Any]) -> Any:
    return draw(st.sampled_from(items)) if items else None


def touching(world: World, day: date, code: str, version: Any) -> list[tuple[str, Any]]:
    mine = world.shape(version)
    return [
        (c, v)
        for c, v in world.siblings(day, code, version)
        if mine.intersection(world.shape(v)).length > 0
    ]


def pick_neighbours(
    draw: st.DrawFn, world: World, day: date, levels: list[str]
) -> tuple[str, Any, str, Any] | None:
    """A unit live on `day` on one of `levels` (drawn with their repeats as weights), and a
    neighbour it touches: (code, version, other code, other version)."""
    chosen = pick(draw, world.live(day, draw(st.sampled_from(levels))))
    if chosen is None:
        return None
    code, version = chosen
    neighbour = pick(draw, touching(world, day, code, version))
    if neighbour is None:
        return None
    return code, version, *neighbour


def gen_move_boundary(draw: st.DrawFn, world: World, day: date) -> Ops | None:
    found = pick_neighbours(
        draw, world, day, ["community", "community", "community", "street", "district"]
    )
    if found is None:
        return None
    code, version, other, other_version = found
    both = world.shape(version).union(world.shape(other_version))
    pieces = cut(draw, both)
    if pieces is None:
        return None
    first, second = pieces
    if not first.contains(world.shape(version).representative_point()):
        first, second = second, first
    if draw(st.integers(0, 3)) == 0:
        later = draw(st.sampled_from([d for d in DAYS if d > day] or [date(2031, 1, 1)]))
        period = {"valid_from": day.isoformat(), "valid_to": later.isoformat()}
        return [
            {"op": "correct", "unit": code, **period, "geometry": geojson(first)},
            {"op": "correct", "unit": other, **period, "geometry": geojson(second)},
        ]
    return [
        {"op": "redraw", "unit": code, "geometry": geojson(first)},
        {"op": "redraw", "unit": other, "geometry": geojson(second)},
    ]


def gen_split(draw: st.DrawFn, world: World, day: date) -> Ops | None:
    level = draw(st.sampled_from(["community", "community", "street", "grid"]))
    chosen = pick(draw, world.live(day, level))
    if chosen is None:
        return None
    code, version = chosen
    pieces = cut(draw, world.shape(version))
    if pieces is None:
        return None
    keep, part = pieces
    mode = draw(st.sampled_from(["split_off", "split_off_own", "full"]))
    reassign = (
        "by_location" if level == "street" else draw(st.sampled_from(["none", "by_location"]))
    )
    first = world.fresh()
    if mode == "full":
        parts = [
            {"code": first, "geometry": geojson(keep)},
            {"code": world.fresh(), "geometry": geojson(part)},
        ]
    elif mode == "split_off_own":
        parts = [
            {"code": code, "geometry": geojson(keep)},
            {"code": first, "geometry": geojson(part)},
        ]
    else:
        parts = [{"code": first, "geometry": geojson(part)}]
    return [
        {
            "op": "split",
            "unit": code,
            "mode": "full" if mode == "full" else "split_off",
            "reassign_children": reassign,
            "parts": parts,
        }
    ]


def gen_merge(draw: st.DrawFn, world: World, day: date) -> Ops | None:
    level = draw(st.sampled_from(["community", "community", "street", "district", "grid"]))
    chosen = pick(draw, world.live(day, level))
    if chosen is None:
        return None
    code, version = chosen
    neighbour = pick(
        draw, touching(world, day, code, version) or world.siblings(day, code, version)
    )
    if neighbour is None:
        return None
    units = [code, neighbour[0]]
    if draw(st.booleans()):
        return [{"op": "merge", "units": units, "absorb_into": draw(st.sampled_from(units))}]
    return [{"op": "merge", "units": units, "into": {"code": world.fresh(), "name": "merged"}}]


def gen_transfer(draw: st.DrawFn, world: World, day: date) -> Ops | None:
    chosen = pick(draw, world.live(day, "community"))
    if chosen is None:
        return None
    code, version = chosen
    street = world.register.get_unit(version.parent).version_on(day)
    assert street is not None
    targets = world.siblings(day, version.parent, street)
    target = pick(draw, targets)
    if target is None:
        return None
    target_code, target_version = target
    rest = polygonal(world.shape(street).difference(world.shape(version)))
    grown = polygonal(world.shape(target_version).union(world.shape(version)))
    if rest is None or grown is None:
        return None
    ops: Ops = [
        {"op": "transfer", "unit": code, "parent": target_code},
        {"op": "redraw", "unit": version.parent, "geometry": geojson(rest)},
        {"op": "redraw", "unit": target_code, "geometry": geojson(grown)},
    ]
    station = pick(draw, world.workstations(day, target_code))
    if station is not None:
        ops.append({"op": "assign_coverage", "workstation": station, "communities": [code]})
    return draw(st.permutations(ops))


def gen_rename(draw: st.DrawFn, world: World, day: date) -> Ops | None:
    chosen = pick(draw, world.live(day))
    if chosen is None:
        return None
    name = draw(st.sampled_from(["新", "Nord", "Ost", "甲"]))
    choice = draw(st.integers(0, 4))
    if choice == 4:
        return [{"op": "recode", "unit": chosen[0], "code": world.fresh("R")}]
    if choice == 0:
        later = draw(st.sampled_from([d for d in DAYS if d > day] or [date(2031, 1, 1)]))
        return [
            {
                "op": "correct",
                "unit": chosen[0],
                "valid_from": day.isoformat(),
                "valid_to": later.isoformat(),
                "name": name,
            }
        ]
    return [{"op": "rename", "unit": chosen[0], "name": name}]


def gen_dissolve(draw: st.DrawFn, world: World, day: date) -> Ops | None:
    level = draw(st.sampled_from(["community", "community", "street", "grid"]))
    chosen = pick(draw, world.live(day, level))
    if chosen is None:
        return None
    code, version = chosen
    ops: Ops = [{"op": "dissolve", "unit": code}]
    neighbour = pick(draw, touching(world, day, code, version))
    if neighbour is not None and draw(st.integers(0, 3)) > 0:
        grown = polygonal(world.shape(neighbour[1]).union(world.shape(version)))
        if grown is not None:
            ops.append({"op": "redraw", "unit": neighbour[0], "geometry": geojson(grown)})
    return draw(st.permutations(ops))


def gen_workstations(draw: st.DrawFn, world: World, day: date) -> Ops | None:
    chosen = pick(draw, world.live(day, "street"))
    if chosen is None:
        return None
    street = chosen[0]
    stations = world.workstations(day, street)
    if len(stations) >= 2 and draw(st.booleans()):
        pair = draw(st.lists(st.sampled_from(stations), min_size=2, max_size=2, unique=True))
        if draw(st.booleans()):
            return [{"op": "merge_workstations", "workstations": pair, "into": pair[0]}]
        return [{"op": "close_workstation", "code": pair[0], "successor": pair[1]}]
    communities = [c for c, v in world.live(day, "community") if v.parent == street]
    if not communities:
        return None
    serves = draw(st.lists(st.sampled_from(communities), min_size=1, unique=True))
    reuse: bool = draw(st.booleans())
    if stations and reuse:
        station: str = pick(draw, stations)
        return [{"op": "assign_coverage", "workstation": station, "communities": serves}]
    return [{"op": "open_workstation", "code": world.fresh("W"), "name": "ws", "serves": serves}]


def gen_grids(draw: st.DrawFn, world: World, day: date) -> Ops | None:
    chosen = pick(draw, world.live(day, "community"))
    if chosen is None:
        return None
    code, version = chosen
    pieces = cut(draw, world.shape(version))
    if pieces is None:
        return None
    has_grids = any(v.parent == code for _, v in world.live(day, "grid"))
    grids = [
        {
            "code": world.fresh("G"),
            "geometry": geojson(piece),
            "officer": draw(st.sampled_from(["", "王"])),
        }
        for piece in pieces
    ]
    op = "regrid" if has_grids or draw(st.integers(0, 4)) == 0 else "lay_grids"
    return [{"op": op, "community": code, "grids": grids}]


def gen_garbage(draw: st.DrawFn, world: World, day: date) -> Ops | None:
    chosen = pick(draw, world.live(day))
    code = chosen[0] if chosen is not None else "C"
    kind = draw(st.sampled_from(["bowtie", "range", "elsewhere", "unknown", "empty"]))
    geometry: Any
    if kind == "bowtie":
        geometry = {
            "type": "Polygon",
            "coordinates": [
                [[114.0, 22.5], [114.01, 22.51], [114.01, 22.5], [114.0, 22.51], [114.0, 22.5]]
            ],
        }
    elif kind == "range":
        geometry = geojson(box(214.0, 22.5, 214.01, 22.51))
    elif kind == "elsewhere":
        geometry = geojson(box(113.0, 22.5, 113.01, 22.51))
    elif kind == "empty":
        geometry = {"type": "Polygon", "coordinates": []}
    else:
        return [{"op": "rename", "unit": "NOPE", "name": "x"}]
    return [{"op": "redraw", "unit": code, "geometry": geometry}]


GENERATORS = [
    gen_move_boundary,
    gen_move_boundary,
    gen_split,
    gen_merge,
    gen_transfer,
    gen_rename,
    gen_dissolve,
    gen_workstations,
    gen_grids,
    gen_garbage,
]


# The properties ---------------------------------------------------------------------------------


@dataclass
class Tally:
    accepted: int = 0
    rejected: int = 0
    events: int = 0


def submit(world: World, day: date, ops: Ops, tally: Tally, **kwargs: Any) -> bool:
    """Apply a change set; check what was stored. True if it was accepted and stored."""
    register = world.register
    before = register.recorder.max_notification_id() or 0
    body = {"effective": day.isoformat(), "reason": "random", "operations": ops}
    try:
        receipt = register.apply_change_set(parse_change_set(body), actor="hypothesis", **kwargs)
    except InvalidChangeSet as rejection:
        assert rejection.problems
        assert (register.recorder.max_notification_id() or 0) == before, "rejected but stored"
        tally.rejected += 1
        return False
    after = register.recorder.max_notification_id() or 0
    if kwargs.get("dry_run") or receipt.replayed:
        assert after == before, "a dry run or a replay stored something"
        assert receipt.position is None
        return False
    assert after == before + receipt.events + 1, "not exactly its events and its record"
    assert receipt.position == after
    tally.accepted += 1
    tally.events += receipt.events + 1
    world.learn(ops)
    return True


def earliest(day: date, ops: Ops) -> date:
    starts = [date.fromisoformat(op["valid_from"]) for op in ops if "valid_from" in op]
    return min([day, *starts])


def run_scenario(data: st.DataObject, steps: int) -> Tally:
    register = in_memory_register(RULES)
    world = World(register)
    tally = Tally()
    base = data.draw(maps(), label="map")
    assert submit(world, START, base, tally), "the random map itself must be valid"
    fold = NaiveFold(register)
    fold.catch_up()
    assert violations(fold, START) == []
    last: tuple[date, Ops, str] | None = None
    for step in range(steps):
        day = data.draw(st.sampled_from(DAYS), label="day")
        generator = data.draw(st.sampled_from(GENERATORS), label="operation")
        ops = generator(data.draw, world, day)  # type: ignore[arg-type]
        if not ops:
            continue
        mode = data.draw(st.sampled_from(["plain"] * 8 + ["dry_run", "replay"]), label="mode")
        if mode == "replay" and last is not None:
            assert not submit(world, last[0], last[1], tally, idempotency_key=last[2])
            continue
        key = f"step-{step}"
        accepted = submit(world, day, ops, tally, dry_run=mode == "dry_run", idempotency_key=key)
        if accepted:
            last = (day, ops, key)
            fold.catch_up()
            problems = violations(fold, earliest(day, ops))
            assert problems == [], (ops, problems)
    fold.catch_up()
    assert fold.position == (register.recorder.max_notification_id() or 0) == tally.events
    someday = st.dates(date(2014, 1, 1), date(2035, 12, 31))
    extra = data.draw(st.lists(someday, max_size=5), label="dates compared")
    assert assert_aggregates_match_the_fold(register, fold, extra) > 0
    return tally


TOTALS = Tally()


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), steps=st.integers(1, 12))
def test_random_change_sets_keep_every_invariant_and_fold_faithfully(
    data: st.DataObject, steps: int
) -> None:
    tally = run_scenario(data, steps)
    TOTALS.accepted += tally.accepted
    TOTALS.rejected += tally.rejected


def test_the_random_runs_exercised_both_outcomes() -> None:
    """A property run that only ever accepted (or rejected) would prove little."""
    if TOTALS.accepted + TOTALS.rejected == 0:
        pytest.skip("run with the property test")
    assert TOTALS.accepted > 60, TOTALS
    assert TOTALS.rejected > 20, TOTALS


@pytest.mark.slow
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), steps=st.integers(10, 30))
def test_long_random_histories(data: st.DataObject, steps: int) -> None:
    run_scenario(data, steps)
