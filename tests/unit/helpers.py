"""Small builders shared by the domain tests."""

from __future__ import annotations

from typing import Any

from api.operations import parse_change_set
from domain.levels import Rules
from domain.register import JurisdictionRegister, Receipt


def square(x: float, y: float, size: float) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [[[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]],
    }


#: Rules for tests about dates and bookkeeping, where maps with gaps are simpler to write.
LENIENT = Rules(full_coverage=False)


def in_memory_register(rules: Rules = LENIENT) -> JurisdictionRegister:
    return JurisdictionRegister(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, rules=rules)


def apply(
    register: JurisdictionRegister, effective: str, *operations: dict[str, Any], **kwargs: Any
) -> Receipt:
    body = {"effective": effective, "reason": "test", "operations": list(operations)}
    return register.apply_change_set(parse_change_set(body), actor="tester", **kwargs)


def city_with_district(register: JurisdictionRegister) -> None:
    apply(
        register,
        "2015-01-01",
        {
            "op": "establish",
            "code": "C",
            "level": "city",
            "name": "City",
            "geometry": square(114, 22, 1),
        },
        {
            "op": "establish",
            "code": "D1",
            "level": "district",
            "name": "One",
            "parent": "C",
            "geometry": square(114, 22, 0.5),
        },
    )
