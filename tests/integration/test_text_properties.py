"""Whatever text the register accepts, the projection can write: arbitrary Unicode, domain to
read model, on the real PostGIS.

Hypothesis sends any text (every Unicode category, lone surrogates and NUL included, and texts
around and beyond the size limit) through each text field of each kind of operation and the
change set's envelope, as commands built directly (as an import, the CLI or the demo build
them; the HTTP edge only adds its own answers in front). Either the register refuses the change
set, naming the field with ``text_invalid`` when the text breaks the rule, and stores nothing;
or it stores it, the projection applies it (no stall) and the read model holds the text
exactly as given.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, box

from domain.commands import (
    Address,
    AssignCoverage,
    AssignMatter,
    ChangeSetRequest,
    CloseOffice,
    Command,
    Correct,
    Dissolve,
    Establish,
    GridPlan,
    LayGrids,
    Merge,
    OpenOffice,
    OpenWorkstation,
    Part,
    Recode,
    Rename,
    Split,
    Transfer,
)
from domain.errors import InvalidChangeSet
from domain.text import MAX_TEXT, TextRule, text_problem
from jurisdictions.bootstrap import Services, build_services
from jurisdictions.settings import Settings
from tests import scenario
from tests.conftest import DatabaseFactory

pytestmark = pytest.mark.db

FIRST_DAY = date(2031, 1, 1)

#: Any code point: surrogates (category Cs) and NUL included.
ANY_CHARACTER = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "bad\udfffname",
    "\x07\x1b\x7f\x85\x9f",
    "\u200b\u200d\ufeff",
    "\t\n\r",
    "x" * MAX_TEXT,
    "x" * (MAX_TEXT + 1),
    "福" * MAX_TEXT,
    "\U0001f600" * MAX_TEXT,
    "\\N \\. \\\\ ' \" ; --",
    "\ufffe\uffff\U0010ffff\ue000",
]
TEXTS = st.one_of(
    st.text(ANY_CHARACTER, max_size=40),
    st.sampled_from(HOSTILE),
    st.builds(
        lambda piece, times: piece * times,
        st.text(ANY_CHARACTER, min_size=1, max_size=3),
        st.integers(600, 1100),
    ),
)


def square(west: float, south: float, size: float) -> MultiPolygon:
    return MultiPolygon([box(west, south, west + size, south + size)])


@dataclass
class Case:
    """One change set carrying the text in one field, and where the read model keeps it."""

    operations: list[Command]
    location: str
    rule: TextRule
    #: (query, params): each must give back exactly the text.
    reads: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    reason: str = "property"
    document: str = ""
    #: A reference to something that must exist (a unit, an office): a valid text that names
    #: nothing is refused by the register's own rules, which is fine too.
    reference: bool = False


def unit_name(code: str, day: date, column: str = "name") -> tuple[str, tuple[Any, ...]]:
    return (
        (
            f"SELECT {column} FROM unit_versions WHERE code = %s AND valid @> %s::date "
            "AND upper_inf(recorded)"
        ),
        (code, day),
    )


def office_column(code: str, column: str) -> tuple[str, tuple[Any, ...]]:
    return (
        (
            f"SELECT {column} FROM office_versions WHERE code = %s AND upper_inf(recorded) "
            "ORDER BY lower(valid) DESC LIMIT 1"
        ),
        (code,),
    )


Slot = Callable[[str, int, date], Case]


def _new_city(n: int, code: str | None = None, **texts: str) -> Establish:
    # Each example's own city, far from the scenario's and from the others'.
    return Establish(
        f"X{n}" if code is None else code,
        "city",
        texts.get("name", f"city {n}"),
        None,
        square(100 + (n % 100) * 0.05, 10 + (n // 100) * 0.05, 0.04),
        texts.get("name_en", ""),
        texts.get("provenance", ""),
    )


SLOTS: dict[str, Slot] = {
    "reason": lambda t, n, day: Case(
        [Rename("M1", f"M1 {n}")],
        "reason",
        TextRule.REQUIRED,
        [("SELECT reason FROM change_set_log ORDER BY position DESC LIMIT 1", ())],
        reason=t,
    ),
    "document": lambda t, n, day: Case(
        [Rename("M1", f"M1 {n}")],
        "document",
        TextRule.FREE,
        [("SELECT document FROM change_set_log ORDER BY position DESC LIMIT 1", ())],
        document=t,
    ),
    "rename.name": lambda t, n, day: Case(
        [Rename("M1", t)], "operations[0].name", TextRule.REQUIRED, [unit_name("M1", day)]
    ),
    "rename.name_en": lambda t, n, day: Case(
        [Rename("M1", f"M1 {n}", t)],
        "operations[0].name_en",
        TextRule.FREE,
        [unit_name("M1", day, "name_en")],
    ),
    "correct.name": lambda t, n, day: Case(
        [Correct("M2", day, day + timedelta(days=1), None, t)],
        "operations[0].name",
        TextRule.REQUIRED,
        [unit_name("M2", day)],
    ),
    "establish.code": lambda t, n, day: Case(
        [_new_city(n, code=t)],
        "operations[0].code",
        TextRule.CODE,
        [("SELECT code FROM unit_versions WHERE code = %s", (t,))],
        reference=True,  # may be a code already taken
    ),
    "establish.name": lambda t, n, day: Case(
        [_new_city(n, name=t)], "operations[0].name", TextRule.REQUIRED, [unit_name(f"X{n}", day)]
    ),
    "establish.name_en": lambda t, n, day: Case(
        [_new_city(n, name_en=t)],
        "operations[0].name_en",
        TextRule.FREE,
        [unit_name(f"X{n}", day, "name_en")],
    ),
    "establish.provenance": lambda t, n, day: Case(
        [_new_city(n, provenance=t)],
        "operations[0].provenance",
        TextRule.FREE,
        [unit_name(f"X{n}", day, "provenance")],
    ),
    "establish.level": lambda t, n, day: Case(
        [Establish(f"X{n}", t, "n", None, square(100, 10, 0.04))],
        "operations[0].level",
        TextRule.REQUIRED,
        reference=True,  # a level the register does not have
    ),
    "split.parts.name": lambda t, n, day: Case(
        [
            _new_city(n),
            Split(f"X{n}", "split_off", (Part(f"P{n}", t, _part(n)),)),
        ],
        "operations[1].parts[0].name",
        TextRule.FREE,
        [unit_name(f"P{n}", day)],
    ),
    "split.parts.name_en": lambda t, n, day: Case(
        [
            _new_city(n),
            Split(f"X{n}", "split_off", (Part(f"P{n}", "part", _part(n), t),)),
        ],
        "operations[1].parts[0].name_en",
        TextRule.FREE,
        [unit_name(f"P{n}", day, "name_en")],
    ),
    "split.parts.code": lambda t, n, day: Case(
        [_new_city(n), Split(f"X{n}", "split_off", (Part(t, "part", _part(n)),))],
        "operations[1].parts[0].code",
        TextRule.CODE,
        [("SELECT code FROM unit_versions WHERE code = %s", (t,))],
        reference=True,
    ),
    "regrid.grids.name": lambda t, n, day: Case(
        [LayGrids("M1", _grids(n, name=t), replace=True)],
        "operations[0].grids[0].name",
        TextRule.FREE,
        [unit_name(f"GA{n}", day)],
    ),
    "regrid.grids.officer": lambda t, n, day: Case(
        [LayGrids("M1", _grids(n, officer=t), replace=True)],
        "operations[0].grids[0].officer",
        TextRule.FREE,
        [office_column(f"GA{n}/officer", "name")] if t else [],
    ),
    "regrid.grids.code": lambda t, n, day: Case(
        [LayGrids("M1", _grids(n, code=t), replace=True)],
        "operations[0].grids[0].code",
        TextRule.CODE,
        [("SELECT code FROM unit_versions WHERE code = %s", (t,))],
        reference=True,
    ),
    "open_office.name": lambda t, n, day: Case(
        [OpenOffice(f"O{n}", "street_office", t, "S2", Address(114.05, 22.65, "road"))],
        "operations[0].name",
        TextRule.REQUIRED,
        [office_column(f"O{n}", "name")],
    ),
    "open_office.kind": lambda t, n, day: Case(
        [OpenOffice(f"O{n}", t, "office", "S2")],
        "operations[0].kind",
        TextRule.REQUIRED,
        [office_column(f"O{n}", "kind")],
        reference=True,  # `workstation` is refused
    ),
    "open_office.address.text": lambda t, n, day: Case(
        [OpenOffice(f"O{n}", "street_office", "office", "S2", Address(114.05, 22.65, t))],
        "operations[0].address.text",
        TextRule.FREE,
        [office_column(f"O{n}", "address_text")],
    ),
    "open_workstation.name": lambda t, n, day: Case(
        [
            OpenWorkstation(f"WS{n}", t, ("M4",), Address(114.08, 22.55, "st")),
            AssignCoverage(f"WS{n}", ("M4",)),
        ],
        "operations[0].name",
        TextRule.REQUIRED,
        [office_column(f"WS{n}", "name")],
    ),
    "open_workstation.address.text": lambda t, n, day: Case(
        [
            OpenWorkstation(f"WS{n}", "ws", ("M4",), Address(114.08, 22.55, t)),
            AssignCoverage(f"WS{n}", ("M4",)),
        ],
        "operations[0].address.text",
        TextRule.FREE,
        [office_column(f"WS{n}", "address_text")],
    ),
    "assign_matter.name": lambda t, n, day: Case(
        [AssignMatter(f"matter-{n}", "street_office", "street", t)],
        "operations[0].name",
        TextRule.FREE,
        [
            (
                "SELECT name FROM matter_versions WHERE matter = %s AND upper_inf(recorded)",
                (f"matter-{n}",),
            )
        ],
    ),
    "assign_matter.matter": lambda t, n, day: Case(
        [AssignMatter(t, "street_office", "street", "m")],
        "operations[0].matter",
        TextRule.CODE,
        [("SELECT DISTINCT matter FROM matter_versions WHERE matter = %s", (t,))],
    ),
    "merge.into_name": lambda t, n, day: Case(
        [
            _new_city(n),
            _new_city(n, code=f"Y{n}"),
            Merge((f"X{n}", f"Y{n}"), into_code=f"Z{n}", into_name=t),
        ],
        "operations[2].into_name",
        TextRule.REQUIRED,
        [unit_name(f"Z{n}", day)],
    ),
    "recode.code": lambda t, n, day: Case(
        [_new_city(n), Recode(f"X{n}", t)],
        "operations[1].code",
        TextRule.CODE,
        [unit_name(t, day, "code")],
        reference=True,
    ),
    # Codes naming something that must exist: refused one way or the other.
    "transfer.parent": lambda t, n, day: Case(
        [Transfer("M4", t)], "operations[0].parent", TextRule.CODE, reference=True
    ),
    "dissolve.unit": lambda t, n, day: Case(
        [Dissolve(t)], "operations[0].unit", TextRule.CODE, reference=True
    ),
    "close_office.code": lambda t, n, day: Case(
        [CloseOffice(t)], "operations[0].code", TextRule.CODE, reference=True
    ),
}


def _part(n: int) -> MultiPolygon:
    west, south = 100 + (n % 100) * 0.05, 10 + (n // 100) * 0.05
    return square(west, south, 0.02)


def _grids(n: int, **texts: str) -> tuple[GridPlan, ...]:
    south = GridPlan(
        texts.get("code", f"GA{n}"),
        texts.get("name", "south"),
        MultiPolygon([box(114.0, 22.5, 114.04, 22.55)]),
        texts.get("officer", ""),
    )
    north = GridPlan(f"GB{n}", "north", MultiPolygon([box(114.0, 22.55, 114.04, 22.6)]))
    return (south, north)


@pytest.fixture(scope="module")
def city(databases: DatabaseFactory) -> Iterator[Services]:
    url = databases.fresh()
    services = build_services(Settings(database_url=url, run_projection=False))
    try:
        scenario.build(services.register)
        services.worker.catch_up()
        yield services
    finally:
        services.close()
        databases.drop(url)


COUNTER = itertools.count(1)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(slot=st.sampled_from(sorted(SLOTS)), text=TEXTS)
def test_any_text_is_refused_by_name_or_stored_and_projected_exactly(
    city: Services, slot: str, text: str
) -> None:
    n = next(COUNTER)
    day = FIRST_DAY + timedelta(days=n)
    case = SLOTS[slot](text, n, day)
    request = ChangeSetRequest(day, case.reason, case.document, tuple(case.operations))
    breaks_rule = text_problem(text, case.rule) is not None
    head = city.worker.head()
    try:
        city.register.apply_change_set(request, actor="property")
    except InvalidChangeSet as exc:
        found = [(p.code, p.location) for p in exc.problems]
        assert city.worker.head() == head  # nothing stored
        event("refused: " + ("text_invalid" if breaks_rule else "other rules"))
        if breaks_rule:
            assert ("text_invalid", case.location) in found, found
        else:
            assert case.reference, (slot, found)
            assert all(code != "text_invalid" for code, _ in found), found
        return
    assert not breaks_rule, (slot, repr(text[:50]))
    event("stored and projected")
    city.worker.catch_up()  # never stalls
    assert city.worker.position() == city.worker.head() > head
    with psycopg.connect(city.settings.conninfo) as conn:
        # An empty optional text means the default (a part named after its unit, no officer).
        for query, params in case.reads if text or case.rule is not TextRule.FREE else []:
            rows = conn.execute(query, params).fetchall()
            assert rows == [(text,)], (slot, query, rows[:2], repr(text[:50]))
        # The log of legal acts keeps the operations too (as JSON): the text, exactly.
        logged = conn.execute(
            "SELECT reason, document, operations::text FROM change_set_log "
            "ORDER BY position DESC LIMIT 1"
        ).fetchone()
    assert logged is not None
    assert (logged[0], logged[1]) == (case.reason, case.document)
    assert json.loads(logged[2]) == json.loads(json.dumps(request.summary()))
