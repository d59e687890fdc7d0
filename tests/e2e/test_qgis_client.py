"""The README's QGIS recipes, run by a real QGIS against the real server over the Shenzhen demo.

What a GIS officer is told to do (README, "QGIS"), done by PyQGIS (Debian's python3-qgis, QGIS
3.22, headless) in tests/e2e/qgis_client.py, a subprocess of /usr/bin/python3: today's layer
through QGIS's own OGC API - Features provider; a date through the same provider and through
GDAL, the Python Console lines taken from the README as written; the GeoPackages `ogr2ogr` and
`jurisdictions export` write; the vector tiles of a connection with the README's URL, drawn over
Shenzhen into artifacts/qgis/. Every layer must hold exactly the features (codes and names) the
server's own items endpoint lists for that date, and the dates must differ where the demo does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import Image
from tests.conftest import ROOT, LiveServer

pytestmark = [pytest.mark.db, pytest.mark.slow]

PYQGIS = Path("/usr/lib/python3/dist-packages/qgis/core/__init__.py")
SCRIPT = Path(__file__).with_name("qgis_client.py")
SHOTS = ROOT / "artifacts" / "qgis"
README_HOST = "http://127.0.0.1:8000"
DAY = "2016-06-01"  # before 2017-01-07: 6 districts (9 today), 15,000 grids (15,048 today)
SIZE = (600, 320)


def readme() -> str:
    return (ROOT / "README.md").read_text()


def console_lines(text: str) -> list[tuple[str, str, str]]:
    """The README's Python Console lines: (uri, name, provider) of each iface.addVectorLayer."""
    call = r'iface\.addVectorLayer\(\s*"([^"]+)",\s*"([^"]+)",\s*"(\w+)",?\s*\)'
    return re.findall(call, text)


def items(client: httpx.Client, level: str, **params: str) -> dict[str, str]:
    """Code -> name of every feature the server lists, following `next` links."""
    features: dict[str, str] = {}
    response = client.get(f"/ogc/collections/{level}/items", params={**params, "limit": "10000"})
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        features |= {f["properties"]["code"]: f["properties"]["name"] for f in body["features"]}
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        if not nxt:
            assert len(features) == body["numberMatched"]
            return features
        response = client.get(nxt[0])


