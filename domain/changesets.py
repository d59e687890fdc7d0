"""Change sets: one legal act, one effective date, a list of operations applied atomically.

The request shape is the public contract's (``{"effective", "reason", "document",
"operations": [{"op": ...}]}``); parsing it here, not in the web layer, lets the demo loader,
the importer and the HTTP API share one definition and one set of error messages.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate
from shapely.geometry import MultiPolygon

from domain.errors import InvalidChangeSet, Problem
from domain.geometry import GeometryError, parse_territory

CHANGE_SET_NAMESPACE = uuid.UUID("0e3c8a51-7a0b-5f0e-8f1d-6b4a2d9c1e77")


def change_set_id(idempotency_key: str | None) -> uuid.UUID:
    """A fresh id, or the one an idempotency key always maps to (so a retry finds its twin)."""
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(CHANGE_SET_NAMESPACE, f"idempotency-key/{idempotency_key}")


# Operations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Establish:
    """A new unit with its code, level, name, parent and territory."""

    code: str
    level: str
    name: str
    parent: str | None
    geometry: MultiPolygon
    name_en: str = ""
    location: str = ""


@dataclass(frozen=True)
class Redraw:
    """A new territory for an existing unit."""

    unit: str
    geometry: MultiPolygon
    location: str = ""


@dataclass(frozen=True)
class Dissolve:
    """The unit ends on the effective date."""

    unit: str
    location: str = ""


Operation = Establish | Redraw | Dissolve


@dataclass(frozen=True)
class ChangeSetRequest:
    """A parsed, well-formed change set (its rules are checked when it is applied)."""

    effective: date
    reason: str
    document: str
    operations: tuple[Operation, ...]

    def summary(self) -> list[dict[str, Any]]:
        """The operations without their geometries, for the log of legal acts."""
        out: list[dict[str, Any]] = []
        for operation in self.operations:
            entry: dict[str, Any] = {"op": OPERATION_NAMES[type(operation)]}
            for name, value in vars(operation).items():
                if name in ("geometry", "location"):
                    continue
                entry[name] = value
            out.append(entry)
        return out


OPERATION_NAMES: dict[type[Any], str] = {
    Establish: "establish",
    Redraw: "redraw",
    Dissolve: "dissolve",
}


def parse_change_set(body: Any) -> ChangeSetRequest:
    """Read a change-set request, reporting every malformed field with its location."""
    reader = _Reader()
    if not isinstance(body, dict):
        raise InvalidChangeSet([Problem("body_not_object", "the body must be a JSON object")])
    effective = reader.date(body, "effective", "effective")
    reason = reader.text(body, "reason", "reason")
    document = reader.text(body, "document", "document", required=False)
    raw_operations = body.get("operations")
    operations: list[Operation] = []
    if not isinstance(raw_operations, list) or not raw_operations:
        reader.problem("operations_missing", "operations must be a non-empty list", "operations")
    else:
        for index, raw in enumerate(raw_operations):
            operation = reader.operation(raw, f"operations[{index}]")
            if operation is not None:
                operations.append(operation)
    if reader.problems:
        raise InvalidChangeSet(reader.problems)
    assert effective is not None and reason is not None
    return ChangeSetRequest(effective, reason, document or "", tuple(operations))


@dataclass
class _Reader:
    problems: list[Problem] = field(default_factory=list)

    def problem(self, code: str, message: str, location: str) -> None:
        self.problems.append(Problem(code, message, location))

    def text(
        self, obj: dict[str, Any], key: str, where: str, *, required: bool = True
    ) -> str | None:
        value = obj.get(key)
        if value is None:
            if required:
                self.problem("field_missing", f"{key} is required", where)
            return None
        if not isinstance(value, str) or (required and not value.strip()):
            self.problem("field_wrong_type", f"{key} must be a non-empty string", where)
            return None
        if len(value) > 2000:
            self.problem("field_too_long", f"{key} is longer than 2000 characters", where)
            return None
        return value.strip()

    def date(self, obj: dict[str, Any], key: str, where: str) -> date | None:
        value = self.text(obj, key, where)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.problem("date_invalid", f"{key} {value!r} is not a YYYY-MM-DD date", where)
            return None

    def territory(self, obj: dict[str, Any], where: str) -> MultiPolygon | None:
        if "geometry" not in obj:
            self.problem("field_missing", "geometry is required", where)
            return None
        try:
            return parse_territory(obj["geometry"], where)
        except GeometryError as exc:
            self.problems.append(exc.problem)
            return None

    def operation(self, raw: Any, where: str) -> Operation | None:
        if not isinstance(raw, dict):
            self.problem("operation_not_object", "each operation must be an object", where)
            return None
        op = raw.get("op")
        before = len(self.problems)
        result: Operation | None = None
        if op == "establish":
            code = self.text(raw, "code", f"{where}.code")
            level = self.text(raw, "level", f"{where}.level")
            name = self.text(raw, "name", f"{where}.name")
            parent = self.text(raw, "parent", f"{where}.parent", required=False)
            name_en = self.text(raw, "name_en", f"{where}.name_en", required=False)
            geometry = self.territory(raw, f"{where}.geometry")
            if code and level and name and geometry is not None:
                result = Establish(code, level, name, parent, geometry, name_en or "", where)
        elif op == "redraw":
            unit = self.text(raw, "unit", f"{where}.unit")
            geometry = self.territory(raw, f"{where}.geometry")
            if unit and geometry is not None:
                result = Redraw(unit, geometry, where)
        elif op == "dissolve":
            unit = self.text(raw, "unit", f"{where}.unit")
            if unit:
                result = Dissolve(unit, where)
        else:
            known = ", ".join(sorted(OPERATION_NAMES.values()))
            self.problem("operation_unknown", f"unknown op {op!r}; known: {known}", f"{where}.op")
        return result if len(self.problems) == before else None


# The stored log of legal acts --------------------------------------------------------------


class ChangeSet(Aggregate):
    """The record of one applied change set: the legal act behind a group of unit events."""

    class Recorded(Aggregate.Created):
        """A change set was applied; its unit events were stored in the same transaction."""

        effective: date
        actor: str
        reason: str
        document: str
        operations: list[dict[str, Any]]
        units: list[str]
        events: int

    def __init__(
        self,
        effective: date,
        actor: str,
        reason: str,
        document: str,
        operations: list[dict[str, Any]],
        units: list[str],
        events: int,
    ) -> None:
        self.effective = effective
        self.actor = actor
        self.reason = reason
        self.document = document
        self.operations = operations
        self.units = units
        self.events = events
