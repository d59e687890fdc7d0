"""Change-set requests: the operations GIS staff can ask for, and reading them from JSON.

The request shape is the public contract's (``{"effective", "reason", "document",
"operations": [{"op": ...}]}``). Parsing lives in the domain, not the web layer, so the demo
loader, the importer and the HTTP API share one definition and one set of error messages;
every malformed field is reported with its location (``operations[2].parts[0].geometry``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any, Literal

from shapely.geometry import MultiPolygon

from domain.errors import InvalidChangeSet, Problem
from domain.geometry import GeometryError, parse_territory


@dataclass(frozen=True)
class Part:
    """One piece of a split: a code, a name and its territory."""

    code: str
    name: str
    geometry: MultiPolygon
    name_en: str = ""


@dataclass(frozen=True)
class GridPlan:
    """One grid of a `lay_grids` or `regrid`, with the name of its grid officer."""

    code: str
    name: str
    geometry: MultiPolygon
    officer: str = ""


@dataclass(frozen=True)
class Address:
    """Where an office is: a point and a postal address."""

    lon: float
    lat: float
    text: str = ""


@dataclass(frozen=True)
class Establish:
    """A new unit with its code, level, name, parent and territory."""

    code: str
    level: str
    name: str
    parent: str | None
    geometry: MultiPolygon
    name_en: str = ""
    provenance: str = ""
    location: str = ""


@dataclass(frozen=True)
class Redraw:
    """A new territory for an existing unit."""

    unit: str
    geometry: MultiPolygon
    location: str = ""


@dataclass(frozen=True)
class Split:
    """A unit's territory divided; `split_off` keeps the unit's code for one part."""

    unit: str
    mode: Literal["split_off", "full"]
    parts: tuple[Part, ...]
    reassign_children: Literal["by_location", "none"] = "none"
    location: str = ""


@dataclass(frozen=True)
class Merge:
    """Units joined: into one of them (`absorb_into`) or into a new unit (`into_code`)."""

    units: tuple[str, ...]
    absorb_into: str | None = None
    into_code: str | None = None
    into_name: str | None = None
    location: str = ""


@dataclass(frozen=True)
class Transfer:
    """A unit moves to another parent."""

    unit: str
    parent: str
    location: str = ""


@dataclass(frozen=True)
class Rename:
    """A unit's name changes; its code does not."""

    unit: str
    name: str
    name_en: str | None = None
    location: str = ""


@dataclass(frozen=True)
class Recode:
    """A unit continues under a new code (the old code ends, linked by lineage)."""

    unit: str
    code: str
    location: str = ""


@dataclass(frozen=True)
class Dissolve:
    """The unit ends on the effective date."""

    unit: str
    location: str = ""


@dataclass(frozen=True)
class LayGrids:
    """A community's grids laid out (`replace=False`) or replaced by new ones (`regrid`)."""

    community: str
    grids: tuple[GridPlan, ...]
    replace: bool = False
    location: str = ""


@dataclass(frozen=True)
class OpenOffice:
    """An office opens for a unit: a street office, a residents' committee, a department."""

    code: str
    kind: str
    name: str
    unit: str
    address: Address | None = None
    location: str = ""


@dataclass(frozen=True)
class CloseOffice:
    """An office closes."""

    code: str
    location: str = ""


@dataclass(frozen=True)
class OpenWorkstation:
    """A community workstation opens, serving communities of one street."""

    code: str
    name: str
    serves: tuple[str, ...]
    address: Address | None = None
    location: str = ""


@dataclass(frozen=True)
class CloseWorkstation:
    """A workstation closes; `successor` takes over its communities."""

    code: str
    successor: str
    location: str = ""


@dataclass(frozen=True)
class AssignCoverage:
    """A workstation takes over these communities from whoever served them."""

    workstation: str
    communities: tuple[str, ...]
    location: str = ""


@dataclass(frozen=True)
class MergeWorkstations:
    """Workstations merge into one of them, which takes over all their communities."""

    workstations: tuple[str, ...]
    into: str
    location: str = ""


