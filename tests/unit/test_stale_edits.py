"""An edit drawn on a map someone else has changed since: a `ConcurrentChange` that says who
changed which units of the same family, and nothing stored (issue 18, item 3).

Two ways to get there: the editor says which log position its map was (`based_on`), checked
on every dry run and write; or two writers race between working out and saving, where the
event store's version check refuses the second.
"""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import ConcurrentChange
from tests.unit.helpers import apply
from tests.unit.test_operations import base_map, box

NORTHWARD = {"op": "move_area", "from_unit": "K2", "to_unit": "K1"}


def move_k1_k2(lat: float) -> dict[str, Any]:
    return {**NORTHWARD, "geometry": box(114.00, 22.52, 114.01, lat)}


def test_an_edit_based_on_an_older_map_of_the_family_is_refused_naming_who_changed_it():
    register = base_map()
    seen = register.recorder.max_notification_id() or 0
    other = apply(register, "2017-01-01", move_k1_k2(22.525))
    before = register.recorder.max_notification_id()
    with pytest.raises(ConcurrentChange) as caught:
        apply(register, "2017-01-01", move_k1_k2(22.53), dry_run=True, based_on=seen)
    (interference,) = caught.value.interferences
    assert interference.change_set == str(other.id)
    assert set(interference.units) >= {"K1", "K2"}
    assert (interference.actor, interference.reason) == ("tester", "test")
    assert interference.effective == "2017-01-01"
    assert interference.position is not None and interference.position > seen
    message = str(caught.value)
    assert message.startswith("someone else changed the same family meanwhile")
    assert str(other.id) in message and "reload" in message
    with pytest.raises(ConcurrentChange):
        apply(register, "2017-01-01", move_k1_k2(22.53), based_on=seen)
    assert register.recorder.max_notification_id() == before
    # On the map as it is now, the same edit goes through.
    apply(register, "2017-01-01", move_k1_k2(22.53), based_on=before)


def test_a_change_in_another_family_since_is_no_conflict():
    register = base_map()
    seen = register.recorder.max_notification_id() or 0
    apply(
        register,
        "2017-01-01",
        {
            **NORTHWARD,
            "from_unit": "K4",
            "to_unit": "K3",
            "geometry": box(114.01, 22.52, 114.02, 22.525),
        },
    )
    receipt = apply(register, "2017-01-01", move_k1_k2(22.53), based_on=seen)
    assert receipt.position is not None


def test_a_lost_race_names_the_change_set_that_won():
    register = base_map()
    stale = register.get_unit("K1")
    winner = apply(register, "2017-01-01", move_k1_k2(22.525))
    original = register.find_unit
    register.find_unit = lambda code: stale if code == "K1" else original(code)  # type: ignore[method-assign]
    with pytest.raises(ConcurrentChange) as caught:
        apply(
            register,
            "2018-01-01",
            {"op": "rename", "unit": "K1", "name": "late"},
        )
    register.find_unit = original  # type: ignore[method-assign]
    assert [i.change_set for i in caught.value.interferences] == [str(winner.id)]
    assert caught.value.interferences[0].units == ("K1",)
    assert str(winner.id) in str(caught.value)
