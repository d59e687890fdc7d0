"""Batch answers as columns (Arrow IPC stream or Parquet), for clients that read tables.

A large batch answered in JSON spends most of its time writing text; a table is built
straight from the lookup index's arrays instead (`Resolved.found`, `Resolved.boundary`): a
level's codes and names are a dictionary column whose indices are the points' units, so no
Python object is made per point. The answer has one row per input point, in input order:

- `index` (int64): the point's position in the request;
- `id`: the point's id (int64 when every id is an integer, else text);
- per asked level, top down: `{level}` (the unit's code), `{level}_name`, and
  `{level}_on_boundary` (the point lies on that unit's boundary); nulls where no unit holds it;
- `on_boundary`: on the boundary of any of those units;
- `error`, `error_message`: a point that could not be looked up (its error code), else null.

The batch's date and hint travel in the schema's metadata (`date`, `hint`), as the JSON
answer's envelope does.
"""

from __future__ import annotations

import io
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from projections.lookup import UnitHit
from projections.lookup_index import Epoch, Resolved
from projections.lookup_service import BatchResult

ARROW_STREAM = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
#: Media types a batch may be answered in, each to its format.
FORMATS = {
    "application/json": "json",
    ARROW_STREAM: "arrow",
    PARQUET: "parquet",
    "application/x-parquet": "parquet",
}
MEDIA_TYPES = {"json": "application/json", "arrow": ARROW_STREAM, "parquet": PARQUET}

IntArray = np.ndarray[Any, np.dtype[np.int64]]


def read_points(body: bytes) -> pa.Table:
    """The points of a batch sent as an Arrow IPC stream: `lon`, `lat` as float64 and `id`
    (if any) as sent; `ApiError`-free: raises `BadTable` naming what is wrong."""
    try:
        table = pa.ipc.open_stream(body).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise BadTable("body", f"not an Arrow IPC stream: {exc}") from exc
    for name in ("lon", "lat"):
        if name not in table.column_names:
            raise BadTable(f"body.{name}", f"the table has no column {name!r}")
        if not pa.types.is_integer(table.schema.field(name).type) and not pa.types.is_floating(
            table.schema.field(name).type
        ):
            raise BadTable(f"body.{name}", f"column {name!r} must hold numbers")
        table = table.set_column(
            table.column_names.index(name), name, table.column(name).cast(pa.float64())
        )
    if "id" in table.column_names:
        kind = table.schema.field("id").type
        if not (pa.types.is_integer(kind) or pa.types.is_string(kind) or pa.types.is_null(kind)):
            raise BadTable("body.id", "column 'id' must hold integers or text")
    extra = [n for n in table.column_names if n not in ("id", "lon", "lat")]
    if extra:
        raise BadTable(f"body.{extra[0]}", "the table may only have the columns id, lon, lat")
    return table


class BadTable(ValueError):
    """A batch table that cannot be read: where (`location`) and why."""

    def __init__(self, location: str, message: str) -> None:
        super().__init__(message)
        self.location = location


def negotiate(accept: str) -> str | None:
    """The format of the best media type an Accept header admits (JSON when it admits any,
    or says nothing); None when none of ours is acceptable (406)."""
    if not accept.strip():
        return "json"
    choices: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        if quality <= 0:
            continue
        if media in FORMATS:
            choices.append((-quality, position, FORMATS[media]))
        elif media in ("*/*", "application/*"):
            choices.append((-quality, position, "json"))
    return min(choices)[2] if choices else None


@dataclass(frozen=True)
class LevelColumns:
    """One level's members in an epoch as Arrow dictionaries, and where each version sits."""

    codes: pa.Array
    names: pa.Array
    #: Version number -> position among the level's members (-1: not a member).
    position: IntArray


class EpochColumns:
    """Dictionaries per epoch and level, made on first need and dropped with the epoch."""

    def __init__(self) -> None:
        self._by_epoch: weakref.WeakKeyDictionary[Epoch, dict[int, LevelColumns]]
        self._by_epoch = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def of(self, epoch: Epoch, rank: int) -> LevelColumns | None:
        """Level `rank`'s dictionaries in `epoch` (None when the level has no live unit)."""
        with self._lock:
            levels = self._by_epoch.setdefault(epoch, {})
        found = levels.get(rank)
        if found is None:
            index = epoch.per_level[rank]
            if index is None:
                return None
            units = epoch.units
            members = index.members
            position = np.full(units.size, -1, dtype=np.int64)
            position[members] = np.arange(len(members), dtype=np.int64)
            names = [units.hits[v].name for v in members.tolist()]
            found = LevelColumns(
                pa.array(index.codes, type=pa.string()), pa.array(names, pa.string()), position
            )
            levels[rank] = found
        return found


COLUMNS = EpochColumns()


def _dictionary(indices: IntArray, dictionary: pa.Array) -> pa.Array:
    """A dictionary column (nulls where `indices` < 0); a small batch keeps only the entries
    it uses, so that its answer does not carry a whole level."""
    missing = indices < 0
    if len(indices) < len(dictionary):
        used, inverse = np.unique(indices, return_inverse=True)
        keep = used[used >= 0]
        dictionary = dictionary.take(pa.array(keep))
        indices = inverse.reshape(-1) - (len(used) - len(keep))
    array = pa.array(indices.astype(np.int32), mask=missing)
    return pa.DictionaryArray.from_arrays(array, dictionary)


