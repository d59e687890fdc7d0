"""Importing a whole layer: a GeoJSON or GeoPackage of one level, for one effective date.

GIS staff edit a level in QGIS and hand back the file; the service matches features to units
by code against the map on the effective date and works out the change set: new codes are
established, changed geometries redrawn, names renamed, parents transferred. A file may hold
only some units (two streets of a district): by default a unit missing from the file is left
as it is. Ending the missing units must be asked for (`ImportScope`, mode "replace") and names
the parents whose children the file replaces, so a city file with one new city never ends the
old one by accident. The layer reaches the stored precision as a whole (`snap_layer`): a layer
valid as given is never refused because of the service's rounding, and where rounding had to
snap a feature the report says so. The change set then goes through the register like any
other, so every rule is checked before anything is stored: the plan's operations are the
domain's commands, handed to a `ChangeSetRequest` as they are. The file is read by
`projections.layer_files` (GeoJSON or GeoPackage by content, never through GDAL); what it
finds wrong with a feature comes back here as that feature's problems.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import shapely
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry

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
from domain.geometry import GeometryError, area_m2, from_wkb_hex, point_extra, snap_layer
from domain.levels import Rules
from domain.repair import (
    Repair,
    RepairOptions,
    fit_family,
    make_valid_territory,
    point_on,
    with_hint,
)
from projections.layer_files import LayerError, LayerFeature, UnsupportedFile, read_layer
from projections.queries import ReadModelQueries

__all__ = [
    "Entry",
    "FeatureRef",
    "ImportFields",
    "ImportPlan",
    "LayerError",
    "LayerFeature",
    "RepairOptions",
    "UnitState",
    "UnsupportedFile",
    "plan_import",
    "read_layer",
    "unit_of",
]


@dataclass(frozen=True)
class ImportFields:
    """Which feature properties hold the code, the name and the parent's code."""

    code: str = "code"
    name: str = "name"
    parent: str = "parent"


#: "update": only the units in the file change; "replace": also end, under the named parents,
#: the units the file leaves out.
IMPORT_MODES = ("update", "replace")


class ImportScopeError(ValueError):
    """The import's mode or replaced parents are not usable; `code` is the API error code."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class ImportScope:
    """Which units an import may end: none ("update", the default), or with "replace" the
    units of the level under `parents` (none for the top level) that the file leaves out."""

    mode: str = "update"
    parents: tuple[str, ...] = ()

    @classmethod
    def of(cls, mode: str, parents: list[str] | tuple[str, ...] = ()) -> ImportScope:
        """From the form or the command line: parents may be repeated or comma-separated."""
        codes = [p.strip() for item in parents for p in item.split(",") if p.strip()]
        return cls(mode.strip().lower(), tuple(dict.fromkeys(codes)))

    def check_mode(self) -> None:
        """Raise `ImportScopeError` unless the mode is one of `IMPORT_MODES`."""
        if self.mode not in IMPORT_MODES:
            msg = f"mode must be one of {', '.join(IMPORT_MODES)}, not {self.mode[:40]!r}"
            raise ImportScopeError("import_mode_invalid", msg)

    def check(self, level: str, parent_level: str | None, live_parents: set[str]) -> None:
        """Raise `ImportScopeError` unless the scope makes sense for `level`."""
        self.check_mode()
        if self.mode == "update" and self.parents:
            msg = "replace_parents only goes with mode=replace (the default mode ends nothing)"
            raise ImportScopeError("replace_parents_invalid", msg)
        if self.mode != "replace":
            return
        if parent_level is None:
            if self.parents:
                msg = f"{level} is the top level: its units have no parents to name"
                raise ImportScopeError("replace_parents_invalid", msg)
            return
        if not self.parents:
            msg = (
                f"mode=replace needs replace_parents: the {parent_level} units whose "
                f"{level} units the file replaces (missing ones under them are ended)"
            )
            raise ImportScopeError("replace_parents_invalid", msg)
        unknown = [p for p in self.parents if p not in live_parents]
        if unknown:
            msg = (
                f"replace_parents {', '.join(unknown)}: not {parent_level} units "
                "on the effective date"
            )
            raise ImportScopeError("replace_parents_invalid", msg)


@dataclass(frozen=True)
class FeatureRef:
    """A feature of the file as people know it: where it is in the file, its code and name."""

    index: int
    code: str | None
    name: str | None
    parent: str | None
    geometry: BaseGeometry | None

    @property
    def location(self) -> str:
        """Where the feature is in the file."""
        return f"features[{self.index}]"


@dataclass(frozen=True)
class UnitState:
    """A unit's name, parent and territory before or after the import."""

    name: str
    parent: str | None
    geometry: BaseGeometry


