"""The demo's data without a database: the sources, the synthesised city and its change sets,
and the national generator in memory."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import subprocess
import sys
from collections import Counter
from datetime import date

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from api.operations import parse_change_set
from domain.commands import Split
from domain.levels import LevelScheme, Rules
from jurisdictions.demo import shenzhen, shenzhen_model, synth
from jurisdictions.demo.loading import apply_all
from scripts.demo import national
from tests.conftest import ROOT
from tests.unit.helpers import in_memory_register

DATA = shenzhen_model.DATA
TO_METRIC = Transformer.from_crs("EPSG:4326", "EPSG:4547", always_xy=True)


def area_m2(geometry: shapely.Geometry) -> float:
    """Square metres, measured here independently of the register's own code."""
    if geometry.is_empty:
        return 0.0
    dense = shapely.segmentize(geometry, 0.0005)
    return float(
        shapely.transform(dense, lambda xy: np.column_stack(TO_METRIC.transform(*xy.T))).area
    )


def assert_tiles(parent: shapely.Geometry, children: list[shapely.Geometry], what: str) -> None:
    union = shapely.union_all(children)
    assert area_m2(parent.difference(union)) < 1.0, f"{what}: gap"
    assert area_m2(union.difference(parent)) < 1.0, f"{what}: overhang"
    overlap = (sum(c.area for c in children) - union.area) * synth.M2_PER_DEG2
    assert overlap < 1.0, f"{what}: overlap"


@pytest.fixture(scope="module")
def city() -> shenzhen_model.City:
    return shenzhen_model.city()


# Sources --------------------------------------------------------------------------------------


def test_the_74_streets_keep_their_real_names_and_get_national_style_codes():
    codes = shenzhen_model.street_codes()
    assert len(codes) == 74 == len(set(codes.values()))
    with (DATA / "shenzhen_streets_74.csv").open(encoding="utf-8") as handle:
        listed = {
            (row["district_adcode"], name)
            for row in csv.DictReader(handle)
            for name in row["street_zh"].split(";")
        }
    assert set(codes) == listed
    for (region, _), code in codes.items():
        assert re.fullmatch(r"4403\d{5}", code)
        assert code[:6] == shenzhen_model.district_of(region)
    # Dapeng's three streets are numbered after 龙岗's eleven.
    assert [codes[(shenzhen_model.DAPENG, n)] for n in ("葵涌", "大鹏", "南澳")] == [
        "440307012",
        "440307013",
        "440307014",
    ]


