"""The register on the in-memory event store: change sets, dates, rules, idempotency."""

from datetime import date

import pytest

from domain.errors import ConcurrentChange, InvalidChangeSet, UnitNotFound
from domain.geometry import from_wkb_hex
from tests.unit.helpers import apply, city_with_district, in_memory_register, square


def test_establish_then_redraw_gives_two_dated_versions():
    register = in_memory_register()
    city_with_district(register)
    apply(register, "2017-01-01", {"op": "redraw", "unit": "D1", "geometry": square(114, 22, 0.25)})
    versions = register.get_unit("D1").versions()
    assert [(v.period.start, v.period.end) for v in versions] == [
        (date(2015, 1, 1), date(2017, 1, 1)),
        (date(2017, 1, 1), None),
    ]
    assert from_wkb_hex(versions[0].geometry).area == pytest.approx(0.25)
    assert from_wkb_hex(versions[1].geometry).area == pytest.approx(0.0625)


def test_a_backdated_redraw_keeps_the_later_state():
    register = in_memory_register()
    city_with_district(register)
    apply(register, "2018-01-01", {"op": "redraw", "unit": "D1", "geometry": square(114, 22, 0.2)})
    apply(register, "2016-01-01", {"op": "redraw", "unit": "D1", "geometry": square(114, 22, 0.3)})
    unit = register.get_unit("D1")
    areas = [round(from_wkb_hex(v.geometry).area, 4) for v in unit.versions()]
    assert areas == [0.25, 0.09, 0.04]


def test_dissolve_ends_the_unit():
    register = in_memory_register()
    city_with_district(register)
    apply(register, "2019-05-01", {"op": "dissolve", "unit": "D1"})
    unit = register.get_unit("D1")
    assert unit.exists_on(date(2019, 4, 30))
    assert not unit.exists_on(date(2019, 5, 1))
    assert unit.versions()[-1].period.end == date(2019, 5, 1)


def test_codes_are_never_reused_even_after_dissolution():
    register = in_memory_register()
    city_with_district(register)
    apply(register, "2019-05-01", {"op": "dissolve", "unit": "D1"})
    with pytest.raises(InvalidChangeSet) as caught:
        apply(
            register,
            "2020-01-01",
            {
                "op": "establish",
                "code": "D1",
                "level": "district",
                "name": "Again",
                "parent": "C",
                "geometry": square(114, 22, 0.5),
            },
        )
    assert [p.code for p in caught.value.problems] == ["code_taken"]


def test_every_problem_is_reported_and_nothing_is_stored():
    register = in_memory_register()
    city_with_district(register)
    before = register.recorder.max_notification_id()
    with pytest.raises(InvalidChangeSet) as caught:
        apply(
            register,
            "2016-01-01",
            {"op": "redraw", "unit": "NOPE", "geometry": square(114, 22, 0.1)},
            {"op": "dissolve", "unit": "D1"},
            {
                "op": "establish",
                "code": "X",
                "level": "street",
                "name": "x",
                "parent": "C",
                "geometry": square(114, 22, 0.1),
            },
            {
                "op": "establish",
                "code": "Y",
                "level": "galaxy",
                "name": "y",
                "parent": "C",
                "geometry": square(114, 22, 0.1),
            },
        )
    problems = caught.value.problems
    assert [(p.code, p.location) for p in problems] == [
        ("unit_unknown", "operations[0].unit"),
        ("parent_wrong_level", "operations[2].parent"),
        ("level_unknown", "operations[3].level"),
    ]
    assert register.recorder.max_notification_id() == before


def test_a_unit_must_exist_on_the_effective_date():
    register = in_memory_register()
    city_with_district(register)
    with pytest.raises(InvalidChangeSet) as caught:
        apply(
            register, "2014-06-01", {"op": "redraw", "unit": "D1", "geometry": square(114, 22, 0.1)}
        )
    assert caught.value.problems[0].code == "unit_not_live"


def test_the_same_idempotency_key_stores_once():
    register = in_memory_register()
    city_with_district(register)
    op = {"op": "redraw", "unit": "D1", "geometry": square(114, 22, 0.3)}
    first = apply(register, "2017-01-01", op, idempotency_key="k-1")
    second = apply(register, "2017-01-01", op, idempotency_key="k-1")
    assert second.replayed and second.id == first.id
    assert len(register.get_unit("D1").versions()) == 2


def test_a_dry_run_stores_nothing():
    register = in_memory_register()
    city_with_district(register)
    before = register.recorder.max_notification_id()
    receipt = apply(
        register,
        "2017-01-01",
        {"op": "redraw", "unit": "D1", "geometry": square(114, 22, 0.3)},
        dry_run=True,
    )
    # The redraw, and the parent's marker that serialises edits of one family.
    assert receipt.position is None and receipt.events == 2
    assert receipt.units == ("D1",)
    assert register.recorder.max_notification_id() == before


def test_a_stale_unit_cannot_be_saved_over_a_newer_one():
    register = in_memory_register()
    city_with_district(register)
    stale = register.get_unit("D1")
    apply(register, "2017-01-01", {"op": "redraw", "unit": "D1", "geometry": square(114, 22, 0.3)})
    # Simulate the second editor: its change set was worked out on the stale copy.
    original_find = register.find_unit
    register.find_unit = lambda code: stale if code == "D1" else original_find(code)  # type: ignore[method-assign]
    with pytest.raises(ConcurrentChange):
        apply(
            register, "2018-01-01", {"op": "redraw", "unit": "D1", "geometry": square(114, 22, 0.2)}
        )


def test_unknown_unit_lookup_raises():
    register = in_memory_register()
    with pytest.raises(UnitNotFound):
        register.get_unit("404")
