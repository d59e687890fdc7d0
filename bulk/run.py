"""`run_assignment`: one bulk job, from the records to the Parquet written by the workers.

1. The spec is checked against the register's levels and the records' columns (`InvalidJob`,
   before anything is written).
2. The client reads the layers once (`bulk.layers.read_layers`) and scatters them to every
   worker (`broadcast=True`): one copy per worker process, whatever the number of partitions.
3. One task per partition (`bulk.tasks.run_part`), on a `LocalCluster` (one single-threaded
   process per core) or on the cluster at `spec.scheduler`. Each task writes its Parquet part
   into a staging directory under `output`; aggregates come back as small counts per unit.
4. On success the parts move into `output` (replacing an earlier run's), with `_job.json`; on
   failure the staging directory is removed: a failed job leaves nothing behind.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from bulk.layers import Layers, read_layers
from bulk.source import Columns, Part, check_columns, discover
from bulk.spec import (
    LEVEL_UNKNOWN,
    SCHEDULER_UNREACHABLE,
    SPEC_INVALID,
    AssignmentResult,
    AssignmentSpec,
    InvalidJob,
    JobProblem,
    Progress,
    check_shape,
)
from bulk.tasks import BadRecords, PartOutcome, TaskSpec, check_crs, run_part
from domain.levels import LevelScheme

#: What a finished job leaves in `output` (an earlier run's are replaced).
RESULT_PATTERNS = ("part-*.parquet", "aggregate.parquet", "aggregate.csv", "_job.json")
AGGREGATE_FILES = ("aggregate.parquet", "aggregate.csv")
#: Seconds to wait for a scheduler given by address.
CONNECT_TIMEOUT = 15


def check_spec(spec: AssignmentSpec, levels: LevelScheme) -> tuple[list[Part], Columns]:
    """The partitions and columns of the records, or `InvalidJob` naming every field at
    fault: the spec's shape, the levels, the CRS, the path, the columns."""
    problems = check_shape(spec)
    for i, level in enumerate(spec.levels):
        if level not in levels:
            message = f"no level {level!r}; levels are {', '.join(levels.names)}"
            problems.append(JobProblem(f"levels[{i}]", LEVEL_UNKNOWN, message))
    crs = check_crs(spec.source.crs)
    if crs is not None:
        problems.append(crs)
    output = Path(spec.output)
    if spec.output and output.exists() and not output.is_dir():
        problems.append(JobProblem("output", SPEC_INVALID, f"{spec.output!r} is not a directory"))
    parts, columns, found = discover(spec.source)
    problems += found
    if not found:
        problems += check_columns(spec.source, columns, spec.sum_columns)
        if Path(spec.output).resolve() == Path(spec.source.path).resolve():
            message = "output must not be the records' own directory"
            problems.append(JobProblem("output", SPEC_INVALID, message))
    if problems:
        raise InvalidJob(problems)
    return parts, columns