@dataclass(frozen=True)
class AssignMatter:
    """A matter (事项) is handled from now on by an office kind at a level."""

    matter: str
    office_kind: str
    level: str
    name: str = ""
    location: str = ""


@dataclass(frozen=True)
class Correct:
    """The register was wrong about ``[valid_from, valid_to)``: not a real-world change."""

    unit: str
    valid_from: date
    valid_to: date | None
    geometry: MultiPolygon | None = None
    name: str | None = None
    location: str = ""


Operation = (
    Establish
    | Redraw
    | Split
    | Merge
    | Transfer
    | Rename
    | Recode
    | Dissolve
    | LayGrids
    | OpenOffice
    | CloseOffice
    | OpenWorkstation
    | CloseWorkstation
    | AssignCoverage
    | MergeWorkstations
    | AssignMatter
    | Correct
)


@dataclass(frozen=True)
class ChangeSetRequest:
    """A parsed, well-formed change set (its rules are checked when it is applied)."""

    effective: date
    reason: str
    document: str
    operations: tuple[Operation, ...]

    def summary(self) -> list[dict[str, Any]]:
        """The operations without geometries, for the log of legal acts."""
        return [_summarise(operation) for operation in self.operations]


def _summarise(operation: Operation) -> dict[str, Any]:
    entry: dict[str, Any] = {"op": operation_name(operation)}
    for item in fields(operation):
        value = getattr(operation, item.name)
        if item.name in ("geometry", "location") or value is None:
            continue
        if item.name in ("parts", "grids"):
            value = [{"code": p.code, "name": p.name} for p in value]
        elif isinstance(value, Address):
            value = {"lon": value.lon, "lat": value.lat, "text": value.text}
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, date):
            value = value.isoformat()
        entry[item.name] = value
    return entry


def operation_name(operation: Operation) -> str:
    """The ``op`` string of an operation."""
    if isinstance(operation, LayGrids):
        return "regrid" if operation.replace else "lay_grids"
    return _NAMES[type(operation)]


_NAMES: dict[type[Any], str] = {
    Establish: "establish",
    Redraw: "redraw",
    Split: "split",
    Merge: "merge",
    Transfer: "transfer",
    Rename: "rename",
    Recode: "recode",
    Dissolve: "dissolve",
    OpenOffice: "open_office",
    CloseOffice: "close_office",
    OpenWorkstation: "open_workstation",
    CloseWorkstation: "close_workstation",
    AssignCoverage: "assign_coverage",
    MergeWorkstations: "merge_workstations",
    AssignMatter: "assign_matter",
    Correct: "correct",
}
OPERATION_NAMES = sorted([*_NAMES.values(), "lay_grids", "regrid"])

MAX_OPERATIONS = 20_000
MAX_TEXT = 2000


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
    elif len(raw_operations) > MAX_OPERATIONS:
        reader.problem("too_many_operations", f"at most {MAX_OPERATIONS} operations", "operations")
    else:
        for index, raw in enumerate(raw_operations):
            operation = reader.operation(raw, f"operations[{index}]")
            if operation is not None:
                operations.append(operation)
    if reader.problems:
        partial = None
        if effective is not None and reason is not None and operations:
            partial = ChangeSetRequest(effective, reason, document or "", tuple(operations))
        raise InvalidChangeSet(reader.problems, partial)
    assert effective is not None and reason is not None
    return ChangeSetRequest(effective, reason, document or "", tuple(operations))


