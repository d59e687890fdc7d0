"""Query parameter types shared by the routes, strict where the contract is.

Pydantic would read ``date=0`` as 1970-01-01 (a Unix time); the contract says YYYY-MM-DD, so
dates and instants are parsed from ISO text only. Coordinate ranges are documented in the
schema but checked by the routes, which can tell a user that lon and lat look swapped.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, BeforeValidator, Field, ValidationError

_DAY = r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
_DATE = re.compile(_DAY)
_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?)?"
)


def _iso_date(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        msg = "must be a date as YYYY-MM-DD"
        raise ValueError(msg)
    return dt.date.fromisoformat(value)


def _iso_instant(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _INSTANT.fullmatch(value):
        msg = "must be an ISO 8601 instant such as 2016-06-01T00:00:00Z"
        raise ValueError(msg)
    instant = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
IsoInstant = Annotated[dt.datetime, BeforeValidator(_iso_instant)]

Crs = Literal["wgs84", "gcj02", "bd09"]
LonQuery = Annotated[
    float,
    Query(
        description="Longitude in degrees.",
        allow_inf_nan=False,
        json_schema_extra={"minimum": -180, "maximum": 180},
    ),
]
LatQuery = Annotated[
    float,
    Query(
        description="Latitude in degrees.",
        allow_inf_nan=False,
        json_schema_extra={"minimum": -90, "maximum": 90},
    ),
]
DateQuery = Annotated[
    IsoDate | None, Query(description="YYYY-MM-DD: the versions valid that day. Default: today.")
]
RecordedQuery = Annotated[
    IsoInstant | None,
    Query(description="ISO 8601 instant: answer with what the register knew then."),
]
CrsQuery = Annotated[
    Crs, Query(description="CRS of lon/lat: wgs84, gcj02 (Amap, Tencent) or bd09 (Baidu).")
]
LevelQuery = Annotated[str | None, Query(description="Only this level.")]
BBOX_PATTERN = r"^\s*-?\d+(\.\d+)?(\s*,\s*-?\d+(\.\d+)?){3}\s*$"
BboxQuery = Annotated[
    str | None,
    Query(description="west,south,east,north in degrees (CRS84).", pattern=BBOX_PATTERN),
]
_MOMENT = _DAY + r"(T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?"
DATETIME_PATTERN = rf"^(\.\.|{_MOMENT})(/(\.\.|{_MOMENT}))?$"


Q = TypeVar("Q", bound=BaseModel)


class LookupQuery(BaseModel):
    """The parameters of a point lookup, validated in one pass (one model, not six fields)."""

    lon: float = Field(
        description="Longitude in degrees.",
        allow_inf_nan=False,
        json_schema_extra={"minimum": -180, "maximum": 180},
    )
    lat: float = Field(
        description="Latitude in degrees.",
        allow_inf_nan=False,
        json_schema_extra={"minimum": -90, "maximum": 90},
    )
    date: IsoDate | None = Field(
        None, description="YYYY-MM-DD: the versions valid that day. Default: today."
    )
    as_recorded: IsoInstant | None = Field(
        None, description="ISO 8601 instant: answer with what the register knew then."
    )
    crs: Crs = Field(
        "wgs84", description="CRS of lon/lat: wgs84, gcj02 (Amap, Tencent) or bd09 (Baidu)."
    )
    matter: str | None = Field(
        None, max_length=100, description="A matter (事项) code: also answer who handles it."
    )


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """OpenAPI parameters for a query model that a route validates itself (FastAPI's
    per-parameter validation costs more than the whole of a lookup from memory)."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    parameters = []
    for name, field in schema["properties"].items():
        field = dict(field)
        description = field.pop("description", "")
        field.pop("title", None)
        parameters.append(
            {
                "name": name,
                "in": "query",
                "required": name in required,
                "description": description,
                "schema": field,
            }
        )
    return parameters


def parse_query(model: type[Q], params: Mapping[str, str]) -> Q:
    """Validate query parameters with `model`; errors located as FastAPI locates them."""
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        errors = [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None
