"""Deterministic synthetic geometry and names for the demos.

No public source gives Shenzhen's street, community or grid polygons, so the demo makes them
up, always the same way: a territory is divided into `n` pieces by a Voronoi diagram of seeded
random points (relaxed a few times towards the cells' centres so pieces are compact), clipped
to the territory. Every overlay runs with GEOS snap-rounding on the register's stored precision
(1e-7 degrees, see `domain.geometry.COORDINATE_DECIMALS`), so the pieces tile their parent
exactly as stored: no gaps, no overlaps, nothing outside, and rounding on the way into the
register changes nothing. The output depends only on the inputs and the seed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from domain.geometry import COORDINATE_DECIMALS, area_m2, round_coordinates

#: The stored precision as a grid size for GEOS snap-rounding.
GRID = 10.0**-COORDINATE_DECIMALS


def rng_for(*key: object) -> np.random.Generator:
    """A random generator seeded from `key`: the same key always gives the same numbers.

    Seeding each piece of work from its own key (e.g. a street's code) keeps every geometry
    independent of the order things are generated in.
    """
    digest = hashlib.sha256("/".join(str(k) for k in key).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def polygons_of(geometry: BaseGeometry) -> MultiPolygon:
    """The polygonal part of an overlay result as a MultiPolygon (lines and points dropped)."""
    parts = shapely.get_parts(geometry)
    polygons: list[Polygon] = []
    for part in parts:
        if isinstance(part, Polygon) and not part.is_empty:
            polygons.append(part)
        elif isinstance(part, MultiPolygon | shapely.GeometryCollection):
            polygons.extend(polygons_of(part).geoms)
    return MultiPolygon(polygons)


def on_grid(geometry: BaseGeometry) -> MultiPolygon:
    """A territory snapped to the stored precision, valid, as a MultiPolygon."""
    snapped = polygons_of(shapely.set_precision(geometry, GRID))
    rounded = round_coordinates(snapped)
    assert rounded.is_valid and not rounded.is_empty
    return rounded


def union(pieces: Sequence[BaseGeometry]) -> MultiPolygon:
    """The union of pieces that share edges exactly, on the stored grid."""
    return on_grid(shapely.union_all(list(pieces), grid_size=GRID))


def geojson(geometry: BaseGeometry) -> dict[str, Any]:
    """GeoJSON of a territory, with lists (JSON-ready) rather than tuples."""
    return _lists(mapping(geometry))  # type: ignore[no-any-return]


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    return value


def random_points_in(territory: BaseGeometry, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` distinct points uniformly inside `territory` (rejection sampling)."""
    west, south, east, north = territory.bounds
    shapely.prepare(territory)
    found: list[tuple[float, float]] = []
    seen: set[tuple[float, float]] = set()
    while len(found) < count:
        batch = rng.uniform((west, south), (east, north), size=(max(64, 4 * count), 2))
        inside = shapely.contains_xy(territory, batch[:, 0], batch[:, 1])
        for x, y in batch[inside]:
            key = (round(float(x), 6), round(float(y), 6))
            if key not in seen:
                seen.add(key)
                found.append((float(x), float(y)))
                if len(found) == count:
                    break
    return np.array(found)


#: Square metres per square degree near Shenzhen's latitude, for quick self-checks only (the
#: register measures areas properly, geodesically).
M2_PER_DEG2 = 111_320.0**2 * 0.92


class PartitionFailed(RuntimeError):
    """No tiling was found for a territory (should not happen; the seeds are retried)."""


def partition(
    territory: MultiPolygon,
    count: int,
    rng: np.random.Generator,
    *,
    relax: int = 2,
    spacing: float | None = None,
) -> list[MultiPolygon]:
    """Divide `territory` into `count` compact pieces that tile it exactly as stored.

    Seeds are random points inside the territory, moved `relax` times to the centre of their
    piece (Lloyd's algorithm); the pieces are their Voronoi cells, built as linework so every
    vertex is on the stored grid:

    * where a cell edge meets the territory's boundary it is made to end at the nearest
      vertex of that boundary (a crossing point in mid-segment would be rounded off the
      segment and leave a sliver of gap or overlap, up to square metres on long edges);
    * the inner edges are densified every `spacing` degrees (so the pieces of a later
      partition of these pieces can end near where they cross them) and rounded to the grid;
    * the faces of that linework are grouped by the seed nearest to them.

    Piece `i` belongs to seed `i`; everything depends only on the arguments.
    """
    if count == 1:
        return [territory]
    snap = 0.1 * math.sqrt(territory.area / count)
    for _ in range(8):
        seeds = _relaxed_seeds(territory, count, rng, relax)
        pieces = _tile(territory, seeds, spacing, snap)
        if pieces is not None:
            return pieces
    raise PartitionFailed(f"could not divide a territory into {count} pieces")


def _relaxed_seeds(
    territory: MultiPolygon, count: int, rng: np.random.Generator, relax: int
) -> np.ndarray:
    seeds = random_points_in(territory, count, rng)
    frame = _frame(territory)
    for _ in range(relax):
        clipped = shapely.intersection(_cells(seeds, frame), territory)
        moved = []
        for seed, piece in zip(seeds, clipped, strict=True):
            centre = piece.centroid if not piece.is_empty else Point(seed)
            if not shapely.contains_xy(territory, centre.x, centre.y):
                centre = piece.point_on_surface() if not piece.is_empty else Point(seed)
            moved.append((centre.x, centre.y))
        if len({(round(x, 7), round(y, 7)) for x, y in moved}) < count:
            break
        seeds = np.array(moved)
    return seeds


def _frame(territory: BaseGeometry) -> Polygon:
    west, south, east, north = territory.bounds
    margin = max(east - west, north - south)
    return shapely.box(west - margin, south - margin, east + margin, north + margin)


def _cells(seeds: np.ndarray, frame: Polygon) -> np.ndarray:
    diagram = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame, ordered=True)
    cells: np.ndarray = shapely.get_parts(diagram)
    assert len(cells) == len(seeds)
    return cells


