"""Lookups from memory give exactly the SQL engine's answers, and never stale ones."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import numpy as np
import psycopg
import pytest
import shapely

from api.operations import parse_change_set
from jurisdictions.bootstrap import Services, build_services
from jurisdictions.settings import Settings
from projections.lookup import LookupResult
from projections.lookup_index import BUILD_AFTER, LookupIndex, Snapshot, load_snapshot
from tests import scenario

pytestmark = pytest.mark.db


#: An edit the tests make: M2 is renamed from 2018.
RENAME_M2 = {
    "effective": "2018-01-01",
    "reason": "renamed",
    "operations": [{"op": "rename", "unit": "M2", "name": "M2 renamed"}],
}


@contextmanager
def scenario_index(settings: Settings) -> Iterator[tuple[Services, LookupIndex]]:
    """The scenario city projected, with the watch and a current lookup index running."""
    services = build_services(settings)
    index = services.lookup_index
    assert index is not None
    try:
        scenario.build(services.register)
        services.worker.catch_up()
        services.watch.start()
        index.start()
        assert index.wait_current(30)
        yield services, index
    finally:
        services.close()


def rename_m2(services: Services) -> None:
    """Store and project `RENAME_M2`."""
    services.register.apply_change_set(parse_change_set(RENAME_M2), actor="test")
    services.worker.catch_up()


def snapshot_of(services: Services) -> Snapshot:
    with psycopg.connect(services.settings.conninfo, autocommit=True) as conn:
        return load_snapshot(
            conn,
            services.view.tracking_table_name,
            services.register.name,
            services.settings.level_scheme,
            max_epochs=4,
        )


def sample_points(snapshot: Snapshot, rng: random.Random) -> list[tuple[float, float]]:
    """Random points over the whole extent, plus points exactly on boundaries: vertices of
    units on every level and midpoints of their edges (where neighbours meet)."""
    west, south, east, north = shapely.total_bounds(snapshot.geoms)
    points = [(rng.uniform(west, east), rng.uniform(south, north)) for _ in range(400)]
    for rank in range(len(snapshot.levels.names)):
        members = np.flatnonzero(snapshot.level == rank).tolist()
        for version in rng.sample(members, min(len(members), 40)):
            ring = shapely.get_coordinates(snapshot.geoms[version].geoms[0].exterior)
            k = rng.randrange(len(ring) - 1)
            points.append((float(ring[k][0]), float(ring[k][1])))
            mid = (ring[k] + ring[k + 1]) / 2
            points.append((float(mid[0]), float(mid[1])))
    return points


def test_memory_answers_equal_sql_answers_on_the_demo(demo_database: str):
    services = build_services(Settings(database_url=demo_database, run_projection=False))
    try:
        snapshot = snapshot_of(services)
        rng = random.Random(2015)
        points = sample_points(snapshot, rng)
        # One day in every epoch, plus random days.
        days = [date.fromordinal(b) for b in snapshot.bounds if b < date(2030, 1, 1).toordinal()]
        days += [date(2015, 1, 1) + timedelta(days=rng.randrange(4000)) for _ in range(6)]
        xs = np.array([p[0] for p in points])
        ys = np.array([p[1] for p in points])
        compared = on_boundary = 0
        for day in days:
            epoch = snapshot.epoch(day)
            resolved = epoch.resolve(xs, ys)
            expected = services.lookup.batch(points, day)
            for i, hits in enumerate(expected):
                assert resolved.units(i) == hits, (day, points[i])
                compared += 1
                on_boundary += any(h.on_boundary for h in hits)
            # Single lookups: offices, the serving workstation and a matter's office too.
            for lon, lat in rng.sample(points, 25):
                sql = services.lookup.lookup(lon, lat, day)
                units = epoch.resolve(np.array([lon]), np.array([lat])).units(0)
                assert units == sql.units
                assert epoch.offices(units) == sql.offices
                for matter in list(epoch.matters)[:3]:
                    with_matter = services.lookup.lookup(lon, lat, day, matter=matter)
                    assert epoch.responsible(matter, day, units, sql.offices) == (
                        with_matter.responsible
                    )
        assert compared > 10_000 and on_boundary > 100  # boundaries really were exercised
        # Large batches take the precomputed-coverage path: still the same answers.
        big_x = np.concatenate([xs] * 3)
        big_y = np.concatenate([ys] * 3)
        resolved = snapshot.epoch(days[-1]).resolve(big_x, big_y)
        expected = services.lookup.batch(points, days[-1])
        assert [resolved.units(i) for i in range(len(points))] == expected
        # Fewer levels: the same units on those levels, nothing else.
        for wanted in ((4,), (1, 3), (0,)):
            names = {snapshot.levels.names[r] for r in wanted}
            resolved = snapshot.epoch(days[-1]).resolve(big_x, big_y, wanted)
            assert [resolved.units(i) for i in range(len(points))] == [
                [h for h in hits if h.level in names] for hits in expected
            ]
    finally:
        services.close()


def warm(index: LookupIndex, lon: float, lat: float, day: date) -> LookupResult | None:
    """Ask until the period is indexed (or the index declines for another reason)."""
    for _ in range(BUILD_AFTER - 1):
        if (found := index.lookup(lon, lat, day)) is not None:
            return found
    return index.lookup(lon, lat, day)


def test_the_index_answers_only_when_current_and_follows_edits(settings: Settings):
    with scenario_index(settings) as (services, index):
        day = date(2017, 6, 1)
        # A period asked about once or twice is answered by SQL; then it is indexed.
        for _ in range(BUILD_AFTER - 1):
            assert index.lookup(114.05, 22.55, day, matter="elderly-card") is None
        found = index.lookup(114.05, 22.55, day, matter="elderly-card")
        assert found is not None
        assert [u.code for u in found.units] == ["C", "D1", "S3", "M2"]
        assert found.responsible is not None and found.responsible.office is not None
        assert found.responsible.office.code == "RC2"
        assert found == services.lookup.lookup(114.05, 22.55, day, matter="elderly-card")

        # An edit: M2 is renamed from 2018. Until the index has reloaded it must not answer.
        rename_m2(services)
        # The watch hears of the edit a moment after its commit (a NOTIFY): until then this
        # process cannot know of it (a write through the API records its position instead).
        deadline = time.monotonic() + 10
        while services.watch.position != services.worker.position() and time.monotonic() < deadline:
            time.sleep(0.01)
        later = date(2019, 1, 1)
        answer = index.lookup(114.05, 22.55, later)
        assert answer is None or answer.units[-1].name == "M2 renamed"
        assert index.wait_current(30, at_least=services.worker.position())
        answer = warm(index, 114.05, 22.55, later)
        assert answer is not None and answer.units[-1].name == "M2 renamed"
        before = warm(index, 114.05, 22.55, day)
        assert before is not None and before.units[-1].name != "M2 renamed"

        # A read that must see a position the index has not reached goes to SQL.
        position = services.worker.position()
        services.reads.wrote(position + 1)
        assert index.lookup(114.05, 22.55, later) is None


def test_a_period_in_use_is_indexed_again_before_the_changed_index_answers(settings: Settings):
    with scenario_index(settings) as (services, index):
        later = date(2019, 1, 1)
        assert warm(index, 114.05, 22.55, later) is not None
        assert index.has_epoch(later)
        rename_m2(services)
        assert index.wait_current(30, at_least=services.worker.position())
        assert index.last_refresh[0] == "refresh"
        # The change touched the period in use: it is indexed again before the new snapshot
        # answers, so the very first lookup comes from memory with the change.
        assert index.has_epoch(later)
        answer = index.lookup(114.05, 22.55, later)
        assert answer is not None and answer.units[-1].name == "M2 renamed"
        assert answer == services.lookup.lookup(114.05, 22.55, later)


def test_the_index_stands_down_when_the_register_is_too_large(settings: Settings):
    services = build_services(settings)
    try:
        scenario.build(services.register)
        services.worker.catch_up()
        index = LookupIndex(
            services.read_pool,
            services.watch,
            settings.level_scheme,
            tracking_table=services.view.tracking_table_name,
            application=services.register.name,
            needed_position=services.reads.needed_position,
            max_versions=3,
        )
        services.watch.start()
        index.start()
        assert services.watch.wait_connected(10)
        deadline = time.monotonic() + 20
        while not index.disabled_reason and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "exceed JL_LOOKUP_INDEX_MAX_VERSIONS" in index.disabled_reason
        assert index.lookup(114.05, 22.55, date(2017, 6, 1)) is None
        index.stop()
    finally:
        services.close()
