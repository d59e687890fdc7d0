"""A poison event never stalls the read model silently.

The register refuses unstorable text now, but an event log lives longer than a release: an
event stored by an older one (or by a bug) that the projection cannot apply must stop it at
exactly that event, recorded in the database, and the projection must resume by itself once
it can apply it. The poison is stored the way an older release would have: a `ChangeSet` record
saved straight through the event store, past the register's checks.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest

from domain.changesets import ChangeSet
from domain.commands import ChangeSetRequest, Rename
from jurisdictions.bootstrap import Services
from projections.worker import ProjectionStalled
from tests import scenario

pytestmark = pytest.mark.db

EVENTS_TABLE = "jurisdictionregister_events"


def store_poison(services: Services, reason: str = "bad\x00reason") -> int:
    """A change-set record the read model cannot hold (NUL in its reason), as an older release
    without the text rule would have stored it; returns its position."""
    record = ChangeSet._create(
        ChangeSet.Recorded,
        id=uuid.uuid4(),
        timestamp=datetime.now(UTC),
        effective=date(2030, 1, 1),
        actor="old release",
        reason=reason,
        document="",
        operations=[],
        units=[],
        events=0,
        fingerprint="",
    )
    recordings = services.register.save(record)
    return max(r.notification.id for r in recordings)


def rename(services: Services, name: str) -> int:
    request = ChangeSetRequest(date(2030, 1, 1), "renamed", "", (Rename("M1", name),))
    receipt = services.register.apply_change_set(request, actor="tester")
    assert receipt.position is not None
    return receipt.position


def delete_event(url: str, position: int) -> None:
    """The stand-in for a fixed release: the event is gone from what the projection reads."""
    with psycopg.connect(url) as conn:
        conn.execute(
            psycopg.sql.SQL("DELETE FROM {} WHERE notification_id = %s").format(
                psycopg.sql.Identifier(EVENTS_TABLE)
            ),
            (position,),
        )


def names_of(url: str, code: str) -> list[Any]:
    with psycopg.connect(url) as conn:
        return [
            row[0]
            for row in conn.execute(
                "SELECT name FROM unit_versions WHERE code = %s AND upper_inf(recorded) "
                "ORDER BY lower(valid)",
                (code,),
            )
        ]


def test_a_poison_event_in_a_batch_stalls_exactly_there_and_is_recorded(
    services: Services, database_url: str
):
    scenario.build(services.register)
    before = rename(services, "Before")
    poison = store_poison(services)
    after = rename(services, "After")
    assert before < poison < after

    with pytest.raises(ProjectionStalled) as caught:
        services.worker.catch_up()
    stalled = caught.value.stall
    assert stalled.position == poison
    assert stalled.event_topic.endswith("ChangeSet.Recorded")
    assert stalled.reason == "DataError: PostgreSQL text fields cannot contain NUL (0x00) bytes"
    assert stalled.attempts == 1
    # Everything before it is applied (the batch was retried event by event), nothing after.
    assert services.worker.position() == poison - 1
    assert names_of(database_url, "M1")[-1] == "Before"
    assert services.worker.stalled() == stalled

    with pytest.raises(ProjectionStalled) as again:
        services.worker.catch_up()
    assert again.value.stall.position == poison
    assert again.value.stall.attempts == 2
    assert again.value.stall.since == stalled.since

    delete_event(database_url, poison)
    services.worker.catch_up()
    assert services.worker.stalled() is None
    assert services.worker.position() == services.worker.head() == after
    assert names_of(database_url, "M1")[-1] == "After"


def test_an_event_that_cannot_be_read_stalls_there_too(services: Services, database_url: str):
    scenario.build(services.register)  # not projected: the event is mid-batch
    unreadable = rename(services, "Unreadable")
    rename(services, "Later")
    with psycopg.connect(database_url) as conn:
        conn.execute(
            psycopg.sql.SQL("UPDATE {} SET topic = %s WHERE notification_id = %s").format(
                psycopg.sql.Identifier(EVENTS_TABLE)
            ),
            ("domain.units:Unit.NoSuchEvent", unreadable),
        )
    with pytest.raises(ProjectionStalled) as caught:
        services.worker.catch_up()
    assert caught.value.stall.position == unreadable
    assert caught.value.stall.event_topic == "domain.units:Unit.NoSuchEvent"
    assert services.worker.position() == unreadable - 1
    assert "/" not in caught.value.stall.reason  # no server paths


def test_the_last_event_removed_clears_the_stall(services: Services, database_url: str):
    scenario.build(services.register)
    poison = store_poison(services)
    with pytest.raises(ProjectionStalled):
        services.worker.catch_up()
    delete_event(database_url, poison)
    services.worker.catch_up()
    assert services.worker.stalled() is None


def test_a_rebuild_meets_the_stall_and_passes_it_once_fixed(services: Services, database_url: str):
    scenario.build(services.register)
    poison = store_poison(services)
    rename(services, "After")
    with pytest.raises(ProjectionStalled):
        services.worker.rebuild()
    assert services.worker.stalled() is not None
    delete_event(database_url, poison)
    services.worker.rebuild()
    assert services.worker.stalled() is None
    assert names_of(database_url, "M1")[-1] == "After"
