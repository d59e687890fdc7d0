"""Offices on a date, and one office with its service area (the units it serves, as GeoJSON)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api import error_codes as codes
from api.dependencies import ServicesDep
from api.errors import ERROR_RESPONSES, ApiError
from api.params import DateQuery, RecordedQuery, Whole
from api.schemas import CommitteeRef, OfficeDetail, OfficeList, OfficeSummary, ServiceArea
from domain.offices import WORKSTATION

router = APIRouter(tags=["offices"])

CodePath = Annotated[str, Path(max_length=64, description="An office's code.")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: ERROR_RESPONSES[422] | {"description": "No office with this code (on the date)"}
}


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    lon, lat = row.pop("lon"), row.pop("lat")
    row["location"] = {"lon": lon, "lat": lat} if lon is not None else None
    row["serves"] = list(row["serves"])
    return row


@router.get(
    "/v1/offices",
    response_model=OfficeList,
    summary="Offices open on a date, by kind, by a unit they serve, or by name",
    responses=ERROR_RESPONSES,
)
def list_offices(
    services: ServicesDep,
    kind: Annotated[
        str | None, Query(max_length=64, description="Only this kind, e.g. street_office.")
    ] = None,
    unit: Annotated[
        str | None,
        Query(max_length=64, description="Only offices whose service area holds this unit."),
    ] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=100, description="Part of the name or code.")
    ] = None,
    date: DateQuery = None,
    limit: Annotated[Whole, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[Whole, Query(ge=0, le=10_000_000)] = 0,
    as_recorded: RecordedQuery = None,
) -> OfficeList:
    """Ordered by code; `numberMatched` counts all matches, `limit`/`offset` page through.
    With `as_recorded`, the offices as the register recorded them at that instant."""
    day = date or services.settings.today()
    rows, total = services.published.offices_on(
        day, kind=kind, unit=unit, q=q, limit=limit, offset=offset, as_recorded=as_recorded
    )
    offices = [OfficeSummary.model_validate(_summary(r)) for r in rows]
    return OfficeList(
        date=day,
        numberMatched=total,
        numberReturned=len(offices),
        offices=offices,
        as_recorded=as_recorded,
    )


@router.get(
    "/v1/offices/{code}",
    response_model=OfficeDetail,
    summary="One office on a date with its service area (units served and GeoJSON)",
    responses={**ERROR_RESPONSES, **NOT_FOUND},
)
def get_office(
    services: ServicesDep, code: CodePath, date: DateQuery = None, as_recorded: RecordedQuery = None
) -> OfficeDetail:
    """The service area is the units the office names, or its whole unit if it names none; a
    workstation also lists the committees of the communities it serves. With `as_recorded`,
    all of it as the register recorded it at that instant."""
    day = date or services.settings.today()
    published = services.published
    office = published.office_on(code, day, as_recorded)
    if office is None:
        when = f" (as recorded at {as_recorded.isoformat()})" if as_recorded else ""
        if not published.office_exists(code, as_recorded):
            raise ApiError.of(codes.OFFICE_NOT_FOUND, f"no office with code {code!r}{when}")
        raise ApiError.of(codes.OFFICE_NOT_OPEN, f"office {code} was not open on {day}{when}")
    area = ServiceArea.model_validate(office.pop("service_area"))
    committees = []
    if office["kind"] == WORKSTATION:
        found = published.committees_of(code, day, as_recorded)
        committees = [CommitteeRef.model_validate(c) for c in found]
    return OfficeDetail.model_validate(
        {
            **_summary(office),
            "date": day,
            "service_area": area,
            "committees": committees,
            "as_recorded": as_recorded,
        }
    )
