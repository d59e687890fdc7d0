"""The lookup contract over real HTTP, against the demo on the real PostGIS."""

from __future__ import annotations

import random
import time
from typing import Any

import httpx
import pytest

from projections.lookup_index import BUILD_AFTER
from tests.conftest import LiveServer

pytestmark = pytest.mark.db

LONGHUA_POINT = {"lon": 114.029, "lat": 22.679}


def get(server: LiveServer, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{server.url}{path}", params=params, timeout=10)


def codes(response: httpx.Response) -> list[tuple[str, str, str]]:
    """City and district (the demo's streets, communities and grids are synthesised)."""
    return [(u["level"], u["code"], u["name"]) for u in response.json()["units"]][:2]


def test_a_point_in_longhua_belongs_to_longhua_after_2017(demo_server: LiveServer):
    response = get(demo_server, "/v1/lookup", **LONGHUA_POINT, date="2017-06-01")
    assert response.status_code == 200
    assert codes(response) == [("city", "440300", "深圳市"), ("district", "440309", "龙华区")]
    body = response.json()
    assert body["date"] == "2017-06-01"
    assert body["point"] == LONGHUA_POINT
    assert "440309" in {office["unit"] for office in body["offices"]}
    district = body["units"][1]
    assert district["valid_from"] == "2017-01-07" and district["valid_to"] is None
    assert district["on_boundary"] is False


def test_the_same_point_belonged_to_baoan_before_2017(demo_server: LiveServer):
    response = get(demo_server, "/v1/lookup", **LONGHUA_POINT, date="2016-06-01")
    assert codes(response) == [("city", "440300", "深圳市"), ("district", "440306", "宝安区")]
    assert response.json()["units"][1]["valid_to"] == "2017-01-07"


def test_as_recorded_answers_with_what_the_register_knew(demo_server: LiveServer):
    response = get(
        demo_server,
        "/v1/lookup",
        **LONGHUA_POINT,
        date="2017-06-01",
        as_recorded="2016-06-01T00:00:00Z",
    )
    assert codes(response)[1][1] == "440306"


def test_a_point_in_the_sea_has_no_units(demo_server: LiveServer):
    response = get(demo_server, "/v1/lookup", lon=116.5, lat=20.1, date="2020-01-01")
    assert response.status_code == 200
    assert response.json()["units"] == []


def test_the_date_defaults_to_today(demo_server: LiveServer):
    import datetime as dt

    response = get(demo_server, "/v1/lookup", **LONGHUA_POINT)
    assert response.json()["date"] == dt.date.today().isoformat()
    assert codes(response)[1][1] == "440309"


@pytest.mark.parametrize(
    ("params", "location"),
    [
        ({"lat": 22.6}, "query.lon"),
        ({"lon": 114.0}, "query.lat"),
        ({"lon": "east", "lat": 22.6}, "query.lon"),
        ({"lon": 114.0, "lat": 22.6, "date": "2016-13-01"}, "query.date"),
        ({"lon": 114.0, "lat": 22.6, "date": "yesterday"}, "query.date"),
        ({"lon": 114.0, "lat": 22.6, "as_recorded": "soon"}, "query.as_recorded"),
        ({"lon": 181.0, "lat": 22.6}, "query.lon"),
        ({"lon": 22.6, "lat": 114.0}, "query.lat"),
        ({"lon": "nan", "lat": 22.6}, "query.lon"),
    ],
)
def test_bad_parameters_get_a_422_naming_the_parameter(
    demo_server: LiveServer, params: dict[str, object], location: str
):
    response = get(demo_server, "/v1/lookup", **params)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] in {
        "invalid_request",
        "coordinates_out_of_range",
        "date_invalid",
        "number_invalid",
    }
    assert error["message"]
    assert location in [d["location"] for d in error["details"]]


def test_swapped_coordinates_get_a_hint(demo_server: LiveServer):
    response = get(demo_server, "/v1/lookup", lon=22.679, lat=114.029)
    assert "swap" in response.json()["error"]["message"]


def test_health_readiness_and_docs(demo_server: LiveServer):
    assert get(demo_server, "/healthz").json() == {"status": "ok"}
    ready = get(demo_server, "/readyz").json()
    assert ready["status"] == "ready"
    assert ready["projection"]["lag"] == 0
    assert ready["projection"]["position"] == ready["projection"]["head"] > 0
    assert get(demo_server, "/docs").status_code == 200
    spec = get(demo_server, "/openapi.json").json()
    assert "/v1/lookup" in spec["paths"]


