"""A community moves with its grids, on the Shenzhen demo over real HTTP (issue 15, item 4).

A piece of one community passes to its neighbour: one of its grids whole (it lies along the
shared edge) and half of another. Imported as the two communities' new shapes: with
children=keep (the default) the register refuses, and a note says what following would do;
with children=follow the whole grid is transferred and the cut one is reported. Imported as a
GeoPackage with a communities table and a grids table (the cut grid redrawn and its other half
a new grid of the neighbour) it is one change set, and /v1/lookup then answers the neighbour
and the right grid for points in the moved piece. The CLI reads the same GeoPackage.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import shapely
from shapely.geometry import MultiPolygon, box, mapping

from tests.conftest import ROOT, DatabaseFactory, LiveServer, own_demo_database
from tests.geopackages import Table, blob, build

pytestmark = [pytest.mark.db, pytest.mark.slow]

DAY = "2024-01-01"


@dataclass(frozen=True)
class Move:
    """Community `a` gives grid `whole` and the half `cut` of grid `halved` to neighbour `b`."""

    a: str
    b: str
    shapes: dict[str, shapely.Geometry]
    whole: str
    halved: str
    cut: shapely.Geometry

    @property
    def piece(self) -> shapely.Geometry:
        return shapely.union(self.shapes[self.whole], self.cut)

    def communities(self, piece: shapely.Geometry) -> list[tuple[str, MultiPolygon]]:
        return [
            (self.a, multi(self.shapes[self.a].difference(piece))),
            (self.b, multi(self.shapes[self.b].union(piece))),
        ]


def multi(geometry: shapely.Geometry) -> MultiPolygon:
    geometry = shapely.set_precision(geometry, 1e-7)
    if isinstance(geometry, MultiPolygon):
        return geometry
    return MultiPolygon([geometry])


def find_move(url: str) -> Move:
    """The first two neighbouring communities of one street (by code) where the first has two
    grids along their shared edge."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT code, level, parent_code, encode(ST_AsBinary(geom), 'hex') FROM "
            "unit_versions WHERE valid @> %s::date AND upper_inf(recorded) "
            "AND level IN ('community', 'grid') ORDER BY code",
            (DAY,),
        ).fetchall()
    shapes = {code: shapely.from_wkb(bytes.fromhex(wkb)) for code, _, _, wkb in rows}
    parent = {code: p for code, _, p, _ in rows}
    communities = [code for code, level, _, _ in rows if level == "community"]
    grids: dict[str, list[str]] = {}
    for code, level, p, _ in rows:
        if level == "grid":
            grids.setdefault(p, []).append(code)
    for a in communities:
        for b in communities:
            if b <= a or parent[a] != parent[b] or not grids.get(b):
                continue
            if shapes[a].intersection(shapes[b]).length < 0.002:
                continue
            along = [g for g in grids.get(a, []) if shapes[g].intersection(shapes[b]).length > 5e-4]
            if len(along) < 2 or len(grids[a]) < 4:
                continue
            whole, halved = along[:2]
            west, south, east, north = shapes[halved].bounds
            halves = [
                shapes[halved].intersection(box(west, south, (west + east) / 2, north)),
                shapes[halved].intersection(box((west + east) / 2, south, east, north)),
            ]
            cut = max(halves, key=lambda h: h.intersection(shapes[b]).length)
            return Move(a, b, shapes, whole, halved, shapely.set_precision(cut, 1e-7))
    raise AssertionError("the demo has no two neighbouring communities to move a piece of")


@pytest.fixture(scope="module")
def demo(databases: DatabaseFactory) -> Iterator[tuple[LiveServer, str, Move]]:
    url, (editor,) = own_demo_database(databases, ("editor", "GIS officer Chen"))
    server = LiveServer(url)
    yield server, editor, find_move(url)
    server.stop()
    databases.drop(url)


