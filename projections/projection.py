"""From register events to read-model effects: the projection's pure half.

For a unit event the effect is the difference between the unit's valid-time history just
before and just after the event: versions that are no longer believed are closed in recorded
time, new ones are opened. Computing it from the aggregate's own fold (`Unit.versions`) means
the read model can never disagree with the domain about what held on a date.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from domain.changesets import ChangeSet
from domain.register import JurisdictionRegister
from domain.units import Unit, UnitVersion
from projections.read_model import EventEffects, VersionRow


class UnitTimelines:
    """Aggregates as of the last event the projection applied, least recently used evicted.

    Replaying a unit's stream for every event would make projection cost quadratic in history
    length; keeping the folded aggregate makes each event cost one `mutate`.
    """

    def __init__(self, register: JurisdictionRegister, capacity: int = 50_000) -> None:
        self.register = register
        self.capacity = capacity
        self._cache: OrderedDict[UUID, Unit] = OrderedDict()

    def advance(self, event: Unit.Event) -> tuple[list[UnitVersion], list[UnitVersion]]:
        """Versions before and after `event`, keeping the advanced aggregate."""
        unit_id = event.originator_id
        current = self._cache.pop(unit_id, None)
        if current is None or current.version != event.originator_version - 1:
            current = self._load(unit_id, event.originator_version - 1)
        before = current.versions() if current is not None else []
        advanced = event.mutate(copy.deepcopy(current) if current is not None else None)
        assert isinstance(advanced, Unit)
        self._cache[unit_id] = advanced
        if len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        return before, advanced.versions()

    def _load(self, unit_id: UUID, version: int) -> Unit | None:
        if version < Unit.INITIAL_VERSION:
            return None
        unit: Any = self.register.repository.get(unit_id, version=version)
        assert isinstance(unit, Unit)
        return unit


class RegisterProjection:
    """Maps each stored event to its `EventEffects`."""

    def __init__(self, register: JurisdictionRegister) -> None:
        self.timelines = UnitTimelines(register)

    def effects_of(self, event: Any, position: int) -> EventEffects | None:
        """The effects of one event, or None for events the read model ignores."""
        if isinstance(event, Unit.Event):
            before, after = self.timelines.advance(event)
            unit_id = str(event.originator_id)
            closed = tuple(VersionRow(unit_id, v) for v in before if v not in after)
            opened = tuple(VersionRow(unit_id, v) for v in after if v not in before)
            return EventEffects(
                position=position,
                recorded_at=event.timestamp,
                change_set=str(event.change_set),
                closed=closed,
                opened=opened,
            )
        if isinstance(event, ChangeSet.Recorded):
            return EventEffects(
                position=position,
                recorded_at=event.timestamp,
                change_set=str(event.originator_id),
                change_set_entry=_log_entry(event, position),
            )
        return None

    def forget(self) -> None:
        """Drop cached aggregates (before a rebuild)."""
        self.timelines = UnitTimelines(self.timelines.register, self.timelines.capacity)


def _log_entry(event: ChangeSet.Recorded, position: int) -> dict[str, object]:
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
