"""Applying a stream of demo change sets to a register: idempotently, in bulk, with progress.

The register checks that every new code was never used, one query per code and kind (unit
and office) when the event store is PostgreSQL. A demo creates tens of thousands of codes, so
before each change set the loader asks the event store once which of its new codes exist and
lets the register skip the lookups of those that do not (`known_new_codes`). Nothing is
trusted blindly: the answer comes from the same database a moment before, and the event
store's unique stream ids still refuse a code created meanwhile by someone else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.sql import SQL, Identifier

from api.operations import parse_change_set
from domain.offices import office_id
from domain.register import JurisdictionRegister, Receipt
from domain.units import unit_id

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Planned:
    """A change set to apply: its key, recorded time, and how to build its body.

    `build` may return None: nothing to do this time (a generated year without changes).
    """

    key: str
    recorded_at: datetime
    build: Callable[[], dict[str, Any] | None]


def new_codes(body: dict[str, Any]) -> set[str]:
    """The codes a change-set body would create (units, parts, grids and offices)."""
    codes: set[str] = set()
    for operation in body["operations"]:
        if operation.get("op") in ("establish", "open_office", "open_workstation"):
            codes.add(operation["code"])
        for item in (*operation.get("parts", ()), *operation.get("grids", ())):
            codes.add(item["code"])
        into = operation.get("into")
        if isinstance(into, dict) and "code" in into:
            codes.add(into["code"])
    return codes


def _existing_ids(register: JurisdictionRegister, ids: list[UUID]) -> set[UUID] | None:
    """Which of `ids` have events, in one query; None if the store is not PostgreSQL."""
    recorder: Any = register.recorder
    datastore = getattr(recorder, "datastore", None)
    table = getattr(recorder, "events_table_name", None)
    if datastore is None or table is None or not hasattr(datastore, "get_connection"):
        return None
    statement = SQL("SELECT DISTINCT originator_id FROM {} WHERE originator_id = ANY(%s)").format(
        Identifier(table)
    )
    with datastore.get_connection() as conn, conn.cursor() as cursor:
        cursor.execute(statement, (ids,))
        return {UUID(str(row["originator_id"])) for row in cursor.fetchall()}


@contextmanager
def known_new_codes(register: JurisdictionRegister, codes: Iterable[str]) -> Iterator[None]:
    """While inside, the register finds no unit or office for `codes` that the store lacks."""
    wanted = sorted(set(codes))
    units = {unit_id(c): c for c in wanted}
    offices = {office_id(c): c for c in wanted}
    existing = _existing_ids(register, [*units, *offices]) if wanted else None
    if existing is None:
        yield
        return
    absent_units = {c for i, c in units.items() if i not in existing}
    absent_offices = {c for i, c in offices.items() if i not in existing}
    find_unit, find_office = register.find_unit, register.find_office

    def unit_or_none(code: str) -> Any:
        return None if code in absent_units else find_unit(code)

    def office_or_none(code: str) -> Any:
        return None if code in absent_offices else find_office(code)

    setattr(register, "find_unit", unit_or_none)  # noqa: B010 (an instance attribute)
    setattr(register, "find_office", office_or_none)  # noqa: B010
    try:
        yield
    finally:
        del register.find_unit
        del register.find_office


def apply_all(
    register: JurisdictionRegister,
    planned: Iterable[Planned],
    *,
    actor: str,
    total: int,
    progress: Progress | None = None,
    keep_receipts: bool = True,
) -> list[Receipt]:
    """Apply change sets in order; those already stored (same key) are skipped unbuilt.

    With `keep_receipts=False` (streams of millions) nothing accumulates in memory.
    """
    receipts: list[Receipt] = []
    for index, plan in enumerate(planned, start=1):
        earlier = register.find_keyed_change_set(actor, plan.key)
        if earlier is not None:
            receipt = Receipt(earlier.id, earlier.events, None, tuple(earlier.units), True)
        elif (body := plan.build()) is not None:
            request = parse_change_set(body)
            with known_new_codes(register, new_codes(body)):
                receipt = register.apply_change_set(
                    request, actor=actor, idempotency_key=plan.key, recorded_at=plan.recorded_at
                )
        else:
            receipt = None
        if keep_receipts and receipt is not None:
            receipts.append(receipt)
        if progress is not None:
            progress(index, total)
    return receipts
