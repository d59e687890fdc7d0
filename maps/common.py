"""Pieces the map pages share: level styles, the base map, vector tile layers, page glue."""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import folium
from branca.element import Element, Figure, MacroElement
from folium.elements import JSCSSMixin
from folium.plugins import VectorGridProtobuf
from folium.template import Template

from maps.assets import js_json
from maps.data import DEFAULT_BOUNDS, Bounds

#: Colour, fill opacity and line weight top down (city, district, street, community, grid, then
#: any further level).
PALETTE: tuple[tuple[str, float, float], ...] = (
    ("#263238", 0.0, 3.0),
    ("#1565c0", 0.10, 2.4),
    ("#e65100", 0.06, 1.5),
    ("#2e7d32", 0.05, 0.9),
    ("#8e24aa", 0.04, 0.6),
    ("#00838f", 0.04, 0.6),
    ("#6d4c41", 0.04, 0.6),
)
#: Local names of the usual levels, shown beside the configured name.
LOCAL_NAMES = {
    "city": "市",
    "district": "区",
    "street": "街道",
    "community": "社区",
    "grid": "网格",
}
#: A level with more units than this on a date is drawn only from this zoom on.
DENSE_UNITS = 3000
DENSE_MIN_ZOOM = 13
#: Levels with at most this many units get name labels (and join the search index at once).
LABELLED_UNITS = 300


@dataclass(frozen=True)
class LevelStyle:
    """How a level is drawn."""

    name: str
    rank: int
    color: str
    fill_opacity: float
    weight: float
    count: int = 0
    min_zoom: int = 0
    #: Fill each unit with its own pastel colour (the coarsest level split into several units).
    categorical: bool = False

    @property
    def title(self) -> str:
        """The level's name for people, with its local name where known."""
        local = LOCAL_NAMES.get(self.name)
        return f"{self.name} {local}" if local else self.name

    def as_config(self) -> dict[str, Any]:
        """What the browser script needs to draw and describe the level."""
        return {
            "name": self.name,
            "title": self.title,
            "rank": self.rank,
            "color": self.color,
            "fillOpacity": self.fill_opacity,
            "weight": self.weight,
            "count": self.count,
            "minZoom": self.min_zoom,
            "categorical": self.categorical,
        }


def level_styles(
    levels: tuple[str, ...], counts: dict[str, int], *, categorical: bool = False
) -> list[LevelStyle]:
    """A style per configured level, top down; with `categorical`, the coarsest level with
    several (up to 50) units fills each unit with its own colour."""
    styles = []
    split = next((name for name in levels if counts.get(name, 0) > 1), None)
    for rank, name in enumerate(levels):
        colour, fill_opacity, weight = PALETTE[min(rank, len(PALETTE) - 1)]
        count = counts.get(name, 0)
        styles.append(
            LevelStyle(
                name=name,
                rank=rank,
                color=colour,
                fill_opacity=fill_opacity,
                weight=weight,
                count=count,
                min_zoom=DENSE_MIN_ZOOM if count > DENSE_UNITS else 0,
                categorical=categorical and name == split and count <= 50,
            )
        )
    return styles


def swatch(style: LevelStyle, extra: str = "") -> str:
    """A layer-control entry: a colour swatch, the level and how many units it has."""
    note = f" <small>zoom ≥ {style.min_zoom}</small>" if style.min_zoom else ""
    return (
        f'<span class="jl-swatch" style="border-color:{style.color}"></span>'
        f"{html.escape(style.title)} <small>({style.count:,})</small>{note}{extra}"
    )


@dataclass
class PageOptions:
    """How pages are built: configured levels, optional base layer, URL prefix."""

    levels: tuple[str, ...]
    #: The register's today (settings.today(), in its time zone): pages are told it.
    today: dt.date
    tile_url: str = ""
    prefix: str = ""


def new_map(
    options: PageOptions,
    bounds: Bounds | None,
    *,
    top_left: tuple[int, int] = (12, 12),
    bottom_right: tuple[int, int] = (12, 12),
    **kwargs: Any,
) -> folium.Map:
    """A folium map with no base layer unless one is configured, fitted to `bounds` (with room
    for the panels over the map)."""
    west, south, east, north = bounds or DEFAULT_BOUNDS
    fmap = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=10,
        tiles=None,
        control_scale=True,
        zoom_control=False,
        prefer_canvas=True,
        min_zoom=3,
        max_zoom=18,
        **kwargs,
    )
    if options.tile_url:
        folium.TileLayer(
            tiles=options.tile_url,
            attr=f"Base map: {html.escape(_host(options.tile_url))}",
            name="base map",
            overlay=False,
            control=False,
            max_zoom=18,
        ).add_to(fmap)
    fmap.fit_bounds(
        [[south, west], [north, east]],
        padding_top_left=top_left,
        padding_bottom_right=bottom_right,
        max_zoom=16,
    )
    return fmap


