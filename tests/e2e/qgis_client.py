"""The README's QGIS recipes, done by real QGIS (PyQGIS), headless.

Run by tests/e2e/test_qgis_client.py as a file under Debian's /usr/bin/python3 (python3-qgis,
qgis-providers), with QT_QPA_PLATFORM=offscreen; not imported by the project (the venv has no
PyQGIS). Reads what to open as JSON on stdin:

    {"layers": [{"name": ..., "uri": ..., "provider": "OAPIF" | "ogr"}, ...],
     "tiles": [{"name": ..., "url": "http://HOST/tiles/LEVEL/{z}/{x}/{y}.mvt?date=...",
                "zmin": 0, "zmax": 14, "png": PATH}, ...],
     "extent": [west, south, east, north], "size": [width, height]}

Each vector layer is added as *Python Console* `iface.addVectorLayer(uri, name, provider)` adds
it (a QgsVectorLayer added to the project) and read whole; each vector tile layer as *Add Vector
Tile Layer* with a generic (XYZ) connection adds it, then the map over `extent` (WGS84) is
rendered to `png`. Writes one JSON object on stdout: QGIS's version and, per layer, whether it
is valid, its provider, CRS, feature count, every feature's code and name, and the seconds
taken; per tile layer, whether it is valid and the rendering's errors.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from qgis.core import (  # type: ignore[import-not-found]
    Qgis,
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsDataSourceUri,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
    QgsVectorTileBasicRenderer,
    QgsVectorTileLayer,
)
from qgis.PyQt.QtCore import QSize  # type: ignore[import-not-found]
from qgis.PyQt.QtGui import QColor  # type: ignore[import-not-found]


def vector_layer(spec: dict[str, Any]) -> dict[str, Any]:
    """Open a layer as iface.addVectorLayer does, and read every feature."""
    started = time.monotonic()
    layer = QgsVectorLayer(spec["uri"], spec["name"], spec["provider"])
    answer: dict[str, Any] = {"valid": layer.isValid()}
    if not layer.isValid():
        answer["error"] = layer.error().summary()
        return answer
    QgsProject.instance().addMapLayer(layer)
    features = {str(f["code"]): str(f["name"]) for f in layer.getFeatures()}
    answer |= {
        "provider": layer.providerType(),
        "crs": layer.crs().authid(),
        "fields": [field.name() for field in layer.fields()],
        "feature_count": layer.featureCount(),
        "features": features,
        "seconds": round(time.monotonic() - started, 2),
    }
    return answer


def tile_layer(spec: dict[str, Any], extent: QgsRectangle, size: QSize) -> dict[str, Any]:
    """A generic vector tile connection (XYZ, {z}/{x}/{y}), drawn over `extent` into a PNG."""
    started = time.monotonic()
    uri = QgsDataSourceUri()
    uri.setParam("type", "xyz")
    uri.setParam("url", spec["url"])
    uri.setParam("zmin", str(spec["zmin"]))
    uri.setParam("zmax", str(spec["zmax"]))
    layer = QgsVectorTileLayer(bytes(uri.encodedUri()).decode(), spec["name"])
    answer: dict[str, Any] = {"valid": layer.isValid()}
    if not layer.isValid():
        answer["error"] = layer.error().summary()
        return answer
    # QGIS styles a new tile layer in a random colour; one fixed style makes the two maps
    # comparable pixel by pixel (the outlines' anti-aliasing depends on the colours).
    renderer = QgsVectorTileBasicRenderer()
    fill, stroke = QColor("#f2d7d5"), QColor("#7b241c")
    renderer.setStyles(
        QgsVectorTileBasicRenderer.simpleStyle(fill, stroke, 0.4, stroke, 0.4, fill, stroke, 2.0)
    )
    layer.setRenderer(renderer)
    QgsProject.instance().addMapLayer(layer)
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setOutputSize(size)
    settings.setBackgroundColor(QColor("white"))
    wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
    to_map = QgsCoordinateTransform(wgs84, layer.crs(), QgsProject.instance())
    settings.setExtent(to_map.transformBoundingBox(extent))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    saved = job.renderedImage().save(spec["png"], "PNG")
    answer |= {
        "crs": layer.crs().authid(),
        "zoom": [layer.sourceMinZoom(), layer.sourceMaxZoom()],
        "saved": saved,
        "errors": [f"{error.layerID}: {error.message}" for error in job.errors()],
        "seconds": round(time.monotonic() - started, 2),
    }
    return answer


def main() -> None:
    plan = json.load(sys.stdin)
    app = QgsApplication([], False)
    app.initQgis()
    try:
        west, south, east, north = plan["extent"]
        extent = QgsRectangle(west, south, east, north)
        size = QSize(*plan["size"])
        report = {
            "qgis": Qgis.version(),
            "layers": {spec["name"]: vector_layer(spec) for spec in plan["layers"]},
            "tiles": {spec["name"]: tile_layer(spec, extent, size) for spec in plan["tiles"]},
        }
        QgsProject.instance().removeAllMapLayers()
    finally:
        app.exitQgis()
    json.dump(report, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
