"""Reading the records: files found, formats told by content, partitions, columns checked.

A partition is what one task reads and answers: a Parquet row group, or a byte range of a CSV
file cut at line ends (the way Dask's own `read_csv` cuts: a quoted field holding a newline is
not supported). Partitions are read where they are answered, on the workers; the client only
lists files and reads their schemas or header lines.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bulk.spec import (
    COLUMN_INVALID,
    COLUMN_MISSING,
    FORMAT_UNKNOWN,
    PATH_MISSING,
    JobProblem,
    RecordSource,
    column_name_problem,
    shown,
)

PARQUET_MAGIC = b"PAR1"
#: Bytes of CSV per partition (about half a million records of id, lon, lat, date).
CSV_PARTITION_BYTES = 32 * 1024 * 1024
#: In a directory, files with these suffixes (or none) are records; others (README.md, a
#: manifest, checksums) are left alone, as are names starting with "." or "_".
DATA_SUFFIXES = {"", ".parquet", ".pq", ".geoparquet", ".csv", ".txt", ".tsv"}

Kind = Literal["parquet", "csv"]


@dataclass(frozen=True)
class Part:
    """One partition: a Parquet row group, or the bytes [start, end) of a CSV file."""

    index: int
    path: str
    kind: Kind
    row_group: int = 0
    start: int = 0
    end: int = 0
    #: Known for Parquet (from the footer), None for CSV.
    rows: int | None = None


@dataclass(frozen=True)
class Columns:
    """The columns of the records (from the first file) and their Arrow types ("" for CSV)."""

    names: tuple[str, ...]
    types: dict[str, str]
    #: GeoParquet's primary geometry column (from its "geo" metadata), if any.
    geometry: str | None = None

    def points_from_geometry(self, source: RecordSource) -> bool:
        """Whether the points come from GeoParquet geometries: the file has them and
        neither the lon nor the lat column exists."""
        return (
            self.geometry is not None
            and source.lon_column not in self.names
            and source.lat_column not in self.names
        )


def data_files(path: Path) -> list[Path]:
    """The record files: `path` itself, or the data files below a directory, in name order."""
    if path.is_file():
        return [path]
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
        and p.suffix.lower() in DATA_SUFFIXES
    )


def kind_of(path: Path) -> Kind:
    """Parquet if the file starts with the Parquet magic, otherwise CSV."""
    with path.open("rb") as handle:
        return "parquet" if handle.read(4) == PARQUET_MAGIC else "csv"


def discover(source: RecordSource) -> tuple[list[Part], Columns, list[JobProblem]]:
    """The partitions of `source` and its columns; problems name `source.path` when the
    records cannot be read (missing, empty, neither Parquet nor CSV)."""
    import pyarrow.parquet as pq

    where = Path(source.path)
    if not source.path or not where.exists():
        problem = JobProblem("source.path", PATH_MISSING, f"no file or directory {source.path!r}")
        return [], Columns((), {}), [problem]
    files = data_files(where)
    if not files:
        message = f"{source.path!r} holds no .parquet or .csv file"
        return [], Columns((), {}), [JobProblem("source.path", PATH_MISSING, message)]
    parts: list[Part] = []
    columns: Columns | None = None
    for file in files:
        try:
            kind = kind_of(file)
            if kind == "parquet":
                meta = pq.ParquetFile(file)
                found = Columns(
                    tuple(meta.schema_arrow.names),
                    {f.name: str(f.type) for f in meta.schema_arrow},
                    geo_column(meta.schema_arrow.metadata),
                )
                for group in range(meta.metadata.num_row_groups):
                    rows = meta.metadata.row_group(group).num_rows
                    parts.append(Part(len(parts), str(file), kind, row_group=group, rows=rows))
            else:
                found = Columns(csv_header(file), {})
                size = file.stat().st_size
                for start in range(0, max(size, 1), CSV_PARTITION_BYTES):
                    end = min(start + CSV_PARTITION_BYTES, size)
                    parts.append(Part(len(parts), str(file), kind, start=start, end=end))
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            message = f"{file}: not readable as Parquet or CSV ({_first_line(exc)})"
            return [], Columns((), {}), [JobProblem("source.path", FORMAT_UNKNOWN, message)]
        if columns is None:
            columns = found
        elif set(found.names) != set(columns.names):
            message = (
                f"{file} has the columns {listed(found.names)}, unlike "
                f"{files[0]} ({listed(columns.names)}): all files must share their columns"
            )
            return [], Columns((), {}), [JobProblem("source.path", FORMAT_UNKNOWN, message)]
    assert columns is not None
    return parts, columns, []


def listed(names: tuple[str, ...], most: int = 20) -> str:
    """Column names for a message: each `shown` (escaped, cut), at most `most` of them."""
    found = ", ".join(shown(name) for name in names[:most])
    return found + (f" and {len(names) - most} more" if len(names) > most else "")


def geo_column(metadata: dict[bytes, bytes] | None) -> str | None:
    """The primary geometry column named by GeoParquet's "geo" metadata (None: plain Parquet)."""
    raw = (metadata or {}).get(b"geo")
    if raw is None:
        return None
    try:
        found = json.loads(raw)
    except ValueError:
        return None
    primary = found.get("primary_column") if isinstance(found, dict) else None
    return primary if isinstance(primary, str) else None


