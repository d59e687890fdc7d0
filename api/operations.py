"""Change-set bodies read at the edge: one pydantic model per operation, turned into commands.

The models are the public shape of a change set (``{"effective", "reason", "document",
"operations": [{"op": ...}]}``) and `/openapi.json` documents them field by field. Each
operation is validated on its own, so every malformed field of every operation comes back at
once with its location (``operations[2].parts[0].geometry``), and the operations that could be
read still reach the register for their own checks (see `parse_change_set`).

Adding an operation: its command and handler in the domain, its model here (and in the union).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, cast

import shapely
from pydantic import Field, TypeAdapter, ValidationError, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError
from shapely.errors import GEOSException
from shapely.geometry import mapping, shape

from api.fields import (
    Closed,
    Code,
    Codes,
    IsoDate,
    MaybeCodes,
    OptionalText,
    Territory,
    Text,
    code_context,
)
from domain.codes import DEFAULT_CODE_PATTERN
from domain.commands import (
    Address,
    AssignCoverage,
    AssignMatter,
    ChangeServiceArea,
    ChangeSetRequest,
    CloseOffice,
    CloseWorkstation,
    Command,
    Correct,
    Dissolve,
    Establish,
    GridPlan,
    LayGrids,
    Merge,
    MergeWorkstations,
    MoveArea,
    OpenOffice,
    OpenWorkstation,
    Part,
    Recode,
    Redraw,
    Rename,
    Split,
    Transfer,
)
from domain.errors import InvalidChangeSet, Problem
from domain.repair import Repair, make_valid_territory, point_on

MAX_OPERATIONS = 20_000


class _Operation(Closed):
    """An operation of a change set; `to_command` makes the domain's command of it."""

    def to_command(self, location: str) -> Command:
        """The domain command; `location` says where it was in the request."""
        raise NotImplementedError


class EstablishOperation(_Operation):
    """A new unit with its code, level, name, parent and territory."""

    op: Literal["establish"]
    code: Code
    level: Text
    name: Text
    parent: Code | None = None
    name_en: OptionalText = ""
    provenance: OptionalText = ""
    geometry: Territory

    def to_command(self, location: str) -> Command:
        """An `Establish`."""
        return Establish(
            self.code,
            self.level,
            self.name,
            self.parent,
            self.geometry,
            self.name_en,
            self.provenance,
            location,
        )


class RedrawOperation(_Operation):
    """A new territory for an existing unit."""

    op: Literal["redraw"]
    unit: Code
    geometry: Territory

    def to_command(self, location: str) -> Command:
        """A `Redraw`."""
        return Redraw(self.unit, self.geometry, location)


class SplitPart(Closed):
    """One piece of a split: a code, a name and its territory."""

    code: Code
    name: OptionalText = ""
    name_en: OptionalText = ""
    geometry: Territory


class SplitOperation(_Operation):
    """A unit's territory divided; `split_off` keeps the unit's code for one part."""

    op: Literal["split"]
    unit: Code
    mode: Literal["split_off", "full"]
    parts: Annotated[list[SplitPart], Field(min_length=1)]
    reassign_children: Literal["by_location", "none"] = "none"

    def to_command(self, location: str) -> Command:
        """A `Split`."""
        parts = tuple(Part(p.code, p.name, p.geometry, p.name_en) for p in self.parts)
        return Split(self.unit, self.mode, parts, self.reassign_children, location)


class MergeTarget(Closed):
    """The new unit a merge makes."""

    code: Code
    name: Text


class MergeOperation(_Operation):
    """Units joined: into one of them (`absorb_into`) or into a new unit (`into`)."""

    op: Literal["merge"]
    units: Codes
    absorb_into: Code | None = None
    into: MergeTarget | None = None

    @model_validator(mode="after")
    def _one_target(self) -> MergeOperation:
        if (self.absorb_into is None) == (self.into is None):
            raise PydanticCustomError("merge_target", "give exactly one of absorb_into or into")
        if len(self.units) < 2:
            raise PydanticCustomError(
                "merge_too_few", "a merge needs at least two units", {"field": "units"}
            )
        if self.absorb_into is not None and self.absorb_into not in self.units:
            raise PydanticCustomError(
                "merge_target", "absorb_into must be one of units", {"field": "absorb_into"}
            )
        return self

    def to_command(self, location: str) -> Command:
        """A `Merge`."""
        code = self.into.code if self.into is not None else None
        name = self.into.name if self.into is not None else None
        return Merge(tuple(self.units), self.absorb_into, code, name, location)


