"""The map pages load nothing from outside: folium's CDN links are rewritten to vendored files.

Pages are rendered from a fake `MapSource` (no database): every page, every referenced asset.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import folium
import pytest
from folium.plugins import DualMap, Fullscreen, Timeline, TimelineSlider, VectorGridProtobuf

from maps.assets import (
    PACKAGES,
    RESOURCES,
    STATIC_DIR,
    UnvendoredAsset,
    asset_url,
    external_references,
    local_references,
    localise,
    missing_assets,
    render_page,
)
from maps.common import PageOptions
from maps.compare import compare_page
from maps.data import Bounds
from maps.edit import edit_page
from maps.layers import layers_page
from maps.unit import UnitUnknown, unit_page

LEVELS = ("city", "district", "street", "community", "grid")
TODAY = dt.date(2024, 5, 1)


def square(x: float, y: float, size: float) -> dict[str, Any]:
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "MultiPolygon", "coordinates": [[ring]]}


class FakeSource:
    """Two districts, a street split in 2016, no database."""

    def count(self, day: dt.date, level: str) -> int:
        return {"city": 1, "district": 2, "street": 3, "community": 700, "grid": 15000}[level]

    def labels(self, day: dt.date, level: str) -> list[dict[str, Any]]:
        names = {
            "city": [("440300", "深圳市")],
            "district": [("440306", "宝安区"), ("440309", "龙华区")],
            "street": [("440306002", "西乡街道"), ("440306003", "航城街道"), ("440309001", "观湖")],
        }.get(level, [])
        return [
            {"code": c, "name": n, "level": level, "parent": None, "lon": 113.9, "lat": 22.6}
            for c, n in names
        ]

    def bounds(self, day: dt.date, level: str) -> Bounds | None:
        return (113.75, 22.4, 114.62, 22.86)

    def changes(self, before: dt.date, after: dt.date) -> dict[str, list[dict[str, Any]]]:
        return {
            "established": [
                {"code": "440306003", "level": "street", "name": "航城街道", "parent": "440306"}
            ],
            "ended": [{"code": "440306099", "level": "grid", "name": "<b>x</b>", "parent": None}],
            "redrawn": [
                {
                    "code": "440306002",
                    "level": "street",
                    "name": "西乡街道",
                    "area_gained_m2": 0.0,
                    "area_lost_m2": 1.5e7,
                    "area_moved_m2": 1.5e7,
                }
            ],
            "renamed": [],
            "transferred": [
                {
                    "code": "440306002001",
                    "level": "community",
                    "parent_before": "440306002",
                    "parent_after": "440306003",
                }
            ],
        }

    def change_dates(self) -> list[dict[str, Any]]:
        return [
            {"date": dt.date(2016, 12, 26), "change_sets": 3, "reason": "street reform"},
            {"date": dt.date(2015, 1, 1), "change_sets": 40, "reason": "Register opened"},
        ]

    def exists(self, code: str) -> bool:
        return code.startswith("4403")

    def versions(self, code: str, levels: tuple[str, ...]) -> list[dict[str, Any]]:
        if code == "440306002":
            spans = [("2015-01-01", "2016-12-26", 0.2), ("2016-12-26", None, 0.1)]
        elif code == "440306003":
            spans = [("2016-12-26", None, 0.1)]
        else:
            return []
        return [
            {
                "type": "Feature",
                "id": f"{code}@{start}",
                "geometry": square(113.8, 22.5, size),
                "properties": {
                    "code": code,
                    "name": "西乡街道" if code.endswith("2") else "航城街道",
                    "name_en": "",
                    "level": "street",
                    "parent": "440306",
                    "valid_from": start,
                    "valid_to": end,
                    "provenance": "",
                },
            }
            for start, end, size in spans
        ]

    def lineage(self, code: str) -> dict[str, list[dict[str, Any]]]:
        edge = {
            "predecessor": "440306002",
            "successor": "440306003",
            "kind": "split_off",
            "effective": dt.date(2016, 12, 26),
            "change_set": "x",
            "depth": 1,
        }
        if code == "440306002":
            return {"predecessors": [], "successors": [edge]}
        return {"predecessors": [edge], "successors": []}

    def history(self, code: str) -> list[dict[str, Any]]:
        return [
            {
                "effective": dt.date(2016, 12, 26),
                "operation": "split_off",
                "reason": "street reform <script>",
                "document": "深府〔2016〕",
            }
        ]


@pytest.fixture(params=["", "/prefix"])
def options(request: pytest.FixtureRequest) -> PageOptions:
    return PageOptions(levels=LEVELS, prefix=request.param, today=TODAY)


def pages(options: PageOptions) -> dict[str, str]:
    source = FakeSource()
    return {
        "layers": layers_page(source, options, TODAY, None),
        "layers-district": layers_page(source, options, dt.date(2016, 1, 1), "district"),
        "compare": compare_page(source, options, dt.date(2016, 1, 1), dt.date(2017, 1, 1)),
        "unit": unit_page(source, options, "440306002", None),
        "unit-dated": unit_page(source, options, "440306003", dt.date(2010, 1, 1)),
    }


def test_no_page_refers_to_anything_outside_the_service(options: PageOptions):
    for name, html in pages(options).items():
        assert external_references(html) == [], name
        assert "http://" not in html, name
        assert "https://" not in html, name
        assert "cdn" not in html.lower(), name


def test_every_asset_a_page_refers_to_exists(options: PageOptions):
    for name, html in pages(options).items():
        referenced = local_references(html, options.prefix)
        assert referenced, name
        assert missing_assets(html, options.prefix) == [], name
        scripts = " ".join(referenced)
        assert "leaflet@1.9.4/leaflet.js" in scripts, name
        assert "leaflet@1.9.4/leaflet.css" in scripts, name
        assert "jl/maps.js" in scripts, name
        # Only the libraries the pages use: no jQuery, Bootstrap, Font Awesome, moment.
        for unwanted in ("jquery", "bootstrap", "awesome", "moment"):
            assert unwanted not in scripts.lower(), (name, unwanted)


def test_each_page_loads_the_plugins_it_uses(options: PageOptions):
    built = pages(options)
    assert "leaflet.vectorgrid@1.3.0/Leaflet.VectorGrid.bundled.min.js" in built["layers"]
    assert "leaflet.sync@0.2.4/L.Map.Sync.js" in built["compare"]
    assert "leaflet.timeline@1.6.0/leaflet.timeline.js" in built["unit"]
    assert f"{options.prefix}/tiles/grid/{{z}}/{{x}}/{{y}}.mvt?date=" in built["layers"]


def test_every_folium_resource_of_the_elements_used_is_vendored_or_dropped():
    used = [folium.Map, VectorGridProtobuf, DualMap, Timeline, TimelineSlider]
    for element in used:
        links = [*getattr(element, "default_js", []), *getattr(element, "default_css", [])]
        for name, url in links:
            assert name in RESOURCES, (element.__name__, name, url)


def test_vendored_files_exist_with_their_licences():
    for relative in RESOURCES.values():
        if relative is not None:
            assert (STATIC_DIR / relative).is_file(), relative
    vendor = (STATIC_DIR / "vendor" / "VENDOR.md").read_text()
    for package in PACKAGES:
        folder = STATIC_DIR / package.folder
        assert (folder / "LICENSE").is_file(), package
        assert f"`{package.name}` | {package.version}" in vendor, package


def test_vendored_stylesheets_refer_only_to_files_beside_them():
    for css in (STATIC_DIR / "vendor").rglob("*.css"):
        for target in re.findall(r"url\(\s*['\"]?([^'\")]+)", css.read_text()):
            # inline data, IE behaviours, fragments inside an inline SVG (%23: an encoded #)
            if target.startswith(("data:", "#", "%23")):
                continue
            assert not re.match(r"(https?:)?//", target), (css, target)
            assert (css.parent / target.split("#")[0].split("?")[0]).is_file(), (css, target)


def test_localise_rewrites_instances_not_folium_classes():
    fmap = folium.Map(tiles=None)
    layer = VectorGridProtobuf("/tiles/grid/{z}/{x}/{y}.mvt", "grid", {})
    layer.add_to(fmap)
    localise(fmap.get_root(), "/p")
    assert layer.default_js == [("vectorGrid", asset_url("vectorGrid", "/p"))]
    assert fmap.default_js == [("leaflet", "/p/maps/static/vendor/leaflet@1.9.4/leaflet.js")]
    assert all(url.startswith("https://") for _, url in folium.Map.default_js)
    assert all(url.startswith("https://") for _, url in VectorGridProtobuf.default_js)


def test_an_unvendored_plugin_fails_loudly_instead_of_loading_from_a_cdn():
    fmap = folium.Map(tiles=None)
    Fullscreen().add_to(fmap)  # type: ignore[no-untyped-call]
    with pytest.raises(UnvendoredAsset, match="not vendored"):
        render_page(fmap.get_root())


def test_our_own_assets_carry_a_content_hash():
    url = asset_url("jl_maps", "")
    assert url is not None
    assert re.fullmatch(r"/maps/static/jl/maps\.js\?v=[0-9a-f]{10}", url)
    assert asset_url("jquery") is None


def test_a_configured_base_layer_is_the_only_outside_url():
    tiles = "https://tiles.example.org/{z}/{x}/{y}.png"
    options = PageOptions(levels=LEVELS, tile_url=tiles, today=TODAY)
    html = layers_page(FakeSource(), options, TODAY, None)
    assert external_references(html) == []
    assert tiles in html
    assert re.findall(r"https?://[^\s\"'<>]+", html) == [tiles]


def test_text_from_the_register_is_escaped():
    options = PageOptions(levels=LEVELS, today=TODAY)
    html = compare_page(FakeSource(), options, dt.date(2016, 1, 1), dt.date(2017, 1, 1))
    assert "<b>x</b>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "航城街道" in html
    unit = unit_page(FakeSource(), options, "440306002", None)
    assert "street reform <script>" not in unit
    assert "street reform &lt;script&gt;" in unit


def test_an_unknown_unit_is_reported():
    options = PageOptions(levels=LEVELS, today=TODAY)
    with pytest.raises(UnitUnknown):
        unit_page(FakeSource(), options, "nope", None)


def test_pages_stay_small(options: PageOptions):
    for name, html in pages(options).items():
        assert len(html.encode()) < 60_000, name


def test_static_dir_is_inside_the_package():
    assert Path(STATIC_DIR).is_relative_to(Path(__file__).resolve().parents[2] / "maps")


def test_the_editing_page_loads_only_vendored_files_and_escapes_the_unit(options: PageOptions):
    html = edit_page(options, dt.date(2020, 1, 1), "</script><b>x")
    assert external_references(html) == []
    assert "http://" not in html and "https://" not in html
    assert missing_assets(html, options.prefix) == []
    scripts = " ".join(local_references(html, options.prefix))
    for needed in (
        "leaflet@1.9.4/leaflet.js",
        "leaflet-geoman-free@2.20.2/leaflet-geoman.min.js",
        "leaflet-geoman-free@2.20.2/leaflet-geoman.css",
        "polygon-clipping@0.15.7/polygon-clipping.umd.min.js",
        "jl/edit.js",
        "jl/edit.css",
    ):
        assert needed in scripts, needed
    assert "jl/edit.js?v=" in html  # refetched when it changes
    assert "</script><b>x" not in html
    assert '"day":"2020-01-01"' in html
    assert len(html.encode()) < 20_000