def test_unknown_paths_get_the_error_shape(demo_server: LiveServer):
    response = get(demo_server, "/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_server_projects_new_events_as_they_are_stored(database_url: str):
    """The API process follows the event log by itself (LISTEN/NOTIFY plus the advisory lock)."""
    import time

    from jurisdictions.bootstrap import build_services
    from jurisdictions.settings import Settings
    from tests.scenario import load_districts

    server = LiveServer(database_url)
    writer = build_services(Settings(database_url=database_url, run_projection=False))
    try:
        assert get(server, "/v1/lookup", **LONGHUA_POINT, date="2017-06-01").json()["units"] == []
        load_districts(writer.register)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            ready = get(server, "/readyz").json()["projection"]
            if ready["head"] > 0 and ready["lag"] == 0:
                break
            time.sleep(0.05)
        response = get(server, "/v1/lookup", **LONGHUA_POINT, date="2017-06-01")
        assert codes(response)[1][1] == "440309"
    finally:
        writer.close()
        server.stop()


def wait_for_memory(server: LiveServer) -> None:
    """Until the server's lookup index has loaded (it loads in the background at start)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = get(server, "/v1/lookup", **LONGHUA_POINT, date="2017-06-01")
        if response.headers["x-read-from"] == "memory":
            return
        time.sleep(0.2)
    raise AssertionError("the lookup index never answered")


#: An instant after every recording: the register's current beliefs, but asked through SQL.
LATER = "2999-01-01T00:00:00Z"


def test_lookups_from_memory_equal_lookups_from_sql(demo_server: LiveServer):
    wait_for_memory(demo_server)
    rng = random.Random(44)
    days = ["2015-03-01", "2016-12-30", "2021-06-01"]
    for day in days:  # a period is indexed once asked about a few times
        for _ in range(BUILD_AFTER):
            get(demo_server, "/v1/lookup", **LONGHUA_POINT, date=day)
    for _ in range(40):
        point = {"lon": rng.uniform(113.8, 114.6), "lat": rng.uniform(22.45, 22.85)}
        day = rng.choice(days)
        memory = get(demo_server, "/v1/lookup", **point, date=day, matter="elderly-card")
        sql = get(
            demo_server, "/v1/lookup", **point, date=day, matter="elderly-card", as_recorded=LATER
        )
        assert memory.headers["x-read-from"] == "memory"
        assert sql.headers["x-read-from"] == "primary"
        assert memory.status_code == sql.status_code
        if memory.status_code == 200:
            a, b = memory.json(), sql.json()
            assert (a["units"], a["offices"], a["responsible"]) == (
                b["units"],
                b["offices"],
                b["responsible"],
            )


def test_batches_from_memory_equal_batches_from_sql(demo_server: LiveServer):
    wait_for_memory(demo_server)
    rng = random.Random(45)
    points = [
        {"id": i, "lon": rng.uniform(113.8, 114.6), "lat": rng.uniform(22.45, 22.85)}
        for i in range(3_000)
    ]
    body = {"date": "2016-06-01", "points": points}
    memory = httpx.post(f"{demo_server.url}/v1/lookup/batch", json=body, timeout=60)
    sql = httpx.post(
        f"{demo_server.url}/v1/lookup/batch", json={**body, "as_recorded": LATER}, timeout=60
    )
    assert memory.status_code == sql.status_code == 200
    assert memory.headers["x-read-from"] == "memory"
    assert memory.json() == sql.json()
    assert sum(bool(r["units"]) for r in memory.json()["results"]) > 1_000


def test_a_batch_can_ask_for_some_levels_only(demo_server: LiveServer):
    wait_for_memory(demo_server)
    rng = random.Random(46)
    points = [
        {"id": f"p{i}", "lon": rng.uniform(113.8, 114.6), "lat": rng.uniform(22.45, 22.85)}
        for i in range(2_000)
    ]
    url = f"{demo_server.url}/v1/lookup/batch"
    body = {"date": "2020-06-01", "points": points}
    everything = httpx.post(url, json=body, timeout=60).json()["results"]
    for levels in (["grid"], ["district", "community"]):
        for extra in ({}, {"as_recorded": LATER}):  # memory and SQL alike
            some = httpx.post(url, json={**body, "levels": levels, **extra}, timeout=60)
            assert some.status_code == 200
            assert some.json()["results"] == [
                {"id": r["id"], "units": [u for u in r["units"] if u["level"] in levels]}
                for r in everything
            ]
    unknown = httpx.post(url, json={**body, "levels": ["grid", "province"]}, timeout=60)
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"][0]["location"] == "body.levels[1]"
