"""The boundary rule, proved on random registers: memory and SQL answer alike, point by point.

Hypothesis draws a map (a city tiled into districts, streets and communities on a grid) and a
random history over several dates: boundaries moved (along the grid and along slanted lines,
so that edges are not all axis-parallel), units split, merged, transferred, dissolved, renamed,
grids laid. The register and the projection are the real ones, on a real PostGIS database.
Then `LookupService` answers through the in-memory index and through SQL, for random points
and for every vertex and edge midpoint of every unit version (where neighbours meet), on every
date where anything changes and the day before: single lookups (with offices) and batches, on
all levels and on each level alone, `on_boundary` included.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import TypeVar

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.operations import parse_change_set
from jurisdictions.bootstrap import Services, build_services
from jurisdictions.settings import Settings
from projections.lookup import UnknownMatter
from projections.lookup_index import BUILD_AFTER, Snapshot
from projections.lookup_service import LookupService, UnknownLevel
from projections.routing import ReadContext, read_context
from tests import scenario
from tests.conftest import DatabaseFactory
from tests.unit.test_properties import (
    DAYS,
    START,
    Ops,
    Tally,
    World,
    gen_dissolve,
    gen_grids,
    gen_merge,
    gen_move_boundary,
    gen_rename,
    gen_split,
    gen_transfer,
    gen_workstations,
    geojson,
    maps,
    pick_neighbours,
    polygonal,
    submit,
)

pytestmark = pytest.mark.db

T = TypeVar("T")


def gen_slanted_boundary(draw: st.DrawFn, world: World, day: date) -> Ops | None:
    """Two neighbours' shared boundary moved to a slanted line through their union."""
    found = pick_neighbours(draw, world, day, ["community", "community", "street", "grid"])
    if found is None:
        return None
    code, version, other, other_version = found
    both = world.shape(version).union(world.shape(other_version))
    west, south, east, north = both.bounds
    x = west + (east - west) * draw(st.floats(0.2, 0.8))
    y = south + (north - south) * draw(st.floats(0.2, 0.8))
    angle = draw(st.floats(0.1, math.pi - 0.1))
    far = 10 * max(east - west, north - south)
    dx, dy = math.cos(angle) * far, math.sin(angle) * far
    half = shapely.Polygon(
        [(x - dx, y - dy), (x + dx, y + dy), (x + dx - dy, y + dy + dx), (x - dx - dy, y - dy + dx)]
    )
    first = polygonal(shapely.set_precision(both.intersection(half), 1e-7))
    second = polygonal(shapely.set_precision(both.difference(half), 1e-7))
    if first is None or second is None:
        return None
    if (
        first.intersection(world.shape(version)).area
        < second.intersection(world.shape(version)).area
    ):
        first, second = second, first
    return [
        {"op": "redraw", "unit": code, "geometry": geojson(first)},
        {"op": "redraw", "unit": other, "geometry": geojson(second)},
    ]


def gen_service_area(draw: st.DrawFn, world: World, day: date) -> Ops | None:
    """An office of a district serving some of its streets (a new-area committee), or all."""
    chosen = pick_district(draw, world, day)
    if chosen is None:
        return None
    streets = [c for c, v in world.live(day, "street") if v.parent == chosen]
    serves = draw(st.lists(st.sampled_from(streets), unique=True)) if streets else []
    return [
        {
            "op": "open_office",
            "code": world.fresh("NA"),
            "kind": "new_area_committee",
            "name": "committee",
            "unit": chosen,
            "serves": serves,
        }
    ]


def pick_district(draw: st.DrawFn, world: World, day: date) -> str | None:
    districts = [c for c, _ in world.live(day, "district")]
    return draw(st.sampled_from(districts)) if districts else None


#: Slanted boundaries first: hypothesis's simplest examples draw the first generator.
GENERATORS = [
    gen_slanted_boundary,
    gen_slanted_boundary,
    gen_move_boundary,
    gen_split,
    gen_merge,
    gen_transfer,
    gen_rename,
    gen_dissolve,
    gen_workstations,
    gen_grids,
    gen_grids,
    gen_service_area,
    gen_service_area,
]


def boundary_points(snapshot: Snapshot) -> list[tuple[float, float]]:
    """Every vertex and edge midpoint of every unit version's rings."""
    points: set[tuple[float, float]] = set()
    for geometry in snapshot.geoms:
        for ring in shapely.get_rings(shapely.get_parts(geometry)):
            coords = shapely.get_coordinates(ring)
            points.update(map(tuple, coords.tolist()))
            points.update(map(tuple, ((coords[:-1] + coords[1:]) / 2).tolist()))
    return sorted(points)


def from_memory(call: Callable[[], T]) -> T:
    """`call`'s answer once the index answers it (a period is indexed on its third ask)."""
    for _ in range(BUILD_AFTER):
        context = ReadContext()
        token = read_context.set(context)
        try:
            answer = call()
        finally:
            read_context.reset(token)
        if context.read_from == "memory":
            return answer
    raise AssertionError("the index never answered")


