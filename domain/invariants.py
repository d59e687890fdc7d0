"""The rules a change set must leave intact, checked on the whole timeline it affects.

A change effective on day D can break something on any later day (a backdated redraw may
overlap a neighbour's 2019 version), so each family a change set touched (a parent and its
children) is checked on every day from D on where anything in the family changes. Between
those days nothing changes, so checking them covers the whole timeline.

Overlays are computed in lon/lat, where the stored edges are straight (projecting first would
bend long edges and invent slivers); only the resulting overlap, gap or overhang is measured,
geodesically in m² (`domain.geometry.area_m2`), against a tolerance for digitising noise.
Every problem names the units involved, the offending area and the first day it occurs.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import shapely
from shapely.strtree import STRtree

from domain.errors import Problem
from domain.geometry import area_m2, from_wkb_hex, point_extra
from domain.offices import WORKSTATION, Office
from domain.units import Unit
from domain.workspace import Workspace


def check(ws: Workspace) -> list[Problem]:
    """Every problem in the families and coverage areas the change set touched."""
    checker = _Checker(ws)
    families = set(ws.families)
    for unit in ws.changed_units():
        if all(isinstance(event, Unit.Renamed) for event in unit.pending_events):
            continue  # no rule reads a name (and a rename touches no family: `Workspace.seal`)
        if not all(isinstance(e, Unit.Renamed | Unit.Transferred) for e in unit.pending_events):
            # Its own family's rules read its territory and life, not its parent: a unit that
            # only changed parent (a community following a moved street boundary, with its
            # two dozen grids) leaves them as they were.
            families.add(unit.code)
        families.update(v.parent for v in unit.versions() if v.parent is not None)
        # And the parents it had before: a backdated dissolution erases later versions, whose
        # parents (a street it was merged into, say) may now have a gap where it was.
        families.update(v.parent for v in ws.versions_before(unit.code) if v.parent is not None)
    for code in sorted(families):
        checker.family(code)
    # A coverage change holds on until the workstation's next one, maybe after its street was
    # merged into another: check every street a changed workstation ever belonged to.
    streets = set(ws.coverage_units)
    for office in ws.changed():
        if isinstance(office, Office):
            streets.update(segment.value for segment in office.unit.segments())
    for code in sorted(streets | families):
        checker.coverage(code)
    # An office that names the units it serves: those it names must stay live and inside its
    # unit, whatever path changed them (`settle_service_areas` passes them on; a path that
    # forgot to is caught here).
    named = {o.code: o for o in ws.area_offices(ws.moved_units())}
    for office in ws.changed():
        if isinstance(office, Office) and office.kind != WORKSTATION:
            named.setdefault(office.code, office)
    for code in sorted(named):
        checker.service_area(named[code])
    return checker.problems


class _Checker:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.since = ws.earliest
        self.tolerance = ws.rules.tolerance_m2
        self.problems: list[Problem] = []
        self._seen: set[tuple[str, tuple[str, ...]]] = set()

    def report(
        self,
        code: str,
        message: str,
        day: date,
        units: tuple[str, ...],
        area: float | None = None,
        where: Any = None,
    ) -> None:
        """Record a problem once per code and units; `where` is the offending area (an
        overlay result), carried with a point on it so the editor can find it."""
        key = (code, tuple(sorted(units)))
        if key in self._seen:
            return
        self._seen.add(key)
        extra = {} if where is None else point_extra(where)
        self.problems.append(
            Problem(code, f"{message} (from {day})", "", units, area, extra, where)
        )

    def geometry(self, wkb_hex: str) -> Any:
        return from_wkb_hex(wkb_hex)

    def area(self, geometry: Any) -> float:
        """Square metres of a lon/lat overlay result."""
        # Neighbours touch along lines: no area in lon/lat is no area anywhere (area_m2 skips
        # those without measuring).
        return area_m2(geometry)

    def days(self, *units: Unit) -> list[date]:
        """Every day from the change's start on where any of `units` changes."""
        days = {self.since}
        for unit in units:
            for version in unit.versions():
                days.add(version.period.start)
                if version.period.end is not None:
                    days.add(version.period.end)
        return sorted(d for d in days if d >= self.since)

    def family(self, parent_code: str) -> None:
        """Children within their parent, siblings disjoint, full coverage, a live parent."""
        parent = self.ws.unit(parent_code)
        if parent is None:
            return
        codes = parent.children_ever | self.ws.joined.get(parent_code, set())
        members = [u for c in sorted(codes) if (u := self.ws.unit(c)) is not None]
        for day in self.days(parent, *members):
            if all(self.ws.unchanged_on(u, day) for u in (parent, *members)):
                continue
            children = [
                (u.code, v)
                for u in members
                if (v := u.version_on(day)) is not None and v.parent == parent_code
            ]
            if not children:
                continue
            parent_version = parent.version_on(day)
            if parent_version is None:
                self.report(
                    "parent_not_live",
                    f"{parent_code} does not exist but still has children "
                    f"{', '.join(c for c, _ in children)}",
                    day,
                    (parent_code, *(c for c, _ in children)),
                )
                continue
            self._check_family_on(parent_code, parent_version.geometry, children, day)

    def _check_family_on(
        self, parent_code: str, parent_wkb: str, children: list[tuple[str, Any]], day: date
    ) -> None:
        outline = self.geometry(parent_wkb)
        shapes = [self.geometry(v.geometry) for _, v in children]
        for (code, _), shape in zip(children, shapes, strict=True):
            beyond = shape.difference(outline)
            outside = self.area(beyond)
            if outside > self.tolerance:
                self.report(
                    "child_outside_parent",
                    f"{code} reaches {outside:.0f} m² outside its parent {parent_code}",
                    day,
                    (code, parent_code),
                    outside,
                    beyond,
                )
        tree = STRtree(shapes)
        for i, j in zip(*tree.query(shapes, predicate="intersects"), strict=True):
            if i >= j:
                continue
            shared = shapes[i].intersection(shapes[j])
            overlap = self.area(shared)
            if overlap > self.tolerance:
                a, b = children[i][0], children[j][0]
                self.report(
                    "siblings_overlap",
                    f"{a} and {b} overlap by {overlap:.0f} m²",
                    day,
                    (a, b),
                    overlap,
                    shared,
                )
        if self.ws.rules.full_coverage:
            uncovered = outline.difference(shapely.union_all(shapes))
            gap = self.area(uncovered)
            if gap > self.tolerance:
                self.report(
                    "coverage_gap",
                    f"the children of {parent_code} leave {gap:.0f} m² of it uncovered",
                    day,
                    (parent_code,),
                    gap,
                    uncovered,
                )

    def coverage(self, street_code: str) -> None:
        """Each community of the street served by exactly one of the street's workstations."""
        street = self.ws.unit(street_code)
        served_level = self.ws.rules.served_level
        if street is None or self.ws.rules.levels.child_of(street.level) != served_level:
            return
        codes = street.children_ever | self.ws.joined.get(street_code, set())
        communities = [u for c in sorted(codes) if (u := self.ws.unit(c)) is not None]
        workstations = self.ws.offices_of(street, WORKSTATION)
        days = set(self.days(street, *communities))
        for office in workstations:
            days.update(s.period.start for s in office.serves.segments())
            days.update(s.period.end for s in office.serves.segments() if s.period.end is not None)
        for day in sorted(d for d in days if d >= self.since):
            self._coverage_on(street_code, communities, workstations, day)

    def _coverage_on(
        self, street_code: str, communities: list[Unit], workstations: list[Office], day: date
    ) -> None:
        live = {
            u.code
            for u in communities
            if (v := u.version_on(day)) is not None and v.parent == street_code
        }
        serving: dict[str, list[str]] = {code: [] for code in live}
        for office in workstations:
            if office.unit.value_on(day) != street_code:
                continue
            for community in office.serves_on(day):
                if community not in live:
                    self.report(
                        "workstation_serves_outside",
                        f"workstation {office.code} of {street_code} serves {community}, "
                        f"which is not a live community of {street_code}",
                        day,
                        (office.code, community),
                    )
                    continue
                serving[community].append(office.code)
        for community, offices in sorted(serving.items()):
            if len(offices) == 1:
                continue
            if not offices:
                self.report(
                    "community_unserved", f"no workstation serves {community}", day, (community,)
                )
            else:
                self.report(
                    "community_served_twice",
                    f"{community} is served by {len(offices)} workstations: {', '.join(offices)}",
                    day,
                    (community, *offices),
                )

    def service_area(self, office: Office) -> None:
        """Every unit an office (not a workstation) names as served is live and inside the
        unit the office belongs to, on every day from the change on."""
        if office.kind == WORKSTATION:
            return
        days = {self.since}
        named: set[str] = set()
        for dated in (office.existence, office.unit, office.serves):
            for segment in dated.segments():
                days.add(segment.period.start)
                if segment.period.end is not None:
                    days.add(segment.period.end)
        for segment in office.serves.segments():
            named.update(segment.value or ())
        for segment in office.unit.segments():
            named.add(segment.value)
        for unit in self._with_ancestors(named):
            days.update(self.days(unit))
        for day in sorted(d for d in days if d >= self.since):
            owner = office.unit.value_on(day)
            if not office.open_on(day) or owner is None:
                continue
            for code in office.serves_on(day):
                served = self.ws.unit(code)
                if served is None or not served.exists_on(day):
                    why = "which does not exist then"
                elif not self.ws.inside(code, owner, day):
                    why = f"which is not inside {owner}, the unit the office belongs to"
                else:
                    continue
                self.report(
                    "office_serves_outside",
                    f"office {office.code} serves {code}, {why}; its service area must follow "
                    "the units it serves",
                    day,
                    (office.code, code),
                )

    def _with_ancestors(self, codes: set[str]) -> list[Unit]:
        """The units `codes` and every unit ever above one of them."""
        found: dict[str, Unit] = {}
        frontier = list(codes)
        while frontier:
            code = frontier.pop()
            unit = self.ws.unit(code)
            if code in found or unit is None:
                continue
            found[code] = unit
            frontier.extend(v.parent for v in unit.versions() if v.parent is not None)
        return list(found.values())
