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

from domain import invariants
from domain.changesets import ChangeSet, change_set_id
from domain.commands import ChangeSetRequest
from domain.errors import ConcurrentChange, InvalidChangeSet, Problem, UnitNotFound
from domain.levels import DEFAULT_RULES, LevelScheme, Rules
from domain.matters import CATALOGUE_ID, Catalogue
from domain.offices import Office, office_id
from domain.operations import apply_operation
from domain.units import Unit, unit_id
from domain.workspace import Workspace


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
        # Units are read far more often than written: keep them folded in memory and only
        # fast-forward them with newer events from the store (copies are handed out, so a
        # rejected change set never leaks into the cache).
        "AGGREGATE_CACHE_MAXSIZE": "20000",
        "AGGREGATE_CACHE_FASTFORWARD": "y",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "y",
    }

    def __init__(self, env: Any = None, rules: Rules = DEFAULT_RULES) -> None:
        super().__init__(env)
        self.rules = rules

    @property
    def levels(self) -> LevelScheme:
        """The configured levels, top down."""
        return self.rules.levels

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

    def find_office(self, code: str) -> Office | None:
        """The office with `code`, or None if there never was one."""
        try:
            office: Any = self.repository.get(office_id(code))
        except AggregateNotFoundError:
            return None
        assert isinstance(office, Office)
        return office

    def find_catalogue(self) -> Catalogue | None:
        """The matter catalogue, or None before the first matter is assigned."""
        try:
            catalogue: Any = self.repository.get(CATALOGUE_ID)
        except AggregateNotFoundError:
            return None
        assert isinstance(catalogue, Catalogue)
        return catalogue

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
        work = Workspace(self, request, actor, record_id, recorded_at)
        for index, operation in enumerate(request.operations):
            apply_operation(work, operation, f"operations[{index}]")
        if not work.problems:
            work.seal()
            work.problems.extend(invariants.check(work))
        if work.problems:
            raise InvalidChangeSet(work.problems)
        changed = work.changed()
        codes = tuple(unit.code for unit in work.revised_units())
        events = sum(len(aggregate.pending_events) for aggregate in changed)
        if dry_run:
            return Receipt(record_id, events, None, codes)
        record = ChangeSet._create(
            ChangeSet.Recorded,
            id=record_id,
            timestamp=work.recorded_at,
            effective=request.effective,
            actor=actor,
            reason=request.reason,
            document=request.document,
            operations=request.summary(),
            units=list(codes),
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
        return Receipt(record_id, events, position, codes)

    def check_operations(
        self, request: ChangeSetRequest, *, actor: str = "", recorded_at: datetime | None = None
    ) -> list[Problem]:
        """The problems of each operation of `request`, without the map-wide rules.

        For a request of which only some operations could be read: the edge reports what is
        wrong with the rest too, so the editor gets every problem at once (the map-wide rules
        are left out: they would only echo the missing operations). Nothing is stored.
        """
        work = Workspace(self, request, actor, change_set_id(None), recorded_at)
        for index, operation in enumerate(request.operations):
            apply_operation(work, operation, f"operations[{index}]")
        return work.problems

    def _replayed(self, record: ChangeSet) -> Receipt:
        return Receipt(record.id, record.events, None, tuple(record.units), replayed=True)
