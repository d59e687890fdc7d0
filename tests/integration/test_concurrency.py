"""Real parallel writers on PostgreSQL: optimistic concurrency across every aggregate touched.

Each editor is a thread (or a process) with its own services, as separate API workers are.
Where a test needs two editors to have read the same state before either writes, a barrier
holds each one just before it saves: both change sets were then worked out on the same
versions, and the database decides.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Any

import psycopg
import pytest

from api.operations import parse_change_set
from domain.errors import ConcurrentChange, IdempotencyKeyReused, InvalidChangeSet
from domain.geometry import from_wkb_hex
from domain.register import JurisdictionRegister, Receipt
from jurisdictions.bootstrap import Services, build_services
from jurisdictions.settings import Settings
from tests.unit.test_operations import base_operations, box
from tests.unit.test_properties import NaiveFold, violations

pytestmark = pytest.mark.db

BASE = "2015-01-01"
TABLE = "jurisdictionregister_events"
STARTING: Any = threading.Lock()


def editor_services(database_url: str, **rules: Any) -> Services:
    """One editor's own services (pools, register), as one API worker has.

    Built one at a time: the event store's start-up DDL (``CREATE OR REPLACE FUNCTION``) fails
    with "tuple concurrently updated" when two processes run it at the same moment.
    """
    with STARTING:
        return build_services(
            Settings(database_url=database_url, run_projection=False, read_pool_min=1, **rules)
        )


def hold_before_saving(register: JurisdictionRegister, barrier: Any) -> None:
    """Make the register wait at `barrier` after working out a change set, before saving it
    (the first time: a change set the register re-runs after a conflict saves at once)."""
    original = register.save
    held: list[bool] = []

    def save(*objects: Any, **kwargs: Any) -> Any:
        if not held:
            held.append(True)
            barrier.wait(timeout=60)
        return original(*objects, **kwargs)

    setattr(register, "save", save)  # noqa: B010 - an instance attribute on purpose


def submit(
    register: JurisdictionRegister,
    day: str,
    *ops: dict[str, Any],
    actor: str = "editor",
    **kwargs: Any,
) -> Receipt:
    body = {"effective": day, "reason": "concurrency", "operations": list(ops)}
    return register.apply_change_set(parse_change_set(body), actor=actor, **kwargs)


def move_k1_k2(edge: float) -> list[dict[str, Any]]:
    return [
        {"op": "redraw", "unit": "K1", "geometry": box(114.00, 22.50, 114.01, edge)},
        {"op": "redraw", "unit": "K2", "geometry": box(114.00, edge, 114.01, 22.54)},
    ]


def move_k3_k4(edge: float) -> list[dict[str, Any]]:
    return [
        {"op": "redraw", "unit": "K3", "geometry": box(114.01, 22.50, 114.02, edge)},
        {"op": "redraw", "unit": "K4", "geometry": box(114.01, edge, 114.02, 22.54)},
    ]


def outcome(call: Callable[[], Receipt]) -> tuple[str, Any]:
    try:
        return ("stored", call())
    except ConcurrentChange as exc:
        return ("conflict", exc)
    except InvalidChangeSet as exc:
        return ("invalid", exc)
    except IdempotencyKeyReused as exc:
        return ("reused", exc)


def race(
    database_url: str, attempts: list[Callable[[JurisdictionRegister], Receipt]], **rules: Any
) -> list[tuple[str, Any]]:
    """Run each attempt on its own editor's services, all held until all have worked out."""
    barrier = threading.Barrier(len(attempts))
    editors = [editor_services(database_url, **rules) for _ in attempts]
    try:
        for editor in editors:
            hold_before_saving(editor.register, barrier)
        with ThreadPoolExecutor(len(attempts)) as pool:
            futures = [
                pool.submit(outcome, partial(attempt, editor.register))
                for attempt, editor in zip(attempts, editors, strict=True)
            ]
            return [f.result(timeout=120) for f in futures]
    finally:
        for editor in editors:
            editor.close()


