"""Issue 16 for apps over real HTTP: the register's today, batch with offices and per-item
errors, ETag/304 and compression, CORS preflight, the landing page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from domain.clock import today_in, zone
from tests.conftest import LiveServer

pytestmark = pytest.mark.db

LONGHUA_POINT = {"lon": 114.029, "lat": 22.679}
#: UTC+14: its date is always one day or two ahead of a UTC-12 server's, never the same as both.
KIRITIMATI = "Pacific/Kiritimati"


@pytest.fixture(scope="module")
def kiritimati_server(demo_database: str) -> Iterator[LiveServer]:
    server = LiveServer(
        demo_database, JL_TIME_ZONE=KIRITIMATI, JL_CORS_ORIGINS="https://app.example"
    )
    yield server
    server.stop()


def test_the_default_date_is_today_in_the_registers_time_zone(kiritimati_server: LiveServer):
    before = today_in(zone(KIRITIMATI))
    response = httpx.get(f"{kiritimati_server.url}/v1/lookup", params=LONGHUA_POINT, timeout=10)
    after = today_in(zone(KIRITIMATI))
    assert response.status_code == 200
    assert dt.date.fromisoformat(response.json()["date"]) in (before, after)
    # From 10:00 UTC on, UTC+14 is already on the next day: the server's UTC date would differ.
    # (Before 10:00 UTC both calendars show the same date, so nothing tells them apart.)
    utc_now = dt.datetime.now(dt.UTC)
    if utc_now.hour >= 10 and before == after:
        assert response.json()["date"] != utc_now.date().isoformat()


def test_the_default_date_of_a_batch_is_the_registers_too(kiritimati_server: LiveServer):
    before = today_in(zone(KIRITIMATI))
    response = httpx.post(
        f"{kiritimati_server.url}/v1/lookup/batch",
        json={"points": [{"id": "a", **LONGHUA_POINT}]},
        timeout=10,
    )
    after = today_in(zone(KIRITIMATI))
    assert response.status_code == 200
    assert dt.date.fromisoformat(response.json()["date"]) in (before, after)


def post_batch(server: LiveServer, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/lookup/batch", json=body, headers=headers, timeout=30)


#: An instant after every recording: current beliefs, asked through SQL.
LATER = "2999-01-01T00:00:00Z"


def single(server: LiveServer, point: dict[str, Any], **params: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/v1/lookup", params={**point, **params}, timeout=10)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("day", ["2016-06-01", "2018-06-01"])
def test_a_batch_with_offices_and_a_matter_answers_as_single_lookups(
    demo_server: LiveServer, day: str
):
    points = [
        {"id": "longhua", **LONGHUA_POINT},
        {"id": "futian", "lon": 114.055, "lat": 22.54},
        {"id": "bad", "lon": 22.5, "lat": 114.0},
        {"id": "sea", "lon": 116.5, "lat": 20.1},
        {"id": "nolat", "lon": 114.0},
    ]
    body = {"date": day, "offices": True, "matter": "elderly-card", "points": points}
    for recorded in (None, LATER):  # memory, then SQL
        asked = {**body, "as_recorded": recorded} if recorded else body
        response = post_batch(demo_server, asked)
        assert response.status_code == 200
        results = response.json()["results"]
        assert [r["id"] for r in results] == ["longhua", "futian", "bad", "sea", "nolat"]
        for point, result in zip(points[:2], results[:2], strict=True):
            one = single(demo_server, point, date=day, matter="elderly-card")
            assert result["units"] == one["units"]
            assert result["offices"] == one["offices"] and result["offices"]
            assert result["responsible"] == one["responsible"] and result["responsible"]
        assert results[2]["error"]["code"] == "coordinates_out_of_range"
        assert results[2]["error"]["details"][0]["location"] == "body.points[2].lat"
        assert results[3]["units"] == [] and results[3]["offices"] == []
        assert results[4]["error"]["details"][0]["location"] == "body.points[4].lat"


def test_a_batch_with_offices_keeps_its_levels_and_a_plain_batch_its_shape(
    demo_server: LiveServer,
):
    point = {"id": 1, **LONGHUA_POINT}
    asked = {"date": "2018-06-01", "levels": ["district"], "offices": True, "points": [point]}
    result = post_batch(demo_server, asked).json()["results"][0]
    assert [u["level"] for u in result["units"]] == ["district"]
    assert result["offices"] and "responsible" not in result
    plain = post_batch(demo_server, {"date": "2018-06-01", "points": [point]}).json()
    assert set(plain["results"][0]) == {"id", "units"}


def test_a_batch_with_an_unknown_matter_is_a_404(demo_server: LiveServer):
    response = post_batch(demo_server, {"matter": "no-such-matter", "points": [LONGHUA_POINT]})
    assert response.status_code == 404
    assert response.json()["error"]["details"][0]["location"] == "body.matter"


def test_a_repeated_lookup_gets_304(demo_server: LiveServer):
    url = f"{demo_server.url}/v1/lookup"
    params: dict[str, Any] = {**LONGHUA_POINT, "date": "2018-06-01"}
    first = httpx.get(url, params=params, timeout=10)
    assert first.status_code == 200
    tag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"
    again = httpx.get(url, params=params, headers={"If-None-Match": tag}, timeout=10)
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == tag
    # Another question is another answer: another tag, and a 200 for the old tag.
    other = httpx.get(
        url, params={**params, "date": "2016-06-01"}, headers={"If-None-Match": tag}, timeout=10
    )
    assert other.status_code == 200 and other.headers["etag"] != tag
    # HEAD answers as GET does, 304 included.
    head = httpx.head(url, params=params, headers={"If-None-Match": tag}, timeout=10)
    assert head.status_code == 304


def test_etags_follow_the_scheme_a_proxy_forwards(demo_server: LiveServer):
    """OGC documents link to the URL asked: behind a TLS proxy (X-Forwarded-Proto, trusted
    from 127.0.0.1 as uvicorn's default) the links say https, so the ETag must differ too,
    or a client's http copy would be confirmed (304) for the https answer."""
    url = f"{demo_server.url}/ogc/collections"
    plain = httpx.get(url, timeout=10)
    proxied = httpx.get(url, headers={"X-Forwarded-Proto": "https"}, timeout=10)
    assert plain.status_code == proxied.status_code == 200
    assert '"http://127.0.0.1' in plain.text and '"https://127.0.0.1' in proxied.text
    assert plain.headers["etag"] != proxied.headers["etag"]
    stale = httpx.get(
        url,
        headers={"X-Forwarded-Proto": "https", "If-None-Match": plain.headers["etag"]},
        timeout=10,
    )
    assert stale.status_code == 200 and '"https://127.0.0.1' in stale.text
    fresh = httpx.get(
        url,
        headers={"X-Forwarded-Proto": "https", "If-None-Match": proxied.headers["etag"]},
        timeout=10,
    )
    assert fresh.status_code == 304


def test_json_reads_are_tagged_and_tiles_keep_their_own_caching(demo_server: LiveServer):
    units = httpx.get(f"{demo_server.url}/v1/units", params={"level": "district"}, timeout=10)
    assert units.status_code == 200 and units.headers["etag"]
    tile = httpx.get(f"{demo_server.url}/tiles/district/12/3344/1785.mvt", timeout=10)
    if tile.status_code == 200:
        assert tile.headers["cache-control"] == "public, max-age=60"
    errors = httpx.get(f"{demo_server.url}/v1/lookup", params={"lon": 500, "lat": 1}, timeout=10)
    assert errors.status_code == 422 and "etag" not in errors.headers
    ready = httpx.get(f"{demo_server.url}/readyz", timeout=10)
    assert "etag" not in ready.headers


def test_a_large_batch_answer_comes_compressed(demo_server: LiveServer):
    points = [
        {"id": i, "lon": 113.9 + (i % 100) * 0.005, "lat": 22.5 + (i // 100) * 0.003}
        for i in range(2_000)
    ]
    body = {"date": "2018-06-01", "points": points}
    zipped = post_batch(demo_server, body, **{"Accept-Encoding": "gzip"})
    assert zipped.status_code == 200
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) * 5 < len(zipped.content)  # decoded by httpx
    plain = post_batch(demo_server, body, **{"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.json() == zipped.json()


def test_a_configured_origin_gets_a_working_preflight(kiritimati_server: LiveServer):
    origin = "https://app.example"
    preflight = httpx.options(
        f"{kiritimati_server.url}/v1/lookup/batch",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-min-position, if-none-match",
        },
        timeout=10,
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "POST" in preflight.headers["access-control-allow-methods"]
    answer = httpx.get(
        f"{kiritimati_server.url}/v1/lookup",
        params=LONGHUA_POINT,
        headers={"Origin": origin},
        timeout=10,
    )
    assert answer.headers["access-control-allow-origin"] == origin
    assert "ETag" in answer.headers["access-control-expose-headers"]
    stranger = httpx.options(
        f"{kiritimati_server.url}/v1/lookup",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        timeout=10,
    )
    assert "access-control-allow-origin" not in stranger.headers


def test_the_landing_page_links_maps_docs_ogc_and_status(demo_server: LiveServer):
    page = httpx.get(f"{demo_server.url}/", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for path in ("/maps", "/docs", "/redoc", "/ogc", "/readyz"):
        assert f'href="{path}"' in page.text
        assert httpx.get(f"{demo_server.url}{path}", timeout=10).status_code in (200, 503)
    assert "http://" not in page.text and "https://" not in page.text  # nothing from elsewhere
