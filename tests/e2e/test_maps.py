"""The map pages in a real browser, offline: drawn, clickable, comparing dates, sliding in time.

The real server (LiveServer) serves the Shenzhen demo; Debian's Chromium, driven over the
DevTools protocol by Playwright, loads each page with every host but 127.0.0.1 unresolvable,
records every request the pages make, and takes screenshots into artifacts/maps/ whose pixels
are checked (polygons drawn where the districts are, changed streets coloured).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from maps.assets import external_references, missing_assets
from tests.browser import (
    Image,
    Recorder,
    assert_offline_and_clean,
    element_box,
    load,
    screen_point,
    wait_ready,
)
from tests.conftest import LiveServer

pytestmark = [pytest.mark.db, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "maps"
#: The map background (maps.css) when no base layer is configured.
BACKGROUND = (0xF4, 0xF1, 0xEA)
PAGE_BUDGET = 100_000


def is_background(rgb: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 6 for a, b in zip(rgb, BACKGROUND, strict=True))


def is_green(rgb: tuple[int, int, int]) -> bool:
    r, g, b = rgb
    return g > r + 25 and g > b + 15


def api(server: LiveServer, path: str, **params: Any) -> Any:
    response = httpx.get(f"{server.url}{path}", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


# -- the pages ----------------------------------------------------------------------------------


def test_layers_page_draws_the_districts_offline_and_a_click_shows_who_is_responsible(
    demo_server: LiveServer, tab: tuple[Any, Recorder]
):
    page, recorder = tab
    load(page, f"{demo_server.url}/maps?level=district")
    assert_offline_and_clean(recorder)
    assert recorder.tiles(), "the layers come as vector tiles"
    assert page.title().startswith("深圳市")
    page.screenshot(path=SHOTS / "layers.png")

    config = page.evaluate("() => window.JL_CONFIG")
    districts = config["labels"]["district"]
    assert len(districts) >= 9
    assert {"440303", "440304", "440305", "440306", "440307", "440309"} <= {
        d["code"] for d in districts
    }

    # The map alone (panel, controls and labels hidden): coloured where the districts are.
    page.add_style_tag(
        content=".jl-panel, .leaflet-control-container, .leaflet-tooltip-pane "
        "{ visibility: hidden !important; }"
    )
    clean = SHOTS / "layers-map-only.png"
    page.screenshot(path=clean)
    image = Image(clean.read_bytes())
    drawn, looked = image.count((0, 0, image.width, image.height), lambda p: not is_background(p))
    assert drawn / looked > 0.05, f"only {drawn}/{looked} pixels drawn"
    colours = set()
    for district in districts:
        x, y = screen_point(page, "JL.map", district["lat"], district["lon"])
        patch, size = image.count(
            (int(x) - 4, int(y) - 4, int(x) + 5, int(y) + 5), lambda p: not is_background(p), 1
        )
        assert patch == size, f"{district['name']} is not drawn at {x:.0f},{y:.0f}"
        colours.add(image.pixel(int(x), int(y)))
    assert len(colours) >= 5, "each district has its own fill"

    # A click on a district: its code, name, dates and the offices responsible there.
    page.evaluate("() => document.querySelector('style:last-of-type').remove()")
    target = next(d for d in districts if d["code"] == "440307")
    page.mouse.click(*screen_point(page, "JL.map", target["lat"], target["lon"]))
    page.wait_for_selector(".leaflet-popup-content .jl-pop-code", timeout=15_000)
    popup = page.locator(".leaflet-popup-content")
    assert popup.locator(".jl-pop-code").inner_text() == "440307"
    assert popup.locator(".jl-pop-name").inner_text() == target["name"]
    assert re.search(r"valid \d{4}-\d{2}-\d{2} → ", popup.inner_text())
    kinds = " ".join(popup.locator(".jl-office-kind").all_inner_texts())
    for kind in ("district government", "street office", "residents' committee", "workstation"):
        assert kind in kinds, kinds
    page.wait_for_timeout(600)
    page.screenshot(path=SHOTS / "layers-popup.png")
    assert_offline_and_clean(recorder)


def test_search_finds_a_unit_by_name_or_code(demo_server: LiveServer, tab: tuple[Any, Recorder]):
    page, recorder = tab
    load(page, f"{demo_server.url}/maps")
    page.fill("#jl-search input", "航城")
    page.press("#jl-search input", "Enter")
    page.wait_for_selector(".leaflet-popup-content .jl-pop-code", timeout=15_000)
    popup = page.locator(".leaflet-popup-content")
    assert popup.locator(".jl-pop-name").inner_text() == "航城街道"
    assert "航城街道" in page.inner_text("#jl-status")
    code = popup.locator(".jl-pop-code").inner_text()
    page.wait_for_timeout(600)
    page.screenshot(path=SHOTS / "search.png")

    page.keyboard.press("Escape")
    page.fill("#jl-search input", "440309")
    page.press("#jl-search input", "Enter")
    page.wait_for_function(
        "() => (document.querySelector('.leaflet-popup-content .jl-pop-code') || {})"
        ".textContent === '440309'",
        timeout=15_000,
    )
    assert code.startswith("4403")
    assert_offline_and_clean(recorder)


def test_the_date_picker_reloads_the_layers_for_that_date(
    demo_server: LiveServer, tab: tuple[Any, Recorder]
):
    page, recorder = tab
    load(page, f"{demo_server.url}/maps?level=district")
    today = {d["code"] for d in page.evaluate("() => JL_CONFIG.labels.district")}
    assert {"440309", "440311"} <= today  # 龙华 (2017) and 光明 (2018) exist today

    recorder.clear()
    with page.expect_navigation():
        # Filling the date fires its change event: the page reloads for that date.
        page.fill(".jl-date-form input[name=date]", "2016-01-01")
    wait_ready(page)
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"date": ["2016-01-01"], "level": ["district"]}
    assert page.inner_text("#jl-day") == "2016-01-01"
    then = {d["code"] for d in page.evaluate("() => JL_CONFIG.labels.district")}
    assert not {"440309", "440311"} & then
    assert recorder.tiles()
    assert all("date=2016-01-01" in url for url in recorder.tiles())
    page.screenshot(path=SHOTS / "layers-2016.png")
    assert_offline_and_clean(recorder)


def test_compare_page_shows_the_2016_street_splits_side_by_side(
    demo_server: LiveServer, tab: tuple[Any, Recorder]
):
    page, recorder = tab
    before, after = "2016-01-01", "2017-01-01"
    changes = api(demo_server, "/v1/changes", **{"from": before, "to": after})
    new_streets = [c for c in changes["established"] if c["level"] == "street"]
    assert new_streets
    hangcheng = next(c for c in new_streets if c["name"] == "航城街道")
    unit = api(demo_server, f"/v1/units/{hangcheng['code']}", date=after)
    assert unit["properties"]["valid_from"] == "2016-12-26"

    load(page, f"{demo_server.url}/maps/compare?before={before}&after={after}")
    assert_offline_and_clean(recorder)
    listed = page.inner_text("#jl-changes")
    assert "航城街道" in listed
    for street in new_streets:
        assert street["code"] in listed
    for redrawn in changes["redrawn"]:
        assert redrawn["code"] in listed
    page.screenshot(path=SHOTS / "compare.png")

    # Established streets are coloured on the right-hand map.
    image = Image((SHOTS / "compare.png").read_bytes())
    maps = page.locator(".folium-map")
    left, right = element_box(maps.nth(0)), element_box(maps.nth(1))
    green_after, _ = image.count(right, is_green)
    green_before, _ = image.count(left, is_green)
    assert green_after > 200, green_after
    assert green_after > 3 * green_before

    # The two maps move together; a change in the list shows its unit on both.
    centre = page.evaluate(
        """() => {
            JL.maps.before.setView([22.58, 113.88], 12, {animate: false});
            const c = JL.maps.after.getCenter();
            return [c.lat, c.lng, JL.maps.after.getZoom()];
        }"""
    )
    assert abs(centre[0] - 22.58) < 1e-3 and abs(centre[1] - 113.88) < 1e-3 and centre[2] == 12
    page.click(f"a.jl-change[data-code='{hangcheng['code']}']")
    page.wait_for_function(
        "() => JL.inspectors.after.outline.getLayers().length > 0", timeout=15_000
    )
    wait_ready(page)
    page.wait_for_timeout(800)
    page.screenshot(path=SHOTS / "compare-hangcheng.png")
    assert_offline_and_clean(recorder)


def test_unit_page_slides_through_the_unit_and_its_lineage(
    demo_server: LiveServer, tab: tuple[Any, Recorder]
):
    page, recorder = tab
    changes = api(demo_server, "/v1/changes", **{"from": "2016-01-01", "to": "2017-01-01"})
    code = next(c["code"] for c in changes["established"] if c["name"] == "航城街道")
    lineage = api(demo_server, f"/v1/units/{code}/lineage")
    parents = {edge["predecessor"] for edge in lineage["predecessors"]}
    assert parents

    load(page, f"{demo_server.url}/maps/units/{code}")
    assert_offline_and_clean(recorder)
    assert page.locator(".leaflet-timeline-control input.time-slider").count() == 1
    shown = page.evaluate(
        "() => JL.timeline.getLayers().map(l => [l.feature.properties.code,"
        " l.feature.properties.role])"
    )
    assert [code, "unit"] in shown
    for parent in parents:
        assert parent in page.inner_text("#jl-panel")
    page.screenshot(path=SHOTS / "unit.png")

    # Before the split only the predecessor was there; the date picker moves the slider.
    page.fill(".jl-date-form input[name=date]", "2016-06-01")
    page.click(".jl-date-form button")
    page.wait_for_function(
        "() => document.querySelector('.leaflet-timeline-control output').textContent"
        " === '2016-06-01'",
        timeout=10_000,
    )
    page.wait_for_function("() => location.search === '?date=2016-06-01'", timeout=10_000)
    wait_ready(page)
    shown = page.evaluate(
        "() => JL.timeline.getLayers().map(l => [l.feature.properties.code,"
        " l.feature.properties.role])"
    )
    assert shown
    assert all(role == "predecessor" for _, role in shown), shown
    assert {c for c, _ in shown} <= parents
    assert any("date=2016-06-01" in url for url in recorder.tiles())
    page.wait_for_timeout(500)
    page.screenshot(path=SHOTS / "unit-2016.png")
    assert_offline_and_clean(recorder)


def test_pages_are_small_html_and_errors_keep_the_contract_shape(demo_server: LiveServer):
    sizes = {}
    for path in (
        "/maps",
        "/maps?level=district&date=2016-01-01",
        "/maps/compare?before=2016-01-01&after=2017-01-01",
        "/maps/units/440306",
    ):
        started = time.monotonic()
        response = httpx.get(f"{demo_server.url}{path}", timeout=30)
        elapsed = time.monotonic() - started
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/html")
        sizes[path] = {"bytes": len(response.content), "seconds": round(elapsed, 3)}
        assert len(response.content) < PAGE_BUDGET, (path, len(response.content))
        assert external_references(response.text) == [], path
        assert missing_assets(response.text) == [], path
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "sizes.json").write_text(json.dumps(sizes, indent=2))

    for path, status, code in (
        ("/maps?date=2016-13-01", 422, "date_invalid"),
        ("/maps?level=province", 422, "level_unknown"),
        ("/maps/compare?before=2016-01-01", 422, "invalid_request"),
        ("/maps/units/999999999", 404, "unit_not_found"),
        ("/maps/static/vendor/nothing.js", 404, "not_found"),
    ):
        response = httpx.get(f"{demo_server.url}{path}", timeout=30)
        assert response.status_code == status, (path, response.text)
        assert response.json()["error"]["code"] == code, path

    asset = httpx.get(f"{demo_server.url}/maps/static/vendor/leaflet@1.9.4/leaflet.js")
    assert asset.status_code == 200
    assert "javascript" in asset.headers["content-type"]
