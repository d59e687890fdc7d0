"""Importing a whole layer: a GeoJSON or GeoPackage of one level, for one effective date.

GIS staff edit a level in QGIS and hand back the file; the service matches features to units
by code against the map on the effective date and works out the change set: new codes are
established, changed geometries redrawn, names renamed, parents transferred, and units missing
from the file ended. Units are only ended under parents the file speaks about, so a file of
one district's streets never ends another district's. The change set then goes through the
register like any other, so every rule is checked before anything is stored: the plan's
operations are the domain's commands, handed to a `ChangeSetRequest` as they are. The file
is read by `projections.layer_files` (GeoJSON or GeoPackage by content, never through GDAL);
what it finds wrong with a feature comes back here as that feature's problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from domain.codes import code_is_valid, code_rule
from domain.commands import (
    ChangeSetRequest,
    Command,
    Dissolve,
    Establish,
    Redraw,
    Rename,
    Transfer,
)
from domain.errors import Problem
from domain.geometry import GeometryError, area_m2, as_valid_territory, from_wkb_hex
from domain.levels import Rules
from projections.layer_files import LayerError, LayerFeature, UnsupportedFile, read_layer
from projections.queries import ReadModelQueries

__all__ = [
    "ImportFields",
    "ImportPlan",
    "LayerError",
    "LayerFeature",
    "UnsupportedFile",
    "plan_import",
    "read_layer",
]


@dataclass(frozen=True)
class ImportFields:
    """Which feature properties hold the code, the name and the parent's code."""

    code: str = "code"
    name: str = "name"
    parent: str = "parent"


@dataclass
class ImportPlan:
    """The change set an import works out, as lists of codes, and its problems."""

    established: list[str] = field(default_factory=list)
    redrawn: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    transferred: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    operations: list[Command] = field(default_factory=list)

    @property
    def next_location(self) -> str:
        """Where the next operation will be in the change set, for its problems."""
        return f"operations[{len(self.operations)}]"

    def request(self, effective: date, reason: str, document: str) -> ChangeSetRequest:
        """The change set of the plan, to apply through the register."""
        return ChangeSetRequest(effective, reason, document, tuple(self.operations))

    def report(self) -> dict[str, Any]:
        """The contract's answer: what would change, and what is wrong."""
        return {
            "established": self.established,
            "redrawn": self.redrawn,
            "ended": self.ended,
            "renamed": self.renamed,
            "transferred": self.transferred,
            "problems": [p.as_dict() for p in self.problems],
        }


def plan_import(
    queries: ReadModelQueries,
    rules: Rules,
    features: list[LayerFeature],
    level: str,
    effective: date,
    fields: ImportFields,
) -> ImportPlan:
    """Match features to the units of `level` on `effective` and work out the change set."""
    plan = ImportPlan()
    current = {
        unit["code"]: unit
        for unit in queries.units_on(effective, level=level, geometry=False, limit=None).items
    }
    geometries = queries.geometries_on(effective, level)
    seen: set[str] = set()
    parents: set[str | None] = set()
    used = {fields.code, fields.name, fields.parent}
    for feature in features:
        where = f"features[{feature.index}]"
        # What the reader found (a coordinate, a geometry, a property the import reads); a
        # property it does not read, such as a DataV file's `center` array, is no problem.
        problems = [p for p in feature.problems if _concerns(p, where, used)]
        if problems:
            plan.problems.extend(problems)
            continue
        code = _text(feature.properties.get(fields.code))
        if code is None:
            plan.problems.append(
                Problem("code_missing", f"property {fields.code!r} is empty", where)
            )
            continue
        if code in seen:
            plan.problems.append(
                Problem("code_repeated", f"code {code} appears twice", where, (code,))
            )
            continue
        seen.add(code)
        parent = _text(feature.properties.get(fields.parent))
        bad = [
            c for c in (code, parent) if c is not None and not code_is_valid(c, rules.code_pattern)
        ]
        if bad:
            rule = code_rule(rules.code_pattern)
            plan.problems.append(Problem("code_invalid", f"{bad[0]!r}: {rule}", where))
            continue
        if feature.geometry is None:
            plan.problems.append(
                Problem("geometry_missing", "the feature has no geometry", where, (code,))
            )
            continue
        try:
            territory = as_valid_territory(feature.geometry, f"{where}.geometry")
        except GeometryError as exc:
            plan.problems.append(
                Problem(exc.problem.code, exc.problem.message, exc.problem.location, (code,))
            )
            continue
        name = _text(feature.properties.get(fields.name))
        existing = current.get(code)
        if existing is None:
            if name is None:
                plan.problems.append(
                    Problem("name_missing", f"new unit {code} needs a name", where, (code,))
                )
                continue
            plan.established.append(code)
            parents.add(parent)
            plan.operations.append(
                Establish(code, level, name, parent, territory, location=plan.next_location)
            )
            continue
        parents.add(existing["parent"])
        old = from_wkb_hex(geometries[code])
        if area_m2(old.symmetric_difference(territory), rules.metric_crs) > rules.tolerance_m2:
            plan.redrawn.append(code)
            plan.operations.append(Redraw(code, territory, plan.next_location))
        if name is not None and name != existing["name"]:
            plan.renamed.append(code)
            plan.operations.append(Rename(code, name, location=plan.next_location))
        if parent is not None and parent != existing["parent"]:
            plan.transferred.append(code)
            parents.add(parent)
            plan.operations.append(Transfer(code, parent, plan.next_location))
    if not features:
        plan.problems.append(Problem("layer_empty", "the file has no features", "file"))
    for code, unit in sorted(current.items()):
        if code not in seen and unit["parent"] in parents:
            plan.ended.append(code)
            plan.operations.append(Dissolve(code, plan.next_location))
    return plan


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _concerns(problem: Problem, where: str, used: set[str]) -> bool:
    """Whether a reader's problem with a feature matters to an import reading `used` fields."""
    prefix = f"{where}.properties."
    return not problem.location.startswith(prefix) or problem.location[len(prefix) :] in used
