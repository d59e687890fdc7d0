"""Importing a whole layer of one level (GeoJSON or GeoPackage) as one change set."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Header, Query, UploadFile, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api import error_codes as codes
from api.auth import Editor
from api.dependencies import ServicesDep
from api.errors import ApiError
from api.fields import IsoDate
from api.schemas import ErrorResponse
from api.shared import WRITE_ERRORS, check_level, repair_options, write_status
from jurisdictions import commands
from jurisdictions.bootstrap import Services
from projections.imports import (
    ImportFields,
    ImportScope,
    ImportScopeError,
    LayerError,
    RepairOptions,
    UnsupportedFile,
)
from projections.multilevel import LayerSpec, check_children, check_sliver, parse_layers

router = APIRouter(tags=["change sets"])

#: The media type of the GeoJSON report (RFC 7946).
GEOJSON = "application/geo+json"
#: The report comes as JSON, or as GeoJSON when asked (`format=geojson`, or by Accept).
REPORT_TYPES: dict[str, Any] = {"application/json": {}, GEOJSON: {}}

#: The API error of each way an import's scope can be wrong, and the form field it names.
SCOPE_ERRORS = {
    codes.IMPORT_MODE_INVALID.code: (codes.IMPORT_MODE_INVALID, "form.mode"),
    codes.REPLACE_PARENTS_INVALID.code: (codes.REPLACE_PARENTS_INVALID, "form.replace_parents"),
    codes.LAYERS_INVALID.code: (codes.LAYERS_INVALID, "form.layers"),
    codes.CHILDREN_INVALID.code: (codes.CHILDREN_INVALID, "form.children"),
    "children_sliver_invalid": (codes.CHILDREN_INVALID, "form.children_sliver_m2"),
}


def _scope_error(exc: ImportScopeError) -> ApiError:
    error, where = SCOPE_ERRORS[exc.code]
    return ApiError.of(error, str(exc), [{"location": where}])


def _import(
    services: Services,
    path: Path,
    layers: list[LayerSpec],
    effective: dt.date,
    reason: str,
    document: str,
    fields: ImportFields,
    scope: ImportScope,
    children: str,
    sliver_m2: float,
    repair: RepairOptions,
    actor: str,
    dry_run: bool,
    geojson: bool,
) -> tuple[int, dict[str, Any]]:
    """Run the import command; its outcome as the contract's status and report (as GeoJSON
    when asked: a FeatureCollection, the error beside it when there are problems)."""
    try:
        outcome = commands.import_layers(
            services,
            path,
            layers,
            effective=effective,
            reason=reason,
            document=document,
            fields=fields,
            scope=scope,
            children=children,
            sliver_m2=sliver_m2,
            repair=repair,
            actor=actor,
            dry_run=dry_run,
        )
    except UnsupportedFile as exc:
        raise ApiError.of(codes.UNSUPPORTED_FILE, str(exc)) from exc
    except LayerError as exc:  # messages are the reader's own: no path, no SQL, no GDAL text
        raise ApiError.of(codes.FILE_UNREADABLE, str(exc)) from exc
    except ImportScopeError as exc:
        raise _scope_error(exc) from exc
    report = outcome.report()
    body = outcome.geojson(report) if geojson else report
    if outcome.problems:
        raise ApiError.of(
            codes.INVALID_IMPORT,
            outcome.problems[0].message,
            report["problems"],
            headers={"Content-Type": GEOJSON} if geojson else None,
            extra=body,
        )
    if outcome.write is None:
        return status.HTTP_200_OK, body  # nothing to change
    return write_status(outcome.write), body


def _layers(
    services: Services, level: str | None, layer: str | None, layers: list[str] | None
) -> list[LayerSpec]:
    """The layers to read: `level` (and `layer`) for one, or `layers` pairs; not both."""
    if layers:
        if level is not None or layer:
            msg = "give either level (and layer) for one layer, or layers for several, not both"
            raise ImportScopeError("layers_invalid", msg)
        return parse_layers(layers, services.settings.level_scheme)
    if level is None:
        msg = "give level (the level of every feature), or layers (table:level pairs)"
        raise ImportScopeError("layers_invalid", msg)
    check_level(services, level, "form.level")
    return [LayerSpec(layer or None, level)]


@router.post(
    "/v1/imports",
    summary="Import a layer of one level for an effective date (editor token)",
    responses={
        **WRITE_ERRORS,
        422: {
            "description": "Invalid parameters, or the import has problems "
            "(`invalid_import`: the report beside `error`, as GeoJSON when asked)",
            "model": ErrorResponse,
            "content": REPORT_TYPES,
        },
        415: {
            "description": "Not a GeoJSON or GeoPackage file (decided by its content, not its "
            "name): `unsupported_file`, saying what the file looks like",
            "model": ErrorResponse,
        },
        200: {
            "description": "Dry run (or nothing to change): the change set worked out",
            "content": REPORT_TYPES,
        },
        201: {
            "description": "Applied and visible: the change set worked out, and its id",
            "content": REPORT_TYPES,
        },
        202: {
            "description": "Applied, but the maps did not show it in time: send `position` "
            "back as X-Min-Position",
            "content": REPORT_TYPES,
        },
    },
)
async def import_layer(
    services: ServicesDep,
    editor: Editor,
    file: Annotated[
        UploadFile,
        File(
            description="A GeoJSON FeatureCollection (or Feature) or a GeoPackage, recognised "
            "by its content (the file name does not matter)"
        ),
    ],
    effective: Annotated[IsoDate, Form(description="YYYY-MM-DD")],
    reason: Annotated[str, Form(min_length=1, max_length=2000)],
    level: Annotated[
        str | None,
        Form(description="The level of every feature (one layer; or give `layers`)"),
    ] = None,
    document: Annotated[str, Form(max_length=2000)] = "",
    code_field: Annotated[str, Form(max_length=100)] = "code",
    name_field: Annotated[str, Form(max_length=100)] = "name",
    parent_field: Annotated[str, Form(max_length=100)] = "parent",
    layer: Annotated[
        str | None,
        Form(max_length=200, description="The GeoPackage table to read, if it has several"),
    ] = None,
    mode: Annotated[
        str,
        Form(
            description="update (default): only the units in the file change; replace: also "
            "end the units of `replace_parents` the file leaves out",
        ),
    ] = "update",
    replace_parents: Annotated[
        list[str] | None,
        Form(
            description="With mode=replace: the parents (codes, repeated or comma-separated) "
            "whose missing children end; none for the top level"
        ),
    ] = None,
    layers: Annotated[
        list[str] | None,
        Form(
            description="Several levels in one change set: `table:level` pairs of one "
            "GeoPackage (repeated or comma-separated, e.g. `communities:community,grids:grid`), "
            "instead of `level` and `layer`"
        ),
    ] = None,
    children: Annotated[
        str,
        Form(
            description="keep (default): children of a unit whose boundary moves stay with it "
            "(a note says what follow would do); follow: they follow by location (wholly "
            "inside a neighbour: transferred; cut by the new line: a problem)"
        ),
    ] = "keep",
    children_sliver_m2: Annotated[
        str | None,
        Form(
            description="With children=follow: a child the new line cuts by at most this many "
            "m² follows the new edge (clipped; uncovered slivers extend the child next to "
            "them), each listed in `edges_followed`; default 0 (only the 5 m² tolerance)"
        ),
    ] = None,
    repair: Annotated[
        list[str] | None,
        Form(
            description="Repairs to make, each listed in the report's `repairs` (repeated or "
            "comma-separated): make_valid, clip_to_parent, snap_to_neighbours. None by default: "
            "problems are reported, each with a hint naming the repair that would fix it"
        ),
    ] = None,
    sliver_m2: Annotated[
        str,
        Form(
            max_length=40,
            description="With snap_to_neighbours: gaps, overlaps and overhangs of at most this "
            "many (geodesic) m² are closed; 0 (default): only those narrower than a metre",
        ),
    ] = "0",
    dry_run: Annotated[bool, Query(description="Report the change set; store nothing.")] = False,
    report_format: Annotated[
        Literal["json", "geojson"] | None,
        Query(
            alias="format",
            description="geojson: the report as a GeoJSON FeatureCollection (each change, "
            "problem, repair and note a feature with a `kind`), to open in QGIS; also chosen "
            "by `Accept: application/geo+json`",
        ),
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> JSONResponse:
    """Features are matched to units by code: new codes are established, changed ones redrawn,
    renamed or transferred. Units missing from the file stay, unless `mode=replace` names the
    parents whose missing children end (listed in `ended` with why). Nothing is applied if
    anything is wrong; the answer lists every problem, each at its feature with the units'
    names and a `location_point`. `entries` gives each changed unit with its name and level,
    before and after (name, parent, geodesic m²) and the area gained and lost; `summary` the
    counts. `?format=geojson` answers the same as a FeatureCollection. Like a change set, 201
    only once the change is visible, else 202 with the `position` to wait for."""
    geojson = report_format == "geojson" or (
        report_format is None and GEOJSON in (accept or "").lower()
    )
    scope = ImportScope.of(mode, replace_parents or [])
    repairs = repair_options(repair or [], sliver_m2, "form")
    try:
        specs = _layers(services, level, layer, layers)
        scope.check_mode()  # before reading the file; the parents need the map
        children = check_children(children)
        children_sliver = check_sliver(children_sliver_m2)
    except ImportScopeError as exc:
        raise _scope_error(exc) from exc
    limit = services.settings.max_body_bytes
    with tempfile.TemporaryDirectory() as folder:
        # The client's name (and suffix) plays no part: the reader decides by content.
        path = Path(folder) / "upload"
        size = 0
        with path.open("wb") as out:
            while chunk := await file.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise ApiError.of(
                        codes.BODY_TOO_LARGE,
                        f"the file is larger than {limit} bytes",
                    )
                out.write(chunk)
        fields = ImportFields(code_field, name_field, parent_field)
        code, report = await run_in_threadpool(
            _import,
            services,
            path,
            specs,
            effective,
            reason,
            document,
            fields,
            scope,
            children,
            children_sliver,
            repairs,
            editor.actor,
            dry_run,
            geojson,
        )
    return JSONResponse(report, status_code=code, media_type=GEOJSON if geojson else None)
