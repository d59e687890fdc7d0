"""Several levels in one change set, and children that follow a moved boundary.

A GeoPackage with a table per level (communities and their grids) becomes one change set:
each layer is planned by `plan_import` from the top level down, so a new community comes
before the grids that name it as their parent, and the register checks every rule on the
whole. Then, with ``children="follow"``, the children of every unit whose boundary moved
(redrawn, or ended with mode=replace) that the import does not itself place follow by
location (`domain.follow`): a child now wholly inside a neighbour is transferred to it, a
child the new line cuts is a `child_straddles` problem naming both sides (or, cut by at most
`children_sliver_m2`, is clipped to the new edge, an uncovered sliver extending the child next
to it; a redrawn child's own children follow it in turn). With the default
``children="keep"`` nothing follows, and a note says what following would do, so the
`child_outside_parent` and `coverage_gap` problems that come next say how to fix them.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from shapely.geometry import MultiPolygon

from domain.commands import Command, Dissolve, Establish, Redraw, Transfer
from domain.errors import Problem
from domain.follow import CHILDREN_MODES, Child, Following, follow_children
from domain.geometry import from_wkb_hex
from domain.levels import LevelScheme, Rules
from domain.repair import RepairOptions
from projections.imports import (
    ImportFields,
    ImportPlan,
    ImportScope,
    ImportScopeError,
    LayerFeature,
    plan_import,
)
from projections.queries import ReadModelQueries

__all__ = [
    "CHILDREN_MODES",
    "LayerSpec",
    "LevelsPlan",
    "check_children",
    "check_sliver",
    "parse_layers",
    "plan_levels",
]

_OPERATION = re.compile(r"^operations\[(\d+)\]")


@dataclass(frozen=True)
class LayerSpec:
    """One layer of an import: a GeoPackage table (None: the file's only layer) and its level."""

    table: str | None
    level: str

    @property
    def where(self) -> str:
        """The prefix of this layer's problem locations in a multi-layer import."""
        return f"layers.{self.table}" if self.table is not None else "file"


@dataclass
class LevelsPlan(ImportPlan):
    """An import's plan over one or more layers, with the children that follow.

    `followed` lists each child transferred because its parent's boundary moved: code, name,
    level, from, to, its area and a point on the piece that moved (`location_point`);
    `edges` each child clipped or extended to follow a new edge by a sliver.
    """

    layers: list[LayerSpec] = field(default_factory=list)
    children: str = "keep"
    followed: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)
    #: The level of each unit the plan moves (redraws or ends), for following.
    level_of: dict[str, str] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        """The import report, with the layers read, the children option and who followed."""
        out = super().report()
        out["layers"] = [{"table": s.table, "level": s.level} for s in self.layers]
        out["children"] = self.children
        out["followed"] = self.followed
        out["edges_followed"] = self.edges
        return out


def parse_layers(items: list[str] | tuple[str, ...], levels: LevelScheme) -> list[LayerSpec]:
    """`table:level` pairs (repeated or comma-separated), top level first.

    Raises `ImportScopeError` ("layers_invalid") for a pair without a table or a level, a level
    the register does not have, or a table or level named twice.
    """
    specs: list[LayerSpec] = []
    for item in items:
        for pair in item.split(","):
            if not pair.strip():
                continue
            table, colon, level = pair.strip().rpartition(":")
            table, level = table.strip(), level.strip()
            if not colon or not table or not level:
                msg = f"layers: {pair.strip()[:80]!r} is not table:level (e.g. grids:grid)"
                raise ImportScopeError("layers_invalid", msg)
            if level not in levels:
                msg = f"layers: unknown level {level[:40]!r}; levels are {', '.join(levels.names)}"
                raise ImportScopeError("layers_invalid", msg)
            specs.append(LayerSpec(table, level))
    if not specs:
        raise ImportScopeError("layers_invalid", "layers names no table:level pair")
    for attribute in ("table", "level"):
        values = [getattr(s, attribute) for s in specs]
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            msg = f"layers: {attribute} {twice[0][:80]!r} is named twice (one table per level)"
            raise ImportScopeError("layers_invalid", msg)
    return sorted(specs, key=lambda s: levels.rank(s.level))


