"""Resolving points in one epoch: what is live on its days, indexed, and the lookup rule.

Most points need one tree probe: the point's unit on the lowest level (a grid) names its
ancestors through `parent_code`, and each ancestor is confirmed with a prepared
point-in-polygon test; only points on a boundary, outside the lowest level, or under units
that overlap a sibling are resolved level by level, as the SQL does (`domain.boundary_rule`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

import numpy as np
import shapely

from domain.boundary_rule import ROUNDING_MARGIN, array_order
from projections.lookup import (
    OfficeHit,
    Responsible,
    UnitHit,
    UnknownMatter,
    order_offices,
    responsible_office,
)
from projections.lookup_index.columns import BoolArray, Dated, FloatArray, IntArray, UnitColumns

#: From this many points on, a lookup uses the epoch's precomputed coverage of ancestors.
MANY_POINTS = 1_000


@dataclass
class LevelIndex:
    """One level's units live in an epoch."""

    members: IntArray  # version numbers
    tree: shapely.STRtree
    codes: list[str]

    @cached_property
    def code_rank(self) -> IntArray:
        """Order of each member's code, for the deterministic choice on a boundary: sorted on
        first need (a rebuilt period answers its first clean lookups without it)."""
        order = np.argsort(np.array(self.codes, dtype=object), kind="stable")
        rank = np.empty(len(self.codes), dtype=np.int64)
        rank[order] = np.arange(len(self.codes))
        return rank


