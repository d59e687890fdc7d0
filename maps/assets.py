"""The web assets of the map pages: vendored, served by the API, never fetched from a CDN.

folium's elements name the scripts and stylesheets they need in ``default_js``/``default_css``
as ``(name, url)`` pairs pointing at CDNs. `localise` rewrites every one of them, on the element
instances of a page, to the copy vendored under ``maps/static/vendor/<package>@<version>/`` (or
drops it when the page does not need it), and `render_page` refuses to return a page that still
loads anything from outside the service.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from branca.element import Element
from folium.elements import JSCSSMixin

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Where the API mounts `STATIC_DIR`.
STATIC_PATH = "/maps/static"


@dataclass(frozen=True)
class Package:
    """A package from the npm registry, copied into ``static/vendor/<name>@<version>/``."""

    name: str
    version: str
    licence: str

    @property
    def folder(self) -> str:
        """The vendor folder, relative to the static directory."""
        return f"vendor/{self.name}@{self.version}"


LEAFLET = Package("leaflet", "1.9.4", "BSD-2-Clause")
VECTORGRID = Package("leaflet.vectorgrid", "1.3.0", "Beerware (bundles BSD-3-Clause, ISC, MIT)")
SYNC = Package("leaflet.sync", "0.2.4", "BSD-3-Clause")
TIMELINE = Package("leaflet.timeline", "1.6.0", "ISC")
#: The editing page's drawing tools (with snapping) and its polygon cutting (a split's part).
GEOMAN = Package("leaflet-geoman-free", "2.20.2", "MIT (bundles turf, lodash, polyclip-ts: MIT)")
CLIPPING = Package("polygon-clipping", "0.15.7", "MIT (bundles splaytree: MIT)")
PACKAGES = (LEAFLET, VECTORGRID, SYNC, TIMELINE, GEOMAN, CLIPPING)

#: folium's resource names mapped to the vendored file, or to None where the pages don't use
#: the library (jQuery, Bootstrap, Font Awesome, awesome-markers and moment are not needed: the
#: pages use plain Leaflet markup, and the time slider formats dates without moment).
RESOURCES: dict[str, str | None] = {
    # folium.Map
    "leaflet": f"{LEAFLET.folder}/leaflet.js",
    "leaflet_css": f"{LEAFLET.folder}/leaflet.css",
    "jquery": None,
    "bootstrap": None,
    "bootstrap_css": None,
    "glyphicons_css": None,
    "awesome_markers": None,
    "awesome_markers_css": None,
    "awesome_markers_font_css": None,
    "awesome_rotate_css": None,
    # folium.plugins.VectorGridProtobuf
    "vectorGrid": f"{VECTORGRID.folder}/Leaflet.VectorGrid.bundled.min.js",
    # folium.plugins.DualMap
    "Leaflet.Sync": f"{SYNC.folder}/L.Map.Sync.js",
    # folium.plugins.Timeline and TimelineSlider
    "timeline": f"{TIMELINE.folder}/leaflet.timeline.js",
    "moment": None,
    # The pages' own script and stylesheet
    "jl_maps": "jl/maps.js",
    "jl_maps_css": "jl/maps.css",
    # The choropleth of an aggregate job (maps/choropleth.py)
    "jl_choropleth": "jl/choropleth.js",
    # The editing page (maps/edit.py): not folium, but named here like the rest
    "geoman": f"{GEOMAN.folder}/leaflet-geoman.min.js",
    "geoman_css": f"{GEOMAN.folder}/leaflet-geoman.css",
    "polygon_clipping": f"{CLIPPING.folder}/polygon-clipping.umd.min.js",
    "jl_edit": "jl/edit.js",
    "jl_edit_css": "jl/edit.css",
}

_EXTERNAL = re.compile(
    r"""(?:(?:src|href|action)\s*=\s*["']?\s*|url\(\s*["']?|@import\s+["'])(?:https?:)?//""",
    re.IGNORECASE,
)
_LOCAL = re.compile(r"""(?:src|href)\s*=\s*["'](/[^"'?#]*)""", re.IGNORECASE)


class UnvendoredAsset(LookupError):
    """A folium element wants a script or stylesheet that is not vendored."""


@cache
def _version_tag(relative: str) -> str:
    """A short hash of a file, so browsers refetch our own assets when they change."""
    return hashlib.sha256((STATIC_DIR / relative).read_bytes()).hexdigest()[:10]


def asset_url(name: str, prefix: str = "") -> str | None:
    """The local URL of a resource folium knows by `name` (None: not needed).

    Vendored packages have their version in the path; the pages' own files get a content hash.
    """
    if name not in RESOURCES:
        msg = (
            f"folium wants the resource {name!r}, which is not vendored: add it to "
            "maps/static/vendor and to maps.assets.RESOURCES"
        )
        raise UnvendoredAsset(msg)
    relative = RESOURCES[name]
    if relative is None:
        return None
    url = f"{prefix}{STATIC_PATH}/{relative}"
    if not relative.startswith("vendor/"):
        url += f"?v={_version_tag(relative)}"
    return url


def _walk(element: Element) -> Iterator[Element]:
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


def _rewrite(links: list[tuple[str, str]], prefix: str) -> list[tuple[str, str]]:
    out = []
    for name, _url in links:
        local = asset_url(name, prefix)
        if local is not None:
            out.append((name, local))
    return out


def localise(root: Element, prefix: str = "") -> None:
    """Point every script and stylesheet of the page under `root` at the vendored copy.

    Set on each element instance (folium's class attributes are left alone), before rendering:
    folium adds the links to the page header when it renders an element.
    """
    for element in _walk(root):
        if isinstance(element, JSCSSMixin):
            element.default_js = _rewrite(element.default_js, prefix)
            element.default_css = _rewrite(element.default_css, prefix)


def external_references(html: str) -> list[str]:
    """Scripts, stylesheets or images the page would load from another host."""
    return [
        html[m.start() : html.find(">", m.start()) + 1 or len(html)]
        for m in _EXTERNAL.finditer(html)
    ]


def local_references(html: str, prefix: str = "") -> list[str]:
    """Paths of the static files a page loads (under `STATIC_PATH`)."""
    base = f"{prefix}{STATIC_PATH}/"
    return [m.group(1) for m in _LOCAL.finditer(html) if m.group(1).startswith(base)]


def missing_assets(html: str, prefix: str = "") -> list[str]:
    """Static files the page references that do not exist."""
    base = f"{prefix}{STATIC_PATH}/"
    return [
        path
        for path in local_references(html, prefix)
        if not (STATIC_DIR / path[len(base) :]).is_file()
    ]


def render_page(root: Element, prefix: str = "") -> str:
    """Localise the assets of a page, render it, and check nothing is loaded from outside."""
    localise(root, prefix)
    html: str = root.get_root().render()
    outside = external_references(html)
    if outside:
        msg = f"the page would load from outside the service: {outside[:3]}"
        raise UnvendoredAsset(msg)
    return html


def js_json(value: Any) -> str:
    """JSON safe to put inside a ``<script>`` element."""
    return (
        json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
