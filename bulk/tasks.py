"""The work of one partition, on a worker: read, convert, resolve, write (or count).

Points are never shuffled: each task reads its own partition, resolves it against the layers
its worker already holds (`bulk.layers.snapshot_of`), and writes its own Parquet part, or
returns its small counts per unit. Records with their own dates are grouped by epoch (the
periods in which nothing changes), and each group is resolved by that epoch's index.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from bulk.layers import Layers, snapshot_of
from bulk.source import Part, read_part
from bulk.spec import (
    COLUMN_INVALID,
    CRS_UNKNOWN,
    DATE_INVALID,
    LOOKUP_CRS,
    JobProblem,
    RecordSource,
    shown,
)
from domain.coordinates import to_wgs84
from domain.timeline import parse_day

#: Ordinal of 1970-01-01: Arrow's date32 counts days from it.
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
IntArray = np.ndarray[Any, np.dtype[np.int64]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class TaskSpec:
    """What every task of a job shares (besides the layers)."""

    source: RecordSource
    #: The job's dates as ordinals; empty: each record's own date.
    days: tuple[int, ...]
    #: Level ranks answered, ascending.
    wanted: tuple[int, ...]
    aggregate: bool
    sum_columns: tuple[str, ...]
    #: Where parts are written (the job's staging directory).
    staging: str
    #: Key-value metadata written into every part.
    metadata: dict[str, str] = field(default_factory=dict)
    #: A GeoParquet geometry column to take the points from (instead of lon/lat columns).
    geometry: str | None = None


@dataclass
class PartOutcome:
    """What a task reports: counts, its file, or its partial aggregate."""

    index: int
    records: int
    outside: int
    file: str | None = None
    #: For aggregates: (date index, level rank, version) -> [count, sums...] as arrays.
    groups: dict[str, Any] | None = None


class BadRecords(Exception):
    """A partition holds values the job cannot read (the client raises `InvalidJob`)."""

    def __init__(self, problem: JobProblem) -> None:
        self.problem = problem
        super().__init__(f"{problem.field}: {problem.message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (BadRecords, (self.problem,))


def run_part(layers: Layers, task: TaskSpec, part: Part) -> PartOutcome:
    """Resolve one partition; write its Parquet part or return its counts."""
    import pyarrow as pa

    source = task.source
    coordinates = [task.geometry] if task.geometry else [source.lon_column, source.lat_column]
    names = [source.id_column, *coordinates]
    if source.date_column is not None:
        names.append(source.date_column)
    names += [c for c in task.sum_columns if c not in names]
    numeric = {source.lon_column, source.lat_column, *task.sum_columns}
    try:
        table = read_part(part, list(dict.fromkeys(names)), numeric)
    except (pa.ArrowInvalid, ValueError) as exc:
        message = f"{_where(part)}: {str(exc).strip().splitlines()[0][:300]}"
        raise BadRecords(JobProblem("source.path", COLUMN_INVALID, message)) from None
    if task.geometry:
        xs, ys = _xy(table.column(task.geometry), part)
    else:
        xs = _floats(table.column(source.lon_column))
        ys = _floats(table.column(source.lat_column))
    xs, ys = to_wgs84_arrays(xs, ys, source.crs)
    n = len(xs)
    if task.days:
        day_sets = [np.full(n, d, dtype=np.int64) for d in task.days]
    else:
        assert source.date_column is not None
        day_sets = [record_days(table.column(source.date_column), part, source.date_column)]
    snapshot = snapshot_of(layers)
    count = len(layers.levels.names)
    results = [_resolve(snapshot, xs, ys, days, task.wanted, count) for days in day_sets]
    found_any = np.zeros(n, dtype=bool)
    for found, _ in results:
        found_any |= np.any(found[:, list(task.wanted)] >= 0, axis=1)
    outside = int(n - np.count_nonzero(found_any))
    if task.aggregate:
        sums = [_floats(table.column(c)) for c in task.sum_columns]
        groups = _groups([found for found, _ in results], task.wanted, sums)
        return PartOutcome(part.index, n, outside, groups=groups)
    found, boundary = results[0]
    columns: dict[str, Any] = {source.id_column: table.column(source.id_column)}
    if source.date_column is not None:
        days = day_sets[0]
        since_1970 = pa.array(days - EPOCH_ORDINAL, pa.int32(), mask=days < 0)
        columns["date"] = since_1970.cast(pa.date32())
    codes = _code_dictionary(layers)
    for rank in task.wanted:
        level = layers.levels.names[rank]
        indices = pa.array(found[:, rank], pa.int32(), mask=found[:, rank] < 0)
        columns[level] = pa.DictionaryArray.from_arrays(indices, codes).cast(pa.string())
    edge = np.any(boundary[:, list(task.wanted)], axis=1)
    columns["on_boundary"] = pa.array(edge, pa.bool_())
    out = pa.table(columns).replace_schema_metadata(task.metadata)
    name = f"part-{part.index:05d}.parquet"
    import pyarrow.parquet as pq

    pq.write_table(out, Path(task.staging) / name, compression="zstd")
    return PartOutcome(part.index, n, outside, file=name)


def _resolve(
    snapshot: Any,
    xs: FloatArray,
    ys: FloatArray,
    days: IntArray,
    wanted: tuple[int, ...],
    count: int,
) -> tuple[IntArray, Any]:
    """Each point's version per level (-1: none) and boundary flags, on its day: the points
    of each epoch resolved together by `Epoch.resolve`, the lookup service's own code."""
    n = len(xs)
    found = np.full((n, count), -1, dtype=np.int64)
    boundary = np.zeros((n, count), dtype=bool)
    usable = np.isfinite(xs) & np.isfinite(ys) & (days > 0)
    if not usable.any():
        return found, boundary
    keys = np.full(n, -1, dtype=np.int64)
    distinct = np.unique(days[usable])
    key_of = {int(d): snapshot.epoch_span(int(d))[0] for d in distinct.tolist()}
    keys[usable] = np.array([key_of[int(d)] for d in distinct.tolist()])[
        np.searchsorted(distinct, days[usable])
    ]
    for key in np.unique(keys[usable]).tolist():
        rows = np.flatnonzero(keys == key)
        day = date.fromordinal(int(days[rows[0]]))
        resolved = snapshot.epoch(day).resolve(xs[rows], ys[rows], wanted)
        found[rows] = resolved.found
        boundary[rows] = resolved.boundary
    return found, boundary