def _host(url: str) -> str:
    rest = url.split("//", 1)[-1]
    return rest.split("/", 1)[0] or url


def tile_layer(
    options: PageOptions, style: LevelStyle, day: dt.date, *, side: str = "", show: bool = True
) -> VectorGridProtobuf:
    """Vector tiles of one level on one date from ``/tiles`` (drawn on canvas, not embedded)."""
    level = quote(style.name, safe="")
    url = f"{options.prefix}/tiles/{level}/{{z}}/{{x}}/{{y}}.mvt?date={day.isoformat()}"
    # Coarser levels above finer ones, so a district's outline is not hidden by its streets;
    # all in the tile pane, below the outlines and popups drawn in the overlay pane.
    layer_options = (
        "{"
        '"rendererFactory": L.canvas.tile, "interactive": false, "maxZoom": 18, '
        f'"minZoom": {style.min_zoom}, "pane": "tilePane", "zIndex": {50 - style.rank}, '
        f'"vectorTileLayerStyles": {{{js_json(style.name)}: '
        f"JL.tileStyle({js_json(style.name)}, {js_json(side)})}}"
        "}"
    )
    return VectorGridProtobuf(url, swatch(style), layer_options, overlay=True, show=show)


class PageScript(JSCSSMixin, MacroElement):
    """The pages' own script and stylesheet, their configuration, their HTML and the call that
    wires the folium objects together once they exist."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <link rel="icon" href="data:,">
        <script>window.JL_CONFIG = {{ this.config_json }};</script>
        {% endmacro %}
        {% macro html(this, kwargs) %}{{ this.body }}{% endmacro %}
        {% macro script(this, kwargs) %}
        {{ this.call }}
        {% endmacro %}
        """
    )

    def __init__(self, config: dict[str, Any], body: str, call: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.default_js = [("jl_maps", "jl/maps.js")]
        self.default_css = [("jl_maps_css", "jl/maps.css")]
        self._name = "PageScript"
        self.config_json = js_json(config)
        self.body = body
        self.call = call


def page_config(options: PageOptions, styles: list[LevelStyle], **extra: Any) -> dict[str, Any]:
    """Configuration every page's script reads."""
    return {
        "prefix": options.prefix,
        "today": options.today.isoformat(),
        "levels": {s.name: s.as_config() for s in styles},
        "order": [s.name for s in styles],
        **extra,
    }


def date_form(
    action: str, fields: list[tuple[str, str, dt.date]], hidden: dict[str, str], button: str
) -> str:
    """A GET form with date pickers that reloads the page for the chosen dates."""
    inputs = "".join(
        f'<label class="jl-field">{html.escape(label)} '
        f'<input type="date" name="{html.escape(name)}" value="{value.isoformat()}" '
        f'min="1900-01-01" max="2999-12-31" required></label>'
        for label, name, value in fields
    )
    hidden_inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in hidden.items()
    )
    return (
        f'<form class="jl-date-form" method="get" action="{html.escape(action)}">'
        f'{inputs}{hidden_inputs}<button type="submit">{html.escape(button)}</button></form>'
    )


def jump_select(dates: list[dict[str, Any]], name: str, current: dt.date, limit: int = 60) -> str:
    """A list of the dates on which something changed, to jump to one of them."""
    if not dates:
        return ""
    items = []
    for entry in dates[:limit]:
        day = entry["date"]
        reason = str(entry.get("reason") or "")
        count = int(entry["change_sets"])
        label = f"{day} · {count} change set{'s' if count > 1 else ''}"
        if reason:
            label += f" · {reason[:48]}{'…' if len(reason) > 48 else ''}"
        selected = " selected" if day == current else ""
        items.append(f'<option value="{day}"{selected}>{html.escape(label)}</option>')
    return (
        f'<label class="jl-field jl-jump">Changes took effect on '
        f'<select data-jump="{html.escape(name)}"><option value="">choose a date…</option>'
        f"{''.join(items)}</select></label>"
    )


def shift(day: dt.date, days: int) -> dt.date:
    """`day` moved by `days`, kept within the dates Python can hold."""
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return dt.date.max if days > 0 else dt.date.min


def figure_of(element: Element) -> Figure:
    """The figure (page) an element belongs to."""
    root = element.get_root()
    assert isinstance(root, Figure)
    return root


def escape(text: object) -> str:
    """HTML-escaped text."""
    return html.escape(str(text))