def csv_header(file: Path) -> tuple[str, ...]:
    """The column names of a CSV file's first line (UTF-8, a BOM allowed)."""
    with file.open("rb") as handle:
        first = handle.readline(1024 * 1024)
    if not first.strip():
        raise ValueError("empty first line (a CSV file needs a header)")
    if b"\x00" in first:
        raise ValueError("binary content")
    text = first.decode("utf-8-sig")
    names = next(csv.reader([text]))
    if len(names) < 2:
        raise ValueError(f"the header {text.strip()[:80]!r} has fewer than two columns")
    return tuple(name.strip() for name in names)


NUMERIC = ("int", "uint", "float", "double", "decimal")
DATES = ("date", "timestamp", "string", "large_string")


def check_columns(
    source: RecordSource, columns: Columns, sums: tuple[str, ...]
) -> list[JobProblem]:
    """Problems of the column names (and, for Parquet, types) the job reads."""
    problems: list[JobProblem] = []
    known = listed(columns.names)
    from_geometry = columns.points_from_geometry(source)
    wanted: list[tuple[str, str | None, tuple[str, ...]]] = [
        ("source.id_column", source.id_column, ()),
        ("source.lon_column", None if from_geometry else source.lon_column, NUMERIC),
        ("source.lat_column", None if from_geometry else source.lat_column, NUMERIC),
        ("source.date_column", source.date_column, DATES),
    ]
    wanted += [(f"sum_columns[{i}]", name, NUMERIC) for i, name in enumerate(sums)]
    for field_name, name, types in wanted:
        if name is None or column_name_problem(name) is not None:
            continue  # none asked, or refused by its name alone (`check_shape`)
        if name not in columns.names:
            message = f"no column {shown(name)} in the records; columns are {known}"
            problems.append(JobProblem(field_name, COLUMN_MISSING, message))
            continue
        found = columns.types.get(name, "")
        if found and types and not found.startswith(types):
            message = f"column {shown(name)} is {found}; expected {' or '.join(types)}"
            problems.append(JobProblem(field_name, COLUMN_INVALID, message))
    return problems


# On the workers -------------------------------------------------------------------------------


def read_part(part: Part, names: list[str], numeric: set[str]) -> Any:
    """The `names` columns of one partition as an Arrow table; in CSV, `numeric` columns are
    read as float64 and the others as text (CSV carries no types: one schema for all parts)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if part.kind == "parquet":
        return pq.ParquetFile(part.path).read_row_group(part.row_group, columns=names)
    with Path(part.path).open("rb") as handle:
        header = handle.readline()
        begin = _line_start(handle, max(part.start, len(header)))
        end = _line_start(handle, part.end) if part.end > begin else begin
        handle.seek(begin)
        body = handle.read(max(end - begin, 0))
    types = {n: pa.float64() if n in numeric else pa.string() for n in names}
    return pacsv.read_csv(
        io.BytesIO(header + body),
        read_options=pacsv.ReadOptions(use_threads=False),
        convert_options=pacsv.ConvertOptions(
            include_columns=names, column_types=types, strings_can_be_null=True
        ),
    )


def _line_start(handle: Any, offset: int) -> int:
    """The first line start at or after `offset` (a line starts after a newline)."""
    if offset <= 0:
        return 0
    handle.seek(offset - 1)
    if handle.read(1) == b"\n":
        return offset
    rest = handle.readline()
    return int(offset + len(rest))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
