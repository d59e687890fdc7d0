"""Import layers of a file: the use case of `POST /v1/imports` and `jurisdictions import`."""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from domain.commands import ChangeSetRequest
from domain.errors import InvalidChangeSet, Problem
from domain.repair import RepairOptions, with_hint
from domain.units import unit_id
from jurisdictions.bootstrap import Services
from jurisdictions.commands.writes import WriteOutcome, settle
from projections.event_store import stored_events
from projections.import_report import geojson_report, people_report
from projections.imports import (
    ImportFields,
    ImportPlan,
    ImportScope,
    LayerError,
    read_layer,
    unit_of,
)
from projections.layer_files import file_kind
from projections.multilevel import LayerSpec, plan_levels


@dataclass(frozen=True)
class ImportOutcome:
    """The change set an import worked out, every problem, and the write (None when nothing
    was tried: problems found, or nothing to change).

    `problems` are placed for people (`ImportPlan.place`: at the feature, named, with a
    point); `unchecked` names the parents whose map-wide rules wait for the features' own
    problems to be fixed (checking them now would only echo the refused features).
    """

    plan: ImportPlan
    problems: list[Problem]
    write: WriteOutcome | None
    dry_run: bool
    unchecked: list[str] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        """The contract's import report: what changes (for people: names, before and after,
        areas, points), what is wrong, and what was applied."""
        write = self.write
        applied = write is not None and write.stored
        report = people_report(self.plan, self.problems, self.unchecked)
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

    def geojson(self, report: dict[str, Any] | None = None) -> dict[str, Any]:
        """The report as a GeoJSON FeatureCollection (`projections.import_report`)."""
        return geojson_report(self.plan, self.problems, report or self.report())


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
    level; problems of the features or of the change set come back in the outcome, with
    nothing stored.
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
    `sliver_m2` follow its edge (clipped or extended). Every problem comes at once: features
    refused by the planner do not keep the register from checking the rest. Raises as
    `import_layer`.
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
    by_code = plan.by_code()
    problems = [plan.place(p, by_code) for p in plan.problems]
    unchecked: list[str] = []
    write = None
    refused = {i for p in problems if (i := _feature_of(p.location)) is not None}
    change = (effective, reason, document, actor)
    if problems:
        # Features refused: still check what could be planned, so every problem comes at once
        # (one layer: its features are what operations are tied to; several layers report
        # the planner's problems first).
        # Only when every problem is a feature's: a problem of following (a child the new line
        # cuts) is not tied to a feature, and the register would only echo it.
        at_features = all(_feature_of(p.location) is not None for p in problems)
        if len(layers) == 1 and at_features:
            found, unchecked = _check_rest(services, plan, change, refused)
            problems.extend(found)
    elif plan.operations:
        try:
            with _preloaded(services, plan):
                receipt = services.register.apply_change_set(
                    plan.request(effective, reason, document), actor=actor, dry_run=dry_run
                )
        except InvalidChangeSet as exc:
            problems.extend(plan.place(p) for p in exc.problems)
            refused_ops = _operations_of(exc.problems)
            if refused_ops:
                # The register stops at the operations' problems, before its map-wide rules:
                # check those on the rest of the file too.
                found, unchecked = _check_rest(services, plan, change, set(), refused_ops)
                problems.extend(found)
        else:
            # What the change set did besides the file's units (an office's service area
            # following a street the import ends) is the report's news too.
            plan.notes.extend(plan.place(n) for n in receipt.notes)
            write = settle(services, receipt, dry_run=dry_run)
    problems = [with_hint(p) for p in problems]
    return ImportOutcome(plan, problems, write, dry_run, unchecked)


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


def _preloaded(services: Services, plan: ImportPlan) -> AbstractContextManager[None]:
    """The register reading the plan's units (and their parents, old and new) from one query,
    not one each (`JurisdictionRegister.preloaded`): the round trips of a whole layer's units
    were most of an import's dry run."""
    codes: set[str] = set()
    for operation in plan.operations:
        code = unit_of(operation)
        if code is not None:
            codes.add(code)
            state = plan.rows.get(code)
            if state is not None and state.get("parent"):
                codes.add(state["parent"])
        parent = getattr(operation, "parent", None)
        if isinstance(parent, str):
            codes.add(parent)
    stored = stored_events(services.settings.conninfo, (unit_id(c) for c in codes))
    return services.register.preloaded(stored)


def _feature_of(location: str) -> int | None:
    """The feature a reader's or planner's problem is at (``features[3].geometry``: 3)."""
    match = re.match(r"features\[(\d+)\]", location)
    return int(match.group(1)) if match else None


def _operations_of(problems: list[Problem]) -> set[int]:
    """The operations the register placed problems at (``operations[3].name``: 3)."""
    return {
        int(m.group(1)) for p in problems if (m := re.match(r"operations\[(\d+)\]", p.location))
    }


def _check_rest(
    services: Services,
    plan: ImportPlan,
    change: tuple[date, str, str, str],
    features: set[int],
    operations: set[int] | None = None,
) -> tuple[list[Problem], list[str]]:
    """The register's problems with the rest of the plan, as a dry run: without the
    operations of refused `features` and the refused `operations`. Returns them placed, and
    the units whose map-wide rules wait for the refused ones to be fixed.

    A map-wide problem (an overlap, a gap, a child outside its parent) that involves a refused
    unit or its parent would be an echo of the refusal (a new unit left out leaves a gap), so
    it is left out and its units named as not checked. Operations the register refuses in
    turn are taken out for one more run, so its map-wide rules are checked on all the rest.
    """
    effective, reason, document, actor = change
    refused_ops = set(operations or ())
    problems: list[Problem] = []
    map_wide: list[Problem] = []
    for _ in range(3):
        keep = [
            op
            for k, (op, index) in enumerate(
                zip(plan.operations, plan.operation_features, strict=True)
            )
            if k not in refused_ops and index not in features
        ]
        if not keep:
            break
        request = ChangeSetRequest(effective, reason, document, tuple(keep))
        try:
            with _preloaded(services, plan):
                services.register.apply_change_set(request, actor=actor, dry_run=True)
        except InvalidChangeSet as exc:
            more = _operations_of(exc.problems) - refused_ops
            if more:
                problems.extend(plan.place(p) for p in exc.problems if p.location)
                refused_ops |= more
                continue
            map_wide = list(exc.problems)
        break
    # Every operation of a feature goes when one of them is refused.
    features |= {i for k in refused_ops if (i := plan.operation_features[k]) is not None}
    involved: set[str] = set()
    for k, index in enumerate(plan.operation_features):
        if k in refused_ops or index in features:
            code = unit_of(plan.operations[k])
            if code is not None:
                involved.add(code)
    for index in features:
        ref = plan.features.get(index)
        if ref is not None and ref.code is not None:
            involved.update(c for c in (ref.code, ref.parent) if c is not None)
    for code in list(involved):
        state = plan.state(code)
        if state is not None and state.parent is not None:
            involved.add(state.parent)
    unchecked: set[str] = set()
    by_code = plan.by_code()
    for problem in map_wide:
        echo = set(problem.units) & involved
        if echo:
            unchecked.update(echo)
        else:
            problems.append(plan.place(problem, by_code))
    return problems, sorted(unchecked)