def _tile(
    territory: MultiPolygon, seeds: np.ndarray, spacing: float | None, snap: float
) -> list[MultiPolygon] | None:
    edges = shapely.voronoi_polygons(
        shapely.multipoints(seeds), extend_to=_frame(territory), only_edges=True
    )
    boundary = territory.boundary
    shapely.prepare(boundary)
    rings = [np.asarray(ring.coords) for ring in shapely.get_parts(boundary)]
    segments = np.vstack(
        [
            np.column_stack([r[:-1], r[1:], np.full(len(r) - 1, i), np.arange(len(r) - 1)])
            for i, r in enumerate(rings)
        ]
    )
    inserts: dict[tuple[int, int], list[tuple[float, tuple[float, float]]]] = {}
    lines = []
    clipped = [
        line
        for line in shapely.get_parts(shapely.intersection(edges, territory))
        if isinstance(line, shapely.LineString) and line.length > 0
    ]
    ends = shapely.points([c for line in clipped for c in (line.coords[0], line.coords[-1])])
    on_boundary = (shapely.distance(boundary, ends) < 1e-9).reshape(-1, 2)
    for line, (first_meets, last_meets) in zip(clipped, on_boundary, strict=True):
        coords = np.array(line.coords)
        if spacing is not None:
            coords = np.array(shapely.segmentize(shapely.LineString(coords), spacing).coords)
        coords = coords.round(COORDINATE_DECIMALS)
        for end, inner, meets in ((0, 1, first_meets), (-1, -2, last_meets)):
            if not meets:
                continue
            meeting = _boundary_meeting(
                segments, np.asarray(line.coords[end]), snap, boundary, coords[inner]
            )
            if meeting is not None:
                (ring, segment), along, point = meeting
                inserts.setdefault((ring, segment), []).append((along, point))
                coords[end] = point
        inner = shapely.remove_repeated_points(shapely.LineString(coords))
        if inner.length > 0:
            lines.append(inner)
    outline = [shapely.LineString(_with_inserts(r, i, inserts)) for i, r in enumerate(rings)]
    noded = shapely.union_all([*outline, *lines])
    faces = [
        face
        for face in shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
        if territory.contains(face.point_on_surface())
    ]
    owners: dict[int, list[Polygon]] = {}
    for face in faces:
        point = face.point_on_surface()
        nearest = int(np.argmin(np.hypot(seeds[:, 0] - point.x, seeds[:, 1] - point.y)))
        owners.setdefault(nearest, []).append(face)
    if len(owners) != len(seeds):
        return None
    pieces = []
    for index in range(len(seeds)):
        merged = owners[index][0] if len(owners[index]) == 1 else shapely.union_all(owners[index])
        piece = round_coordinates(polygons_of(merged))
        if not piece.is_valid or piece.is_empty:
            return None
        pieces.append(piece)
    if not tiles(territory, pieces):
        return None
    return pieces


#: How far (in grid steps of 1e-7 degrees, about 1 cm) a cell edge may be moved along the
#: boundary it meets, to end on a grid point (almost) exactly on that boundary.
REACH = 2000


