"""From register events to read-model effects: the projection's pure half.

For an event of a versioned aggregate (unit, office, catalogue) the effect is the difference
between the aggregate's versions just before and just after the event: versions no longer
believed are closed in recorded time, new ones opened. Computing it from the aggregate's own
fold (`versions()`, from the event's date on) means the read model can never disagree with the
domain about what held on a date. History, lineage and the change-set log are appended as they
come.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from domain.changesets import ChangeSet
from domain.matters import Catalogue, MatterVersion
from domain.offices import Office, OfficeVersion
from domain.register import JurisdictionRegister
from domain.units import Unit, UnitVersion
from projections.read_model import (
    CHANGE_SET_LOG,
    LINEAGE_EDGES,
    MATTER_VERSIONS,
    OFFICE_VERSIONS,
    UNIT_EVENTS,
    UNIT_VERSIONS,
    AppendTable,
    EventEffects,
    VersionRow,
)

Versioned = Unit | Office | Catalogue
#: Rows of an aggregate's versions: all of them (None), or those starting on or after a day
#: that begins a version or a gap (see `AggregateTimelines.advance`).
Rows = Callable[[Any, "date | None"], list[VersionRow]]

#: Events that change nothing an aggregate's versions are folded from (children, offices and
#: lineage of a unit): their rows are the rows before, so they are not folded at all.
UNVERSIONED: frozenset[type[Any]] = frozenset({Unit.ChildrenRevised})


def _end_or_max(row: VersionRow) -> date:
    return date.max if row.end is None else row.end


class AggregateTimelines:
    """Aggregates as of the last event the projection applied, least recently used evicted.

    Replaying an aggregate's stream for every event would make projection cost quadratic in
    history length; keeping the folded aggregate makes each event cost one `mutate`.
    """

    def __init__(self, register: JurisdictionRegister, capacity: int = 50_000) -> None:
        self.register = register
        self.capacity = capacity
        self._cache: OrderedDict[UUID, tuple[Any, list[VersionRow]]] = OrderedDict()

    def advance(
        self, event: Any, rows: Rows, *, ordered: bool
    ) -> tuple[list[VersionRow], list[VersionRow], Any]:
        """The rows an event may change, just before and just after it; and the aggregate.

        An event effective on day D leaves every day before D as it was, so for date-ordered
        rows every version that ended before D stays, and the first one reaching D keeps its
        start: only the tail from that start (or D) on is folded again and compared, and
        history costs little per event. The rows after one event are kept for the next one of
        that aggregate, and the cached aggregate is advanced in place: no copy of its history.
        """
        aggregate_id = event.originator_id
        cached = self._cache.pop(aggregate_id, None)
        if cached is None or cached[0].version != event.originator_version - 1:
            current = self._load(aggregate_id, event.originator_version - 1)
            before = rows(current, None)
        else:
            current, before = cached
        advanced = event.mutate(current)
        if type(event) in UNVERSIONED:
            self._keep(aggregate_id, advanced, before)
            return [], [], advanced
        since = getattr(event, "effective", None) if ordered else None
        if since is None:
            keep, after = 0, rows(advanced, None)
        else:
            # Ends increase along date-ordered rows (only the last may be open).
            keep = bisect.bisect_left(before, since, key=_end_or_max)
            tail_start = min(before[keep].start, since) if keep < len(before) else since
            after = rows(advanced, tail_start)
        self._keep(aggregate_id, advanced, before[:keep] + after if keep else after)
        return before[keep:], after, advanced

    def _keep(self, aggregate_id: UUID, aggregate: Any, rows: list[VersionRow]) -> None:
        self._cache[aggregate_id] = (aggregate, rows)
        if len(self._cache) > self.capacity:
            self._cache.popitem(last=False)

    def _load(self, aggregate_id: UUID, version: int) -> Any:
        if version < 1:
            return None
        return self.register.repository.get(aggregate_id, version=version)


def _unit_rows(unit: Unit | None, start: date | None) -> list[VersionRow]:
    if unit is None:
        return []
    unit_id = str(unit.id)
    return [_unit_row(unit_id, v) for v in unit.versions(start)]


def _unit_row(unit_id: str, v: UnitVersion) -> VersionRow:
    return VersionRow(
        UNIT_VERSIONS,
        unit_id,
        v.period.start,
        v.period.end,
        {
            "code": v.code,
            "level": v.level,
            "name": v.name,
            "name_en": v.name_en,
            "parent_code": v.parent,
            "geom": v.geometry,
            "provenance": v.provenance,
        },
    )


def _office_rows(office: Office | None, start: date | None) -> list[VersionRow]:
    if office is None:
        return []
    return [_office_row(v) for v in office.versions(start)]


def _office_row(v: OfficeVersion) -> VersionRow:
    address = v.address or {}
    point = (
        f"POINT({address['lon']} {address['lat']})"
        if "lon" in address and "lat" in address
        else None
    )
    return VersionRow(
        OFFICE_VERSIONS,
        v.code,
        v.period.start,
        v.period.end,
        {
            "kind": v.kind,
            "name": v.name,
            "unit_code": v.unit,
            "address": point,
            "address_text": address.get("text", ""),
            "serves": list(v.serves),
        },
    )


def _matter_rows(catalogue: Catalogue | None, since: date | None) -> list[VersionRow]:
    # Ordered by matter, not by date: always compared in full (the catalogue is small).
    return [_matter_row(v) for v in catalogue.versions()] if catalogue is not None else []


def _matter_row(v: MatterVersion) -> VersionRow:
    return VersionRow(
        MATTER_VERSIONS,
        v.matter,
        v.period.start,
        v.period.end,
        {"name": v.name, "office_kind": v.office_kind, "level": v.level},
    )


ROWS: dict[type[Any], Rows] = {
    Unit: _unit_rows,
    Office: _office_rows,
    Catalogue: _matter_rows,
}


def _difference(
    before: list[VersionRow], after: list[VersionRow]
) -> tuple[tuple[VersionRow, ...], tuple[VersionRow, ...]]:
    """Rows no longer believed, and rows newly believed (by content, in a linear pass)."""
    if not before or not after:
        return tuple(before), tuple(after)
    if len(before) * len(after) <= 16:
        # A few rows each, the usual tail: comparing them is cheaper than hashing them.
        closed = tuple(r for r in before if r not in after)
        return closed, tuple(r for r in after if r not in before)
    old = {r.identity for r in before}
    new = {r.identity for r in after}
    return (
        tuple(r for r in before if r.identity not in new),
        tuple(r for r in after if r.identity not in old),
    )


class RegisterProjection:
    """Maps each stored event to its `EventEffects`."""

    def __init__(self, register: JurisdictionRegister) -> None:
        self.register = register
        self.timelines = AggregateTimelines(register)

    def effects_of(self, event: Any, position: int) -> EventEffects | None:
        """The effects of one event, or None for events the read model ignores."""
        if isinstance(event, ChangeSet.Recorded):
            return EventEffects(
                position=position,
                recorded_at=event.timestamp,
                change_set=str(event.originator_id),
                appended=((CHANGE_SET_LOG, _log_entry(event, position)),),
            )
        if not isinstance(event, Unit.Event | Office.Event | Catalogue.Event):
            return None
        kind = (
            Unit
            if isinstance(event, Unit.Event)
            else Office
            if isinstance(event, Office.Event)
            else Catalogue
        )
        before, after_rows, after = self.timelines.advance(
            event, ROWS[kind], ordered=kind is not Catalogue
        )
        closed, opened = _difference(before, after_rows)
        appended: list[tuple[AppendTable, dict[str, Any]]] = []
        if isinstance(event, Unit.Event) and not isinstance(event, Unit.ChildrenRevised):
            appended.append((UNIT_EVENTS, _history_entry(event, after, position)))
            appended.extend(
                (LINEAGE_EDGES, _edge(link, after.code, event, position))
                for link in event.lineage
                if link["role"] == "predecessor"
            )
        effects = EventEffects(
            position=position,
            recorded_at=event.timestamp,
            change_set=str(event.change_set),
            closed=closed,
            opened=opened,
            appended=tuple(appended),
        )
        return None if effects.is_empty() else effects

    def forget(self) -> None:
        """Drop cached aggregates (before a rebuild)."""
        self.timelines = AggregateTimelines(self.register, self.timelines.capacity)


_EVENT_NAMES = {
    Unit.Established: "established",
    Unit.Redrawn: "redrawn",
    Unit.Renamed: "renamed",
    Unit.Transferred: "transferred",
    Unit.Dissolved: "dissolved",
    Unit.Corrected: "corrected",
}


def _history_entry(event: Unit.Event, unit: Unit, position: int) -> dict[str, Any]:
    name = _EVENT_NAMES.get(type(event), type(event).__name__.lower())
    kinds = sorted({link["kind"] for link in event.lineage})
    details: dict[str, Any] = {}
    for attribute in ("name", "name_en", "parent", "valid_to"):
        value = getattr(event, attribute, None)
        if value is not None:
            details[attribute] = value.isoformat() if hasattr(value, "isoformat") else value
    if event.lineage:
        details["lineage"] = event.lineage
    return {
        "code": unit.code,
        "event": name,
        "operation": kinds[0] if kinds else name,
        "effective": event.effective,
        "recorded_at": event.timestamp,
        "actor": event.actor,
        "reason": event.reason,
        "document": event.document,
        "change_set": str(event.change_set),
        "position": position,
        "details": Jsonb(details),
    }


def _edge(link: dict[str, str], code: str, event: Unit.Event, position: int) -> dict[str, Any]:
    return {
        "predecessor": link["code"],
        "successor": code,
        "kind": link["kind"],
        "effective": event.effective,
        "recorded_at": event.timestamp,
        "change_set": str(event.change_set),
        "position": position,
    }


def _log_entry(event: ChangeSet.Recorded, position: int) -> dict[str, Any]:
    return {
        "id": str(event.originator_id),
        "effective": event.effective,
        "recorded_at": event.timestamp,
        "actor": event.actor,
        "reason": event.reason,
        "document": event.document,
        "operations": Jsonb(event.operations),
        "units": list(event.units),
        "events": event.events,
        "position": position,
    }
