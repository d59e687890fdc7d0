"""Lookups from memory: the read model's current beliefs, held in each API process.

A lookup in SQL costs a round trip, a plan and a join; yet lookups ask about a handful of dates
against boundaries that change a few times a year. So each process loads every currently
believed unit version (with its geometry), office, coverage and matter once per read-model
position and answers with shapely (STRtree and prepared geometry), giving exactly the answers
of `LookupEngine` (the tests compare the two point by point, boundaries included).

Time is cut into *epochs*: the days between two consecutive dates at which anything starts or
ends. What is live in an epoch is indexed together (one STRtree per level), built on first use
and kept in a small LRU, so a lookup costs the same however long the history behind it.

Most points need one tree probe: the point's unit on the lowest level (a grid) names its
ancestors through `parent_code`, and each ancestor is confirmed with a prepared
point-in-polygon test; only points on a boundary, outside the lowest level, or under units
that overlap a sibling are resolved level by level, as the SQL does.

Freshness: a snapshot remembers the position it was read at, in the same transaction as its
rows. It answers only while `ReadModelWatch` reports that same position and the request needs
nothing newer (`X-Min-Position`, or this process's last write); otherwise the caller asks SQL
while a background thread loads the new position. "As recorded at" always goes to SQL.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import shapely
from psycopg_pool import ConnectionPool

from domain.boundary_rule import array_order
from domain.levels import LevelScheme
from domain.offices import WORKSTATION
from projections.freshness import ReadModelWatch
from projections.lookup import (
    LookupResult,
    OfficeHit,
    Responsible,
    UnitHit,
    UnknownMatter,
    office_from_row,
    order_offices,
    responsible_office,
)
from projections.routing import read_context
from projections.tracking import read_position

LOGGER = logging.getLogger(__name__)

#: From this many points on, a lookup uses the epoch's precomputed coverage of ancestors.
MANY_POINTS = 1_000

#: A period is indexed once single lookups have asked about it this often: one asked about
#: now and then (a historian's random dates) is cheaper in SQL than indexed and evicted.
BUILD_AFTER = 3

#: Day ordinal standing for "open" (no end).
OPEN = date.max.toordinal() + 1

IntArray = np.ndarray[Any, np.dtype[np.int64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def _ordinal(day: date | None) -> int:
    return OPEN if day is None else day.toordinal()


@dataclass(frozen=True)
class Dated:
    """Something believed valid on the days [start, end) (ordinals)."""

    start: int
    end: int
    value: Any


@dataclass
class Snapshot:
    """Every currently believed row the lookups need, as of one read-model position."""

    position: int
    levels: LevelScheme
    #: Unit versions, column by column (index = version number in this snapshot).
    level: IntArray
    code: list[str]
    parent: list[str | None]
    start: IntArray
    end: IntArray
    geoms: np.ndarray[Any, np.dtype[np.object_]]
    hits: list[UnitHit]
    boundary_hits: list[UnitHit]
    #: Where same-level units overlap (above the lowest level), with when.
    overlaps: list[Dated]
    offices: list[Dated]  # OfficeHit, workstations excluded
    coverage: list[Dated]  # (community, workstation OfficeHit)
    matters: list[Dated]  # (matter, name, office_kind, level)
    bounds: list[int]
    max_epochs: int
    _epochs: OrderedDict[int, Epoch] = field(default_factory=OrderedDict)
    _asked: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _key(self, day: date) -> int:
        return bisect.bisect_right(self.bounds, day.toordinal()) - 1

    @property
    def epochs_indexed(self) -> int:
        """How many periods are indexed now."""
        return len(self._epochs)

    def has_epoch(self, day: date) -> bool:
        """Whether `day`'s epoch is indexed already (answering costs no indexing)."""
        return self._key(day) in self._epochs

    def hot_epoch(self, day: date, *, eager: bool) -> Epoch | None:
        """`day`'s epoch if indexed, or worth indexing now: `eager` (a large batch pays for
        it), or asked about `BUILD_AFTER` times. None: answer this one from SQL."""
        key = self._key(day)
        if key not in self._epochs:
            asked = self._asked[key] = self._asked.get(key, 0) + 1
            if not eager and asked < BUILD_AFTER:
                return None
        return self.epoch(day)

    def epoch(self, day: date) -> Epoch:
        """The index of everything live on `day` (built on first use, then cached)."""
        key = self._key(day)
        found = self._epochs.get(key)  # no lock on the hot path: OrderedDict calls are atomic
        if found is not None:
            with contextlib.suppress(KeyError):  # evicted meanwhile: still valid to use
                self._epochs.move_to_end(key)
            return found
        with self._lock:  # one builder at a time; others wait for it rather than build twice
            found = self._epochs.get(key)
            if found is None:
                found = Epoch.build(self, day.toordinal())
                self._epochs[key] = found
                while len(self._epochs) > self.max_epochs:
                    self._epochs.popitem(last=False)
            return found


