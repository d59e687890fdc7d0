"""The domain's text rule: the register refuses unstorable text however a command was built
(an import, the CLI, the demo), not only behind the HTTP edge."""

from __future__ import annotations

import dataclasses
import typing
from datetime import date

import pytest
from shapely.geometry import MultiPolygon, shape

from domain.commands import (
    Address,
    ChangeSetRequest,
    Command,
    Establish,
    GridPlan,
    LayGrids,
    OpenOffice,
    Part,
    Rename,
    Split,
)
from domain.errors import InvalidChangeSet
from domain.text import MAX_TEXT, TextRule, _text_fields, command_problems, text_problem
from tests.unit.helpers import city_with_district, in_memory_register, square


def territory(x: float, y: float, size: float) -> MultiPolygon:
    return MultiPolygon([shape(square(x, y, size))])


def refused(request: ChangeSetRequest, actor: str = "tester") -> list[tuple[str, str]]:
    """The (code, location) of each problem, for the dry run and the write (which must agree);
    nothing may be stored."""
    register = in_memory_register()
    city_with_district(register)
    head = register.recorder.max_notification_id()
    found = []
    for dry_run in (True, False):
        with pytest.raises(InvalidChangeSet) as caught:
            register.apply_change_set(request, actor=actor, dry_run=dry_run)
        found.append([(p.code, p.location) for p in caught.value.problems])
    assert found[0] == found[1]
    assert register.recorder.max_notification_id() == head
    return found[0]


@pytest.mark.parametrize(
    ("text", "rule", "refused_"),
    [
        ("Futian", TextRule.REQUIRED, False),
        ("line one\nline two\ttab\r", TextRule.FREE, False),
        ("", TextRule.FREE, False),
        ("", TextRule.REQUIRED, True),
        ("bad\x00name", TextRule.FREE, True),
        ("bell\x07", TextRule.FREE, True),
        ("c1\x85control", TextRule.FREE, True),
        ("del\x7f", TextRule.FREE, True),
        ("bad\ud800name", TextRule.FREE, True),
        ("\udcff", TextRule.FREE, True),  # what a non-UTF-8 byte on a command line becomes
        ("\u200b\u200d", TextRule.REQUIRED, True),
        ("\u200b \u200b", TextRule.REQUIRED, True),
        ("   ", TextRule.REQUIRED, True),
        ("x" * MAX_TEXT, TextRule.FREE, False),
        ("x" * (MAX_TEXT + 1), TextRule.FREE, True),
        ("A\u200bB", TextRule.CODE, True),
        ("A B", TextRule.CODE, True),
        ("A" * 65, TextRule.CODE, True),
        ("440304", TextRule.CODE, False),
        ("名字\U0001f600\ufeff", TextRule.REQUIRED, False),
    ],
)
def test_the_rule(text: str, rule: TextRule, refused_: bool):
    assert (text_problem(text, rule) is not None) is refused_


def test_a_command_built_directly_is_refused_at_its_field():
    # As an import or the CLI builds it: no HTTP edge in between.
    request = ChangeSetRequest(
        date(2020, 1, 1),
        "renamed",
        "",
        (Rename("D1", "bad\x00name"),),
    )
    assert refused(request) == [("text_invalid", "operations[0].name")]


def test_every_text_of_a_change_set_is_checked_with_its_location():
    request = ChangeSetRequest(
        date(2020, 1, 1),
        "\u200b",
        "doc\x00",
        (
            Split(
                "D1",
                "split_off",
                (Part("D2", "part\ud800", territory(114, 22, 0.1), "en\x1b"),),
                location="operations[0]",
            ),
            LayGrids("D1", (GridPlan("G\u200b1", "grid", territory(114, 22, 0.1), "o\x01"),)),
            OpenOffice("O1", "street_office", "Office", "D1", Address(114.1, 22.1, "addr\x00")),
            Establish("D3", "district", "x" * (MAX_TEXT + 1), "C", territory(114.6, 22, 0.1)),
        ),
    )
    assert refused(request) == [
        ("text_invalid", "reason"),
        ("text_invalid", "document"),
        ("text_invalid", "operations[0].parts[0].name"),
        ("text_invalid", "operations[0].parts[0].name_en"),
        ("text_invalid", "operations[1].grids[0].code"),
        ("text_invalid", "operations[1].grids[0].officer"),
        ("text_invalid", "operations[2].address.text"),
        ("text_invalid", "operations[3].name"),
    ]


def test_the_actor_is_stored_text_too():
    request = ChangeSetRequest(date(2020, 1, 1), "r", "", (Rename("D1", "New"),))
    assert refused(request, actor="me\udcff") == [("text_invalid", "actor")]


def test_the_other_operations_are_still_checked():
    request = ChangeSetRequest(
        date(2020, 1, 1), "r", "", (Rename("D1", "bell\x07"), Rename("NOPE", "Fine"))
    )
    assert refused(request) == [
        ("text_invalid", "operations[0].name"),
        ("unit_unknown", "operations[1].unit"),
    ]


def test_an_accepted_text_is_stored_as_given():
    register = in_memory_register()
    city_with_district(register)
    name = "Fútián 福田 \U0001f600 tab\there"
    request = ChangeSetRequest(date(2020, 1, 1), "r\nmore", "", (Rename("D1", name),))
    register.apply_change_set(request, actor="tester")
    assert register.get_unit("D1").names.value_on(date(2020, 1, 1)) == (name, "")


def _leaf_types(kind: typing.Any) -> set[typing.Any]:
    args = [a for a in typing.get_args(kind) if a is not Ellipsis]
    if typing.get_origin(kind) is typing.Literal:
        return {str}
    if not args:
        return {kind}
    if typing.get_origin(kind) is typing.Annotated:
        return _leaf_types(args[0])
    return set().union(*(_leaf_types(a) for a in args))


@pytest.mark.parametrize(
    "cls", [*Command.__subclasses__(), Part, GridPlan, Address, ChangeSetRequest]
)
def test_the_walk_reaches_every_field_that_can_hold_text(cls: type):
    """A field the walk skips holds no text: a new str field is checked without new code."""
    walked = {name for name, _ in _text_fields(cls)}
    hints = typing.get_type_hints(cls, include_extras=True)
    for item in dataclasses.fields(cls):
        if item.name in walked or item.name == "location":
            continue
        leaves = _leaf_types(hints[item.name])
        assert leaves <= {MultiPolygon, date, bool, float, type(None)}, (cls, item.name)


def test_a_nested_text_is_found():
    op = OpenOffice("O1", "k", "n", "U", Address(1, 2, "a\x07"))
    assert command_problems(op, "operations[4]") == [
        (
            "operations[4].address.text",
            "character 1 is a control character or a lone surrogate (U+0007)",
        )
    ]