def _groups(
    founds: list[IntArray], wanted: tuple[int, ...], sums: list[FloatArray]
) -> dict[str, Any]:
    """Counts (and sums) per date index, level and version (-1: in no unit of that level)."""
    date_index: list[IntArray] = []
    ranks: list[IntArray] = []
    versions: list[IntArray] = []
    counts: list[FloatArray] = []
    totals: list[list[FloatArray]] = [[] for _ in sums]
    for i, found in enumerate(founds):
        for rank in wanted:
            column = found[:, rank]
            unique, inverse = np.unique(column, return_inverse=True)
            date_index.append(np.full(len(unique), i, dtype=np.int64))
            ranks.append(np.full(len(unique), rank, dtype=np.int64))
            versions.append(unique)
            counts.append(np.bincount(inverse, minlength=len(unique)).astype(np.float64))
            for j, values in enumerate(sums):
                weights = np.nan_to_num(values, nan=0.0)
                totals[j].append(
                    np.bincount(inverse, weights=weights, minlength=len(unique)).astype(np.float64)
                )
    return {
        "date_index": np.concatenate(date_index),
        "rank": np.concatenate(ranks),
        "version": np.concatenate(versions),
        "count": np.concatenate(counts),
        "sums": [np.concatenate(t) for t in totals],
    }


_DICTIONARIES: dict[str, Any] = {}


def _code_dictionary(layers: Layers) -> Any:
    """The layers' codes by version number, as an Arrow array (built once per worker)."""
    import pyarrow as pa

    found = _DICTIONARIES.get(layers.token)
    if found is None:
        _DICTIONARIES.clear()
        found = _DICTIONARIES[layers.token] = pa.array(layers.units.code[: layers.units.size])
    return found