@dataclass
class _Reader:
    """Reads fields, collecting problems instead of stopping at the first."""

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
        if len(value) > MAX_TEXT:
            self.problem("field_too_long", f"{key} is longer than {MAX_TEXT} characters", where)
            return None
        return value.strip()

    def code(
        self, obj: dict[str, Any], key: str, where: str, *, required: bool = True
    ) -> str | None:
        value = self.text(obj, key, where, required=required)
        if value is not None and (len(value) > 64 or any(c.isspace() for c in value)):
            self.problem("code_invalid", f"{key} must be at most 64 characters, no spaces", where)
            return None
        return value

    def codes(self, obj: dict[str, Any], key: str, where: str) -> tuple[str, ...] | None:
        value = obj.get(key)
        if not isinstance(value, list) or not value:
            self.problem("field_wrong_type", f"{key} must be a non-empty list of codes", where)
            return None
        out = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.problem(
                    "field_wrong_type", "codes must be non-empty strings", f"{where}[{index}]"
                )
                return None
            out.append(item.strip())
        if len(set(out)) != len(out):
            self.problem("codes_repeated", f"{key} lists a code twice", where)
            return None
        return tuple(out)

    def date(
        self, obj: dict[str, Any], key: str, where: str, *, required: bool = True
    ) -> date | None:
        value = self.text(obj, key, where, required=required)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.problem("date_invalid", f"{key} {value!r} is not a YYYY-MM-DD date", where)
            return None

    def territory(
        self, obj: dict[str, Any], where: str, *, required: bool = True
    ) -> MultiPolygon | None:
        if obj.get("geometry") is None:
            if required:
                self.problem("field_missing", "geometry is required", where)
            return None
        try:
            return parse_territory(obj["geometry"], where)
        except GeometryError as exc:
            self.problems.append(exc.problem)
            return None

    def choice(
        self,
        obj: dict[str, Any],
        key: str,
        where: str,
        options: tuple[str, ...],
        default: str | None = None,
    ) -> str | None:
        value = obj.get(key, default)
        if value not in options:
            self.problem("field_invalid", f"{key} must be one of {', '.join(options)}", where)
            return None
        return str(value)

    def address(self, obj: dict[str, Any], where: str) -> Address | None:
        value = obj.get("address")
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problem("field_wrong_type", "address must be {lon, lat, text}", where)
            return None
        lon, lat = value.get("lon"), value.get("lat")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lon, lat)):
            self.problem("field_wrong_type", "address.lon and address.lat must be numbers", where)
            return None
        assert isinstance(lon, int | float) and isinstance(lat, int | float)
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            self.problem("coordinate_out_of_range", "address is outside lon/lat ranges", where)
            return None
        text = self.text(value, "text", f"{where}.text", required=False) or ""
        return Address(float(lon), float(lat), text)

    def items(self, obj: dict[str, Any], key: str, where: str) -> list[tuple[str, dict[str, Any]]]:
        value = obj.get(key)
        if not isinstance(value, list) or not value:
            self.problem("field_wrong_type", f"{key} must be a non-empty list", where)
            return []
        out = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                self.problem(
                    "field_wrong_type", f"each of {key} must be an object", f"{where}[{index}]"
                )
                continue
            out.append((f"{where}[{index}]", item))
        return out

    def operation(self, raw: Any, where: str) -> Operation | None:
        if not isinstance(raw, dict):
            self.problem("operation_not_object", "each operation must be an object", where)
            return None
        op = raw.get("op")
        reader = _OPERATION_READERS.get(op) if isinstance(op, str) else None
        if reader is None:
            known = ", ".join(OPERATION_NAMES)
            self.problem("operation_unknown", f"unknown op {op!r}; known: {known}", f"{where}.op")
            return None
        before = len(self.problems)
        result = reader(self, raw, where)
        return result if len(self.problems) == before else None


def _establish(r: _Reader, raw: dict[str, Any], w: str) -> Operation | None:
    code = r.code(raw, "code", f"{w}.code")
    level = r.text(raw, "level", f"{w}.level")
    name = r.text(raw, "name", f"{w}.name")
    parent = r.code(raw, "parent", f"{w}.parent", required=False)
    name_en = r.text(raw, "name_en", f"{w}.name_en", required=False)
    provenance = r.text(raw, "provenance", f"{w}.provenance", required=False)
    geometry = r.territory(raw, f"{w}.geometry")
    if code and level and name and geometry is not None:
        return Establish(code, level, name, parent, geometry, name_en or "", provenance or "", w)
    return None


def _redraw(r: _Reader, raw: dict[str, Any], w: str) -> Operation | None:
    unit = r.code(raw, "unit", f"{w}.unit")
    geometry = r.territory(raw, f"{w}.geometry")
    return Redraw(unit, geometry, w) if unit and geometry is not None else None


