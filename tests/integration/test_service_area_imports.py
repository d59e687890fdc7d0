"""An import that ends a street an office serves passes the office's service on (issue 16).

With `mode=replace` an import ends the streets of a district the file leaves out; a new street
of the file that takes the territory of one an office served by name is served in its place,
and the import report's notes say so, on PostGIS through the one import path.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import box, mapping

from api.operations import parse_change_set
from jurisdictions.bootstrap import Services
from jurisdictions.commands import import_layer
from projections.imports import ImportScope

pytestmark = pytest.mark.db

DAY = date(2020, 1, 1)


def _establish(code: str, level: str, parent: str | None, *bounds: float) -> dict[str, Any]:
    op: dict[str, Any] = {
        "op": "establish",
        "code": code,
        "level": level,
        "name": f"{code} name",
        "geometry": mapping(box(*bounds)),
    }
    if parent is not None:
        op["parent"] = parent
    return op


def _map(services: Services) -> None:
    """C = D1 (streets S1, S2) + D2 (S3); committee NA of D1 serves S2 alone."""
    body = {
        "effective": "2015-01-01",
        "reason": "test map",
        "operations": [
            _establish("C", "city", None, 114.00, 22.50, 114.04, 22.54),
            _establish("D1", "district", "C", 114.00, 22.50, 114.02, 22.54),
            _establish("D2", "district", "C", 114.02, 22.50, 114.04, 22.54),
            _establish("S1", "street", "D1", 114.00, 22.50, 114.01, 22.54),
            _establish("S2", "street", "D1", 114.01, 22.50, 114.02, 22.54),
            _establish("S3", "street", "D2", 114.02, 22.50, 114.04, 22.54),
            {
                "op": "open_office",
                "code": "NA",
                "kind": "new_area_committee",
                "name": "New area committee",
                "unit": "D1",
                "serves": ["S2"],
            },
        ],
    }
    services.register.apply_change_set(parse_change_set(body), actor="tester")
    services.worker.catch_up()


def _layer(folder: Path) -> Path:
    """D1's streets as a new survey has them: S1 as it was, S8 where S2 was."""
    features = [
        {
            "type": "Feature",
            "properties": {"code": code, "name": f"{code} name", "parent": "D1"},
            "geometry": mapping(box(*bounds)),
        }
        for code, bounds in (
            ("S1", (114.00, 22.50, 114.01, 22.54)),
            ("S8", (114.01, 22.50, 114.02, 22.54)),
        )
    ]
    path = folder / "streets.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_a_replace_import_that_ends_a_served_street_passes_its_service_to_the_new_one(
    services: Services, tmp_path: Path
) -> None:
    _map(services)
    path = _layer(tmp_path)

    def run(dry_run: bool) -> Any:
        return import_layer(
            services,
            path,
            level="street",
            effective=DAY,
            reason="new survey of D1's streets",
            scope=ImportScope.of("replace", ["D1"]),
            actor="gis officer",
            dry_run=dry_run,
        )

    dry = run(True)
    assert not dry.problems, [p.as_dict() for p in dry.problems]
    report = dry.report()
    assert [e["code"] for e in report["ended"]] == ["S2"]
    assert report["established"] == ["S8"]
    notes = [n for n in report["notes"] if n["code"] == "service_area_passed"]
    assert len(notes) == 1, report["notes"]
    assert notes[0]["office"] == "NA"
    assert notes[0]["serves_before"] == ["S2"] and notes[0]["serves_after"] == ["S8"]

    done = run(False)
    assert not done.problems, [p.as_dict() for p in done.problems]
    office = services.register.find_office("NA")
    assert office is not None
    assert office.serves_on(DAY) == ("S8",)
    assert office.serves_on(date(2019, 12, 31)) == ("S2",)
    # The read model answers the same: the committee's area is S8 from the day.
    services.worker.catch_up()
    found = services.published.office_on("NA", DAY, None)
    assert found is not None and found["serves"] == ["S8"]