def stored_events(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
    assert row is not None
    return int(row[0])


def assert_streams_are_whole(database_url: str) -> None:
    """Every aggregate's stream is versions 1..n: nothing lost in the middle, nothing doubled."""
    with psycopg.connect(database_url) as conn:
        broken = conn.execute(
            f"SELECT originator_id, count(*), max(originator_version) FROM {TABLE} "
            "GROUP BY originator_id HAVING count(*) <> max(originator_version) "
            "OR min(originator_version) <> 1"
        ).fetchall()
    assert broken == []


@pytest.fixture
def base(services: Services) -> Iterator[Services]:
    submit(services.register, BASE, *base_operations())
    yield services


def edge_of_k1(register: JurisdictionRegister, day: date) -> float:
    version = register.get_unit("K1").version_on(day)
    assert version is not None
    return round(float(from_wkb_hex(version.geometry).bounds[3]), 4)


def test_two_editors_moving_the_same_boundary_one_wins(base: Services, database_url: str):
    before = stored_events(database_url)
    results = race(
        database_url,
        [
            lambda r: submit(r, "2017-01-01", *move_k1_k2(22.53)),
            lambda r: submit(r, "2017-01-01", *move_k1_k2(22.51)),
        ],
    )
    kinds = sorted(kind for kind, _ in results)
    assert kinds == ["conflict", "stored"]
    (winner,) = [value for kind, value in results if kind == "stored"]
    assert stored_events(database_url) == before + winner.events + 1
    won_edge = 22.53 if results[0][0] == "stored" else 22.51
    assert edge_of_k1(base.register, date(2017, 1, 1)) == won_edge
    # The loser lost nothing it cannot resubmit: on the new state it goes through.
    lost_edge = 22.51 if won_edge == 22.53 else 22.53
    submit(base.register, "2017-01-01", *move_k1_k2(lost_edge))
    assert edge_of_k1(base.register, date(2017, 1, 1)) == lost_edge
    assert_streams_are_whole(database_url)


def test_editors_of_different_families_do_not_conflict(base: Services, database_url: str):
    results = race(
        database_url,
        [
            lambda r: submit(r, "2017-01-01", *move_k1_k2(22.53)),
            lambda r: submit(r, "2017-01-01", *move_k3_k4(22.51)),
        ],
    )
    assert [kind for kind, _ in results] == ["stored", "stored"]


def test_new_siblings_that_would_overlap_conflict_on_their_parent(
    services: Services, database_url: str
):
    """Two editors each add a street to the empty half of D1: alone each is fine, together
    they overlap. They share no unit but the parent, whose family marker makes them conflict."""
    lenient = {"full_coverage": False}
    register = editor_services(database_url, **lenient)
    try:
        submit(
            register.register,
            BASE,
            {
                "op": "establish",
                "code": "C",
                "level": "city",
                "name": "C",
                "geometry": box(114.00, 22.50, 114.04, 22.54),
            },
            {
                "op": "establish",
                "code": "D1",
                "level": "district",
                "name": "D1",
                "parent": "C",
                "geometry": box(114.00, 22.50, 114.04, 22.54),
            },
            {
                "op": "establish",
                "code": "S1",
                "level": "street",
                "name": "S1",
                "parent": "D1",
                "geometry": box(114.00, 22.50, 114.02, 22.54),
            },
        )
    finally:
        register.close()

    def street(code: str, west: float) -> Callable[[JurisdictionRegister], Receipt]:
        op = {
            "op": "establish",
            "code": code,
            "level": "street",
            "name": code,
            "parent": "D1",
            "geometry": box(west, 22.50, west + 0.015, 22.54),
        }
        return lambda r: submit(r, "2017-01-01", op)

    results = race(database_url, [street("S2", 114.02), street("S3", 114.025)], **lenient)
    assert sorted(kind for kind, _ in results) == ["conflict", "stored"]
    loser = "S3" if results[0][0] == "stored" else "S2"
    retry = editor_services(database_url, **lenient)
    try:
        kind, error = outcome(
            lambda: street(loser, 114.025 if loser == "S3" else 114.02)(retry.register)
        )
        assert kind == "invalid"
        assert [p.code for p in error.problems] == ["siblings_overlap"]
        events = list(retry.register.events.get(retry.register.get_unit("D1").id))
        assert type(events[-1]).__name__ == "ChildrenRevised"
    finally:
        retry.close()


def test_the_same_idempotency_key_from_two_threads_stores_once(base: Services, database_url: str):
    before = stored_events(database_url)
    attempt = lambda r: submit(r, "2017-01-01", *move_k1_k2(22.53), idempotency_key="key-7")  # noqa: E731
    results = race(database_url, [attempt, attempt])
    assert [kind for kind, _ in results] == ["stored", "stored"]
    receipts = [value for _, value in results]
    assert sorted(r.replayed for r in receipts) == [False, True]
    assert receipts[0].id == receipts[1].id
    stored = next(r for r in receipts if not r.replayed)
    assert stored_events(database_url) == before + stored.events + 1
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            f"SELECT count(*) FROM {TABLE} WHERE originator_id = %s", (stored.id,)
        ).fetchone()
    assert row == (1,)


