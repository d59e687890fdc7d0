"""Repairs in a several-level import fit children to the parents the same change set makes.

A new city and its two districts in one GeoPackage: the districts leave a strip of the city
uncovered. Asked to close gaps, the import gives the strip to a district, measured against the
city the change set establishes (there is none on the map to fit them to).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from shapely.geometry import MultiPolygon, box

from domain.repair import RepairOptions
from jurisdictions.bootstrap import running
from jurisdictions.commands import import_layers
from jurisdictions.settings import Settings
from projections.multilevel import parse_layers
from tests.geopackages import Table, blob, build

pytestmark = pytest.mark.db

CITY = box(114.0, 22.5, 114.1, 22.6)
#: West and east districts with a strip of 0.0005 x 0.1 degrees (about 0.57 km²) between them.
WEST = box(114.0, 22.5, 114.05, 22.6)
EAST = box(114.0505, 22.5, 114.1, 22.6)


def geopackage(path: Path) -> Path:
    columns = {"code": "TEXT", "name": "TEXT", "parent": "TEXT"}
    cities = [({"code": "C1", "name": "city"}, blob(MultiPolygon([CITY])))]
    districts = [
        ({"code": "D1", "name": "west", "parent": "C1"}, blob(MultiPolygon([WEST]))),
        ({"code": "D2", "name": "east", "parent": "C1"}, blob(MultiPolygon([EAST]))),
    ]
    return build(
        path,
        [Table("cities", cities), Table("districts", districts, columns=columns)],
    )


@pytest.mark.parametrize("sliver_m2", [0.0, 1e6])
def test_children_are_fitted_to_the_parent_the_change_set_establishes(
    database_url: str, tmp_path: Path, sliver_m2: float
) -> None:
    settings = Settings(database_url=database_url, levels="city,district", run_projection=False)
    path = geopackage(tmp_path / "city.gpkg")
    with running(settings, "cli") as services:
        outcome = import_layers(
            services,
            path,
            parse_layers(["cities:city,districts:district"], settings.level_scheme),
            effective=date(2025, 1, 1),
            reason="a new city with its districts",
            actor="t",
            repair=RepairOptions.of(["snap_to_neighbours"], sliver_m2),
            dry_run=True,
        )
    report = outcome.report()
    if sliver_m2 == 0:
        # Without a large enough sliver the strip stays, and the register says so.
        assert [p.code for p in outcome.problems] == ["coverage_gap"]
        return
    assert outcome.problems == [], report["problems"]
    (repair,) = report["repairs"]
    assert repair["repair"] == "snap_to_neighbours"
    assert repair["code"] in {"D1", "D2"}
    assert 5.0e5 < repair["area_m2"] < 6.5e5