def run_qgis(plan: dict[str, Any], home: Path) -> dict[str, Any]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("PYTHON")
    } | {
        "QT_QPA_PLATFORM": "offscreen",
        "HOME": str(home),  # QGIS's settings and caches stay in the test's directory
        "XDG_RUNTIME_DIR": str(home),
    }
    home.mkdir(exist_ok=True)
    done = subprocess.run(
        ["/usr/bin/python3", str(SCRIPT)],
        input=json.dumps(plan),
        capture_output=True,
        text=True,
        env=environment,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def strokes(image: Image) -> set[tuple[int, int]]:
    """Pixels of outlines: neither the white background nor the most common (fill) colour."""
    colours = Counter(image.pixel(x, y) for y in range(image.height) for x in range(image.width))
    fill = next(colour for colour, _ in colours.most_common() if colour != (255, 255, 255))
    return {
        (x, y)
        for y in range(image.height)
        for x in range(image.width)
        if image.pixel(x, y) not in ((255, 255, 255), fill)
    }


@pytest.mark.skipif(not PYQGIS.exists(), reason="run scripts/ensure_test_tools.sh (python3-qgis)")
@pytest.mark.skipif(shutil.which("ogr2ogr") is None, reason="run scripts/ensure_test_tools.sh")
def test_the_readme_qgis_recipes_work_in_real_qgis(
    demo_server: LiveServer, demo_database: str, tmp_path: Path
):
    started = time.monotonic()
    text = readme()
    host = demo_server.url

    # -- what the README says, as written -----------------------------------------------------
    assert f"`{README_HOST}/ogc`" in text  # the connection's URL (today's layers)
    # A connection for a date: its URL is the one in the README's OAPIF console line.
    assert f"`{README_HOST}/ogc?datetime={DAY}`" in text
    assert f"url='{README_HOST}/ogc?datetime={DAY}'" in text
    console = console_lines(text)
    assert {provider for _, _, provider in console} == {"OAPIF", "ogr"}, console
    assert all(f"datetime={DAY}" in uri and "grid" in uri for uri, _, _ in console), console
    tile_urls = re.findall(r"`(http://127\.0\.0\.1:8000/tiles/[^`]*\{z\}/\{x\}/\{y\}\.mvt)`", text)
    assert tile_urls, "the README gives the vector tile URL for QGIS"
    tiles_today = tile_urls[0].replace(README_HOST, host)
    assert "*Min. Zoom Level* 0, *Max. Zoom Level* 14" in text
    export = f"jurisdictions export --level grid --date {DAY} grid.gpkg"
    assert f"`{export}`" in text
    ogr2ogr = f"ogr2ogr -f GPKG grid-{DAY}.gpkg 'OAPIF:{README_HOST}/ogc?datetime={DAY}' grid"
    assert ogr2ogr in text

    # -- what the server itself lists ---------------------------------------------------------
    with httpx.Client(base_url=host, timeout=60) as client:
        expected = {
            "district": items(client, "district"),
            "street": items(client, "street"),
            f"district {DAY}": items(client, "district", datetime=DAY),
            f"grid {DAY}": items(client, "grid", datetime=DAY),
        }
        west, south, east, north = client.get("/ogc/collections/district").json()["extent"][
            "spatial"
        ]["bbox"][0]
    assert len(expected[f"district {DAY}"]) == 6 and len(expected["district"]) == 9
    assert set(expected[f"district {DAY}"]) < set(expected["district"])
    assert len(expected[f"grid {DAY}"]) == 15_000

    # -- the GeoPackages: `jurisdictions export` (grids) and the README's ogr2ogr (districts) --
    exported = tmp_path / "grid.gpkg"
    wrote = subprocess.run(
        [sys.executable, "-m", "jurisdictions.cli", *export.split()[1:-1], str(exported)],
        env={**os.environ, "DATABASE_URL": demo_database},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert wrote.returncode == 0, wrote.stderr
    copied = tmp_path / f"district-{DAY}.gpkg"
    command = ogr2ogr.replace(README_HOST, host).replace(" grid", " district").split()
    command[3] = str(copied)
    copy = subprocess.run(
        [part.strip("'") for part in command], capture_output=True, text=True, timeout=120
    )
    assert copy.returncode == 0, copy.stderr

    # -- QGIS -----------------------------------------------------------------------------------
    layers = [
        # Add WFS Layer: a connection with the README's URL, then a level: today's layer.
        {"name": "district", "uri": f"url='{host}/ogc' typename='district'", "provider": "OAPIF"},
        {"name": "street", "uri": f"url='{host}/ogc' typename='street'", "provider": "OAPIF"},
        # The Python Console lines, as written (a date natively, and through GDAL), and the
        # same lines for the districts.
        *(
            {"name": f"{level} {DAY} ({provider})", "uri": uri.replace("grid", level)}
            | {"provider": provider}
            for uri, _, provider in ((u.replace(README_HOST, host), n, p) for u, n, p in console)
            for level in ("grid", "district")
        ),
        # The GeoPackages, opened as files (Layer ▸ Add Layer ▸ Add Vector Layer).
        {"name": f"grid {DAY} (export)", "uri": str(exported), "provider": "ogr"},
        {"name": f"district {DAY} (ogr2ogr)", "uri": str(copied), "provider": "ogr"},
    ]
    SHOTS.mkdir(parents=True, exist_ok=True)
    tiles = [
        {"name": "district", "url": tiles_today, "png": str(SHOTS / "tiles-district-today.png")},
        {
            "name": f"district {DAY}",
            "url": f"{tiles_today}?date={DAY}",
            "png": str(SHOTS / f"tiles-district-{DAY}.png"),
        },
    ]
    plan = {
        "layers": layers,
        "tiles": [tile | {"zmin": 0, "zmax": 14} for tile in tiles],
        "extent": [west, south, east, north],
        "size": list(SIZE),
    }
    log_start = demo_server.log.stat().st_size
    qgis_started = time.monotonic()
    report = run_qgis(plan, tmp_path / "home")
    qgis_seconds = time.monotonic() - qgis_started
    with demo_server.log.open() as log:
        log.seek(log_start)
        requests = [line for line in log if '"GET ' in line]
    assert report["qgis"].startswith("3."), report["qgis"]

    for name, layer in report["layers"].items():
        assert layer["valid"], (name, layer.get("error"))
        level_and_day = name.split(" (")[0]
        want = expected[level_and_day]
        # Every feature once, with its code and (Chinese) name as the server has it.
        assert layer["features"] == want, (name, len(layer["features"]), len(want))
        assert layer["crs"] == "EPSG:4326", (name, layer["crs"])
        assert {"code", "name", "level", "valid_from"} <= set(layer["fields"]), name
        if layer["feature_count"] != -1:  # GDAL's OAPIF does not count before reading
            assert layer["feature_count"] == len(want), name
    assert len(report["layers"]) == len(layers)
    # The dates differ where the demo changed: Longhua, Pingshan and Guangming districts.
    assert set(report["layers"]["district"]["features"]) - set(
        report["layers"][f"district {DAY} (OAPIF)"]["features"]
    ) == {"440309", "440310", "440311"}

    # QGIS pages as the server describes (components.parameters.limit: 1,000 a page), not by
    # its fallback of 100; GDAL as told (PAGE_SIZE): two whole-grid reads in about 35 requests,
    # not 150 + 1,500.
    grid_pages = [line for line in requests if "/ogc/collections/grid/items" in line]
    assert 0 < len(grid_pages) <= 2 * (15_000 // 1_000 + 3), len(grid_pages)
    assert not any(re.search(r"[?&]limit=100(?!\d)", line) for line in grid_pages)

    # The vector tiles: valid, drawn, and the date's map lacks today's new district outlines.
    for name, tile in report["tiles"].items():
        assert tile["valid"] and tile["saved"] and not tile["errors"], (name, tile)
        assert tile["crs"] == "EPSG:3857" and tile["zoom"] == [0, 14], tile
    tile_requests = [line for line in requests if "/tiles/district/" in line]
    assert any(f"date={DAY}" in line for line in tile_requests)  # the URL's query survives
    assert any("date=" not in line for line in tile_requests)
    today = Image((SHOTS / "tiles-district-today.png").read_bytes())
    before = Image((SHOTS / f"tiles-district-{DAY}.png").read_bytes())
    for image in (today, before):
        assert (image.width, image.height) == SIZE
        drawn, looked = image.count((0, 0, *SIZE), lambda p: p != (255, 255, 255), step=1)
        assert drawn > looked // 5, (drawn, looked)  # Shenzhen fills much of its extent
    new_outlines = strokes(today) - strokes(before)
    gone_outlines = strokes(before) - strokes(today)
    assert len(new_outlines) > 300, len(new_outlines)
    assert len(gone_outlines) < len(new_outlines) // 5, (len(gone_outlines), len(new_outlines))

    print(
        f"\nQGIS {report['qgis']}: {len(layers)} layers and {len(tiles)} tile maps in "
        f"{qgis_seconds:.1f} s ({len(requests)} requests); whole test "
        f"{time.monotonic() - started:.1f} s; per layer: "
        + ", ".join(f"{n} {layer['seconds']} s" for n, layer in report["layers"].items())
    )
