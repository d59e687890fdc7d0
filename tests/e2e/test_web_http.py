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
    # UTC+14 is never on the UTC date before 10:00 UTC; the server's UTC date would differ.
    utc_now = dt.datetime.now(dt.UTC)
    if utc_now.hour < 10 and before == after:
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
