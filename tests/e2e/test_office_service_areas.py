"""Every office of the demo serves its intended area on every change date (issue 16).

A point in every street of today (so on both sides of every new-area border), asked over HTTP
on every date where a new area's streets or committees change and the day before: the
new-area committee answers exactly for the streets of its area while it is open, and every
other office belongs to one of the point's units (a workstation: serves its community).
"""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest

from jurisdictions.demo import shenzhen
from jurisdictions.demo import shenzhen_model as model
from tests.conftest import LiveServer

pytestmark = pytest.mark.db


def change_dates() -> list[date]:
    """Every date a new area changes (and the day before), and one long after."""
    days = {shenzhen.REGISTER_START, date(2020, 1, 1)}
    changes = [f.effective for f in model.split_facts() if f.region in shenzhen.NEW_AREA_CLOSES]
    changes += [d for d in shenzhen.NEW_AREA_CLOSES.values() if d is not None]
    for day in changes:
        days |= {day, day - timedelta(days=1)}
    return sorted(days)


def intended_committee(region: str, day: date) -> str | None:
    """The committee serving a street of `region` on `day`, if any."""
    if region not in shenzhen.NEW_AREA_CLOSES:
        return None
    closes = shenzhen.NEW_AREA_CLOSES[region]
    return f"{region}-new-area" if closes is None or day < closes else None


def test_every_office_serves_its_intended_area_on_every_change_date(demo_server: LiveServer):
    streets = sorted(model.city().streets.values(), key=lambda s: s.code)
    assert len(streets) == 74
    checked = committees_seen = 0
    with httpx.Client(base_url=demo_server.url, timeout=30) as client:
        for day in change_dates():
            for street in streets:
                point = street.geometry.representative_point()
                answer = client.get(
                    "/v1/lookup", params={"lon": point.x, "lat": point.y, "date": day.isoformat()}
                )
                assert answer.status_code == 200, answer.text
                body = answer.json()
                units = {u["level"]: u["code"] for u in body["units"]}
                where = (day, street.code, street.name)
                committees = [
                    o["code"] for o in body["offices"] if o["kind"] == "new_area_committee"
                ]
                expected = intended_committee(street.region, day)
                assert committees == ([expected] if expected else []), where
                committees_seen += len(committees)
                for office in body["offices"]:
                    if office["kind"] == "new_area_committee":
                        assert units["street"] in office["serves"], (where, office)
                    elif office["kind"] == "workstation":
                        assert office["serves"] and units["community"] in office["serves"]
                    else:
                        assert office["unit"] in units.values(), (where, office)
                        assert office["serves"] == [], (where, office)
                checked += 1
    assert checked == 74 * len(change_dates()) and committees_seen > 0


def test_the_issue_s_points_are_told_the_right_committees(demo_server: LiveServer):
    """西乡 is in no new area; 大浪 is in 龙华, not 光明 (before 2017; none after)."""
    city = model.city()
    xixiang = city.street_by_name(shenzhen.BAOAN, "西乡").geometry.representative_point()
    dalang = city.street_by_name(shenzhen.LONGHUA, "大浪").geometry.representative_point()
    for point, day, expected in (
        (xixiang, "2016-06-01", []),
        (dalang, "2016-06-01", ["龙华新区管理委员会"]),
        (xixiang, "2017-06-01", []),
        (dalang, "2017-06-01", []),
    ):
        answer = httpx.get(
            f"{demo_server.url}/v1/lookup",
            params={"lon": point.x, "lat": point.y, "date": day},
            timeout=30,
        ).json()
        found = [o["name"] for o in answer["offices"] if o["kind"] == "new_area_committee"]
        assert found == expected, (day, answer["units"])
