"""Response models: they document the contract in OpenAPI and check what we send."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class Point(BaseModel):
    """The coordinates actually used for the lookup (WGS84 lon/lat)."""

    lon: float
    lat: float


class UnitRef(BaseModel):
    """One level's unit holding the point, in the version valid on the date asked."""

    level: str
    code: str
    name: str
    valid_from: date
    valid_to: date | None = Field(description="Exclusive end of the version; null if open.")
    on_boundary: bool = Field(description="The point lies exactly on the unit's boundary.")


class Office(BaseModel):
    """An office responsible for the point."""

    kind: str
    code: str
    name: str
    address: str | None = None
    serves: list[str] = []


class LookupResponse(BaseModel):
    """Who is responsible for a point on a date."""

    date: date
    point: Point
    units: list[UnitRef]
    offices: list[Office]


class ProjectionStatus(BaseModel):
    """How far the read model has applied the event log."""

    position: int
    head: int
    lag: int


class Readiness(BaseModel):
    """Readiness with projection lag."""

    status: str
    projection: ProjectionStatus


class ErrorDetail(BaseModel):
    """One thing wrong with a request."""

    location: str | None = None
    message: str
    code: str | None = None


class ErrorInfo(BaseModel):
    """What went wrong."""

    code: str
    message: str
    details: list[dict[str, object]]


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx body."""

    error: ErrorInfo
