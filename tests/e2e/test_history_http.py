"""History people can read (issue 16): names and acts on every change, a hint before the
register begins, and `as_recorded` on every historical read. Real server, real PostGIS."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import DatabaseFactory, LiveServer, scenario_database

pytestmark = pytest.mark.db

#: Between the founding (recorded 2015-01-01 09:00 Beijing) and the street split (recorded
#: 2016-12-26 09:00 Beijing): the register then knew nothing of S3.
BEFORE_SPLIT = "2016-06-01T00:00:00Z"
IN_M2 = {"lon": 114.05, "lat": 22.55}


@pytest.fixture(scope="module")
def server(databases: DatabaseFactory) -> Iterator[LiveServer]:
    url, _ = scenario_database(databases, ("reader", "Some App"))
    live = LiveServer(url)
    yield live
    live.stop()
    databases.drop(url)


def get(server: LiveServer, path: str, **params: Any) -> dict[str, Any]:
    response = httpx.get(f"{server.url}{path}", params=params, timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# Changes with names and acts -------------------------------------------------------------------


def test_each_change_names_its_units_and_the_act_that_made_it(server: LiveServer):
    body = get(server, "/v1/changes", **{"from": "2015-06-01", "to": "2020-01-01"})
    (moved,) = body["transferred"]
    assert moved["code"] == "M2" and moved["name"] == "M2 name"
    assert (moved["parent_before"], moved["parent_name_before"]) == ("S1", "S1 name")
    assert (moved["parent_after"], moved["parent_name_after"]) == ("S3", "S3 name")
    assert moved["effective"] == "2016-12-26"
    assert moved["reason"] == "S3 split off from S1"
    assert moved["document"] == "split notice"
    log = get(server, "/v1/changesets")["change_sets"]
    split = next(c for c in log if c["reason"] == "S3 split off from S1")
    assert moved["change_set"] == split["id"]
    assert [a["change_set"] for a in moved["acts"]] == [split["id"]]
    (new,) = body["established"]
    assert (new["code"], new["name"], new["parent"], new["parent_name"]) == (
        "S3",
        "S3 name",
        "D1",
        "D1 name",
    )
    assert new["change_set"] == split["id"] and new["effective"] == "2016-12-26"
    redrawn = {c["code"]: c for c in body["redrawn"]}
    assert redrawn["S1"]["name"] == "S1 name" and redrawn["S1"]["document"] == "split notice"
    assert body["hint"] is None


def test_changes_before_the_register_begins_say_so(server: LiveServer):
    body = get(server, "/v1/changes", **{"from": "2010-01-01", "to": "2020-01-01"})
    assert "the register begins on 2015-01-01" in body["hint"]
    founded = {c["code"]: c for c in body["established"]}
    assert founded["C"]["name"] == "C name" and founded["C"]["reason"] == "founding"
    assert founded["C"]["document"] == "doc-1"


# Dates before the first event ------------------------------------------------------------------


def test_a_date_before_the_register_is_not_outside_every_unit(server: LiveServer):
    early = get(server, "/v1/lookup", **IN_M2, date="2010-01-01")
    assert early["units"] == []
    assert "the register begins on 2015-01-01" in early["hint"]
    # Outside every unit on a date the register covers: an empty answer with no hint.
    outside = get(server, "/v1/lookup", lon=10.0, lat=10.0, date="2020-01-01")
    assert outside["units"] == [] and outside["hint"] is None
    assert get(server, "/v1/lookup", **IN_M2, date="2020-01-01")["hint"] is None
    units = get(server, "/v1/units", date="2014-12-31", geometry="false")
    assert units["numberMatched"] == 0
    assert "the register begins on 2015-01-01" in units["hint"]
    assert get(server, "/v1/units", date="2015-01-01", geometry="false")["hint"] is None
    batch = httpx.post(
        f"{server.url}/v1/lookup/batch",
        json={"date": "2014-12-31", "points": [{"id": 1, **IN_M2}]},
        timeout=30,
    ).json()
    assert batch["results"] == [{"id": 1, "units": []}]
    assert "2015-01-01" in batch["hint"]
    missing = httpx.get(f"{server.url}/v1/units/M2", params={"date": "2014-06-01"}, timeout=30)
    assert missing.status_code == 404
    assert "the register begins on 2015-01-01" in missing.json()["error"]["message"]


# What the register said on a day ---------------------------------------------------------------


def test_as_recorded_on_units_changes_history_and_lineage(server: LiveServer):
    then = {"as_recorded": BEFORE_SPLIT}
    streets = get(server, "/v1/units", level="street", date="2020-01-01", geometry="false")
    assert [f["id"] for f in streets["features"]] == ["S1", "S2", "S3", "S9"]
    known = get(server, "/v1/units", level="street", date="2020-01-01", geometry="false", **then)
    assert [f["id"] for f in known["features"]] == ["S1", "S2", "S9"]
    assert known["as_recorded"] == "2016-06-01T00:00:00Z"
    m2 = httpx.get(f"{server.url}/v1/units/M2", params={"date": "2020-01-01", **then}, timeout=30)
    assert m2.json()["properties"]["parent"] == "S1"
    assert get(server, "/v1/units/M2", date="2020-01-01")["properties"]["parent"] == "S3"

    changes = get(server, "/v1/changes", **{"from": "2015-06-01", "to": "2020-01-01"}, **then)
    assert all(changes[kind] == [] for kind in ("established", "redrawn", "transferred"))
    assert changes["as_recorded"] == "2016-06-01T00:00:00Z"

    history = get(server, "/v1/units/S1/history", **then)["changes"]
    assert [c["event"] for c in history] == ["established"]
    assert len(get(server, "/v1/units/S1/history")["changes"]) == 2

    assert get(server, "/v1/units/S3/lineage")["predecessors"]
    lineage = get(server, "/v1/units/S3/lineage", **then)
    assert lineage["predecessors"] == [] and lineage["successors"] == []

    periods = get(server, "/v1/lookup/history", **IN_M2)["periods"]
    assert [[u["code"] for u in p["units"] if u["level"] == "street"] for p in periods] == [
        ["S1"],
        ["S3"],
    ]
    then_periods = get(server, "/v1/lookup/history", **IN_M2, **then)["periods"]
    assert [[u["code"] for u in p["units"] if u["level"] == "street"] for p in then_periods] == [
        ["S1"]
    ]


def test_as_recorded_on_the_matter_catalogue(server: LiveServer):
    """The move of elderly-card to the community level was recorded on 2016-01-01 (Beijing):
    asked as recorded before that, the catalogue of a later date still has it at the street."""
    now = get(server, "/v1/matters", date="2016-06-01")
    (card,) = now["matters"]
    assert card["level"] == "community" and len(card["history"]) == 2
    assert now["as_recorded"] is None
    then = get(server, "/v1/matters", date="2016-06-01", as_recorded="2015-06-01T00:00:00Z")
    (card_then,) = then["matters"]
    assert card_then["level"] == "street" and len(card_then["history"]) == 1
    assert then["as_recorded"] == "2015-06-01T00:00:00Z"
    nothing = get(server, "/v1/matters", date="2016-06-01", as_recorded="2014-01-01T00:00:00Z")
    assert nothing["matters"] == []


def test_as_recorded_on_offices_and_their_service_areas(server: LiveServer):
    """S1's street office serves S1: before the split of S3 (0.03 of its 0.1 degrees) was
    recorded, S1 was 1/0.7 times as large, and the office's service area then says so."""
    then = {"as_recorded": BEFORE_SPLIT}
    listed = get(server, "/v1/offices", date="2020-01-01", kind="street_office", **then)
    assert [o["code"] for o in listed["offices"]] == ["SO1", "SO2"]
    assert listed["as_recorded"] == "2016-06-01T00:00:00Z"
    none = get(server, "/v1/offices", date="2020-01-01", as_recorded="2014-01-01T00:00:00Z")
    assert none["numberMatched"] == 0 and none["offices"] == []

    area_now = get(server, "/v1/offices/SO1", date="2020-01-01")["service_area"]["area_m2"]
    office_then = get(server, "/v1/offices/SO1", date="2020-01-01", **then)
    area_then = office_then["service_area"]["area_m2"]
    assert office_then["as_recorded"] == "2016-06-01T00:00:00Z"
    assert 1.40 < area_then / area_now < 1.46

    workstation = get(server, "/v1/offices/W3", date="2020-01-01", **then)
    assert [c["code"] for c in workstation["committees"]] == ["RC2"]

    unknown_then = httpx.get(
        f"{server.url}/v1/offices/SO1",
        params={"date": "2020-01-01", "as_recorded": "2014-01-01T00:00:00Z"},
        timeout=30,
    )
    assert unknown_then.status_code == 404
    assert "as recorded at 2014-01-01" in unknown_then.json()["error"]["message"]


