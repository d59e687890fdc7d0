"""Offices: who is responsible. Street offices, residents' committees, workstations, grid officers.

An office belongs to a unit (a street office to its street, a grid officer to a grid) and
changes over time like a unit does. A workstation additionally *serves* communities: "one
station, many committees". Its service area is never edited: it is the union of the
communities it serves on a date.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate

from domain.timeline import DatedValue, Period, combine
from domain.units import ID_NAMESPACE

WORKSTATION = "workstation"
GRID_OFFICER = "grid_officer"


@dataclass(frozen=True)
class OfficeVersion:
    """An office over one period in which nothing about it changed."""

    code: str
    kind: str
    name: str
    unit: str
    address: dict[str, Any] | None
    serves: tuple[str, ...]
    period: Period


def office_id(code: str) -> uuid.UUID:
    """The aggregate id of the office with `code`."""
    return uuid.uuid5(ID_NAMESPACE, f"office/{code}")


class Office(Aggregate):
    """An office with a kind, a unit it belongs to, and (for workstations) communities served."""

    class Event(Aggregate.Event):
        """Every office event is dated and attributed, like unit events."""

        effective: date
        actor: str
        reason: str
        document: str
        change_set: uuid.UUID

    class Opened(Event, Aggregate.Created):
        """The office opens on `effective`."""

        code: str
        kind: str
        name: str
        unit: str
        address: dict[str, Any] | None
        serves: list[str]

    class Closed(Event):
        """The office closes on `effective`; `successor` takes over its work, if any."""

        successor: str | None

        def apply(self, aggregate: Any) -> None:
            """End the office's existence and its coverage."""
            aggregate.existence.change_from(self.effective, False)
            aggregate.serves.change_from(self.effective, ())
            aggregate.successor = self.successor

    class CoverageChanged(Event):
        """From `effective` the workstation serves exactly `serves`."""

        serves: list[str]

        def apply(self, aggregate: Any) -> None:
            """Change the communities served from the effective date."""
            aggregate.serves.change_from(self.effective, tuple(self.serves))

    class Reassigned(Event):
        """From `effective` the office belongs to another unit (its unit was recoded or split)."""

        unit: str

        def apply(self, aggregate: Any) -> None:
            """Change the owning unit from the effective date."""
            aggregate.unit.change_from(self.effective, self.unit)

    def __init__(
        self,
        code: str,
        kind: str,
        name: str,
        unit: str,
        address: dict[str, Any] | None,
        serves: list[str],
        effective: date,
    ) -> None:
        self.code = code
        self.kind = kind
        self.names: DatedValue[str] = DatedValue()
        self.names.change_from(effective, name)
        self.unit: DatedValue[str] = DatedValue()
        self.unit.change_from(effective, unit)
        self.address = address
        self.existence: DatedValue[bool] = DatedValue()
        self.existence.change_from(effective, True)
        self.serves: DatedValue[tuple[str, ...]] = DatedValue()
        self.serves.change_from(effective, tuple(serves))
        self.successor: str | None = None

    def open_on(self, day: date) -> bool:
        """Whether the office is open on `day`."""
        return self.existence.value_on(day) is True

    def serves_on(self, day: date) -> tuple[str, ...]:
        """The communities a workstation serves on `day`."""
        return self.serves.value_on(day) or () if self.open_on(day) else ()

    def versions(self, since: date | None = None) -> list[OfficeVersion]:
        """Every version of the office in date order (from `since` on, as `Unit.versions`)."""
        attributes = {"name": self.names, "unit": self.unit, "serves": self.serves}
        return [
            OfficeVersion(
                code=self.code,
                kind=self.kind,
                name=state["name"],
                unit=state["unit"],
                address=self.address,
                serves=tuple(state["serves"] or ()),
                period=period,
            )
            for period, state in combine(self.existence, attributes, since)  # type: ignore[arg-type]
        ]