@dataclass
class LevelIndex:
    """One level's units live in an epoch."""

    members: IntArray  # snapshot version numbers
    tree: shapely.STRtree
    code_rank: IntArray  # order of each member's code, for the deterministic choice


@dataclass
class Epoch:
    """Everything live on the days of one epoch, indexed."""

    snapshot: Snapshot
    per_level: list[LevelIndex | None]
    #: For each member of the lowest level: its ancestors' version numbers, one column per level.
    chains: IntArray
    #: Whether a member's chain is complete (an ancestor on every level).
    chain_usable: BoolArray
    #: Overlaps of siblings live in the epoch (None if there are none).
    overlaps: shapely.STRtree | None
    offices_by_unit: dict[str, list[OfficeHit]]
    workstations_by_community: dict[str, list[OfficeHit]]
    matters: dict[str, tuple[str, str, str, str]]
    #: Derived data of callers (e.g. rendered JSON), valid as long as the epoch.
    memo: dict[Any, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, snapshot: Snapshot, day: int) -> Epoch:
        """Index what is live on `day` (an ordinal): the same for every day of its epoch."""
        live = (snapshot.start <= day) & (day < snapshot.end)
        count = len(snapshot.levels.names)
        per_level: list[LevelIndex | None] = []
        by_code: dict[str, int] = {}
        for rank in range(count):
            members = np.flatnonzero(live & (snapshot.level == rank)).astype(np.int64)
            if not members.size:
                per_level.append(None)
                continue
            codes = [snapshot.code[i] for i in members]
            order = np.argsort(np.array(codes, dtype=object), kind="stable")
            code_rank = np.empty(len(members), dtype=np.int64)
            code_rank[order] = np.arange(len(members))
            shapely.prepare(snapshot.geoms[members])  # idempotent: shared with other epochs
            tree = shapely.STRtree(snapshot.geoms[members])
            per_level.append(LevelIndex(members, tree, code_rank))
            by_code.update(zip(codes, members.tolist(), strict=True))
        chains, usable = _chains(snapshot, per_level[-1], by_code, count)
        offices: dict[str, list[OfficeHit]] = {}
        for row in _live(snapshot.offices, day):
            offices.setdefault(row.unit, []).append(row)
        workstations: dict[str, list[OfficeHit]] = {}
        for community, office in _live(snapshot.coverage, day):
            workstations.setdefault(community, []).append(office)
        matters = {m[0]: m for m in _live(snapshot.matters, day)}
        zones = _live(snapshot.overlaps, day)
        overlaps = shapely.STRtree(zones) if zones else None
        return cls(snapshot, per_level, chains, usable, overlaps, offices, workstations, matters)

    def covered(self) -> BoolArray:
        """For each lowest-level member and level: does that ancestor cover it entirely?

        Computed once per epoch, for large batches only (a single point is cheaper to test).
        """
        found = self.memo.get("covered")
        if found is None:
            geoms = self.snapshot.geoms
            found = np.zeros(self.chains.shape, dtype=bool)
            usable = np.flatnonzero(self.chain_usable)
            for rank in range(self.chains.shape[1] - 1):
                ancestors = geoms[self.chains[usable, rank]]
                found[usable, rank] = shapely.covers(ancestors, geoms[self.chains[usable, -1]])
            self.memo["covered"] = found
        return np.asarray(found)

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
        geoms = self.snapshot.geoms
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
                near, _ = self.overlaps.query(points[pi], predicate="intersects")
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
        geoms = self.snapshot.geoms
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

    def units(self, found: IntArray, boundary: BoolArray) -> list[UnitHit]:
        """One point's units, top down."""
        hits = self.snapshot.hits
        boundary_hits = self.snapshot.boundary_hits
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
        return self.epoch.units(self.found[i], self.boundary[i])


