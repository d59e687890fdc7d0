"""A snapshot refreshed by difference answers exactly like one loaded afresh; it declines (and
the index reloads in full) after a rebuild or when the change log was pruned past it."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest

from api.operations import parse_change_set
from domain.errors import DomainError
from domain.geometry import GeometryError
from jurisdictions.bootstrap import Services, build_services
from jurisdictions.settings import Settings
from projections import change_log
from projections.lookup_index import Snapshot, load_snapshot, refresh
from tests import scenario
from tests.integration.test_lookup_index import rename_m2, sample_points, scenario_index

pytestmark = pytest.mark.db

UNITS = ["C", "D1", "D2", "S1", "S2", "S9", "M1", "M2", "M3", "M4", "M9", "G1", "G2"]


def full(services: Services) -> Snapshot:
    with psycopg.connect(services.settings.conninfo, autocommit=True) as conn:
        return load_snapshot(
            conn,
            services.view.tracking_table_name,
            services.register.name,
            services.settings.level_scheme,
            max_epochs=64,
        )


def refreshed(services: Services, snapshot: Snapshot) -> Snapshot | None:
    with psycopg.connect(services.settings.conninfo, autocommit=True) as conn:
        return refresh(conn, snapshot, services.view.tracking_table_name, services.register.name)


def random_change(rng: random.Random, serial: int) -> dict[str, Any]:
    """One change set of a random kind on the scenario city (the register may reject it)."""
    day = date(2015, 3, 1) + timedelta(days=rng.randrange(4000))
    unit = rng.choice(UNITS)
    west = 114.1 + rng.choice([0.02, 0.05, 0.07])
    kinds: list[dict[str, Any]] = [
        {"op": "rename", "unit": unit, "name": f"{unit} renamed {serial}"},
        {"op": "assign_coverage", "workstation": rng.choice(["W1", "W3"]), "communities": ["M2"]},
        {"op": "close_office", "code": rng.choice(["SO2", "RC1", "RC2"])},
        {
            "op": "open_office",
            "code": f"X{serial}",
            "kind": "residents_committee",
            "name": f"X{serial}",
            "unit": rng.choice(["M1", "M3", "M4"]),
        },
        {
            "op": "assign_matter",
            "matter": f"matter-{serial % 3}",
            "name": "m",
            "office_kind": "street_office",
            "level": "street",
        },
        {
            "op": "split",
            "unit": "M9",
            "mode": "full",
            "reassign_children": "none",
            "parts": [
                {
                    "code": f"M9a{serial}",
                    "name": "a",
                    "geometry": scenario.box(114.1, 22.5, west, 22.7),
                },
                {
                    "code": f"M9b{serial}",
                    "name": "b",
                    "geometry": scenario.box(west, 22.5, 114.2, 22.7),
                },
            ],
        },
        {"op": "redraw", "unit": "M3", "geometry": scenario.box(114.0, 22.6, 114.1, 22.7)},
        {"op": "dissolve", "unit": rng.choice(["G1", "G2", "M4"])},
    ]
    operations = rng.sample(kinds, rng.randint(1, 3))
    return {"effective": day.isoformat(), "reason": f"random {serial}", "operations": operations}


def answers(snapshot: Snapshot, days: list[date], points: list[tuple[float, float]]) -> list[Any]:
    xs = np.array([p[0] for p in points])
    ys = np.array([p[1] for p in points])
    out: list[Any] = []
    for day in days:
        epoch = snapshot.epoch(day)
        resolved = epoch.resolve(xs, ys)
        for i in range(len(points)):
            units = resolved.units(i)
            offices = epoch.offices(units)
            matters = {m: epoch.responsible(m, day, units, offices) for m in sorted(epoch.matters)}
            out.append((day, points[i], units, offices, matters))
    return out


def test_a_refreshed_snapshot_answers_like_a_fresh_one(settings: Settings):
    services = build_services(settings)
    rng = random.Random(13)
    try:
        scenario.build(services.register)
        services.worker.catch_up()
        current = full(services)
        applied = 0
        for serial in range(40):
            # Index some periods first, so that untouched ones are carried over, and checked.
            for offset in range(0, 4000, 500):
                current.epoch(date(2015, 1, 1) + timedelta(days=offset))
            try:
                services.register.apply_change_set(
                    parse_change_set(random_change(rng, serial)), actor="test"
                )
            except (DomainError, GeometryError):
                continue
            applied += 1
            services.worker.catch_up()
            after = refreshed(services, current)
            assert after is not None and after.position > current.position
            fresh = full(services)
            assert after.bounds == fresh.bounds
            assert after.versions == fresh.versions
            points = sample_points(fresh, rng)
            days = [date.fromordinal(b) for b in fresh.bounds if b < date(2040, 1, 1).toordinal()]
            days += [date(2015, 1, 1) + timedelta(days=rng.randrange(4000)) for _ in range(3)]
            assert answers(after, days, points) == answers(fresh, days, points)
            current = after
        assert applied >= 10
        # Nothing moved: the same snapshot.
        assert refreshed(services, current) is current
    finally:
        services.close()


def test_a_rebuild_or_a_pruned_log_asks_for_a_full_load(settings: Settings, monkeypatch):
    services = build_services(settings)
    try:
        scenario.build(services.register)
        services.worker.catch_up()
        before = full(services)
        rename = {
            "effective": "2018-01-01",
            "reason": "r",
            "operations": [{"op": "rename", "unit": "M2", "name": "M2 again"}],
        }
        services.register.apply_change_set(parse_change_set(rename), actor="test")
        services.worker.catch_up()
        assert refreshed(services, before) is not None
        # A rebuild restarts the positions: a new generation of the log.
        services.worker.rebuild()
        assert refreshed(services, before) is None
        rebuilt = full(services)
        assert rebuilt.generation == before.generation + 1
        assert refreshed(services, rebuilt) is rebuilt
        # Pruning: once the log no longer reaches back to a snapshot, it reloads in full.
        monkeypatch.setattr(change_log, "KEEP_POSITIONS", 1)
        for name in ("M2 once more", "M2 and again"):
            again = {
                "effective": "2019-01-01",
                "reason": "r",
                "operations": [{"op": "rename", "unit": "M2", "name": name}],
            }
            services.register.apply_change_set(parse_change_set(again), actor="test")
            services.worker.catch_up()
        with psycopg.connect(services.settings.conninfo) as conn:
            marker = change_log.marker(conn)
            left = conn.execute("SELECT min(position) FROM read_model_changes").fetchone()
        assert marker.horizon > rebuilt.position
        assert left is not None and (left[0] is None or left[0] > marker.horizon)
        assert refreshed(services, rebuilt) is None
    finally:
        services.close()


def test_the_index_follows_an_edit_by_difference(settings: Settings):
    with scenario_index(settings) as (services, index):
        assert index.last_refresh[0] == "full"
        rename_m2(services)
        assert index.wait_current(30, at_least=services.worker.position())
        assert index.last_refresh[0] == "refresh"
        snapshot = index.current()
        assert snapshot is not None
        found = snapshot.epoch(date(2019, 1, 1)).resolve(np.array([114.05]), np.array([22.55]))
        assert found.units(0)[-1].name == "M2 renamed"
