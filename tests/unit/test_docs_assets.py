"""The documentation pages' assets are vendored in the package, with their licences, and the
stylesheet refers to nothing outside it (the pages themselves are opened offline in
tests/e2e/test_docs_offline.py)."""

from __future__ import annotations

import re
from pathlib import Path

from api.routes.docs import ASSETS, REDOC, STATIC_DIR, STATIC_PATH, SWAGGER_UI


def test_every_asset_the_pages_load_is_vendored():
    for name, relative in ASSETS.items():
        path = STATIC_DIR / relative
        assert path.is_file() and path.stat().st_size > 0, name


def test_each_package_keeps_its_licence_and_is_listed():
    vendor = (STATIC_DIR / "vendor" / "VENDOR.md").read_text()
    notice = (Path(__file__).resolve().parents[2] / "NOTICE").read_text()
    for folder in (SWAGGER_UI, REDOC):
        assert (STATIC_DIR / folder / "LICENSE").is_file(), folder
        name, _, version = folder.removeprefix("vendor/").partition("@")
        assert f"`{name}` | {version}" in vendor, folder
        assert f"`{name}` {version}" in notice, folder
    assert (STATIC_DIR / SWAGGER_UI / "NOTICE").is_file()


def test_the_stylesheet_refers_only_to_inline_data():
    css = (STATIC_DIR / ASSETS["swagger_css"]).read_text()
    for target in re.findall(r"url\(\s*['\"]?([^'\")]+)", css):
        assert target.startswith(("data:", "#")), target


def test_assets_are_inside_the_package_and_served_apart_from_the_maps():
    package = Path(__file__).resolve().parents[2] / "api"
    assert package / "static" == STATIC_DIR
    assert STATIC_PATH == "/docs/static"


def test_the_scripts_fetch_nothing_from_a_cdn_by_themselves():
    """ReDoc's sidebar logo came from cdn.redoc.ly whatever the options (see VENDOR.md)."""
    for name in ("swagger_js", "redoc_js"):
        script = (STATIC_DIR / ASSETS[name]).read_text(encoding="utf-8")
        for cdn in ("cdn.redoc.ly", "cdn.jsdelivr.net", "unpkg.com", "fonts.googleapis.com"):
            assert cdn not in script, (name, cdn)
