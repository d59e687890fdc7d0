"""Bulk assignment jobs over HTTP, in the style of OGC API - Processes (docs/jobs.md).

`POST /v1/jobs` stores a job (201, `Location`), which the server's job runner takes in turn;
`GET /v1/jobs/{id}` is its status info (status, progress, times, the result and links to its
files); `GET /v1/jobs/{id}/results` lists the files and `/results/{name}` streams one;
`DELETE /v1/jobs/{id}` dismisses it. Every path needs an analyst's (or editor's) token, and
shows only that actor's jobs.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path as FilePath
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from api import error_codes as codes
from api.auth import JobRunner
from api.dependencies import ServicesDep
from api.errors import ERROR_RESPONSES, ApiError
from api.params import LevelQuery
from api.requests import read_json
from api.shared import check_level
from bulk.spec import InvalidJob
from jurisdictions.bootstrap import Services
from jurisdictions.jobs import (
    AGGREGATE_FILE,
    JobDirs,
    JobsNotConfigured,
    check_job,
    read_counts,
    read_job,
)
from projections.jobs import JobRecord

router = APIRouter(tags=["jobs"])

JobId = Annotated[str, Path(pattern="^[0-9a-f]{16}$", description="A job's id.")]
#: What each result file is, by its suffix.
MEDIA_TYPES = {
    ".parquet": "application/vnd.apache.parquet",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
}
JOB_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    401: ERROR_RESPONSES[422],
    403: ERROR_RESPONSES[422],
}


def json_response(body: dict[str, Any], status_code: int = 200) -> Response:
    """JSON never stored by caches: a job's answers change as it runs and are its owner's."""
    return Response(
        orjson.dumps(body),
        status_code=status_code,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _dirs(services: Services) -> JobDirs:
    try:
        return JobDirs.of(services.settings)
    except JobsNotConfigured as exc:
        raise ApiError.of(codes.JOBS_NOT_CONFIGURED, str(exc)) from exc


def invalid_job(exc: InvalidJob) -> ApiError:
    """A job that cannot run: 422 naming each field (as a `body.` location) and its code."""
    details = [
        {"location": f"body.{p.field}", "code": p.code, "message": p.message} for p in exc.problems
    ]
    where = ", ".join(d["location"] for d in details[:5])
    return ApiError.of(codes.INVALID_JOB, f"the job cannot run: {where}", details)


def status_info(request: Request, job: JobRecord) -> dict[str, Any]:
    """A job's status as OGC API - Processes' statusInfo, with the job's own fields."""
    base = f"{request.scope.get('root_path', '')}/v1/jobs/{job.id}"
    progress = dict(job.progress)
    total = progress.get("partitions_total") or 0
    percent = None
    if job.status == "successful":
        percent = 100
    elif total:
        percent = int(100 * progress.get("partitions_done", 0) / total)
    links = [{"href": base, "rel": "self", "type": "application/json", "title": "status"}]
    if job.status == "successful":
        links.append(
            {
                "href": f"{base}/results",
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/results",
                "type": "application/json",
                "title": "the result files",
            }
        )
        if job.spec.get("aggregate"):
            links.append(
                {
                    "href": f"{request.scope.get('root_path', '')}/maps/jobs/{job.id}",
                    "rel": "alternate",
                    "type": "text/html",
                    "title": "choropleth map of the counts",
                }
            )
    return {
        "jobID": job.id,
        "type": "process",
        "processID": "assign",
        "status": job.status,
        "message": job.message,
        "progress": percent,
        "partitions_done": progress.get("partitions_done", 0),
        "partitions_total": progress.get("partitions_total"),
        "records_done": progress.get("records_done", 0),
        "attempts": job.attempts,
        "created": job.created,
        "started": job.started,
        "finished": job.finished,
        "updated": job.updated,
        "inputs": job.spec,
        "result": job.result,
        "error": job.error,
        "links": links,
    }


def _own_job(services: Services, job_id: str, actor: str) -> JobRecord:
    job = services.jobs.get(job_id, actor)
    if job is None:
        raise ApiError.of(codes.JOB_NOT_FOUND, f"no job {job_id} of {actor}'s")
    return job


@router.post(
    "/v1/jobs",
    status_code=201,
    summary="Submit a bulk assignment job (records to units, or counts per unit)",
    responses=JOB_ERRORS,
)
async def submit_job(request: Request, services: ServicesDep, owner: JobRunner) -> Response:
    """The job is stored as `accepted` and runs when the runner takes it; poll the
    `Location`. The input path is relative to the server's input directory."""
    dirs = _dirs(services)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError.of(codes.BODY_NOT_OBJECT, "the body must be a JSON object")
    problems = []
    try:
        spec = read_job(body, services.settings.level_scheme)
    except InvalidJob as exc:
        problems += exc.problems
    source = body.get("source")
    path = source.get("path") if isinstance(source, dict) else None
    if isinstance(path, str) and not any(p.field == "source.path" for p in problems):
        try:
            await run_in_threadpool(dirs.resolve_input, path)
        except InvalidJob as exc:
            problems += exc.problems
    if problems:
        raise invalid_job(InvalidJob(problems))
    try:  # the data themselves: columns, CRS, files
        await run_in_threadpool(check_job, spec, dirs, services.settings)
    except InvalidJob as exc:
        raise invalid_job(exc) from exc
    job = await run_in_threadpool(services.jobs.create, owner.actor, spec)
    response = json_response(status_info(request, job), 201)
    response.headers["Location"] = f"{request.scope.get('root_path', '')}/v1/jobs/{job.id}"
    return response