class TransferOperation(_Operation):
    """A unit moves to another parent."""

    op: Literal["transfer"]
    unit: Code
    parent: Code

    def to_command(self, location: str) -> Command:
        """A `Transfer`."""
        return Transfer(self.unit, self.parent, location)


class MoveAreaOperation(_Operation):
    """A piece of territory passes from one unit to its neighbour of the same level.

    Only the part of `geometry` inside `from_unit` moves (more than half of it outside is a
    problem); both units are redrawn from one overlay, so their new shared edge is shared
    exactly. Children of `from_unit` inside the piece follow it to `to_unit` (with their own
    children); one the new line cuts is reported (`child_straddles`), never guessed.
    """

    op: Literal["move_area"]
    from_unit: Code = Field(description="The unit that gives the piece; it must keep some.")
    to_unit: Code = Field(description="The neighbour of the same level that takes it.")
    geometry: Territory = Field(description="The piece that passes (Polygon or MultiPolygon).")

    def to_command(self, location: str) -> Command:
        """A `MoveArea`."""
        return MoveArea(self.from_unit, self.to_unit, self.geometry, location)


class RenameOperation(_Operation):
    """A unit's name changes; its code does not (`name_en` left out keeps the English name)."""

    op: Literal["rename"]
    unit: Code
    name: Text
    name_en: OptionalText | None = None

    def to_command(self, location: str) -> Command:
        """A `Rename`."""
        return Rename(self.unit, self.name, self.name_en, location)


class RecodeOperation(_Operation):
    """A unit continues under a new code (the old code ends, linked by lineage)."""

    op: Literal["recode"]
    unit: Code
    code: Code

    def to_command(self, location: str) -> Command:
        """A `Recode`."""
        return Recode(self.unit, self.code, location)


class DissolveOperation(_Operation):
    """The unit ends on the effective date."""

    op: Literal["dissolve"]
    unit: Code

    def to_command(self, location: str) -> Command:
        """A `Dissolve`."""
        return Dissolve(self.unit, location)


class Grid(Closed):
    """One grid: its code, name (the code if left out), territory and grid officer."""

    code: Code
    name: OptionalText = ""
    officer: OptionalText = ""
    geometry: Territory


class _GridsOperation(_Operation):
    community: Code
    grids: Annotated[list[Grid], Field(min_length=1)]
    replace: ClassVar[bool]

    def to_command(self, location: str) -> Command:
        """A `LayGrids`."""
        grids = tuple(GridPlan(g.code, g.name or g.code, g.geometry, g.officer) for g in self.grids)
        return LayGrids(self.community, grids, self.replace, location)


class LayGridsOperation(_GridsOperation):
    """A community's grids laid out (it has none yet)."""

    op: Literal["lay_grids"]
    replace: ClassVar[bool] = False


class RegridOperation(_GridsOperation):
    """A community's grids replaced by new ones."""

    op: Literal["regrid"]
    replace: ClassVar[bool] = True


class OfficeAddress(Closed):
    """Where an office is: a lon/lat point and a postal address."""

    lon: Annotated[float, Field(ge=-180, le=180, strict=True)]
    lat: Annotated[float, Field(ge=-90, le=90, strict=True)]
    text: OptionalText = ""

    def to_address(self) -> Address:
        """The domain's `Address`."""
        return Address(self.lon, self.lat, self.text)