def _level_columns(
    result: BatchResult, levels: Sequence[str], wanted: Sequence[int]
) -> list[tuple[str, pa.Array]]:
    """Code, name and boundary columns of each wanted level, for the good points."""
    columns: list[tuple[str, pa.Array]] = []
    resolved = result.resolved
    if resolved is not None:
        found, boundary = resolved.found, resolved.boundary
        for rank in wanted:
            name = levels[rank]
            level = COLUMNS.of(resolved.epoch, rank)
            versions = found[:, rank]
            if level is None:
                missing: IntArray = np.full(len(versions), -1, dtype=np.int64)
                empty = pa.array([], pa.string())
                codes = names = _dictionary(missing, empty)
            else:
                local = np.where(versions >= 0, level.position[np.maximum(versions, 0)], -1)
                codes = _dictionary(local, level.codes)
                names = _dictionary(local, level.names)
            on_edge = pa.array(boundary[:, rank], mask=versions < 0)
            columns += [(name, codes), (f"{name}_name", names), (f"{name}_on_boundary", on_edge)]
        return columns
    hits = result.all_units()
    for rank in wanted:
        name = levels[rank]
        chosen: list[UnitHit | None] = [
            next((h for h in found if h.level == name), None) for found in hits
        ]
        columns += [
            (name, pa.array([h.code if h else None for h in chosen], pa.string())),
            (f"{name}_name", pa.array([h.name if h else None for h in chosen], pa.string())),
            (
                f"{name}_on_boundary",
                pa.array([h.on_boundary if h else None for h in chosen], pa.bool_()),
            ),
        ]
    return columns


def _ids(ids: Sequence[Any]) -> pa.Array:
    """Ids as one column: integers when all are, else text."""
    try:
        return pa.array(ids)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if i is None else str(i) for i in ids], pa.string())


def _on_boundary(columns: list[tuple[str, pa.Array]], size: int, result: BatchResult) -> pa.Array:
    resolved: Resolved | None = result.resolved
    if resolved is not None:
        wanted = list(resolved.wanted)
        if not wanted:
            return pa.array(np.zeros(size, dtype=bool))
        return pa.array(resolved.boundary[:, wanted].any(axis=1))
    flags = [a for n, a in columns if n.endswith("_on_boundary")]
    any_edge = np.zeros(size, dtype=bool)
    for flag in flags:
        any_edge |= flag.fill_null(False).to_numpy(zero_copy_only=False)
    return pa.array(any_edge)


def batch_table(
    result: BatchResult,
    ids: Sequence[Any],
    slots: Sequence[int],
    errors: dict[int, dict[str, Any]],
    levels: Sequence[str],
    wanted: Sequence[int],
    day: date,
    hint: str | None,
) -> pa.Table:
    """The batch's answer as a table, one row per input point (see the module's doc)."""
    size = len(ids)
    columns = _level_columns(result, levels, wanted)
    names = ["id", *(n for n, _ in columns), "on_boundary"]
    arrays = [_ids(ids), *(a for _, a in columns), _on_boundary(columns, size, result)]
    table = pa.Table.from_arrays(arrays, names=names)
    total = size + len(errors)
    error_codes: pa.Array = pa.nulls(total, pa.string())
    error_messages: pa.Array = pa.nulls(total, pa.string())
    if errors:
        # Good rows go to their slots; bad ones are null rows with their id and error.
        rows = np.full(total, -1, dtype=np.int64)
        rows[np.asarray(slots, dtype=np.int64)] = np.arange(size, dtype=np.int64)
        table = table.take(pa.array(rows, mask=rows < 0))
        bad = sorted(errors)
        id_values = [None] * total
        for k, slot in enumerate(slots):
            id_values[slot] = ids[k]
        code_values: list[str | None] = [None] * total
        message_values: list[str | None] = [None] * total
        for slot in bad:
            id_values[slot] = errors[slot]["id"]
            code_values[slot] = errors[slot]["error"]["code"]
            message_values[slot] = errors[slot]["error"]["message"]
        table = table.set_column(0, "id", _ids(id_values))
        flags = table.column("on_boundary").fill_null(False)
        table = table.set_column(table.num_columns - 1, "on_boundary", flags)
        error_codes = pa.array(code_values, pa.string())
        error_messages = pa.array(message_values, pa.string())
    table = table.add_column(0, "index", pa.array(np.arange(total, dtype=np.int64)))
    table = table.append_column("error", error_codes)
    table = table.append_column("error_message", error_messages)
    metadata = {"date": day.isoformat(), "hint": hint or ""}
    return table.replace_schema_metadata(metadata)


def encode(table: pa.Table, fmt: str) -> bytes:
    """The table as an Arrow IPC stream or a Parquet file."""
    sink = io.BytesIO()
    if fmt == "arrow":
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    else:
        pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()
