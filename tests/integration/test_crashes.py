"""The projection killed (SIGKILL) again and again, live and during a rebuild: afterwards the
read model equals a clean rebuild, with nothing lost or doubled."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from jurisdictions.bootstrap import Services
from tests.conftest import ROOT
from tests.integration.test_projection import _many_change_sets, snapshot

pytestmark = [pytest.mark.db, pytest.mark.slow]


def _start(database_url: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "jurisdictions.cli", *args],
        env={**os.environ, "DATABASE_URL": database_url},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _kill_mid_way(
    process: subprocess.Popen[bytes], services: Services, rng: random.Random, since: int
) -> bool:
    """SIGKILL soon after the process has committed progress past `since` (unless it ended
    first); True if it was killed mid-way. Waiting for progress, not for a clock, makes the
    kill land between batches on a fast machine and a slow one alike."""
    deadline = time.monotonic() + 60
    while services.worker.position() <= since and time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        time.sleep(0.002)
    time.sleep(rng.uniform(0.0, 0.03))
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True


def test_live_projection_killed_again_and_again(services: Services, database_url: str):
    _many_change_sets(services, 300)
    head = services.worker.head()
    rng = random.Random(9)
    kills, positions = 0, [0]
    while services.worker.position() < head and kills < 8:
        process = _start(database_url, "project", "--batch-size", "2")
        if _kill_mid_way(process, services, rng, positions[-1]):
            kills += 1
        positions.append(services.worker.position())
    assert kills >= 3, "the kills must land before the projection finishes to mean anything"
    assert positions == sorted(positions), "a restart never goes backwards"
    final = _start(database_url, "project")
    assert final.wait(timeout=120) == 0
    assert services.worker.position() == head
    incremental = snapshot(database_url)
    services.worker.rebuild()
    assert snapshot(database_url) == incremental


def test_rebuild_killed_again_and_again_then_resumed(services: Services, database_url: str):
    _many_change_sets(services, 300)
    services.worker.catch_up()
    clean = snapshot(database_url)
    rng = random.Random(11)
    kills = 0
    for _ in range(4):
        process = _start(database_url, "rebuild", "--batch-size", "10")
        # A rebuild first forgets the position; kill once it has rebuilt a little.
        deadline = time.monotonic() + 60
        while services.worker.position() != 0 and time.monotonic() < deadline:
            time.sleep(0.002)
        if _kill_mid_way(process, services, rng, 0):
            kills += 1
        # Whatever was committed is a consistent prefix: the tracked position says how far.
        assert services.worker.position() <= services.worker.head()
    assert kills >= 2
    resumed = _start(database_url, "project")
    assert resumed.wait(timeout=120) == 0
    assert services.worker.position() == services.worker.head()
    assert snapshot(database_url) == clean


def test_a_killed_server_leaves_its_projection_lock_to_the_next(
    database_url: str, services: Services
):
    """The advisory lock dies with its connection: a new projector takes over at once."""
    _many_change_sets(services, 20)
    first = _start(database_url, "project", "--follow")
    deadline = time.monotonic() + 60
    while services.worker.position() < services.worker.head() and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    _many_change_sets_more(services)
    second = _start(database_url, "project")
    assert second.wait(timeout=60) == 0
    assert services.worker.position() == services.worker.head()


def _many_change_sets_more(services: Services) -> None:
    from tests.unit.helpers import apply

    apply(
        services.register,
        "2031-01-01",
        {"op": "rename", "unit": "D", "name": "D renamed"},
    )
