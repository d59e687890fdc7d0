"""Reading the read model into a snapshot: in full, or by difference since a snapshot.

Both read in one repeatable-read transaction together with the position (and the change log's
marker), so a snapshot holds exactly what the read model held at its position. A refresh reads
the keys the projection touched since (`projections.change_log`) and only those things' current
rows: superseded versions are tombstoned, new ones appended, epochs no change touches carried
over. Its cost grows with the change, not with the register. It declines (the caller reloads in
full, which also compacts) when the log does not reach back far enough, the read model was
rebuilt, or superseded versions would make up more than a quarter of the columns.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import shapely

from domain.levels import LevelScheme
from domain.offices import WORKSTATION
from projections import change_log
from projections.lookup import OfficeHit, office_from_row
from projections.lookup_index.columns import (
    BoolArray,
    ColumnsFull,
    Dated,
    UnitColumns,
    UnitRow,
    ordinal,
)
from projections.lookup_index.snapshot import Snapshot
from projections.tracking import read_position

#: A refresh declines when superseded versions would exceed this share of the columns.
MAX_TOMBSTONES = 0.25

_UNITS = (
    "SELECT unit_id::text, level, code, name, parent_code, lower(valid), upper(valid), "
    "ST_AsBinary(geom) FROM unit_versions WHERE upper_inf(recorded) {where} "
    "ORDER BY code, lower(valid)"
)
_OFFICES = (
    "SELECT kind, code, name, unit_code, address_text, ST_X(address) AS lon, "
    "ST_Y(address) AS lat, serves, lower(valid), upper(valid) FROM office_versions "
    "WHERE upper_inf(recorded) AND kind <> %s AND cardinality(serves) = 0 {where} "
    "ORDER BY code, lower(valid)"
)
_COVERAGE = (
    "SELECT o.kind, o.code, o.name, o.unit_code, o.address_text, ST_X(o.address), "
    "ST_Y(o.address), o.serves, lower(c.valid), upper(c.valid), c.community "
    "FROM coverage_versions c JOIN office_versions o ON o.code = c.workstation "
    "AND o.valid = c.valid AND o.recorded = c.recorded WHERE upper_inf(c.recorded) {where} "
    "ORDER BY c.community, o.code, lower(c.valid)"
)
_MATTERS = (
    "SELECT matter, name, office_kind, level, lower(valid), upper(valid) "
    "FROM matter_versions WHERE upper_inf(recorded) {where} ORDER BY matter, lower(valid)"
)


def load_snapshot(
    conn: Any, tracking_table: str, application: str, levels: LevelScheme, max_epochs: int
) -> Snapshot:
    """Read everything at one position (one repeatable-read transaction)."""
    started = time.perf_counter()
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        position = read_position(conn, tracking_table, application)
        marker = change_log.marker(conn)
        units = conn.execute(_UNITS.format(where="")).fetchall()
        offices = conn.execute(_OFFICES.format(where=""), (WORKSTATION,)).fetchall()
        coverage = conn.execute(_COVERAGE.format(where="")).fetchall()
        matters = conn.execute(_MATTERS.format(where="")).fetchall()
    rows = _unit_rows(units, levels)
    columns = UnitColumns.reserve(len(rows))
    numbers = columns.append(rows)
    versions_of: dict[str, list[int]] = {}
    for row, version in zip(rows, numbers, strict=True):
        versions_of.setdefault(row.unit_id, []).append(version)
    alive = np.ones(columns.size, dtype=bool)
    office_rows, coverage_rows, matter_rows = _keyed(offices, coverage, matters)
    zones = _overlaps(columns, alive, numbers, len(levels.names))
    return Snapshot(
        position=position,
        generation=marker.generation,
        levels=levels,
        units=columns,
        alive=alive,
        versions_of=versions_of,
        office_rows=office_rows,
        coverage_rows=coverage_rows,
        matter_rows=matter_rows,
        overlap_zones=zones,
        max_epochs=max_epochs,
        load_seconds=time.perf_counter() - started,
    )


def refresh(
    conn: Any, snapshot: Snapshot, tracking_table: str, application: str
) -> Snapshot | None:
    """`snapshot` brought to the read model's position by its changes only; the same snapshot
    if nothing moved; None if only a full load can tell (see the module's docstring)."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        position = read_position(conn, tracking_table, application)
        marker = change_log.marker(conn)
        if (
            position < snapshot.position
            or marker.generation != snapshot.generation
            or marker.horizon > snapshot.position
        ):
            return None
        if position == snapshot.position:
            return snapshot
        touched = change_log.touched_since(conn, snapshot.position, position)
        unit_ids = sorted(touched.get("unit", ()))
        if len(unit_ids) > MAX_TOMBSTONES * max(snapshot.size, 1):
            return None
        office_codes = sorted(touched.get("office", ()))
        matter_names = sorted(touched.get("matter", ()))
        units = offices = coverage = matters = []
        if unit_ids:
            units = conn.execute(
                _UNITS.format(where="AND unit_id = ANY(%s::uuid[])"), (unit_ids,)
            ).fetchall()
        if office_codes:
            offices = conn.execute(
                _OFFICES.format(where="AND code = ANY(%s)"), (WORKSTATION, office_codes)
            ).fetchall()
            coverage = conn.execute(
                _COVERAGE.format(where="AND o.code = ANY(%s)"), (office_codes,)
            ).fetchall()
        if matter_names:
            matters = conn.execute(
                _MATTERS.format(where="AND matter = ANY(%s)"), (matter_names,)
            ).fetchall()
    return _patched(
        snapshot, position, unit_ids, office_codes, matter_names, units, offices, coverage, matters
    )


def _patched(
    snapshot: Snapshot,
    position: int,
    unit_ids: Sequence[str],
    office_codes: Sequence[str],
    matter_names: Sequence[str],
    units: Sequence[Any],
    offices: Sequence[Any],
    coverage: Sequence[Any],
    matters: Sequence[Any],
) -> Snapshot | None:
    columns = snapshot.units
    changed: list[tuple[int, int]] = []
    versions_of = dict(snapshot.versions_of)
    dead: list[int] = []
    for unit_id in unit_ids:
        dead += versions_of.pop(unit_id, [])
    rows = _unit_rows(units, snapshot.levels)
    try:
        numbers = columns.append(rows)
    except ColumnsFull:
        return None
    alive = np.zeros(columns.size, dtype=bool)
    alive[: snapshot.size] = snapshot.alive
    alive[dead] = False
    for row, version in zip(rows, numbers, strict=True):
        versions_of.setdefault(row.unit_id, []).append(version)
        alive[version] = True
    if columns.size - np.count_nonzero(alive) > MAX_TOMBSTONES * columns.size:
        return None
    for version in [*dead, *numbers]:
        changed.append((int(columns.start[version]), int(columns.end[version])))
    new_offices, new_coverage, new_matters = _keyed(offices, coverage, matters)
    office_rows = _replaced(snapshot.office_rows, office_codes, new_offices, changed)
    coverage_rows = _replaced(snapshot.coverage_rows, office_codes, new_coverage, changed)
    matter_rows = _replaced(snapshot.matter_rows, matter_names, new_matters, changed)
    gone = set(dead)
    zones = {k: z for k, z in snapshot.overlap_zones.items() if not gone.intersection(k)}
    zones.update(_overlaps(columns, alive, numbers, len(snapshot.levels.names)))
    fresh = Snapshot(
        position=position,
        generation=snapshot.generation,
        levels=snapshot.levels,
        units=columns,
        alive=alive,
        versions_of=versions_of,
        office_rows=office_rows,
        coverage_rows=coverage_rows,
        matter_rows=matter_rows,
        overlap_zones=zones,
        max_epochs=snapshot.max_epochs,
        load_seconds=snapshot.load_seconds,
    )
    fresh.inherit(snapshot, changed)
    return fresh


def _replaced(
    rows: dict[str, list[Dated]],
    keys: Iterable[str],
    new: dict[str, list[Dated]],
    changed: list[tuple[int, int]],
) -> dict[str, list[Dated]]:
    """`rows` with the `keys`' rows replaced by `new` ones; their ranges noted in `changed`."""
    out = dict(rows)
    for key in keys:
        for d in (*out.pop(key, ()), *new.get(key, ())):
            changed.append((d.start, d.end))
        if key in new:
            out[key] = new[key]
    return out


def _unit_rows(rows: Sequence[Any], levels: LevelScheme) -> list[UnitRow]:
    ranks = {name: i for i, name in enumerate(levels.names)}
    return [
        UnitRow(r[0], ranks[r[1]], r[2], r[3], r[1], r[4], r[5], r[6], bytes(r[7]))
        for r in rows
        if r[1] in ranks
    ]


def _office(row: Sequence[Any]) -> OfficeHit:
    keys = ("kind", "code", "name", "unit_code", "address_text", "lon", "lat", "serves")
    return office_from_row(dict(zip(keys, row[:8], strict=True)))


def _keyed(
    offices: Sequence[Any], coverage: Sequence[Any], matters: Sequence[Any]
) -> tuple[dict[str, list[Dated]], dict[str, list[Dated]], dict[str, list[Dated]]]:
    """Offices by code, coverage by workstation, matters by name."""
    office_rows: dict[str, list[Dated]] = {}
    for r in offices:
        office_rows.setdefault(r[1], []).append(Dated(ordinal(r[8]), ordinal(r[9]), _office(r)))
    coverage_rows: dict[str, list[Dated]] = {}
    for r in coverage:
        dated = Dated(ordinal(r[8]), ordinal(r[9]), (r[10], _office(r)))
        coverage_rows.setdefault(r[1], []).append(dated)
    matter_rows: dict[str, list[Dated]] = {}
    for r in matters:
        matter_rows.setdefault(r[0], []).append(Dated(ordinal(r[4]), ordinal(r[5]), tuple(r[:4])))
    return office_rows, coverage_rows, matter_rows


def _overlaps(
    units: UnitColumns, alive: BoolArray, new: Sequence[int], count: int
) -> dict[tuple[int, int], Dated]:
    """Where a `new` version's interior meets a believed same-level version's while both are
    live (digitising slivers within the tolerance), above the lowest level (whose overlaps are
    seen point by point): a point there is resolved level by level, as SQL would."""
    zones: dict[tuple[int, int], Dated] = {}
    size = len(alive)
    fresh = np.asarray(new, dtype=np.int64)
    level, start, end, geoms = units.level, units.start, units.end, units.geoms
    for rank in range(count - 1):
        mine = fresh[level[fresh] == rank]
        if not mine.size:
            continue
        members = np.flatnonzero(alive & (level[:size] == rank))
        tree = shapely.STRtree(geoms[mine])
        left, right = tree.query(geoms[members], predicate="intersects")
        a, b = members[left], mine[right]
        # A pair of two new versions is found twice: keep it once.
        pairs = (a != b) & (~np.isin(a, mine) | (a < b))
        a, b = np.minimum(a[pairs], b[pairs]), np.maximum(a[pairs], b[pairs])
        together = (start[a] < end[b]) & (start[b] < end[a])
        a, b = a[together], b[together]
        if not a.size:
            continue
        meeting = ~shapely.touches(geoms[a], geoms[b])
        for x, y in zip(a[meeting].tolist(), b[meeting].tolist(), strict=True):
            zone = shapely.intersection(geoms[x], geoms[y])
            if zone.is_empty:  # a sliver too thin for the overlay: the boxes' overlap instead
                zone = shapely.intersection(geoms[x].envelope, geoms[y].envelope)
            zones[(x, y)] = Dated(max(start[x], start[y]), min(end[x], end[y]), zone)
    return zones