def _boundary_meeting(
    segments: np.ndarray,
    point: np.ndarray,
    snap: float,
    boundary: BaseGeometry,
    inner: np.ndarray,
) -> tuple[tuple[int, int], float, tuple[float, float]] | None:
    """Where a cell edge ending at `point` meets the territory's boundary, on the grid.

    A crossing point in mid-segment is not on the grid, and rounding it moves it off the
    segment, leaving a sliver of gap or overlap along the whole segment. So the edge ends at
    the segment's nearer end if that is within `snap` degrees and the edge, moved there, meets
    the boundary nowhere else (exact); otherwise at the grid
    point within `REACH` of the crossing that is nearest to the segment (found exactly, with
    integers: on it if possible), inserted into the boundary too. Such a sliver is a few
    square centimetres in lon/lat, but the register measures areas after projecting, where a
    sliver along a long edge measures more (see `tiles`).
    """
    a, b = segments[:, 0:2], segments[:, 2:4]
    ab = b - a
    length2 = np.maximum((ab**2).sum(axis=1), 1e-30)
    t = np.clip(((point - a) * ab).sum(axis=1) / length2, 0.0, 1.0)
    distance = np.hypot(*(a + ab * t[:, None] - point).T)
    k = int(np.argmin(distance))
    if distance[k] > 1e-9:
        return None
    for end in (a[k], b[k]):
        if math.hypot(*(end - point)) <= snap and _reaches_cleanly(boundary, inner, end):
            return (int(segments[k, 4]), int(segments[k, 5])), 0.0, (float(end[0]), float(end[1]))
    scale = 10**COORDINATE_DECIMALS
    ax, ay = round(a[k, 0] * scale), round(a[k, 1] * scale)
    bx, by = round(b[k, 0] * scale), round(b[k, 1] * scale)
    px, py = _lattice_point_near(ax, ay, bx, by, point[0] * scale, point[1] * scale)
    along = math.hypot(px - ax, py - ay)
    return (int(segments[k, 4]), int(segments[k, 5])), along, (px / scale, py / scale)


def _reaches_cleanly(boundary: BaseGeometry, inner: np.ndarray, end: np.ndarray) -> bool:
    """Whether the segment from `inner` to boundary vertex `end` meets the boundary only there."""
    segment = shapely.LineString([inner, end])
    touching = segment.intersection(boundary)
    return bool(touching.is_empty or touching.equals(shapely.Point(end)))


def _lattice_point_near(ax: int, ay: int, bx: int, by: int, x: float, y: float) -> tuple[int, int]:
    """The integer point within `REACH` of (x, y), between A and B, nearest to the line AB.

    Integer points at signed distance m·g/|AB| from the line (g = gcd of the segment's
    extents) lie on a line parallel to AB, a step (dx/g, dy/g) apart; try m = 0, ±1, ±2, ...
    until one of them falls within reach of (x, y).
    """
    dx, dy = bx - ax, by - ay
    g = math.gcd(dx, dy)
    if g == 0:
        return ax, ay
    sx, sy = dx // g, dy // g
    # Extended Euclid: sx*v0 - sy*u0 == 1.
    p, q = _bezout(sx, -sy)
    v0, u0 = p, q
    step = math.hypot(sx, sy)
    ex, ey = sx / step, sy / step
    along_x = (x - ax) * ex + (y - ay) * ey
    total = g * step
    w = u0 * ex + v0 * ey
    for count in (min(2_000, 4 * (int(step / REACH) + 2)), 20_000):
        ms = np.arange(count)
        ms = np.concatenate([[0], np.column_stack([ms[1:], -ms[1:]]).ravel()])
        ts = np.round((along_x - ms * w) / step)
        along = ms * w + ts * step
        good = (np.abs(along - along_x) <= REACH) & (along >= 0) & (along <= total)
        if good.any():
            index = int(np.argmax(good))
            m, t = int(ms[index]), int(ts[index])
            return ax + m * u0 + t * sx, ay + m * v0 + t * sy
    # Nothing close to the line within reach (w close to a simple fraction of the step, so
    # the multiples come back to the same places): the nearer end of the segment.
    return (ax, ay) if along_x <= total / 2 else (bx, by)


def _bezout(a: int, b: int) -> tuple[int, int]:
    """(p, q) with a*p + b*q == 1, for coprime a and b."""
    old_r, r, old_s, s, old_t, t = a, b, 1, 0, 0, 1
    while r != 0:
        quotient = old_r // r
        old_r, r = r, old_r - quotient * r
        old_s, s = s, old_s - quotient * s
        old_t, t = t, old_t - quotient * t
    if old_r == -1:
        return -old_s, -old_t
    assert old_r == 1
    return old_s, old_t