@dataclass
class Entry:
    """One unit the import changes, before and after (None: established, or ended)."""

    code: str
    level: str
    changes: list[str]
    feature: int | None
    before: UnitState | None
    after: UnitState | None


#: Where the register places an operation's problems, and the field after it.
_OPERATION = re.compile(r"^operations\[(\d+)\](?:\.(\w+))?(.*)$")


@dataclass
class ImportPlan:
    """The change set an import works out, as lists of codes, and its problems.

    `ended` says for each unit why it ends (only with mode "replace"); `notes` says what
    reaching the stored precision did where it was more than rounding. `entries` keeps each
    changed unit before and after, and `features` each feature of the file, so a report can
    name names and place every problem on the map (`projections.import_report`).
    """

    established: list[str] = field(default_factory=list)
    redrawn: list[str] = field(default_factory=list)
    ended: list[dict[str, Any]] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    transferred: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    operations: list[Command] = field(default_factory=list)
    scope: ImportScope = field(default_factory=ImportScope)
    #: Every repair made (only those asked for in `repair_options`); the operations carry
    #: the repaired geometries.
    repairs: list[Repair] = field(default_factory=list)
    repair_options: RepairOptions = field(default_factory=RepairOptions)
    level: str = ""
    fields: ImportFields = field(default_factory=ImportFields)
    #: Each feature of the file by its index, and each operation's feature (None: an ending).
    features: dict[int, FeatureRef] = field(default_factory=dict)
    operation_features: list[int | None] = field(default_factory=list)
    entries: dict[str, Entry] = field(default_factory=dict)
    #: Names of the units of the level and of its parent level on the effective date, and
    #: the current territories of the level's units (for ended units and problems).
    names: dict[str, str] = field(default_factory=dict)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    geometries: dict[str, str] = field(default_factory=dict)
    unchanged: int = 0

    def state(self, code: str) -> UnitState | None:
        """The unit of the level as the map has it on the effective date (None: no such)."""
        row = self.rows.get(code)
        wkb = self.geometries.get(code)
        if row is None or wkb is None:
            return None
        return UnitState(row["name"], row["parent"], from_wkb_hex(wkb))

    @property
    def next_location(self) -> str:
        """Where the next operation will be in the change set, for its problems."""
        return f"operations[{len(self.operations)}]"

    def add(self, operation: Command, feature: int | None) -> None:
        """Append an operation worked out from `feature` (None: an ending)."""
        self.operations.append(operation)
        self.operation_features.append(feature)

    def entry(self, code: str, change: str, feature: int | None) -> Entry:
        """The unit's entry (made on its first change), with `change` added."""
        found = self.entries.get(code)
        if found is None:
            found = Entry(code, self.level, [], feature, self.state(code), None)
            self.entries[code] = found
        found.changes.append(change)
        return found

    def by_code(self) -> dict[str, FeatureRef]:
        """The features that have a code, by code (the first of a repeated code)."""
        out: dict[str, FeatureRef] = {}
        for ref in self.features.values():
            if ref.code is not None:
                out.setdefault(ref.code, ref)
        return out

    def name_of(self, code: str) -> str | None:
        """The unit's name as the file has it, else as the map has it."""
        entry = self.entries.get(code)
        if entry is not None and entry.after is not None:
            return entry.after.name
        return self.names.get(code)

    def place(self, problem: Problem, by_code: dict[str, FeatureRef] | None = None) -> Problem:
        """The problem as people read it: at the feature (`features[i].properties.name`, not
        the change set's internal `operations[i].name`), its units named, with a point.

        A problem of the register's map-wide rules (a child outside its parent, an overlap)
        has no location: it is placed at the file's feature of its first unit in the file.
        """
        by_code = self.by_code() if by_code is None else by_code
        location = problem.location
        ref: FeatureRef | None = None
        match = _OPERATION.match(location)
        if match is not None:
            k = int(match.group(1))
            index = self.operation_features[k] if k < len(self.operation_features) else None
            if index is None:
                ended = [e["code"] for e in self.ended]
                unit = unit_of(self.operations[k]) if k < len(self.operations) else None
                location = f"ended[{ended.index(unit)}]" if unit in ended else location
            else:
                ref = self.features.get(index)
                part = {
                    "name": f".properties.{self.fields.name}",
                    "parent": f".properties.{self.fields.parent}",
                    "code": f".properties.{self.fields.code}",
                    "new_parent": f".properties.{self.fields.parent}",
                }.get(match.group(2) or "", f".{match.group(2)}" if match.group(2) else "")
                location = f"features[{index}]{part}{match.group(3)}"
        elif location.startswith("features["):
            index = int(location[9 : location.index("]")])
            ref = self.features.get(index)
        elif not location:
            ref = next((by_code[u] for u in problem.units if u in by_code), None)
            if ref is not None:
                location = ref.location
        units = problem.units
        if ref is not None and ref.code is not None and ref.code not in units:
            units = (ref.code, *units)
        extra = dict(problem.extra)
        extra["names"] = [
            (ref.name if ref is not None and u == ref.code and ref.name else self.name_of(u))
            for u in units
        ]
        if ref is not None and ref.name is not None and ref.code is None:
            extra["name"] = ref.name  # a feature without a code, named by its name
        if "location_point" not in extra:
            extra.update(self._point_of(ref, units))
        return dataclasses.replace(problem, location=location, units=units, extra=extra)

    def _point_of(self, ref: FeatureRef | None, units: tuple[str, ...]) -> dict[str, Any]:
        """A point of the feature, else of the first unit the map has."""
        if ref is not None and ref.geometry is not None:
            return point_extra(ref.geometry)
        for code in units:
            state = self.state(code)
            if state is not None:
                return point_extra(state.geometry)
        return {}

    def request(self, effective: date, reason: str, document: str) -> ChangeSetRequest:
        """The change set of the plan, to apply through the register."""
        return ChangeSetRequest(effective, reason, document, tuple(self.operations))

    def report(self) -> dict[str, Any]:
        """The contract's answer: what would change, and what is wrong (lists of codes; the
        report for people adds to it, `projections.import_report.people_report`)."""
        return {
            "established": self.established,
            "redrawn": self.redrawn,
            "ended": self.ended,
            "renamed": self.renamed,
            "transferred": self.transferred,
            "mode": self.scope.mode,
            "replace_parents": list(self.scope.parents),
            "notes": [n.as_dict() for n in self.notes],
            "repair_options": self.repair_options.as_dict(),
            "repairs": [r.as_dict() for r in self.repairs],
            "problems": [p.as_dict() for p in self.problems],
        }