def days_of(snapshot: Snapshot) -> list[date]:
    """Every date where anything starts or ends, and the day before it."""
    days = set()
    for bound in snapshot.bounds:
        if date(2000, 1, 1).toordinal() < bound < date(2040, 1, 1).toordinal():
            days |= {date.fromordinal(bound), date.fromordinal(bound) - timedelta(days=1)}
    return sorted(days)


@pytest.mark.slow
# The connection pools draw from the global `random` (retry jitter) between hypothesis's draws,
# which it mistakes for a strategy using `random`.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), steps=st.integers(6, 14), rng=st.randoms(use_true_random=False))
def test_memory_and_sql_give_the_same_answers_on_random_registers(
    databases: DatabaseFactory, data: st.DataObject, steps: int, rng: random.Random
) -> None:
    url = databases.fresh()
    services = build_services(Settings(database_url=url, run_projection=False))
    try:
        compare_engines(services, data, steps, rng)
    finally:
        services.close()
        databases.drop(url)


def compare_engines(
    services: Services, data: st.DataObject, steps: int, rng: random.Random
) -> None:
    world = World(services.register)
    tally = Tally()
    assert submit(world, START, data.draw(maps(), label="map"), tally)
    for step in range(steps):
        day = data.draw(st.sampled_from(DAYS), label="day")
        generator = data.draw(st.sampled_from(GENERATORS), label="operation")
        ops = generator(data.draw, world, day)  # type: ignore[arg-type]
        if ops:
            submit(world, day, ops, tally, idempotency_key=f"step-{step}")
    services.worker.catch_up()
    index = services.lookup_index
    assert index is not None
    services.watch.start()
    index.start()
    assert index.wait_current(30, at_least=services.worker.position())
    memory: LookupService = services.lookup_service
    sql = LookupService(services.lookup, None, services.settings.level_scheme)
    snapshot = index.current()
    assert snapshot is not None

    edges = boundary_points(snapshot)
    west, south, east, north = shapely.total_bounds(snapshot.geoms)
    randoms = [
        (rng.uniform(west - 0.001, east + 0.001), rng.uniform(south - 0.001, north + 0.001))
        for _ in range(300)
    ]
    points = randoms + edges
    lons = np.array([p[0] for p in points])
    lats = np.array([p[1] for p in points])
    levels = services.settings.level_scheme.names
    compared = on_boundary = 0
    for n, day in enumerate(days_of(snapshot)):
        expected = sql.batch(lons, lats, day).all_units()
        found = from_memory(partial(memory.batch, lons, lats, day)).all_units()
        for i, hits in enumerate(expected):
            assert found[i] == hits, (day, points[i])
            on_boundary += any(h.on_boundary for h in hits)
        compared += len(points)
        # Each level alone (on some dates: SQL is slow enough), and two together.
        for wanted in [(level,) for level in levels] + [levels[1::2]] if n % 3 == 0 else []:
            only = from_memory(partial(memory.batch, lons, lats, day, None, wanted))
            assert only.all_units() == sql.batch(lons, lats, day, None, wanted).all_units()
            assert only.all_units() == [[h for h in hits if h.level in wanted] for hits in expected]
        # Single lookups, offices included: boundary points first, then random ones.
        singles = rng.sample(edges, min(len(edges), 15)) + randoms[:5]
        answers = []
        for lon, lat in singles:
            answer = sql.lookup(lon, lat, day)
            assert from_memory(partial(memory.lookup, lon, lat, day)) == answer
            assert answer.units == memory.batch([lon], [lat], day).units(0)
            answers.append(answer)
        # The same points as a batch with offices: memory and SQL, each vectorised.
        xs, ys = [p[0] for p in singles], [p[1] for p in singles]
        assert sql.lookups(xs, ys, day) == answers
        assert from_memory(partial(memory.lookups, xs, ys, day)) == answers
    assert compared > 0 and on_boundary > 0, (compared, on_boundary)


def test_the_service_asks_sql_for_the_past_and_refuses_unknown_levels(settings: Settings) -> None:
    services = build_services(settings)
    try:
        scenario.build(services.register)
        services.worker.catch_up()
        services.watch.start()
        index = services.lookup_index
        assert index is not None
        index.start()
        assert index.wait_current(30)
        service = services.lookup_service
        day, lon, lat = date(2017, 6, 1), 114.05, 22.55
        current = from_memory(partial(service.lookup, lon, lat, day))
        assert [u.code for u in current.units] == ["C", "D1", "S3", "M2"]
        # "As recorded at" is SQL's alone, even with the period indexed.
        recorded = datetime.now(UTC)
        context = ReadContext()
        token = read_context.set(context)
        try:
            assert service.lookup(lon, lat, day, recorded) == current
            assert service.batch([lon], [lat], day, recorded).units(0) == current.units
        finally:
            read_context.reset(token)
        assert context.read_from == "primary"
        # Levels: a batch answers on the asked ones; an unknown one is named with its place.
        only = service.batch([lon], [lat], day, None, ["street", "city"])
        assert [u.code for u in only.units(0)] == ["C", "S3"]
        with pytest.raises(UnknownLevel) as refused:
            service.batch([lon], [lat], day, None, ["street", "county"])
        assert (refused.value.level, refused.value.position) == ("county", 1)
        # On the event loop: the same answers, from memory or SQL.
        assert asyncio.run(service.lookup_async(lon, lat, day)) == current
        assert asyncio.run(service.lookup_async(lon, lat, day, recorded)) == current
        batch = asyncio.run(service.batch_async([lon], [lat], day))
        assert batch.units(0) == current.units
    finally:
        services.close()


