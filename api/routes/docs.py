"""The API's documentation pages, `/docs` (Swagger UI) and `/redoc` (ReDoc), served whole by
the service: their scripts, styles and icon are vendored under ``api/static/vendor/`` (npm
packages, versions and licences in its VENDOR.md and in NOTICE), so the pages work on networks
that cannot reach a CDN (intranets; jsDelivr is blocked in many networks in China).

FastAPI's own pages are switched off (`docs_url=None`, `redoc_url=None` in api/app.py) and
built here by the same functions, with local URLs and nothing else fetched: no Google Fonts
for ReDoc, no online validator badge for Swagger UI.
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
#: Where the API mounts `STATIC_DIR`.
STATIC_PATH = "/docs/static"
SWAGGER_UI = "vendor/swagger-ui-dist@5.36.0"
REDOC = "vendor/redoc@2.5.4"
#: Every vendored file a page loads, relative to `STATIC_DIR`.
ASSETS = {
    "swagger_js": f"{SWAGGER_UI}/swagger-ui-bundle.js",
    "swagger_css": f"{SWAGGER_UI}/swagger-ui.css",
    "favicon": f"{SWAGGER_UI}/favicon-32x32.png",
    "redoc_js": f"{REDOC}/redoc.standalone.js",
}

router = APIRouter(include_in_schema=False)
router.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="docs-static")


def _urls(request: Request) -> dict[str, str]:
    """The page's URLs, under the prefix the service is mounted at (behind a proxy)."""
    prefix = str(request.scope.get("root_path", "")).rstrip("/")
    urls = {name: f"{prefix}{STATIC_PATH}/{path}" for name, path in ASSETS.items()}
    return urls | {"openapi": f"{prefix}{request.app.openapi_url}"}


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI: every operation, tried out from the browser."""
    urls = _urls(request)
    return get_swagger_ui_html(
        openapi_url=urls["openapi"],
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=urls["swagger_js"],
        swagger_css_url=urls["swagger_css"],
        swagger_favicon_url=urls["favicon"],
        # null: no badge image fetched from validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """ReDoc: the same description as one readable page."""
    urls = _urls(request)
    return get_redoc_html(
        openapi_url=urls["openapi"],
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=urls["redoc_js"],
        redoc_favicon_url=urls["favicon"],
        with_google_fonts=False,
    )


#: The landing page's links: where a newcomer goes next (relative, so a proxy prefix holds).
LANDING_LINKS = (
    ("maps", "Maps", "the layers on a date, with popups, search and a date picker"),
    ("maps/compare", "Compare two dates", "changed units side by side, with the changes"),
    ("maps/edit", "Edit the map", "GIS staff: draw changes, checked as you go (editor token)"),
    ("docs", "API documentation (Swagger UI)", "every operation, tried out from the browser"),
    ("redoc", "API documentation (ReDoc)", "the same description as one readable page"),
    ("ogc", "OGC API - Features", "for QGIS, GDAL/ogr2ogr and other GIS clients"),
    ("readyz", "Status", "whether the register is ready: projection, lookup index, database"),
    ("openapi.json", "OpenAPI description", "the machine-readable contract"),
)


@router.get("/", response_class=HTMLResponse)
def landing(request: Request) -> HTMLResponse:
    """Where the service's pages are: one self-contained page, nothing fetched from elsewhere."""
    prefix = str(request.scope.get("root_path", "")).rstrip("/")
    items = "".join(
        f'<li><a href="{html.escape(prefix)}/{path}">{html.escape(title)}</a> '
        f"&mdash; {html.escape(note)}</li>"
        for path, title, note in LANDING_LINKS
    )
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(request.app.title)}</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44em;margin:2em auto;"
        "padding:0 1em;color:#222}a{color:#0b5cad}li{margin:.4em 0}</style></head><body>"
        f"<h1>{html.escape(request.app.title)}</h1>"
        f"<p>{html.escape(request.app.summary or '')}</p>"
        f"<ul>{items}</ul>"
        "<p>Try a lookup: "
        f'<a href="{html.escape(prefix)}/v1/lookup?lon=114.029&amp;lat=22.679">'
        "/v1/lookup?lon=114.029&amp;lat=22.679</a></p></body></html>"
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})