def plan_import(
    queries: ReadModelQueries,
    rules: Rules,
    features: list[LayerFeature],
    level: str,
    effective: date,
    fields: ImportFields,
    scope: ImportScope | None = None,
    repair: RepairOptions | None = None,
    planned_parents: Mapping[str, MultiPolygon] | None = None,
) -> ImportPlan:
    """Match features to the units of `level` on `effective` and work out the change set.

    `planned_parents` are parents' territories the same change set establishes or redraws (a
    several-level import plans the layer above first): the repairs fit children to those, not
    to the map.

    The repairs asked for in `repair` are made after the layer reached the stored precision
    (make_valid before it, as an invalid geometry cannot be snapped), each listed in
    `plan.repairs`; without them nothing is repaired and the problems say which would help.
    Raises `ImportScopeError` when `scope` does not fit the level (checked before any work).
    """
    scope = scope or ImportScope()
    repair = repair or RepairOptions()
    parent_level = rules.levels.parent_of(level)
    parents: dict[str, str] = {}
    if parent_level is not None:
        parents = {
            unit["code"]: unit["name"]
            for unit in queries.units_on(
                effective, level=parent_level, geometry=False, limit=None
            ).items
        }
    scope.check(level, parent_level, set(parents))
    plan = ImportPlan(scope=scope, level=level, fields=fields, repair_options=repair)
    current = {
        unit["code"]: unit
        for unit in queries.units_on(effective, level=level, geometry=False, limit=None).items
    }
    geometries = queries.geometries_on(effective, level)
    plan.rows, plan.geometries = current, geometries
    plan.names = {**parents, **{code: unit["name"] for code, unit in current.items()}}
    seen: set[str] = set()
    accepted: list[tuple[LayerFeature, str, str | None]] = []
    used = {fields.code, fields.name, fields.parent}
    for feature in features:
        where = f"features[{feature.index}]"
        plan.features[feature.index] = FeatureRef(
            feature.index,
            _text(feature.properties.get(fields.code)),
            _text(feature.properties.get(fields.name)),
            _text(feature.properties.get(fields.parent)),
            feature.geometry,
        )
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
        accepted.append((feature, code, parent))
    raw = [f.geometry for f, _, _ in accepted if f.geometry is not None]
    if repair.make_valid:
        raw = [
            _made_valid(plan, geometry, feature, code, level, fields)
            for geometry, (feature, code, _) in zip(raw, accepted, strict=True)
        ]
    # The whole layer reaches the stored precision at once, so shared edges stay shared.
    snapped = snap_layer(raw, [f"features[{f.index}].geometry" for f, _, _ in accepted])
    ready: list[tuple[LayerFeature, str, str | None, MultiPolygon]] = []
    for (feature, code, parent), result in zip(accepted, snapped, strict=True):
        where = f"features[{feature.index}]"
        if isinstance(result, GeometryError):
            plan.problems.append(with_hint(dataclasses.replace(result.problem, units=(code,))))
            continue
        territory, snap = result
        if snap is not None:
            plan.notes.append(
                Problem(
                    "precision_snapped",
                    f"{code}: {snap.message}",
                    f"{where}.geometry",
                    (code,),
                    snap.area_changed_m2,
                )
            )
        ready.append((feature, code, parent, territory))
    if repair.fits_families and ready:
        ready = _fit_families(
            plan, queries, rules, ready, level, effective, fields, seen, planned_parents or {}
        )
    for feature, code, parent, territory in ready:
        where = f"features[{feature.index}]"
        name = _text(feature.properties.get(fields.name))
        existing = current.get(code)
        index = feature.index
        if existing is None:
            if name is None:
                plan.problems.append(
                    Problem("name_missing", f"new unit {code} needs a name", where, (code,))
                )
                continue
            plan.established.append(code)
            plan.add(
                Establish(code, level, name, parent, territory, location=plan.next_location),
                index,
            )
            plan.entry(code, "established", index).after = UnitState(name, parent, territory)
            continue
        changes: list[str] = []
        old = from_wkb_hex(geometries[code])
        # Most features of a layer handed back come back as they were: no overlay for those.
        if not old.equals_exact(territory, 0) and (
            area_m2(old.symmetric_difference(territory)) > rules.tolerance_m2
        ):
            plan.redrawn.append(code)
            plan.add(Redraw(code, territory, plan.next_location), index)
            changes.append("redrawn")
        if name is not None and name != existing["name"]:
            plan.renamed.append(code)
            plan.add(Rename(code, name, location=plan.next_location), index)
            changes.append("renamed")
        if parent is not None and parent != existing["parent"]:
            plan.transferred.append(code)
            plan.add(Transfer(code, parent, plan.next_location), index)
            changes.append("transferred")
        if not changes:
            plan.unchanged += 1
            continue
        for change in changes:
            entry = plan.entry(code, change, index)
        entry.after = UnitState(
            name or existing["name"],
            parent or existing["parent"],
            territory if "redrawn" in changes else old,
        )
    if not features:
        plan.problems.append(Problem("layer_empty", "the file has no features", "file"))
    if scope.mode == "replace":
        replaced = set(scope.parents) if parent_level is not None else {None}
        for code, unit in sorted(current.items()):
            if code not in seen and unit["parent"] in replaced:
                under = f"under {unit['parent']}" if unit["parent"] else f"of the {level} level"
                plan.ended.append(
                    {
                        "code": code,
                        "name": unit["name"],
                        "parent": unit["parent"],
                        "why": f"mode=replace: not in the file, {under}",
                    }
                )
                plan.add(Dissolve(code, plan.next_location), None)
                plan.entry(code, "ended", None)
    return plan


