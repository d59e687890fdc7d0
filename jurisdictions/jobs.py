"""Jobs over HTTP: where their files may be, reading a submitted job, and the runner.

- Inputs are read only from inside the configured input directory (`JL_JOBS_INPUT_DIR`): a
  job names a path relative to it, which must resolve (symlinks followed) to a file or
  directory inside it; a directory's files must too. Outputs go to `JL_JOBS_DIR`/<job id>,
  chosen by the server, never by the client.
- `JobRunner` is a background thread of the server process that holds the runner lock (one
  per database): it takes accepted jobs one at a time, oldest first, runs each with
  `bulk.run.run_assignment` (Dask), writes progress into the job's record after every
  partition, and records the result or the error. When it takes the lock, jobs left
  `running` were interrupted by a restart: they are accepted again and re-run from the start
  (their partial output removed), up to `MAX_ATTEMPTS` starts, then failed.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bulk.spec import (
    LEVEL_UNKNOWN,
    PATH_MISSING,
    SPEC_INVALID,
    AssignmentSpec,
    InvalidJob,
    JobProblem,
    Progress,
    check_shape,
    shown,
    spec_from_dict,
)
from domain.levels import LevelScheme
from jurisdictions.settings import Settings
from projections.jobs import JobRecord, JobStore, RunnerLock

LOGGER = logging.getLogger(__name__)

#: Problem code of an input path outside the input directory.
PATH_OUTSIDE = "path_outside"
#: The body fields a client may send (the engine's other fields are the server's to set).
CLIENT_FIELDS = ("source", "dates", "levels", "aggregate", "sum_columns")
SERVER_FIELDS = ("output", "scheduler", "workers")


class JobsNotConfigured(RuntimeError):
    """The server has no job directories configured."""


@dataclass(frozen=True)
class JobDirs:
    """Where jobs read and write, resolved once."""

    inputs: Path
    outputs: Path

    @classmethod
    def of(cls, settings: Settings) -> JobDirs:
        """The configured directories (`JobsNotConfigured` when either is unset); the output
        directory is made if missing, the input directory must exist."""
        if not settings.jobs_dir or not settings.jobs_input_dir:
            msg = "set JL_JOBS_DIR and JL_JOBS_INPUT_DIR to run jobs (docs/jobs.md)"
            raise JobsNotConfigured(msg)
        inputs = Path(settings.jobs_input_dir).resolve()
        if not inputs.is_dir():
            msg = f"JL_JOBS_INPUT_DIR {settings.jobs_input_dir!r} is not a directory"
            raise JobsNotConfigured(msg)
        outputs = Path(settings.jobs_dir).resolve()
        outputs.mkdir(parents=True, exist_ok=True)
        return cls(inputs, outputs)

    def output_of(self, job_id: str) -> Path:
        """A job's output directory."""
        return self.outputs / job_id

    def resolve_input(self, relative: str) -> Path:
        """The input a job names, inside the input directory; `InvalidJob` at
        `source.path` when it is absolute, escapes the directory (`..`, a symlink out), or
        does not exist."""
        where = "source.path"
        if not relative or "\x00" in relative:
            raise _invalid(where, PATH_MISSING, "source.path names no file")
        given = Path(relative)
        if given.is_absolute() or relative.startswith(("~", "\\")):
            message = f"{relative!r} is absolute: name a path relative to the input directory"
            raise _invalid(where, PATH_OUTSIDE, message)
        found = (self.inputs / given).resolve()
        if not found.is_relative_to(self.inputs):
            message = f"{relative!r} leads outside the input directory"
            raise _invalid(where, PATH_OUTSIDE, message)
        if not found.exists():
            raise _invalid(where, PATH_MISSING, f"no file or directory {relative!r}")
        if found.is_dir():
            for inner in found.rglob("*"):
                if not inner.resolve().is_relative_to(self.inputs):
                    name = inner.relative_to(found)
                    message = f"{relative!r} holds {str(name)!r}, which leads outside"
                    raise _invalid(where, PATH_OUTSIDE, message)
        return found


def _invalid(field: str, code: str, message: str) -> InvalidJob:
    return InvalidJob([JobProblem(field, code, message)])


def read_job(body: Mapping[str, Any], levels: LevelScheme) -> dict[str, Any]:
    """A submitted job as it will be stored (the spec's JSON, with the path as given and no
    output yet); `InvalidJob` names every field at fault. The data are checked when the job
    runs (`resolve_input` checks the path first)."""
    problems = [
        JobProblem(name, SPEC_INVALID, f"{name} is set by the server, not by a job")
        for name in SERVER_FIELDS
        if name in body
    ]
    problems += [
        JobProblem(name, SPEC_INVALID, f"unknown field {shown(name)}; a job takes {CLIENT_FIELDS}")
        for name in body
        if name not in CLIENT_FIELDS and name not in SERVER_FIELDS
    ]
    spec: AssignmentSpec | None = None
    try:
        spec = spec_from_dict({**body, "output": "-"})
    except InvalidJob as exc:
        problems += exc.problems
    if spec is not None:
        problems += check_shape(spec)
        for position, level in enumerate(spec.levels):
            if level not in levels:
                known = ", ".join(levels.names)
                message = f"no level {level!r}; levels are {known}"
                problems.append(JobProblem(f"levels[{position}]", LEVEL_UNKNOWN, message))
    if problems:
        raise InvalidJob(problems)
    assert spec is not None
    stored = spec.as_dict()
    del stored["output"], stored["scheduler"], stored["workers"]
    return stored


