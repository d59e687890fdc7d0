"""Query parameter types shared by the routes, strict where the contract is.

Pydantic would read ``date=0`` as 1970-01-01 (a Unix time) and ``lon=1_14`` as 114; the
contract says YYYY-MM-DD (`api.fields.IsoDate`, one definition for bodies, forms and queries)
and plain decimals (`Decimal`, `Whole`), refused as ``date_invalid`` and ``number_invalid``.
Coordinate ranges are documented in the schema but checked by the routes, which can tell a
user that lon and lat look swapped.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, BeforeValidator, Field, ValidationError, WithJsonSchema
from pydantic_core import PydanticCustomError

from api.fields import IsoDate
from domain.timeline import DAY_PATTERN, parse_instant

#: Numbers in a query or a path are plain decimals: Python and pydantic would also read
#: ``1_14``, `` 114``, ``+114``, ``1e2``, ``nan`` and ``inf``, none of which a client means.
_DECIMAL = re.compile(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
_WHOLE = re.compile(r"-?[0-9]+")


def _decimal(value: Any) -> Any:
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise PydanticCustomError(
            "number_invalid", "{value} is not a plain decimal number", {"value": repr(value[:40])}
        )
    return value


def _whole(value: Any) -> Any:
    if isinstance(value, str) and not _WHOLE.fullmatch(value):
        raise PydanticCustomError(
            "number_invalid", "{value} is not a whole number", {"value": repr(value[:40])}
        )
    return value


def _iso_instant(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("date_invalid", "must be an ISO 8601 instant")
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise PydanticCustomError("date_invalid", "{problem}", {"problem": str(exc)}) from None


#: A decimal number (query and path parameters): digits, one optional point and sign.
Decimal = Annotated[float, BeforeValidator(_decimal)]
#: A whole number (query and path parameters): digits and an optional sign.
Whole = Annotated[int, BeforeValidator(_whole)]
IsoInstant = Annotated[
    dt.datetime,
    BeforeValidator(_iso_instant),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]

Crs = Literal["wgs84", "gcj02", "bd09"]
LonQuery = Annotated[
    Decimal,
    Query(
        description="Longitude in degrees.",
        allow_inf_nan=False,
        json_schema_extra={"minimum": -180, "maximum": 180},
    ),
]
LatQuery = Annotated[
    Decimal,
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
_MOMENT = DAY_PATTERN + r"(T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?"
DATETIME_PATTERN = rf"^(\.\.|{_MOMENT})(/(\.\.|{_MOMENT}))?$"


Q = TypeVar("Q", bound=BaseModel)


class LookupQuery(BaseModel):
    """The parameters of a point lookup, validated in one pass (one model, not six fields)."""

    lon: Decimal = Field(
        description="Longitude in degrees.",
        allow_inf_nan=False,
        json_schema_extra={"minimum": -180, "maximum": 180},
    )
    lat: Decimal = Field(
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
