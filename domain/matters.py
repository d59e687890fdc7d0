"""The responsibility catalogue: which kind of office at which level handles each matter (事项).

The reform's rule "one kind of matter, one level" moves matters between levels; each move is a
dated event, so a lookup for a past date finds the office that handled the matter then.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate

from domain.timeline import DatedValue, Period
from domain.units import ID_NAMESPACE

CATALOGUE_ID = uuid.uuid5(ID_NAMESPACE, "catalogue/matters")


@dataclass(frozen=True)
class Assignment:
    """A matter handled by an office kind at a level."""

    office_kind: str
    level: str


@dataclass(frozen=True)
class MatterVersion:
    """Who handled a matter over one period."""

    matter: str
    name: str
    office_kind: str
    level: str
    period: Period


class Catalogue(Aggregate):
    """All matters and their dated assignments: one aggregate, the catalogue is small."""

    class Event(Aggregate.Event):
        """Dated and attributed."""

        effective: date
        actor: str
        reason: str
        document: str
        change_set: uuid.UUID

    class Started(Event, Aggregate.Created):
        """The catalogue's first entry is about to be made."""

    class MatterAssigned(Event):
        """From `effective`, `matter` is handled by `office_kind` at `level`."""

        matter: str
        name: str
        office_kind: str
        level: str

        def apply(self, aggregate: Any) -> None:
            """Record the assignment from the effective date."""
            assignments = aggregate.matters.setdefault(self.matter, DatedValue())
            assignments.change_from(self.effective, Assignment(self.office_kind, self.level))
            if self.name:
                aggregate.names[self.matter] = self.name

    def __init__(self) -> None:
        self.matters: dict[str, DatedValue[Assignment]] = {}
        self.names: dict[str, str] = {}

    def assignment_on(self, matter: str, day: date) -> Assignment | None:
        """Who handles `matter` on `day`, if anyone."""
        assignments = self.matters.get(matter)
        return assignments.value_on(day) if assignments is not None else None

    def versions(self) -> list[MatterVersion]:
        """Every matter's assignments over time, by matter then date."""
        return [
            MatterVersion(
                matter,
                self.names.get(matter, ""),
                segment.value.office_kind,
                segment.value.level,
                segment.period,
            )
            for matter in sorted(self.matters)
            for segment in self.matters[matter].segments()
        ]