def check_children(mode: str) -> str:
    """The children option, normalised; raises `ImportScopeError` ("children_invalid")."""
    value = mode.strip().lower()
    if value not in CHILDREN_MODES:
        msg = f"children must be one of {', '.join(CHILDREN_MODES)}, not {mode[:40]!r}"
        raise ImportScopeError("children_invalid", msg)
    return value


_DECIMAL = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,6})?$")


def check_sliver(text: str | float | None) -> float:
    """`children_sliver_m2` as a number of m² (0 when not given); a plain decimal >= 0.

    Raises `ImportScopeError` ("children_sliver_invalid": API code `children_invalid`).
    """
    if text is None or text == "":
        return 0.0
    if isinstance(text, float | int):
        if text >= 0 and text < 1e9:
            return float(text)
    elif _DECIMAL.match(text.strip()):
        return float(text.strip())
    shown = str(text)[:40]
    msg = f"children_sliver_m2 must be a plain number of m² >= 0 (e.g. 50), not {shown!r}"
    raise ImportScopeError("children_sliver_invalid", msg)


def plan_levels(
    queries: ReadModelQueries,
    rules: Rules,
    layers: list[tuple[LayerSpec, list[LayerFeature]]],
    effective: date,
    fields: ImportFields,
    scope: ImportScope | None = None,
    children: str = "keep",
    sliver_m2: float = 0.0,
    repair: RepairOptions | None = None,
) -> LevelsPlan:
    """Plan each layer from the top level down into one change set, then let children follow.

    One layer plans exactly as `plan_import` does (same locations); with several, feature
    problems are located as ``layers.<table>.features[i]``. Raises `ImportScopeError` when an
    option does not fit (mode=replace takes one layer at a time).
    """
    children = check_children(children)
    scope = scope or ImportScope()
    if len(layers) > 1 and scope.mode != "update":
        msg = "mode=replace takes one layer at a time; import the other layers with mode=update"
        raise ImportScopeError("layers_invalid", msg)
    levels = rules.levels
    ordered = sorted(layers, key=lambda item: levels.rank(item[0].level))
    merged = LevelsPlan(
        scope=scope,
        layers=[s for s, _ in ordered],
        children=children,
        repair_options=repair or RepairOptions(),
    )
    in_file: dict[str, set[str]] = {}
    #: Territories the layers above establish or redraw (repaired): the parents the repairs
    #: fit the layers below to, as the change set will have them.
    planned: dict[str, MultiPolygon] = {}
    for spec, features in ordered:
        plan = plan_import(
            queries, rules, features, spec.level, effective, fields, scope, repair, planned
        )
        for op in plan.operations:
            if isinstance(op, Establish):
                planned[op.code] = op.geometry
            elif isinstance(op, Redraw):
                planned[op.unit] = op.geometry
        if len(layers) == 1:
            # One layer plans exactly as `plan_import` does: its report for people (features,
            # entries, the map's rows) comes along whole.
            for item in dataclasses.fields(ImportPlan):
                setattr(merged, item.name, getattr(plan, item.name))
        else:
            _merge(merged, plan, spec)
        for code in [*plan.redrawn, *(e["code"] for e in plan.ended)]:
            merged.level_of[code] = spec.level
        in_file[spec.level] = {
            str(f.properties.get(fields.code)).strip()
            for f in features
            if f.properties.get(fields.code) is not None
        }
    _follow(queries, rules, merged, effective, in_file, children, sliver_m2)
    return merged


