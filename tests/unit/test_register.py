"""The register on the in-memory event store: change sets, dates, rules, idempotency."""

from datetime import UTC, date, datetime
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from api.operations import parse_change_set
from domain.changesets import (
    change_set_id,
    idempotency_key_problem,
    request_fingerprint,
    unscoped_change_set_id,
)
from domain.errors import (
    ConcurrentChange,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    InvalidChangeSet,
    UnitNotFound,
)
from domain.geometry import from_wkb_hex
from domain.matters import CATALOGUE_ID
from domain.register import JurisdictionRegister, Receipt
from domain.units import Unit, unit_id
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


# Idempotency keys -----------------------------------------------------------------------------


def applied_as(
    register: JurisdictionRegister, actor: str, effective: str, *ops: dict[str, Any], **kw: Any
) -> Receipt:
    body = {"effective": effective, "reason": "test", "operations": list(ops)}
    return register.apply_change_set(parse_change_set(body), actor=actor, **kw)


def rename(unit: str, name: str) -> dict[str, Any]:
    return {"op": "rename", "unit": unit, "name": name}


def test_the_same_key_with_another_body_is_refused_and_stores_nothing():
    register = in_memory_register()
    city_with_district(register)
    first = apply(register, "2017-01-01", rename("D1", "A"), idempotency_key="k-1")
    before = register.recorder.max_notification_id() or 0
    with pytest.raises(IdempotencyKeyReused) as caught:
        apply(register, "2017-01-01", rename("D1", "B"), idempotency_key="k-1")
    assert caught.value.change_set == first.id and "different request" in str(caught.value)
    # Another date, or only another geometry, is another request too.
    with pytest.raises(IdempotencyKeyReused):
        apply(register, "2017-01-02", rename("D1", "A"), idempotency_key="k-1")
    redraw = {"op": "redraw", "unit": "D1", "geometry": square(114, 22, 0.3)}
    redrawn = apply(register, "2018-01-01", redraw, idempotency_key="k-2")
    moved = {"op": "redraw", "unit": "D1", "geometry": square(114, 22, 0.31)}
    with pytest.raises(IdempotencyKeyReused):
        apply(register, "2018-01-01", moved, idempotency_key="k-2")
    assert register.recorder.max_notification_id() == before + redrawn.events + 1
    assert register.get_unit("D1").names.value_on(date(2017, 6, 1)) == ("A", "")


def test_the_fingerprint_is_of_the_request_not_of_how_it_was_written():
    ring = [[114.0, 22.0], [114.3, 22.0], [114.3, 22.3], [114.0, 22.3], [114.0, 22.0]]
    rotated = [[114.3, 22.0], [114.3, 22.3], [114.0, 22.3], [114.0, 22.0], [114.3, 22.0]]

    def body(coordinates: list[list[float]], name: str = "x") -> Any:
        geometry = {"type": "Polygon", "coordinates": [coordinates]}
        ops = [{"op": "redraw", "unit": "D1", "geometry": geometry}, rename("D1", name)]
        return parse_change_set({"effective": "2017-01-01", "reason": "r", "operations": ops})

    assert request_fingerprint(body(ring)) == request_fingerprint(body(rotated))
    assert request_fingerprint(body(ring)) != request_fingerprint(body(ring, "y"))


def test_keys_are_scoped_to_the_actor():
    register = in_memory_register()
    city_with_district(register)
    mine = applied_as(register, "ana", "2017-01-01", rename("D1", "A"), idempotency_key="k")
    theirs = applied_as(register, "bo", "2018-01-01", rename("D1", "B"), idempotency_key="k")
    assert not theirs.replayed and theirs.id != mine.id
    assert register.find_keyed_change_set("ana", "k") is not None
    again = applied_as(register, "bo", "2018-01-01", rename("D1", "B"), idempotency_key="k")
    assert again.replayed and again.id == theirs.id
    assert change_set_id("ana", "k") != change_set_id("bo", "k")
    assert mine.id == change_set_id("ana", "k")  # the same on every run (the demo relies on it)
    record = register.find_change_set(mine.id)
    body = {"effective": "2017-01-01", "reason": "test", "operations": [rename("D1", "A")]}
    assert record is not None
    assert record.fingerprint == request_fingerprint(parse_change_set(body))
    # No actor/key pair spells another's.
    assert change_set_id("a/b", "c") != change_set_id("a", "b/c")


