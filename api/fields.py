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
    ValidationInfo,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError
from shapely.geometry import MultiPolygon

from domain.codes import DEFAULT_CODE_PATTERN, MAX_CODE, code_is_valid, code_rule
from domain.geometry import GeometryError, parse_territory
from domain.text import MAX_TEXT, describe, has_format_character, is_blank, unstorable_at
from domain.timeline import DAY_PATTERN, parse_day

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


#: The validation context key of the configured code grammar (see `code_context`).
CODE_PATTERN = "code_pattern"


def code_context(pattern: str) -> dict[str, Any]:
    """The validation context that makes `Code` fields use the register's grammar."""
    return {CODE_PATTERN: pattern}


def _code(value: str, info: ValidationInfo) -> str:
    stripped = _required(value)
    if has_format_character(stripped):
        raise PydanticCustomError("code_invalid", "a code holds no format (invisible) characters")
    pattern = (info.context or {}).get(CODE_PATTERN, DEFAULT_CODE_PATTERN)
    if not code_is_valid(stripped, pattern):
        raise PydanticCustomError(
            "code_invalid",
            "{code} is not a code: {rule}",
            {"code": repr(stripped[:80]), "rule": code_rule(pattern)},
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
        raise PydanticCustomError("date_invalid", "must be a date as a YYYY-MM-DD string")
    try:
        return parse_day(value)
    except ValueError as exc:
        raise PydanticCustomError("date_invalid", "{problem}", {"problem": str(exc)}) from None


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
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_CODE,
            # JSON Schema's regexes are ECMA's, whose \w is ASCII: the schema states what is
            # never a code, and the description the grammar itself.
            "pattern": r"^[^\s/%?#@\\.-][^\s/%?#@\\]*$",
            "description": "By default " + code_rule(DEFAULT_CODE_PATTERN) + " (JL_CODE_PATTERN).",
        }
    ),
]
Codes = Annotated[list[Code], Field(min_length=1), AfterValidator(_unique)]
#: Distinct codes, possibly none (a service area: none means the office's whole unit).
MaybeCodes = Annotated[list[Code], AfterValidator(_unique)]
#: A day: YYYY-MM-DD only, in bodies, forms and query parameters alike (`date_invalid`).
IsoDate = Annotated[
    date,
    BeforeValidator(_iso_date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": f"^{DAY_PATTERN}$"}),
]


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