def recorded_change_sets(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            f"SELECT count(*) FROM {TABLE} WHERE topic LIKE %s", ("%ChangeSet.Recorded",)
        ).fetchone()
    assert row is not None
    return int(row[0])


def rename(code: str, name: str) -> dict[str, Any]:
    return {"op": "rename", "unit": code, "name": name}


def test_the_same_key_with_different_bodies_stores_one_and_refuses_the_others(
    base: Services, database_url: str
):
    """Eight requests under one key, each renaming another unit: they share nothing but the
    key, and the key alone decides. One is stored; the others are told the key was used."""
    before = stored_events(database_url)
    units = ["K1", "K2", "K3", "K4", "K5", "K6", "S1", "S2"]

    def attempt(code: str) -> Callable[[JurisdictionRegister], Receipt]:
        return lambda r: submit(r, "2017-01-01", rename(code, f"{code}*"), idempotency_key="k")

    results = race(database_url, [attempt(code) for code in units])
    kinds = sorted(kind for kind, _ in results)
    assert kinds == ["reused"] * 7 + ["stored"], results
    (stored,) = [value for kind, value in results if kind == "stored"]
    assert not stored.replayed
    assert {value.change_set for kind, value in results if kind == "reused"} == {stored.id}
    assert stored_events(database_url) == before + stored.events + 1
    (winner,) = [code for code, (kind, _) in zip(units, results, strict=True) if kind == "stored"]
    for code in units:
        name = base.register.get_unit(code).names.value_on(date(2017, 1, 1))
        assert name is not None and name[0] == (f"{code}*" if code == winner else f"{code} name")


def test_the_same_key_from_two_editors_is_two_change_sets(base: Services, database_url: str):
    before = recorded_change_sets(database_url)
    results = race(
        database_url,
        [
            lambda r: submit(r, "2017-01-01", rename("K1", "a"), actor="ana", idempotency_key="k"),
            lambda r: submit(r, "2017-01-01", rename("K3", "b"), actor="bo", idempotency_key="k"),
        ],
    )
    assert [kind for kind, _ in results] == ["stored", "stored"]
    ids = {value.id for _, value in results}
    assert len(ids) == 2
    assert recorded_change_sets(database_url) == before + 2