def geojson(rows: list[tuple[str, MultiPolygon]]) -> bytes:
    features = [
        {"type": "Feature", "properties": {"code": c}, "geometry": mapping(g)} for c, g in rows
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def post(
    server: LiveServer, editor: str, body: bytes, form: dict[str, Any], dry_run: bool = True
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/imports",
        params={"dry_run": str(dry_run).lower()},
        headers={"Authorization": f"Bearer {editor}"},
        files={"file": ("upload", body)},
        data={"effective": DAY, "reason": "community boundary moved", **form},
        timeout=120,
    )


def problem_codes(answer: httpx.Response) -> set[str]:
    return {p["code"] for p in answer.json()["error"]["details"]}


def test_without_following_the_import_fails_and_says_how_to_fix_it(demo):
    server, editor, move = demo
    body = geojson(move.communities(move.piece))
    answer = post(server, editor, body, {"level": "community"})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_import"
    assert {"child_outside_parent", "coverage_gap"} <= problem_codes(answer)
    (note,) = [n for n in answer.json()["notes"] if n["code"] == "children_left_behind"]
    assert f"{move.whole} to {move.b}" in note["message"]
    assert "children=follow" in note["message"] and move.halved in note["message"]


def test_following_transfers_the_grid_and_reports_the_straddling_one(demo):
    server, editor, move = demo
    body = geojson(move.communities(move.piece))
    answer = post(server, editor, body, {"level": "community", "children": "follow"})
    assert answer.status_code == 422, answer.text
    report = answer.json()
    assert [(f["code"], f["from"], f["to"]) for f in report["followed"]] == [
        (move.whole, move.a, move.b)
    ]
    assert problem_codes(answer) == {"child_straddles"}
    (straddle,) = report["problems"]
    assert straddle["units"][:2] == [move.halved, move.a]
    assert set(straddle["sides_m2"]) == {move.a, move.b}
    assert straddle["name"] and straddle["level"] == "grid"
    point = shapely.Point(straddle["location_point"]["lon"], straddle["location_point"]["lat"])
    assert move.shapes[move.halved].buffer(1e-6).contains(point)

    # Only the whole grid's piece: a clean dry run, the grid following.
    clean = post(
        server,
        editor,
        geojson(move.communities(move.shapes[move.whole])),
        {"level": "community", "children": "follow"},
    )
    assert clean.status_code == 200, clean.text
    assert [f["code"] for f in clean.json()["followed"]] == [move.whole]
    assert sorted(clean.json()["redrawn"]) == sorted([move.a, move.b])


def layers_file(path: Path, move: Move) -> Path:
    rows = [
        ({"code": c, "name": f"{c} community"}, blob(g)) for c, g in move.communities(move.piece)
    ]
    rest = multi(move.shapes[move.halved].difference(move.cut))
    new_code = f"{move.halved}-E"
    grids = [
        ({"code": move.halved, "name": "kept half", "parent": move.a}, blob(rest)),
        ({"code": new_code, "name": "moved half", "parent": move.b}, blob(multi(move.cut))),
    ]
    columns = {"code": "TEXT", "name": "TEXT", "parent": "TEXT"}
    return build(path, [Table("communities", rows), Table("grids", grids, columns=columns)])


def lookup(server: LiveServer, point: shapely.Point) -> dict[str, str]:
    answer = httpx.get(
        f"{server.url}/v1/lookup", params={"lon": point.x, "lat": point.y, "date": DAY}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return {u["level"]: u["code"] for u in answer.json()["units"]}


def test_communities_and_grids_of_one_geopackage_go_in_as_one_change_set(demo, tmp_path):
    server, editor, move = demo
    path = layers_file(tmp_path / "moved.gpkg", move)
    in_whole = move.shapes[move.whole].representative_point()
    in_cut = move.cut.representative_point()
    assert lookup(server, in_whole)["community"] == move.a

    # The CLI reads the same file the same way (a dry run).
    environment = {**os.environ, "DATABASE_URL": server.database_url}
    command = [sys.executable, "-m", "jurisdictions.cli", "import", str(path), "--json"]
    command += ["--layers", "communities:community,grids:grid", "--children", "follow"]
    command += ["--effective", DAY, "--reason", "moved"]
    cli = subprocess.run(
        command,
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stderr
    assert "Traceback" not in cli.stderr
    planned = json.loads(cli.stdout)
    assert [f["code"] for f in planned["followed"]] == [move.whole]
    assert planned["established"] == [f"{move.halved}-E"] and not planned["applied"]

    form = {"layers": "communities:community,grids:grid", "children": "follow"}
    answer = post(server, editor, path.read_bytes(), form, dry_run=False)
    assert answer.status_code == 201, answer.text
    report = answer.json()
    assert report["applied"] and report["change_set"]
    assert [f["code"] for f in report["followed"]] == [move.whole]
    assert report["established"] == [f"{move.halved}-E"]
    assert sorted(report["redrawn"]) == sorted([move.a, move.b, move.halved])

    units = lookup(server, in_whole)
    assert (units["community"], units["grid"]) == (move.b, move.whole)
    units = lookup(server, in_cut)
    assert (units["community"], units["grid"]) == (move.b, f"{move.halved}-E")
    kept = multi(move.shapes[move.halved].difference(move.cut)).representative_point()
    units = lookup(server, kept)
    assert (units["community"], units["grid"]) == (move.a, move.halved)
