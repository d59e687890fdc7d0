"""``GET /maps/jobs/{id}``: an aggregate job's counts per unit as a choropleth, dates side by
side.

The page holds no data: the counts belong to the job's owner, so its script asks for them
with the owner's token (`/v1/jobs/{id}/counts`), taken from the address's fragment
(``#token=...``, never sent to the server in the URL) or typed into the panel, and kept in
the tab's session storage. Each side draws the level's units of its date from the service's
own vector tiles (`/tiles`), coloured by one shared scale (quantile classes of both dates'
counts), so that the two dates compare; a legend gives the classes. Everything is served
locally (vendored Leaflet, Leaflet.VectorGrid, Leaflet.Sync).
"""

from __future__ import annotations

from maps.assets import UnvendoredAsset, asset_url, external_references, js_json
from maps.common import PageOptions, escape
from maps.data import DEFAULT_BOUNDS, Bounds

#: The page's scripts and stylesheets, by their names in `maps.assets.RESOURCES`.
SCRIPTS = ("leaflet", "vectorGrid", "Leaflet.Sync", "jl_choropleth")
STYLES = ("leaflet_css", "jl_maps_css")
#: Sequential colours of the classes, lightest (fewest records) first (ColorBrewer YlOrRd 7).
CLASS_COLOURS = ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026")
#: Units with no record on a side.
EMPTY_COLOUR = "#eceff1"


def _links(names: tuple[str, ...], prefix: str, tag: str) -> str:
    out = []
    for name in names:
        url = asset_url(name, prefix)
        assert url is not None
        out.append(tag.format(url=escape(url)))
    return "\n".join(out)


def choropleth_page(options: PageOptions, job_id: str, bounds: Bounds | None) -> str:
    """The HTML of an aggregate job's map (its script fetches the counts)."""
    config = {
        "prefix": options.prefix,
        "job": job_id,
        "levels": list(options.levels),
        "bounds": list(bounds or DEFAULT_BOUNDS),
        "colours": list(CLASS_COLOURS),
        "empty": EMPTY_COLOUR,
    }
    styles = _links(STYLES, options.prefix, '<link rel="stylesheet" href="{url}">')
    scripts = _links(SCRIPTS, options.prefix, '<script src="{url}"></script>')
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Job {escape(job_id)} · counts per unit · Jurisdiction Ledger</title>
<link rel="icon" href="data:,">
{styles}
<style>
  html, body {{ margin: 0; height: 100%; }}
  [hidden] {{ display: none !important; }}
  .jl-choro-maps {{ position: absolute; top: 0; left: 0; bottom: 0;
    right: var(--jl-side); display: flex; }}
  .jl-choro-map {{ flex: 1; height: 100%; position: relative; }}
  .jl-choro-map + .jl-choro-map {{ border-left: 2px solid #fff; }}
  .jl-choro-badge {{ position: absolute; z-index: 900; top: 10px; right: 10px;
    background: rgba(255,255,255,.95); border-radius: 6px; padding: 4px 8px;
    box-shadow: 0 1px 6px rgba(0,0,0,.2); font-size: 13px; }}
  .jl-choro-legend {{ list-style: none; padding: 0; margin: 8px 0; }}
  .jl-choro-legend li {{ display: flex; align-items: center; gap: 6px; margin: 2px 0; }}
  .jl-choro-chip {{ display: inline-block; width: 18px; height: 12px;
    border: 1px solid #90a4ae; }}
  .jl-choro-table {{ width: 100%; border-collapse: collapse; font-size: 12px; }}
  .jl-choro-table td, .jl-choro-table th {{ text-align: right; padding: 1px 4px; }}
  .jl-choro-table td:first-child, .jl-choro-table th:first-child {{ text-align: left; }}
</style>
<script>window.JL_CHOROPLETH = {js_json(config)};</script>
</head>
<body>
<div class="jl-choro-maps" id="jl-maps">
  <div class="jl-choro-map" id="jl-map-left"></div>
  <div class="jl-choro-map" id="jl-map-right"></div>
</div>
<aside class="jl-panel jl-panel-side" id="jl-panel">
  <header>
    <div class="jl-kicker">Jurisdiction Ledger · job {escape(job_id)}</div>
    <h1>Records per unit</h1>
    <p class="jl-sub" id="jl-summary">Loading the job…</p>
  </header>
  <form id="jl-token-form" class="jl-date-form" hidden>
    <label class="jl-field">An analyst's token (kept in this tab only)
      <input type="password" name="token" autocomplete="off" required></label>
    <button type="submit">Show</button>
  </form>
  <div id="jl-controls" hidden>
    <label class="jl-field">Level <select id="jl-level"></select></label>
    <label class="jl-field">Measure <select id="jl-measure"></select></label>
    <label class="jl-field">Left <select id="jl-left"></select></label>
    <label class="jl-field">Right <select id="jl-right"></select></label>
  </div>
  <div class="jl-status" id="jl-status" role="status"></div>
  <h2>Legend</h2>
  <ul class="jl-choro-legend" id="jl-legend"></ul>
  <p class="jl-hint">One scale for both maps (classes of equal numbers of units). Click a
    unit for its figures on every date. The maps move together.</p>
  <div id="jl-unit"></div>
  <nav class="jl-links">
    <a href="{escape(options.prefix)}/v1/jobs/{escape(job_id)}" id="jl-status-link">Job status
      (JSON)</a>
    <a href="{escape(options.prefix)}/maps">Map of the layers</a>
  </nav>
</aside>
{scripts}
</body>
</html>
"""
    outside = external_references(page)
    if outside:
        msg = f"the page would load from outside the service: {outside[:3]}"
        raise UnvendoredAsset(msg)
    return page
