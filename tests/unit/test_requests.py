"""Parsing change-set requests: every malformed field is reported with its location."""

import math

import pytest

from domain.errors import InvalidChangeSet
from domain.requests import Establish, parse_change_set
from tests.unit.helpers import square


def problems_of(body: object) -> list[tuple[str, str]]:
    with pytest.raises(InvalidChangeSet) as caught:
        parse_change_set(body)
    return [(p.code, p.location) for p in caught.value.problems]


def test_a_well_formed_change_set_parses():
    request = parse_change_set(
        {
            "effective": "2016-12-26",
            "reason": "split",
            "document": "doc",
            "operations": [
                {
                    "op": "establish",
                    "code": "A",
                    "level": "street",
                    "name": "a",
                    "parent": "P",
                    "geometry": square(114, 22, 0.1),
                }
            ],
        }
    )
    assert isinstance(request.operations[0], Establish)
    assert request.summary() == [
        {
            "op": "establish",
            "code": "A",
            "level": "street",
            "name": "a",
            "parent": "P",
            "name_en": "",
            "provenance": "",
        }
    ]


def test_all_problems_come_back_at_once():
    assert problems_of(
        {
            "effective": "2016-02-30",
            "operations": [
                {
                    "op": "establish",
                    "code": "A",
                    "level": "street",
                    "name": "a",
                    "geometry": {
                        "type": "Polygon",
                        "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]],
                    },
                },
                {"op": "teleport"},
                "nonsense",
            ],
        }
    ) == [
        ("date_invalid", "effective"),
        ("field_missing", "reason"),
        ("geometry_invalid", "operations[0].geometry"),
        ("operation_unknown", "operations[1].op"),
        ("operation_not_object", "operations[2]"),
    ]


@pytest.mark.parametrize(
    ("geometry", "code"),
    [
        ({"type": "Point", "coordinates": [114, 22]}, "geometry_wrong_type"),
        ({"type": "Polygon", "coordinates": []}, "geometry_empty"),
        (
            {"type": "Polygon", "coordinates": [[[200, 0], [201, 0], [201, 1], [200, 0]]]},
            "coordinate_out_of_range",
        ),
        (
            {"type": "Polygon", "coordinates": [[[math.nan, 0], [1, 0], [1, 1], [0, 0]]]},
            "coordinate_not_finite",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [2, 0], [0, 0]]]},
            "geometry_invalid",
        ),
        (
            {"type": "Polygon", "coordinates": [[["a", 0], [1, 0], [1, 1], [0, 0]]]},
            "geometry_malformed",
        ),
        ("POLYGON((0 0, 1 0, 1 1, 0 0))", "geometry_not_object"),
    ],
)
def test_bad_geometries_are_rejected_with_a_reason(geometry: object, code: str):
    body = {
        "effective": "2016-01-01",
        "reason": "r",
        "operations": [{"op": "redraw", "unit": "A", "geometry": geometry}],
    }
    assert problems_of(body) == [(code, "operations[0].geometry")]


def test_the_body_must_be_an_object():
    assert problems_of([1, 2]) == [("body_not_object", "")]
