"""The commands GIS staff can give the register: the operations of a change set.

Plain typed values, read from whatever a client sent by the edge (the HTTP API's
`api.operations`, the layer importer); the domain itself reads no JSON. Each command knows its
own ``op`` name, and `domain.operations` holds what each one does.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import Any, ClassVar, Literal

from shapely.geometry import MultiPolygon

from domain.text import Code, Required


@dataclass(frozen=True)
class Command:
    """Base of every operation; `op` is its name in change sets and in the log of legal acts."""

    op: ClassVar[str]

    @property
    def op_name(self) -> str:
        """The ``op`` string of this operation."""
        return self.op


@dataclass(frozen=True)
class Part:
    """One piece of a split: a code, a name and its territory."""

    code: Code
    name: str
    geometry: MultiPolygon
    name_en: str = ""


@dataclass(frozen=True)
class GridPlan:
    """One grid of a `lay_grids` or `regrid`, with the name of its grid officer."""

    code: Code
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
class Establish(Command):
    """A new unit with its code, level, name, parent and territory."""

    op: ClassVar[str] = "establish"

    code: Code
    level: Required
    name: Required
    parent: Code | None
    geometry: MultiPolygon
    name_en: str = ""
    provenance: str = ""
    location: str = ""


@dataclass(frozen=True)
class Redraw(Command):
    """A new territory for an existing unit."""

    op: ClassVar[str] = "redraw"

    unit: Code
    geometry: MultiPolygon
    location: str = ""


@dataclass(frozen=True)
class Split(Command):
    """A unit's territory divided; `split_off` keeps the unit's code for one part."""

    op: ClassVar[str] = "split"

    unit: Code
    mode: Literal["split_off", "full"]
    parts: tuple[Part, ...]
    reassign_children: Literal["by_location", "none"] = "none"
    location: str = ""


@dataclass(frozen=True)
class Merge(Command):
    """Units joined: into one of them (`absorb_into`) or into a new unit (`into_code`)."""

    op: ClassVar[str] = "merge"

    units: tuple[Code, ...]
    absorb_into: Code | None = None
    into_code: Code | None = None
    into_name: Required | None = None
    location: str = ""


@dataclass(frozen=True)
class Transfer(Command):
    """A unit moves to another parent."""

    op: ClassVar[str] = "transfer"

    unit: Code
    parent: Code
    location: str = ""


@dataclass(frozen=True)
class MoveArea(Command):
    """A piece of territory passes from one unit to its neighbour of the same level.

    Both units are redrawn together from one overlay, so their new shared edge is shared
    exactly; children of `from_unit` inside the piece follow it to `to_unit` by location.
    """

    op: ClassVar[str] = "move_area"

    from_unit: Code
    to_unit: Code
    geometry: MultiPolygon
    location: str = ""


@dataclass(frozen=True)
class Rename(Command):
    """A unit's name changes; its code does not."""

    op: ClassVar[str] = "rename"

    unit: Code
    name: Required
    name_en: str | None = None
    location: str = ""


@dataclass(frozen=True)
class Recode(Command):
    """A unit continues under a new code (the old code ends, linked by lineage)."""

    op: ClassVar[str] = "recode"

    unit: Code
    code: Code
    location: str = ""


@dataclass(frozen=True)
class Dissolve(Command):
    """The unit ends on the effective date."""

    op: ClassVar[str] = "dissolve"

    unit: Code
    location: str = ""


@dataclass(frozen=True)
class LayGrids(Command):
    """A community's grids laid out (`replace=False`) or replaced by new ones (`regrid`)."""

    op: ClassVar[str] = "lay_grids"

    community: Code
    grids: tuple[GridPlan, ...]
    replace: bool = False
    location: str = ""

    @property
    def op_name(self) -> str:
        """``regrid`` when the grids replace existing ones."""
        return "regrid" if self.replace else "lay_grids"


@dataclass(frozen=True)
class OpenOffice(Command):
    """An office opens for a unit: a street office, a residents' committee, a department."""

    op: ClassVar[str] = "open_office"

    code: Code
    kind: Required
    name: Required
    unit: Code
    address: Address | None = None
    location: str = ""
    #: The units it serves (its service area), if not its whole unit: a new-area committee
    #: belongs to a district but serves only the streets of the new area.
    serves: tuple[Code, ...] = ()


@dataclass(frozen=True)
class ChangeServiceArea(Command):
    """From the effective date an office serves exactly these units (empty: its whole unit)."""

    op: ClassVar[str] = "change_service_area"

    code: Code
    serves: tuple[Code, ...]
    location: str = ""


@dataclass(frozen=True)
class CloseOffice(Command):
    """An office closes."""

    op: ClassVar[str] = "close_office"

    code: Code
    location: str = ""


@dataclass(frozen=True)
class OpenWorkstation(Command):
    """A community workstation opens, serving communities of one street."""

    op: ClassVar[str] = "open_workstation"

    code: Code
    name: Required
    serves: tuple[Code, ...]
    address: Address | None = None
    location: str = ""


@dataclass(frozen=True)
class CloseWorkstation(Command):
    """A workstation closes; `successor` takes over its communities."""

    op: ClassVar[str] = "close_workstation"

    code: Code
    successor: Code
    location: str = ""


@dataclass(frozen=True)
class AssignCoverage(Command):
    """A workstation takes over these communities from whoever served them."""

    op: ClassVar[str] = "assign_coverage"

    workstation: Code
    communities: tuple[Code, ...]
    location: str = ""


@dataclass(frozen=True)
class MergeWorkstations(Command):
    """Workstations merge into one of them, which takes over all their communities."""

    op: ClassVar[str] = "merge_workstations"

    workstations: tuple[Code, ...]
    into: Code
    location: str = ""


@dataclass(frozen=True)
class AssignMatter(Command):
    """A matter (事项) is handled from now on by an office kind at a level."""

    op: ClassVar[str] = "assign_matter"

    matter: Code
    office_kind: Required
    level: Required
    name: str = ""
    location: str = ""


@dataclass(frozen=True)
class Correct(Command):
    """The register was wrong about ``[valid_from, valid_to)``: not a real-world change."""

    op: ClassVar[str] = "correct"

    unit: Code
    valid_from: date
    valid_to: date | None
    geometry: MultiPolygon | None = None
    name: Required | None = None
    location: str = ""


@dataclass(frozen=True)
class ChangeSetRequest:
    """A well-formed change set (its rules are checked when it is applied)."""

    effective: date
    reason: Required
    document: str
    operations: tuple[Command, ...]

    def summary(self) -> list[dict[str, Any]]:
        """The operations without geometries, for the log of legal acts."""
        return [_summarise(operation) for operation in self.operations]


def _summarise(operation: Command) -> dict[str, Any]:
    entry: dict[str, Any] = {"op": operation.op_name}
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