@dataclass(eq=False)
class Epoch:
    """Everything live on the days of one epoch, indexed. Hashable by identity: callers may
    key derived data (rendered JSON) on it, valid as long as the epoch is."""

    units: UnitColumns
    per_level: list[LevelIndex | None]
    #: For each member of the lowest level: its ancestors' version numbers, one column per level.
    chains: IntArray
    #: Whether a member's chain is complete (an ancestor on every level).
    chain_usable: BoolArray
    #: Overlaps of siblings live in the epoch (None if there are none).
    overlaps: shapely.STRtree | None
    offices_by_unit: dict[str, list[OfficeHit]]
    #: Offices with a service area (workstations, new-area committees) by unit served.
    workstations_by_community: dict[str, list[OfficeHit]]
    matters: dict[str, tuple[str, str, str, str]]
    _covered: BoolArray | None = None

    @classmethod
    def build(
        cls,
        units: UnitColumns,
        alive: BoolArray,
        count: int,
        day: int,
        *,
        overlaps: Iterable[Dated],
        offices: Iterable[Dated],
        coverage: Iterable[Dated],
        matters: Iterable[Dated],
    ) -> Epoch:
        """Index what is live on `day` (an ordinal): the same for every day of its epoch.

        `alive` masks the versions [0, len(alive)) a snapshot believes; `count` is the number
        of levels.
        """
        size = len(alive)
        live = alive & (units.start[:size] <= day) & (day < units.end[:size])
        level = units.level[:size]
        per_level: list[LevelIndex | None] = []
        by_code: dict[str, int] = {}
        for rank in range(count):
            members = np.flatnonzero(live & (level == rank)).astype(np.int64)
            if not members.size:
                per_level.append(None)
                continue
            codes = [units.code[i] for i in members.tolist()]
            geoms = units.geoms[members]
            shapely.prepare(geoms)  # idempotent: shared with other epochs
            per_level.append(LevelIndex(members, shapely.STRtree(geoms), codes))
            by_code.update(zip(codes, members.tolist(), strict=True))
        chains, usable = _chains(units, per_level[-1], by_code, count)
        by_unit: dict[str, list[OfficeHit]] = {}
        for row in _live(offices, day):
            by_unit.setdefault(row.unit, []).append(row)
        workstations: dict[str, list[OfficeHit]] = {}
        for community, office in _live(coverage, day):
            workstations.setdefault(community, []).append(office)
        catalogue = {m[0]: m for m in _live(matters, day)}
        zones = _live(overlaps, day)
        tree = shapely.STRtree(zones) if zones else None
        return cls(units, per_level, chains, usable, tree, by_unit, workstations, catalogue)

    def covered(self) -> BoolArray:
        """For each lowest-level member and level: does that ancestor cover it entirely?

        Computed once per epoch, for large batches only (a single point is cheaper to test).
        """
        if self._covered is None:
            geoms = self.units.geoms
            found = np.zeros(self.chains.shape, dtype=bool)
            usable = np.flatnonzero(self.chain_usable)
            for rank in range(self.chains.shape[1] - 1):
                ancestors = geoms[self.chains[usable, rank]]
                found[usable, rank] = shapely.covers(ancestors, geoms[self.chains[usable, -1]])
            self._covered = found
        return self._covered

    # Resolving points -------------------------------------------------------------------------

    def resolve(
        self, xs: FloatArray, ys: FloatArray, wanted: tuple[int, ...] | None = None
    ) -> Resolved:
        """Each point's unit per level (version number, -1 for none) and boundary flags, on
        the `wanted` levels (ranks; all by default: fewer levels, less work)."""
        count = len(self.per_level)
        wanted = tuple(range(count)) if wanted is None else wanted
        found = np.full((len(xs), count), -1, dtype=np.int64)
        boundary = np.zeros((len(xs), count), dtype=bool)
        clean = np.zeros(len(xs), dtype=bool)
        through = np.full(len(xs), -1, dtype=np.int64)
        lowest = self.per_level[-1]
        geoms = self.units.geoms
        if lowest is not None and len(xs):
            points = _points(xs, ys)
            pi, gi = lowest.tree.query(points)
            inside = shapely.contains_xy(geoms[lowest.members[gi]], xs[pi], ys[pi])
            pi, gi = pi[inside], gi[inside]
            alone = np.bincount(pi, minlength=len(xs))[pi] == 1
            pi, gi = pi[alone], gi[alone]
            keep = self.chain_usable[gi]
            pi, gi = pi[keep], gi[keep]
            chains = self.chains[gi]
            # Each ancestor must hold the point inside; one that covers the lowest unit does
            # so by construction. All (point, level) tests go to GEOS in a single call.
            ranks = np.array([r for r in wanted if r != count - 1], dtype=np.int64)
            confirmed = np.ones(len(pi), dtype=bool)
            if ranks.size:
                if len(xs) >= MANY_POINTS:
                    rows, columns = np.nonzero(~self.covered()[gi][:, ranks])
                else:
                    rows, columns = np.divmod(np.arange(len(pi) * ranks.size), ranks.size)
                inside = shapely.contains_xy(
                    geoms[chains[rows, ranks[columns]]], xs[pi[rows]], ys[pi[rows]]
                )
                confirmed[rows[~inside]] = False
            pi, chains = pi[confirmed], chains[confirmed]
            if self.overlaps is not None:  # in a sliver two siblings share: level by level
                # A zone is an overlay's rounded output, a filter only: a point in both
                # siblings may lie a hair outside it (the units' own geometry then decides).
                near, _ = self.overlaps.query(
                    points[pi], predicate="dwithin", distance=ROUNDING_MARGIN
                )
                away = np.ones(len(pi), dtype=bool)
                away[near] = False
                pi, chains = pi[away], chains[away]
            found[pi] = chains
            clean[pi] = True
            through[pi] = chains[:, -1]
        rest = np.flatnonzero(~clean)
        if rest.size:
            self._by_level(xs[rest], ys[rest], rest, found, boundary, wanted)
        unwanted = [r for r in range(count) if r not in wanted]
        found[:, unwanted] = -1
        return Resolved(self, found, boundary, clean, through, wanted)

    def _by_level(
        self,
        xs: FloatArray,
        ys: FloatArray,
        rows: IntArray,
        found: IntArray,
        boundary: BoolArray,
        wanted: tuple[int, ...],
    ) -> None:
        """The SQL's rule, level by level: the unit holding the point inside, then lowest code."""
        points = _points(xs, ys)
        geoms = self.units.geoms
        for rank in wanted:
            index = self.per_level[rank]
            if index is None:
                continue
            pi, gi = index.tree.query(points)
            candidates = geoms[index.members[gi]]
            touching = shapely.intersects_xy(candidates, xs[pi], ys[pi])
            pi, gi, candidates = pi[touching], gi[touching], candidates[touching]
            inside = shapely.contains_xy(candidates, xs[pi], ys[pi])
            order = array_order(pi, ~inside, index.code_rank[gi])
            pi, gi, inside = pi[order], gi[order], inside[order]
            first = np.ones(len(pi), dtype=bool)
            first[1:] = pi[1:] != pi[:-1]
            found[rows[pi[first]], rank] = index.members[gi[first]]
            boundary[rows[pi[first]], rank] = ~inside[first]

    # Answers ----------------------------------------------------------------------------------

    def unit_hits(self, found: IntArray, boundary: BoolArray) -> list[UnitHit]:
        """One point's units, top down."""
        hits = self.units.hits
        boundary_hits = self.units.boundary_hits
        return [
            boundary_hits[v] if on_edge else hits[v]
            for v, on_edge in zip(found.tolist(), boundary.tolist(), strict=True)
            if v >= 0
        ]

    def offices(self, units: list[UnitHit]) -> list[OfficeHit]:
        """The units' offices and the serving workstation, in the order of the SQL engine."""
        found = [o for u in units for o in self.offices_by_unit.get(u.code, ())]
        found += [o for u in units for o in self.workstations_by_community.get(u.code, ())]
        return order_offices(sorted(found, key=lambda o: o.code), units)

    def responsible(
        self, matter: str, day: date, units: list[UnitHit], offices: list[OfficeHit]
    ) -> Responsible:
        """Who handles `matter` at the point; UnknownMatter if the catalogue lacks it."""
        row = self.matters.get(matter)
        if row is None:
            raise UnknownMatter(matter, day)
        return responsible_office(row, units, offices)


