"""The unit aggregate: one territory with a stable code, and every version it ever had.

A unit's events are dated facts ("from 2016-12-26 its territory is ...") rather than overwrites,
so the aggregate holds its whole valid-time history and can answer for any day. The order the
facts were recorded in matters only where they disagree (see `domain.timeline`).
"""

from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate

from domain.timeline import DatedValue, Period, combine

#: Namespace of the deterministic aggregate ids: the same code always names the same stream,
#: which is what makes "a code is never reused" enforceable by the event store itself.
ID_NAMESPACE = uuid.UUID("5b0e7d4c-3f1a-5d2e-9a47-2c1b8e6f0a93")


def unit_id(code: str) -> uuid.UUID:
    """The aggregate id of the unit with `code`."""
    return uuid.uuid5(ID_NAMESPACE, f"unit/{code}")


@dataclass(frozen=True)
class UnitVersion:
    """The state of a unit over one period in which nothing about it changed."""

    code: str
    level: str
    name: str
    name_en: str
    parent: str | None
    geometry: str  # hex WKB MultiPolygon, lon/lat
    period: Period
    provenance: str = ""


@dataclass(frozen=True)
class LineageLink:
    """An edge of the lineage graph seen from this unit.

    `role` is ``predecessor`` when territory came to this unit from `other`, ``successor`` when
    it went from this unit to `other`; `kind` names the change (``split_off``, ``merge``, ...).
    """

    day: date
    kind: str
    role: str
    other: str


