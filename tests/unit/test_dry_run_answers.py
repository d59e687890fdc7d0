"""Dry-run answers an editor can draw (issue 18, item 2): every problem with an area carries it
(kept with the problem in the domain, GeoJSON only at the edge: `api.shared.problem_json`), with
its m², a point on it and a sentence; and the result of an edit, asked with a preview, comes
with the answer, refused or not.
"""

from __future__ import annotations

from typing import Any

import pytest
import shapely
from shapely.geometry import shape

from api.shared import problem_json
from domain.errors import InvalidChangeSet, Problem
from domain.geometry import area_m2
from tests.unit.helpers import apply
from tests.unit.test_operations import base_map, box, problems


def drawn(problem: Problem) -> dict[str, Any]:
    out = problem_json(problem, with_geometry=True)
    for key in ("code", "message", "area_m2", "location_point", "geometry"):
        assert key in out, (problem.code, key)
    point = shapely.Point(out["location_point"]["lon"], out["location_point"]["lat"])
    area = shape(out["geometry"])
    assert area.buffer(1e-7).contains(point)
    assert area_m2(area) == pytest.approx(out["area_m2"], rel=0.01)
    return out


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        # A lone redraw over the neighbour: siblings_overlap (a map-wide rule).
        ([{"op": "redraw", "unit": "K1", "geometry": box(114.00, 22.50, 114.01, 22.53)}], None),
        # A split whose part reaches beyond the unit, and one cutting both its communities.
        (
            [
                {
                    "op": "split",
                    "unit": "S1",
                    "mode": "split_off",
                    "parts": [{"code": "S7", "geometry": box(113.99, 22.50, 114.005, 22.54)}],
                }
            ],
            "split_part_outside",
        ),
        (
            [
                {
                    "op": "split",
                    "unit": "S1",
                    "mode": "full",
                    "reassign_children": "by_location",
                    "parts": [
                        {"code": "S7", "geometry": box(114.00, 22.50, 114.005, 22.54)},
                        {"code": "S8", "geometry": box(114.005, 22.50, 114.01, 22.54)},
                    ],
                }
            ],
            "child_straddles",
        ),
    ],
)
def test_every_spatial_problem_carries_its_area_a_point_and_a_sentence(
    operations: list[dict[str, Any]], expected: str | None
):
    found = problems(base_map(), "2017-01-01", *operations)
    spatial = [p for p in found if p.area_m2 is not None]
    assert spatial, [p.code for p in found]
    if expected is not None:
        assert expected in {p.code for p in spatial}
    for problem in spatial:
        out = drawn(problem)
        assert len(out["message"]) > 20
    # Without the flag the answer stays as it was: no geometry.
    assert "geometry" not in problem_json(spatial[0], with_geometry=False)


def test_a_straddling_child_of_a_split_says_both_sides():
    (first, _) = problems(
        base_map(),
        "2017-01-01",
        {
            "op": "split",
            "unit": "S1",
            "mode": "full",
            "reassign_children": "by_location",
            "parts": [
                {"code": "S7", "geometry": box(114.00, 22.50, 114.004, 22.54)},
                {"code": "S8", "geometry": box(114.004, 22.50, 114.01, 22.54)},
            ],
        },
    )
    assert set(first.extra["sides_m2"]) == {"S7", "S8"}
    smaller = min(first.extra["sides_m2"].values())
    assert first.area_m2 == pytest.approx(smaller, rel=0.001)
    assert shape(problem_json(first, True)["geometry"]).bounds[2] == pytest.approx(114.004)


def test_the_preview_is_each_changed_unit_after_the_edit_refused_or_not():
    register = base_map()
    move = {
        "op": "move_area",
        "from_unit": "K1",
        "to_unit": "K2",
        "geometry": box(114.00, 22.51, 114.01, 22.52),
    }
    receipt = apply(register, "2017-01-01", move, dry_run=True, preview=True)
    assert receipt.preview is not None
    after = {u.code: u.version for u in receipt.preview}
    assert set(after) == {"K1", "K2"}
    assert after["K2"] is not None and after["K2"].parent == "S1"
    assert apply(register, "2017-01-01", move, dry_run=True).preview is None

    with pytest.raises(InvalidChangeSet) as caught:
        apply(
            register,
            "2017-01-01",
            {"op": "redraw", "unit": "K1", "geometry": box(114.00, 22.50, 114.01, 22.53)},
            dry_run=True,
            preview=True,
        )
    assert caught.value.preview is not None
    (k1,) = caught.value.preview
    assert k1.code == "K1" and k1.version is not None
