"""Fixtures of the browser tests: one Chromium per module, a fresh recorded tab per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import CHROMIUM, FLAGS, VIEWPORT, Recorder, recorded_page


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is missing: run scripts/ensure_test_tools.sh as root")
    with sync_api.sync_playwright() as playwright:
        # A fresh temporary profile per launch (Playwright's default).
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def tab(browser: Any) -> Iterator[tuple[Any, Recorder]]:
    context = browser.new_context(viewport=VIEWPORT, service_workers="block", locale="en-GB")
    recorder = Recorder()
    page = recorded_page(context, recorder)
    yield page, recorder
    context.close()