class Unit(Aggregate):
    """A territory with a code, a level, and dated names, parents and geometries."""

    class Event(Aggregate.Event):
        """Every unit event says when it holds and who asked for it under which act."""

        effective: date
        actor: str
        reason: str
        document: str
        change_set: uuid.UUID
        lineage: list[dict[str, str]]

        def apply(self, aggregate: Any) -> None:
            """Record the lineage every event may carry."""
            assert isinstance(aggregate, Unit)
            aggregate.record_lineage(self.effective, self.lineage)

    class Established(Event, Aggregate.Created):
        """A new unit begins to exist on `effective`.

        Version 2 added `provenance` ("synthesised", "derived", ...: where the geometry or the
        fact came from); events stored before it read back with an empty provenance.
        """

        code: str
        level: str
        name: str
        name_en: str
        parent: str | None
        geometry: str
        provenance: str

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 had no provenance."""
            state["provenance"] = ""

    class ChildrenRevised(Event):
        """Some of the unit's children (or offices) changed in a change set.

        It records which codes joined, so the unit knows every child and office it ever had
        without a query; and because every change set touching a child appends one to the
        parent, two change sets editing the same family conflict on the parent's version
        (optimistic concurrency across siblings, parents included).
        """

        joined: list[str]
        offices: list[str]

        def apply(self, aggregate: Any) -> None:
            """Remember the new members."""
            super().apply(aggregate)
            aggregate.children_ever.update(self.joined)
            aggregate.offices_ever.update(self.offices)

    class Redrawn(Event):
        """The unit's territory changes from `effective` on."""

        geometry: str

        def apply(self, aggregate: Any) -> None:
            """Change the territory from the effective date."""
            super().apply(aggregate)
            aggregate.geometry.change_from(self.effective, self.geometry)

    class Renamed(Event):
        """The unit's name changes from `effective` on; its code does not."""

        name: str
        name_en: str

        def apply(self, aggregate: Any) -> None:
            """Change the name from the effective date."""
            super().apply(aggregate)
            aggregate.names.change_from(self.effective, (self.name, self.name_en))

    class Transferred(Event):
        """The unit moves to another parent from `effective` on."""

        parent: str

        def apply(self, aggregate: Any) -> None:
            """Change the parent from the effective date."""
            super().apply(aggregate)
            aggregate.parent.change_from(self.effective, self.parent)

    class Dissolved(Event):
        """The unit ceases to exist on `effective`; its code is never used again."""

        def apply(self, aggregate: Any) -> None:
            """End the unit's existence from the effective date."""
            super().apply(aggregate)
            aggregate.existence.change_from(self.effective, False)

    class Corrected(Event):
        """The register was wrong about ``[effective, valid_to)``; not a change in the world."""

        valid_to: date | None
        geometry: str | None
        name: str | None
        name_en: str | None

        def apply(self, aggregate: Any) -> None:
            """Overwrite the corrected period only."""
            super().apply(aggregate)
            period = Period(self.effective, self.valid_to)
            if self.geometry is not None:
                aggregate.geometry.correct(period, self.geometry)
            if self.name is not None:
                current = aggregate.names.value_on(self.effective) or (self.name, "")
                aggregate.names.correct(
                    period, (self.name, self.name_en if self.name_en is not None else current[1])
                )

    def __init__(
        self,
        code: str,
        level: str,
        name: str,
        name_en: str,
        parent: str | None,
        geometry: str,
        effective: date,
        lineage: list[dict[str, str]],
        provenance: str,
    ) -> None:
        self.code = code
        self.level = level
        self.provenance = provenance
        self.children_ever: set[str] = set()
        self.offices_ever: set[str] = set()
        self.names: DatedValue[tuple[str, str]] = DatedValue()
        self.names.change_from(effective, (name, name_en))
        self.parent: DatedValue[str | None] = DatedValue()
        self.parent.change_from(effective, parent)
        self.geometry: DatedValue[str] = DatedValue()
        self.geometry.change_from(effective, geometry)
        self.existence: DatedValue[bool] = DatedValue()
        self.existence.change_from(effective, True)
        # The library calls `Unit.Event.apply` right after __init__, and it records the
        # lineage the event carries: recording it here too would list every link twice.
        self.lineage: list[LineageLink] = []

    @staticmethod
    def create_id(code: str) -> uuid.UUID:
        """Ids derive from codes (see `unit_id`)."""
        return unit_id(code)

    def record_lineage(self, day: date, links: list[dict[str, str]]) -> None:
        """Remember lineage edges carried by an event."""
        for link in links:
            self.lineage.append(LineageLink(day, link["kind"], link["role"], link["code"]))

    # Queries -------------------------------------------------------------------------------

    def versions(self, since: date | None = None) -> list[UnitVersion]:
        """Every version of the unit in date order; the valid-time history in full, or from
        `since` on (a day that begins a version or a gap; see `timeline.combine`)."""
        if since is not None:
            return self._fold_versions(since)
        cached = self.__dict__.get("_versions")
        if cached is not None and cached[0] == self.version:
            return list(cached[1])
        versions = self._fold_versions()
        self.__dict__["_versions"] = (self.version, tuple(versions))
        return versions

    def _fold_versions(self, since: date | None = None) -> list[UnitVersion]:
        attributes = {"names": self.names, "parent": self.parent, "geometry": self.geometry}
        return [
            UnitVersion(
                code=self.code,
                level=self.level,
                name=state["names"][0],
                name_en=state["names"][1],
                parent=state["parent"],
                geometry=state["geometry"],
                period=period,
                provenance=self.provenance,
            )
            for period, state in combine(self.existence, attributes, since)  # type: ignore[arg-type]
            if state["names"] is not None and state["geometry"] is not None
        ]

    def version_on(self, day: date) -> UnitVersion | None:
        """The version valid on `day`, or None if the unit did not exist then."""
        return version_at(self.versions(), day)

    def exists_on(self, day: date) -> bool:
        """Whether the unit exists on `day`."""
        return self.existence.value_on(day) is True

    def lifetime(self) -> Period:
        """From establishment to dissolution (open-ended while it lives)."""
        segments = [s for s in self.existence.segments() if s.value]
        return Period(segments[0].period.start, segments[-1].period.end)


def version_at(versions: list[UnitVersion], day: date) -> UnitVersion | None:
    """The version of a date-ordered list valid on `day`, if any."""
    index = bisect.bisect_right(versions, day, key=lambda v: v.period.start) - 1
    if index >= 0 and versions[index].period.contains(day):
        return versions[index]
    return None
