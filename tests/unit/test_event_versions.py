"""Event schema evolution: an event stored before a schema change reads back upcast.

`Unit.Established` is at class_version 2, which added `provenance`. Version 1 events, as the
register stored them before that change, have neither `provenance` nor `class_version` in
their state; they must read back with an empty provenance and fold like any other.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from eventsourcing.persistence import StoredEvent
from shapely.geometry import MultiPolygon, shape

from domain.geometry import from_wkb_hex, to_wkb_hex
from domain.register import JurisdictionRegister
from domain.units import Unit, unit_id
from tests.unit.helpers import apply, in_memory_register, square

TOPIC = "domain.units:Unit.Established"


def v1_state(code: str, parent: str | None, geometry: dict[str, Any]) -> dict[str, Any]:
    """The state of a version 1 `Unit.Established`, as the old register wrote it."""
    return {
        "timestamp": datetime(2015, 3, 1, 8, 0, tzinfo=UTC),
        "originator_topic": "domain.units:Unit",
        "effective": date(2015, 1, 1),
        "actor": "legacy",
        "reason": "old",
        "document": "",
        "change_set": unit_id("legacy-change-set"),
        "lineage": [],
        "code": code,
        "level": "district",
        "name": "Old",
        "name_en": "",
        "parent": parent,
        "geometry": to_wkb_hex(MultiPolygon([shape(geometry)])),
    }


def store_v1(register: JurisdictionRegister, state: dict[str, Any]) -> None:
    encoded = register.mapper.transcoder.encode(state)
    if register.mapper.compressor is not None:
        encoded = register.mapper.compressor.compress(encoded)
    stored = StoredEvent(
        originator_id=unit_id(state["code"]),
        originator_version=1,
        topic=TOPIC,
        state=encoded,
    )
    register.recorder.insert_events([stored])


def raw_state(register: JurisdictionRegister, code: str) -> dict[str, Any]:
    (stored,) = register.recorder.select_events(unit_id(code), lte=1)
    data = stored.state
    if register.mapper.compressor is not None:
        data = register.mapper.compressor.decompress(data)
    return dict(json.loads(data))


def test_new_events_are_stored_as_version_2():
    register = in_memory_register()
    apply(
        register,
        "2015-01-01",
        {
            "op": "establish",
            "code": "C",
            "level": "city",
            "name": "C",
            "geometry": square(114, 22, 1),
            "provenance": "surveyed",
        },
    )
    state = raw_state(register, "C")
    assert state["class_version"] == 2
    assert state["provenance"] == "surveyed"


def test_a_version_1_event_reads_back_upcast_and_folds():
    register = in_memory_register()
    apply(
        register,
        "2015-01-01",
        {
            "op": "establish",
            "code": "C",
            "level": "city",
            "name": "C",
            "geometry": square(114, 22, 1),
        },
    )
    store_v1(register, v1_state("D-OLD", "C", square(114, 22, 0.5)))
    # The stored state really is the old schema.
    state = raw_state(register, "D-OLD")
    assert "provenance" not in state and "class_version" not in state

    (event,) = register.events.get(unit_id("D-OLD"))
    assert isinstance(event, Unit.Established)
    assert event.provenance == ""
    assert event.actor == "legacy"

    unit: Any = register.repository.get(unit_id("D-OLD"))
    assert isinstance(unit, Unit)
    assert unit.provenance == ""
    (version,) = unit.versions()
    assert (version.code, version.name, version.parent) == ("D-OLD", "Old", "C")
    assert version.period.start == date(2015, 1, 1) and version.period.end is None
    assert from_wkb_hex(version.geometry).area == 0.25


def test_an_upcast_unit_takes_new_events_and_passes_its_provenance_on():
    register = in_memory_register()
    apply(
        register,
        "2015-01-01",
        {
            "op": "establish",
            "code": "C",
            "level": "city",
            "name": "C",
            "geometry": square(114, 22, 1),
        },
    )
    store_v1(register, v1_state("D-OLD", "C", square(114, 22, 0.5)))
    apply(
        register,
        "2017-01-01",
        {
            "op": "split",
            "unit": "D-OLD",
            "mode": "split_off",
            "parts": [{"code": "D-NEW", "name": "New", "geometry": square(114, 22, 0.25)}],
        },
    )
    old = register.get_unit("D-OLD")
    assert old.version == 2
    assert [v.period.start for v in old.versions()] == [date(2015, 1, 1), date(2017, 1, 1)]
    new = register.get_unit("D-NEW")
    assert new.provenance == ""
    # The split wrote a version 2 event for the new part; the old event stays as it was.
    assert raw_state(register, "D-NEW")["class_version"] == 2
    assert "class_version" not in raw_state(register, "D-OLD")