def run_assignment(
    spec: AssignmentSpec,
    database_url: str,
    progress: Callable[[Progress], None] | None = None,
    *,
    level_scheme: LevelScheme | None = None,
) -> AssignmentResult:
    """Assign (or count) the records of `spec.source` on the register at `database_url`.

    Raises `InvalidJob` (with nothing written) when the spec does not fit the data or the
    register, or when a partition holds a value that is not a date. `progress` is called
    after each partition, in the caller's thread. `level_scheme` defaults to the settings'
    (JL_LEVELS).
    """
    started = time.perf_counter()
    if level_scheme is None:
        from jurisdictions.settings import get_settings

        level_scheme = get_settings().level_scheme
    parts, columns = check_spec(spec, level_scheme)
    layers = read_layers(database_url, level_scheme, spec.dates)
    wanted = tuple(sorted(level_scheme.rank(level) for level in spec.levels)) or tuple(
        range(len(level_scheme.names))
    )
    output = Path(spec.output)
    output.mkdir(parents=True, exist_ok=True)
    staging = output / f".staging-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    metadata = {
        "jurisdictions.job": json.dumps(
            {
                "dates": [d.isoformat() for d in spec.dates] or "own",
                "levels": [level_scheme.names[r] for r in wanted],
                "register_position": layers.position,
            }
        )
    }
    task = TaskSpec(
        source=spec.source,
        days=tuple(d.toordinal() for d in spec.dates),
        wanted=wanted,
        aggregate=spec.aggregate,
        sum_columns=spec.sum_columns,
        staging=str(staging.resolve()),
        metadata=metadata,
        geometry=columns.geometry if columns.points_from_geometry(spec.source) else None,
    )
    try:
        with _client(spec) as (client, engine):
            outcomes = _run_tasks(client, layers, task, parts, progress)
        if spec.aggregate:
            files = _write_aggregate(spec, layers, wanted, outcomes, staging)
        else:
            files = [o.file for o in sorted(outcomes, key=lambda o: o.index) if o.file]
        records = sum(o.records for o in outcomes)
        outside = sum(o.outside for o in outcomes)
        result = AssignmentResult(
            output=str(output),
            files=(*files, "_job.json"),
            records=records,
            outside=outside,
            partitions=len(parts),
            seconds=round(time.perf_counter() - started, 3),
            engine=engine,
        )
        summary = {
            "spec": spec.as_dict(),
            "result": result.as_dict(),
            "register_position": layers.position,
        }
        (staging / "_job.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        _publish(staging, output)
        return result
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def _client(spec: AssignmentSpec) -> Iterator[tuple[Any, str]]:
    """A Dask client: to `spec.scheduler`, or to a LocalCluster of single-threaded worker
    processes (one per core unless `spec.workers` says), closed afterwards."""
    dask = _distributed()
    if spec.scheduler is not None:
        try:
            client = dask.Client(spec.scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            message = f"no Dask scheduler answers at {spec.scheduler} ({exc})"
            raise InvalidJob([JobProblem("scheduler", SCHEDULER_UNREACHABLE, message)]) from exc
        try:
            if spec.workers is not None:
                client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
            yield client, spec.scheduler
        finally:
            client.close()
        return
    workers = spec.workers or os.cpu_count() or 1
    with _quiet():
        cluster = dask.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        try:
            with dask.Client(cluster) as client:
                yield client, f"LocalCluster({workers} workers)"
        finally:
            cluster.close()


@contextmanager
def _quiet() -> Iterator[None]:
    """An embedded cluster's scheduler logs in this process, at INFO, down to the tracebacks
    of connections closed at shutdown: only errors are worth a user's terminal."""
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _run_tasks(
    client: Any,
    layers: Layers,
    task: TaskSpec,
    parts: list[Part],
    progress: Callable[[Progress], None] | None,
) -> list[PartOutcome]:
    """One task per partition; the layers go to every worker once."""
    shipped = client.scatter(layers, broadcast=True, hash=False)
    futures = [
        client.submit(run_part, shipped, task, part, key=f"assign-{layers.token}-{part.index}")
        for part in parts
    ]
    outcomes: list[PartOutcome] = []
    records = 0
    if progress is not None:
        progress(Progress(0, len(parts), 0))
    try:
        for future in _distributed().as_completed(futures):
            try:
                outcome: PartOutcome = future.result()
            except BadRecords as exc:
                raise InvalidJob([exc.problem]) from None
            future.release()
            outcomes.append(outcome)
            records += outcome.records
            if progress is not None:
                progress(Progress(len(outcomes), len(parts), records))
    finally:
        client.cancel([f for f in futures if not f.done()])
        client.cancel(shipped)
    return outcomes


def _write_aggregate(
    spec: AssignmentSpec,
    layers: Layers,
    wanted: tuple[int, ...],
    outcomes: list[PartOutcome],
    staging: Path,
) -> list[str]:
    """Sum the partitions' counts per date, level and unit code; write Parquet and CSV.

    One row per (level, code, date): `records` and one `sum_<column>` per summed column;
    `code` and `name` are empty for records in no unit of that level. With records' own
    dates, `date` is empty and a unit's rows on all its dates are summed.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    units = layers.units
    totals: dict[tuple[int, int, str | None], np.ndarray[Any, Any]] = {}
    names: dict[tuple[int, int, str | None], str | None] = {}
    for outcome in outcomes:
        groups = outcome.groups or {}
        if not groups:
            continue
        values = np.column_stack([groups["count"], *groups["sums"]]).astype(np.float64)
        for i, (d, rank, version) in enumerate(
            zip(groups["date_index"], groups["rank"], groups["version"], strict=True)
        ):
            code = units.code[version] if version >= 0 else None
            key = (int(d), int(rank), code)
            if key in totals:
                totals[key] = totals[key] + values[i]
            else:
                totals[key] = values[i].copy()
                names[key] = units.hits[version].name if version >= 0 else None
    dates: list[date | None] = list(spec.dates) or [None]
    ordered = sorted(totals, key=lambda k: (k[1], k[2] is None, k[2] or "", k[0]))
    columns: dict[str, Any] = {
        "level": pa.array([layers.levels.names[k[1]] for k in ordered], pa.string()),
        "code": pa.array([k[2] for k in ordered], pa.string()),
        "name": pa.array([names[k] for k in ordered], pa.string()),
        "date": pa.array([dates[k[0]] for k in ordered], pa.date32()),
        "records": pa.array([int(totals[k][0]) for k in ordered], pa.int64()),
    }
    for j, column in enumerate(spec.sum_columns, start=1):
        columns[f"sum_{column}"] = pa.array([float(totals[k][j]) for k in ordered], pa.float64())
    table = pa.table(columns)
    table = table.replace_schema_metadata(
        {"jurisdictions.levels": ",".join(layers.levels.names[r] for r in wanted)}
    )
    pq.write_table(table, staging / "aggregate.parquet")
    pacsv.write_csv(table, staging / "aggregate.csv")
    return list(AGGREGATE_FILES)


def _distributed() -> Any:
    """`dask.distributed`, imported when a job runs (its stubs are partial: used as Any)."""
    import distributed

    return distributed


def _publish(staging: Path, output: Path) -> None:
    """Move the finished files into `output`, replacing an earlier run's results."""
    for pattern in RESULT_PATTERNS:
        for old in output.glob(pattern):
            old.unlink()
    for new in sorted(staging.iterdir()):
        new.replace(output / new.name)
