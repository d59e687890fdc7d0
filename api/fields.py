"""The field types of change-set bodies: texts, codes, dates and territories, checked as the
contract says and documented in `/openapi.json`.

Their errors carry the contract's problem codes where pydantic has none (`code_invalid`,
`date_invalid`, the geometry codes of `domain.geometry.parse_territory`).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError
from shapely.geometry import MultiPolygon

from domain.geometry import GeometryError, parse_territory
from domain.text import (
    MAX_CODE,
    MAX_TEXT,
    code_is_valid,
    describe,
    has_format_character,
    is_blank,
    unstorable_at,
)

# The rule of what text can be stored is the domain's (`domain.text`, which the register
# applies to every command however it was made); here it is only answered in the edge's own
# field vocabulary, before the register is reached.


def _printable(value: str) -> str:
    index = unstorable_at(value)
    if index is not None:
        raise PydanticCustomError(
            "text_invalid",
            "character {index} is a control character or a lone surrogate ({char})",
            {"index": index, "char": describe(value[index])},
        )
    return value


def _required(value: str) -> str:
    stripped = _printable(value).strip()
    if is_blank(stripped):
        raise PydanticCustomError("field_wrong_type", "must be a non-empty string")
    return stripped


def _optional(value: str) -> str:
    return _printable(value).strip()


def _code(value: str) -> str:
    stripped = _required(value)
    if has_format_character(stripped):
        raise PydanticCustomError("code_invalid", "a code holds no format (invisible) characters")
    if not code_is_valid(stripped):
        raise PydanticCustomError(
            "code_invalid", f"a code has at most {MAX_CODE} characters and no spaces"
        )
    return stripped


def _unique(codes: list[str]) -> list[str]:
    if len(set(codes)) != len(codes):
        raise PydanticCustomError("codes_repeated", "a code is listed twice")
    return codes


def _iso_date(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("field_wrong_type", "must be a YYYY-MM-DD string")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise PydanticCustomError(
            "date_invalid", "{value} is not a YYYY-MM-DD date", {"value": repr(value[:100])}
        ) from None


def _territory(value: Any) -> MultiPolygon:
    try:
        return parse_territory(value, "")
    except GeometryError as exc:
        raise PydanticCustomError(exc.problem.code, exc.problem.message) from None


#: Free text: names, reasons, documents (leading and trailing spaces dropped).
Text = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_TEXT), AfterValidator(_required)
]
OptionalText = Annotated[str, StringConstraints(max_length=MAX_TEXT), AfterValidator(_optional)]
#: The code of a unit, an office or a matter.
Code = Annotated[
    str,
    StringConstraints(max_length=MAX_TEXT),
    AfterValidator(_code),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_CODE, "pattern": r"^\S+$"}),
]
Codes = Annotated[list[Code], Field(min_length=1), AfterValidator(_unique)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]


class Closed(BaseModel):
    """Unknown fields are mistakes (a misspelt optional field would be silently lost)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Position = Annotated[list[float], Field(min_length=2, max_length=3)]
Ring = Annotated[list[Position], Field(min_length=4)]


class GeoJsonPolygon(BaseModel):
    """A GeoJSON Polygon in lon/lat degrees (WGS 84): an outer ring, then any holes."""

    type: Literal["Polygon"]
    coordinates: Annotated[
        list[Annotated[list[Position], Field(min_length=4)]], Field(min_length=1)
    ]


class GeoJsonMultiPolygon(BaseModel):
    """A GeoJSON MultiPolygon in lon/lat degrees (WGS 84)."""

    type: Literal["MultiPolygon"]
    coordinates: Annotated[list[Annotated[list[Ring], Field(min_length=1)]], Field(min_length=1)]


#: A territory: a valid GeoJSON Polygon or MultiPolygon, checked (never repaired) by the domain.
Territory = Annotated[
    MultiPolygon,
    PlainValidator(_territory, json_schema_input_type=GeoJsonPolygon | GeoJsonMultiPolygon),
]
