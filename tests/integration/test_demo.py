"""The Shenzhen demo on the real PostGIS: what it contains on each date, the story of the
reform in lineage and change sets, the invariants checked independently on the projected
tables, and the same events on every run."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date
from typing import Any

import numpy as np
import psycopg
import pytest
import shapely
from pyproj import Transformer

from jurisdictions.bootstrap import Services, build_services
from jurisdictions.demo import shenzhen, shenzhen_model
from jurisdictions.demo.shenzhen import load_demo
from jurisdictions.settings import Settings

pytestmark = pytest.mark.db

TODAY = date(2026, 1, 1)
TOLERANCE_M2 = 5.0
TO_METRIC = Transformer.from_crs("EPSG:4326", "EPSG:4547", always_xy=True)


@pytest.fixture(scope="module")
def demo(demo_database: str) -> Iterator[Services]:
    services = build_services(Settings(database_url=demo_database, run_projection=False))
    yield services
    services.close()


def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def counts_on(url: str, day: date) -> dict[str, int]:
    rows = query(
        url,
        "SELECT level, count(*) FROM unit_versions WHERE upper_inf(recorded) "
        "AND valid @> %s::date GROUP BY level",
        day,
    )
    return dict(rows)


def test_units_per_level_in_2015_and_today(demo_database: str):
    before = counts_on(demo_database, date(2015, 1, 1))
    assert before == {"city": 1, "district": 6, "street": 57, "community": 650, "grid": 15_000}
    now = counts_on(demo_database, TODAY)
    regridded = sum(shenzhen.regrid_counts().values())
    replaced = sum(
        c.grid_count for c in shenzhen_model.city().communities_of(shenzhen.REGRID_STREET)
    )
    assert now == {
        "city": 1,
        "district": 9,
        "street": 74,
        "community": 650,
        "grid": 15_000 - replaced + regridded,
    }
    # The street count changes only on the dates of the splits.
    assert counts_on(demo_database, date(2015, 4, 28))["street"] == 59
    assert counts_on(demo_database, date(2016, 12, 25))["street"] == 67
    assert counts_on(demo_database, date(2016, 12, 26))["street"] == 74


def test_every_dated_split_is_in_the_lineage_and_the_log_in_order(
    demo: Services, demo_database: str
):
    city = shenzhen_model.city()
    edges = {
        (p, s): (kind, effective)
        for p, s, kind, effective in query(
            demo_database,
            "SELECT predecessor, successor, kind, effective FROM lineage_edges "
            "WHERE kind = 'split_off'",
        )
    }
    for fact in shenzhen_model.split_facts():
        for parent_zh, parts in fact.parents.items():
            parent = city.street_by_name(fact.region, parent_zh)
            for part_zh in parts:
                part = city.street_by_name(fact.region, part_zh)
                assert edges[(parent.code, part.code)] == ("split_off", fact.effective)
                unit = demo.register.get_unit(part.code)
                assert [(link.day, link.kind, link.role, link.other) for link in unit.lineage] == [
                    (fact.effective, "split_off", "predecessor", parent.code)
                ]
                assert unit.lifetime().start == fact.effective
    assert len(edges) == 17
    log = query(
        demo_database, "SELECT effective, reason, position FROM change_set_log ORDER BY position"
    )
    assert len(log) == shenzhen.demo_change_set_count()
    assert [row[0] for row in log] == sorted(row[0] for row in log)
    split_dates = [row[0] for row in log if " split, " in row[1]]
    assert split_dates == [f.effective for f in shenzhen_model.split_facts()]


def test_streets_move_to_the_new_districts(demo_database: str):
    parents = dict(
        query(
            demo_database,
            "SELECT code, parent_code FROM unit_versions WHERE upper_inf(recorded) "
            "AND level = 'street' AND valid @> %s::date",
            date(2016, 6, 1),
        )
    )
    assert parents["440309002"] == "440306"  # 民治, in 龙华新区, legally in 宝安
    assert parents["440310001"] == "440307"  # 坪山, legally in 龙岗
    now = dict(
        query(
            demo_database,
            "SELECT code, parent_code FROM unit_versions WHERE upper_inf(recorded) "
            "AND level = 'street' AND valid @> %s::date",
            TODAY,
        )
    )
    assert {code[:6] for code in now} == set(now.values())
    assert all(code[:6] == parent for code, parent in now.items())


# Invariants, checked here with shapely on the projected tables ---------------------------------


def area_m2(geometry: shapely.Geometry) -> float:
    if geometry.is_empty:
        return 0.0
    dense = shapely.segmentize(geometry, 0.0005)
    return float(
        shapely.transform(dense, lambda xy: np.column_stack(TO_METRIC.transform(*xy.T))).area
    )


def change_dates(url: str) -> list[date]:
    rows = query(
        url,
        "SELECT DISTINCT lower(valid) FROM unit_versions WHERE upper_inf(recorded) "
        "UNION SELECT DISTINCT lower(valid) FROM office_versions WHERE upper_inf(recorded)",
    )
    return sorted(r[0] for r in rows)


def test_the_invariants_hold_on_every_change_date(demo_database: str):
    versions = query(
        demo_database,
        "SELECT code, level, parent_code, lower(valid), upper(valid), "
        "encode(ST_AsBinary(geom), 'hex') FROM unit_versions WHERE upper_inf(recorded)",
    )
    by_parent: dict[str | None, list[tuple[Any, ...]]] = defaultdict(list)
    by_code: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in versions:
        by_parent[row[2]].append(row)
        by_code[row[0]].append(row)
    shapes: dict[str, shapely.Geometry] = {}

    def shape(wkb: str) -> shapely.Geometry:
        if wkb not in shapes:
            shapes[wkb] = shapely.from_wkb(bytes.fromhex(wkb))
        return shapes[wkb]

    def live(rows: list[tuple[Any, ...]], day: date) -> list[tuple[Any, ...]]:
        return [r for r in rows if r[3] <= day and (r[4] is None or day < r[4])]

    problems: list[tuple[Any, ...]] = []
    checked = 0
    for parent_code, children in by_parent.items():
        if parent_code is None:
            continue
        family = children + by_code[parent_code]
        days = sorted({r[3] for r in family} | {r[4] for r in family if r[4] is not None})
        for day in days:
            kids = live(children, day)
            if not kids:
                continue
            parents = live(by_code[parent_code], day)
            if len(parents) != 1:
                problems.append(("no live parent", parent_code, day))
                continue
            outline = shape(parents[0][5])
            geometries = [shape(k[5]) for k in kids]
            for kid, geometry in zip(kids, geometries, strict=True):
                if area_m2(geometry.difference(outline)) > TOLERANCE_M2:
                    problems.append(("outside", kid[0], parent_code, day))
            tree = shapely.STRtree(geometries)
            for i, j in zip(*tree.query(geometries, predicate="intersects"), strict=True):
                if i < j and area_m2(geometries[i].intersection(geometries[j])) > TOLERANCE_M2:
                    problems.append(("overlap", kids[i][0], kids[j][0], day))
            if area_m2(outline.difference(shapely.union_all(geometries))) > TOLERANCE_M2:
                problems.append(("gap", parent_code, day))
            checked += 1
    assert problems == []
    assert checked > 700
    # Codes are never reused: one unit per code.
    assert (
        query(
            demo_database,
            "SELECT code FROM unit_versions GROUP BY code HAVING count(DISTINCT unit_id) > 1",
        )
        == []
    )


def test_every_community_has_exactly_one_workstation_of_its_street_on_every_date(
    demo_database: str,
):
    communities = query(
        demo_database,
        "SELECT code, parent_code, lower(valid), upper(valid) FROM unit_versions "
        "WHERE upper_inf(recorded) AND level = 'community'",
    )
    stations = query(
        demo_database,
        "SELECT code, unit_code, serves, lower(valid), upper(valid) FROM office_versions "
        "WHERE upper_inf(recorded) AND kind = 'workstation'",
    )
    days = change_dates(demo_database)
    assert {date(2015, 1, 1), shenzhen.PILOT_DAY, date(2016, 12, 26), shenzhen.DAY_2018} <= set(
        days
    )
    for day in days:

        def holds(start: date, end: date | None, day: date = day) -> bool:
            return start <= day and (end is None or day < end)

        street_of = {c: p for c, p, s, e in communities if holds(s, e)}
        served: Counter[str] = Counter()
        for code, street, serves, start, end in stations:
            if not holds(start, end):
                continue
            for community in serves:
                assert street_of.get(community) == street, (day, code, community)
                served[community] += 1
        assert set(served) == set(street_of), day
        assert set(served.values()) == {1}, day


def test_one_station_many_committees_and_the_merger_pilot(demo_database: str):
    def stations(day: date) -> list[list[str]]:
        return [
            row[0]
            for row in query(
                demo_database,
                "SELECT serves FROM office_versions WHERE upper_inf(recorded) "
                "AND kind = 'workstation' AND valid @> %s::date",
                day,
            )
        ]

    before, after = stations(date(2015, 6, 30)), stations(date(2015, 7, 1))
    assert len(before) - len(after) == len(shenzhen.pilot_mergers())
    sizes = Counter(len(s) for s in after)
    assert sizes[1] > 0 and sizes[2] > 0 and sizes[3] > 0
    committees = query(
        demo_database,
        "SELECT count(*) FROM office_versions WHERE upper_inf(recorded) "
        "AND kind = 'residents_committee' AND valid @> %s::date",
        TODAY,
    )
    assert committees == [(650,)]


def test_a_point_follows_the_reform(demo: Services):
    city = shenzhen_model.city()
    community = city.communities_of("440306003")[0]  # 航城, split from 西乡 on 2016-12-26
    point = community.geometry.point_on_surface()
    before = demo.lookup.lookup(point.x, point.y, date(2016, 12, 25), matter="elderly-card")
    after = demo.lookup.lookup(point.x, point.y, date(2016, 12, 26), matter="elderly-card")
    assert [u.code for u in before.units][:4] == ["440300", "440306", "440306002", community.code]
    assert [u.code for u in after.units][:4] == ["440300", "440306", "440306003", community.code]
    kinds_after = {o.kind for o in after.offices}
    assert {"street_office", "workstation", "residents_committee", "grid_officer"} <= kinds_after
    # The elderly card: at the community before the reform, the street's service centre after.
    early = demo.lookup.lookup(point.x, point.y, date(2016, 1, 1), matter="elderly-card")
    assert early.responsible is not None and early.responsible.office is not None
    assert early.responsible.office.kind == "residents_committee"
    assert after.responsible is not None and after.responsible.office is not None
    assert after.responsible.office.code == "440306003-service"
    construction = demo.lookup.lookup(
        point.x, point.y, date(2016, 6, 1), matter="city-construction"
    )
    assert construction.responsible is not None and construction.responsible.office is not None
    assert construction.responsible.office.code == "440306-construction"


# Determinism ------------------------------------------------------------------------------------


def events_of(services: Services) -> list[tuple[Any, ...]]:
    recorder: Any = services.register.recorder
    out: list[tuple[Any, ...]] = []
    start = 1
    while True:
        batch = recorder.select_notifications(start, 5000)
        if not batch:
            return out
        out.extend(
            (n.id, n.originator_id, n.originator_version, n.topic, bytes(n.state)) for n in batch
        )
        start = batch[-1].id + 1


@pytest.mark.slow
def test_two_runs_store_identical_events_and_a_rerun_stores_nothing(
    demo: Services, services: Services
):
    receipts = load_demo(services.register)
    assert not any(r.replayed for r in receipts)
    assert events_of(services) == events_of(demo)
    head = services.worker.head()
    again = load_demo(services.register)
    assert all(r.replayed for r in again)
    assert services.worker.head() == head