def _with_inserts(
    ring: np.ndarray,
    index: int,
    inserts: dict[tuple[int, int], list[tuple[float, tuple[float, float]]]],
) -> list[tuple[float, float]]:
    """Ring `index`'s coordinates with the meeting points added inside their segments."""
    out: list[tuple[float, float]] = []
    for k in range(len(ring) - 1):
        start = (float(ring[k, 0]), float(ring[k, 1]))
        out.append(start)
        for _, point in sorted(inserts.get((index, k), [])):
            if point != out[-1] and point != (float(ring[k + 1, 0]), float(ring[k + 1, 1])):
                out.append(point)
    out.append(out[0])
    return out


def tiles(
    territory: BaseGeometry, pieces: Sequence[BaseGeometry], tolerance_m2: float = 0.5
) -> bool:
    """Whether `pieces` tile `territory` as the register measures it (`domain.geometry.area_m2`).

    Gap and overhang are measured like the register's invariants do (overlay in lon/lat, the
    result measured geodesically); overlaps between pieces are exactly zero by construction,
    checked in degrees. The tolerance is well below the register's, since slivers add up
    across levels.
    """
    whole = shapely.union_all(list(pieces))
    overlap = (sum(p.area for p in pieces) - whole.area) * M2_PER_DEG2
    if overlap > tolerance_m2:
        return False
    for sliver in (territory.difference(whole), whole.difference(territory)):
        # Nothing to project if it is nothing in lon/lat either (the usual case).
        if sliver.area * M2_PER_DEG2 > 1e-6 and area_m2(sliver) > tolerance_m2:
            return False
    return True


def split_sizes(total: int, parts: int, rng: np.random.Generator, minimum: int = 1) -> list[int]:
    """`total` divided into `parts` positive counts (each at least `minimum`), at random."""
    assert total >= parts * minimum
    weights = rng.uniform(0.6, 1.4, size=parts)
    spare = total - parts * minimum
    raw = weights / weights.sum() * spare
    sizes = [minimum + int(v) for v in raw]
    order = np.argsort(-(raw - np.floor(raw)), kind="stable")
    for index in order[: total - sum(sizes)]:
        sizes[int(index)] += 1
    return sizes


def proportional(total: int, weights: Sequence[float], minimum: int = 1) -> list[int]:
    """`total` divided in proportion to `weights` (largest remainders), each at least `minimum`."""
    assert total >= len(weights) * minimum
    spare = total - len(weights) * minimum
    whole = sum(weights)
    raw = [w / whole * spare for w in weights]
    sizes = [minimum + int(v) for v in raw]
    remainders = sorted(range(len(raw)), key=lambda i: (-(raw[i] - int(raw[i])), i))
    for index in remainders[: total - sum(sizes)]:
        sizes[index] += 1
    return sizes


def chain(points: Sequence[BaseGeometry]) -> list[int]:
    """An order of `points` that walks from neighbour to neighbour (greedy nearest next).

    Consecutive runs of the order are compact groups: what "one station, many committees"
    groups and merger pilots need.
    """
    xy = np.array([(p.x, p.y) for p in points])
    start = int(np.lexsort((xy[:, 1], xy[:, 0]))[0])
    order = [start]
    taken = np.zeros(len(points), dtype=bool)
    taken[start] = True
    while len(order) < len(points):
        distance = ((xy - xy[order[-1]]) ** 2).sum(axis=1)
        distance[taken] = np.inf
        nearest = int(np.argmin(distance))  # the lowest index among equals
        order.append(nearest)
        taken[nearest] = True
    return order


SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力鹏飞斌宇浩凯健俊"
    "帆帅旭宁龙林欣婷雪琳晨曦思怡嘉颖子涵梓轩宏志海波国庆春梅冬晓燕丹红亮"
)


def person_name(rng: np.random.Generator) -> str:
    """A fictional Chinese personal name (surname plus one or two characters)."""
    surname = SURNAMES[int(rng.integers(len(SURNAMES)))]
    length = 1 if rng.random() < 0.35 else 2
    given = "".join(GIVEN[int(rng.integers(len(GIVEN)))] for _ in range(length))
    return surname + given


NUMERALS = "零一二三四五六七八九"


def chinese_number(n: int) -> str:
    """1 -> 一, 12 -> 十二, 20 -> 二十, 35 -> 三十五 (up to 99)."""
    assert 0 < n < 100
    tens, ones = divmod(n, 10)
    text = "" if tens == 0 else ("十" if tens == 1 else NUMERALS[tens] + "十")
    return text + (NUMERALS[ones] if ones else "")