def lay_grids(services: Services, community: str, count: int) -> list[str]:
    """`count` grids side by side across the community (K1: 114.00-114.01 x 22.50-22.52)."""
    width = 0.01 / count
    grids = [
        {
            "code": f"G{i}",
            "geometry": box(114.00 + i * width, 22.50, 114.00 + (i + 1) * width, 22.52),
        }
        for i in range(count)
    ]
    op = {"op": "lay_grids", "community": community, "grids": grids}
    submit(services.register, "2016-01-01", op)
    return [str(g["code"]) for g in grids]


def test_eight_editors_renaming_eight_grids_of_one_community_all_succeed(
    base: Services, database_url: str
):
    """A rename changes no territory, so it does not conflict with a sibling's rename (it
    used to: each appended a marker to the community)."""
    grids = lay_grids(base, "K1", 8)
    community_events = len(list(base.register.events.get(base.register.get_unit("K1").id)))
    before = stored_events(database_url)

    def attempt(code: str) -> Callable[[JurisdictionRegister], Receipt]:
        return lambda r: submit(r, "2017-01-01", rename(code, f"{code} renamed"))

    results = race(database_url, [attempt(code) for code in grids])
    assert [kind for kind, _ in results] == ["stored"] * 8, results
    assert stored_events(database_url) == before + 8 * 2
    for code in grids:
        name = base.register.get_unit(code).names.value_on(date(2017, 1, 1))
        assert name == (f"{code} renamed", "")
    assert len(list(base.register.events.get(base.register.get_unit("K1").id))) == (
        community_events
    )
    assert_streams_are_whole(database_url)


def test_eight_editors_opening_offices_of_one_grid_all_succeed(base: Services, database_url: str):
    """Each new office appends a marker to its grid (its list of offices), so they conflict
    on it; a change set of offices alone is worked out again on the fresh state."""
    lay_grids(base, "K1", 2)

    def attempt(i: int) -> Callable[[JurisdictionRegister], Receipt]:
        op = {"op": "open_office", "code": f"O{i}", "kind": "grid_post", "name": "o", "unit": "G0"}
        return lambda r: submit(r, "2017-01-01", op)

    results = race(database_url, [attempt(i) for i in range(8)])
    assert [kind for kind, _ in results] == ["stored"] * 8, results
    grid = base.register.get_unit("G0")
    assert {f"O{i}" for i in range(8)} <= grid.offices_ever
    assert_streams_are_whole(database_url)


def test_a_rename_racing_with_the_end_of_its_unit_conflicts(base: Services, database_url: str):
    grids = lay_grids(base, "K1", 2)
    merge = {"op": "merge", "units": grids, "absorb_into": grids[0]}
    results = race(
        database_url,
        [
            lambda r: submit(r, "2017-01-01", merge),
            lambda r: submit(r, "2017-01-01", rename(grids[1], "late")),
        ],
    )
    assert sorted(kind for kind, _ in results) == ["conflict", "stored"]
    ended = base.register.get_unit(grids[1])
    assert not ended.exists_on(date(2017, 1, 1)) or ended.names.value_on(date(2017, 1, 1)) == (
        "late",
        "",
    )
    assert_streams_are_whole(database_url)


@dataclass
class Log:
    stored: list[Receipt] = field(default_factory=list)
    conflicts: int = 0
    invalid: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


EDGES = [22.505, 22.51, 22.515, 22.52, 22.525, 22.53, 22.535]
DAYS = ["2014-06-01", "2016-01-01", "2017-01-01", "2018-07-01", "2019-01-01", "2030-01-01"]