@pytest.mark.parametrize("key", ["", " ", "\t", "k\x00", "k\n1", "é", "x" * 256])
def test_a_key_that_cannot_be_one_is_refused(key: str):
    register = in_memory_register()
    city_with_district(register)
    before = register.recorder.max_notification_id()
    with pytest.raises(IdempotencyKeyInvalid):
        apply(register, "2017-01-01", rename("D1", "A"), idempotency_key=key)
    with pytest.raises(IdempotencyKeyInvalid):
        apply(register, "2017-01-01", rename("D1", "A"), idempotency_key=key, dry_run=True)
    assert register.recorder.max_notification_id() == before
    assert idempotency_key_problem("x" * 255) is None
    assert idempotency_key_problem(" a key with spaces ") is None


def test_a_dry_run_never_uses_up_a_key_but_answers_as_the_write_would():
    register = in_memory_register()
    city_with_district(register)
    dry = apply(register, "2017-01-01", rename("D1", "A"), idempotency_key="k", dry_run=True)
    assert not dry.replayed and dry.position is None
    # The key is still free: another request may take it.
    stored = apply(register, "2017-01-01", rename("D1", "B"), idempotency_key="k")
    assert not stored.replayed
    again = apply(register, "2017-01-01", rename("D1", "B"), idempotency_key="k", dry_run=True)
    assert again.replayed and again.id == stored.id
    with pytest.raises(IdempotencyKeyReused):
        apply(register, "2017-01-01", rename("D1", "C"), idempotency_key="k", dry_run=True)


def store_v1_record(register: JurisdictionRegister, key: str, actor: str) -> None:
    """A `ChangeSet.Recorded` as the register stored it before keys were scoped and
    fingerprinted (class version 1: no fingerprint, id from the key alone)."""
    state = {
        "timestamp": datetime(2016, 3, 1, 8, 0, tzinfo=UTC),
        "originator_topic": "domain.changesets:ChangeSet",
        "effective": date(2017, 1, 1),
        "actor": actor,
        "reason": "test",
        "document": "",
        "operations": [{"op": "rename", "unit": "D1", "name": "Old"}],
        "units": ["D1"],
        "events": 1,
    }
    encoded = register.mapper.transcoder.encode(state)
    if register.mapper.compressor is not None:
        encoded = register.mapper.compressor.compress(encoded)
    stored = StoredEvent(
        originator_id=unscoped_change_set_id(key),
        originator_version=1,
        topic="domain.changesets:ChangeSet.Recorded",
        state=encoded,
    )
    register.recorder.insert_events([stored])


def test_a_record_from_before_fingerprints_compares_by_what_it_kept():
    register = in_memory_register()
    city_with_district(register)
    store_v1_record(register, "old-key", "tester")
    record = register.find_keyed_change_set("tester", "old-key")
    assert record is not None and record.fingerprint == ""
    replay = apply(register, "2017-01-01", rename("D1", "Old"), idempotency_key="old-key")
    assert replay.replayed and replay.id == unscoped_change_set_id("old-key")
    with pytest.raises(IdempotencyKeyReused):
        apply(register, "2017-01-01", rename("D1", "New"), idempotency_key="old-key")
    # Another actor's old record does not hold the key for this one.
    other = applied_as(
        register, "someone", "2017-01-01", rename("D1", "Old"), idempotency_key="old-key"
    )
    assert not other.replayed and other.id == change_set_id("someone", "old-key")


# Concurrency granularity ---------------------------------------------------------------------


def stale_once(register: JurisdictionRegister, code: str) -> None:
    """The next change set reads `code` as it is now, even if it changes before it saves;
    later reads (a re-run) see the store."""
    stale = register.get_unit(code)
    original = register.find_unit
    used: list[bool] = []

    def find_unit(wanted: str) -> Any:
        if wanted == code and not used:
            used.append(True)
            return stale
        return original(wanted)

    register.find_unit = find_unit  # type: ignore[method-assign,assignment]


def test_a_rename_leaves_the_parent_alone():
    register = in_memory_register()
    city_with_district(register)
    before = len(list(register.events.get(unit_id("C"))))
    apply(register, "2017-01-01", rename("D1", "A"))
    assert len(list(register.events.get(unit_id("C")))) == before


def test_a_non_geometric_change_set_conflicting_only_on_a_marker_is_re_run():
    register = in_memory_register()
    city_with_district(register)
    office = {"op": "open_office", "kind": "district_office", "name": "o", "unit": "D1"}
    stale_once(register, "D1")
    # Someone else opens an office of D1 meanwhile: D1 gets a marker (its list of offices).
    original = register.save

    def save(*objects: Any, **kwargs: Any) -> Any:
        register.save = original  # type: ignore[method-assign]
        apply(register, "2017-01-01", {**office, "code": "O1"})
        return original(*objects, **kwargs)

    register.save = save  # type: ignore[method-assign]
    receipt = apply(register, "2017-01-01", {**office, "code": "O2"})
    assert receipt.position is not None
    assert {"O1", "O2"} <= register.get_unit("D1").offices_ever