def _merge(merged: LevelsPlan, plan: ImportPlan, spec: LayerSpec) -> None:
    """Add one layer's plan to a plan of several layers: operations renumbered, problems
    located in their table. Feature indexes repeat across tables, so operations are not tied
    to features (a refused feature is located by its table, not dropped from the rest)."""
    offset = len(merged.operations)
    for op in plan.operations:
        merged.add(_moved(op, offset), None)
    prefix = spec.where
    merged.problems.extend(_within(p, prefix) for p in plan.problems)
    merged.notes.extend(_within(n, prefix) for n in plan.notes)
    merged.repairs.extend(plan.repairs)
    merged.established.extend(plan.established)
    merged.redrawn.extend(plan.redrawn)
    merged.ended.extend(plan.ended)
    merged.renamed.extend(plan.renamed)
    merged.transferred.extend(plan.transferred)
    merged.entries.update(plan.entries)
    merged.rows.update(plan.rows)
    merged.geometries.update(plan.geometries)
    merged.names.update(plan.names)
    merged.unchanged += plan.unchanged
    merged.level = f"{merged.level}+{plan.level}" if merged.level else plan.level


def _follow(
    queries: ReadModelQueries,
    rules: Rules,
    plan: LevelsPlan,
    effective: date,
    in_file: dict[str, set[str]],
    children: str,
    sliver_m2: float,
) -> None:
    """Add what following does to the plan (follow), or a note of what it would do (keep).

    Level by level from the top: the children of the units moved at one level (by the file,
    or clipped or extended by following) follow them, so a community clipped to its street's
    new edge takes its grids along.
    """
    levels = rules.levels
    redrawn: dict[str, Any] = {}
    ended: set[str] = set()
    established: dict[str, tuple[str, Any]] = {}
    placed: set[str] = set()  # parents the file gives children to: their children are not all known
    for op in plan.operations:
        if isinstance(op, Redraw):
            redrawn[op.unit] = op.geometry
        elif isinstance(op, Dissolve):
            ended.add(op.unit)
        elif isinstance(op, Establish):
            established[op.code] = (op.level, op.geometry)
            placed.update([op.parent] if op.parent else [])
        elif isinstance(op, Transfer):
            placed.add(op.parent)
    touched = {_unit_of(op) for op in plan.operations}
    # Only units of a level with a level below can have children to follow (a grid layer of
    # 15,000 redrawn grids asks nothing).
    pending = {
        code
        for code in set(redrawn) | ended
        if levels.child_of(plan.level_of.get(code, levels.names[-1])) is not None
    }
    done: set[str] = set()
    while pending:
        done.update(pending)
        by_level: dict[str, list[Child]] = {}
        for row in queries.children_on(effective, sorted(pending)):
            if row["code"] in touched or row["code"] in in_file.get(row["level"], set()):
                placed.add(row["parent"])  # the import places it itself
                continue
            child = Child(
                row["code"], row["name"], row["level"], row["parent"], from_wkb_hex(row["wkb"])
            )
            by_level.setdefault(child.level, []).append(child)
        pending = set()
        for level in sorted(by_level, key=levels.rank):
            kids = by_level[level]
            parent_level = levels.parent_of(level)
            assert parent_level is not None
            # The parent level after the change: as stored, redrawn, established, ended.
            after = {
                code: from_wkb_hex(wkb)
                for code, wkb in queries.geometries_on(effective, parent_level).items()
            }
            after.update({c: g for c, g in redrawn.items() if c in after})
            after.update({c: g for c, (lvl, g) in established.items() if lvl == parent_level})
            for code in ended:
                after.pop(code, None)
            sliver = sliver_m2 if children == "follow" else 0.0
            result = follow_children(kids, after, rules.tolerance_m2, sliver, frozenset(placed))
            if children == "follow":
                followed = _apply(plan, result)
                redrawn.update(followed)  # their own children follow them in turn
                plan.level_of.update(dict.fromkeys(followed, level))
                pending.update(
                    c for c in set(followed) - done if levels.child_of(level) is not None
                )
            elif result.moves or result.straddles:
                parents = sorted({c.parent for c in kids})
                plan.notes.append(_hint(level, parents, result))