def _points(xs: FloatArray, ys: FloatArray) -> Any:
    """Point geometries (from one coordinate array: several times faster than from xs, ys)."""
    coords = np.empty((len(xs), 2), dtype=np.float64)
    coords[:, 0] = xs
    coords[:, 1] = ys
    return shapely.points(coords)


def _live(rows: list[Dated], day: int) -> list[Any]:
    return [r.value for r in rows if r.start <= day < r.end]


def _chains(
    snapshot: Snapshot, lowest: LevelIndex | None, by_code: dict[str, int], count: int
) -> tuple[IntArray, BoolArray]:
    if lowest is None:
        return np.zeros((0, count), dtype=np.int64), np.zeros(0, dtype=bool)
    chains = np.full((len(lowest.members), count), -1, dtype=np.int64)
    usable = np.ones(len(lowest.members), dtype=bool)
    for row, member in enumerate(lowest.members.tolist()):
        chains[row, count - 1] = member
        current = snapshot.parent[member]
        while current is not None:
            version = by_code.get(current)
            if version is None:
                break
            rank = int(snapshot.level[version])
            if chains[row, rank] >= 0:  # a cycle or two parents on one level: not a chain
                break
            chains[row, rank] = version
            current = snapshot.parent[version]
        usable[row] = bool((chains[row] >= 0).all())
    return chains, usable


# Loading ----------------------------------------------------------------------------------------


def _overlaps(level: IntArray, start: IntArray, end: IntArray, geoms: Any) -> list[Dated]:
    """Where two same-level versions' interiors meet while both are live (digitising slivers
    within the tolerance): a point there is resolved level by level, as SQL would."""
    zones: list[Dated] = []
    lowest = int(level.max()) if len(level) else 0
    for rank in np.unique(level).tolist():
        if rank == lowest:
            continue  # the lowest level's overlaps are seen directly, point by point
        members = np.flatnonzero(level == rank)
        tree = shapely.STRtree(geoms[members])
        left, right = tree.query(geoms[members], predicate="intersects")
        pairs = left < right
        left, right = members[left[pairs]], members[right[pairs]]
        together = (start[left] < end[right]) & (start[right] < end[left])
        left, right = left[together], right[together]
        if not left.size:
            continue
        meeting = ~shapely.touches(geoms[left], geoms[right])
        for a, b in zip(left[meeting].tolist(), right[meeting].tolist(), strict=True):
            zone = shapely.intersection(geoms[a], geoms[b])
            zones.append(Dated(max(start[a], start[b]), min(end[a], end[b]), zone))
    return zones