class OpenOfficeOperation(_Operation):
    """An office opens for a unit: a street office, a residents' committee, a department."""

    op: Literal["open_office"]
    code: Code
    kind: Text
    name: Text
    unit: Code
    address: OfficeAddress | None = None
    serves: MaybeCodes = Field(
        default_factory=list,
        description="The units it serves, inside its unit (none: the whole unit). A new-area "
        "committee belongs to its district and serves the new area's streets.",
    )

    def to_command(self, location: str) -> Command:
        """An `OpenOffice`."""
        address = self.address.to_address() if self.address is not None else None
        return OpenOffice(
            self.code, self.kind, self.name, self.unit, address, location, tuple(self.serves)
        )


class ChangeServiceAreaOperation(_Operation):
    """From the effective date an office serves exactly these units (none: its whole unit)."""

    op: Literal["change_service_area"]
    code: Code
    serves: MaybeCodes

    def to_command(self, location: str) -> Command:
        """A `ChangeServiceArea`."""
        return ChangeServiceArea(self.code, tuple(self.serves), location)


class CloseOfficeOperation(_Operation):
    """An office closes."""

    op: Literal["close_office"]
    code: Code

    def to_command(self, location: str) -> Command:
        """A `CloseOffice`."""
        return CloseOffice(self.code, location)


class OpenWorkstationOperation(_Operation):
    """A community workstation opens, serving communities of one street."""

    op: Literal["open_workstation"]
    code: Code
    name: Text
    serves: Codes
    address: OfficeAddress | None = None

    def to_command(self, location: str) -> Command:
        """An `OpenWorkstation`."""
        address = self.address.to_address() if self.address is not None else None
        return OpenWorkstation(self.code, self.name, tuple(self.serves), address, location)


class CloseWorkstationOperation(_Operation):
    """A workstation closes; `successor` takes over its communities."""

    op: Literal["close_workstation"]
    code: Code
    successor: Code

    def to_command(self, location: str) -> Command:
        """A `CloseWorkstation`."""
        return CloseWorkstation(self.code, self.successor, location)


class AssignCoverageOperation(_Operation):
    """A workstation takes over these communities from whoever served them."""

    op: Literal["assign_coverage"]
    workstation: Code
    communities: Codes

    def to_command(self, location: str) -> Command:
        """An `AssignCoverage`."""
        return AssignCoverage(self.workstation, tuple(self.communities), location)


class MergeWorkstationsOperation(_Operation):
    """Workstations merge into one of them, which takes over all their communities."""

    op: Literal["merge_workstations"]
    workstations: Codes
    into: Code

    @model_validator(mode="after")
    def _into_one_of_them(self) -> MergeWorkstationsOperation:
        if self.into not in self.workstations:
            raise PydanticCustomError(
                "merge_target", "into must be one of workstations", {"field": "into"}
            )
        if len(self.workstations) < 2:
            raise PydanticCustomError(
                "merge_too_few",
                "a merge needs at least two workstations",
                {"field": "workstations"},
            )
        return self

    def to_command(self, location: str) -> Command:
        """A `MergeWorkstations`."""
        return MergeWorkstations(tuple(self.workstations), self.into, location)


class AssignMatterOperation(_Operation):
    """A matter (事项) is handled from now on by an office kind at a level."""

    op: Literal["assign_matter"]
    matter: Code
    office_kind: Text
    level: Text
    name: OptionalText = ""

    def to_command(self, location: str) -> Command:
        """An `AssignMatter`."""
        return AssignMatter(self.matter, self.office_kind, self.level, self.name, location)


class CorrectOperation(_Operation):
    """The register was wrong about ``[valid_from, valid_to)``: not a real-world change."""

    op: Literal["correct"]
    unit: Code
    valid_from: IsoDate
    valid_to: IsoDate | None = None
    geometry: Territory | None = None
    name: Text | None = None

    @model_validator(mode="after")
    def _something_to_correct(self) -> CorrectOperation:
        if self.geometry is None and self.name is None:
            raise PydanticCustomError(
                "correct_nothing", "a correction needs a geometry and/or a name"
            )
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise PydanticCustomError(
                "period_empty", "valid_to must be after valid_from", {"field": "valid_to"}
            )
        return self

    def to_command(self, location: str) -> Command:
        """A `Correct`."""
        return Correct(
            self.unit, self.valid_from, self.valid_to, self.geometry, self.name, location
        )