def test_the_splits_are_the_reform_table_rows_with_their_dates():
    with (DATA / "shenzhen_street_reform_2015_2016.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    facts = {f.row: f for f in shenzhen_model.split_facts()}
    assert len(facts) == len(rows) == 10
    for index, row in enumerate(rows):
        fact = facts[index]
        assert set(fact.new_streets) == set(row["new_streets"].split(";"))
        parents = {p.strip().split()[0] for p in row["parent_street_before"].split("+")}
        # 宝龙's row names 龙岗 and 龙城; the demo takes it from 龙岗 (marked unverified).
        assert set(fact.parents) == parents or (index == 9 and set(fact.parents) == {"龙岗"})
        assert fact.effective.isoformat()[:7] == row["effective_date"][:7]
    # 17 new streets: 57 before, 74 after.
    assert sum(len(f.new_streets) for f in facts.values()) == 17
    dates = [f.effective for f in shenzhen_model.split_facts()]
    assert dates == sorted(dates)
    assert dates[0] == date(2015, 4, 28) and dates[-1] == date(2016, 12, 26)


def test_unverified_parentage_is_marked_as_such():
    for fact in shenzhen_model.split_facts():
        if fact.row in (1, 2, 9):
            assert "synthesised" in fact.certainty and "unverified" in fact.certainty


# The synthesised city -------------------------------------------------------------------------


def test_the_city_has_the_expected_units(city: shenzhen_model.City):
    assert len(city.old_streets) == 57
    assert len(city.streets) == 74
    assert len(city.communities) == 650
    assert sum(len(c.grids) for c in city.communities.values()) == 15_000
    # Every community lies in one of today's streets and one street of 2015.
    for community in city.communities.values():
        assert city.streets[community.street].origin == community.origin
        assert community.code.startswith(community.origin)
    # 龙华 has 110 committees, the old 观澜 39 of them.
    longhua = [c for c in city.communities.values() if c.street.startswith("440309")]
    guanlan = city.street_by_name(shenzhen_model.LONGHUA, "观澜").code
    assert len(longhua) == 110
    assert sum(1 for c in longhua if c.origin == guanlan) == 39


def test_one_station_many_committees(city: shenzhen_model.City):
    served = Counter(c for w in city.workstations.values() for c in w.communities)
    assert set(served) == set(city.communities) and set(served.values()) == {1}
    sizes = Counter(len(w.communities) for w in city.workstations.values())
    assert set(sizes) == {1, 2, 3}
    # Most communities have a workstation of their own.
    assert sizes[1] > len(city.communities) / 2
    for station in city.workstations.values():
        assert {city.communities[c].street for c in station.communities} == {station.street}
    longhua = [w for w in city.workstations.values() if w.street.startswith("440309")]
    assert len(longhua) == 56


def test_streets_tile_their_districts_and_the_2015_streets(city: shenzhen_model.City):
    regions = shenzhen_model.region_geometries()
    for region, territory in regions.items():
        olds = [s.geometry for s in city.old_streets.values() if s.region == region]
        assert_tiles(territory, olds, region)
    for old in city.old_streets.values():
        parts = [s.geometry for s in city.streets.values() if s.origin == old.code]
        assert_tiles(old.geometry, parts, old.code)


def test_communities_tile_their_streets(city: shenzhen_model.City):
    for street in city.streets.values():
        communities = [c.geometry for c in city.communities_of(street.code)]
        assert_tiles(street.geometry, communities, street.code)


@pytest.mark.slow
def test_grids_tile_their_communities(city: shenzhen_model.City):
    for community in city.communities.values():
        assert_tiles(community.geometry, [g.geometry for g in community.grids], community.code)


def test_the_partition_is_exact_on_the_stored_grid():
    territory = shenzhen_model.region_geometries()["440303"]
    pieces = synth.partition(territory, 9, synth.rng_for("test"))
    assert len(pieces) == 9
    for piece in pieces:
        coordinates = shapely.get_coordinates(piece)
        assert np.array_equal(coordinates, coordinates.round(7))
    assert_tiles(territory, pieces, "luohu")
    # Same seed, same pieces.
    again = synth.partition(territory, 9, synth.rng_for("test"))
    assert [p.wkb for p in again] == [p.wkb for p in pieces]


def test_lattice_points_sit_on_or_next_to_the_segment():
    a, b = (1138832014, 224959417), (1138715167, 224901088)
    x, y = 1138812549.4, 224949700.3
    px, py = synth._lattice_point_near(*a, *b, x, y)
    cross = (b[0] - a[0]) * (py - a[1]) - (b[1] - a[1]) * (px - a[0])
    assert abs(cross) < 100  # a triangle of under 50 grid units², a few mm²
    assert abs(px - x) <= synth.REACH and abs(py - y) <= synth.REACH


# Change sets ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bodies() -> list[shenzhen.DemoChangeSet]:
    return list(shenzhen.demo_change_sets())


def test_every_change_set_parses_and_is_in_date_order(bodies: list[shenzhen.DemoChangeSet]):
    assert len(bodies) == shenzhen.demo_change_set_count()
    keys = [b.key for b in bodies]
    assert len(set(keys)) == len(keys)
    effective = [date.fromisoformat(b.body["effective"]) for b in bodies]
    assert effective == sorted(effective)
    recorded = [b.recorded_at for b in bodies]
    assert recorded == sorted(recorded) and len(set(recorded)) == len(recorded)
    operations: Counter[str] = Counter()
    for change_set in bodies:
        request = parse_change_set(change_set.body)
        operations.update(op["op"] for op in change_set.body["operations"])
        assert request.reason
    assert operations["lay_grids"] == 650
    assert operations["split"] == 12  # 10 rows, two of them with two parents
    assert operations["transfer"] == 18
    assert operations["merge_workstations"] >= 4
    # The new areas' committees follow the 2016 splits in their areas.
    assert operations["change_service_area"] >= 3
    assert operations["regrid"] > 0
    assert {"establish", "open_office", "open_workstation", "assign_matter"} <= set(operations)


def test_every_synthesised_unit_says_so(bodies: list[shenzhen.DemoChangeSet]):
    for change_set in bodies:
        for op in change_set.body["operations"]:
            if op["op"] == "establish" and op["level"] in ("street", "community"):
                assert "synthesised" in op["provenance"]
                assert "synthesised" in change_set.body["document"]


def test_the_splits_replay_the_reform_in_order(bodies: list[shenzhen.DemoChangeSet]):
    splits = [
        (b.body["effective"], op)
        for b in bodies
        for op in b.body["operations"]
        if op["op"] == "split"
    ]
    city = shenzhen_model.city()
    new = {p["code"] for _, op in splits for p in op["parts"] if p["code"] != op["unit"]}
    assert new == {s.code for s in city.streets.values() if s.code not in city.old_streets}
    for _, op in splits:
        request = parse_change_set({"effective": "2016-01-01", "reason": "x", "operations": [op]})
        split = request.operations[0]
        assert isinstance(split, Split)
        assert split.mode == "split_off" and split.reassign_children == "by_location"
        assert split.parts[0].code == split.unit
    assert [d for d, _ in splits] == sorted(d for d, _ in splits)


def test_the_districts_scope_is_the_legal_districts_alone():
    plans = list(shenzhen.demo_change_sets("districts"))
    assert [p.key for p in plans] == [
        "demo/shenzhen/districts/2015-01-01",
        "demo/shenzhen/districts/2017-01-07",
        "demo/shenzhen/districts/2018-09-19",
    ]
    assert [c.key for c in shenzhen.district_change_sets()] == [p.key for p in plans]


def _digest(change_sets: list[shenzhen.DemoChangeSet]) -> str:
    hasher = hashlib.sha256()
    for change_set in change_sets:
        hasher.update(change_set.key.encode())
        hasher.update(change_set.recorded_at.isoformat().encode())
        hasher.update(json.dumps(change_set.body, sort_keys=True, ensure_ascii=False).encode())
    return hasher.hexdigest()


@pytest.mark.slow
def test_the_change_sets_are_the_same_in_another_process(bodies: list[shenzhen.DemoChangeSet]):
    code = (
        "from jurisdictions.demo import shenzhen; from tests.unit.test_demo_data import _digest; "
        "print(_digest(list(shenzhen.demo_change_sets())))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )
    assert result.stdout.strip() == _digest(bodies)


# The national generator -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "levels",
    [
        "city,district,street,community,grid",
        "country,province,district,street,community,grid",
        "country,province,prefecture,county,street,community,grid",
    ],
)
def test_the_national_generator_applies_on_any_level_scheme(levels: str):
    scheme = LevelScheme.parse(levels)
    register = in_memory_register(Rules(levels=scheme))
    config = national.Config(
        provinces=2,
        districts_per_province=2,
        streets_per_province=4,
        communities_per_street=4,
        grids_per_community=3,
        years=2,
        split_share=0.5,
        merge_share=0.5,
        regrid_share=0.3,
    )
    total = national.count_change_sets(config, scheme)
    receipts = apply_all(register, national.change_sets(config, scheme), actor="test", total=total)
    assert 0 < len(receipts) <= total
    shape = national.Shape.of(scheme)
    provinces = [register.find_unit(f"{11 + p:02d}0000") for p in range(2)]
    assert all(p is not None and p.level == shape.province for p in provinces)
    # A split happened and its new street took the northern row of communities.
    split = next(r for r in receipts if any(u.endswith("-n") for u in r.units))
    new_street = next(u for u in split.units if u.endswith("-n"))
    unit = register.get_unit(new_street)
    assert unit.level == shape.street
    assert any(link.kind == "split_off" for link in unit.lineage)
    # Streaming: nothing is built until it is reached.
    stream = national.change_sets(config, scheme)
    first = next(stream)
    assert first.key == "national/national/country"


def test_the_national_generator_is_deterministic_and_tiles_exactly():
    config = national.Config(provinces=3, streets_per_province=5)
    scheme = LevelScheme.parse("city,district,street,community,grid")
    one = [p.build() for p in national.change_sets(config, scheme)]
    two = [p.build() for p in national.change_sets(config, scheme)]
    assert one == two
    rows = national.tile((0, 0, 1000, 700), 7, ("t",))
    cells = [shapely.box(*c) for row in rows for c in row]
    assert len(cells) == 7
    assert shapely.union_all(cells).equals(shapely.box(0, 0, 1000, 700))
    assert sum(c.area for c in cells) == 1000 * 700


def test_the_national_cli_counts_without_a_database(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("JL_LEVELS", "country,province,district,street,community,grid")
    assert national.main(["--provinces", "2", "--streets-per-province", "10", "--count"]) == 0
    monkeypatch.setenv("JL_LEVELS", "city,district,street")
    assert national.main(["--count"]) == 2


def test_the_demo_applies_in_memory_up_to_the_first_split():
    """A fast end-to-end check of the first change sets on the in-memory register."""
    register = in_memory_register(Rules())
    plans = list(shenzhen._scheduled(shenzhen._plans("full")))
    first_split = next(i for i, p in enumerate(plans) if "/splits/" in p.key)
    keep = [
        p
        for p in plans[: first_split + 1]
        if ("/communities/" not in p.key and "/grids/" not in p.key) or "440309006" in p.key
    ]
    receipts = apply_all(register, keep, actor="test", total=len(keep))
    assert len(receipts) == len(keep)
    guanhu = register.get_unit("440309001")
    assert [(link.kind, link.other) for link in guanhu.lineage] == [("split_off", "440309006")]
    moved = [
        c
        for c in shenzhen_model.city().communities_of("440309001")
        if register.get_unit(c.code).parent.value_on(date(2015, 4, 28)) == "440309001"
    ]
    assert len(moved) == len(shenzhen_model.city().communities_of("440309001")) > 0


def test_grids_from_the_worker_process_are_the_ones_computed_here(city: shenzhen_model.City):
    communities = city.communities_of("440303001")[:3]
    local = [shenzhen_model.grids(c.code, c.name, c.geometry, c.grid_count) for c in communities]
    prefetch = shenzhen_model.GridPrefetch(communities)
    try:
        fetched = [prefetch.take(c.code) for c in communities]
    finally:
        prefetch.close()
    for mine, theirs in zip(local, fetched, strict=True):
        assert theirs is not None
        assert [(g.code, g.name, g.officer, g.geometry.wkb) for g in mine] == [
            (g.code, g.name, g.officer, g.geometry.wkb) for g in theirs
        ]
