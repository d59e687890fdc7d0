"""``GET /maps/compare``: two dates side by side, synchronised, changed units highlighted.

folium's DualMap (Leaflet.Sync) holds the two maps; each draws the levels as vector tiles of
its own date, colouring the units that changed; the list of changes (what ``/v1/changes``
answers for the two dates) sits beside the maps, each entry zooming both maps to its unit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import folium
from folium.plugins import DualMap

from maps.assets import js_json, render_page
from maps.common import (
    PageOptions,
    PageScript,
    date_form,
    escape,
    figure_of,
    level_styles,
    page_config,
    tile_layer,
)
from maps.data import DEFAULT_BOUNDS, Bounds, MapSource
from maps.layers import default_focus, extent

#: Kinds of change, in the order listed, with what they are called and their colour.
KINDS = (
    ("established", "Established", "#2e7d32"),
    ("ended", "Ended", "#c62828"),
    ("redrawn", "Redrawn", "#f9a825"),
    ("transferred", "Moved to another parent", "#6a1b9a"),
    ("renamed", "Renamed", "#0277bd"),
)
#: Which kinds colour a unit on each side (a unit in several takes the first).
SIDES = {
    "before": ("ended", "redrawn", "transferred", "renamed"),
    "after": ("established", "redrawn", "transferred", "renamed"),
}
#: The most units coloured on a map, and listed per kind and level.
MAX_HIGHLIGHTED = 5000
MAX_LISTED = 300


def highlights(changes: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, str]]:
    """Unit code to kind of change, for each side."""
    out: dict[str, dict[str, str]] = {}
    for side, kinds in SIDES.items():
        coloured: dict[str, str] = {}
        for kind in kinds:
            for change in changes.get(kind, []):
                if len(coloured) >= MAX_HIGHLIGHTED:
                    break
                coloured.setdefault(change["code"], kind)
        out[side] = coloured
    return out


def _union(a: Bounds | None, b: Bounds | None) -> Bounds:
    boxes = [x for x in (a, b) if x is not None]
    if not boxes:
        return DEFAULT_BOUNDS
    return (
        min(x[0] for x in boxes),
        min(x[1] for x in boxes),
        max(x[2] for x in boxes),
        max(x[3] for x in boxes),
    )


def _describe(kind: str, change: dict[str, Any]) -> str:
    if kind == "renamed":
        return f"{escape(change['name_before'])} → {escape(change['name_after'])}"
    if kind == "transferred":
        return (
            f"from {_named(change.get('parent_name_before'), change['parent_before'])} "
            f"to {_named(change.get('parent_name_after'), change['parent_after'])}"
        )
    if kind == "redrawn":
        moved = float(change.get("area_moved_m2") or 0.0)
        return f"{moved / 1e6:,.2f} km² moved"
    parent = change.get("parent")
    return f"in {_named(change.get('parent_name'), parent)}" if parent else ""


def _named(name: str | None, code: str | None) -> str:
    """A unit as its name and code (the code alone if the name is unknown)."""
    shown = f"<code>{escape(code)}</code>"
    return f"{escape(name)} {shown}" if name else shown


def change_list(
    options: PageOptions,
    changes: dict[str, list[dict[str, Any]]],
    levels: tuple[str, ...],
    before: dt.date,
    after: dt.date,
) -> str:
    """The changes grouped by kind and level, each entry a link that shows the unit."""
    rank = {name: i for i, name in enumerate(levels)}
    sections = []
    for kind, title, colour in KINDS:
        entries = changes.get(kind, [])
        if not entries:
            continue
        by_level: dict[str, list[dict[str, Any]]] = {}
        for change in entries:
            by_level.setdefault(change["level"], []).append(change)
        groups = []
        for level in sorted(by_level, key=lambda name: rank.get(name, len(rank))):
            items = by_level[level]
            day = before if kind == "ended" else after
            rows = []
            for change in items[:MAX_LISTED]:
                name = change.get("name") or change.get("name_after") or ""
                rows.append(
                    f'<li><a href="#" class="jl-change" data-code="{escape(change["code"])}" '
                    f'data-day="{day}" data-kind="{kind}">{escape(name) or "?"} '
                    f"<code>{escape(change['code'])}</code></a> "
                    f"<small>{_describe(kind, change)}</small></li>"
                )
            more = len(items) - MAX_LISTED
            if more > 0:
                rows.append(
                    f'<li class="jl-more">… and {more:,} more: see '
                    f'<a href="{options.prefix}/v1/changes?from={before}&amp;to={after}'
                    f'&amp;level={escape(level)}">/v1/changes</a></li>'
                )
            groups.append(
                f'<details open><summary>{escape(level)} <span class="jl-count">'
                f"{len(items):,}</span></summary><ul>{''.join(rows)}</ul></details>"
            )
        sections.append(
            f'<section class="jl-kind" data-kind="{kind}"><h2>'
            f'<span class="jl-chip" style="background:{colour}"></span>{escape(title)} '
            f'<span class="jl-count">{len(entries):,}</span></h2>{"".join(groups)}</section>'
        )
    if not sections:
        return f'<p class="jl-empty">Nothing changed between {before} and {after}.</p>'
    return "".join(sections)


def compare_page(source: MapSource, options: PageOptions, before: dt.date, after: dt.date) -> str:
    """The HTML of the comparison page."""
    levels = options.levels
    sides = {"before": before, "after": after}
    counts = {side: {lv: source.count(day, lv) for lv in levels} for side, day in sides.items()}
    styles = {side: level_styles(levels, counts[side]) for side in sides}
    focus = default_focus(styles["after"] if sum(counts["after"].values()) else styles["before"])
    focus_rank = levels.index(focus)
    west, south, east, north = _union(extent(source, before, levels), extent(source, after, levels))

    dual = DualMap(  # type: ignore[no-untyped-call]
        location=[(south + north) / 2, (west + east) / 2],
        layout="horizontal",
        tiles=None,
        zoom_start=10,
        control_scale=True,
        zoom_control=False,
        prefer_canvas=True,
        min_zoom=3,
        max_zoom=18,
    )
    dual.fit_bounds([[south, west], [north, east]], padding=(12, 12))  # type: ignore[no-untyped-call]
    figure = figure_of(dual)
    figure.title = escape(f"{before} → {after} · Jurisdiction Ledger")
    maps = {"before": dual.m1, "after": dual.m2}
    refs = {}
    for side, fmap in maps.items():
        if options.tile_url:
            folium.TileLayer(
                tiles=options.tile_url, attr="Base map", name="base map", control=False
            ).add_to(fmap)
        layers = {}
        for style in styles[side]:
            if style.count == 0:
                continue
            layer = tile_layer(
                options, style, sides[side], side=side, show=style.rank <= focus_rank
            )
            layer.add_to(fmap)
            layers[style.name] = layer
        folium.LayerControl(collapsed=True, position="topright").add_to(fmap)
        entries = ", ".join(f"{js_json(n)}: {lay.get_name()}" for n, lay in layers.items())
        refs[side] = "{" + entries + "}"

    changes = source.changes(before, after)
    total = sum(len(v) for v in changes.values())
    legend = "".join(
        f'<li><span class="jl-chip" style="background:{colour}"></span>{escape(title)}</li>'
        for _, title, colour in KINDS
    )
    m1, m2 = dual.m1.get_name(), dual.m2.get_name()
    fields = [("Before", "before", before), ("After", "after", after)]
    form = date_form(f"{options.prefix}/maps/compare", fields, {}, "Compare")
    panel = f"""