def load_snapshot(
    conn: Any, tracking_table: str, application: str, levels: LevelScheme, max_epochs: int
) -> Snapshot:
    """Read everything at one position (one repeatable-read transaction)."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        position = read_position(conn, tracking_table, application)
        units = conn.execute(
            "SELECT level, code, name, parent_code, lower(valid), upper(valid), "
            "ST_AsBinary(geom) FROM unit_versions WHERE upper_inf(recorded) "
            "ORDER BY code, lower(valid)"
        ).fetchall()
        offices = conn.execute(
            "SELECT kind, code, name, unit_code, address_text, ST_X(address) AS lon, "
            "ST_Y(address) AS lat, serves, lower(valid), upper(valid) FROM office_versions "
            "WHERE upper_inf(recorded) AND kind <> %s ORDER BY code, lower(valid)",
            (WORKSTATION,),
        ).fetchall()
        coverage = conn.execute(
            "SELECT o.kind, o.code, o.name, o.unit_code, o.address_text, ST_X(o.address), "
            "ST_Y(o.address), o.serves, lower(c.valid), upper(c.valid), c.community "
            "FROM coverage_versions c JOIN office_versions o ON o.code = c.workstation "
            "AND o.valid = c.valid AND o.recorded = c.recorded WHERE upper_inf(c.recorded) "
            "ORDER BY c.community, o.code, lower(c.valid)"
        ).fetchall()
        matters = conn.execute(
            "SELECT matter, name, office_kind, level, lower(valid), upper(valid) "
            "FROM matter_versions WHERE upper_inf(recorded) ORDER BY matter, lower(valid)"
        ).fetchall()
    ranks = {name: i for i, name in enumerate(levels.names)}
    units = [u for u in units if u[0] in ranks]
    level = np.array([ranks[u[0]] for u in units], dtype=np.int64)
    start = np.array([_ordinal(u[4]) for u in units], dtype=np.int64)
    end = np.array([_ordinal(u[5]) for u in units], dtype=np.int64)
    geoms = shapely.from_wkb([bytes(u[6]) for u in units])  # prepared per epoch, when used
    hits = [UnitHit(u[0], u[1], u[2], u[4], u[5], False) for u in units]
    boundary_hits = [UnitHit(u[0], u[1], u[2], u[4], u[5], True) for u in units]

    def office(row: Sequence[Any]) -> OfficeHit:
        keys = ("kind", "code", "name", "unit_code", "address_text", "lon", "lat", "serves")
        return office_from_row(dict(zip(keys, row[:8], strict=True)))

    dated_offices = [Dated(_ordinal(r[8]), _ordinal(r[9]), office(r)) for r in offices]
    dated_coverage = [Dated(_ordinal(r[8]), _ordinal(r[9]), (r[10], office(r))) for r in coverage]
    dated_matters = [Dated(_ordinal(r[4]), _ordinal(r[5]), tuple(r[:4])) for r in matters]
    bounds = sorted(
        {int(v) for v in start.tolist()}
        | {int(v) for v in end.tolist() if v != OPEN}
        | {d.start for d in (*dated_offices, *dated_coverage, *dated_matters)}
        | {d.end for d in (*dated_offices, *dated_coverage, *dated_matters) if d.end != OPEN}
    )
    return Snapshot(
        position=position,
        levels=levels,
        level=level,
        code=[u[1] for u in units],
        parent=[u[3] for u in units],
        start=start,
        end=end,
        geoms=geoms,
        hits=hits,
        boundary_hits=boundary_hits,
        overlaps=_overlaps(level, start, end, geoms),
        offices=dated_offices,
        coverage=dated_coverage,
        matters=dated_matters,
        bounds=bounds,
        max_epochs=max_epochs,
    )


class LookupIndex:
    """The current snapshot of this process, reloaded in the background as the model moves."""

    def __init__(
        self,
        pool: ConnectionPool,
        watch: ReadModelWatch,
        levels: LevelScheme,
        tracking_table: str,
        application: str,
        needed_position: Callable[[], int],
        max_versions: int = 2_000_000,
        max_epochs: int = 16,
    ) -> None:
        self.pool = pool
        self.watch = watch
        self.levels = levels
        self.tracking_table = tracking_table
        self.application = application
        self.needed_position = needed_position
        self.max_versions = max_versions
        self.max_epochs = max_epochs
        self.disabled_reason = ""
        self.last_load_seconds = 0.0
        self._snapshot: Snapshot | None = None
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        watch.subscribe(lambda _position: self._wanted.set())

    # Life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Load now and whenever the read model moves, in a daemon thread."""
        self._wanted.set()
        self._thread = threading.Thread(target=self._run, name="lookup-index", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reloading."""
        self._stop.set()
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wait_current(self, timeout: float, at_least: int = 0) -> bool:
        """Block until the snapshot matches the announced position, and that position is
        `at_least` (a write just made: its NOTIFY may still be on the way)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snapshot = self.current()
            if snapshot is not None and snapshot.position >= at_least:
                return True
            time.sleep(0.02)
        return False

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wanted.wait()
            self._wanted.clear()
            if self._stop.is_set():
                return
            position = self.watch.position
            snapshot = self._snapshot
            if position is None or (snapshot is not None and snapshot.position == position):
                continue
            try:
                self._load()
            except Exception:
                LOGGER.exception("lookup index failed to load; lookups use SQL")
                self._stop.wait(1.0)
                self._wanted.set()

    def _load(self) -> None:
        started = time.perf_counter()
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT count(*) FROM unit_versions WHERE upper_inf(recorded)"
            ).fetchone()
            versions = int(row[0]) if row else 0
            if versions > self.max_versions:
                self.disabled_reason = (
                    f"{versions:,} unit versions exceed JL_LOOKUP_INDEX_MAX_VERSIONS "
                    f"({self.max_versions:,}); lookups use SQL"
                )
                self._snapshot = None
                return
            self._snapshot = None  # the old one is stale: never answer from it again
            snapshot = load_snapshot(
                conn, self.tracking_table, self.application, self.levels, self.max_epochs
            )
        self.disabled_reason = ""
        self._snapshot = snapshot
        self.last_load_seconds = time.perf_counter() - started
        LOGGER.info(
            "lookup index at position %d: %d unit versions in %.2f s",
            snapshot.position,
            len(snapshot.code),
            self.last_load_seconds,
        )
        if self.watch.position != snapshot.position:
            self._wanted.set()  # moved on while loading

    def has_epoch(self, day: date) -> bool:
        """Whether a lookup on `day` would be answered without indexing first."""
        snapshot = self._snapshot
        return snapshot is not None and snapshot.has_epoch(day)

    def status(self) -> dict[str, Any]:
        """What the index holds, for /readyz."""
        snapshot = self._snapshot
        return {
            "current": self.current() is not None,
            "position": snapshot.position if snapshot else None,
            "unit_versions": len(snapshot.code) if snapshot else 0,
            "epochs_indexed": snapshot.epochs_indexed if snapshot else 0,
            "load_seconds": round(self.last_load_seconds, 3),
            "disabled_reason": self.disabled_reason,
        }

    # Answers ----------------------------------------------------------------------------------

    def current(self) -> Snapshot | None:
        """The snapshot, if it is exactly what the read model holds and the request needs."""
        snapshot = self._snapshot
        position = self.watch.servable(self.needed_position())
        if snapshot is None or snapshot.position != position:
            return None
        return snapshot

    def resolve(
        self, xs: FloatArray, ys: FloatArray, day: date, wanted: tuple[int, ...] | None = None
    ) -> Resolved | None:
        """Points resolved on `day` (on the `wanted` levels), or None when SQL must answer."""
        snapshot = self.current()
        if snapshot is None:
            return None
        epoch = snapshot.hot_epoch(day, eager=len(xs) >= MANY_POINTS)
        if epoch is None:
            return None
        context = read_context.get()
        if context is not None:
            context.read_from = "memory"
        return epoch.resolve(xs, ys, wanted)

    def lookup(
        self, lon: float, lat: float, day: date, matter: str | None = None
    ) -> LookupResult | None:
        """As `LookupEngine.lookup` (as currently recorded), or None when SQL must answer."""
        resolved = self.resolve(np.array([lon]), np.array([lat]), day)
        if resolved is None:
            return None
        epoch = resolved.epoch
        units = resolved.units(0)
        offices = epoch.offices(units) if units else []
        responsible = None
        if matter is not None:
            responsible = epoch.responsible(matter, day, units, offices)
        return LookupResult(units, offices, responsible)

    def batch(self, points: Sequence[tuple[float, float]], day: date) -> list[list[UnitHit]] | None:
        """As `LookupEngine.batch` (as currently recorded), or None when SQL must answer."""
        xs = np.array([p[0] for p in points], dtype=np.float64)
        ys = np.array([p[1] for p in points], dtype=np.float64)
        resolved = self.resolve(xs, ys, day)
        if resolved is None:
            return None
        return [resolved.units(i) for i in range(len(points))]