Operation = Annotated[
    EstablishOperation
    | RedrawOperation
    | SplitOperation
    | MergeOperation
    | TransferOperation
    | MoveAreaOperation
    | RenameOperation
    | RecodeOperation
    | DissolveOperation
    | LayGridsOperation
    | RegridOperation
    | OpenOfficeOperation
    | ChangeServiceAreaOperation
    | CloseOfficeOperation
    | OpenWorkstationOperation
    | CloseWorkstationOperation
    | AssignCoverageOperation
    | MergeWorkstationsOperation
    | AssignMatterOperation
    | CorrectOperation,
    Field(discriminator="op"),
]
#: Validates one operation (each is read on its own, so the valid ones survive a bad one).
#: (cast: mypy reads the Annotated union as a value, and does so differently from its cache)
OPERATION: TypeAdapter[Any] = TypeAdapter(cast(Any, Operation))


# The body ------------------------------------------------------------------------------------


class _Envelope(Closed):
    effective: IsoDate = Field(description="The day the change takes effect (YYYY-MM-DD).")
    reason: Text = Field(description="Why: shown in the log of legal acts.")
    document: OptionalText | None = Field(
        default=None, description="The legal act that decided it (number, title)."
    )


class ChangeSetBody(_Envelope):
    """A change set: operations applied together on one effective date, or not at all."""

    operations: Annotated[list[Operation], Field(min_length=1, max_length=MAX_OPERATIONS)]
    repair: list[Literal["make_valid", "clip_to_parent", "snap_to_neighbours"]] = Field(
        default_factory=list,
        description="Repairs to make to the operations' territories, each listed in the "
        "receipt's `repairs` (none by default: problems are reported, with a hint naming the "
        "repair that would fix them). See docs/imports.md.",
    )
    sliver_m2: float = Field(
        default=0,
        ge=0,
        description="With snap_to_neighbours: gaps, overlaps and overhangs of at most this many "
        "m² are closed (0: only those narrower than a metre).",
    )


#: The body fields that ask for repairs (read by the route, not by `parse_change_set`).
REPAIR_FIELDS = ("repair", "sliver_m2")


def make_operations_valid(body: dict[str, Any]) -> list[Repair]:
    """With `make_valid` asked: each invalid (Multi)Polygon of an operation (or of its parts
    or grids) replaced, in the body, by its valid form; the repairs made. Anything that is not
    a readable polygon is left for `parse_change_set` to report."""
    repairs: list[Repair] = []
    operations = body.get("operations")
    if not isinstance(operations, list):
        return repairs
    for op in operations:
        if not isinstance(op, dict):
            continue
        items = [op] + [
            item
            for key in ("parts", "grids")
            if isinstance(op.get(key), list)
            for item in op[key]
            if isinstance(item, dict)
        ]
        for item in items:
            geometry = item.get("geometry")
            if not isinstance(geometry, dict) or geometry.get("type") not in (
                "Polygon",
                "MultiPolygon",
            ):
                continue
            try:
                shaped = shape(geometry)
                valid = shaped.is_valid
            except (ValueError, TypeError, AttributeError, IndexError, GEOSException):
                continue  # malformed: the parser says how
            if valid:
                continue
            reason = shapely.is_valid_reason(shaped)
            fixed, changed = make_valid_territory(shaped)
            if fixed.is_empty:
                continue
            item["geometry"] = mapping(fixed)
            lon, lat = point_on(fixed)
            code = item.get("code") or op.get("unit") or op.get("code") or op.get("from_unit") or ""
            repairs.append(
                Repair(
                    str(code),
                    str(item.get("name") or ""),
                    str(item.get("level") or op.get("level") or ""),
                    "make_valid",
                    f"made valid ({reason}), keeping its polygonal parts: {changed:.1f} m² changed",
                    changed,
                    lon,
                    lat,
                    fixed,
                )
            )
    return repairs


class _Head(_Envelope):
    """The envelope alone: the operations are read one by one."""

    operations: Any = None


