"""`/docs` and `/redoc` in a real browser with the network cut: they render from the service
alone.

Debian's Chromium (Playwright, the `browser` fixture of tests/e2e/conftest.py) resolves no host but
127.0.0.1, and every request to another host is aborted before it leaves; each request the
pages make is recorded. Swagger UI must list the operations (and open one), ReDoc must render
its menu and operations, and no request may have gone anywhere else.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from maps.assets import external_references
from tests.browser import Recorder, assert_offline_and_clean, recorded_page
from tests.conftest import DatabaseFactory, LiveServer
from tests.e2e.test_maps import SHOTS

pytestmark = [pytest.mark.db, pytest.mark.browser]


@pytest.fixture(scope="module")
def server(databases: DatabaseFactory) -> Iterator[LiveServer]:
    """The service over an empty register: the documentation needs no data."""
    url = databases.fresh()
    live = LiveServer(url)
    yield live
    live.stop()
    databases.drop(url)


@pytest.fixture
def offline_tab(browser: Any) -> Iterator[tuple[Any, Recorder, list[str]]]:
    """A page whose requests to any host but 127.0.0.1 are aborted (and listed as blocked)."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, service_workers="block", locale="en-GB"
    )
    recorder, blocked = Recorder(), []

    def cut(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", cut)
    page = recorded_page(context, recorder, aborts_fail=False)
    yield page, recorder, blocked
    context.close()


def test_the_pages_refer_to_nothing_outside_the_service(server: LiveServer):
    for path in ("/docs", "/redoc"):
        html = httpx.get(f"{server.url}{path}", timeout=10).text
        assert external_references(html) == [], path
        assert "fonts.googleapis" not in html and "cdn.jsdelivr" not in html, path
        for asset in re.findall(r"""(?:src|href)=["'](/docs/static/[^"']+)""", html):
            assert httpx.get(f"{server.url}{asset}", timeout=10).status_code == 200, asset


def test_swagger_ui_lists_the_operations_offline(
    server: LiveServer, offline_tab: tuple[Any, Recorder, list[str]]
):
    page, recorder, blocked = offline_tab
    page.goto(f"{server.url}/docs", wait_until="load")
    page.wait_for_selector(".opblock", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert len(paths) >= 20, paths
    normalised = {re.sub(r"\s+", "", text) for text in paths}
    for expected in ("/v1/lookup", "/v1/changesets", "/ogc/collections/{collection_id}/items"):
        assert expected in normalised, (expected, sorted(normalised))
    assert "Jurisdiction Ledger" in page.locator(".info .title").inner_text()

    # An operation opens, with its parameters described.
    items = page.locator(".opblock-summary-path", has_text="/ogc/collections/{collection_id}/items")
    items.first.click()
    page.wait_for_selector(".opblock.is-open .parameters", timeout=10_000)
    assert "limit" in page.locator(".opblock.is-open .parameters").inner_text()
    page.screenshot(path=SHOTS / "docs-swagger-ui.png")
    assert blocked == []
    assert_offline_and_clean(recorder)


def test_redoc_renders_offline(server: LiveServer, offline_tab: tuple[Any, Recorder, list[str]]):
    page, recorder, blocked = offline_tab
    page.goto(f"{server.url}/redoc", wait_until="load")
    page.wait_for_selector("[role=menuitem]", timeout=30_000)
    page.wait_for_selector("h1", timeout=30_000)
    assert "Jurisdiction Ledger" in page.locator("h1").first.inner_text()
    menu = " ".join(page.locator("[role=menuitem]").all_inner_texts())
    assert "OGC API - Features" in menu, menu[:500]
    body = page.inner_text("body")
    assert "/ogc/collections/{collection_id}/items" in body
    page.screenshot(path=SHOTS / "docs-redoc.png")
    assert blocked == []
    assert_offline_and_clean(recorder)
