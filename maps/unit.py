"""``GET /maps/units/{code}``: one unit and its lineage on a time slider.

Every version of the unit and of its predecessors and successors is a feature valid from its
``valid_from`` to its ``valid_to`` (folium's Timeline); the slider (TimelineSlider) runs from
the first version to today, and the date picker moves it. The unit's level on the chosen date
is drawn faintly underneath from the vector tiles, so the neighbours show.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import folium
from folium.plugins import Timeline, TimelineSlider
from folium.utilities import JsCode

from maps.assets import render_page
from maps.common import (
    PageOptions,
    PageScript,
    date_form,
    escape,
    figure_of,
    level_styles,
    new_map,
    page_config,
    shift,
    tile_layer,
)
from maps.data import MAX_RELATIVES, Bounds, MapSource


class UnitUnknown(LookupError):
    """No unit was ever registered with this code."""


ROLES = {"unit": "this unit", "predecessor": "predecessor", "successor": "successor"}


def _epoch_ms(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)


def _as_date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _bounds(features: list[dict[str, Any]]) -> Bounds | None:
    xs: list[float] = []
    ys: list[float] = []

    def walk(coords: Any) -> None:
        if coords and isinstance(coords[0], float | int):
            xs.append(float(coords[0]))
            ys.append(float(coords[1]))
        else:
            for part in coords:
                walk(part)

    for feature in features:
        if feature.get("geometry"):
            walk(feature["geometry"]["coordinates"])
    if not xs:
        return None
    return min(xs), min(ys), max(xs), max(ys)


def relatives(lineage: dict[str, list[dict[str, Any]]], code: str) -> list[tuple[str, str]]:
    """(code, role) of the unit's predecessors and successors, nearest first, capped."""
    seen = {code}
    out: list[tuple[str, str]] = []
    for direction, role, key in (
        ("predecessors", "predecessor", "predecessor"),
        ("successors", "successor", "successor"),
    ):
        for edge in sorted(lineage.get(direction, []), key=lambda e: e.get("depth", 1)):
            other = str(edge[key])
            if other not in seen and len(out) < MAX_RELATIVES:
                seen.add(other)
                out.append((other, role))
    return out


def _history_rows(history: list[dict[str, Any]]) -> str:
    rows = []
    for event in history:
        document = str(event.get("document") or "")
        rows.append(
            f'<tr><td><a href="#" class="jl-settime" data-day="{escape(event["effective"])}">'
            f"{escape(event['effective'])}</a></td><td>{escape(event['operation'])}</td>"
            f"<td>{escape(event.get('reason') or '')}"
            f"{f'<br><small>{escape(document)}</small>' if document else ''}</td></tr>"
        )
    if not rows:
        return '<p class="jl-empty">No recorded change.</p>'
    return (
        '<table class="jl-history"><thead><tr><th>effective</th><th>change</th><th>why</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _lineage_rows(
    options: PageOptions,
    lineage: dict[str, list[dict[str, Any]]],
    code: str,
    names: dict[str, str],
) -> str:
    parts = []
    for direction, title, key in (
        ("predecessors", "Came from", "predecessor"),
        ("successors", "Went on to", "successor"),
    ):
        edges = lineage.get(direction, [])
        if not edges:
            continue
        items = []
        for edge in edges[:MAX_RELATIVES]:
            other = str(edge[key])
            via = str(edge["successor"] if key == "predecessor" else edge["predecessor"])
            through = f" via <code>{escape(via)}</code>" if via != code else ""
            name = f"{escape(names[other])} " if other in names else ""
            items.append(
                f'<li><a href="{options.prefix}/maps/units/{escape(other)}">{name}'
                f"<code>{escape(other)}</code></a> · {escape(edge['kind'])} on "
                f'<a href="#" class="jl-settime" data-day="{escape(edge["effective"])}">'
                f"{escape(edge['effective'])}</a>{through}</li>"
            )
        parts.append(f"<h2>{title}</h2><ul class='jl-lineage'>{''.join(items)}</ul>")
    if not parts:
        return "<h2>Lineage</h2><p class='jl-empty'>No predecessor or successor.</p>"
    return "".join(parts)


