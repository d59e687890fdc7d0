"""The published lists over HTTP against the demo: matters on a date with their moves, offices
with their service areas, and the 404s that name what is known (issue 16)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import shapely
from shapely.geometry import shape

from jurisdictions.demo import shenzhen
from jurisdictions.demo import shenzhen_model as model
from tests.conftest import LiveServer

pytestmark = pytest.mark.db


def get(server: LiveServer, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{server.url}{path}", params=params, timeout=30)


def test_the_matter_catalogue_on_a_date_with_each_matter_s_moves(demo_server: LiveServer):
    before = get(demo_server, "/v1/matters", date="2015-06-01").json()
    after = get(demo_server, "/v1/matters", date="2016-06-01").json()
    by_code = {m["matter"]: m for m in before["matters"]}
    assert before["numberReturned"] == len(before["matters"]) >= 6
    residence = by_code["residence-registration"]
    assert (residence["level"], residence["office_kind"]) == ("community", "workstation")
    assert residence["name"].startswith("居住登记")
    moved = {m["matter"]: m for m in after["matters"]}["residence-registration"]
    assert (moved["level"], moved["office_kind"]) == ("street", "street_office")
    history = moved["history"]
    assert [(h["valid_from"], h["valid_to"], h["level"]) for h in history] == [
        ("2015-01-01", "2016-01-01", "community"),
        ("2016-01-01", None, "street"),
    ]
    assert all(h["change_set"] and h["reason"] for h in history)
    # The elderly card moves to the street service centres on 2016-07-01.
    later = get(demo_server, "/v1/matters", date="2017-01-01").json()
    card = {m["matter"]: m for m in later["matters"]}["elderly-card"]
    assert card["office_kind"] == "street_service_centre"
    assert card["history"][-1]["valid_from"] == "2016-07-01" and len(card["history"]) >= 2
    assert get(demo_server, "/v1/matters", date="2014-01-01").json()["matters"] == []


def test_an_unknown_matter_s_404_lists_the_known_ones(demo_server: LiveServer):
    answer = get(
        demo_server, "/v1/lookup", lon=114.029, lat=22.679, date="2016-06-01", matter="nope"
    )
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["code"] == "matter_not_found"
    assert "residence-registration" in error["message"] and "/v1/matters" in error["message"]


def test_the_new_area_committees_and_their_service_areas(demo_server: LiveServer):
    def committees(day: str) -> list[str]:
        body = get(demo_server, "/v1/offices", kind="new_area_committee", date=day).json()
        assert body["numberMatched"] == body["numberReturned"]
        return [o["code"] for o in body["offices"]]

    assert committees("2016-06-01") == [
        "440307-DP-new-area",
        "440309-new-area",
        "440310-new-area",
        "440311-new-area",
    ]
    assert committees("2017-06-01") == ["440307-DP-new-area", "440311-new-area"]
    assert committees("2019-01-01") == ["440307-DP-new-area"]

    body = get(demo_server, "/v1/offices/440309-new-area", date="2016-06-01").json()
    assert body["name"] == "龙华新区管理委员会" and body["unit"] == shenzhen.BAOAN
    served = [u["code"] for u in body["service_area"]["units"]]
    assert served == sorted(shenzhen.new_area_streets(shenzhen.LONGHUA, shenzhen.REFORM_DAY))
    assert sorted(body["serves"]) == served
    assert {u["level"] for u in body["service_area"]["units"]} == {"street"}
    area = shape(body["service_area"]["geometry"])
    longhua = model.region_geometries()[shenzhen.LONGHUA]
    # The committee's area is Longhua's, not 宝安's: nearly the same shape.
    assert shapely.intersection(area, longhua).area > 0.98 * longhua.area
    assert area.area < 1.02 * longhua.area
    assert body["service_area"]["area_m2"] > 1e8

    closed = get(demo_server, "/v1/offices/440309-new-area", date="2017-06-01")
    assert closed.status_code == 404 and closed.json()["error"]["code"] == "office_not_open"
    unknown = get(demo_server, "/v1/offices/no-such-office")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "office_not_found"


def test_offices_by_unit_served_and_by_name(demo_server: LiveServer):
    city = model.city()
    xixiang = city.street_by_name(shenzhen.BAOAN, "西乡").code
    dalang = city.street_by_name(shenzhen.LONGHUA, "大浪").code
    kinds = {
        street: {
            o["kind"]
            for o in get(demo_server, "/v1/offices", unit=street, date="2016-06-01").json()[
                "offices"
            ]
        }
        for street in (xixiang, dalang)
    }
    assert "new_area_committee" not in kinds[xixiang] and "street_office" in kinds[xixiang]
    assert "new_area_committee" in kinds[dalang]
    found = get(demo_server, "/v1/offices", q="光明新区", date="2016-06-01").json()
    assert [o["code"] for o in found["offices"]] == ["440311-new-area"]
    assert get(demo_server, "/v1/offices", q="%", date="2016-06-01").json()["offices"] == []


def test_a_workstation_with_the_committees_it_serves(demo_server: LiveServer):
    listed = get(demo_server, "/v1/offices", kind="workstation", date="2016-06-01", limit=3)
    body = listed.json()
    assert body["numberReturned"] == 3 and body["numberMatched"] > 3
    code = body["offices"][0]["code"]
    detail = get(demo_server, f"/v1/offices/{code}", date="2016-06-01").json()
    assert detail["serves"] and detail["committees"]
    assert {c["unit"] for c in detail["committees"]} == set(detail["serves"])
    assert [u["code"] for u in detail["service_area"]["units"]] == sorted(detail["serves"])
    assert detail["service_area"]["geometry"]["type"] == "MultiPolygon"


def test_units_by_name_in_chinese_and_pinyin(demo_server: LiveServer):
    def names(q: str, **params: Any) -> list[str]:
        body = get(demo_server, "/v1/units", q=q, geometry="false", date="2020-01-01", **params)
        assert body.status_code == 200, body.text
        return [f["properties"]["name"] for f in body.json()["features"]]

    assert names("西乡", level="street") == ["西乡街道"]
    assert "西乡一社区" in names("西乡", level="community")  # part of a name
    assert names("xixiang", level="street") == names("XiXiang", level="street") == ["西乡街道"]
    assert names("baoan", level="district") == names("Bao'an", level="district") == ["宝安区"]
    assert "大浪街道" in names("da", level="street")  # a prefix
    assert "龙华区" in names("long hua")
    assert "福田区" not in names("tian")  # the start of a word, not anywhere in it
    assert names("no such place") == []
    blank = get(demo_server, "/v1/units", q="  ")
    assert blank.status_code == 422 and blank.json()["error"]["code"] == "invalid_request"
