"""Importing a whole layer of one level (GeoJSON or GeoPackage) as one change set."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.auth import Editor
from api.dependencies import ServicesDep
from api.errors import ApiError
from api.routes.changesets import WRITE_ERRORS
from api.routes.units import check_level
from domain.errors import InvalidChangeSet
from jurisdictions.bootstrap import Services
from projections.imports import ImportFields, LayerError, plan_import, read_layer

router = APIRouter(tags=["change sets"])


def _import(
    services: Services,
    path: Path,
    level: str,
    effective: dt.date,
    reason: str,
    document: str,
    fields: ImportFields,
    actor: str,
    dry_run: bool,
) -> tuple[int, dict[str, Any]]:
    try:
        features = read_layer(path)
    except LayerError as exc:
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, "file_unreadable", str(exc)) from exc
    plan = plan_import(
        services.queries, services.settings.rules, features, level, effective, fields
    )
    report: dict[str, Any] = plan.report()
    report.update({"applied": False, "change_set": None, "dry_run": dry_run})
    if not plan.problems and plan.operations:
        try:
            receipt = services.register.apply_change_set(
                plan.request(effective, reason, document), actor=actor, dry_run=dry_run
            )
        except InvalidChangeSet as exc:
            report["problems"].extend(p.as_dict() for p in exc.problems)
        else:
            if not dry_run:
                assert receipt.position is not None
                services.worker.wait_for(
                    receipt.position, services.settings.read_your_writes_timeout
                )
                report.update(
                    {"applied": True, "change_set": str(receipt.id), "position": receipt.position}
                )
    if report["problems"]:
        first = report["problems"][0]["message"]
        report["error"] = {
            "code": "invalid_import",
            "message": first,
            "details": report["problems"],
        }
        return status.HTTP_422_UNPROCESSABLE_CONTENT, report
    return (status.HTTP_201_CREATED if report["applied"] else status.HTTP_200_OK), report


@router.post(
    "/v1/imports",
    summary="Import a layer of one level for an effective date (editor token)",
    responses={
        **WRITE_ERRORS,
        200: {"description": "Dry run (or nothing to change): the change set worked out"},
        201: {"description": "Applied: the change set worked out, and its id"},
    },
)
async def import_layer(
    services: ServicesDep,
    editor: Editor,
    file: Annotated[UploadFile, File(description="A GeoJSON FeatureCollection or a GeoPackage")],
    level: Annotated[str, Form(description="The level of every feature")],
    effective: Annotated[dt.date, Form(description="YYYY-MM-DD")],
    reason: Annotated[str, Form(min_length=1, max_length=2000)],
    document: Annotated[str, Form(max_length=2000)] = "",
    code_field: Annotated[str, Form(max_length=100)] = "code",
    name_field: Annotated[str, Form(max_length=100)] = "name",
    parent_field: Annotated[str, Form(max_length=100)] = "parent",
    dry_run: Annotated[bool, Query(description="Report the change set; store nothing.")] = False,
) -> JSONResponse:
    """Features are matched to units by code: new codes are established, changed ones redrawn,
    renamed or transferred, missing ones (under the same parents) ended. Nothing is applied if
    anything is wrong; the answer lists every problem."""
    check_level(services, level, "form.level")
    limit = services.settings.max_body_bytes
    suffix = Path(file.filename or "layer.geojson").suffix.lower() or ".geojson"
    if suffix not in (".geojson", ".json", ".gpkg"):
        raise ApiError(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "unsupported_file",
            f"send a .geojson or .gpkg file, not {file.filename!r}",
        )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"layer{suffix}"
        size = 0
        with path.open("wb") as out:
            while chunk := await file.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise ApiError(
                        status.HTTP_413_CONTENT_TOO_LARGE,
                        "body_too_large",
                        f"the file is larger than {limit} bytes",
                    )
                out.write(chunk)
        fields = ImportFields(code_field, name_field, parent_field)
        code, report = await run_in_threadpool(
            _import,
            services,
            path,
            level,
            effective,
            reason,
            document,
            fields,
            editor.actor,
            dry_run,
        )
    return JSONResponse(report, status_code=code)
