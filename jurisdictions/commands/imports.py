"""Import a layer of one level: the use case of `POST /v1/imports` and `jurisdictions import`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from domain.errors import InvalidChangeSet, Problem
from domain.repair import RepairOptions, with_hint
from jurisdictions.bootstrap import Services
from jurisdictions.commands.writes import WriteOutcome, settle
from projections.imports import (
    ImportFields,
    ImportPlan,
    ImportScope,
    LayerError,
    read_layer,
)
from projections.layer_files import file_kind
from projections.multilevel import LayerSpec, plan_levels


@dataclass(frozen=True)
class ImportOutcome:
    """The change set an import worked out, every problem, and the write (None when nothing
    was tried: problems found, or nothing to change)."""

    plan: ImportPlan
    problems: list[Problem]
    write: WriteOutcome | None
    dry_run: bool

    def report(self) -> dict[str, Any]:
        """The contract's import report: what changes, what is wrong, and what was applied."""
        write = self.write
        applied = write is not None and write.stored
        report: dict[str, Any] = self.plan.report()
        report["problems"] = [p.as_dict() for p in self.problems]
        report.update({"applied": applied, "change_set": None, "dry_run": self.dry_run})
        if write is not None and applied:
            report.update(
                {
                    "change_set": str(write.receipt.id),
                    "position": write.position,
                    "projected": write.visible,
                }
            )
        return report


def import_layer(
    services: Services,
    path: Path,
    *,
    level: str,
    effective: date,
    reason: str,
    document: str = "",
    fields: ImportFields | None = None,
    layer: str | None = None,
    scope: ImportScope | None = None,
    children: str = "keep",
    sliver_m2: float = 0.0,
    repair: RepairOptions | None = None,
    actor: str,
    dry_run: bool = False,
) -> ImportOutcome:
    """Read the layer, work out its change set against the map on `effective`, and (unless a
    dry run, and only if nothing is wrong) apply it and wait until it is visible.

    By default only the units in the file change; `scope` (mode "replace" and the parents
    replaced) also ends the units the file leaves out under those parents. `layer` names the
    GeoPackage table to read when the file has several. `children="follow"` lets the children
    of units whose boundary moves follow by location (`import_layers`). `repair` names the
    repairs the editor asks for (none by default): each one made is in the report's `repairs`,
    and the operations carry the repaired geometries; a problem a repair would fix names it in
    a hint.

    Raises `UnsupportedFile` when the file is neither GeoJSON nor a GeoPackage, `LayerError`
    when it is not a readable layer and `ImportScopeError` when the scope does not fit the
    level; problems of the features or of the change set come back in
    the outcome, with nothing stored.
    """
    return import_layers(
        services,
        path,
        [LayerSpec(layer, level)],
        effective=effective,
        reason=reason,
        document=document,
        fields=fields,
        scope=scope,
        children=children,
        sliver_m2=sliver_m2,
        repair=repair,
        actor=actor,
        dry_run=dry_run,
    )


def import_layers(
    services: Services,
    path: Path,
    layers: list[LayerSpec],
    *,
    effective: date,
    reason: str,
    document: str = "",
    fields: ImportFields | None = None,
    scope: ImportScope | None = None,
    children: str = "keep",
    sliver_m2: float = 0.0,
    repair: RepairOptions | None = None,
    actor: str,
    dry_run: bool = False,
) -> ImportOutcome:
    """Import several layers (tables of one GeoPackage, one level each) as ONE change set.

    The layers are planned from the top level down (`plan_levels`), so a new community comes
    before the grids naming it; with `children="follow"` the children of moved units that
    the file does not place follow by location, and those the new line cuts by at most
    `sliver_m2` follow its edge (clipped or extended). Raises as `import_layer`.
    """
    if len(layers) > 1:
        _check_geopackage(path)
    read = [(spec, read_layer(path, spec.table)) for spec in layers]
    plan = plan_levels(
        services.queries,
        services.settings.rules,
        read,
        effective,
        fields or ImportFields(),
        scope,
        children,
        sliver_m2,
        repair,
    )
    problems = list(plan.problems)
    write = None
    if not problems and plan.operations:
        try:
            receipt = services.register.apply_change_set(
                plan.request(effective, reason, document), actor=actor, dry_run=dry_run
            )
        except InvalidChangeSet as exc:
            problems.extend(with_hint(p) for p in exc.problems)
        else:
            write = settle(services, receipt, dry_run=dry_run)
    return ImportOutcome(plan, problems, write, dry_run)


def _check_geopackage(path: Path) -> None:
    """Several layers are tables of one GeoPackage: refuse any other file before reading it."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise LayerError("the file cannot be opened") from exc
    if file_kind(head) != "gpkg":  # raises UnsupportedFile for what is neither
        raise LayerError(
            "several layers are read from the tables of one GeoPackage, and this file is "
            "GeoJSON (one layer): import it with `level`, or send a GeoPackage"
        )