def _apply(plan: LevelsPlan, result: Following) -> dict[str, Any]:
    """The transfers, redraws and straddle problems of following, in the plan; returns the
    children redrawn (clipped or extended), whose own children follow them in turn."""
    followed = plan.followed
    for move in result.moves:
        child = move.child
        plan.add(Transfer(child.code, move.to, plan.next_location), None)
        followed.append(
            {
                "code": child.code,
                "name": child.name,
                "level": child.level,
                "from": child.parent,
                "to": move.to,
                "area_m2": round(move.area_m2, 1),
                "location_point": move.point.as_dict(),
            }
        )
    shapes: dict[str, Any] = {}
    for clip in result.clips:
        shapes[clip.child.code] = clip.geometry
        plan.edges.append(
            _edge(clip.child, "clipped", clip.removed_m2, clip.point.as_dict(), clip.to)
        )
    for extend in result.extends:
        shapes[extend.child.code] = extend.geometry
        plan.edges.append(
            _edge(extend.child, "extended", extend.added_m2, extend.point.as_dict(), extend.parent)
        )
    for code, geometry in shapes.items():
        plan.add(Redraw(code, geometry, plan.next_location), None)
    for clip in result.clips:
        if clip.to != clip.child.parent:
            plan.add(Transfer(clip.child.code, clip.to, plan.next_location), None)
    for straddle in result.straddles:
        child = straddle.child
        plan.problems.append(
            Problem(
                "child_straddles",
                straddle.message,
                f"children.{child.code}",
                (child.code, child.parent, *(c for c, _ in straddle.shares if c != child.parent)),
                min((m2 for _, m2 in straddle.shares), default=0.0),
                {
                    "name": child.name,
                    "level": child.level,
                    "parent": child.parent,
                    "sides_m2": {c: round(m2, 1) for c, m2 in straddle.shares},
                    "outside_m2": round(straddle.outside_m2, 1),
                    "location_point": straddle.point.as_dict(),
                },
            )
        )
    return shapes


def _edge(
    child: Child, what: str, area: float, point: dict[str, float], parent: str
) -> dict[str, Any]:
    """One child following its parent's new edge, for the report."""
    verb = "gives up" if what == "clipped" else "takes"
    return {
        "code": child.code,
        "name": child.name,
        "level": child.level,
        "change": what,
        "parent": parent,
        "area_m2": round(area, 1),
        "message": (
            f"{child.level} {child.code} ({child.name}) {verb} {area:.0f} m² along the new "
            f"edge of {parent} (at most children_sliver_m2)"
        ),
        "location_point": point,
    }


def _hint(level: str, parents: list[str], result: Following) -> Problem:
    """What children=follow would do, for an import that keeps children where they are."""
    parts = []
    if result.moves:
        moves = ", ".join(f"{m.child.code} to {m.to}" for m in result.moves[:20])
        more = f" and {len(result.moves) - 20} more" if len(result.moves) > 20 else ""
        parts.append(f"transfer {moves}{more}")
    if result.straddles:
        cut = ", ".join(s.child.code for s in result.straddles[:20])
        more = f" and {len(result.straddles) - 20} more" if len(result.straddles) > 20 else ""
        parts.append(f"report {cut}{more} as straddling the new line")
    count = len(result.moves) + len(result.straddles)
    return Problem(
        "children_left_behind",
        f"{count} {level} unit(s) of {', '.join(parents[:10])} lie outside their parent's new "
        f"boundary and stay with it (children=keep): with children=follow the import would "
        f"{' and '.join(parts)}",
        "children",
        tuple([m.child.code for m in result.moves] + [s.child.code for s in result.straddles]),
    )


def _unit_of(op: Command) -> str:
    for name in ("unit", "code"):
        value = getattr(op, name, None)
        if isinstance(value, str):
            return value
    return ""


def _moved(op: Command, offset: int) -> Command:
    """The operation with its location shifted by `offset` operations."""
    location = getattr(op, "location", "")
    match = _OPERATION.match(location)
    if not offset or match is None:
        return op
    shifted = f"operations[{int(match.group(1)) + offset}]{location[match.end() :]}"
    return replace(op, location=shifted)  # type: ignore[call-arg]


def _within(problem: Problem, prefix: str) -> Problem:
    """A layer's problem located within its layer (``layers.grids.features[3]``)."""
    if not prefix:
        return problem
    if problem.location.startswith("features["):
        return replace(problem, location=f"{prefix}.{problem.location}")
    if problem.location == "file":
        return replace(problem, location=prefix)
    return problem