@router.get("/v1/jobs", summary="The token's actor's jobs, newest first", responses=JOB_ERRORS)
def list_jobs(request: Request, services: ServicesDep, owner: JobRunner) -> Response:
    """Status info of each job (at most 100)."""
    jobs = services.jobs.of_owner(owner.actor)
    return json_response({"jobs": [status_info(request, job) for job in jobs], "links": []})


@router.get(
    "/v1/jobs/{job_id}", summary="A job's status, progress and result", responses=JOB_ERRORS
)
def job_status(
    request: Request, services: ServicesDep, owner: JobRunner, job_id: JobId
) -> Response:
    """Status (accepted, running, successful, failed, dismissed), progress in partitions and
    records, times, and once successful the result and links to its files."""
    return json_response(status_info(request, _own_job(services, job_id, owner.actor)))


@router.delete("/v1/jobs/{job_id}", summary="Dismiss a job", responses=JOB_ERRORS)
def dismiss_job(
    request: Request, services: ServicesDep, owner: JobRunner, job_id: JobId
) -> Response:
    """An accepted job will not run; a running one stops after its current partition; the
    results of any are deleted."""
    _own_job(services, job_id, owner.actor)
    job = services.jobs.dismiss(job_id, owner.actor)
    assert job is not None
    with contextlib.suppress(JobsNotConfigured):
        shutil.rmtree(JobDirs.of(services.settings).output_of(job.id), ignore_errors=True)
    return json_response(status_info(request, job))


def _result_files(services: Services, job: JobRecord) -> tuple[FilePath, list[str]]:
    if job.status != "successful" or job.result is None:
        raise ApiError.of(
            codes.JOB_NOT_FINISHED, f"job {job.id} is {job.status}: it has no results"
        )
    return _dirs(services).output_of(job.id), list(job.result.get("files", []))


@router.get(
    "/v1/jobs/{job_id}/results",
    summary="The files a successful job wrote",
    responses={**JOB_ERRORS, 409: ERROR_RESPONSES[422]},
)
def job_results(
    request: Request, services: ServicesDep, owner: JobRunner, job_id: JobId
) -> Response:
    """Each file's name, size, media type and link."""
    job = _own_job(services, job_id, owner.actor)
    output, names = _result_files(services, job)
    base = f"{request.scope.get('root_path', '')}/v1/jobs/{job.id}/results"
    files = []
    for name in names:
        path = output / name
        files.append(
            {
                "name": name,
                "size": path.stat().st_size if path.is_file() else None,
                "type": MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
                "href": f"{base}/{name}",
            }
        )
    return json_response({"jobID": job.id, "result": job.result, "files": files})


@router.get(
    "/v1/jobs/{job_id}/results/{name:path}",
    summary="One result file, streamed",
    responses={
        **JOB_ERRORS,
        200: {
            "description": "The file (Parquet, CSV or JSON)",
            "content": {
                media.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
                for media in MEDIA_TYPES.values()
            },
        },
        409: ERROR_RESPONSES[422],
    },
)
def job_result_file(services: ServicesDep, owner: JobRunner, job_id: JobId, name: str) -> Response:
    """Only a file the job recorded as written, inside its own output directory."""
    job = _own_job(services, job_id, owner.actor)
    output, names = _result_files(services, job)
    path = (output / name).resolve()
    if name not in names or not path.is_relative_to(output.resolve()) or not path.is_file():
        raise ApiError.of(
            codes.RESULT_NOT_FOUND,
            f"job {job.id} wrote no file {name!r}",
            [{"location": "path.name", "message": f"one of: {', '.join(names)}"}],
        )
    media = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
    return FileResponse(path, media_type=media, filename=FilePath(name).name)


@router.get(
    "/v1/jobs/{job_id}/counts",
    summary="An aggregate job's counts per unit and date on one level (for its map)",
    responses={**JOB_ERRORS, 409: ERROR_RESPONSES[422]},
)
def job_counts(
    services: ServicesDep, owner: JobRunner, job_id: JobId, level: LevelQuery = None
) -> Response:
    """Each unit's records (and sums) per date on `level` (default: the job's first level),
    and the records outside every unit of it; what `/maps/jobs/{id}` draws."""
    job = _own_job(services, job_id, owner.actor)
    output, names = _result_files(services, job)
    if AGGREGATE_FILE not in names:
        raise ApiError.of(
            codes.RESULT_NOT_FOUND,
            f"job {job.id} assigned records; counts are for jobs with aggregate: true",
        )
    check_level(services, level)
    counts = read_counts(output, level)
    if level is not None and level not in counts["levels"]:
        message = f"job {job.id} counted on {', '.join(counts['levels'])}, not {level}"
        raise ApiError.of(
            codes.LEVEL_UNKNOWN, message, [{"location": "query.level", "message": message}]
        )
    return json_response({"jobID": job.id, **counts})
