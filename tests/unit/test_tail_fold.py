"""The projection refolds only the tail of a history an event can change: after every event of
random backdated histories, the rows it keeps equal a full fold of the aggregate."""

from __future__ import annotations

import random
from typing import Any

import pytest

from domain.errors import ConcurrentChange, InvalidChangeSet
from projections import projection
from tests.unit.helpers import apply, in_memory_register, square


def _day(rng: random.Random) -> str:
    return f"{rng.randint(2015, 2019)}-{rng.randint(1, 12):02d}-{rng.choice([1, 15]):02d}"


def _operation(rng: random.Random, n: int) -> dict[str, Any]:
    unit = f"D{rng.randrange(3)}"
    i = int(unit[1:])
    size = rng.choice([0.05, 0.08, 0.1])
    kind = rng.choice(["redraw", "rename", "correct", "correct_open", "dissolve", "establish"])
    if kind == "redraw":
        return {"op": "redraw", "unit": unit, "geometry": square(114 + 0.2 * i, 22, size)}
    if kind == "rename":
        return {"op": "rename", "unit": unit, "name": rng.choice(["a", "b", "c"])}
    if kind == "dissolve":
        return {"op": "dissolve", "unit": unit}
    if kind == "establish":
        geometry = square(114.7, 22.5 + 0.001 * n, 0.0005)
        return {"op": "establish", "code": f"E{n}", "level": "district", "name": "e"} | {
            "parent": "C",
            "geometry": geometry,
        }
    start, end = sorted([_day(rng), _day(rng)])
    correction: dict[str, Any] = {"op": "correct", "unit": unit, "valid_from": start}
    if kind == "correct" and start != end:
        correction["valid_to"] = end
    if rng.random() < 0.5:
        correction["geometry"] = square(114 + 0.2 * i, 22, size)
    else:
        correction["name"] = rng.choice(["a", "b", "c"])
    return correction


@pytest.mark.parametrize("seed", range(8))
def test_tail_folds_equal_full_folds(seed: int, monkeypatch: pytest.MonkeyPatch):
    checked = []
    keep = projection.AggregateTimelines._keep

    def checking(self: Any, aggregate_id: Any, aggregate: Any, rows: list[Any]) -> None:
        full = projection.ROWS[type(aggregate)](aggregate, None)
        assert [r.identity for r in rows] == [r.identity for r in full]
        checked.append(aggregate_id)
        keep(self, aggregate_id, aggregate, rows)

    monkeypatch.setattr(projection.AggregateTimelines, "_keep", checking)
    rng = random.Random(seed)
    register = in_memory_register()
    districts = [
        {"op": "establish", "code": f"D{i}", "level": "district", "name": f"D{i}"}
        | {"parent": "C", "geometry": square(114 + 0.2 * i, 22, 0.1)}
        for i in range(3)
    ]
    city = {"op": "establish", "code": "C", "level": "city", "name": "C"}
    apply(register, "2015-01-01", city | {"geometry": square(114, 22, 1)}, *districts)
    applied = 0
    for n in range(40):
        try:
            apply(register, _day(rng), _operation(rng, n))
            applied += 1
        except (InvalidChangeSet, ConcurrentChange):
            pass  # a random operation may well be invalid; the valid ones make the history
    effects = projection.RegisterProjection(register)
    for notification in register.recorder.select_notifications(1, 100_000):
        effects.effects_of(register.mapper.to_domain_event(notification), notification.id)
    assert applied >= 10 and len(checked) >= applied
