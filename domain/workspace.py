"""A change set being worked out: the aggregates it loaded and the events it queued.

Operations (`domain.operations`) read and change aggregates through the workspace; the
invariants (`domain.invariants`) then look at the result as a whole. Nothing reaches the event
store unless every check passes, and then everything is saved in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from eventsourcing.domain import Aggregate

from domain.codes import code_is_valid, code_rule
from domain.commands import ChangeSetRequest
from domain.errors import Problem
from domain.geometry import point_extra
from domain.levels import Rules
from domain.matters import CATALOGUE_ID, Catalogue
from domain.offices import WORKSTATION, Office, office_id
from domain.text import command_problems, text_problem
from domain.units import Unit, UnitVersion, unit_id, version_at


class Store(Protocol):
    """What a workspace reads from the register: its rules and the stored aggregates."""

    @property
    def rules(self) -> Rules:
        """The configured levels and tolerances."""
        ...

    def find_unit(self, code: str) -> Unit | None:
        """The unit with `code`, or None."""
        ...

    def find_office(self, code: str) -> Office | None:
        """The office with `code`, or None."""
        ...

    def find_catalogue(self) -> Catalogue | None:
        """The matter catalogue, or None."""
        ...


@dataclass(frozen=True)
class UnitAfter:
    """A unit a change set changed, as it stands on the effective date afterwards (`version`
    None: it ended), so an editor can draw the result of an edit before submitting it."""

    code: str
    level: str
    version: UnitVersion | None


class Workspace:
    """Loaded aggregates, queued events and problems found, for one change set."""

    def __init__(
        self,
        register: Store,
        request: ChangeSetRequest,
        actor: str,
        change_set: uuid.UUID,
        recorded_at: datetime | None,
    ) -> None:
        self.register = register
        self.rules: Rules = register.rules
        self.request = request
        self.day: date = request.effective
        self.recorded_at = recorded_at or Unit.Event.create_timestamp()
        self.common: dict[str, Any] = {
            "effective": request.effective,
            "actor": actor,
            "reason": request.reason,
            "document": request.document,
            "change_set": change_set,
            "timestamp": self.recorded_at,
        }
        self._units: dict[str, Unit | None] = {}
        self._baseline: dict[str, list[UnitVersion]] = {}
        self._offices: dict[str, Office | None] = {}
        self._served_before: dict[str, tuple[str, ...]] = {}
        self._catalogue: Catalogue | None = None
        self._order: list[Aggregate] = []
        #: `id()` of each aggregate in `_order`: membership by identity in constant time.
        self._ordered: set[int] = set()
        #: Parent code -> codes that joined it in this change set (new children or transfers).
        self.joined: dict[str, set[str]] = {}
        #: Unit code -> office codes that joined it.
        self.offices_joined: dict[str, set[str]] = {}
        #: Parents whose families this change set touched (their children changed).
        self.families: set[str] = set()
        #: Streets (or whatever holds workstations) whose coverage must be re-checked.
        self.coverage_units: set[str] = set()
        #: The earliest date the change set affects (a correction may reach back).
        self.earliest: date = request.effective
        self.problems: list[Problem] = []
        #: What the editor should know of a change set that is not wrong (an office's service
        #: area following a unit that ended or left): `Receipt.notes`.
        self.notes: list[Problem] = []
        #: Office code -> (unit, its successors, how it ended) for each served unit that passed
        #: its service on in this change set (`domain.operations.service_areas.pass_coverage`).
        self.service_passed: dict[str, list[tuple[str, list[str], str]]] = {}
        #: Office code -> the event that left its named service area empty (which would mean
        #: its whole unit), for `settle_service_areas` to refuse unless a later one replaced it.
        self.emptied: dict[str, object] = {}
        # The envelope's texts and the actor are stored with every event: the same text rule.
        envelope = command_problems(request, "", skip=frozenset({"operations"}))
        actor_problem = text_problem(actor)
        if actor_problem is not None:
            envelope.append(("actor", actor_problem))
        for where, message in envelope:
            self.fail("text_invalid", message, where)

    # Loading -------------------------------------------------------------------------------

    def unit(self, code: str) -> Unit | None:
        """The unit with `code` as this change set sees it, or None."""
        if code not in self._units:
            unit = self.register.find_unit(code)
            self._units[code] = unit
            self._baseline[code] = unit.versions() if unit is not None else []
        return self._units[code]

    def unchanged_on(self, unit: Unit, day: date) -> bool:
        """Whether `unit` on `day` is as it was before this change set.

        States that held before were checked when they were stored, so the invariants need
        only look at days where something in a family differs.
        """
        return version_at(self._baseline.get(unit.code, []), day) == unit.version_on(day)

    def versions_before(self, code: str) -> list[UnitVersion]:
        """The versions of unit `code` as they were before this change set."""
        self.unit(code)
        return self._baseline.get(code, [])

    def before_on(self, code: str, day: date) -> UnitVersion | None:
        """The version of unit `code` on `day` as it was before this change set."""
        return version_at(self.versions_before(code), day)

    def office(self, code: str) -> Office | None:
        """The office with `code` as this change set sees it, or None."""
        if code not in self._offices:
            office = self.register.find_office(code)
            self._offices[code] = office
            self._served_before[code] = office.serves_on(self.day) if office is not None else ()
        return self._offices[code]

    def served_before(self, code: str) -> tuple[str, ...]:
        """What office `code` served on the day before this change set."""
        self.office(code)
        return self._served_before.get(code, ())

    def catalogue(self) -> Catalogue:
        """The matter catalogue, started if it does not exist yet."""
        if self._catalogue is None:
            found = self.register.find_catalogue()
            if found is None:
                found = Catalogue._create(Catalogue.Started, id=CATALOGUE_ID, **self.common)
                self._queue(found)
            self._catalogue = found
        return self._catalogue

    def live_unit(self, code: str, location: str, on: date | None = None) -> Unit | None:
        """The unit, if it exists on the day; otherwise a problem is recorded."""
        day = on or self.day
        unit = self.unit(code)
        if unit is None:
            self.fail("unit_unknown", f"no unit with code {code!r}", location, code)
            return None
        if not unit.exists_on(day):
            self.fail("unit_not_live", f"unit {code} does not exist on {day}", location, code)
            return None
        return unit

    def open_office(self, code: str, location: str, kind: str | None = None) -> Office | None:
        """The office, if open on the day (and of `kind`); otherwise a problem is recorded."""
        office = self.office(code)
        if office is None:
            self.fail("office_unknown", f"no office with code {code!r}", location, code)
            return None
        if not office.open_on(self.day):
            self.fail("office_closed", f"office {code} is not open on {self.day}", location, code)
            return None
        if kind is not None and office.kind != kind:
            self.fail(
                "office_wrong_kind", f"{code} is a {office.kind}, not a {kind}", location, code
            )
            return None
        return office

    def code_is_free(self, code: str, location: str) -> bool:
        """Whether `code` can name a new unit or office: it follows the register's grammar and
        was never used by a unit or an office; records a problem if not."""
        if not code_is_valid(code, self.rules.code_pattern):
            self.fail("code_invalid", f"{code!r}: {code_rule(self.rules.code_pattern)}", location)
            return False
        if self.unit(code) is not None or self.office(code) is not None:
            self.fail(
                "code_taken",
                f"code {code} is already used (codes are never reused)",
                location,
                code,
            )
            return False
        return True

    def children(self, parent: Unit, day: date) -> list[Unit]:
        """The parent's children that exist on `day`."""
        codes = parent.children_ever | self.joined.get(parent.code, set())
        out = []
        for code in sorted(codes):
            child = self.unit(code)
            if (
                child is not None
                and child.exists_on(day)
                and child.parent.value_on(day) == parent.code
            ):
                out.append(child)
        return out

    def offices_of(self, unit: Unit, kind: str | None = None) -> list[Office]:
        """Every office that ever belonged to `unit` (optionally only of `kind`)."""
        codes = unit.offices_ever | self.offices_joined.get(unit.code, set())
        found = [self.office(code) for code in sorted(codes)]
        return [o for o in found if o is not None and (kind is None or o.kind == kind)]

    def workstations_serving(self, community: str, street: Unit, day: date) -> list[Office]:
        """The workstations of `street` serving `community` on `day`."""
        return [o for o in self.offices_of(street, WORKSTATION) if community in o.serves_on(day)]

    def inside(self, code: str, ancestor: str, day: date | None = None) -> bool:
        """Whether unit `code` is `ancestor` or lies under it on the day (by the parent chain)."""
        on = day or self.day
        seen: set[str] = set()
        current: str | None = code
        while current is not None and current not in seen:
            if current == ancestor:
                return True
            seen.add(current)
            unit = self.unit(current)
            current = unit.parent.value_on(on) if unit is not None else None
        return False

    def area_offices(self, codes: Iterable[str]) -> list[Office]:
        """The offices other than workstations that ever had an explicit service area and
        belong to a unit that is, or ever was, above one of the units `codes`.

        Those are the offices that can serve one of them: a new-area committee belongs to its
        district and serves streets of it. Workstations have their own rules (one street).
        """
        above: set[str] = set()
        frontier = list(codes)
        while frontier:
            unit = self.unit(frontier.pop())
            if unit is None:
                continue
            versions = [*self.versions_before(unit.code), *unit.versions()]
            for parent in {v.parent for v in versions if v.parent is not None} - above:
                above.add(parent)
                frontier.append(parent)
        found: dict[str, Office] = {}
        for code in sorted(above):
            holder = self.unit(code)
            if holder is None:
                continue
            for office in self.offices_of(holder):
                if office.kind != WORKSTATION and any(s.value for s in office.serves.segments()):
                    found.setdefault(office.code, office)
        return list(found.values())

    # Changing ------------------------------------------------------------------------------

    def establish_unit(
        self,
        *,
        code: str,
        level: str,
        name: str,
        name_en: str,
        parent: str | None,
        geometry: str,
        lineage: list[dict[str, str]],
        provenance: str = "",
    ) -> Unit:
        """Queue a new unit and register it with its parent's family."""
        unit = Unit._create(
            Unit.Established,
            id=unit_id(code),
            code=code,
            level=level,
            name=name,
            name_en=name_en,
            parent=parent,
            geometry=geometry,
            lineage=lineage,
            provenance=provenance,
            **self.common,
        )
        self._units[code] = unit
        self._queue(unit)
        if parent is not None:
            self.joined.setdefault(parent, set()).add(code)
            self.families.add(parent)
        return unit

    def open_new_office(
        self,
        *,
        code: str,
        kind: str,
        name: str,
        unit: str,
        address: dict[str, Any] | None,
        serves: Iterable[str] = (),
    ) -> Office:
        """Queue a new office and register it with its unit."""
        office = Office._create(
            Office.Opened,
            id=office_id(code),
            code=code,
            kind=kind,
            name=name,
            unit=unit,
            address=address,
            serves=list(serves),
            **self.common,
        )
        self._offices[code] = office
        self._queue(office)
        self.offices_joined.setdefault(unit, set()).add(code)
        return office

    def emit(self, aggregate: Aggregate, event_class: type[Any], **fields: Any) -> None:
        """Queue an event on an aggregate with the change set's common fields."""
        values = {**self.common, **fields}
        if issubclass(event_class, Unit.Event) and "lineage" not in values:
            values["lineage"] = []
        aggregate.trigger_event(event_class, **values)
        self._queue(aggregate)

    def _queue(self, aggregate: Aggregate) -> None:
        """Remember the order aggregates were first changed in, each once. By identity: `in`
        would compare aggregates field by field, and a scan of the list is quadratic in big
        change sets (a layer of 15,000 renames)."""
        if id(aggregate) not in self._ordered:
            self._ordered.add(id(aggregate))
            self._order.append(aggregate)

    def touch_family(self, parent: str | None) -> None:
        """Mark a parent whose family's territory or membership changed: its family rules are
        checked, and the marker `seal` appends makes concurrent edits of the family conflict.
        Operations that change no territory (a rename, office changes) do not call it."""
        if parent is not None:
            self.families.add(parent)

    def fail(
        self,
        code: str,
        message: str,
        location: str,
        *units: str,
        area_m2: float | None = None,
        where: Any = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Record a problem; the change set will be rejected with all of them.

        `where` is the offending area of a spatial problem (a shapely geometry): it is kept
        with the problem, with a point on it, so an editor can be shown where it is.
        """
        details = {**point_extra(where), **(extra or {})}
        self.problems.append(
            Problem(code, message, location, tuple(units), area_m2, details, where)
        )

    def seal(self) -> None:
        """Append the family markers that make concurrent edits of one family conflict."""
        for code in sorted(self.families | set(self.offices_joined)):
            parent = self.unit(code)
            joined = self.joined.get(code) or self.offices_joined.get(code)
            # A unit changed by this change set already conflicts on its own version.
            if parent is None or (parent.pending_events and not joined):
                continue
            self.emit(
                parent,
                Unit.ChildrenRevised,
                joined=sorted(self.joined.get(code, set())),
                offices=sorted(self.offices_joined.get(code, set())),
            )

    def changed(self) -> list[Aggregate]:
        """Every aggregate with queued events, in the order they were first changed."""
        return [a for a in self._order if a.pending_events]

    def changed_units(self) -> list[Unit]:
        """The units with queued events."""
        return [a for a in self.changed() if isinstance(a, Unit)]

    def after_state(self) -> list[UnitAfter]:
        """Each revised unit on the change set's day, as the operations left it."""
        return [UnitAfter(u.code, u.level, u.version_on(self.day)) for u in self.revised_units()]

    def moved_units(self) -> list[str]:
        """The units that ended or changed parent in this change set: what an office serving
        them by name may no longer hold (`area_offices` finds those offices)."""
        return [
            unit.code
            for unit in self.changed_units()
            if any(isinstance(e, Unit.Transferred | Unit.Dissolved) for e in unit.pending_events)
        ]

    def revised_units(self) -> list[Unit]:
        """The units whose own state changed (not just their list of children)."""
        return [
            unit
            for unit in self.changed_units()
            if any(not isinstance(e, Unit.ChildrenRevised) for e in unit.pending_events)
        ]