def random_change(rng: random.Random) -> list[dict[str, Any]]:
    """A change in one of two overlapping families (S1's and S2's communities, and D1's)."""
    kind = rng.choice(["k1k2", "k3k4", "k1k2", "k3k4", "rename", "streets", "merge", "split"])
    if kind == "k1k2":
        return move_k1_k2(rng.choice(EDGES))
    if kind == "k3k4":
        return move_k3_k4(rng.choice(EDGES))
    if kind == "rename":
        return [{"op": "rename", "unit": rng.choice(["S1", "S2", "K1", "K4"]), "name": "x"}]
    if kind == "streets":
        # Moving the street boundary leaves communities sticking out: always invalid.
        edge = rng.choice([114.005, 114.015])
        return [
            {"op": "redraw", "unit": "S1", "geometry": box(114.00, 22.50, edge, 22.54)},
            {"op": "redraw", "unit": "S2", "geometry": box(edge, 22.50, 114.02, 22.54)},
        ]
    if kind == "merge":
        return [{"op": "merge_workstations", "workstations": ["W2", "W3"], "into": "W2"}]
    return [
        {
            "op": "assign_coverage",
            "workstation": rng.choice(["W2", "W3"]),
            "communities": [rng.choice(["K3", "K4"])],
        }
    ]


def hammer(editor: Services, seed: int, rounds: int, start: threading.Barrier, log: Log) -> None:
    rng = random.Random(seed)
    try:
        for _ in range(rounds):
            ops = random_change(rng)
            day = rng.choice(DAYS)
            start.wait(timeout=60)
            kind, value = outcome(partial(submit, editor.register, day, *ops))
            with log.lock:
                if kind == "stored":
                    log.stored.append(value)
                elif kind == "conflict":
                    log.conflicts += 1
                else:
                    log.invalid += 1
    finally:
        editor.close()


def test_many_writers_on_overlapping_families_keep_the_register_whole(
    base: Services, database_url: str
):
    before = stored_events(database_url)
    writers, rounds = 8, 20
    start = threading.Barrier(writers)
    log = Log()
    threads = [
        threading.Thread(
            target=hammer, args=(editor_services(database_url), seed, rounds, start, log)
        )
        for seed in range(writers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    # Every attempt ended as stored, a conflict or invalid: nothing else went wrong.
    assert len(log.stored) + log.conflicts + log.invalid == writers * rounds
    assert log.stored and log.conflicts and log.invalid, log
    # Nothing lost or doubled: the store holds exactly what the receipts say was stored.
    assert stored_events(database_url) == before + sum(r.events + 1 for r in log.stored)
    assert len({r.position for r in log.stored}) == len(log.stored)
    assert_streams_are_whole(database_url)
    with psycopg.connect(database_url) as conn:
        recorded = conn.execute(
            f"SELECT count(*) FROM {TABLE} WHERE topic LIKE %s", ("%ChangeSet.Recorded",)
        ).fetchone()
    assert recorded == (len(log.stored) + 1,)
    # The final state keeps every invariant on every date (checked by brute force).
    fold = NaiveFold(base.register)
    fold.catch_up()
    assert violations(fold, date(2015, 1, 1)) == []


# Separate processes ------------------------------------------------------------------------------


def _process_editor(
    database_url: str, edge: float, barrier: Any, starting: Any, results: Any
) -> None:
    global STARTING
    STARTING = starting
    editor = editor_services(database_url)
    try:
        hold_before_saving(editor.register, barrier)
        kind, value = outcome(lambda: submit(editor.register, "2017-01-01", *move_k1_k2(edge)))
        results.put((edge, kind, value.events if kind == "stored" else type(value).__name__))
    finally:
        editor.close()


def test_two_processes_moving_the_same_boundary_one_wins(base: Services, database_url: str):
    context = multiprocessing.get_context("spawn")
    barrier, starting, results = context.Barrier(2), context.Lock(), context.Queue()
    processes = [
        context.Process(
            target=_process_editor, args=(database_url, edge, barrier, starting, results)
        )
        for edge in (22.51, 22.53)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert sorted(kind for _, kind, _ in outcomes) == ["conflict", "stored"]
    assert [value for _, kind, value in outcomes if kind == "conflict"] == ["ConcurrentChange"]
    (edge,) = [edge for edge, kind, _ in outcomes if kind == "stored"]
    assert edge_of_k1(base.register, date(2017, 1, 1)) == edge
    assert_streams_are_whole(database_url)
