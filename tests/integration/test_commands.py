"""The command layer and the composition root: a write waits on the watch's NOTIFY, the CLI's
services project their own writes, and an Idempotency-Key replays with the first position."""

from __future__ import annotations

import threading

import pytest

from api.operations import parse_change_set
from jurisdictions.bootstrap import Services, running
from jurisdictions.commands import submit_change_set
from jurisdictions.settings import Settings
from tests import scenario

pytestmark = pytest.mark.db


def test_the_watch_wakes_a_waiting_writer_when_the_projection_announces(services: Services):
    services.watch.start()
    assert services.watch.wait_connected(10)
    head = scenario.build(services.register)[-1].position
    assert head is not None
    assert not services.watch.wait_for(head, 0.2), "nothing projected yet"
    projector = threading.Thread(target=services.catch_up)
    projector.start()
    try:
        assert services.watch.wait_for(head, 10)
        assert services.worker.position() >= head
    finally:
        projector.join()


def test_the_cli_role_projects_its_own_writes_and_replays_find_their_position(
    settings: Settings,
):
    with running(settings, "cli") as services:
        assert services.project_on_write and services.watch.running
        founding = parse_change_set(scenario.FOUNDING)
        dry = submit_change_set(services, founding, actor="cli", dry_run=True)
        assert dry.dry_run and not dry.stored and dry.position is None and not dry.visible
        first = submit_change_set(services, founding, actor="cli", idempotency_key="found-1")
        assert first.stored and first.visible and first.position == services.worker.position()
        again = submit_change_set(services, founding, actor="cli", idempotency_key="found-1")
        assert again.replayed and not again.stored
        assert (again.position, again.visible) == (first.position, True)
        assert again.receipt.id == first.receipt.id
    assert not services.watch.running
