"""``GET /maps``: the layers on a date, a layer control per level, popups, search, a date picker.

Every level comes as vector tiles from ``/tiles`` (the page embeds no geometry, so it stays
small whatever the number of grids); levels with few units also get name labels, which double
as the first search index. A click asks ``/v1/lookup`` who is responsible there on that date.
"""

from __future__ import annotations

import datetime as dt

import folium

from maps.assets import js_json, render_page
from maps.common import (
    LABELLED_UNITS,
    LevelStyle,
    PageOptions,
    PageScript,
    date_form,
    escape,
    figure_of,
    jump_select,
    level_styles,
    new_map,
    page_config,
    shift,
    tile_layer,
)
from maps.data import Bounds, MapSource


def default_focus(styles: list[LevelStyle]) -> str:
    """The finest level drawn at first: the deepest one with few enough units to label."""
    labelled = [s.name for s in styles if 0 < s.count <= LABELLED_UNITS]
    if labelled:
        return labelled[-1]
    present = [s.name for s in styles if s.count]
    return present[0] if present else styles[0].name


def extent(source: MapSource, day: dt.date, levels: tuple[str, ...]) -> Bounds | None:
    """The extent of the highest level that has units on `day`."""
    for level in levels:
        bounds = source.bounds(day, level)
        if bounds is not None:
            return bounds
    return None


def compare_defaults(source: MapSource, day: dt.date) -> tuple[dt.date, dt.date]:
    """Dates for the "compare" link: just before and after the last change up to `day`."""
    past = [e["date"] for e in source.change_dates() if e["date"] <= day]
    if past:
        return shift(past[0], -1), day
    return shift(day, -365), day


def layers_page(source: MapSource, options: PageOptions, day: dt.date, level: str | None) -> str:
    """The HTML of the layers page."""
    counts = {name: source.count(day, name) for name in options.levels}
    styles = level_styles(options.levels, counts, categorical=True)
    focus = level or default_focus(styles)
    focus_rank = options.levels.index(focus)
    fmap = new_map(options, extent(source, day, options.levels), top_left=(344, 12))
    figure = figure_of(fmap)
    tops = source.labels(day, options.levels[0]) if counts[options.levels[0]] <= 20 else []
    place = "、".join(t["name"] for t in tops) or "Jurisdictions"
    figure.title = escape(f"{place} on {day} · Jurisdiction Ledger")

    layers = {}
    for style in styles:
        if style.count == 0:
            continue
        layer = tile_layer(options, style, day, show=style.rank <= focus_rank)
        layer.add_to(fmap)
        layers[style.name] = layer
    folium.LayerControl(collapsed=False, position="topright").add_to(fmap)

    labels = {
        s.name: source.labels(day, s.name)
        for s in styles
        if s.rank > 0 and 0 < s.count <= LABELLED_UNITS
    }
    dates = source.change_dates()
    before, after = compare_defaults(source, day)
    hidden = {"level": level} if level else {}
    total = sum(counts.values())
    empty = (
        ""
        if total
        else f'<p class="jl-warning">Nothing was registered on {day}: pick a later date.</p>'
    )
    panel = f"""
<aside class="jl-panel jl-panel-left" id="jl-panel">
  <header>
    <div class="jl-kicker">Jurisdiction Ledger</div>
    <h1>{escape(place)}</h1>
    <p class="jl-sub">as it was on <strong id="jl-day">{day}</strong></p>
  </header>
  {date_form(f"{options.prefix}/maps", [("Date", "date", day)], hidden, "Show")}
  {jump_select(dates, "date", day)}
  {empty}
  <form class="jl-search" id="jl-search" role="search" autocomplete="off">
    <input type="search" name="q" list="jl-search-list"
      placeholder="Find a code or a name (e.g. 西乡, 440306)" aria-label="Find a unit">
    <datalist id="jl-search-list"></datalist>
    <button type="submit">Find</button>
  </form>
  <p class="jl-status" id="jl-status" role="status"></p>
  <p class="jl-hint">Click the map to see the units and the offices responsible there on this
    date. Tick levels on and off at the top right.</p>
  <nav class="jl-links">
    <a href="{options.prefix}/maps/compare?before={before}&amp;after={after}">Compare two dates</a>
    <a href="{options.prefix}/v1/changes?from={before}&amp;to={after}">Changes (JSON)</a>
    <a href="{options.prefix}/maps/edit?date={day}" id="jl-edit-link">Edit the map</a>
    <a href="{options.prefix}/docs">API</a>
  </nav>
</aside>"""
    config = page_config(
        options,
        styles,
        page="layers",
        day=day.isoformat(),
        focus=focus,
        labels=labels,
    )
    layer_refs = ", ".join(f"{js_json(name)}: {layer.get_name()}" for name, layer in layers.items())
    call = f"JL.layersPage({fmap.get_name()}, {{{layer_refs}}});"
    PageScript(config, panel, call).add_to(fmap)
    return render_page(fmap, options.prefix)