def test_as_recorded_before_anything_was_recorded(server: LiveServer):
    units = get(server, "/v1/units", date="2020-01-01", as_recorded="2014-01-01T00:00:00Z")
    assert units["numberMatched"] == 0
    assert "nothing was recorded by 2014-01-01" in units["hint"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/units",
        "/v1/changes?from=2015-01-01&to=2016-01-01",
        "/v1/units/S1/history",
        "/v1/offices",
        "/v1/offices/SO1",
        "/v1/matters",
    ],
)
def test_a_bad_as_recorded_is_a_422_naming_it(server: LiveServer, path: str):
    response = httpx.get(f"{server.url}{path}", params={"as_recorded": "soon"}, timeout=30)
    assert response.status_code == 422
    error = response.json()["error"]
    assert "query.as_recorded" in [d["location"] for d in error["details"]]


# The compare page ------------------------------------------------------------------------------


def test_compare_page_names_every_unit(server: LiveServer):
    response = httpx.get(
        f"{server.url}/maps/compare",
        params={"before": "2015-06-01", "after": "2020-01-01"},
        timeout=30,
    )
    assert response.status_code == 200
    page = response.text
    entries = re.findall(r'class="jl-change"[^>]*>([^<]*)<code>', page)
    assert entries and all(e.strip() not in ("", "?") for e in entries), entries
    assert "M2 name" in page and "S3 name <code>S3</code>" in page


def test_the_demos_compare_page_names_every_transferred_unit(demo_server: LiveServer):
    """The 2016 street splits moved 94 communities to new streets: each is listed by name,
    with its old and new street named too (every one showed `?` before)."""
    dates = {"from": "2016-01-01", "to": "2017-01-01"}
    changes = get(demo_server, "/v1/changes", **dates)
    moved = changes["transferred"]
    assert len(moved) > 50
    assert all(m["name"] and m["parent_name_before"] and m["parent_name_after"] for m in moved)
    assert all(m["change_set"] and m["effective"] and m["reason"] for m in moved)
    page = httpx.get(
        f"{demo_server.url}/maps/compare",
        params={"before": dates["from"], "after": dates["to"]},
        timeout=60,
    ).text
    entries = re.findall(r'class="jl-change"[^>]*>([^<]*)<code>', page)
    assert len(entries) >= len(moved)
    assert [e for e in entries if e.strip() in ("", "?")] == []
