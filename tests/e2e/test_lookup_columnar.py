"""Batches answered in Arrow IPC and Parquet over real HTTP, decoded with pyarrow and compared
row by row with the JSON answer to the same request (from memory and from SQL), and batches
sent as Arrow tables."""

from __future__ import annotations

import io
import random
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq
import pytest

from tests.conftest import DatabaseFactory, LiveServer, scenario_database

pytestmark = pytest.mark.db

ARROW = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
LEVELS = ["city", "district", "street", "community", "grid"]
LATER = "2099-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def server(databases: DatabaseFactory) -> Iterator[LiveServer]:
    url, _ = scenario_database(databases)
    live = LiveServer(url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until the index answers
        probe = httpx.post(
            f"{live.url}/v1/lookup/batch", json={"points": [{"lon": 114.05, "lat": 22.55}]}
        )
        if probe.headers.get("x-read-from") == "memory":
            break
        time.sleep(0.2)
    yield live
    live.stop()
    databases.drop(url)


def points(count: int, seed: int) -> list[dict[str, Any]]:
    """Random points over and around the scenario city, its vertices and edge midpoints."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = [
        {"id": f"p{i}", "lon": rng.uniform(113.98, 114.22), "lat": rng.uniform(22.48, 22.72)}
        for i in range(count)
    ]
    for x in (114.0, 114.02, 114.04, 114.07, 114.1, 114.2):
        for y in (22.5, 22.55, 22.6, 22.65, 22.7):
            out.append({"id": f"v{x},{y}", "lon": x, "lat": y})
    return out


def decode(response: httpx.Response) -> pa.Table:
    if response.headers["content-type"] == ARROW:
        return pa.ipc.open_stream(response.content).read_all()
    assert response.headers["content-type"] == PARQUET
    return pq.read_table(io.BytesIO(response.content))


def json_rows(answer: dict[str, Any], levels: list[str]) -> list[dict[str, Any]]:
    """The JSON answer in the columnar shape."""
    rows = []
    for index, result in enumerate(answer["results"]):
        row: dict[str, Any] = {"index": index, "id": result["id"]}
        units = {u["level"]: u for u in result.get("units") or []}
        for level in levels:
            unit = units.get(level)
            row[level] = unit["code"] if unit else None
            row[f"{level}_name"] = unit["name"] if unit else None
            row[f"{level}_on_boundary"] = unit["on_boundary"] if unit else None
        row["on_boundary"] = any(u["on_boundary"] for u in units.values())
        error = result.get("error")
        row["error"] = error["code"] if error else None
        row["error_message"] = error["message"] if error else None
        rows.append(row)
    return rows


def post(server: LiveServer, body: dict[str, Any], accept: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/lookup/batch", json=body, headers={"Accept": accept}, timeout=60
    )


@pytest.mark.parametrize("accept", [ARROW, PARQUET, "application/x-parquet"])
@pytest.mark.parametrize("levels", [None, ["grid"], ["district", "street"]])
@pytest.mark.parametrize("recorded", [None, LATER])  # from memory, from SQL
def test_columnar_answers_equal_the_json_answer_row_by_row(server, accept, levels, recorded):
    body: dict[str, Any] = {"date": "2017-06-01", "points": points(400, 7)}
    body["points"][3] = {"id": "bad-lat", "lon": 114.05, "lat": 95}
    body["points"][9] = {"id": "no-lon", "lat": 22.6}
    if levels:
        body["levels"] = levels
    if recorded:
        body["as_recorded"] = recorded
    reference = httpx.post(f"{server.url}/v1/lookup/batch", json=body, timeout=60)
    assert reference.status_code == 200
    answer = post(server, body, accept)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-read-from"] == reference.headers["x-read-from"]
    assert answer.headers["x-read-from"] == ("memory" if recorded is None else "primary")
    table = decode(answer)
    asked = levels or LEVELS
    expected = json_rows(reference.json(), asked)
    assert table.num_rows == len(expected) == len(body["points"])
    assert table.column_names == [
        "index",
        "id",
        *[f"{lv}{suffix}" for lv in asked for suffix in ("", "_name", "_on_boundary")],
        "on_boundary",
        "error",
        "error_message",
    ]
    assert table.to_pylist() == expected
    assert table.schema.metadata[b"date"] == b"2017-06-01"
    rows = table.to_pylist()
    assert rows[3]["error"] == "coordinates_out_of_range" and rows[3]["id"] == "bad-lat"
    assert rows[9]["error"] == "invalid_request"
    assert any(r["on_boundary"] for r in rows)
    assert any(r[asked[0]] is None and r["error"] is None for r in rows)  # outside, kept


def test_small_batches_carry_only_the_units_they_use(server):
    body = {"date": "2017-06-01", "points": [{"id": 1, "lon": 114.05, "lat": 22.55}]}
    table = decode(post(server, body, ARROW))
    assert table.column("id").type == pa.int64()
    community = table.column("community").combine_chunks()
    assert isinstance(community, pa.DictionaryArray)
    assert community.dictionary.to_pylist() == ["M2"]
    assert table.column("grid").null_count == 1  # M2 has no grids
    assert table.to_pylist()[0]["street"] == "S3"  # after the split


def test_a_batch_sent_as_an_arrow_table_is_answered_alike(server):
    sent = points(300, 8)
    table = pa.table(
        {
            "id": [p["id"] for p in sent],
            "lon": [p["lon"] for p in sent],
            "lat": [p["lat"] for p in sent],
        }
    )
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    for accept in (ARROW, "application/json"):
        answer = httpx.post(
            f"{server.url}/v1/lookup/batch",
            params={"date": "2016-06-01", "levels": "street,grid"},
            content=sink.getvalue(),
            headers={"Content-Type": ARROW, "Accept": accept},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        reference = post(
            server, {"date": "2016-06-01", "levels": ["street", "grid"], "points": sent}, accept
        )
        if accept == ARROW:
            assert decode(answer).to_pylist() == decode(reference).to_pylist()
        else:
            assert answer.json() == reference.json()


def test_a_bad_arrow_table_is_refused_naming_what(server):
    good = pa.table({"lon": [114.05], "lat": [22.55]})

    def send(table: pa.Table | bytes, **params: str) -> httpx.Response:
        if isinstance(table, bytes):
            content = table
        else:
            sink = io.BytesIO()
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
            content = sink.getvalue()
        return httpx.post(
            f"{server.url}/v1/lookup/batch",
            params=params,
            content=content,
            headers={"Content-Type": ARROW, "Accept": ARROW},
            timeout=30,
        )

    cases = [
        (send(b"not arrow at all"), "body"),
        (send(pa.table({"lon": [114.05]})), "body.lat"),
        (send(pa.table({"lon": ["x"], "lat": [22.5]})), "body.lon"),
        (send(good.append_column("colour", pa.array(["red"]))), "body.colour"),
        (send(good, date="2017-02-30"), "query.date"),
        (send(good, offices="true"), "query.offices"),
    ]
    for response, location in cases:
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"][0]["location"] == location
    unknown_level = send(good, levels="grid,province")
    assert unknown_level.status_code == 422
    assert unknown_level.json()["error"]["details"][0]["location"] == "query.levels[1]"


def test_accept_is_negotiated(server):
    body = {"points": [{"id": 1, "lon": 114.05, "lat": 22.55}]}
    for accept in ("", "*/*", "application/json", "text/html;q=0.9, */*;q=0.1"):
        answer = post(server, body, accept)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
    preferred = post(server, body, f"application/json;q=0.5, {ARROW}")
    assert preferred.headers["content-type"] == ARROW
    refused = post(server, body, "text/html")
    assert refused.status_code == 406
    assert refused.json()["error"]["code"] == "not_acceptable"
    assert refused.json()["error"]["details"][0]["location"] == "header.accept"
    offices = post(server, {**body, "offices": True}, ARROW)
    assert offices.status_code == 406
