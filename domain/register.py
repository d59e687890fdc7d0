"""The register: the event-sourced application that applies change sets.

It is the only writer of the event store. A change set is worked out on in-memory aggregates,
checked as a whole, and saved in one transaction with its `ChangeSet` record, or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding

from domain import invariants
from domain.changesets import (
    ChangeSet,
    change_set_id,
    idempotency_key_problem,
    request_fingerprint,
    unscoped_change_set_id,
)
from domain.commands import (
    AssignCoverage,
    AssignMatter,
    ChangeServiceArea,
    ChangeSetRequest,
    CloseOffice,
    CloseWorkstation,
    Command,
    MergeWorkstations,
    OpenOffice,
    OpenWorkstation,
    Rename,
)
from domain.errors import (
    ConcurrentChange,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    Interference,
    InvalidChangeSet,
    Problem,
    UnitNotFound,
)
from domain.levels import DEFAULT_RULES, LevelScheme, Rules
from domain.matters import CATALOGUE_ID, Catalogue
from domain.offices import Office, office_id
from domain.operations import apply_operation, settle_service_areas
from domain.units import Unit, unit_id
from domain.workspace import UnitAfter, Workspace


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


#: Operations that change no territory: a conflict between them and a sibling's change is only
#: ever on a marker (a parent's list of offices, the matter catalogue), so they are re-run on the
#: fresh state instead of answering 409 (see `JurisdictionRegister.apply_change_set`).
NON_GEOMETRIC: tuple[type[Command], ...] = (
    Rename,
    OpenOffice,
    ChangeServiceArea,
    CloseOffice,
    OpenWorkstation,
    CloseWorkstation,
    AssignCoverage,
    MergeWorkstations,
    AssignMatter,
)

CONFLICT_MESSAGE = "a unit in this change set was changed by another change set; retry"

#: How many log entries after an editor's `based_on` position are read to find what changed
#: meanwhile; an editor whose view is older than that is told to reload without the details.
STALE_SCAN_LIMIT = 50_000


@dataclass(frozen=True)
class _Loaded:
    """An aggregate a change set is about to save: the version it was read at, and whether
    the change set only appends to it what commutes with others' appends (a family marker,
    a matter assignment) rather than changing its own state."""

    id: uuid.UUID
    version: int
    shared: bool
    #: The matters this change set assigns on it (a catalogue): another change set's
    #: assignment of one of them is a real conflict, not a shared append.
    matters: frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Conflict:
    """A save refused by the event store, and whether only shared aggregates had moved."""

    error: IntegrityError
    only_shared_moved: bool
    interferences: tuple[Interference, ...] = ()


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
    #: With ``preview``: each unit the change set changed, as it stands on the effective date.
    preview: tuple[UnitAfter, ...] | None = None
    #: What the editor should know that is not wrong (an office's service area that followed
    #: its units, grew or shrank: `domain.operations.service_areas.settle_service_areas`).
    notes: tuple[Problem, ...] = ()


#: The stored events of units preloaded for the change set being worked out in this context.
_PRELOADED: ContextVar[dict[uuid.UUID, list[Any]] | None] = ContextVar("preloaded", default=None)


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

    @contextmanager
    def preloaded(self, stored: Mapping[uuid.UUID, list[Any]]) -> Iterator[None]:
        """Within the block, units are rebuilt from `stored` (each aggregate's stored events,
        read in one query by the caller: `projections.event_store.stored_events`) instead of
        one query each: a change set of 15,000 renames otherwise spends most of its time in
        15,000 round trips. Each preloaded unit is used once (a re-run reads it again), and
        saving still checks every version, so a unit changed meanwhile is still a conflict.
        """
        token = _PRELOADED.set(dict(stored))
        try:
            yield
        finally:
            _PRELOADED.reset(token)

    def find_unit(self, code: str) -> Unit | None:
        """The unit with `code`, or None if there never was one."""
        preloaded = _PRELOADED.get()
        if preloaded is not None:
            events = preloaded.pop(unit_id(code), None)
            if events is not None:
                aggregate: Any = None
                for stored in events:
                    event: Any = self.mapper.to_domain_event(stored)
                    aggregate = event.mutate(aggregate)
                return aggregate if isinstance(aggregate, Unit) else None
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

    #: How often a non-geometric change set is re-run after a conflict on a marker alone: each
    #: conflict means another writer stored, so this bounds how many may race with it.
    RERUNS: ClassVar[int] = 16

    def find_keyed_change_set(self, actor: str, idempotency_key: str) -> ChangeSet | None:
        """The change set `actor` stored under `idempotency_key`, or None.

        Records stored before keys were scoped to the actor sit under the key alone; they
        count only for the actor who stored them.
        """
        found = self.find_change_set(change_set_id(actor, idempotency_key))
        if found is None:
            unscoped = self.find_change_set(unscoped_change_set_id(idempotency_key))
            if unscoped is not None and unscoped.actor == actor:
                found = unscoped
        return found

    def apply_change_set(
        self,
        request: ChangeSetRequest,
        *,
        actor: str,
        idempotency_key: str | None = None,
        recorded_at: datetime | None = None,
        dry_run: bool = False,
        sent_as: str | None = None,
        preview: bool = False,
        based_on: int | None = None,
    ) -> Receipt:
        """Check and store a change set atomically.

        With `based_on` (the log position of the map the editor worked on), a change set any
        of whose units, or their families, another change set changed after that position is
        a `ConcurrentChange` naming that change set, a dry run too: the editor's edit was drawn
        on a map that is no longer the register's.

        With `preview`, the receipt (or the `InvalidChangeSet`, when the operations could be
        worked out) carries the after-state of each unit changed (`Workspace.after_state`).

        Raises `InvalidChangeSet` listing every problem (nothing stored) and
        `ConcurrentChange` when a unit it read was changed by someone else meanwhile.

        Idempotency: with a key this actor used before for the same request (same
        fingerprint: `sent_as` when the command layer rewrote the request it was sent, e.g.
        repaired it, so a retry matches even where the repair would now come out otherwise),
        returns the first receipt (`replayed`) and stores nothing; for another
        request raises `IdempotencyKeyReused`; a key that cannot be one raises
        `IdempotencyKeyInvalid`. A dry run answers the same way but never uses up a key.

        Concurrency granularity: every aggregate saved is version-checked by the event store.
        Geometric change sets also append a marker to each parent whose family they change
        (`Workspace.seal`), so two edits of one family's territory conflict. A change set of
        `NON_GEOMETRIC` operations changes no territory; when its save is refused only
        because aggregates it merely appends shared markers to moved (a parent's
        `ChildrenRevised` for a new office, the matter catalogue), it is worked out again on
        the fresh state, checked in full, up to `RERUNS` times. If anything whose own state
        it changes moved (the unit renamed, an office closed), it is a 409 as before.
        """
        if idempotency_key is None:
            fingerprint = ""
        else:
            problem = idempotency_key_problem(idempotency_key)
            if problem is not None:
                raise IdempotencyKeyInvalid(problem)
            fingerprint = sent_as or request_fingerprint(request)
            earlier = self.find_keyed_change_set(actor, idempotency_key)
            if earlier is not None:
                return self._replayed(earlier, request, fingerprint, idempotency_key)
        record_id = change_set_id(actor, idempotency_key)
        reruns = self.RERUNS if all(isinstance(o, NON_GEOMETRIC) for o in request.operations) else 0
        while True:
            outcome = self._attempt(
                request, actor, record_id, recorded_at, dry_run, fingerprint, preview, based_on
            )
            if isinstance(outcome, Receipt):
                return outcome
            if idempotency_key is not None:
                earlier = self.find_change_set(record_id)
                if earlier is not None:
                    return self._replayed(earlier, request, fingerprint, idempotency_key)
            if outcome.only_shared_moved and reruns > 0:
                reruns -= 1
                continue
            raise ConcurrentChange(
                conflict_message(outcome.interferences), outcome.interferences
            ) from outcome.error

    def _attempt(
        self,
        request: ChangeSetRequest,
        actor: str,
        record_id: uuid.UUID,
        recorded_at: datetime | None,
        dry_run: bool,
        fingerprint: str,
        preview: bool = False,
        based_on: int | None = None,
    ) -> Receipt | _Conflict:
        """Work the change set out on the current state and save it, or say why the event
        store refused it."""
        work = Workspace(self, request, actor, record_id, recorded_at)
        for index, operation in enumerate(request.operations):
            apply_operation(work, operation, f"operations[{index}]")
        if based_on is not None:
            stale = self._changed_since(based_on, work)
            if stale:
                raise ConcurrentChange(conflict_message(stale), stale)
        if not work.problems:
            settle_service_areas(work)
        if not work.problems:
            work.seal()
            work.problems.extend(invariants.check(work))
        after = tuple(work.after_state()) if preview else None
        if work.problems:
            error = InvalidChangeSet(work.problems)
            error.preview = after
            raise error
        changed = work.changed()
        codes = tuple(unit.code for unit in work.revised_units())
        events = sum(len(aggregate.pending_events) for aggregate in changed)
        notes = tuple(work.notes)
        if dry_run:
            return Receipt(record_id, events, None, codes, preview=after, notes=notes)
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
            fingerprint=fingerprint,
        )
        loaded = [_loaded(aggregate) for aggregate in changed]
        try:
            recordings = self.save(*changed, record)
        except IntegrityError as exc:
            moved = [a for a in loaded if self._stored_version(a.id) != a.version]
            only_shared = bool(moved) and all(
                a.shared and not self._assigned_since(a) for a in moved
            )
            return _Conflict(exc, only_shared, self._interferences(moved, changed))
        position = max(r.notification.id for r in recordings)
        return Receipt(record_id, events, position, codes, preview=after, notes=notes)

    def _changed_since(self, position: int, work: Workspace) -> tuple[Interference, ...]:
        """Other change sets stored after `position` that changed a unit this one changes or
        the parent of a family it changes (each parent gets a marker on every change of its
        children's territory: `Workspace.seal`)."""
        watched: dict[uuid.UUID, str] = {}
        for aggregate in work.changed():
            watched[aggregate.id] = str(getattr(aggregate, "code", aggregate.id))
        for code in work.families:
            watched[unit_id(code)] = code
        found: dict[str, tuple[set[str], int]] = {}
        start, read = position + 1, 0
        while read < STALE_SCAN_LIMIT:
            batch = self.recorder.select_notifications(start=start, limit=1000)
            for notification in batch:
                originator: Any = notification.originator_id
                name = watched.get(originator)
                if name is None:
                    continue
                event: Any = self.mapper.to_domain_event(notification)
                key = str(getattr(event, "change_set", "") or "")
                units, first = found.get(key, (set(), notification.id))
                units.add(name)
                found[key] = (units, min(first, notification.id))
            read += len(batch)
            if len(batch) < 1000:
                break
            start = batch[-1].id + 1
        else:
            return (Interference(tuple(sorted(watched.values())), None),)
        return tuple(self._interference(key, units, first) for key, (units, first) in found.items())

    def _interferences(
        self, moved: list[_Loaded], changed: list[Aggregate]
    ) -> tuple[Interference, ...]:
        """The change sets that stored events on `moved` aggregates after they were read."""
        codes = {a.id: str(getattr(a, "code", a.id)) for a in changed}
        found: dict[str, set[str]] = {}
        for loaded in moved:
            for stored in self.recorder.select_events(loaded.id, gt=loaded.version):
                event: Any = self.mapper.to_domain_event(stored)
                key = str(getattr(event, "change_set", "") or "")
                found.setdefault(key, set()).add(codes.get(loaded.id, str(loaded.id)))
        return tuple(self._interference(key, units, None) for key, units in found.items())

    def _interference(self, key: str, units: set[str], position: int | None) -> Interference:
        """One interfering change set, with what its record says of it."""
        record = None
        try:
            record = self.find_change_set(uuid.UUID(key)) if key else None
        except ValueError:
            record = None
        if record is None:
            return Interference(tuple(sorted(units)), key or None, position=position)
        return Interference(
            tuple(sorted(units)),
            key,
            record.actor,
            record.reason,
            record.effective.isoformat(),
            position,
        )

    def _assigned_since(self, loaded: _Loaded) -> bool:
        """Whether another change set assigned one of `loaded.matters` after it was read:
        two assignments of one matter conflict like two renames of one unit."""
        if not loaded.matters:
            return False
        stored = self.recorder.select_events(loaded.id, gt=loaded.version)
        return any(
            getattr(self.mapper.to_domain_event(item), "matter", None) in loaded.matters
            for item in stored
        )

    def _stored_version(self, aggregate_id: uuid.UUID) -> int:
        """The version of the aggregate's last stored event (0 if it has none)."""
        last = self.recorder.select_events(aggregate_id, desc=True, limit=1)
        return last[0].originator_version if last else 0

    def check_operations(
        self, request: ChangeSetRequest, *, actor: str = "", recorded_at: datetime | None = None
    ) -> list[Problem]:
        """The problems of each operation of `request`, without the map-wide rules.

        For a request of which only some operations could be read: the edge reports what is
        wrong with the rest too, so the editor gets every problem at once (the map-wide rules
        are left out: they would only echo the missing operations). Nothing is stored.
        """
        work = Workspace(self, request, actor, change_set_id(actor, None), recorded_at)
        for index, operation in enumerate(request.operations):
            apply_operation(work, operation, f"operations[{index}]")
        return work.problems

    def _replayed(
        self, record: ChangeSet, request: ChangeSetRequest, fingerprint: str, key: str
    ) -> Receipt:
        """The first receipt again, if `request` is the one the key was first used for."""
        if not record.same_request(request, fingerprint):
            raise IdempotencyKeyReused(key, record.id)
        return Receipt(record.id, record.events, None, tuple(record.units), replayed=True)


def conflict_message(interferences: tuple[Interference, ...]) -> str:
    """The sentence of a 409: who changed what meanwhile, and what to do."""
    if not interferences:
        return CONFLICT_MESSAGE
    told = []
    for item in interferences:
        units = ", ".join(item.units)
        if item.change_set is None:
            told.append(f"{units} (by change sets too many to list)")
            continue
        who = f" by {item.actor}" if item.actor else ""
        why = f" ({item.reason!r}, effective {item.effective})" if item.reason else ""
        told.append(f"{units} (change set {item.change_set}{who}{why})")
    return (
        "someone else changed the same family meanwhile: "
        + "; ".join(told)
        + ". Nothing of this change set was stored: reload those units and their neighbours "
        "on the effective date and make the edit again on the map as it is now"
    )


def _loaded(aggregate: Aggregate) -> _Loaded:
    """What `aggregate` was read at, before its pending events."""
    pending = aggregate.pending_events
    shared = isinstance(aggregate, Catalogue) or all(
        isinstance(e, Unit.ChildrenRevised) for e in pending
    )
    matters = frozenset(str(getattr(e, "matter", "")) for e in pending if hasattr(e, "matter"))
    return _Loaded(aggregate.id, aggregate.version - len(pending), shared, matters)
