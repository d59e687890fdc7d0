"""The matter catalogue: which office kind at which level handles a matter."""

from __future__ import annotations

from domain.commands import AssignMatter
from domain.matters import Catalogue
from domain.operations.dispatch import handles
from domain.workspace import Workspace


@handles(AssignMatter)
def assign_matter(ws: Workspace, op: AssignMatter) -> None:
    """A matter is handled by an office kind at a level from the effective date."""
    if op.level not in ws.rules.levels:
        ws.fail("level_unknown", f"unknown level {op.level!r}", f"{op.location}.level")
        return
    catalogue = ws.catalogue()
    ws.emit(
        catalogue,
        Catalogue.MatterAssigned,
        matter=op.matter,
        name=op.name,
        office_kind=op.office_kind,
        level=op.level,
    )