@dataclass
class Resolved:
    """Points resolved in one epoch: `found[i, rank]` is a version number or -1."""

    epoch: Epoch
    found: IntArray
    boundary: BoolArray
    #: Points resolved through their lowest unit's chain: `found[i]` is that member's chain.
    clean: BoolArray
    #: For clean points, the lowest unit whose chain answered (-1 for the others).
    through: IntArray
    #: The levels (ranks) resolved; the others are -1 throughout.
    wanted: tuple[int, ...]

    def units(self, i: int) -> list[UnitHit]:
        """Point `i`'s units, top down."""
        return self.epoch.unit_hits(self.found[i], self.boundary[i])


def _points(xs: FloatArray, ys: FloatArray) -> Any:
    """Point geometries (from one coordinate array: several times faster than from xs, ys)."""
    coords = np.empty((len(xs), 2), dtype=np.float64)
    coords[:, 0] = xs
    coords[:, 1] = ys
    return shapely.points(coords)


def _live(rows: Iterable[Dated], day: int) -> list[Any]:
    return [r.value for r in rows if r.start <= day < r.end]


def _chains(
    units: UnitColumns, lowest: LevelIndex | None, by_code: dict[str, int], count: int
) -> tuple[IntArray, BoolArray]:
    """Each lowest member's ancestors through `parent_code`, a level per column, walked for all
    members at once; a chain that names no live parent, or two parents on one level (a cycle),
    stops there and is not usable."""
    if lowest is None:
        return np.zeros((0, count), dtype=np.int64), np.zeros(0, dtype=bool)
    members = lowest.members
    rows = np.arange(len(members))
    chains = np.full((len(members), count), -1, dtype=np.int64)
    chains[:, count - 1] = members
    parent = units.parent
    current = members
    for _ in range(count):
        # Above the first step few distinct versions remain: look each up once.
        distinct, back = np.unique(current, return_inverse=True)
        found = [by_code.get(parent[v] or "", -1) if v >= 0 else -1 for v in distinct.tolist()]
        parents = np.asarray(found, dtype=np.int64)[back.reshape(-1)]
        going = parents >= 0
        ranks = np.where(going, units.level[np.maximum(parents, 0)], 0)
        going &= chains[rows, ranks] < 0
        chains[rows[going], ranks[going]] = parents[going]
        current = np.where(going, parents, -1)
        if not going.any():
            break
    usable: BoolArray = np.all(chains >= 0, axis=1)
    return chains, usable