def parse_change_set(body: Any, code_pattern: str = DEFAULT_CODE_PATTERN) -> ChangeSetRequest:
    """Read a change-set body into a `ChangeSetRequest`, its codes checked against the
    register's grammar `code_pattern` (`Rules.code_pattern`).

    Raises `InvalidChangeSet` with every problem at once; its `partial` holds the operations
    that could be read (when the envelope could), for the register's own checks.
    """
    context = code_context(code_pattern)
    if not isinstance(body, dict):
        raise InvalidChangeSet([Problem("body_not_object", "the body must be a JSON object")])
    problems: list[Problem] = []
    head: _Head | None = None
    try:
        head = _Head.model_validate(body)
    except ValidationError as exc:
        problems.extend(_problems(exc, ""))
    raw = body.get("operations")
    commands: list[Command] = []
    if not isinstance(raw, list) or not raw:
        problems.append(
            Problem("operations_missing", "operations must be a non-empty list", "operations")
        )
    elif len(raw) > MAX_OPERATIONS:
        problems.append(
            Problem("too_many_operations", f"at most {MAX_OPERATIONS} operations", "operations")
        )
    else:
        for index, item in enumerate(raw):
            where = f"operations[{index}]"
            if not isinstance(item, dict):
                problems.append(
                    Problem("operation_not_object", "each operation must be an object", where)
                )
                continue
            try:
                operation: _Operation = OPERATION.validate_python(item, context=context)
            except ValidationError as exc:
                problems.extend(_problems(exc, where, tag=item.get("op")))
                continue
            commands.append(operation.to_command(where))
    if head is None or problems:
        partial = None
        if head is not None and commands:
            partial = _request(head, commands)
        raise InvalidChangeSet(problems, partial)
    return _request(head, commands)


def _request(head: _Head, commands: list[Command]) -> ChangeSetRequest:
    return ChangeSetRequest(head.effective, head.reason, head.document or "", tuple(commands))


#: pydantic's error types, as the problem codes of the contract (our own errors keep theirs).
_CODES = {
    "missing": "field_missing",
    "extra_forbidden": "field_unknown",
    "string_type": "field_wrong_type",
    "string_unicode": "text_invalid",
    "list_type": "field_wrong_type",
    "model_type": "field_wrong_type",
    "model_attributes_type": "field_wrong_type",
    "dict_type": "field_wrong_type",
    "float_type": "field_wrong_type",
    "float_parsing": "field_wrong_type",
    "too_short": "field_wrong_type",
    "string_too_short": "field_wrong_type",
    "too_long": "field_too_long",
    "string_too_long": "field_too_long",
    "literal_error": "field_invalid",
    "greater_than_equal": "coordinates_out_of_range",
    "less_than_equal": "coordinates_out_of_range",
    "finite_number": "coordinates_out_of_range",
    "union_tag_invalid": "operation_unknown",
    "union_tag_not_found": "operation_unknown",
}
_KNOWN = ", ".join(sorted(OPERATION.json_schema()["discriminator"]["mapping"]))


def _problems(error: ValidationError, where: str, tag: Any = None) -> list[Problem]:
    """Each pydantic error as a `Problem` located in the request."""
    out = []
    for detail in error.errors(include_url=False):
        loc = list(detail["loc"])
        kind = detail["type"]
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            out.append(
                Problem("operation_unknown", f"unknown op {tag!r}; known: {_KNOWN}", f"{where}.op")
            )
            continue
        if tag is not None and loc and loc[0] == tag:
            loc = loc[1:]  # the discriminated union puts the op first
        field = (detail.get("ctx") or {}).get("field")
        if field:
            loc.append(field)
        location = _location(where, loc)
        out.append(Problem(_CODES.get(kind, kind), _message(detail, loc), location))
    return out


def _location(where: str, loc: list[Any]) -> str:
    text = where
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _message(detail: ErrorDetails, loc: list[Any]) -> str:
    names = [str(part) for part in loc if isinstance(part, str)]
    if detail["type"] == "extra_forbidden" and names:
        return f"unknown field {names[-1]!r}"
    if detail["type"] == "missing" and names:
        return f"{names[-1]} is required"
    message = detail["msg"]
    if not names or message.startswith(names[-1]):
        return message
    return f"{names[-1]}: {message}"
