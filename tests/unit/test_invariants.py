"""Each rule of the model rejects what breaks it, with the right code, units and area.

Small boxes around lon 114, lat 22.5 (0.01 degree is about 1 km). Expected areas are
measured geodesically (pyproj.Geod), independently of the register's metric projection.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import shapely
from pyproj import Geod
from shapely.geometry import box as shapely_box
from shapely.geometry import mapping, shape

from api.operations import parse_change_set
from domain.errors import InvalidChangeSet, Problem
from domain.levels import Rules
from domain.register import JurisdictionRegister
from tests.unit.helpers import apply, in_memory_register

GEOD = Geod(ellps="WGS84")
LENIENT = Rules(full_coverage=False)


def box(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    return dict(mapping(shapely_box(west, south, east, north)))


def union(*geometries: dict[str, Any]) -> dict[str, Any]:
    return dict(mapping(shapely.union_all([shape(g) for g in geometries])))


def m2(geometry: dict[str, Any]) -> float:
    area, _ = GEOD.geometry_area_perimeter(shape(geometry))
    return abs(area)


def establish(
    code: str, level: str, parent: str | None, geometry: dict[str, Any]
) -> dict[str, Any]:
    op = {"op": "establish", "code": code, "level": level, "name": code, "geometry": geometry}
    if parent is not None:
        op["parent"] = parent
    return op


def redraw(code: str, geometry: dict[str, Any]) -> dict[str, Any]:
    return {"op": "redraw", "unit": code, "geometry": geometry}


CITY = box(114.00, 22.50, 114.04, 22.54)
WEST = box(114.00, 22.50, 114.02, 22.54)
EAST = box(114.02, 22.50, 114.04, 22.54)


def districts(rules: Rules = LENIENT) -> JurisdictionRegister:
    """A city split into two districts; D1 has two streets side by side."""
    register = in_memory_register(rules)
    apply(
        register,
        "2015-01-01",
        establish("C", "city", None, CITY),
        establish("D1", "district", "C", WEST),
        establish("D2", "district", "C", EAST),
        establish("S1", "street", "D1", box(114.00, 22.50, 114.01, 22.54)),
        establish("S2", "street", "D1", box(114.01, 22.50, 114.02, 22.54)),
    )
    return register


def rejected(register: JurisdictionRegister, day: str, *ops: dict[str, Any]) -> list[Problem]:
    before = register.recorder.max_notification_id()
    with pytest.raises(InvalidChangeSet) as caught:
        apply(register, day, *ops)
    assert register.recorder.max_notification_id() == before
    return caught.value.problems


def only(found: list[Problem], code: str) -> Problem:
    matching = [p for p in found if p.code == code]
    assert len(matching) == 1, found
    return matching[0]


def test_a_child_must_lie_within_its_parent():
    register = districts()
    overhang = box(114.02, 22.50, 114.025, 22.51)
    found = rejected(
        register, "2016-01-01", establish("S3", "street", "D1", box(114.015, 22.50, 114.025, 22.51))
    )
    problem = only(found, "child_outside_parent")
    assert problem.units == ("S3", "D1")
    assert problem.area_m2 == pytest.approx(m2(overhang), rel=0.005)
    assert "2016-01-01" in problem.message
    assert problem.as_dict()["area_m2"] == round(problem.area_m2 or 0, 1)


def test_siblings_must_not_overlap():
    register = districts()
    found = rejected(register, "2016-01-01", redraw("S1", box(114.00, 22.50, 114.013, 22.54)))
    problem = only(found, "siblings_overlap")
    assert set(problem.units) == {"S1", "S2"}
    assert problem.area_m2 == pytest.approx(m2(box(114.01, 22.50, 114.013, 22.54)), rel=0.005)


def test_children_must_cover_their_parent_where_full_coverage_is_required():
    strict = districts(Rules(full_coverage=True))
    found = rejected(strict, "2016-01-01", redraw("S2", box(114.01, 22.50, 114.02, 22.53)))
    problem = only(found, "coverage_gap")
    assert problem.units == ("D1",)
    assert problem.area_m2 == pytest.approx(m2(box(114.01, 22.53, 114.02, 22.54)), rel=0.005)
    # The same change is fine where the rules do not ask for full coverage.
    lenient = districts(LENIENT)
    apply(lenient, "2016-01-01", redraw("S2", box(114.01, 22.50, 114.02, 22.53)))


def test_a_parent_without_children_needs_no_coverage():
    register = districts(Rules(full_coverage=True))
    # D2 has no streets: nothing to cover it with, nothing to check.
    apply(register, "2016-01-01", {"op": "rename", "unit": "D2", "name": "East"})
    found = rejected(
        register, "2016-01-01", establish("S3", "street", "D2", box(114.02, 22.50, 114.03, 22.54))
    )
    assert [(p.code, p.units) for p in found] == [("coverage_gap", ("D2",))]


def test_a_unit_needs_a_live_parent_on_every_date_it_is_live():
    register = districts()
    found = rejected(register, "2017-01-01", {"op": "dissolve", "unit": "D1"})
    problem = only(found, "parent_not_live")
    assert problem.units == ("D1", "S1", "S2")
    assert "2017-01-01" in problem.message


def test_a_backdated_child_under_a_parent_that_ends_later_is_rejected():
    register = districts()
    apply(register, "2020-01-01", {"op": "dissolve", "unit": "D2"}, redraw("D1", CITY))
    found = rejected(
        register, "2018-01-01", establish("S3", "street", "D2", box(114.02, 22.50, 114.03, 22.54))
    )
    problem = only(found, "parent_not_live")
    assert problem.units == ("D2", "S3")
    assert "from 2020-01-01" in problem.message


def test_codes_are_unique_and_never_reused():
    register = districts()
    apply(register, "2016-01-01", {"op": "dissolve", "unit": "S2"})
    apply(
        register,
        "2016-01-01",
        {"op": "open_office", "code": "SO1", "kind": "street_office", "name": "x", "unit": "S1"},
    )
    found = rejected(
        register,
        "2017-01-01",
        establish("S2", "street", "D1", box(114.01, 22.50, 114.02, 22.54)),
        establish("SO1", "street", "D1", box(114.01, 22.50, 114.02, 22.54)),
        {"op": "recode", "unit": "S1", "code": "D2"},
        {"op": "merge", "units": ["D1", "D2"], "into": {"code": "C", "name": "x"}},
        {
            "op": "split",
            "unit": "S1",
            "mode": "split_off",
            "parts": [{"code": "S2", "geometry": box(114.00, 22.50, 114.005, 22.54)}],
        },
    )
    assert [(p.code, p.location, p.units) for p in found] == [
        ("code_taken", "operations[0].code", ("S2",)),
        ("code_taken", "operations[1].code", ("SO1",)),
        ("code_taken", "operations[2].code", ("D2",)),
        ("code_taken", "operations[3].into.code", ("C",)),
        ("code_taken", "operations[4].parts", ("S2",)),
    ]


def test_a_backdated_change_that_breaks_a_later_state_is_rejected():
    register = districts()
    apply(
        register,
        "2018-01-01",
        redraw("D1", box(114.00, 22.50, 114.015, 22.54)),
        redraw("D2", box(114.015, 22.50, 114.04, 22.54)),
        redraw("S2", box(114.01, 22.50, 114.015, 22.54)),
    )
    # In 2016 S1 fits in D1 (whose edge is then at 114.02), but the redraw holds on, and
    # from 2018 D1 ends at 114.015 and S2 lies where S1 would now reach.
    wider = box(114.00, 22.50, 114.018, 22.52)
    found = rejected(
        register,
        "2016-01-01",
        redraw("S1", wider),
        redraw("S2", box(114.018, 22.50, 114.02, 22.54)),
    )
    outside = only(found, "child_outside_parent")
    assert outside.units == ("S1", "D1")
    assert "from 2018-01-01" in outside.message
    assert outside.area_m2 == pytest.approx(m2(box(114.015, 22.50, 114.018, 22.52)), rel=0.005)
    overlap = only(found, "siblings_overlap")
    assert set(overlap.units) == {"S1", "S2"}
    assert overlap.area_m2 == pytest.approx(m2(box(114.01, 22.50, 114.015, 22.52)), rel=0.005)
    # The same change up to 2018 only (a correction of that period) is fine.
    apply(
        register,
        "2019-01-01",
        {
            "op": "correct",
            "unit": "S2",
            "valid_from": "2016-01-01",
            "valid_to": "2018-01-01",
            "geometry": box(114.018, 22.50, 114.02, 22.54),
        },
        {
            "op": "correct",
            "unit": "S1",
            "valid_from": "2016-01-01",
            "valid_to": "2018-01-01",
            "geometry": box(114.00, 22.50, 114.018, 22.54),
        },
    )


def served(register: JurisdictionRegister) -> JurisdictionRegister:
    """S1 with communities K1, K2 served by W1, and K3 served by W2."""
    apply(
        register,
        "2015-01-01",
        establish("K1", "community", "S1", box(114.00, 22.50, 114.01, 22.52)),
        establish("K2", "community", "S1", box(114.00, 22.52, 114.01, 22.53)),
        establish("K3", "community", "S1", box(114.00, 22.53, 114.01, 22.54)),
        {"op": "open_workstation", "code": "W1", "name": "W1", "serves": ["K1", "K2"]},
        {"op": "open_workstation", "code": "W2", "name": "W2", "serves": ["K3"]},
    )
    return register


def test_a_backdated_coverage_change_that_leaves_later_communities_unserved_is_rejected():
    register = served(districts())
    apply(
        register,
        "2018-01-01",
        {"op": "assign_coverage", "workstation": "W2", "communities": ["K2"]},
    )
    # Closing W2 in 2016 hands its communities to W1 then; but from 2018 W1 no longer
    # serves K2 (W2 took it) and W2 would be closed.
    found = rejected(
        register, "2016-01-01", {"op": "close_workstation", "code": "W2", "successor": "W1"}
    )
    assert [(p.code, p.units) for p in found] == [
        ("community_unserved", ("K2",)),
        ("community_unserved", ("K3",)),
    ]
    assert all("from 2018-01-01" in p.message for p in found)


def test_every_community_has_exactly_one_workstation():
    register = served(districts())
    found = rejected(
        register,
        "2016-01-01",
        redraw("K3", box(114.00, 22.535, 114.01, 22.54)),
        establish("K4", "community", "S1", box(114.00, 22.53, 114.01, 22.535)),
    )
    assert [(p.code, p.units) for p in found] == [("community_unserved", ("K4",))]


def test_every_problem_is_reported_at_once_across_families():
    register = served(districts(Rules(full_coverage=True)))
    found = rejected(
        register,
        "2016-01-01",
        # K1 reaches out of S1 into S2, and overlaps K2.
        redraw("K1", box(114.00, 22.50, 114.012, 22.525)),
        # S2 leaves part of D1 uncovered.
        redraw("S2", box(114.01, 22.50, 114.02, 22.53)),
        # A district street that reaches out of D2 into nowhere.
        redraw("D2", box(114.02, 22.50, 114.04, 22.55)),
    )
    assert sorted((p.code, p.units) for p in found) == [
        ("child_outside_parent", ("D2", "C")),
        ("child_outside_parent", ("K1", "S1")),
        ("coverage_gap", ("D1",)),
        ("siblings_overlap", ("K1", "K2")),
    ]
    by_code = {(p.code, p.units): p for p in found}
    assert by_code[("coverage_gap", ("D1",))].area_m2 == pytest.approx(
        m2(box(114.01, 22.53, 114.02, 22.54)), rel=0.005
    )
    assert by_code[("siblings_overlap", ("K1", "K2"))].area_m2 == pytest.approx(
        m2(box(114.00, 22.52, 114.01, 22.525)), rel=0.005
    )


def test_nothing_is_stored_on_rejection_and_the_key_stays_free():
    register = districts()
    s1_before = register.get_unit("S1")
    before = register.recorder.max_notification_id()
    request = parse_change_set(
        {
            "effective": "2016-01-01",
            "reason": "x",
            "operations": [redraw("S1", box(114.00, 22.50, 114.015, 22.54))],
        }
    )
    with pytest.raises(InvalidChangeSet):
        register.apply_change_set(request, actor="a", idempotency_key="key-1")
    assert register.recorder.max_notification_id() == before
    # The rejected change did not leak into the cached aggregate either.
    s1 = register.get_unit("S1")
    assert s1.version == s1_before.version and s1.versions() == s1_before.versions()
    assert not s1.pending_events
    # The key was not used up: the corrected change set is stored under it.
    receipt = apply(
        register,
        "2016-01-01",
        redraw("S1", box(114.00, 22.50, 114.015, 22.54)),
        redraw("S2", box(114.015, 22.50, 114.02, 22.54)),
        idempotency_key="key-1",
    )
    assert not receipt.replayed
    assert register.recorder.max_notification_id() == (before or 0) + receipt.events + 1


def test_invalid_geometry_is_rejected_with_its_reason_not_repaired():
    register = districts()
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [[114.0, 22.5], [114.01, 22.51], [114.01, 22.5], [114.0, 22.51], [114.0, 22.5]]
        ],
    }
    with pytest.raises(InvalidChangeSet) as caught:
        apply(register, "2016-01-01", redraw("S1", bowtie))
    (problem,) = caught.value.problems
    assert problem.code == "geometry_invalid"
    assert problem.location == "operations[0].geometry"
    assert "Self-intersection" in problem.message


# Tolerance ------------------------------------------------------------------------------------


def tooth(size: float) -> dict[str, Any]:
    """S1 with a square tooth of `size` degrees reaching into S2 (about size * 1e5 m)."""
    return union(box(114.00, 22.50, 114.01, 22.54), box(114.01, 22.52, 114.01 + size, 22.52 + size))


def test_a_sliver_below_the_tolerance_passes():
    register = districts()
    tiny = box(114.01, 22.52, 114.01002, 22.52002)
    assert 3 < m2(tiny) < 5
    apply(register, "2016-01-01", redraw("S1", tooth(0.00002)))


def test_an_overlap_above_the_tolerance_is_rejected_unless_the_tolerance_allows_it():
    register = districts()
    bigger = box(114.01, 22.52, 114.01003, 22.52003)
    assert 9 < m2(bigger) < 11
    found = rejected(register, "2016-01-01", redraw("S1", tooth(0.00003)))
    problem = only(found, "siblings_overlap")
    assert problem.area_m2 == pytest.approx(m2(bigger), rel=0.02)
    tolerant = districts(Rules(full_coverage=False, tolerance_m2=20))
    apply(tolerant, "2016-01-01", redraw("S1", tooth(0.00003)))


def test_a_gap_below_the_tolerance_passes_and_one_above_does_not():
    strict = districts(Rules(full_coverage=True))
    notch = box(114.01, 22.52, 114.01002, 22.52002)
    nibbled = dict(mapping(shape(box(114.01, 22.50, 114.02, 22.54)).difference(shape(notch))))
    apply(strict, "2016-01-01", redraw("S2", nibbled))
    bigger = box(114.01, 22.52, 114.01003, 22.52003)
    bitten = dict(mapping(shape(box(114.01, 22.50, 114.02, 22.54)).difference(shape(bigger))))
    found = rejected(strict, "2017-01-01", redraw("S2", bitten))
    assert only(found, "coverage_gap").area_m2 == pytest.approx(m2(bigger), rel=0.02)


def test_problems_name_the_first_day_they_occur():
    register = districts()
    apply(register, "2019-01-01", redraw("S2", box(114.012, 22.50, 114.02, 22.54)))
    found = rejected(register, "2016-01-01", redraw("S1", box(114.00, 22.50, 114.012, 22.54)))
    problem = only(found, "siblings_overlap")
    assert "from 2016-01-01" in problem.message
    assert problem.area_m2 == pytest.approx(m2(box(114.01, 22.50, 114.012, 22.54)), rel=0.005)
    # From 2019 the same territory is free: the change only needs to wait.
    apply(register, "2019-01-01", redraw("S1", box(114.00, 22.50, 114.012, 22.54)))
    s1 = register.get_unit("S1")
    assert [v.period.start for v in s1.versions()] == [date(2015, 1, 1), date(2019, 1, 1)]


def test_a_backdated_dissolution_is_checked_against_the_families_it_leaves_later():
    """K1 is S1's only community; S1 and S2 merge into N1 in 2016. Dissolving K1 from 2015-07
    leaves S1 childless (allowed) but N1 with a hole from 2016, where K1 would have been."""
    register = in_memory_register(Rules(full_coverage=True))
    apply(
        register,
        "2015-01-01",
        establish("C", "city", None, WEST),
        establish("D1", "district", "C", WEST),
        establish("S1", "street", "D1", box(114.00, 22.50, 114.01, 22.54)),
        establish("S2", "street", "D1", box(114.01, 22.50, 114.02, 22.54)),
        establish("K1", "community", "S1", box(114.00, 22.50, 114.01, 22.54)),
        establish("K2", "community", "S2", box(114.01, 22.50, 114.02, 22.54)),
        {"op": "open_workstation", "code": "W1", "name": "W1", "serves": ["K1"]},
        {"op": "open_workstation", "code": "W2", "name": "W2", "serves": ["K2"]},
    )
    apply(
        register,
        "2016-01-01",
        {"op": "merge", "units": ["S1", "S2"], "into": {"code": "N1", "name": "N1"}},
    )
    found = rejected(register, "2015-07-01", {"op": "dissolve", "unit": "K1"})
    problem = only(found, "coverage_gap")
    assert problem.units == ("N1",)
    assert "from 2016-01-01" in problem.message
    assert problem.area_m2 == pytest.approx(m2(box(114.00, 22.50, 114.01, 22.54)), rel=0.005)
    # Dissolved from the merger on, with its neighbour taking its place, it is fine.
    apply(register, "2016-01-01", {"op": "dissolve", "unit": "K1"}, redraw("K2", WEST))


def test_a_backdated_coverage_change_is_checked_in_the_street_it_was_merged_into():
    """W2 takes K3 from W3 in 2017. That holds for W3 for ever, but for W2 only until its
    next change, in 2025, when S1 and S2 have long been merged into N: K3 is unserved there."""
    register = districts()
    apply(
        register,
        "2015-01-01",
        establish("K1", "community", "S1", box(114.00, 22.50, 114.01, 22.54)),
        establish("K2", "community", "S2", box(114.01, 22.50, 114.02, 22.52)),
        establish("K3", "community", "S2", box(114.01, 22.52, 114.02, 22.54)),
        {"op": "open_workstation", "code": "W1", "name": "W1", "serves": ["K1"]},
        {"op": "open_workstation", "code": "W2", "name": "W2", "serves": ["K2"]},
        {"op": "open_workstation", "code": "W3", "name": "W3", "serves": ["K3"]},
    )
    apply(
        register,
        "2020-01-01",
        {"op": "merge", "units": ["S1", "S2"], "into": {"code": "N", "name": "N"}},
    )
    apply(register, "2025-01-01", {"op": "close_workstation", "code": "W1", "successor": "W2"})
    found = rejected(
        register,
        "2017-01-01",
        {"op": "assign_coverage", "workstation": "W2", "communities": ["K3"]},
    )
    assert [(p.code, p.units) for p in found] == [("community_unserved", ("K3",))]
    assert "from 2025-01-01" in found[0].message
