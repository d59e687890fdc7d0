"""The public HTTP contract end to end: a real server, real sockets, the real PostGIS."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from domain.coordinates import gcj02_to_bd09, wgs84_to_gcj02
from tests import scenario
from tests.conftest import DatabaseFactory, LiveServer, scenario_database

pytestmark = pytest.mark.db

IN_M1 = {"lon": 114.02, "lat": 22.52}


class Api:
    """A client of the running server with an editor's and a reader's token."""

    def __init__(self, server: LiveServer, editor: str, reader: str) -> None:
        self.server = server
        self.url = server.url
        self.editor = editor
        self.reader = reader

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, timeout=30)

    def post(
        self, path: str, body: Any = None, token: str | None = "editor", **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token == "editor":
            headers["Authorization"] = f"Bearer {self.editor}"
        elif token == "reader":
            headers["Authorization"] = f"Bearer {self.reader}"
        if body is not None and "content" not in kwargs and "files" not in kwargs:
            kwargs["json"] = body
        return httpx.post(f"{self.url}{path}", headers=headers, timeout=60, **kwargs)


def _start(databases: DatabaseFactory) -> Iterator[Api]:
    url, (editor, reader) = scenario_database(
        databases, ("editor", "Editor Wang"), ("reader", "Some App")
    )
    server = LiveServer(url, JL_MAX_BATCH_POINTS="50", JL_MAX_BODY_BYTES="200000")
    yield Api(server, editor, reader)
    server.stop()
    databases.drop(url)


@pytest.fixture(scope="module")
def api(databases: DatabaseFactory) -> Iterator[Api]:
    """A server over the scenario city, for tests that only read."""
    yield from _start(databases)


@pytest.fixture
def fresh_api(databases: DatabaseFactory) -> Iterator[Api]:
    """A server over its own copy of the scenario, for tests that write."""
    yield from _start(databases)


def error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body["error"]) >= {"code", "message", "details"}, body
    return dict(body["error"])


# Lookups ---------------------------------------------------------------------------------------


def test_lookup_with_offices_and_a_matter(api: Api):
    response = api.get("/v1/lookup", **IN_M1, date="2020-01-01", matter="elderly-card")
    assert response.status_code == 200
    body = response.json()
    assert [u["code"] for u in body["units"]] == ["C", "D1", "S1", "M1", "G1"]
    kinds = {o["kind"]: o for o in body["offices"]}
    assert kinds["workstation"]["code"] == "W1"
    assert kinds["workstation"]["serves"] == ["M1", "M4"]
    assert kinds["street_office"]["code"] == "SO1"
    assert kinds["grid_officer"]["name"] == "Zhang San"
    assert body["responsible"]["office"]["code"] == "RC1"
    assert body["responsible"]["level"] == "community"
    earlier = api.get("/v1/lookup", **IN_M1, date="2015-06-01", matter="elderly-card").json()
    assert earlier["responsible"]["office"]["code"] == "SO1"


def test_an_unknown_matter_is_a_404(api: Api):
    response = api.get("/v1/lookup", **IN_M1, matter="no-such-matter")
    assert response.status_code == 404
    assert error(response)["details"][0]["location"] == "query.matter"


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_chinese_map_coordinates_resolve_like_their_wgs84_twin(api: Api, crs: str):
    lon, lat = 114.05, 22.55  # inside M2
    shifted = wgs84_to_gcj02(lon, lat)
    if crs == "bd09":
        shifted = gcj02_to_bd09(*shifted)
    twin = api.get("/v1/lookup", lon=lon, lat=lat, date="2020-01-01").json()
    body = api.get("/v1/lookup", lon=shifted[0], lat=shifted[1], crs=crs, date="2020-01-01").json()
    assert body["units"] == twin["units"]
    assert body["input"] == {"lon": shifted[0], "lat": shifted[1], "crs": crs}
    assert abs(body["point"]["lon"] - lon) < 1e-6 and abs(body["point"]["lat"] - lat) < 1e-6
    # The offset is real: the shifted point read as WGS84 lies hundreds of metres away.
    assert abs(shifted[0] - lon) > 0.003


def test_batch_lookup_keeps_input_order(api: Api):
    points = [
        {"id": "m1", **IN_M1},
        {"id": 7, "lon": 116.0, "lat": 20.0},
        {"id": "m2", "lon": 114.05, "lat": 22.55},
    ]
    response = api.post("/v1/lookup/batch", {"date": "2020-01-01", "points": points}, token=None)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["id"] for r in results] == ["m1", 7, "m2"]
    assert [u["code"] for u in results[0]["units"]] == ["C", "D1", "S1", "M1", "G1"]
    assert results[1]["units"] == []
    assert [u["code"] for u in results[2]["units"]] == ["C", "D1", "S3", "M2"]


def test_batch_errors(api: Api):
    too_many = {"points": [IN_M1] * 51}
    response = api.post("/v1/lookup/batch", too_many, token=None)
    assert response.status_code == 413 and error(response)["code"] == "batch_too_large"
    # A bad point is answered with its own error in its place; the rest are answered.
    bad_point = {"points": [IN_M1, {"id": "x", "lon": 22.5, "lat": 114.0}]}
    response = api.post("/v1/lookup/batch", bad_point, token=None)
    assert response.status_code == 200
    good, bad = response.json()["results"]
    assert [u["code"] for u in good["units"]][:2] == ["C", "D1"] and "error" not in good
    assert bad["id"] == "x" and "units" not in bad
    assert bad["error"]["code"] == "coordinates_out_of_range"
    assert bad["error"]["details"][0]["location"] == "body.points[1].lat"
    wrong_type = {"points": [{"lon": "east", "lat": 22.5}, IN_M1]}
    response = api.post("/v1/lookup/batch", wrong_type, token=None)
    assert response.status_code == 200
    first, second = response.json()["results"]
    assert first["id"] is None and first["error"]["code"]
    assert "body.points[0].lon" in [d["location"] for d in first["error"]["details"]]
    assert second["units"]
    response = api.post(
        "/v1/lookup/batch",
        None,
        token=None,
        content=b'{"points": [',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400 and error(response)["code"] == "malformed_json"
    response = api.post(
        "/v1/lookup/batch",
        None,
        token=None,
        content=b"points",
        headers={"content-type": "text/plain"},
    )
    assert response.status_code == 415
    huge = b'{"points": [' + b'{"lon": 114.0, "lat": 22.5},' * 20000 + b"]}"
    response = api.post(
        "/v1/lookup/batch",
        None,
        token=None,
        content=huge,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413 and error(response)["code"] == "body_too_large"


def test_point_history(api: Api):
    body = api.get("/v1/lookup/history", lon=114.05, lat=22.55).json()
    streets = [
        (
            p["valid_from"],
            p["valid_to"],
            next(u["code"] for u in p["units"] if u["level"] == "street"),
        )
        for p in body["periods"]
    ]
    assert streets == [("2015-01-01", "2016-12-26", "S1"), ("2016-12-26", None, "S3")]


# Units, history, lineage, changes, the log ------------------------------------------------------


def test_units_on_a_date_by_level_parent_and_bbox(api: Api):
    body = api.get("/v1/units", level="street", date="2015-06-01").json()
    assert body["type"] == "FeatureCollection"
    assert [f["id"] for f in body["features"]] == ["S1", "S2", "S9"]
    assert body["features"][0]["geometry"]["type"] == "MultiPolygon"
    later = api.get(
        "/v1/units", level="street", date="2020-01-01", parent="D1", geometry="false"
    ).json()
    assert [f["id"] for f in later["features"]] == ["S1", "S2", "S3"]
    assert later["features"][0]["geometry"] is None
    boxed = api.get(
        "/v1/units", level="community", date="2020-01-01", bbox="114.15,22.55,114.16,22.56"
    ).json()
    assert [f["id"] for f in boxed["features"]] == ["M9"]
    paged = api.get("/v1/units", date="2020-01-01", limit=2, offset=2, geometry="false").json()
    assert paged["numberReturned"] == 2 and paged["numberMatched"] > 4


@pytest.mark.parametrize(
    ("params", "code", "location"),
    [
        ({"level": "planet"}, "level_unknown", "query.level"),
        ({"bbox": "1,2,3"}, "invalid_request", "query.bbox"),
        ({"bbox": "114,23,113,22"}, "bbox_invalid", "query.bbox"),
        ({"bbox": "a,b,c,d"}, "invalid_request", "query.bbox"),
        ({"bbox": "114,23,113,99"}, "bbox_invalid", "query.bbox"),
        ({"date": "2015-02-30"}, "date_invalid", "query.date"),
        ({"date": "20150601"}, "date_invalid", "query.date"),
        ({"limit": "1_0"}, "number_invalid", "query.limit"),
        ({"date": "20150601", "limit": "1_0"}, "invalid_request", "query.limit"),
        ({"limit": 0}, "invalid_request", "query.limit"),
    ],
)
def test_units_parameter_errors(api: Api, params: dict[str, Any], code: str, location: str):
    response = api.get("/v1/units", **params)
    assert response.status_code == 422
    body = error(response)
    assert body["code"] == code
    assert location in [d["location"] for d in body["details"]]


def test_one_unit_with_its_offices(api: Api):
    response = api.get("/v1/units/M1", date="2020-01-01")
    assert response.status_code == 200
    feature = response.json()
    assert feature["type"] == "Feature" and feature["id"] == "M1"
    properties = feature["properties"]
    assert properties["parent"] == "S1"
    assert {(o["kind"], o["code"]) for o in properties["offices"]} == {
        ("residents_committee", "RC1"),
        ("workstation", "W1"),
    }
    assert 44e6 < properties["area_m2"] < 47e6
    assert api.get("/v1/units/S3", date="2015-06-01").status_code == 404
    missing = api.get("/v1/units/NOPE")
    assert missing.status_code == 404 and error(missing)["code"] == "unit_not_found"


def test_unit_history_and_lineage(api: Api):
    history = api.get("/v1/units/S1/history").json()["changes"]
    assert [(c["effective"], c["event"], c["operation"]) for c in history] == [
        ("2015-01-01", "established", "established"),
        ("2016-12-26", "redrawn", "split_off"),
    ]
    assert history[1]["actor"] == "scenario" and history[1]["document"] == "split notice"
    lineage = api.get("/v1/units/S3/lineage").json()
    assert [(e["predecessor"], e["kind"], e["effective"]) for e in lineage["predecessors"]] == [
        ("S1", "split_off", "2016-12-26")
    ]
    assert api.get("/v1/units/NOPE/lineage").status_code == 404


def test_changes_between_two_dates(api: Api):
    body = api.get("/v1/changes", **{"from": "2015-01-01", "to": "2020-01-01"}).json()
    assert [c["code"] for c in body["established"]] == ["S3"]
    assert [
        (c["code"], c["level"], c["parent_before"], c["parent_after"]) for c in body["transferred"]
    ] == [("M2", "community", "S1", "S3")]
    assert api.get("/v1/changes", **{"from": "2015-01-01"}).status_code == 422


def test_the_change_set_log(api: Api):
    log = api.get("/v1/changesets").json()
    assert log["total"] == 3
    assert [c["reason"] for c in log["change_sets"]] == [
        "S3 split off from S1",
        "one kind of matter, one level",
        "founding",
    ]
    one = api.get(f"/v1/changesets/{log['change_sets'][0]['id']}").json()
    assert one["operations"][0]["op"] == "split"
    assert "geometry" not in json.dumps(one["operations"])
    assert api.get("/v1/changesets/00000000-0000-0000-0000-000000000000").status_code == 404
    assert api.get("/v1/changesets/not-a-uuid").status_code == 422


# Editing ---------------------------------------------------------------------------------------

MOVE = {
    "effective": "2021-01-01",
    "reason": "move the boundary between M1 and M2",
    "document": "notice 7",
    "operations": [
        {"op": "redraw", "unit": "M1", "geometry": scenario.box(114.0, 22.5, 114.045, 22.6)},
        {"op": "redraw", "unit": "M2", "geometry": scenario.box(114.045, 22.5, 114.07, 22.6)},
        {
            "op": "redraw",
            "unit": "S1",
            "geometry": {
                "type": "MultiPolygon",
                "coordinates": [
                    [
                        [
                            [114.0, 22.5],
                            [114.045, 22.5],
                            [114.045, 22.6],
                            [114.0, 22.6],
                            [114.0, 22.5],
                        ]
                    ],
                    [
                        [
                            [114.07, 22.5],
                            [114.1, 22.5],
                            [114.1, 22.6],
                            [114.07, 22.6],
                            [114.07, 22.5],
                        ]
                    ],
                ],
            },
        },
        {"op": "redraw", "unit": "S3", "geometry": scenario.box(114.045, 22.5, 114.07, 22.6)},
        {"op": "redraw", "unit": "G1", "geometry": scenario.box(114.0, 22.5, 114.045, 22.55)},
        {"op": "redraw", "unit": "G2", "geometry": scenario.box(114.0, 22.55, 114.045, 22.6)},
    ],
}


def test_writes_need_an_editor_token(api: Api):
    assert api.post("/v1/changesets", MOVE, token=None).status_code == 401
    assert error(api.post("/v1/changesets", MOVE, token="reader"))["code"] == "forbidden"
    bad = api.post("/v1/changesets", MOVE, token=None, headers={"Authorization": "Bearer jl_nope"})
    assert bad.status_code == 401


def test_tokens_are_made_stored_hashed_and_revoked_by_the_cli(fresh_api: Api):
    env = {**os.environ, "DATABASE_URL": fresh_api.server.database_url}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jurisdictions.cli", "tokens", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )

    token = cli("create", "--role", "editor", "--actor", "Temp Editor").stdout.strip()
    token_id = token.split("_")[1]
    body = {
        "effective": "2021-01-01",
        "reason": "r",
        "operations": [{"op": "rename", "unit": "M1", "name": "x"}],
    }
    headers = {"Authorization": f"Bearer {token}"}
    assert (
        httpx.post(
            f"{fresh_api.url}/v1/changesets", json=body, headers=headers, timeout=30
        ).status_code
        == 201
    )
    history = fresh_api.get("/v1/units/M1/history").json()["changes"]
    assert history[-1]["actor"] == "Temp Editor"
    listing = cli("list").stdout
    assert token_id in listing and token not in listing
    with psycopg.connect(fresh_api.server.database_url) as conn:
        stored = conn.execute(
            "SELECT token_sha256 FROM api_tokens WHERE id = %s", (token_id,)
        ).fetchone()
    assert stored is not None and stored[0] != token and len(stored[0]) == 64
    cli("revoke", token_id)
    again = httpx.post(f"{fresh_api.url}/v1/changesets", json=body, headers=headers, timeout=30)
    assert again.status_code == 401 and error(again)["message"] == "the token is unknown or revoked"


def test_an_edit_is_visible_as_soon_as_it_is_acknowledged(fresh_api: Api):
    point = {"lon": 114.042, "lat": 22.55}
    before = fresh_api.get("/v1/lookup", **point, date="2021-06-01").json()
    assert [u["code"] for u in before["units"]][2:4] == ["S3", "M2"]
    response = fresh_api.post("/v1/changesets", MOVE)
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["projected"] and receipt["position"] > 0 and receipt["events"] >= 6
    after = fresh_api.get("/v1/lookup", **point, date="2021-06-01").json()
    assert [u["code"] for u in after["units"]][2:4] == ["S1", "M1"]
    history = fresh_api.get("/v1/units/M1/history").json()["changes"]
    assert history[-1]["actor"] == "Editor Wang" and history[-1]["document"] == "notice 7"


def test_dry_run_and_idempotency(fresh_api: Api):
    dry = fresh_api.post("/v1/changesets?dry_run=true", MOVE)
    assert dry.status_code == 200 and dry.json()["dry_run"] and dry.json()["id"] is None
    assert fresh_api.get("/v1/changesets").json()["total"] == 3
    key = {"Idempotency-Key": "move-7"}
    first = fresh_api.post("/v1/changesets", MOVE, headers=key)
    second = fresh_api.post("/v1/changesets", MOVE, headers=key)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["replayed"] and second.json()["id"] == first.json()["id"]
    assert second.json()["position"] == first.json()["position"]
    assert fresh_api.get("/v1/changesets").json()["total"] == 4
    # A dry run with the used key says what the write would: a replay.
    dry_replay = fresh_api.post("/v1/changesets?dry_run=true", MOVE, headers=key)
    assert dry_replay.status_code == 200
    assert dry_replay.json()["replayed"] and dry_replay.json()["id"] == first.json()["id"]
    # The same key with another request is refused, naming the header and the first one.
    other = {**MOVE, "reason": "another request"}
    for path in ("/v1/changesets", "/v1/changesets?dry_run=true"):
        reused = fresh_api.post(path, other, headers=key)
        assert reused.status_code == 422
        body = error(reused)
        assert body["code"] == "idempotency_key_reused"
        assert "Idempotency-Key" in body["message"] and "different request" in body["message"]
        assert body["details"][0]["location"] == "header.idempotency-key"
        assert body["details"][0]["change_set"] == first.json()["id"]
    # A key that cannot be one is a 422 naming the header, before anything is checked.
    for bad in (b"", b"k" * 256, b"a\tb", "caf\u00e9".encode("latin-1")):
        refused = fresh_api.post("/v1/changesets", other, headers={"Idempotency-Key": bad})
        assert refused.status_code == 422, bad
        assert error(refused)["details"][0]["location"] == "header.idempotency-key"
    assert fresh_api.get("/v1/changesets").json()["total"] == 4


def test_a_broken_change_set_gets_every_problem_and_stores_nothing(fresh_api: Api):
    body = {
        "effective": "2021-01-01",
        "reason": "careless",
        "operations": [
            {"op": "redraw", "unit": "M1", "geometry": scenario.box(114.0, 22.5, 114.06, 22.6)},
            {"op": "redraw", "unit": "NOPE", "geometry": scenario.box(114.0, 22.5, 114.06, 22.6)},
            {
                "op": "establish",
                "code": "X1",
                "level": "street",
                "name": "x",
                "parent": "D1",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[114, 22], [115, 23], [115, 22], [114, 23], [114, 22]]],
                },
            },
        ],
    }
    response = fresh_api.post("/v1/changesets", body)
    assert response.status_code == 422
    details = error(response)["details"]
    assert {(d["code"], d.get("location", "")) for d in details} >= {
        ("unit_unknown", "operations[1].unit"),
        ("geometry_invalid", "operations[2].geometry"),
    }
    assert fresh_api.get("/v1/changesets").json()["total"] == 3
    # S2 reaching south over S1: siblings overlap; M1 reaching east leaves its street S1.
    spread = [
        {"op": "redraw", "unit": "S2", "geometry": scenario.box(114.0, 22.58, 114.1, 22.7)},
        body["operations"][0],
    ]
    overlap = fresh_api.post("/v1/changesets", {**body, "operations": spread})
    problems = error(overlap)["details"]
    codes = {p["code"] for p in problems}
    assert {"siblings_overlap", "child_outside_parent"} <= codes
    assert all(p.get("area_m2", 0) > 0 for p in problems if p["code"] == "siblings_overlap")
    assert fresh_api.get("/v1/changesets").json()["total"] == 3


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"effective": "2021-01-01",', 400, "malformed_json"),
        (b"[1, 2]", 422, "invalid_change_set"),
        (b'{"effective": 20210101, "reason": "x", "operations": []}', 422, "invalid_change_set"),
        (
            (
                b'{"effective": "2021-01-01", "reason": "x", "operations": '
                b'[{"op": "redraw", "unit": "M1", '
                b'"geometry": {"type": "GeometryCollection", "geometries": []}}]}'
            ),
            422,
            "invalid_change_set",
        ),
    ],
)
def test_malformed_change_sets(api: Api, body: bytes, status: int, code: str):
    response = api.post(
        "/v1/changesets", None, content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status
    assert error(response)["code"] == code


def test_openapi_documents_every_operation_with_its_fields(api: Api):
    schema = api.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    body = schema["paths"]["/v1/changesets"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"] == {"$ref": "#/components/schemas/ChangeSetBody"}
    items = components["ChangeSetBody"]["properties"]["operations"]["items"]
    mapping = items["discriminator"]["mapping"]
    assert sorted(mapping) == sorted(
        [
            "establish",
            "redraw",
            "split",
            "merge",
            "transfer",
            "move_area",
            "rename",
            "recode",
            "dissolve",
            "lay_grids",
            "regrid",
            "open_office",
            "change_service_area",
            "close_office",
            "open_workstation",
            "close_workstation",
            "assign_coverage",
            "merge_workstations",
            "assign_matter",
            "correct",
        ]
    )
    for op, ref in mapping.items():
        model = components[ref.rsplit("/", 1)[1]]
        assert model["properties"]["op"]["const"] == op
        assert model["additionalProperties"] is False
    establish = components[mapping["establish"].rsplit("/", 1)[1]]
    assert set(establish["properties"]) == {
        "op",
        "code",
        "level",
        "name",
        "parent",
        "name_en",
        "provenance",
        "geometry",
    }
    assert set(establish["required"]) == {"op", "code", "level", "name", "geometry"}
    geometry = {option["$ref"] for option in establish["properties"]["geometry"]["anyOf"]}
    assert geometry == {
        "#/components/schemas/GeoJsonPolygon",
        "#/components/schemas/GeoJsonMultiPolygon",
    }
    split = components[mapping["split"].rsplit("/", 1)[1]]
    assert split["properties"]["mode"]["enum"] == ["split_off", "full"]
    assert split["properties"]["parts"]["items"] == {"$ref": "#/components/schemas/SplitPart"}
    assert {"code", "geometry"} <= set(components["SplitPart"]["required"])
    # The shape the editing page sends for "this area passes from A to B".
    move = components[mapping["move_area"].rsplit("/", 1)[1]]
    assert (
        set(move["properties"])
        == set(move["required"])
        == {
            "op",
            "from_unit",
            "to_unit",
            "geometry",
        }
    )
    assert {o["$ref"] for o in move["properties"]["geometry"]["anyOf"]} == geometry
    post = schema["paths"]["/v1/changesets"]["post"]
    flags = {p["name"]: p for p in post["parameters"]}
    assert {"dry_run", "problem_geometry", "preview", "based_on"} <= set(flags)
    receipt = components["ChangeSetReceipt"]["properties"]
    assert "preview" in receipt and "UnitPreview" in components


def test_an_unknown_operation_field_is_a_422_naming_it(api: Api):
    body = {
        "effective": "2021-01-01",
        "reason": "typo",
        "operations": [
            {"op": "rename", "unit": "M1", "name": "m", "colour": "red"},
            {"op": "rename", "unit": "NOPE", "name": "n"},
        ],
    }
    response = api.post("/v1/changesets", body)
    assert response.status_code == 422
    details = error(response)["details"]
    assert (error(response)["code"], details[0]["code"]) == ("invalid_change_set", "field_unknown")
    assert details[0]["location"] == "operations[0].colour" and "colour" in details[0]["message"]
    # The operation that could be read was checked too: every problem comes back at once.
    assert ("unit_unknown", "operations[1].unit") in {
        (d["code"], d.get("location")) for d in details
    }
    assert api.get("/v1/changesets").json()["total"] == 3


def test_concurrent_editors_never_both_move_one_boundary(fresh_api: Api):
    """Many editors move the M1/M2 boundary at once: each gets 201 or 409, and the stored
    history equals the accepted change sets applied one after the other."""
    results: list[int] = []
    refused: list[dict[str, Any]] = []
    positions = [114.041 + i * 0.001 for i in range(8)]

    def move(x: float) -> None:
        body = json.loads(json.dumps(MOVE).replace("114.045", f"{x:.3f}"))
        answer = fresh_api.post("/v1/changesets", body)
        results.append(answer.status_code)
        if answer.status_code == 409:
            refused.append(answer.json()["error"])

    threads = [threading.Thread(target=move, args=(x,)) for x in positions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(results) <= {201, 409}, results
    # A loser is told who changed the same family first, and to reload.
    for error in refused:
        assert error["message"].startswith("someone else changed the same family"), error
        assert error["details"] and all(d["change_set"] for d in error["details"]), error
    accepted = results.count(201)
    assert accepted >= 1
    assert fresh_api.get("/v1/changesets").json()["total"] == 3 + accepted
    # Whatever won, the map is consistent: the point on either side resolves to one community.
    for lon in (114.0405, 114.0485):
        units = fresh_api.get("/v1/lookup", lon=lon, lat=22.55, date="2021-06-01").json()["units"]
        assert [u["level"] for u in units][:4] == ["city", "district", "street", "community"]


# Imports -------------------------------------------------------------------------------------


def test_an_import_redraws_three_units_and_establishes_one(fresh_api: Api, tmp_path: Path):
    grids = {
        "effective": "2019-01-01",
        "reason": "grids for M4",
        "operations": [
            {
                "op": "lay_grids",
                "community": "M4",
                "grids": [
                    {
                        "code": "G3",
                        "name": "grid 3",
                        "officer": "Wu",
                        "geometry": scenario.box(114.07, 22.5, 114.1, 22.55),
                    },
                    {
                        "code": "G4",
                        "name": "grid 4",
                        "officer": "Ma",
                        "geometry": scenario.box(114.07, 22.55, 114.1, 22.6),
                    },
                ],
            }
        ],
    }
    assert fresh_api.post("/v1/changesets", grids).status_code == 201
    layer = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "G1", "name": "grid 1", "parent": "M1"},
                "geometry": scenario.box(114.0, 22.5, 114.04, 22.56),
            },
            {
                "type": "Feature",
                "properties": {"code": "G2", "name": "grid 2", "parent": "M1"},
                "geometry": scenario.box(114.0, 22.56, 114.04, 22.6),
            },
            {
                "type": "Feature",
                "properties": {"code": "G3", "name": "grid 3", "parent": "M4"},
                "geometry": scenario.box(114.07, 22.5, 114.085, 22.55),
            },
            {
                "type": "Feature",
                "properties": {"code": "G5", "name": "grid 5", "parent": "M4"},
                "geometry": scenario.box(114.085, 22.5, 114.1, 22.55),
            },
            {
                "type": "Feature",
                "properties": {"code": "G4", "name": "grid 4", "parent": "M4"},
                "geometry": scenario.box(114.07, 22.55, 114.1, 22.6),
            },
        ],
    }
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps(layer))
    form = {"level": "grid", "effective": "2020-01-01", "reason": "yearly grid survey"}

    def send(dry_run: bool) -> httpx.Response:
        with path.open("rb") as handle:
            return fresh_api.post(
                "/v1/imports" + ("?dry_run=true" if dry_run else ""),
                None,
                files={"file": ("grids.geojson", handle, "application/geo+json")},
                data=form,
            )

    dry = send(True)
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert sorted(report["redrawn"]) == ["G1", "G2", "G3"]
    assert report["established"] == ["G5"]
    assert report["ended"] == [] and report["problems"] == [] and not report["applied"]
    assert fresh_api.get("/v1/units/G5", date="2020-06-01").status_code == 404
    applied = send(False)
    assert applied.status_code == 201 and applied.json()["applied"]
    g5 = fresh_api.get("/v1/units/G5", date="2020-06-01").json()
    assert g5["properties"]["parent"] == "M4"


def test_an_import_with_problems_applies_nothing(fresh_api: Api, tmp_path: Path):
    layer = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "no code"},
                "geometry": scenario.box(114.0, 22.5, 114.04, 22.55),
            },
            {
                "type": "Feature",
                "properties": {"code": "G1"},
                "geometry": scenario.box(114.0, 22.5, 114.09, 22.55),
            },
        ],
    }
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(layer))
    with path.open("rb") as handle:
        response = fresh_api.post(
            "/v1/imports",
            None,
            files={"file": ("bad.geojson", handle)},
            data={"level": "grid", "effective": "2020-01-01", "reason": "x"},
        )
    assert response.status_code == 422
    body = response.json()
    assert body["problems"][0]["code"] == "code_missing"
    assert body["error"]["code"] == "invalid_import"
    assert fresh_api.get("/v1/changesets").json()["total"] == 3
    with path.open("rb") as handle:
        unknown = fresh_api.post(
            "/v1/imports",
            None,
            files={"file": ("bad.geojson", handle)},
            data={"level": "planet", "effective": "2020-01-01", "reason": "x"},
        )
    assert unknown.status_code == 422 and error(unknown)["code"] == "level_unknown"


def _layer(*features: tuple[str, str, str | None, dict[str, Any]]) -> str:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"code": code, "name": name, "parent": parent},
                    "geometry": geometry,
                }
                for code, name, parent, geometry in features
            ],
        }
    )


def _send_layer(
    api: Api, text: str, level: str, dry_run: bool = True, format_: str = "", **form: str
) -> httpx.Response:
    query = "&".join(
        part
        for part in ("dry_run=true" if dry_run else "", f"format={format_}" if format_ else "")
        if part
    )
    return api.post(
        "/v1/imports" + (f"?{query}" if query else ""),
        None,
        files={"file": ("layer.geojson", text.encode(), "application/geo+json")},
        data={"level": level, "effective": "2020-01-01", "reason": "survey", **form},
    )


def test_a_partial_import_ends_nothing_unless_replace_names_the_parents(fresh_api: Api):
    # One of M1's two grids, renamed: before, the import planned to end G2 (its sibling).
    partial = _layer(("G1", "grid one", "M1", scenario.box(114.0, 22.5, 114.04, 22.55)))
    dry = _send_layer(fresh_api, partial, "grid")
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert report["renamed"] == ["G1"] and report["ended"] == [] and report["mode"] == "update"
    # Replacing M1's grids with one grid covering M1: G2 ends, and the report says why.
    whole = _layer(("G1", "grid 1", "M1", scenario.box(114.0, 22.5, 114.04, 22.6)))
    replace = _send_layer(fresh_api, whole, "grid", mode="replace", replace_parents="M1")
    assert replace.status_code == 200, replace.text
    report = replace.json()
    assert report["redrawn"] == ["G1"] and report["replace_parents"] == ["M1"]
    assert [(e["code"], e["name"], e["parent"]) for e in report["ended"]] == [
        ("G2", "grid 2", "M1")
    ]
    assert "mode=replace" in report["ended"][0]["why"] and "M1" in report["ended"][0]["why"]
    applied = _send_layer(fresh_api, whole, "grid", False, mode="REPLACE", replace_parents="M1")
    assert applied.status_code == 201, applied.text
    assert fresh_api.get("/v1/units/G2", date="2020-06-01").status_code == 404
    assert fresh_api.get("/v1/units/G2", date="2019-06-01").status_code == 200


def test_a_city_file_with_a_new_city_does_not_end_the_old_one_unless_asked(fresh_api: Api):
    layer = _layer(("C2", "new city", None, scenario.box(115.0, 23.0, 115.1, 23.1)))
    dry = _send_layer(fresh_api, layer, "city")
    assert dry.status_code == 200, dry.text
    assert dry.json()["established"] == ["C2"] and dry.json()["ended"] == []
    # Asked for: the old city is planned to end (and the register refuses, it has districts).
    asked = _send_layer(fresh_api, layer, "city", mode="replace")
    assert asked.status_code == 422
    body = asked.json()
    assert [e["code"] for e in body["ended"]] == ["C"]
    assert "of the city level" in body["ended"][0]["why"]
    assert {p["code"] for p in body["problems"]} == {"parent_not_live"}
    assert fresh_api.get("/v1/changesets").json()["total"] == 3


@pytest.mark.parametrize(
    ("form", "code", "where"),
    [
        ({"mode": "merge"}, "import_mode_invalid", "form.mode"),
        ({"mode": "replace"}, "replace_parents_invalid", "form.replace_parents"),
        ({"replace_parents": "M1"}, "replace_parents_invalid", "form.replace_parents"),
        ({"mode": "replace", "replace_parents": "M1,NOPE"}, "replace_parents_invalid", ""),
    ],
)
def test_a_bad_import_scope_is_a_422_naming_the_field(
    api: Api, form: dict[str, str], code: str, where: str
):
    layer = _layer(("G1", "grid 1", "M1", scenario.box(114.0, 22.5, 114.04, 22.55)))
    response = _send_layer(api, layer, "grid", True, **form)
    assert response.status_code == 422, response.text
    assert error(response)["code"] == code
    assert error(response)["details"][0]["location"] == (where or "form.replace_parents")
    if "NOPE" in form.get("replace_parents", ""):
        assert "NOPE" in error(response)["message"]


def test_an_import_snaps_a_layer_rounding_would_break_and_says_so(fresh_api: Api):
    # G1 with a hole 4e-8 degrees inside its east edge: valid as drawn, but rounding each
    # vertex to 7 decimals would put the hole's edge on the shell's (invalid).
    eps = 4e-8
    shell = [[114.0, 22.5], [114.04, 22.5], [114.04, 22.55], [114.0, 22.55], [114.0, 22.5]]
    hole = [
        [114.04 - eps, 22.52],
        [114.03, 22.52],
        [114.03, 22.521],
        [114.04 - eps, 22.521],
        [114.04 - eps, 22.52],
    ]
    layer = _layer(
        ("G1", "grid 1", "M1", {"type": "Polygon", "coordinates": [shell, hole]}),
        ("G2", "grid 2", "M1", scenario.box(114.0, 22.55, 114.04, 22.6)),
    )
    response = _send_layer(fresh_api, layer, "grid")
    # Before: 422 geometry_invalid (self-intersection after rounding). Now it goes in, noted;
    # the hole leaves M1 uncovered, which the register reports as it would for any layer.
    body = response.json()
    assert "geometry_invalid" not in {p["code"] for p in body["problems"]}, body
    [note] = body["notes"]
    assert note["code"] == "precision_snapped" and note["units"] == ["G1"]
    assert note["location"] == "features[0].geometry" and note["area_m2"] < 1
    assert {p["code"] for p in body["problems"]} == {"coverage_gap"}


def test_an_import_report_names_units_and_places_every_problem_at_once(fresh_api: Api):
    # G1 reaches 0.005 degrees east of M1 (a map-wide rule), G2 is renamed, and a third feature
    # has no code (a feature problem): before, only code_missing came back, at no place.
    layer = json.loads(
        _layer(
            ("G1", "grid 1", "M1", scenario.box(114.0, 22.5, 114.045, 22.55)),
            ("G2", "grid two", "M1", scenario.box(114.0, 22.55, 114.04, 22.6)),
        )
    )
    layer["features"].append(
        {
            "type": "Feature",
            "properties": {"name": "no code here"},
            "geometry": scenario.box(114.01, 22.51, 114.02, 22.52),
        }
    )
    response = _send_layer(fresh_api, json.dumps(layer), "grid")
    assert response.status_code == 422, response.text
    body = response.json()
    problems = {p["code"]: p for p in body["problems"]}
    assert set(problems) == {"code_missing", "child_outside_parent"}, body["problems"]
    outside = problems["child_outside_parent"]
    # At the feature, with its code and name (not at the change set's operations[i]).
    assert outside["location"] == "features[0]" and outside["units"] == ["G1", "M1"]
    assert outside["names"][0] == "grid 1" and outside["area_m2"] > 0
    point = outside["location_point"]
    assert 114.04 < point["lon"] < 114.045 and 22.5 < point["lat"] < 22.55
    missing = problems["code_missing"]
    assert missing["location"] == "features[2]" and missing["name"] == "no code here"
    assert 114.01 < missing["location_point"]["lon"] < 114.02
    entries = {e["code"]: e for e in body["entries"]}
    g1, g2 = entries["G1"], entries["G2"]
    assert g1["changes"] == ["redrawn"] and g1["level"] == "grid" and g1["name"] == "grid 1"
    assert g1["after"]["area_m2"] > g1["before"]["area_m2"] > 0
    assert g1["area_gained_m2"] == pytest.approx(
        g1["after"]["area_m2"] - g1["before"]["area_m2"], abs=1
    )
    assert g1["area_lost_m2"] == 0
    assert g2["changes"] == ["renamed"] and g2["feature"] == "features[1]"
    assert (g2["before"]["name"], g2["after"]["name"]) == ("grid 2", "grid two")
    assert g2["before"]["area_m2"] == g2["after"]["area_m2"]
    summary = body["summary"]
    assert (summary["features"], summary["redrawn"], summary["renamed"]) == (3, 1, 1)
    assert summary["problems"] == 2 and body["level"] == "grid"

    # The same as GeoJSON, to open in QGIS: still a 422 with the error beside the features.
    geo = _send_layer(fresh_api, json.dumps(layer), "grid", format_="geojson")
    assert geo.status_code == 422
    assert geo.headers["content-type"].startswith("application/geo+json")
    collection = geo.json()
    assert collection["type"] == "FeatureCollection"
    assert collection["error"]["code"] == "invalid_import"
    kinds = {(f["properties"]["kind"], f["properties"]["what"]): f for f in collection["features"]}
    assert set(kinds) == {
        ("change", "redrawn"),
        ("change", "renamed"),
        ("problem", "child_outside_parent"),
        ("problem", "code_missing"),
    }
    beyond = kinds[("problem", "child_outside_parent")]
    assert beyond["geometry"]["type"] in ("Polygon", "MultiPolygon")  # the area outside
    assert beyond["properties"]["name"] == "grid 1"
    assert kinds[("problem", "code_missing")]["geometry"]["type"] == "Point"
    renamed = kinds[("change", "renamed")]["properties"]
    assert (renamed["name_before"], renamed["name_after"]) == ("grid 2", "grid two")
    assert fresh_api.get("/v1/changesets").json()["total"] == 3


def test_an_import_report_as_geojson_by_accept_header(fresh_api: Api):
    layer = _layer(("G2", "grid two", "M1", scenario.box(114.0, 22.55, 114.04, 22.6)))
    response = fresh_api.post(
        "/v1/imports?dry_run=true",
        None,
        files={"file": ("layer.geojson", layer.encode(), "application/geo+json")},
        data={"level": "grid", "effective": "2020-01-01", "reason": "survey"},
        headers={"Accept": "application/geo+json"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/geo+json")
    collection = response.json()
    [change] = collection["features"]
    assert change["properties"]["kind"] == "change" and change["properties"]["code"] == "G2"
    assert change["geometry"]["type"] == "MultiPolygon"
    assert collection["summary"]["renamed"] == 1 and collection["renamed"] == ["G2"]
    plain = _send_layer(fresh_api, layer, "grid", format_="json")
    assert plain.headers["content-type"].startswith("application/json")
    assert "entries" in plain.json()


def test_an_operation_problem_does_not_hide_the_map_wide_ones(fresh_api: Api):
    # A new grid under a parent that does not exist (refused by the register's operation
    # check, which used to stop there) and G1 reaching outside M1 (a map-wide rule).
    layer = _layer(
        ("G1", "grid 1", "M1", scenario.box(114.0, 22.5, 114.045, 22.55)),
        ("G9", "grid 9", "NOPE", scenario.box(114.07, 22.5, 114.08, 22.51)),
    )
    response = _send_layer(fresh_api, layer, "grid")
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    where = {p["code"]: p for p in problems}
    assert "child_outside_parent" in where, problems
    assert where["child_outside_parent"]["location"] == "features[0]"
    refused = [p for p in problems if p["location"].startswith("features[1]")]
    assert refused and refused[0]["location"] == "features[1].properties.parent", refused
    assert refused[0]["units"][0] == "G9" and refused[0]["names"][0] == "grid 9"


# OGC API Features and tiles --------------------------------------------------------------------


def test_ogc_landing_conformance_and_collections(api: Api):
    landing = api.get("/ogc").json()
    assert {link["rel"] for link in landing["links"]} >= {
        "self",
        "service-desc",
        "conformance",
        "data",
    }
    assert (
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson"
        in api.get("/ogc/conformance").json()["conformsTo"]
    )
    ids = [c["id"] for c in api.get("/ogc/collections").json()["collections"]]
    assert ids == ["city", "district", "street", "community", "grid", "workstations"]
    assert api.get("/ogc/api").json()["openapi"].startswith("3.0")
    assert api.get("/ogc/collections/planet").status_code == 404


def test_ogc_items_paging_bbox_datetime_and_by_code(api: Api):
    first = api.get("/ogc/collections/community/items", limit=2, datetime="2020-01-01")
    assert first.headers["content-type"].startswith("application/geo+json")
    body = first.json()
    assert body["numberMatched"] == 5 and body["numberReturned"] == 2
    nxt = next(link["href"] for link in body["links"] if link["rel"] == "next")
    second = httpx.get(nxt, timeout=10).json()
    assert [f["id"] for f in second["features"]] == ["M3", "M4"]
    boxed = api.get(
        "/ogc/collections/street/items", bbox="114.05,22.52,114.06,22.53", datetime="2015-06-01"
    ).json()
    assert [f["id"] for f in boxed["features"]] == ["S1"]
    versions = api.get(
        "/ogc/collections/street/items", datetime="2015-01-01/2020-01-01", limit=100
    ).json()
    assert "S1@2016-12-26" in [f["id"] for f in versions["features"]]
    one = api.get("/ogc/collections/street/items/S3").json()
    assert one["id"] == "S3" and one["properties"]["parent"] == "D1"
    assert api.get("/ogc/collections/street/items/S3", datetime="2015-06-01").status_code == 404
    areas = api.get("/ogc/collections/workstations/items", datetime="2020-01-01").json()
    w1 = next(f for f in areas["features"] if f["id"] == "W1")
    assert w1["properties"]["serves"] == ["M1", "M4"] and w1["geometry"]["type"] == "MultiPolygon"
    assert api.get("/ogc/collections/street/items", datetime="yesterday").status_code == 400


@pytest.mark.skipif(
    shutil.which("ogrinfo") is None, reason="GDAL's ogrinfo is installed by `make test`"
)
def test_gdal_reads_every_collection(api: Api, tmp_path: Path):
    listing = subprocess.run(
        ["ogrinfo", "-ro", f"OAPIF:{api.url}/ogc"], capture_output=True, text=True, timeout=120
    )
    assert listing.returncode == 0, listing.stderr
    for collection in ("city", "district", "street", "community", "grid", "workstations"):
        assert f": {collection} (" in listing.stdout
        out = tmp_path / f"{collection}.geojson"
        copy = subprocess.run(
            ["ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{api.url}/ogc", collection],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert copy.returncode == 0, copy.stderr
        features = json.loads(out.read_text())["features"]
        assert features, collection
    streets = json.loads((tmp_path / "street.geojson").read_text())["features"]
    assert sorted(f["properties"]["code"] for f in streets) == ["S1", "S2", "S3", "S9"]


def test_vector_tiles(api: Api):
    path = "/tiles/community/12/3345/1784.mvt"
    response = api.get(path, date="2020-01-01")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert (
        len(response.content) > 50
        and b"community" in response.content
        and b"M1" in response.content
    )
    etag = response.headers["etag"]
    assert "max-age" in response.headers["cache-control"]
    cached = httpx.get(
        f"{api.url}{path}",
        params={"date": "2020-01-01"},
        headers={"If-None-Match": etag},
        timeout=10,
    )
    assert cached.status_code == 304
    empty = api.get("/tiles/community/12/0/0.mvt")
    assert empty.status_code == 200 and empty.content == b""
    assert api.get("/tiles/planet/1/0/0.mvt").status_code == 422
    assert api.get("/tiles/community/2/9/0.mvt").status_code == 404


def test_cors_is_off_by_default_and_configurable(api: Api, database_url: str):
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "GET",
    }
    closed = httpx.options(f"{api.url}/v1/lookup", headers=preflight, timeout=10)
    assert "access-control-allow-origin" not in closed.headers
    server = LiveServer(database_url, JL_CORS_ORIGINS="https://app.example")
    try:
        opened = httpx.options(f"{server.url}/v1/lookup", headers=preflight, timeout=10)
        assert opened.headers["access-control-allow-origin"] == "https://app.example"
        other = httpx.options(
            f"{server.url}/v1/lookup",
            headers={**preflight, "Origin": "https://evil.example"},
            timeout=10,
        )
        assert other.headers.get("access-control-allow-origin") != "https://evil.example"
    finally:
        server.stop()


def test_closed_reads_need_a_token(databases: DatabaseFactory):
    url, (reader,) = scenario_database(databases, ("reader", "Some App"))
    server = LiveServer(url, JL_READS_REQUIRE_TOKEN="true")
    try:
        point: dict[str, str | float] = {"lon": 114.05, "lat": 22.55, "date": "2017-06-01"}
        anonymous = httpx.get(f"{server.url}/v1/lookup", params=point, timeout=10)
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "unauthorized"
        bad = httpx.get(
            f"{server.url}/v1/lookup",
            params=point,
            headers={"Authorization": "Bearer not-a-token"},
            timeout=10,
        )
        assert bad.status_code == 401
        allowed = httpx.get(
            f"{server.url}/v1/lookup",
            params=point,
            headers={"Authorization": f"Bearer {reader}"},
            timeout=10,
        )
        assert allowed.status_code == 200
        assert [u["code"] for u in allowed.json()["units"]] == ["C", "D1", "S3", "M2"]
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
    finally:
        server.stop()
        databases.drop(url)


def test_a_client_generator_reads_every_operation_from_openapi(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """What an app developer does: generate typed models from /openapi.json with a real client
    generator (datamodel-code-generator), then write a change set with them."""
    spec = tmp_path / "openapi.json"
    spec.write_text(api.get("/openapi.json").text, encoding="utf-8")
    generated = tmp_path / "jl_client_models.py"
    codegen = Path(sys.executable).with_name("datamodel-codegen")
    subprocess.run(
        [
            str(codegen),
            "--input",
            str(spec),
            "--input-file-type",
            "openapi",
            "--output",
            str(generated),
            "--output-model-type",
            "pydantic_v2.BaseModel",
            "--formatters",
            "black",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    spec_of_module = importlib.util.spec_from_file_location("jl_client_models", generated)
    assert spec_of_module is not None and spec_of_module.loader is not None
    module = importlib.util.module_from_spec(spec_of_module)
    monkeypatch.setitem(sys.modules, "jl_client_models", module)
    spec_of_module.loader.exec_module(module)
    namespace = vars(module)
    operations = {
        name: model
        for name, model in namespace.items()
        if name.endswith("Operation") and hasattr(model, "model_fields")
    }
    ops = {model.model_fields["op"].annotation.__args__[0]: model for model in operations.values()}
    assert len(ops) == 20, sorted(ops)
    assert set(ops["establish"].model_fields) >= {"code", "level", "name", "parent", "geometry"}
    assert set(ops["split"].model_fields) >= {"unit", "mode", "parts", "reassign_children"}
    assert set(ops["assign_coverage"].model_fields) >= {"workstation", "communities"}
    assert set(ops["change_service_area"].model_fields) >= {"code", "serves"}
    # The generated models forbid unknown fields, as the server does.
    with pytest.raises(ValueError, match="colour"):
        ops["rename"](op="rename", unit="M1", name="m", colour="red")
    body = namespace["ChangeSetBody"](
        effective="2031-01-01",
        reason="generated client",
        operations=[ops["rename"](op="rename", unit="M1", name="M1 renamed")],
    )
    response = api.post(
        "/v1/changesets?dry_run=true",
        None,
        content=body.model_dump_json(exclude_none=True),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["units"] == ["M1"]


@pytest.mark.parametrize("header", ["9" * 5000, "12a", "-1", "1.5", "9" * 19])
def test_a_malformed_min_position_is_a_422_naming_the_header(api: Api, header: str):
    response = httpx.get(
        f"{api.url}/v1/lookup",
        params={**IN_M1, "date": "2020-01-01"},
        headers={"X-Min-Position": header},
        timeout=30,
    )
    assert response.status_code == 422
    assert error(response)["code"] == "invalid_request"
    assert error(response)["details"][0]["location"] == "header.x-min-position"


def test_a_position_sent_back_is_honoured(api: Api):
    response = httpx.get(
        f"{api.url}/v1/lookup",
        params={**IN_M1, "date": "2020-01-01"},
        headers={"X-Min-Position": "1"},
        timeout=30,
    )
    assert response.status_code == 200


@pytest.mark.parametrize("name", ["bad\u0000name", "bell\u0007", "\u200b"])
def test_unstorable_text_is_refused_by_the_dry_run_and_the_write_alike(api: Api, name: str):
    before = api.get("/v1/changesets").json()["total"]
    body = {
        "effective": "2031-01-01",
        "reason": "hostile",
        "operations": [{"op": "rename", "unit": "M1", "name": name}],
    }
    for path in ("/v1/changesets?dry_run=true", "/v1/changesets"):
        response = api.post(path, body)
        assert response.status_code == 422, response.text
        assert [(d["code"], d["location"]) for d in error(response)["details"]] in (
            [("text_invalid", "operations[0].name")],
            [("field_wrong_type", "operations[0].name")],
        )
    assert api.get("/v1/changesets").json()["total"] == before