def _made_valid(
    plan: ImportPlan,
    geometry: BaseGeometry,
    feature: LayerFeature,
    code: str,
    level: str,
    fields: ImportFields,
) -> BaseGeometry:
    """`make_valid` of an invalid feature geometry, reported; a valid one as it is."""
    if geometry.is_valid or geometry.geom_type not in ("Polygon", "MultiPolygon"):
        return geometry
    reason = shapely.is_valid_reason(geometry)
    fixed, changed = make_valid_territory(geometry)
    lon, lat = point_on(fixed if not fixed.is_empty else geometry)
    name = _text(feature.properties.get(fields.name)) or ""
    plan.repairs.append(
        Repair(
            code,
            name,
            level,
            "make_valid",
            f"made valid ({reason}), keeping its polygonal parts: {area_m2(fixed):.1f} m² "
            f"in {len(fixed.geoms)} part(s), {changed:.1f} m² changed",
            changed,
            lon,
            lat,
            fixed,
        )
    )
    return fixed


def _fit_families(
    plan: ImportPlan,
    queries: ReadModelQueries,
    rules: Rules,
    ready: list[tuple[LayerFeature, str, str | None, MultiPolygon]],
    level: str,
    effective: date,
    fields: ImportFields,
    in_file: set[str],
    planned_parents: Mapping[str, MultiPolygon],
) -> list[tuple[LayerFeature, str, str | None, MultiPolygon]]:
    """Clip and snap the layer's units to their parents and siblings on `effective`.

    A unit's family is its parent (from the file, or on the map) with the units of the level
    under it on the map that the file leaves alone (and an import with mode=replace does not
    end); the file's units are repaired, the map's are not. Each repair is in `plan.repairs`.
    """
    options = plan.repair_options
    parent_level = rules.levels.parent_of(level)
    on_map = {
        unit["code"]: unit
        for unit in queries.units_on(effective, level=level, geometry=False, limit=None).items
    }
    geometries = queries.geometries_on(effective, level)
    parents = queries.geometries_on(effective, parent_level) if parent_level else {}
    ended = set(plan.scope.parents) if plan.scope.mode == "replace" else set()
    families: dict[str | None, dict[str, MultiPolygon]] = {}
    for _, code, parent, territory in ready:
        under = parent if parent is not None else (on_map.get(code) or {}).get("parent")
        families.setdefault(under, {})[code] = territory
    names = {
        code: _text(feature.properties.get(fields.name)) or (on_map.get(code) or {}).get("name")
        for feature, code, _, _ in ready
    }
    repaired: dict[str, MultiPolygon] = {}
    for under, children in families.items():
        outline = planned_parents.get(under) if under is not None else None
        if outline is None and under in parents:
            outline = from_wkb_hex(parents[under])
        if under is not None and outline is None:
            repaired.update(children)  # an unknown parent: the register says so
            continue
        fixed = {
            code: from_wkb_hex(geometries[code])
            for code, unit in on_map.items()
            if unit["parent"] == under
            and code not in in_file
            and not (under in ended or (under is None and plan.scope.mode == "replace"))
            and code in geometries
        }
        result, fixes = fit_family(outline, children, fixed, options, rules.full_coverage)
        repaired.update(result)
        plan.repairs.extend(
            Repair.of(fix, names.get(fix.code) or "", level, options.sliver_m2) for fix in fixes
        )
    out = []
    for feature, code, parent, _ in ready:
        territory = repaired[code]
        if territory.is_empty:
            plan.problems.append(
                Problem(
                    "geometry_empty",
                    f"{code}: nothing is left of it after the repairs",
                    f"features[{feature.index}].geometry",
                    (code,),
                )
            )
            continue
        out.append((feature, code, parent, territory))
    return out


def unit_of(operation: Command) -> str | None:
    """The code of the unit an import's operation is about (`code` of an establish, `unit`
    of the others)."""
    code = getattr(operation, "code", None) or getattr(operation, "unit", None)
    return code if isinstance(code, str) else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _concerns(problem: Problem, where: str, used: set[str]) -> bool:
    """Whether a reader's problem with a feature matters to an import reading `used` fields."""
    prefix = f"{where}.properties."
    return not problem.location.startswith(prefix) or problem.location[len(prefix) :] in used
