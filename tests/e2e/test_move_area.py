"""A piece of one community passes to its neighbour with its grids: `move_area` over real HTTP
on the Shenzhen demo, as the editing page sends it (issue 18).

The piece is one grid along the shared edge whole and half of another. The dry run with
`problem_geometry` and `preview` answers what an editor draws: the straddling grid with its
m², a point, a sentence and its area as GeoJSON, and the two communities as the edit leaves
them. Without the half grid it goes through; /v1/lookup answers the neighbour for a point in
the piece from the effective date and the old community the day before. An edit drawn on the
map before that change (`based_on` its old position) then gets a 409 that names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import shapely
from shapely.geometry import mapping, shape

from tests.conftest import DatabaseFactory, LiveServer, own_demo_database
from tests.e2e.test_multilevel_demo import DAY, Move, find_move

pytestmark = [pytest.mark.db, pytest.mark.slow]

BEFORE = (date.fromisoformat(DAY) - timedelta(days=1)).isoformat()


@pytest.fixture(scope="module")
def demo(databases: DatabaseFactory) -> Iterator[tuple[LiveServer, str, Move]]:
    url, (editor,) = own_demo_database(databases, ("editor", "GIS officer Chen"))
    server = LiveServer(url)
    yield server, editor, find_move(url)
    server.stop()
    databases.drop(url)


def change_set(move: Move, piece: Any) -> dict[str, Any]:
    return {
        "effective": DAY,
        "reason": "community boundary moved",
        "document": "区政府批复 (synthetic)",
        "operations": [
            {"op": "move_area", "from_unit": move.a, "to_unit": move.b, "geometry": mapping(piece)}
        ],
    }


def post(server: LiveServer, editor: str, body: dict[str, Any], **params: Any) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/changesets",
        params={k: str(v).lower() for k, v in params.items()},
        headers={"Authorization": f"Bearer {editor}"},
        json=body,
        timeout=120,
    )


def lookup(server: LiveServer, point: shapely.Point, day: str) -> dict[str, str]:
    answer = httpx.get(
        f"{server.url}/v1/lookup", params={"lon": point.x, "lat": point.y, "date": day}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return {u["level"]: u["code"] for u in answer.json()["units"]}


def newest_position(server: LiveServer) -> int:
    answer = httpx.get(f"{server.url}/v1/changesets", params={"limit": 1}, timeout=30)
    return int(answer.json()["change_sets"][0]["position"])


def test_a_piece_moves_with_its_grids_and_a_cut_grid_is_drawn_not_guessed(demo):
    server, editor, move = demo
    cut_dry = post(
        server,
        editor,
        change_set(move, move.piece),
        dry_run=True,
        problem_geometry=True,
        preview=True,
    )
    assert cut_dry.status_code == 422, cut_dry.text
    body = cut_dry.json()
    (straddle,) = body["error"]["details"]
    assert straddle["code"] == "child_straddles"
    assert straddle["units"] == [move.halved, move.a, move.b]
    assert straddle["area_m2"] > 0 and set(straddle["sides_m2"]) == {move.a, move.b}
    assert (
        "straddles the new boundary" in straddle["message"] and move.halved in straddle["message"]
    )
    point = shapely.Point(straddle["location_point"]["lon"], straddle["location_point"]["lat"])
    drawn = shape(straddle["geometry"])
    assert drawn.buffer(1e-9).contains(point)
    assert drawn.symmetric_difference(move.cut).area < 0.01 * move.cut.area
    previewed = {u["code"]: u for u in body["preview"]}
    assert {move.a, move.b, move.whole} <= set(previewed)
    assert shape(previewed[move.b]["geometry"]).buffer(1e-9).contains(move.cut)

    seen = newest_position(server)
    piece = move.shapes[move.whole]
    clean_dry = post(server, editor, change_set(move, piece), dry_run=True, preview=True)
    assert clean_dry.status_code == 200, clean_dry.text
    previewed = {u["code"]: u for u in clean_dry.json()["preview"]}
    assert previewed[move.whole]["parent"] == move.b
    a_after, b_after = (shape(previewed[c]["geometry"]) for c in (move.a, move.b))
    assert a_after.intersection(b_after).area == 0
    assert b_after.buffer(1e-9).contains(piece)

    stored = post(server, editor, change_set(move, piece), based_on=seen)
    assert stored.status_code == 201, stored.text
    inside = piece.representative_point()
    assert lookup(server, inside, DAY)["community"] == move.b
    assert lookup(server, inside, DAY)["grid"] == move.whole
    assert lookup(server, inside, BEFORE)["community"] == move.a

    # Another editor drew on the map as it was before that change: told, not overwritten.
    rest = move.shapes[move.halved]
    late = post(server, editor, change_set(move, rest), dry_run=True, based_on=seen)
    assert late.status_code == 409, late.text
    error = late.json()["error"]
    assert error["code"] == "concurrent_change"
    assert error["message"].startswith("someone else changed the same family meanwhile")
    assert "reload" in error["message"]
    (other,) = error["details"]
    assert other["change_set"] == stored.json()["id"]
    assert {move.a, move.b} <= set(other["units"])
    assert other["actor"] and other["effective"] == DAY and other["position"] > seen
