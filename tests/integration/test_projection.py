"""The projection on the real PostGIS: rows, crash and resume, rebuild from zero."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from typing import Any

import psycopg
import pytest

from domain.units import Unit, unit_id
from jurisdictions.bootstrap import Services
from tests.conftest import ROOT
from tests.scenario import load_districts
from tests.unit.helpers import apply

pytestmark = pytest.mark.db

#: Every read-model table, in an order that does not depend on insertion order.
SNAPSHOT_QUERIES = {
    "unit_versions": "SELECT unit_id, code, level, name, name_en, parent_code, valid::text, "
    "recorded::text, encode(ST_AsBinary(geom), 'hex'), change_set, position, provenance "
    "FROM unit_versions ORDER BY unit_id, lower(valid), lower(recorded)",
    "unit_version_parts": "SELECT unit_id, level, valid::text, recorded::text, "
    "encode(ST_AsBinary(geom), 'hex') AS g FROM unit_version_parts "
    "ORDER BY unit_id, lower(valid), lower(recorded), g",
    "office_versions": "SELECT code, kind, name, unit_code, ST_AsText(address), address_text, "
    "serves, valid::text, recorded::text, change_set, position FROM office_versions "
    "ORDER BY code, lower(valid), lower(recorded)",
    "coverage_versions": "SELECT workstation, community, valid::text, recorded::text "
    "FROM coverage_versions ORDER BY 1, 2, 3, 4",
    "matter_versions": "SELECT matter, name, office_kind, level, valid::text, recorded::text, "
    "change_set, position FROM matter_versions ORDER BY matter, lower(valid), lower(recorded)",
    "unit_events": "SELECT code, event, operation, effective, recorded_at, actor, reason, "
    "document, change_set, position, details::text FROM unit_events ORDER BY position, code",
    "lineage_edges": "SELECT predecessor, successor, kind, effective, recorded_at, change_set, "
    "position FROM lineage_edges ORDER BY position, predecessor, successor",
    "change_set_log": "SELECT id, effective, recorded_at, actor, reason, document, "
    "operations::text, units, events, position FROM change_set_log ORDER BY position",
}


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return {table: conn.execute(query).fetchall() for table, query in SNAPSHOT_QUERIES.items()}


def test_the_demo_projects_into_dated_versions(services: Services, database_url: str):
    load_districts(services.register)
    services.worker.catch_up()
    assert services.worker.position() == services.worker.head() > 0
    with psycopg.connect(database_url) as conn:
        current = conn.execute(
            "SELECT code, valid::text FROM unit_versions WHERE upper_inf(recorded) "
            "AND code = '440306' ORDER BY lower(valid)"
        ).fetchall()
        history = conn.execute(
            "SELECT count(*) FROM unit_versions WHERE code = '440306'"
        ).fetchone()
    assert current == [
        ("440306", "[2015-01-01,2017-01-07)"),
        ("440306", "[2017-01-07,2018-09-19)"),
        ("440306", "[2018-09-19,)"),
    ]
    # Two versions superseded in recorded time are kept, not overwritten.
    assert history == (5,)


def test_lookup_engine_answers_by_date_and_by_recorded_time(services: Services):
    from datetime import UTC, date, datetime

    load_districts(services.register)
    services.worker.catch_up()
    lookup = services.lookup
    point = (114.029, 22.679)
    assert [h.code for h in lookup.units_at(*point, date(2017, 6, 1))] == ["440300", "440309"]
    assert [h.code for h in lookup.units_at(*point, date(2016, 6, 1))] == ["440300", "440306"]
    # In 2016 the register did not yet know about 2017's new district.
    known_in_2016 = lookup.units_at(*point, date(2017, 6, 1), datetime(2016, 1, 1, tzinfo=UTC))
    assert [h.code for h in known_in_2016] == ["440300", "440306"]
    assert lookup.units_at(116.0, 20.0, date(2020, 1, 1)) == []


def _box(west: float, east: float) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [[[west, 22], [east, 22], [east, 23], [west, 23], [west, 22]]],
    }


def _many_change_sets(services: Services, count: int) -> None:
    """A city split between D and E, whose shared boundary moves `count` times.

    The moves are effective on shuffled dates, so backdated changes are included.
    """
    rng = random.Random(20151)
    apply(
        services.register,
        "2015-01-01",
        {
            "op": "establish",
            "code": "C",
            "level": "city",
            "name": "City",
            "geometry": _box(114, 115),
        },
        {
            "op": "establish",
            "code": "D",
            "level": "district",
            "name": "D",
            "parent": "C",
            "geometry": _box(114, 114.5),
        },
        {
            "op": "establish",
            "code": "E",
            "level": "district",
            "name": "E",
            "parent": "C",
            "geometry": _box(114.5, 115),
        },
    )
    for _ in range(count):
        day = f"{rng.randint(2015, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        boundary = round(rng.uniform(114.1, 114.9), 3)
        apply(
            services.register,
            day,
            {"op": "redraw", "unit": "D", "geometry": _box(114, boundary)},
            {"op": "redraw", "unit": "E", "geometry": _box(boundary, 115)},
        )


def test_a_projection_killed_mid_way_resumes_with_nothing_missing_or_doubled(
    services: Services, database_url: str
):
    _many_change_sets(services, 300)
    head = services.worker.head()
    env = {**os.environ, "DATABASE_URL": database_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "jurisdictions.cli", "project", "--batch-size", "1"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while services.worker.position() < head // 4 and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    position = services.worker.position()
    assert 0 < position < head, "the kill must land between events for this test to mean anything"

    # What was committed is exactly the events up to the tracked position.
    with psycopg.connect(database_url) as conn:
        logged = conn.execute("SELECT count(*), max(position) FROM change_set_log").fetchone()
        last_version = conn.execute(
            "SELECT max(originator_version) FROM jurisdictionregister_events "
            "WHERE originator_id = %s AND notification_id <= %s",
            (unit_id("D"), position),
        ).fetchone()
        rows = conn.execute(
            "SELECT valid::text, encode(ST_AsBinary(geom), 'hex') FROM unit_versions "
            "WHERE code = 'D' AND upper_inf(recorded) ORDER BY lower(valid)"
        ).fetchall()
        stored_change_sets = conn.execute(
            "SELECT count(*) FROM jurisdictionregister_events "
            "WHERE topic LIKE %s AND notification_id <= %s",
            ("%ChangeSet.Recorded", position),
        ).fetchone()
    assert logged is not None and stored_change_sets is not None and last_version is not None
    assert logged[0] == stored_change_sets[0]
    assert logged[1] is None or logged[1] <= position
    unit: Any = services.register.repository.get(unit_id("D"), version=last_version[0])
    assert isinstance(unit, Unit)
    expected = [
        (f"[{v.period.start},{v.period.end or ''})", _wkb_hex_of(v.geometry, database_url))
        for v in unit.versions()
    ]
    assert rows == expected

    # Restarted, it finishes; the result equals a rebuild from zero.
    subprocess.run(
        [sys.executable, "-m", "jurisdictions.cli", "project"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    assert services.worker.position() == head
    incremental = snapshot(database_url)
    services.worker.rebuild()
    assert snapshot(database_url) == incremental


def _wkb_hex_of(geometry_hex: str, url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT encode(ST_AsBinary(ST_GeomFromWKB(decode(%s, 'hex'), 4326)), 'hex')",
            (geometry_hex,),
        ).fetchone()
    assert row is not None
    return str(row[0])


def test_rebuild_from_zero_gives_identical_tables(services: Services, database_url: str):
    load_districts(services.register)
    _many_change_sets(services, 20)
    services.worker.catch_up(batch_size=1)
    incremental = snapshot(database_url)
    assert len(incremental["unit_versions"]) > 20
    count = services.worker.rebuild(batch_size=7)
    assert count == services.worker.head()
    assert snapshot(database_url) == incremental


def test_the_rebuild_command_works_from_the_cli(services: Services, database_url: str):
    load_districts(services.register)
    services.worker.catch_up()
    before = snapshot(database_url)
    result = subprocess.run(
        [sys.executable, "-m", "jurisdictions.cli", "rebuild"],
        env={**os.environ, "DATABASE_URL": database_url},
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "rebuilt the read model" in result.stderr
    assert snapshot(database_url) == before