def runnable_spec(record: JobRecord, dirs: JobDirs, settings: Settings) -> AssignmentSpec:
    """A stored job as the engine takes it: the input resolved inside the input directory
    (again: the directory may have changed since), the output the job's own directory, the
    scheduler the server's."""
    spec = spec_from_dict({**record.spec, "output": str(dirs.output_of(record.id))})
    source = replace(spec.source, path=str(dirs.resolve_input(spec.source.path)))
    scheduler, workers = settings.job_cluster()
    return replace(spec, source=source, scheduler=scheduler, workers=workers)


def check_job(spec: dict[str, Any], dirs: JobDirs, settings: Settings) -> None:
    """A stored-to-be job checked against its data now, as the engine will (columns, CRS,
    files), so that a client learns of a mistake at once: `InvalidJob` names each field."""
    from bulk.run import check_spec

    record = {**spec, "output": str(dirs.outputs / ".checking")}
    runnable = spec_from_dict(record)
    source = replace(runnable.source, path=str(dirs.resolve_input(runnable.source.path)))
    check_spec(replace(runnable, source=source), settings.level_scheme)


#: The aggregate a job with `aggregate` writes (one row per level, code and date).
AGGREGATE_FILE = "aggregate.parquet"


def read_counts(output: Path, level: str | None) -> dict[str, Any]:
    """An aggregate job's counts on one level (default: the first), for the map: each unit's
    records (and sums) per date, and those outside every unit of the level."""
    import pyarrow.parquet as pq

    table = pq.read_table(output / AGGREGATE_FILE)
    every = table.to_pylist()
    levels = list(dict.fromkeys(row["level"] for row in every))
    chosen = level if level is not None else (levels[0] if levels else None)
    rows = [r for r in every if r["level"] == chosen]
    dates = sorted({r["date"].isoformat() if r["date"] else "" for r in every})
    sums = [name for name in table.column_names if name.startswith("sum_")]
    units: dict[str, dict[str, Any]] = {}
    outside: dict[str, dict[str, float]] = {}
    for row in rows:
        day = row["date"].isoformat() if row["date"] else ""
        values = {"records": row["records"], **{name: row[name] for name in sums}}
        if row["code"] is None or row["code"] == "":
            outside[day] = values
            continue
        unit = units.setdefault(
            row["code"], {"code": row["code"], "name": row["name"], "by_date": {}}
        )
        unit["by_date"][day] = values
    return {
        "levels": levels,
        "level": chosen,
        "dates": dates,
        "measures": ["records", *sums],
        "units": list(units.values()),
        "outside": outside,
    }


class Dismissed(Exception):
    """The job was dismissed while it ran: stop."""


class JobRunner:
    """Runs accepted jobs in a background thread, one at a time (see the module's doc)."""

    def __init__(self, settings: Settings, store: JobStore) -> None:
        self.settings = settings
        self.store = store
        self.lock = RunnerLock(settings.conninfo)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> JobRunner:
        """Start the thread (nothing when the server has no job directories)."""
        try:
            JobDirs.of(self.settings)
        except JobsNotConfigured as exc:
            LOGGER.info("no job runner: %s", exc)
            return self
        self._thread = threading.Thread(target=self._loop, name="job-runner", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop taking jobs; a running job is left `running` (a later runner re-runs it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.lock.release()

    def _loop(self) -> None:
        poll = self.settings.jobs_poll_seconds
        while not self._stop.is_set():
            try:
                if not self.lock.held:
                    if not self.lock.try_acquire():
                        self._stop.wait(poll * 5)
                        continue
                    for interrupted in self.store.requeue_interrupted():
                        LOGGER.warning("job %s: %s", interrupted.id, interrupted.message)
                job = self.store.claim_next()
            except Exception:
                LOGGER.exception("job runner: cannot reach the jobs table")
                self.lock.release()
                self._stop.wait(poll * 5)
                continue
            if job is None:
                self._stop.wait(poll)
                continue
            self.run(job)

    def run(self, job: JobRecord) -> None:
        """Run one claimed job to its end, recording how it ended."""
        from bulk.run import run_assignment  # Dask and pyarrow: only once a job runs

        dirs = JobDirs.of(self.settings)
        output = dirs.output_of(job.id)
        shutil.rmtree(output, ignore_errors=True)  # a re-run starts clean

        def progress(step: Progress) -> None:
            done = {
                "partitions_done": step.partitions_done,
                "partitions_total": step.partitions_total,
                "records_done": step.records_done,
            }
            if not self.store.report(job.id, done):
                raise Dismissed(job.id)

        LOGGER.info("job %s: started (attempt %d)", job.id, job.attempts)
        try:
            spec = runnable_spec(job, dirs, self.settings)
            result = run_assignment(
                spec, self.settings.conninfo, progress, level_scheme=self.settings.level_scheme
            )
        except Dismissed:
            LOGGER.info("job %s: dismissed while running", job.id)
            shutil.rmtree(output, ignore_errors=True)
            return
        except InvalidJob as exc:
            details = [
                {"location": f"body.{p.field}", "code": p.code, "message": p.message}
                for p in exc.problems
            ]
            error = {"code": "invalid_job", "message": str(exc), "details": details}
            self.store.fail(job.id, error, f"the job cannot run: {exc}")
            return
        except Exception as exc:
            LOGGER.exception("job %s failed", job.id)
            error = {"code": "job_failed", "message": f"{type(exc).__name__}: {exc}"}
            self.store.fail(job.id, error, f"failed: {type(exc).__name__}: {exc}")
            return
        found = result.as_dict()
        found["output"] = job.id  # the server's directories are not the client's business
        message = f"{result.records:,} records in {result.seconds:.1f} s on {result.engine}"
        if not self.store.succeed(job.id, found, message):
            shutil.rmtree(output, ignore_errors=True)  # dismissed at the last moment
        LOGGER.info("job %s: %s", job.id, message)