def test_matter_assignments_racing_on_the_catalogue_are_re_run():
    register = in_memory_register()
    city_with_district(register)
    matter = {"op": "assign_matter", "office_kind": "district_office", "level": "district"}
    apply(register, "2016-01-01", {**matter, "matter": "m0"})
    stale = register.find_catalogue()
    original_find = register.find_catalogue
    calls: list[bool] = []

    def find_catalogue() -> Any:
        if not calls:
            calls.append(True)
            apply(register, "2017-01-01", {**matter, "matter": "m1"})
            return stale
        return original_find()

    register.find_catalogue = find_catalogue  # type: ignore[method-assign]
    apply(register, "2017-01-01", {**matter, "matter": "m2"})
    register.find_catalogue = original_find  # type: ignore[method-assign]
    events = list(register.events.get(CATALOGUE_ID))
    assert [getattr(e, "matter", None) for e in events[1:]] == ["m0", "m1", "m2"]


def test_two_assignments_of_one_matter_racing_still_conflict():
    """Like two renames of one unit: the later writer must see the other's assignment."""
    register = in_memory_register()
    city_with_district(register)
    matter = {"op": "assign_matter", "office_kind": "district_office", "level": "district"}
    apply(register, "2016-01-01", {**matter, "matter": "m0"})
    stale = register.find_catalogue()
    original_find = register.find_catalogue
    calls: list[bool] = []

    def find_catalogue() -> Any:
        if not calls:
            calls.append(True)
            apply(register, "2017-01-01", {**matter, "matter": "m0", "level": "city"})
            return stale
        return original_find()

    register.find_catalogue = find_catalogue  # type: ignore[method-assign]
    with pytest.raises(ConcurrentChange):
        apply(register, "2017-01-01", {**matter, "matter": "m0"})
    register.find_catalogue = original_find  # type: ignore[method-assign]
    events = list(register.events.get(CATALOGUE_ID))
    assert [getattr(e, "level", None) for e in events[1:]] == ["district", "city"]


def test_a_rename_racing_with_a_change_of_the_same_unit_still_conflicts():
    register = in_memory_register()
    city_with_district(register)
    stale = register.get_unit("D1")
    apply(register, "2017-01-01", {"op": "dissolve", "unit": "D1"})
    original = register.find_unit
    register.find_unit = lambda code: stale if code == "D1" else original(code)  # type: ignore[method-assign]
    before = register.recorder.max_notification_id()
    with pytest.raises(ConcurrentChange):
        apply(register, "2016-01-01", rename("D1", "late"))
    assert register.recorder.max_notification_id() == before
    assert not any(isinstance(e, Unit.Renamed) for e in register.events.get(unit_id("D1")))


def test_geometric_change_sets_are_not_re_run():
    register = in_memory_register()
    city_with_district(register)
    stale_once(register, "C")
    original = register.save

    def save(*objects: Any, **kwargs: Any) -> Any:
        register.save = original  # type: ignore[method-assign]
        apply(register, "2017-01-01", rename("C", "meanwhile"))
        return original(*objects, **kwargs)

    register.save = save  # type: ignore[method-assign]
    # A new district appends a marker to C; C moved meanwhile, so the editor must look again.
    with pytest.raises(ConcurrentChange):
        apply(
            register,
            "2018-01-01",
            {
                "op": "establish",
                "code": "D2",
                "level": "district",
                "name": "Two",
                "parent": "C",
                "geometry": square(114.5, 22, 0.5),
            },
        )


def test_a_rewritten_request_is_keyed_by_what_was_sent():
    """The command layer may rewrite a request (repairs on today's map): a retry of what the
    client sent replays, though the rewritten request differs; other options are refused."""
    register = in_memory_register()
    city_with_district(register)
    first = apply(register, "2017-01-01", rename("D1", "A"), idempotency_key="k", sent_as="sent-1")
    again = apply(register, "2017-01-01", rename("D1", "B"), idempotency_key="k", sent_as="sent-1")
    assert again.replayed and again.id == first.id
    with pytest.raises(IdempotencyKeyReused):
        apply(register, "2017-01-01", rename("D1", "A"), idempotency_key="k", sent_as="sent-2")
