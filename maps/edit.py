"""``GET /maps/edit``: the editing page, where GIS staff change the map with live validation.

Unlike the other map pages this one is not built with folium: everything on it is drawn and
fetched by its own script (`static/jl/edit.js`), which reads the units through the read API,
draws with Leaflet-Geoman (snapping to the units shown), and checks each pending change set
with ``POST /v1/changesets?dry_run=true`` as it grows. The shell below only carries the
configuration, the panels and the vendored assets, so the page is the same for every unit and
date and is ready as soon as its scripts are.
"""

from __future__ import annotations

import datetime as dt

from maps.assets import asset_url, external_references, js_json
from maps.common import PageOptions, escape, level_styles, page_config

#: The vendored assets of the page, stylesheets first, in the order they must load.
STYLES = ("leaflet_css", "geoman_css", "jl_maps_css", "jl_edit_css")
SCRIPTS = ("leaflet", "geoman", "polygon_clipping", "jl_edit")

#: What each tool of the page does, as the tool bar and the docs name it.
TOOLS = (
    ("move", "Move area", "draw the piece that passes to a neighbour (snaps to edges)", "M"),
    (
        "edge",
        "Drag edge",
        "drag the unit's corners; what it gains or loses passes to a neighbour",
        "E",
    ),
    ("split", "Split", "draw a line across the unit; the smaller side becomes a new unit", "S"),
    ("merge", "Merge", "join a neighbour into this unit, or both into a new unit", ""),
    ("rename", "Rename", "give the unit a new name", ""),
    ("grids", "Grids", "lay out or redraw the grids of a community", ""),
    ("workstation", "Workstations", "open, close, or change the communities served", ""),
    ("offices", "Service area", "choose which of the unit's children an office serves", ""),
)


def _tool_buttons() -> str:
    return "".join(
        f'<button type="button" class="jl-tool" data-tool="{name}" title="{escape(note)}'
        f'{f" ({key})" if key else ""}" disabled>{escape(title)}</button>'
        for name, title, note, key in TOOLS
    )


def edit_page(options: PageOptions, day: dt.date, code: str | None) -> str:
    """The HTML of the editing page for `day`, opened on the unit `code` if given."""
    styles = level_styles(options.levels, {})
    config = page_config(
        options, styles, page="edit", day=day.isoformat(), code=code or "", tileUrl=options.tile_url
    )
    css = "".join(
        f'<link rel="stylesheet" href="{escape(url)}">'
        for url in (asset_url(name, options.prefix) for name in STYLES)
        if url
    )
    js = "".join(
        f'<script src="{escape(url)}"></script>'
        for url in (asset_url(name, options.prefix) for name in SCRIPTS)
        if url
    )
    prefix = escape(options.prefix)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Edit the map · Jurisdiction Ledger</title>
{css}
<script>window.JL_CONFIG = {js_json(config)};</script>
</head><body class="jl-edit">
<div id="jl-map" class="jl-edit-map"></div>
<aside class="jl-panel jl-panel-left jl-edit-left" id="jl-panel">
  <header>
    <div class="jl-kicker">Jurisdiction Ledger · editing</div>
    <h1 id="jl-unit-title">Pick a unit</h1>
    <p class="jl-sub" id="jl-unit-sub">as it is on <strong id="jl-day">{day}</strong></p>
  </header>
  <form id="jl-token-form" class="jl-token" autocomplete="off">
    <label class="jl-field">Editor token
      <input type="password" name="token" id="jl-token" placeholder="paste an editor token"
        autocomplete="off"></label>
    <button type="submit">Use</button>
    <span id="jl-token-state" class="jl-token-state"></span>
  </form>
  <form id="jl-pick" class="jl-date-form" autocomplete="off">
    <label class="jl-field">Date <input type="date" name="date" id="jl-date" value="{day}"
      min="1900-01-01" max="2999-12-31" required></label>
    <label class="jl-field jl-grow">Unit <input type="search" name="q" id="jl-q"
      list="jl-q-list" placeholder="code or name (西乡, 440306)"></label>
    <datalist id="jl-q-list"></datalist>
    <button type="submit">Open</button>
  </form>
  <p class="jl-status" id="jl-status" role="status"></p>
  <div id="jl-family" class="jl-family"></div>
  <h2>Edit</h2>
  <div class="jl-tools" id="jl-tools">{_tool_buttons()}</div>
  <div id="jl-tool-form" class="jl-tool-form"></div>
  <nav class="jl-links">
    <a href="{prefix}/maps" id="jl-map-link">Map on this date</a>
    <a href="{prefix}/maps/compare" id="jl-compare-link">Compare</a>
    <a href="{prefix}/docs">API</a>
  </nav>
</aside>
<aside class="jl-panel jl-edit-right" id="jl-changeset">
  <h2 class="jl-first">Change set</h2>
  <form id="jl-cs-form" autocomplete="off">
    <label class="jl-field">Effective date <input type="date" id="jl-effective" value="{day}"
      min="1900-01-01" max="2999-12-31" required></label>
    <label class="jl-field">Reason <input type="text" id="jl-reason" maxlength="500"
      placeholder="why (shown in the log of legal acts)"></label>
    <label class="jl-field">Legal document <input type="text" id="jl-document" maxlength="500"
      placeholder="e.g. 深府函〔2026〕12号"></label>
  </form>
  <div class="jl-undo">
    <button type="button" id="jl-undo" title="Undo (Ctrl+Z)" disabled>↶ Undo</button>
    <button type="button" id="jl-redo" title="Redo (Ctrl+Shift+Z)" disabled>↷ Redo</button>
    <span id="jl-check" class="jl-check" role="status"></span>
  </div>
  <ol id="jl-ops" class="jl-ops"></ol>
  <h2>Validation</h2>
  <div id="jl-repairs" class="jl-repairs"></div>
  <ul id="jl-notes" class="jl-notes"></ul>
  <ul id="jl-problems" class="jl-problems"><li class="jl-empty">No edit yet.</li></ul>
  <button type="button" id="jl-submit" class="jl-submit" disabled>Submit change set</button>
  <div id="jl-result" class="jl-result" role="status"></div>
</aside>
{js}
<script>JL.editPage();</script>
</body></html>"""
    outside = external_references(page)
    if outside:  # pragma: no cover - the shell above names only local files
        msg = f"the editing page would load from outside the service: {outside[:3]}"
        raise ValueError(msg)
    return page