def _split(r: _Reader, raw: dict[str, Any], w: str) -> Operation | None:
    unit = r.code(raw, "unit", f"{w}.unit")
    mode = r.choice(raw, "mode", f"{w}.mode", ("split_off", "full"))
    reassign = r.choice(
        raw, "reassign_children", f"{w}.reassign_children", ("by_location", "none"), "none"
    )
    parts = []
    for at, item in r.items(raw, "parts", f"{w}.parts"):
        code = r.code(item, "code", f"{at}.code")
        name = r.text(item, "name", f"{at}.name", required=False)
        name_en = r.text(item, "name_en", f"{at}.name_en", required=False)
        geometry = r.territory(item, f"{at}.geometry")
        if code and geometry is not None:
            parts.append(Part(code, name or "", geometry, name_en or ""))
    if unit and mode and reassign:
        return Split(unit, mode, tuple(parts), reassign, w)  # type: ignore[arg-type]
    return None


def _merge(r: _Reader, raw: dict[str, Any], w: str) -> Operation | None:
    units = r.codes(raw, "units", f"{w}.units")
    absorb = r.code(raw, "absorb_into", f"{w}.absorb_into", required=False)
    into = raw.get("into")
    into_code = into_name = None
    if into is not None:
        if not isinstance(into, dict):
            r.problem("field_wrong_type", "into must be {code, name}", f"{w}.into")
        else:
            into_code = r.code(into, "code", f"{w}.into.code")
            into_name = r.text(into, "name", f"{w}.into.name")
    if (absorb is None) == (into is None):
        r.problem("merge_target", "give exactly one of absorb_into or into", w)
        return None
    if units and len(units) < 2:
        r.problem("merge_too_few", "a merge needs at least two units", f"{w}.units")
        return None
    if units and absorb is not None and absorb not in units:
        r.problem("merge_target", "absorb_into must be one of units", f"{w}.absorb_into")
        return None
    return Merge(units, absorb, into_code, into_name, w) if units else None


def _transfer(r: _Reader, raw: dict[str, Any], w: str) -> Operation | None:
    unit = r.code(raw, "unit", f"{w}.unit")
    parent = r.code(raw, "parent", f"{w}.parent")
    return Transfer(unit, parent, w) if unit and parent else None


def _rename(r: _Reader, raw: dict[str, Any], w: str) -> Operation | None:
    unit = r.code(raw, "unit", f"{w}.unit")
    name = r.text(raw, "name", f"{w}.name")
    name_en = r.text(raw, "name_en", f"{w}.name_en", required=False)
    return Rename(unit, name, name_en, w) if unit and name else None


def _recode(r: _Reader, raw: dict[str, Any], w: str) -> Operation | None:
    unit = r.code(raw, "unit", f"{w}.unit")
    code = r.code(raw, "code", f"{w}.code")
    return Recode(unit, code, w) if unit and code else None


def _dissolve(r: _Reader, raw: dict[str, Any], w: str) -> Operation | None:
    unit = r.code(raw, "unit", f"{w}.unit")
    return Dissolve(unit, w) if unit else None


def _grids(replace: bool) -> Any:
    def read(r: _Reader, raw: dict[str, Any], w: str) -> Operation | None:
        community = r.code(raw, "community", f"{w}.community")
        grids = []
        for at, item in r.items(raw, "grids", f"{w}.grids"):
            code = r.code(item, "code", f"{at}.code")
            name = r.text(item, "name", f"{at}.name", required=False)
            officer = r.text(item, "officer", f"{at}.officer", required=False)
            geometry = r.territory(item, f"{at}.geometry")
            if code and geometry is not None:
                grids.append(GridPlan(code, name or code, geometry, officer or ""))
        return LayGrids(community, tuple(grids), replace, w) if community else None

    return read