def unit_page(source: MapSource, options: PageOptions, code: str, day: dt.date | None) -> str:
    """The HTML of a unit's page; `UnitUnknown` if the code was never registered."""
    own = source.versions(code, options.levels)
    if not own:
        raise UnitUnknown(code)
    level = str(own[0]["properties"]["level"])
    order = (level, *[lv for lv in options.levels if lv != level])
    lineage = source.lineage(code)
    features: list[dict[str, Any]] = []
    for version in own:
        version["properties"]["role"] = "unit"
        features.append(version)
    for other, role in relatives(lineage, code):
        for version in source.versions(other, order):
            version["properties"]["role"] = role
            features.append(version)

    starts = [_as_date(f["properties"]["valid_from"]) for f in features]
    ends = [_as_date(f["properties"]["valid_to"]) for f in features]
    first = min(d for d in starts if d is not None)
    last = max([options.today, *[d for d in starts if d], *[d for d in ends if d]])
    for feature, start, end in zip(features, starts, ends, strict=True):
        props = feature["properties"]
        props["start"] = (start or first).isoformat()
        props["end"] = (end or last).isoformat()
        props["open"] = end is None
        props["valid_from"] = start.isoformat() if start else None
        props["valid_to"] = end.isoformat() if end else None
        props.pop("provenance", None)

    own_ranges = [
        (_as_date(v["properties"]["valid_from"]), _as_date(v["properties"]["valid_to"]))
        for v in own
    ]
    if day is None:
        # Today if the unit is live, else its last day.
        live_today = any(
            (s is None or s <= options.today) and (e is None or options.today < e)
            for s, e in own_ranges
        )
        final_end = own_ranges[-1][1]
        day = options.today if live_today or final_end is None else shift(final_end, -1)
    day = min(max(day, first), last)

    latest = own[-1]["properties"]
    name = str(latest["name"])
    names = {str(f["properties"]["code"]): str(f["properties"]["name"]) for f in features}
    parent = latest.get("parent")
    within = ""
    if parent:
        link = f"{options.prefix}/maps/units/{escape(parent)}"
        within = f' in <a href="{link}"><code>{escape(parent)}</code></a>'

    related = len(features) - len(own)
    summary = f"{len(own)} version{'' if len(own) == 1 else 's'}{within}" + (
        f", with {related} version{'' if related == 1 else 's'} of related units" if related else ""
    )
    fmap = new_map(options, _bounds(features), top_left=(390, 30), bottom_right=(30, 100))
    figure = figure_of(fmap)
    figure.title = escape(f"{name} {code} through time · Jurisdiction Ledger")

    counts = {lv: (1 if lv == level else 0) for lv in options.levels}
    style = next(s for s in level_styles(options.levels, counts) if s.name == level)
    context = tile_layer(options, style, day, side="context")
    context.add_to(fmap)

    timeline = Timeline(
        {"type": "FeatureCollection", "features": features},
        get_interval=JsCode("JL.versionInterval"),
        style=JsCode("JL.versionStyle"),
        on_each_feature=JsCode("JL.versionFeature"),
    )
    timeline.layer_name = "versions"
    timeline.add_to(fmap)
    slider = TimelineSlider(
        auto_play=False,
        start=_epoch_ms(first),
        end=_epoch_ms(last),
        show_ticks=True,
        enable_keyboard_controls=True,
        playback_duration=12000,
        steps=max(50, min(1000, (last - first).days)),
    )
    # The date shown under the slider, without moment.js (not vendored).
    slider.options["format_output"] = JsCode("JL.formatDay")  # type: ignore[assignment]
    slider.add_timelines(timeline)  # type: ignore[no-untyped-call]
    slider.add_to(fmap)
    folium.LayerControl(collapsed=True, position="topright").add_to(fmap)

    versions = "".join(
        f'<li data-from="{escape(v["properties"]["valid_from"])}">'
        f'<a href="#" class="jl-settime" data-day="{escape(v["properties"]["valid_from"])}">'
        f"{escape(v['properties']['valid_from'])}</a> → "
        f"{escape(v['properties']['valid_to'] or 'today')} · {escape(v['properties']['name'])}"
        f"</li>"
        for v in own
    )
    legend = "".join(
        f'<li><span class="jl-chip jl-role-{role}"></span>{escape(title)}</li>'
        for role, title in ROLES.items()
    )
    panel = f"""
<aside class="jl-panel jl-panel-left jl-panel-unit" id="jl-panel">
  <header>
    <div class="jl-kicker" style="color:{style.color}">{escape(style.title)}</div>
    <h1>{escape(name)} <code>{escape(code)}</code></h1>
    <p class="jl-sub">{summary}. Slide through time below.</p>
  </header>
  {date_form(f"{options.prefix}/maps/units/{code}", [("Date", "date", day)], {}, "Go")}
  <ul class="jl-legend">{legend}</ul>
  <h2>Versions</h2><ul class="jl-versions">{versions}</ul>
  {_lineage_rows(options, lineage, code, names)}
  <h2>History</h2>
  {_history_rows(source.history(code))}
  <nav class="jl-links">
    <a href="{options.prefix}/maps?date={day}" id="jl-map-link">Whole map on this date</a>
    <a href="{options.prefix}/v1/units/{escape(code)}/history">History (JSON)</a>
    <a href="{options.prefix}/v1/units/{escape(code)}/lineage">Lineage (JSON)</a>
  </nav>
</aside>"""
    config = page_config(
        options,
        level_styles(options.levels, counts),
        page="unit",
        code=code,
        level=level,
        day=day.isoformat(),
        first=first.isoformat(),
        last=last.isoformat(),
    )
    call = (
        f"JL.unitPage({fmap.get_name()}, {timeline.get_name()}, {slider.get_name()}, "
        f"{context.get_name()});"
    )
    PageScript(config, panel, call).add_to(fmap)
    return render_page(fmap, options.prefix)