<style>
  #{m1}, #{m2} {{ width: calc((100% - var(--jl-side)) / 2) !important; height: 100% !important; }}
  #{m2} {{ left: calc((100% - var(--jl-side)) / 2) !important;
           border-left: 2px solid #fff; box-sizing: border-box; }}
</style>
<aside class="jl-panel jl-panel-side" id="jl-panel">
  <header>
    <div class="jl-kicker">Jurisdiction Ledger · compare</div>
    <h1>What changed</h1>
    <p class="jl-sub">between <strong>{before}</strong> (left) and <strong>{after}</strong>
      (right): {total:,} change{"" if total == 1 else "s"}</p>
  </header>
  {form}
  <ul class="jl-legend">{legend}</ul>
  <p class="jl-hint">The maps move together. Click a change to show the unit on both maps;
    click a map for who is responsible there on its date.</p>
  <div class="jl-changes" id="jl-changes">
    {change_list(options, changes, levels, before, after)}
  </div>
  <nav class="jl-links">
    <a href="{options.prefix}/v1/changes?from={before}&amp;to={after}">Changes (JSON)</a>
    <a href="{options.prefix}/maps?date={before}">Map on {before}</a>
    <a href="{options.prefix}/maps?date={after}">Map on {after}</a>
  </nav>
</aside>"""
    config = page_config(
        options,
        styles["after"],
        page="compare",
        days={"before": before.isoformat(), "after": after.isoformat()},
        changes=highlights(changes),
        kinds={kind: colour for kind, _, colour in KINDS},
        focus=focus,
        labels={
            side: {
                s.name: source.labels(sides[side], s.name)
                for s in styles[side]
                if 0 < s.rank <= focus_rank and 0 < s.count <= 120
            }
            for side in sides
        },
    )
    call = f"JL.comparePage({m1}, {m2}, {refs['before']}, {refs['after']});"
    figure.add_child(PageScript(config, panel, call))
    return render_page(figure, options.prefix)