def _open_office(r: _Reader, raw: dict[str, Any], w: str) -> Operation | None:
    code = r.code(raw, "code", f"{w}.code")
    kind = r.text(raw, "kind", f"{w}.kind")
    name = r.text(raw, "name", f"{w}.name")
    unit = r.code(raw, "unit", f"{w}.unit")
    address = r.address(raw, f"{w}.address")
    if code and kind and name and unit:
        return OpenOffice(code, kind, name, unit, address, w)
    return None


def _close_office(r: _Reader, raw: dict[str, Any], w: str) -> Operation | None:
    code = r.code(raw, "code", f"{w}.code")
    return CloseOffice(code, w) if code else None


def _open_workstation(r: _Reader, raw: dict[str, Any], w: str) -> Operation | None:
    code = r.code(raw, "code", f"{w}.code")
    name = r.text(raw, "name", f"{w}.name")
    serves = r.codes(raw, "serves", f"{w}.serves")
    address = r.address(raw, f"{w}.address")
    if code and name and serves:
        return OpenWorkstation(code, name, serves, address, w)
    return None


def _close_workstation(r: _Reader, raw: dict[str, Any], w: str) -> Operation | None:
    code = r.code(raw, "code", f"{w}.code")
    successor = r.code(raw, "successor", f"{w}.successor")
    return CloseWorkstation(code, successor, w) if code and successor else None


def _assign_coverage(r: _Reader, raw: dict[str, Any], w: str) -> Operation | None:
    workstation = r.code(raw, "workstation", f"{w}.workstation")
    communities = r.codes(raw, "communities", f"{w}.communities")
    return AssignCoverage(workstation, communities, w) if workstation and communities else None


def _merge_workstations(r: _Reader, raw: dict[str, Any], w: str) -> Operation | None:
    workstations = r.codes(raw, "workstations", f"{w}.workstations")
    into = r.code(raw, "into", f"{w}.into")
    if workstations and into and into not in workstations:
        r.problem("merge_target", "into must be one of workstations", f"{w}.into")
        return None
    if workstations and len(workstations) < 2:
        r.problem("merge_too_few", "a merge needs at least two workstations", f"{w}.workstations")
        return None
    return MergeWorkstations(workstations, into, w) if workstations and into else None


def _assign_matter(r: _Reader, raw: dict[str, Any], w: str) -> Operation | None:
    matter = r.code(raw, "matter", f"{w}.matter")
    kind = r.text(raw, "office_kind", f"{w}.office_kind")
    level = r.text(raw, "level", f"{w}.level")
    name = r.text(raw, "name", f"{w}.name", required=False)
    return AssignMatter(matter, kind, level, name or "", w) if matter and kind and level else None


def _correct(r: _Reader, raw: dict[str, Any], w: str) -> Operation | None:
    unit = r.code(raw, "unit", f"{w}.unit")
    valid_from = r.date(raw, "valid_from", f"{w}.valid_from")
    valid_to = r.date(raw, "valid_to", f"{w}.valid_to", required=False)
    geometry = r.territory(raw, f"{w}.geometry", required=False)
    name = r.text(raw, "name", f"{w}.name", required=False)
    if geometry is None and name is None and raw.get("geometry") is None:
        r.problem("correct_nothing", "a correction needs a geometry and/or a name", w)
        return None
    if valid_from and valid_to and valid_to <= valid_from:
        r.problem("period_empty", "valid_to must be after valid_from", f"{w}.valid_to")
        return None
    if unit and valid_from:
        return Correct(unit, valid_from, valid_to, geometry, name, w)
    return None


_OPERATION_READERS: dict[str, Any] = {
    "establish": _establish,
    "redraw": _redraw,
    "split": _split,
    "merge": _merge,
    "transfer": _transfer,
    "rename": _rename,
    "recode": _recode,
    "dissolve": _dissolve,
    "lay_grids": _grids(replace=False),
    "regrid": _grids(replace=True),
    "open_office": _open_office,
    "close_office": _close_office,
    "open_workstation": _open_workstation,
    "close_workstation": _close_workstation,
    "assign_coverage": _assign_coverage,
    "merge_workstations": _merge_workstations,
    "assign_matter": _assign_matter,
    "correct": _correct,
}