def test_an_office_answers_only_where_its_service_area_is(settings: Settings) -> None:
    """A committee of district D1 serving S2, then S2 and S3: never S1, in both engines."""
    services = build_services(settings)
    try:
        register = services.register
        scenario.build(register)
        committee = {
            "op": "open_office",
            "code": "NA",
            "kind": "new_area_committee",
            "name": "committee",
            "unit": "D1",
            "serves": ["S2"],
        }
        for effective, op in (
            ("2016-01-01", committee),
            ("2017-01-01", {"op": "change_service_area", "code": "NA", "serves": ["S2", "S3"]}),
        ):
            body = {"effective": effective, "reason": "service area", "operations": [op]}
            register.apply_change_set(parse_change_set(body), actor="test")
        services.worker.catch_up()
        services.watch.start()
        index = services.lookup_index
        assert index is not None
        index.start()
        assert index.wait_current(30, at_least=services.worker.position())
        memory = services.lookup_service
        sql = LookupService(services.lookup, None, services.settings.level_scheme)
        s1, s2, s3 = (114.02, 22.55), (114.05, 22.65), (114.05, 22.55)
        expected = {
            (date(2015, 6, 1), s2): False,
            (date(2016, 6, 1), s1): False,
            (date(2016, 6, 1), s2): True,
            (date(2016, 6, 1), s3): False,  # S3 is not yet a street; S1 holds the point
            (date(2017, 6, 1), s1): False,
            (date(2017, 6, 1), s2): True,
            (date(2017, 6, 1), s3): True,
        }
        for (day, (lon, lat)), serves in expected.items():
            answer = sql.lookup(lon, lat, day)
            assert from_memory(partial(memory.lookup, lon, lat, day)) == answer
            assert ("NA" in [o.code for o in answer.offices]) is serves, (day, lon, lat)
    finally:
        services.close()


def test_memory_and_sql_agree_where_the_register_begins(settings: Settings) -> None:
    """The `hint` before the register's first day: the index answers it without SQL (a lookup
    from memory stays in memory), and gives SQL's date."""
    services = build_services(settings)
    try:
        scenario.build(services.register)
        services.worker.catch_up()
        services.watch.start()
        index = services.lookup_index
        assert index is not None
        index.start()
        assert index.wait_current(30)
        context = ReadContext()
        context.read_from = "memory"
        token = read_context.set(context)
        try:
            assert services.lookup_service.first_day() == date(2015, 1, 1)
        finally:
            read_context.reset(token)
        assert context.read_from == "memory"
        assert services.lookup.first_day() == date(2015, 1, 1)
        # As recorded before the founding was: no unit yet, from SQL.
        assert services.lookup_service.first_day(datetime(2014, 1, 1, tzinfo=UTC)) is None
    finally:
        services.close()


def test_a_batch_with_offices_answers_as_single_lookups(settings: Settings) -> None:
    """`lookups` (memory, SQL, as recorded at an instant), vectorised, against one `lookup`
    per point: points on a lattice over the scenario city (on edges too, some repeated), on
    dates around each change, with a matter; an unknown matter is refused before any point."""
    services = build_services(settings)
    try:
        scenario.build(services.register)
        services.worker.catch_up()
        services.watch.start()
        index = services.lookup_index
        assert index is not None
        index.start()
        assert index.wait_current(30, at_least=services.worker.position())
        memory = services.lookup_service
        sql = LookupService(services.lookup, None, services.settings.level_scheme)
        lattice = [(113.99 + i * 0.01, 22.49 + j * 0.01) for i in range(23) for j in range(23)]
        points = lattice + lattice[::7]
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        before_split = scenario.recorded("2016-12-26") - timedelta(hours=1)
        for day in (date(2015, 6, 1), date(2016, 6, 1), date(2017, 6, 1)):
            expected = [sql.lookup(x, y, day, None, "elderly-card") for x, y in points]
            assert sum(bool(e.offices) for e in expected) > len(points) // 4
            assert sql.lookups(xs, ys, day, None, "elderly-card") == expected
            batch = from_memory(partial(memory.lookups, xs, ys, day, None, "elderly-card"))
            assert batch == expected
            then = [sql.lookup(x, y, day, before_split, "elderly-card") for x, y in points]
            assert memory.lookups(xs, ys, day, before_split, "elderly-card") == then
            with pytest.raises(UnknownMatter):
                memory.lookups(xs, ys, day, None, "no-such-matter")
            with pytest.raises(UnknownMatter):
                memory.lookups(xs, ys, day, before_split, "no-such-matter")
        assert then != expected  # before the split was recorded, M2 was still S1's
    finally:
        services.close()
