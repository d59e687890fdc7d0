"""Reading change-set bodies at the edge (`api.operations`): every malformed field is reported
with its location, unknown fields included."""

import math
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.operations import MAX_OPERATIONS, OPERATION, parse_change_set
from domain.commands import Command, Establish, LayGrids, Rename
from domain.errors import InvalidChangeSet
from domain.operations import handled
from domain.problem_codes import PROBLEMS
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
            "coordinates_out_of_range",
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


SQUARE = square(114, 22, 0.1)


def test_an_unknown_field_is_a_problem_naming_it():
    body = {
        "effective": "2016-01-01",
        "reason": "r",
        "colour": "red",
        "operations": [
            {"op": "rename", "unit": "A", "name": "b"},
            {"op": "rename", "unit": "A", "name": "b", "nmae_en": "B"},
            {
                "op": "split",
                "unit": "A",
                "mode": "full",
                "parts": [{"code": "B", "geometry": SQUARE, "area": 1}],
            },
        ],
    }
    assert problems_of(body) == [
        ("field_unknown", "colour"),
        ("field_unknown", "operations[1].nmae_en"),
        ("field_unknown", "operations[2].parts[0].area"),
    ]


def test_an_unknown_or_missing_op_is_named_and_the_rest_still_parses():
    body = {
        "effective": "2016-01-01",
        "reason": "r",
        "operations": [
            {"op": "rename", "unit": "A", "name": "b"},
            {"op": "teleport", "unit": "A"},
            {"unit": "A"},
            {"op": 7},
        ],
    }
    with pytest.raises(InvalidChangeSet) as caught:
        parse_change_set(body)
    problems = caught.value.problems
    assert [(p.code, p.location) for p in problems] == [
        ("operation_unknown", "operations[1].op"),
        ("operation_unknown", "operations[2].op"),
        ("operation_unknown", "operations[3].op"),
    ]
    assert "regrid" in problems[0].message and "teleport" in problems[0].message
    # The operation that could be read still reaches the register's own checks.
    partial = caught.value.partial
    assert [(type(op).__name__, op.location) for op in partial.operations] == [
        ("Rename", "operations[0]")
    ]


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ({"op": "rename", "unit": "A"}, [("field_missing", "operations[0].name")]),
        ({"op": "rename", "unit": 5, "name": "b"}, [("field_wrong_type", "operations[0].unit")]),
        ({"op": "rename", "unit": "A B", "name": "b"}, [("code_invalid", "operations[0].unit")]),
        (
            {"op": "rename", "unit": "A", "name": "x" * 2001},
            [("field_too_long", "operations[0].name")],
        ),
        (
            {
                "op": "split",
                "unit": "A",
                "mode": "half",
                "parts": [{"code": "B", "geometry": SQUARE}],
            },
            [("field_invalid", "operations[0].mode")],
        ),
        ({"op": "merge", "units": ["A", "B"]}, [("merge_target", "operations[0]")]),
        (
            {"op": "merge", "units": ["A"], "absorb_into": "A"},
            [("merge_too_few", "operations[0].units")],
        ),
        (
            {"op": "merge", "units": ["A", "B"], "absorb_into": "C"},
            [("merge_target", "operations[0].absorb_into")],
        ),
        (
            {"op": "merge", "units": ["A", "A"], "absorb_into": "A"},
            [("codes_repeated", "operations[0].units")],
        ),
        (
            {"op": "correct", "unit": "A", "valid_from": "2015-01-01"},
            [("correct_nothing", "operations[0]")],
        ),
        (
            {
                "op": "correct",
                "unit": "A",
                "valid_from": "2015-01-01",
                "valid_to": "2014-01-01",
                "name": "n",
            },
            [("period_empty", "operations[0].valid_to")],
        ),
        (
            {"op": "merge_workstations", "workstations": ["W1", "W2"], "into": "W3"},
            [("merge_target", "operations[0].into")],
        ),
        (
            {
                "op": "open_office",
                "code": "O",
                "kind": "k",
                "name": "n",
                "unit": "U",
                "address": {"lon": 200, "lat": 22},
            },
            [("coordinates_out_of_range", "operations[0].address.lon")],
        ),
        (
            {
                "op": "open_office",
                "code": "O",
                "kind": "k",
                "name": "n",
                "unit": "U",
                "address": {"lon": "114", "lat": True},
            },
            [
                ("field_wrong_type", "operations[0].address.lon"),
                ("field_wrong_type", "operations[0].address.lat"),
            ],
        ),
        (
            {
                "op": "lay_grids",
                "community": "C",
                "grids": [{"code": "G", "geometry": {"type": "Point", "coordinates": [1, 2]}}],
            },
            [("geometry_wrong_type", "operations[0].grids[0].geometry")],
        ),
    ],
)
def test_field_problems_keep_their_codes(
    operation: dict[str, object], expected: list[tuple[str, str]]
):
    body = {"effective": "2016-01-01", "reason": "r", "operations": [operation]}
    assert problems_of(body) == expected


def test_operations_are_limited_in_number():
    body = {"effective": "2016-01-01", "reason": "r", "operations": []}
    assert problems_of(body) == [("operations_missing", "operations")]
    many = [{"op": "dissolve", "unit": "A"}] * (MAX_OPERATIONS + 1)
    assert problems_of({**body, "operations": many}) == [("too_many_operations", "operations")]


def test_every_operation_has_a_model_a_command_and_a_handler():
    names = set(OPERATION.json_schema()["discriminator"]["mapping"])
    assert len(names) == 20
    regrid = parse_change_set(
        {
            "effective": "2016-01-01",
            "reason": "r",
            "operations": [
                {"op": "regrid", "community": "C", "grids": [{"code": "G", "geometry": SQUARE}]}
            ],
        }
    ).operations[0]
    assert isinstance(regrid, LayGrids) and regrid.replace and regrid.op_name == "regrid"
    assert {c.op for c in Command.__subclasses__()} | {"regrid"} == names
    assert set(Command.__subclasses__()) == set(handled())


@given(st.text(max_size=40))
def test_every_text_accepted_can_be_stored_and_every_other_is_a_named_problem(text: str):
    """Text reaches PostgreSQL (events and read model) unchanged: no NUL, no lone surrogate, no
    other control character but tab and line breaks; whatever else comes gets a problem code
    from the table at the field's location."""
    body = {
        "effective": "2020-01-01",
        "reason": text,
        "document": text,
        "operations": [{"op": "rename", "unit": "M1", "name": text}],
    }
    try:
        request = parse_change_set(body)
    except InvalidChangeSet as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.code in PROBLEMS, problem
            assert problem.location in ("reason", "document", "operations[0].name"), problem
        return
    rename = request.operations[0]
    assert isinstance(rename, Rename)
    for stored in (request.reason, request.document, rename.name):
        stored.encode("utf-8")
        assert not any(
            unicodedata.category(c) in ("Cc", "Cs") and c not in "\t\n\r" for c in stored
        )
        assert stored == stored.strip() and stored.strip()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("bad\u0000name", "text_invalid"),
        ("bad\ud800name", "text_invalid"),
        ("bell\u0007", "text_invalid"),
        ("\u200b\u200b", "field_wrong_type"),
        ("   ", "field_wrong_type"),
        ("x" * 2001, "field_too_long"),
    ],
)
def test_hostile_names_are_refused_with_their_code(text: str, code: str):
    assert problems_of(
        {
            "effective": "2020-01-01",
            "reason": "r",
            "operations": [{"op": "rename", "unit": "M1", "name": text}],
        }
    ) == [(code, "operations[0].name")]
