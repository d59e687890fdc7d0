"""The choropleth of an aggregate job in a real browser, offline (Chromium with every host but
127.0.0.1 unresolvable): both dates drawn in the classes' colours, a legend, a unit's figures
on click, the token taken out of the address, and a token form when none is given."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from tests.browser import Image, assert_offline_and_clean
from tests.conftest import DatabaseFactory, LiveServer, scenario_database
from tests.e2e.test_jobs_http import AFTER, BEFORE, LIBRARY, records, server_env, wait_done
from tests.e2e.test_maps import SHOTS

# `browser` and `tab` are fixtures of tests/e2e/conftest.py, used by name below.

pytestmark = [pytest.mark.db, pytest.mark.browser, pytest.mark.slow]

BACKGROUND_BLUE = 0xEA


def coloured(rgb: tuple[int, int, int]) -> bool:
    """A unit filled with a class colour (yellow to red over the map's background)."""
    r, _, b = rgb
    return r > 170 and BACKGROUND_BLUE - b > 25 and r - b > 40


@pytest.fixture(scope="module")
def job_map(
    databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, str, str]]:
    root = tmp_path_factory.mktemp("job-map")
    dirs = {"inputs": root / "inputs", "outputs": root / "outputs"}
    (dirs["inputs"] / "library").mkdir(parents=True)
    pq.write_table(records(), dirs["inputs"] / "library" / "a.parquet")
    url, (token,) = scenario_database(databases, ("analyst", "ana"))
    server = LiveServer(url, **server_env(dirs))
    body = {
        "source": LIBRARY,
        "dates": [BEFORE, AFTER],
        "levels": ["street", "community"],
        "aggregate": True,
        "sum_columns": ["persons"],
    }
    created = httpx.post(
        f"{server.url}/v1/jobs", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code == 201, created.text
    info = wait_done(server, token, created.json()["jobID"])
    assert info["status"] == "successful", info
    yield server, token, info["jobID"]
    server.stop()
    databases.drop(url)


def drawn(page: Any) -> None:
    page.wait_for_selector("body[data-drawn]", state="attached", timeout=30_000)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and page.evaluate(
        "document.querySelectorAll('.leaflet-tile-loaded').length < 2"
    ):
        page.wait_for_timeout(100)
    page.wait_for_timeout(600)


def test_the_counts_are_drawn_on_both_dates_with_a_legend(job_map, tab):
    server, token, job_id = job_map
    page, recorder = tab
    page.goto(f"{server.url}/maps/jobs/{job_id}#token={token}", wait_until="load")
    drawn(page)
    assert token not in page.url  # the token leaves the address bar
    assert page.get_attribute("body", "data-drawn") == f"community|{BEFORE}|{AFTER}"
    legend = page.inner_text("#jl-legend")
    assert "none" in legend and "up to" in legend
    assert int(page.get_attribute("#jl-legend", "data-classes")) >= 2
    shot = SHOTS / "job-choropleth.png"
    page.screenshot(path=str(shot))
    image = Image(shot.read_bytes())
    half = (1280 - 345) // 2
    for box in ((10, 60, half - 10, 850), (half + 10, 60, 2 * half - 10, 850)):
        hits, total = image.count(box, coloured)
        assert hits > total * 0.01, (box, hits, total)
    # The level and the measure switch; a click shows a unit's figures on both dates.
    page.select_option("#jl-level", "street")
    page.wait_for_function("document.body.dataset.drawn.startsWith('street|')")
    page.select_option("#jl-measure", "sum_persons")
    page.wait_for_timeout(800)
    box = page.locator("#jl-map-right").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.7, box["y"] + box["height"] / 2)
    page.wait_for_selector("#jl-unit table", timeout=10_000)
    figures = page.inner_text("#jl-unit")
    assert BEFORE in figures and AFTER in figures and "sum_persons" in figures
    assert_offline_and_clean(recorder)
    assert any(f"/v1/jobs/{job_id}/counts" in url for url in recorder.requests)
    assert recorder.tiles()


def test_without_a_token_the_page_asks_for_one(job_map, tab):
    server, token, job_id = job_map
    page, recorder = tab
    page.goto(f"{server.url}/maps/jobs/{job_id}", wait_until="load")
    page.wait_for_selector("#jl-token-form:not([hidden])", timeout=10_000)
    assert not any("/counts" in url for url in recorder.requests)
    page.fill("#jl-token-form input[name=token]", "jl_00000000_wrong")
    page.click("#jl-token-form button")
    page.wait_for_function("document.getElementById('jl-status').textContent.length > 0")
    assert "token" in page.inner_text("#jl-status")
    page.fill("#jl-token-form input[name=token]", token)
    page.click("#jl-token-form button")
    drawn(page)
    assert recorder.outside() == []
    assert Path(SHOTS).is_dir()
