"""What a bulk assignment job is asked, what it reports, and how a request is refused.

The contract between the engine (`bulk.run.run_assignment`) and its callers (the CLI's
`jurisdictions assign`, the HTTP jobs API). Everything here is plain data, cheap to import
(no numpy, pyarrow or dask), so that callers may validate and store a job before any engine
starts. A request the engine cannot run raises `InvalidJob`, naming every field at fault.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from domain.text import describe, unstorable_at
from domain.timeline import parse_day

#: What a job's CRS may be besides an EPSG code: the lookup service's own names (`crs` of
#: /v1/lookup): WGS84, and the Chinese map offsets GCJ-02 (Amap, Tencent) and BD-09 (Baidu).
LOOKUP_CRS = ("wgs84", "gcj02", "bd09")
#: The longest column name a job may ask for (Parquet allows any; no real one is longer).
MAX_COLUMN_NAME = 256
#: How much of a name a message shows (the rest is counted, not printed).
SHOWN_CHARS = 60


def shown(name: str, limit: int = SHOWN_CHARS) -> str:
    """A name as a message may carry it: quoted with control characters escaped (Python's
    `repr`: a NUL as \\x00, an ESC as \\x1b, so nothing reaches a terminal or a log raw), and
    cut to `limit` characters with the length said."""
    if len(name) <= limit:
        return repr(name)
    return f"{name[:limit]!r}… ({len(name)} characters)"


def column_name_problem(name: str) -> str | None:
    """Why a column name cannot be asked for (None: it can): a control character (a NUL
    cannot even be stored in a job's record) or more than `MAX_COLUMN_NAME` characters."""
    if len(name) > MAX_COLUMN_NAME:
        return f"the column name {shown(name)} is longer than {MAX_COLUMN_NAME} characters"
    index = unstorable_at(name)
    if index is not None:
        return (
            f"the column name {shown(name)} holds a control character or a lone surrogate "
            f"({describe(name[index])}); rename the column in the records"
        )
    return None


def storable_problem(value: str) -> str | None:
    """Why a job's text cannot be kept in its record (the register's one text rule,
    `domain.text`: PostgreSQL stores no NUL, UTF-8 no lone surrogate), or None."""
    index = unstorable_at(value)
    if index is None:
        return None
    return (
        f"{shown(value)} holds a control character or a lone surrogate "
        f"({describe(value[index])}) at {index}"
    )


@dataclass(frozen=True)
class RecordSource:
    """Where the records are and which columns say what.

    `path` is one file or a directory of many (read in name order); each file is Parquet or
    GeoParquet when it starts with the Parquet magic `PAR1`, otherwise CSV with a header.
    `crs` is one of `LOOKUP_CRS` or anything pyproj knows (`EPSG:4547`); lon/lat are then
    the x/y of that CRS. A GeoParquet file without the lon and lat columns gives its points
    by its primary geometry column (WKB points, in `crs`). With `date_column`, each record is
    assigned on its own date.
    """

    path: str
    id_column: str = "id"
    lon_column: str = "lon"
    lat_column: str = "lat"
    crs: str = "EPSG:4326"
    date_column: str | None = None


@dataclass(frozen=True)
class AssignmentSpec:
    """One job: assign (or count) the records of `source`, writing under `output`.

    `dates`: one date for every record; several only with `aggregate` (the counts side by
    side, one column per date); none: each record's own `source.date_column`. `levels`: the
    levels to answer (none: every level of the register). `aggregate`: count records (and
    sum `sum_columns`) per unit and date instead of writing one row per record.
    `scheduler`: a Dask scheduler address (tcp://host:8786); None starts a LocalCluster on
    this machine (`workers` processes, default one per core).
    """

    source: RecordSource
    output: str
    dates: tuple[date, ...] = ()
    levels: tuple[str, ...] = ()
    aggregate: bool = False
    sum_columns: tuple[str, ...] = ()
    scheduler: str | None = None
    workers: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (dates as YYYY-MM-DD): what a job record stores; `spec_from_dict`
        reads it back."""
        found = asdict(self)
        found["dates"] = [d.isoformat() for d in self.dates]
        found["levels"] = list(self.levels)
        found["sum_columns"] = list(self.sum_columns)
        return found


@dataclass(frozen=True)
class Progress:
    """How far a running job is: reported after each partition."""

    partitions_done: int
    partitions_total: int
    records_done: int


@dataclass(frozen=True)
class AssignmentResult:
    """What a finished job wrote.

    `files`: the files written, relative to `output` (the Parquet parts of the assignment, or
    the aggregate's Parquet and CSV). `records`: records read; `outside`: of these, records
    in no unit on any level asked (kept, with null codes; for aggregates, counted under an
    empty code). `engine`: where it ran (`LocalCluster(2 workers)` or the scheduler address).
    """

    output: str
    files: tuple[str, ...]
    records: int
    outside: int
    partitions: int
    seconds: float
    engine: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        found = asdict(self)
        found["files"] = list(self.files)
        return found


@dataclass(frozen=True)
class JobProblem:
    """One reason a job cannot run: the field at fault (a dotted path as in the JSON body,
    e.g. `source.lon_column`, `dates[1]`), a code from the API's vocabulary, and a message
    naming the value and what would be accepted."""

    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """JSON-ready."""
        return {"field": self.field, "code": self.code, "message": self.message}


#: The problem codes `InvalidJob` carries (the HTTP layer answers 422 with them).
PATH_MISSING = "path_missing"
FORMAT_UNKNOWN = "format_unknown"
COLUMN_MISSING = "column_missing"
COLUMN_INVALID = "column_invalid"
CRS_UNKNOWN = "crs_unknown"
DATE_INVALID = "date_invalid"
LEVEL_UNKNOWN = "level_unknown"
SPEC_INVALID = "invalid_request"
SCHEDULER_UNREACHABLE = "scheduler_unreachable"
#: Every code above, for the API's table of error codes.
PROBLEM_CODES = (
    PATH_MISSING,
    FORMAT_UNKNOWN,
    COLUMN_MISSING,
    COLUMN_INVALID,
    CRS_UNKNOWN,
    DATE_INVALID,
    LEVEL_UNKNOWN,
    SPEC_INVALID,
    SCHEDULER_UNREACHABLE,
)


@dataclass
class InvalidJob(Exception):
    """The job cannot run as asked; `problems` names each field at fault (nothing written)."""

    problems: list[JobProblem] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"{p.field}: {p.message}" for p in self.problems)


# Reading a request ------------------------------------------------------------------------------


def spec_from_dict(body: Mapping[str, Any]) -> AssignmentSpec:
    """An `AssignmentSpec` from JSON (the HTTP body, a stored job record); `InvalidJob`
    names every field at fault. Only the shape is checked here; `bulk.check.check_spec`
    checks the spec against the data and the register."""
    problems: list[JobProblem] = []

    def refused(where: str, value: str, column: bool) -> bool:
        """Whether `value` is refused here (and said so) by the register's text rule; a column
        the records must have is left to `check_shape` (the column-name rule), which the CLI's
        specs pass through too."""
        why = None if column else storable_problem(value)
        if why is not None:
            problems.append(JobProblem(where, SPEC_INVALID, f"{where} {why}"))
        return why is not None

    def text(
        where: Mapping[str, Any], key: str, prefix: str, default: str | None, column: bool = False
    ) -> str | None:
        value = where.get(key, default)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            problems.append(JobProblem(prefix + key, SPEC_INVALID, f"{key} must be a string"))
            return default
        if value is not None and refused(prefix + key, value, column):
            return default
        return value

    def strings(key: str, column: bool = False) -> tuple[str, ...]:
        value = body.get(key, [])
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
            problems.append(JobProblem(key, SPEC_INVALID, f"{key} must be a list of strings"))
            return ()
        # Every item is checked, so that each refused one is named.
        if [i for i, v in enumerate(value) if refused(f"{key}[{i}]", v, column)]:
            return ()
        return tuple(v.strip() for v in value)

    source = body.get("source")
    if not isinstance(source, Mapping):
        problems.append(JobProblem("source", SPEC_INVALID, "source must be an object with path"))
        source = {}
    path = text(source, "path", "source.", None)
    if "path" not in source and isinstance(body.get("source"), Mapping):
        problems.append(JobProblem("source.path", PATH_MISSING, "source.path is required"))
    record_source = RecordSource(
        path=path or "",
        id_column=text(source, "id_column", "source.", "id", True) or "id",
        lon_column=text(source, "lon_column", "source.", "lon", True) or "lon",
        lat_column=text(source, "lat_column", "source.", "lat", True) or "lat",
        crs=text(source, "crs", "source.", "EPSG:4326") or "EPSG:4326",
        date_column=text(source, "date_column", "source.", None, True),
    )
    output = text(body, "output", "", None)
    if output is None:
        problems.append(JobProblem("output", SPEC_INVALID, "output (a directory) is required"))
    dates: list[date] = []
    raw_dates = body.get("dates", [])
    if isinstance(raw_dates, str):
        raw_dates = [raw_dates]
    if not isinstance(raw_dates, Sequence):
        problems.append(JobProblem("dates", DATE_INVALID, "dates must be a list of YYYY-MM-DD"))
        raw_dates = []
    for i, raw in enumerate(raw_dates):
        try:
            dates.append(parse_day(raw) if isinstance(raw, str) else parse_day(repr(raw)))
        except ValueError as exc:
            problems.append(JobProblem(f"dates[{i}]", DATE_INVALID, str(exc)))
    aggregate = body.get("aggregate", False)
    if not isinstance(aggregate, bool):
        problems.append(JobProblem("aggregate", SPEC_INVALID, "aggregate must be true or false"))
        aggregate = False
    workers = body.get("workers")
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        problems.append(JobProblem("workers", SPEC_INVALID, "workers must be a positive integer"))
        workers = None
    spec = AssignmentSpec(
        source=record_source,
        output=output or "",
        dates=tuple(dates),
        levels=strings("levels"),
        aggregate=aggregate,
        sum_columns=strings("sum_columns", True),
        scheduler=text(body, "scheduler", "", None),
        workers=workers,
    )
    if problems:
        raise InvalidJob(problems)
    return spec


def check_shape(spec: AssignmentSpec) -> list[JobProblem]:
    """Problems of the spec on its own (no file or register read): dates against the date
    column and `aggregate`, sums without `aggregate`, repeated names, the scheduler address."""
    problems: list[JobProblem] = []
    if spec.source.date_column is not None and spec.dates:
        problems.append(
            JobProblem("dates", SPEC_INVALID, "give either dates or source.date_column, not both")
        )
    if spec.source.date_column is None and not spec.dates:
        problems.append(
            JobProblem(
                "dates", DATE_INVALID, "give a date (dates) or the records' own (date_column)"
            )
        )
    if len(spec.dates) > 1 and not spec.aggregate:
        problems.append(
            JobProblem(
                "dates",
                SPEC_INVALID,
                f"{len(spec.dates)} dates: several dates are for aggregates (side by side); "
                "an assignment takes one date, or each record's own date_column",
            )
        )
    if len(set(spec.dates)) != len(spec.dates):
        problems.append(JobProblem("dates", DATE_INVALID, "a date is given twice"))
    if spec.sum_columns and not spec.aggregate:
        problems.append(JobProblem("sum_columns", SPEC_INVALID, "sum_columns need aggregate: true"))
    for name, values in (("levels", spec.levels), ("sum_columns", spec.sum_columns)):
        if len(set(values)) != len(values):
            problems.append(JobProblem(name, SPEC_INVALID, f"{name} names one twice"))
    if spec.scheduler is not None and "://" not in spec.scheduler:
        problems.append(
            JobProblem(
                "scheduler",
                SPEC_INVALID,
                f"{shown(spec.scheduler)} is not a scheduler address such as tcp://10.0.0.5:8786",
            )
        )
    if spec.workers is not None and spec.workers < 1:
        problems.append(JobProblem("workers", SPEC_INVALID, "workers must be at least 1"))
    source = spec.source
    columns: list[tuple[str, str | None]] = [
        ("source.id_column", source.id_column),
        ("source.lon_column", source.lon_column),
        ("source.lat_column", source.lat_column),
        ("source.date_column", source.date_column),
        *((f"sum_columns[{i}]", column) for i, column in enumerate(spec.sum_columns)),
    ]
    for where, asked in columns:
        why = None if asked is None else column_name_problem(asked)
        if why is not None:
            problems.append(JobProblem(where, COLUMN_INVALID, why))
    if not spec.output:
        problems.append(JobProblem("output", SPEC_INVALID, "output (a directory) is required"))
    return problems