def _floats(column: Any) -> FloatArray:
    """An Arrow column as float64 (nulls as NaN)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pc.cast(column, pa.float64())
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)


def _xy(column: Any, part: Part) -> tuple[FloatArray, FloatArray]:
    """x and y of GeoParquet point geometries (WKB); NaN for empty or missing ones."""
    import shapely

    try:
        shapes = shapely.from_wkb(column.to_numpy(zero_copy_only=False))
    except shapely.errors.GEOSException as exc:
        message = f"{_where(part)}: the geometry column is not WKB ({exc})"
        raise BadRecords(JobProblem("source.path", COLUMN_INVALID, message)) from None
    kinds = shapely.get_type_id(shapes)
    if np.any((kinds != 0) & (kinds != -1) & ~shapely.is_empty(shapes)):
        message = f"{_where(part)}: the geometry column holds other shapes than points"
        raise BadRecords(JobProblem("source.path", COLUMN_INVALID, message))
    xs = np.asarray(shapely.get_x(shapes), dtype=np.float64)
    ys = np.asarray(shapely.get_y(shapes), dtype=np.float64)
    return xs, ys


def record_days(column: Any, part: Part, name: str) -> IntArray:
    """Each record's date as an ordinal (-1 where null): Arrow dates and timestamps as they
    are, text by `domain.timeline.parse_day` (the project's one definition of a date);
    `BadRecords` names the first value that is not a date."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_timestamp(kind):
        column = pc.cast(column, pa.date32())
        kind = column.type
    if pa.types.is_date32(kind) or pa.types.is_date64(kind):
        column = pc.cast(column, pa.date32())
        days = pc.fill_null(pc.cast(column, pa.int32()), -EPOCH_ORDINAL - 1)
        return np.asarray(days.to_numpy(zero_copy_only=False), dtype=np.int64) + EPOCH_ORDINAL
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        message = f"column {shown(name)} is {kind}: expected dates or YYYY-MM-DD text"
        raise BadRecords(JobProblem("source.date_column", COLUMN_INVALID, message))
    unique = pc.unique(column).drop_null()
    ordinals = []
    for text in unique.to_pylist():
        try:
            ordinals.append(parse_day(text.strip()).toordinal())
        except ValueError as exc:
            row = pc.index(column, text).as_py()
            message = f"{_where(part)}, record {row + 1}: {exc}"
            raise BadRecords(JobProblem("source.date_column", DATE_INVALID, message)) from None
    position = pc.fill_null(pc.index_in(column, value_set=unique), -1)
    index = np.asarray(position.to_numpy(zero_copy_only=False), dtype=np.int64)
    table = np.array([*ordinals, -1], dtype=np.int64)
    return table[index]


def _where(part: Part) -> str:
    """A partition as people find it: the file, and the row group or byte offset."""
    if part.kind == "parquet":
        return f"{part.path} (row group {part.row_group})"
    return f"{part.path} (bytes from {part.start})"


# Coordinates ---------------------------------------------------------------------------------


def to_wgs84_arrays(xs: FloatArray, ys: FloatArray, crs: str) -> tuple[FloatArray, FloatArray]:
    """Points given in `crs` in WGS84 lon/lat: the lookup's own names through
    `domain.coordinates.to_wgs84` (point by point: the same code as /v1/lookup), any other
    CRS through pyproj."""
    name = crs.strip()
    if name.lower() in LOOKUP_CRS:
        if name.lower() == "wgs84":
            return xs, ys
        convert = np.frompyfunc(lambda x, y: to_wgs84(x, y, name.lower()), 2, 1)
        pairs = convert(xs, ys)
        found = np.array(pairs.tolist(), dtype=np.float64).reshape(-1, 2)
        return found[:, 0].copy(), found[:, 1].copy()
    transformer = _transformer(name)
    if transformer is None:
        return xs, ys
    lon, lat = transformer.transform(xs, ys)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


@functools.cache
def _transformer(crs: str) -> Any:
    """A transformer from `crs` to WGS84 lon/lat (None: already WGS84 lon/lat)."""
    from pyproj import CRS, Transformer

    given = CRS.from_user_input(crs)
    wgs84 = CRS.from_epsg(4326)
    if given == wgs84:
        return None
    return Transformer.from_crs(given, wgs84, always_xy=True)


def check_crs(crs: str) -> JobProblem | None:
    """A problem if neither the lookup nor pyproj knows `crs`."""
    if crs.strip().lower() in LOOKUP_CRS:
        return None
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        given = CRS.from_user_input(crs.strip())
    except CRSError:
        known = ", ".join(LOOKUP_CRS)
        message = f"unknown CRS {crs!r}; give {known} or one pyproj knows, e.g. EPSG:4547"
        return JobProblem("source.crs", CRS_UNKNOWN, message)
    if given.is_geographic and given.to_epsg() != 4326 and given.ellipsoid is None:
        return JobProblem("source.crs", CRS_UNKNOWN, f"CRS {crs!r} has no ellipsoid")
    return None
