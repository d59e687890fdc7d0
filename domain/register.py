"""The register: the event-sourced application that applies change sets.

It is the only writer of the event store. A change set is worked out on in-memory aggregates,
checked as a whole, and saved in one transaction with its `ChangeSet` record, or not at all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding

from domain.changesets import (
    ChangeSet,
    ChangeSetRequest,
    Dissolve,
    Establish,
    Redraw,
    change_set_id,
)
from domain.errors import ConcurrentChange, InvalidChangeSet, Problem, UnitNotFound
from domain.geometry import to_wkb_hex
from domain.levels import DEFAULT_LEVELS, LevelScheme
from domain.units import Unit, unit_id


class DateAsISO(Transcoding):
    """Effective dates are plain dates; the library only transcodes datetimes."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        """As YYYY-MM-DD."""
        return obj.isoformat()

    def decode(self, data: str) -> date:
        """From YYYY-MM-DD."""
        return date.fromisoformat(data)


@dataclass(frozen=True)
class Receipt:
    """What applying a change set produced: its id, how many events, and the log position.

    `position` is the notification id of the last event stored; readers wait for their
    projections to reach it to read their own writes. It is None for a dry run.
    """

    id: uuid.UUID
    events: int
    position: int | None
    units: tuple[str, ...]
    replayed: bool = False


class JurisdictionRegister(Application[uuid.UUID]):
    """Applies change sets to units and stores the resulting events."""

    name = "JurisdictionRegister"
    env: ClassVar[dict[str, str]] = {
        # Geometries make events large; they compress well.
        "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
    }

    def __init__(self, env: Any = None, levels: LevelScheme = DEFAULT_LEVELS) -> None:
        super().__init__(env)
        self.levels = levels

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        """Add dates to the JSON transcoder."""
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # Reads ---------------------------------------------------------------------------------

    def find_unit(self, code: str) -> Unit | None:
        """The unit with `code`, or None if there never was one."""
        try:
            unit: Any = self.repository.get(unit_id(code))
        except AggregateNotFoundError:
            return None
        assert isinstance(unit, Unit)
        return unit

    def get_unit(self, code: str) -> Unit:
        """The unit with `code`; `UnitNotFound` if there never was one."""
        unit = self.find_unit(code)
        if unit is None:
            raise UnitNotFound(code)
        return unit

    def find_change_set(self, change_set: uuid.UUID) -> ChangeSet | None:
        """A stored change set, or None."""
        try:
            record: Any = self.repository.get(change_set)
        except AggregateNotFoundError:
            return None
        assert isinstance(record, ChangeSet)
        return record

    # Writes --------------------------------------------------------------------------------

    def apply_change_set(
        self,
        request: ChangeSetRequest,
        *,
        actor: str,
        idempotency_key: str | None = None,
        recorded_at: datetime | None = None,
        dry_run: bool = False,
    ) -> Receipt:
        """Check and store a change set atomically.

        Raises `InvalidChangeSet` listing every problem (nothing stored) and
        `ConcurrentChange` when a unit it read was changed by someone else meanwhile.
        With an idempotency key seen before, returns the first receipt and stores nothing.
        """
        record_id = change_set_id(idempotency_key)
        if idempotency_key is not None:
            earlier = self.find_change_set(record_id)
            if earlier is not None:
                return self._replayed(earlier)
        work = _Workspace(self, request, actor, record_id, recorded_at)
        work.run()
        changed = work.changed_units()
        events = sum(len(unit.pending_events) for unit in changed)
        if dry_run:
            return Receipt(record_id, events, None, tuple(u.code for u in changed))
        record = ChangeSet._create(
            ChangeSet.Recorded,
            id=record_id,
            timestamp=work.recorded_at,
            effective=request.effective,
            actor=actor,
            reason=request.reason,
            document=request.document,
            operations=request.summary(),
            units=[unit.code for unit in changed],
            events=events,
        )
        try:
            recordings = self.save(*changed, record)
        except IntegrityError as exc:
            if idempotency_key is not None:
                earlier = self.find_change_set(record_id)
                if earlier is not None:
                    return self._replayed(earlier)
            msg = "a unit in this change set was changed by another change set; retry"
            raise ConcurrentChange(msg) from exc
        position = max(r.notification.id for r in recordings)
        return Receipt(record_id, events, position, tuple(u.code for u in changed))

    def _replayed(self, record: ChangeSet) -> Receipt:
        return Receipt(record.id, record.events, None, tuple(record.units), replayed=True)


class _Workspace:
    """One change set being worked out: the units it loaded and the events it queued."""

    def __init__(
        self,
        register: JurisdictionRegister,
        request: ChangeSetRequest,
        actor: str,
        record_id: uuid.UUID,
        recorded_at: datetime | None,
    ) -> None:
        self.register = register
        self.request = request
        self.recorded_at = recorded_at or ChangeSet.Recorded.create_timestamp()
        self.common: dict[str, Any] = {
            "effective": request.effective,
            "actor": actor,
            "reason": request.reason,
            "document": request.document,
            "change_set": record_id,
            "timestamp": self.recorded_at,
        }
        self.units: dict[str, Unit | None] = {}
        self.touched: list[Unit] = []
        self.problems: list[Problem] = []

    def run(self) -> None:
        for operation in self.request.operations:
            if isinstance(operation, Establish):
                self.establish(operation)
            elif isinstance(operation, Redraw):
                self.redraw(operation)
            elif isinstance(operation, Dissolve):
                self.dissolve(operation)
        if self.problems:
            raise InvalidChangeSet(self.problems)

    def changed_units(self) -> list[Unit]:
        return [unit for unit in self.touched if unit.pending_events]

    # Loading -------------------------------------------------------------------------------

    def load(self, code: str) -> Unit | None:
        if code not in self.units:
            self.units[code] = self.register.find_unit(code)
        return self.units[code]

    def live_unit(self, code: str, location: str) -> Unit | None:
        unit = self.load(code)
        day = self.request.effective
        if unit is None:
            self.fail("unit_unknown", f"no unit with code {code!r}", location, code)
            return None
        if not unit.exists_on(day):
            self.fail("unit_not_live", f"unit {code} does not exist on {day}", location, code)
            return None
        return unit

    def touch(self, unit: Unit) -> None:
        if unit not in self.touched:
            self.touched.append(unit)

    def fail(self, code: str, message: str, location: str, *units: str) -> None:
        self.problems.append(Problem(code, message, location, tuple(units)))

    # Operations ----------------------------------------------------------------------------

    def establish(self, op: Establish) -> None:
        levels = self.register.levels
        if op.level not in levels:
            self.fail(
                "level_unknown",
                f"unknown level {op.level!r}; levels are {', '.join(levels.names)}",
                f"{op.location}.level",
            )
            return
        if self.load(op.code) is not None:
            self.fail(
                "code_taken",
                f"code {op.code} is already used (codes are never reused)",
                f"{op.location}.code",
                op.code,
            )
            return
        expected_parent_level = levels.parent_of(op.level)
        if expected_parent_level is None:
            if op.parent is not None:
                self.fail(
                    "parent_not_allowed",
                    f"level {op.level} is the top level and has no parent",
                    f"{op.location}.parent",
                )
                return
        else:
            if op.parent is None:
                self.fail(
                    "parent_missing",
                    f"a {op.level} needs a parent {expected_parent_level}",
                    f"{op.location}.parent",
                )
                return
            parent = self.live_unit(op.parent, f"{op.location}.parent")
            if parent is None:
                return
            if parent.level != expected_parent_level:
                self.fail(
                    "parent_wrong_level",
                    f"the parent of a {op.level} must be a {expected_parent_level}, "
                    f"{op.parent} is a {parent.level}",
                    f"{op.location}.parent",
                    op.parent,
                )
                return
        unit = Unit._create(
            Unit.Established,
            id=unit_id(op.code),
            code=op.code,
            level=op.level,
            name=op.name,
            name_en=op.name_en,
            parent=op.parent,
            geometry=to_wkb_hex(op.geometry),
            lineage=[],
            **self.common,
        )
        self.units[op.code] = unit
        self.touch(unit)

    def redraw(self, op: Redraw) -> None:
        unit = self.live_unit(op.unit, f"{op.location}.unit")
        if unit is None:
            return
        unit.trigger_event(
            Unit.Redrawn, geometry=to_wkb_hex(op.geometry), lineage=[], **self.common
        )
        self.touch(unit)

    def dissolve(self, op: Dissolve) -> None:
        unit = self.live_unit(op.unit, f"{op.location}.unit")
        if unit is None:
            return
        unit.trigger_event(Unit.Dissolved, lineage=[], **self.common)
        self.touch(unit)
