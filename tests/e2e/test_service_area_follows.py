"""A new-area committee's service area follows the streets it serves, over real HTTP on the
Shenzhen demo (issue 16).

大鹏新区管理委员会 belongs to 龙岗区 and serves the three streets of 大鹏 by name. An editor
splits off part of 葵涌街道: the dry run's notes say the committee will serve the new street
too, `/v1/offices/{code}` lists both from the effective date, and `/v1/lookup` names the
committee for a point in each part after the split and before it (history intact). Then a
street of 大鹏 passes to a neighbouring district (a district-level `move_area`, its streets
following): the committee cannot serve a street of another district, so it stops, the dry
run says so (`office_area_reduced`), and lookups stop naming it there from that day only.

Why 大鹏 and not 龙华: 龙华新区管理委员会 closes on 2017-01-07, and a street split in 2016 would
be left in 宝安 by the demo's recorded 2017 transfer of 龙华's streets (refused as
`child_outside_parent`); 大鹏's committee is open to this day, after the demo's last change.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import shapely
from shapely.geometry import mapping, shape

from jurisdictions.demo import shenzhen
from jurisdictions.demo import shenzhen_model as model
from tests.conftest import DatabaseFactory, LiveServer, own_demo_database

pytestmark = [pytest.mark.db, pytest.mark.slow]

COMMITTEE = f"{model.DAPENG}-new-area"
LONGGANG = "440307"
KUICHONG = "440307012"
NEW_STREET = "440307912"
SPLIT_DAY = date(2020, 3, 1)
MOVE_DAY = date(2020, 9, 1)


@pytest.fixture(scope="module")
def demo(databases: DatabaseFactory) -> Iterator[tuple[LiveServer, str]]:
    url, (editor,) = own_demo_database(databases, ("editor", "GIS officer Chen"))
    server = LiveServer(url)
    yield server, editor
    server.stop()
    databases.drop(url)


def post(server: LiveServer, editor: str, body: dict[str, Any], **params: Any) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/changesets",
        params={k: str(v).lower() for k, v in params.items()},
        headers={"Authorization": f"Bearer {editor}"},
        json=body,
        timeout=300,
    )


def get(server: LiveServer, path: str, **params: Any) -> Any:
    answer = httpx.get(f"{server.url}{path}", params=params, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()


def committee_serves(server: LiveServer, day: date) -> list[str]:
    found = get(server, f"/v1/offices/{COMMITTEE}", date=day.isoformat())
    assert sorted(found["serves"]) == sorted(u["code"] for u in found["service_area"]["units"])
    return list(found["serves"])


def offices_at(server: LiveServer, point: shapely.Point, day: date) -> list[str]:
    answer = get(server, "/v1/lookup", lon=point.x, lat=point.y, date=day.isoformat())
    return [o["code"] for o in answer["offices"]]


def street_at(server: LiveServer, point: shapely.Point, day: date) -> str:
    answer = get(server, "/v1/lookup", lon=point.x, lat=point.y, date=day.isoformat())
    return str(next(u["code"] for u in answer["units"] if u["level"] == "street"))


def units(server: LiveServer, day: date, **params: Any) -> dict[str, Any]:
    found = get(server, "/v1/units", date=day.isoformat(), limit=10_000, **params)
    return {f["properties"]["code"]: shape(f["geometry"]) for f in found["features"]}


def test_a_split_street_s_parts_are_served_by_the_committee_before_and_after(
    demo: tuple[LiveServer, str],
) -> None:
    server, editor = demo
    day = SPLIT_DAY.isoformat()
    before = SPLIT_DAY - timedelta(days=1)
    assert KUICHONG in committee_serves(server, SPLIT_DAY)
    # The new street takes the communities of one workstation whole, so nothing straddles.
    stations = get(server, "/v1/offices", kind="workstation", date=day)["offices"]
    station = next(o for o in stations if o["unit"] == KUICHONG)
    communities = units(server, SPLIT_DAY, level="community", parent=KUICHONG)
    assert set(station["serves"]) < set(communities)
    part = shapely.union_all([communities[c] for c in station["serves"]])
    rest = shapely.union_all([g for c, g in communities.items() if c not in station["serves"]])
    body = {
        "effective": day,
        "reason": "葵涌街道 split: a new street for the north (synthetic)",
        "document": "区政府批复 (synthetic)",
        "operations": [
            {
                "op": "split",
                "unit": KUICHONG,
                "mode": "split_off",
                "reassign_children": "by_location",
                "parts": [{"code": NEW_STREET, "name": "葵丰街道", "geometry": mapping(part)}],
            }
        ],
    }
    dry = post(server, editor, body, dry_run=True)
    assert dry.status_code == 200, dry.text
    notes = dry.json()["notes"]
    assert [(n["code"], n["office"]) for n in notes] == [("service_area_passed", COMMITTEE)]
    assert NEW_STREET not in notes[0]["serves_before"]
    expected = [
        n for c in notes[0]["serves_before"] for n in ([c, NEW_STREET] if c == KUICHONG else [c])
    ]
    assert notes[0]["serves_after"] == expected
    assert "葵丰街道" in notes[0]["message"] and "葵涌街道" in notes[0]["message"]
    assert NEW_STREET not in committee_serves(server, SPLIT_DAY), "a dry run stores nothing"

    stored = post(server, editor, body)
    assert stored.status_code == 201, stored.text
    assert stored.json()["notes"] == notes
    assert set(committee_serves(server, SPLIT_DAY)) >= {KUICHONG, NEW_STREET}
    assert NEW_STREET not in committee_serves(server, before)
    for piece, street in ((part, NEW_STREET), (rest, KUICHONG)):
        point = piece.representative_point()
        assert street_at(server, point, SPLIT_DAY) == street
        assert COMMITTEE in offices_at(server, point, SPLIT_DAY), street
        assert street_at(server, point, before) == KUICHONG
        assert COMMITTEE in offices_at(server, point, before), street


def test_a_street_moved_to_another_district_leaves_the_committee_s_area_with_a_note(
    demo: tuple[LiveServer, str],
) -> None:
    server, editor = demo
    day = MOVE_DAY.isoformat()
    before = MOVE_DAY - timedelta(days=1)
    served = committee_serves(server, MOVE_DAY)
    streets = units(server, MOVE_DAY, level="street", parent=LONGGANG)
    districts = units(server, MOVE_DAY, level="district")
    # A street of 大鹏 on 龙岗's edge with another district passes to that district.
    candidates = [
        (code, other)
        for code in served
        if code in streets and code not in (KUICHONG, NEW_STREET)
        for other, territory in districts.items()
        if other != LONGGANG and streets[code].boundary.intersection(territory.boundary).length
    ]
    assert candidates, "no street of 大鹏 borders another district"
    for code, other in candidates:
        body = {
            "effective": day,
            "reason": f"{code} passes to {other} (synthetic)",
            "document": "国务院批复 (synthetic)",
            "operations": [
                {
                    "op": "move_area",
                    "from_unit": LONGGANG,
                    "to_unit": other,
                    "geometry": mapping(streets[code]),
                }
            ],
        }
        dry = post(server, editor, body, dry_run=True)
        if dry.status_code == 200:
            break
    assert dry.status_code == 200, dry.text
    notes = dry.json()["notes"]
    assert [(n["code"], n["office"], n["units"]) for n in notes] == [
        ("office_area_reduced", COMMITTEE, [code, COMMITTEE])
    ]
    assert f"it is now in {shenzhen.districts_today()[other]['name']}" in notes[0]["message"]
    assert notes[0]["serves_after"] == [c for c in served if c != code]

    stored = post(server, editor, body)
    assert stored.status_code == 201, stored.text
    assert committee_serves(server, MOVE_DAY) == [c for c in served if c != code]
    assert committee_serves(server, before) == served
    point = streets[code].representative_point()
    assert COMMITTEE not in offices_at(server, point, MOVE_DAY)
    assert COMMITTEE in offices_at(server, point, before)
    # The street itself went whole, with its own street office.
    assert street_at(server, point, MOVE_DAY) == code
    answer = get(server, "/v1/lookup", lon=point.x, lat=point.y, date=day)
    assert {u["level"]: u["code"] for u in answer["units"]}["district"] == other
