"""Bulk assignment jobs over real HTTP: submitted, run on a real Dask LocalCluster by the
server's runner, polled, downloaded and compared with the lookup service; restarts, roles,
hostile paths and bad specs.

The records are synthetic (fixed seed) on the scenario city (tests/scenario.py): random
points over and around it, its vertices and edge midpoints, on both sides of the
2016-12-26 split of street S1.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg.types.json import Jsonb

from api.columnar import PARQUET
from tests.conftest import DatabaseFactory, LiveServer, scenario_database

pytestmark = [pytest.mark.db, pytest.mark.slow]

LEVELS = ["city", "district", "street", "community", "grid"]
BEFORE, AFTER = "2016-06-01", "2017-06-01"


def records(seed: int = 17) -> pa.Table:
    """Synthetic records: random points over the city and beyond, plus its box corners and
    edge midpoints (on boundaries)."""
    rng = np.random.default_rng(seed)
    xs = list(rng.uniform(113.98, 114.22, 240))
    ys = list(rng.uniform(22.48, 22.72, 240))
    for x in (114.0, 114.04, 114.07, 114.1, 114.2):
        for y in (22.5, 22.55, 22.6, 22.65, 22.7):
            xs.append(x)
            ys.append(y)
    count = len(xs)
    return pa.table(
        {
            "rid": pa.array(np.arange(1, count + 1), pa.int64()),
            "x": pa.array(np.round(xs, 6)),
            "y": pa.array(np.round(ys, 6)),
            "persons": pa.array(rng.integers(1, 5, count), pa.int64()),
        }
    )


@pytest.fixture(scope="module")
def jobs_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("jobs")
    inputs, outputs, secret = root / "inputs", root / "outputs", root / "secret"
    for folder in (inputs / "library", outputs, secret):
        folder.mkdir(parents=True)
    table = records()
    half = table.num_rows // 2
    pq.write_table(table.slice(0, half), inputs / "library" / "a.parquet")
    pq.write_table(table.slice(half), inputs / "library" / "b.parquet")
    (secret / "s.csv").write_text("rid,x,y\n1,114.05,22.55\n")
    (inputs / "escape").symlink_to(secret)
    return {"inputs": inputs, "outputs": outputs, "secret": secret}


def server_env(dirs: dict[str, Path]) -> dict[str, str]:
    return {
        "JL_JOBS_DIR": str(dirs["outputs"]),
        "JL_JOBS_INPUT_DIR": str(dirs["inputs"]),
        "JL_JOBS_WORKERS": "1",
        "JL_JOBS_POLL_SECONDS": "0.2",
    }


@pytest.fixture(scope="module")
def jobs_server(
    databases: DatabaseFactory, jobs_env: dict[str, Path]
) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    url, tokens = scenario_database(
        databases, ("analyst", "ana"), ("analyst", "bea"), ("reader", "app"), ("editor", "ed")
    )
    server = LiveServer(url, **server_env(jobs_env))
    yield server, dict(zip(["ana", "bea", "reader", "editor"], tokens, strict=True))
    server.stop()
    databases.drop(url)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def submit(server: LiveServer, token: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/jobs", json=body, headers=auth(token), timeout=30)


def wait_done(server: LiveServer, token: str, job_id: str, timeout: float = 180) -> dict[str, Any]:
    """Poll a job until it is no longer accepted or running; its last status."""
    deadline = time.monotonic() + timeout
    seen = set()
    while time.monotonic() < deadline:
        status = httpx.get(f"{server.url}/v1/jobs/{job_id}", headers=auth(token), timeout=30)
        assert status.status_code == 200, status.text
        info: dict[str, Any] = status.json()
        seen.add(info["status"])
        if info["status"] not in ("accepted", "running"):
            info["seen"] = seen
            return info
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still {seen} after {timeout} s:\n{server.log.read_text()}")


LIBRARY = {"path": "library", "id_column": "rid", "lon_column": "x", "lat_column": "y"}


def lookups(server: LiveServer, table: pa.Table, day: str) -> dict[int, dict[str, Any]]:
    """Each record's codes per level and boundary flag, as /v1/lookup/batch answers."""
    points = [
        {"id": rid, "lon": x, "lat": y}
        for rid, x, y in zip(
            table.column("rid").to_pylist(),
            table.column("x").to_pylist(),
            table.column("y").to_pylist(),
            strict=True,
        )
    ]
    answer = httpx.post(
        f"{server.url}/v1/lookup/batch", json={"date": day, "points": points}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    out = {}
    for result in answer.json()["results"]:
        row: dict[str, Any] = dict.fromkeys(LEVELS)
        for unit in result["units"]:
            row[unit["level"]] = unit["code"]
        row["on_boundary"] = any(u["on_boundary"] for u in result["units"])
        out[result["id"]] = row
    return out


def test_an_assignment_job_runs_and_its_parquet_equals_the_lookups(jobs_server):
    server, tokens = jobs_server
    created = submit(server, tokens["ana"], {"source": LIBRARY, "dates": [AFTER]})
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["status"] == "accepted"
    assert created.headers["location"] == f"/v1/jobs/{job['jobID']}"
    info = wait_done(server, tokens["ana"], job["jobID"])
    assert info["status"] == "successful", info
    assert info["partitions_done"] == info["partitions_total"] == 2
    assert info["records_done"] == records().num_rows
    assert info["progress"] == 100
    assert info["started"] and info["finished"]
    assert any(link["rel"].endswith("/results") for link in info["links"])

    listing = httpx.get(
        f"{server.url}/v1/jobs/{job['jobID']}/results", headers=auth(tokens["ana"]), timeout=30
    ).json()
    parts = [f for f in listing["files"] if f["name"].endswith(".parquet")]
    assert len(parts) == 2
    tables = []
    for part in parts:
        response = httpx.get(
            f"{server.url}{part['href']}",
            headers={**auth(tokens["ana"]), "Accept-Encoding": "gzip"},
            timeout=30,
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/vnd.apache.parquet"
        assert len(response.content) == part["size"]
        # zstd inside already: sent as written, not gzipped again, its length known.
        assert part["size"] > 1024 and "content-encoding" not in response.headers
        assert int(response.headers["content-length"]) == part["size"]
        tables.append(pq.read_table(io.BytesIO(response.content)))
    table = pa.concat_tables(tables)
    expected = lookups(server, records(), AFTER)
    assert table.num_rows == len(expected)
    mismatches = []
    for row in table.to_pylist():
        found = {level: row[level] for level in LEVELS}
        found["on_boundary"] = row["on_boundary"]
        if found != expected[row["rid"]]:
            mismatches.append((row, expected[row["rid"]]))
    assert not mismatches
    assert any(r["on_boundary"] for r in table.to_pylist())
    assert any(r["city"] is None for r in table.to_pylist())  # outside records are kept
    # A sample against the single lookup too.
    for row in table.to_pylist()[:8]:
        rid = row["rid"]
        x, y = records().column("x")[rid - 1].as_py(), records().column("y")[rid - 1].as_py()
        single = httpx.get(
            f"{server.url}/v1/lookup", params={"lon": x, "lat": y, "date": AFTER}, timeout=30
        ).json()
        assert {u["level"]: u["code"] for u in single["units"]} == {
            level: row[level] for level in LEVELS if row[level] is not None
        }

    # Only the owner sees it; the listing holds it.
    other = httpx.get(f"{server.url}/v1/jobs/{job['jobID']}", headers=auth(tokens["bea"]))
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "job_not_found"
    mine = httpx.get(f"{server.url}/v1/jobs", headers=auth(tokens["ana"])).json()
    assert job["jobID"] in [j["jobID"] for j in mine["jobs"]]
    theirs = httpx.get(f"{server.url}/v1/jobs", headers=auth(tokens["bea"])).json()
    assert job["jobID"] not in [j["jobID"] for j in theirs["jobs"]]

    # Files outside the job's list are not served, however named.
    for name in ("job.jsonx", "..%2F..%2Fsecret%2Fs.csv", "%2E%2E/%2E%2E/secret/s.csv"):
        bad = httpx.get(
            f"{server.url}/v1/jobs/{job['jobID']}/results/{name}", headers=auth(tokens["ana"])
        )
        assert bad.status_code in (404, 422), bad.text
        assert "rid,x,y" not in bad.text

    # Dismissed: results gone.
    dismissed = httpx.delete(f"{server.url}/v1/jobs/{job['jobID']}", headers=auth(tokens["ana"]))
    assert dismissed.status_code == 200
    assert dismissed.json()["status"] == "dismissed"
    gone = httpx.get(f"{server.url}{parts[0]['href']}", headers=auth(tokens["ana"]))
    assert gone.status_code == 409
    assert gone.json()["error"]["code"] == "job_not_finished"


def test_an_aggregate_job_counts_per_unit_on_two_dates(jobs_server):
    server, tokens = jobs_server
    body = {
        "source": LIBRARY,
        "dates": [BEFORE, AFTER],
        "levels": ["street"],
        "aggregate": True,
        "sum_columns": ["persons"],
    }
    created = submit(server, tokens["editor"], body)  # editors may run jobs too
    assert created.status_code == 201, created.text
    info = wait_done(server, tokens["editor"], created.json()["jobID"])
    assert info["status"] == "successful", info
    assert any(link["href"].startswith("/maps/jobs/") for link in info["links"])
    counts = httpx.get(
        f"{server.url}/v1/jobs/{info['jobID']}/counts", headers=auth(tokens["editor"])
    ).json()
    assert counts["dates"] == [BEFORE, AFTER]
    assert counts["measures"] == ["records", "sum_persons"]
    table = records()
    persons = dict(
        zip(table.column("rid").to_pylist(), table.column("persons").to_pylist(), strict=True)
    )
    for day in (BEFORE, AFTER):
        expected: dict[str, list[float]] = {}
        for rid, row in lookups(server, table, day).items():
            if row["street"] is not None:
                found = expected.setdefault(row["street"], [0, 0.0])
                found[0] += 1
                found[1] += persons[rid]
        got = {
            u["code"]: [u["by_date"][day]["records"], u["by_date"][day]["sum_persons"]]
            for u in counts["units"]
            if day in u["by_date"]
        }
        assert got == expected
    streets = {
        day: {u["code"] for u in counts["units"] if day in u["by_date"]} for day in (BEFORE, AFTER)
    }
    assert "S3" in streets[AFTER] and "S3" not in streets[BEFORE]  # the split shows
    wrong_level = httpx.get(
        f"{server.url}/v1/jobs/{info['jobID']}/counts",
        params={"level": "grid"},
        headers=auth(tokens["editor"]),
    )
    assert wrong_level.status_code == 422
    assert wrong_level.json()["error"]["details"][0]["location"] == "query.level"


def test_jobs_need_an_analyst_or_editor_token(jobs_server):
    server, tokens = jobs_server
    body = {"source": LIBRARY, "dates": [AFTER]}
    assert httpx.post(f"{server.url}/v1/jobs", json=body).status_code == 401
    assert httpx.get(f"{server.url}/v1/jobs").status_code == 401
    bogus = submit(server, "jl_00000000_nope", body)
    assert bogus.status_code == 401
    reader = submit(server, tokens["reader"], body)
    assert reader.status_code == 403
    assert reader.json()["error"]["code"] == "forbidden"
    assert httpx.get(f"{server.url}/v1/jobs", headers=auth(tokens["reader"])).status_code == 403


@pytest.mark.parametrize(
    ("body", "location", "code"),
    [
        ({"source": {**LIBRARY, "path": "../secret/s.csv"}}, "body.source.path", "path_outside"),
        ({"source": {**LIBRARY, "path": "escape/s.csv"}}, "body.source.path", "path_outside"),
        ({"source": {**LIBRARY, "path": "escape"}}, "body.source.path", "path_outside"),
        ({"source": {**LIBRARY, "path": "/etc/passwd"}}, "body.source.path", "path_outside"),
        ({"source": {**LIBRARY, "path": "nothing.parquet"}}, "body.source.path", "path_missing"),
        ({"source": {**LIBRARY, "lon_column": "lon"}}, "body.source.lon_column", "column_missing"),
        ({"levels": ["street", "nope"]}, "body.levels[1]", "level_unknown"),
        ({"dates": ["2017-02-30"]}, "body.dates[0]", "date_invalid"),
        ({"dates": [BEFORE, AFTER]}, "body.dates", "invalid_request"),
        ({"output": "/tmp/x"}, "body.output", "invalid_request"),
        ({"scheduler": "tcp://10.0.0.1:8786"}, "body.scheduler", "invalid_request"),
        ({"sum_columns": ["persons"]}, "body.sum_columns", "invalid_request"),
        ({"colour": "red"}, "body.colour", "invalid_request"),
        ({"source": {**LIBRARY, "crs": "EPSG:99999"}}, "body.source.crs", "crs_unknown"),
    ],
)
def test_bad_jobs_are_refused_naming_the_field(jobs_server, body, location, code):
    server, tokens = jobs_server
    before = httpx.get(f"{server.url}/v1/jobs", headers=auth(tokens["bea"])).json()["jobs"]
    response = submit(server, tokens["bea"], {"source": LIBRARY, "dates": [AFTER], **body})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_job"
    assert {"location": location, "code": code} in [
        {"location": d["location"], "code": d["code"]} for d in error["details"]
    ], error
    assert "rid,x,y" not in response.text and "root:" not in response.text
    after = httpx.get(f"{server.url}/v1/jobs", headers=auth(tokens["bea"])).json()["jobs"]
    assert after == before  # nothing stored


def test_a_job_interrupted_by_a_restart_runs_again(
    databases: DatabaseFactory, jobs_env: dict[str, Path]
):
    url, (token,) = scenario_database(databases, ("analyst", "ana"))
    spec = {
        "source": {**LIBRARY, "crs": "EPSG:4326", "date_column": None},
        "dates": [AFTER],
        "levels": ["street"],
        "aggregate": False,
        "sum_columns": [],
    }
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO jobs (id, owner, spec, status, attempts, started, progress) VALUES "
            "('00000000000000aa', 'ana', %s, 'running', 1, now(), %s), "
            "('00000000000000bb', 'ana', %s, 'running', 3, now(), '{}')",
            (Jsonb(spec), Jsonb({"partitions_done": 1, "partitions_total": 2}), Jsonb(spec)),
        )
    (jobs_env["outputs"] / "00000000000000aa").mkdir()
    (jobs_env["outputs"] / "00000000000000aa" / "part-99999.parquet").write_bytes(b"partial")
    server = LiveServer(url, **server_env(jobs_env))
    try:
        rerun = wait_done(server, token, "00000000000000aa")
        assert rerun["status"] == "successful", rerun
        assert rerun["attempts"] == 2
        assert rerun["records_done"] == records().num_rows
        files = rerun["result"]["files"]
        assert "part-99999.parquet" not in files  # the interrupted run's output is gone
        assert not (jobs_env["outputs"] / "00000000000000aa" / "part-99999.parquet").exists()
        given_up = wait_done(server, token, "00000000000000bb")
        assert given_up["status"] == "failed"
        assert given_up["error"]["code"] == "interrupted"
        assert "3 times" in given_up["message"]
        log = server.log.read_text()
        assert "00000000000000aa: attempt 1 was interrupted" in log
    finally:
        server.stop()
        databases.drop(url)


def test_without_job_directories_jobs_are_refused(databases: DatabaseFactory):
    url, (token,) = scenario_database(databases, ("analyst", "ana"))
    server = LiveServer(url, JL_JOBS_DIR="", JL_JOBS_INPUT_DIR="")
    try:
        response = submit(server, token, {"source": LIBRARY, "dates": [AFTER]})
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "jobs_not_configured"
    finally:
        server.stop()
        databases.drop(url)


def test_records_with_their_own_dates_follow_the_split(jobs_server, jobs_env):
    server, tokens = jobs_server
    table = records(seed=5)
    days = [BEFORE if i % 2 else AFTER for i in range(table.num_rows)]
    dated = table.append_column("day", pa.array(days))
    (jobs_env["inputs"] / "dated").mkdir(exist_ok=True)
    pq.write_table(dated, jobs_env["inputs"] / "dated" / "d.parquet")
    body = {"source": {**LIBRARY, "path": "dated", "date_column": "day"}, "levels": ["street"]}
    created = submit(server, tokens["ana"], body)
    assert created.status_code == 201, created.text
    info = wait_done(server, tokens["ana"], created.json()["jobID"])
    assert info["status"] == "successful", info
    part = next(f for f in info["result"]["files"] if f.endswith(".parquet"))
    raw = httpx.get(
        f"{server.url}/v1/jobs/{info['jobID']}/results/{part}", headers=auth(tokens["ana"])
    )
    got = {r["rid"]: r["street"] for r in pq.read_table(io.BytesIO(raw.content)).to_pylist()}
    expected = {}
    for day in (BEFORE, AFTER):
        subset = table.filter(pa.array([d == day for d in days]))
        expected.update({rid: row["street"] for rid, row in lookups(server, subset, day).items()})
    assert got == expected
    assert "S3" in got.values()


def test_job_environment_is_documented():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "jobs.md").read_text()
    for setting in ("JL_JOBS_DIR", "JL_JOBS_INPUT_DIR", "JL_DASK_SCHEDULER", "analyst"):
        assert setting in docs


def test_dismissed_jobs_stop_or_never_start(jobs_server, jobs_env):
    server, tokens = jobs_server
    many = jobs_env["inputs"] / "many"
    many.mkdir(exist_ok=True)
    table = records(seed=9)
    for i in range(40):
        pq.write_table(table, many / f"p{i:02d}.parquet")
    body = {"source": {**LIBRARY, "path": "many"}, "dates": [AFTER]}
    first = submit(server, tokens["ana"], body).json()["jobID"]
    second = submit(server, tokens["ana"], body).json()["jobID"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        info = httpx.get(f"{server.url}/v1/jobs/{first}", headers=auth(tokens["ana"])).json()
        if info["status"] == "running" and info["partitions_done"] >= 1:
            break
        time.sleep(0.1)
    assert info["status"] == "running", info
    waiting = httpx.delete(f"{server.url}/v1/jobs/{second}", headers=auth(tokens["ana"]))
    assert waiting.json()["status"] == "dismissed"
    running = httpx.delete(f"{server.url}/v1/jobs/{first}", headers=auth(tokens["ana"]))
    assert running.json()["status"] == "dismissed"
    time.sleep(3)  # the runner notices at its next partition, then looks for more work
    for job_id in (first, second):
        info = httpx.get(f"{server.url}/v1/jobs/{job_id}", headers=auth(tokens["ana"])).json()
        assert info["status"] == "dismissed"
        assert not (jobs_env["outputs"] / job_id).exists()
    assert info["started"] is None  # the second never ran
    # The runner goes on with the next job.
    third = submit(server, tokens["ana"], {"source": LIBRARY, "dates": [AFTER]}).json()
    assert wait_done(server, tokens["ana"], third["jobID"])["status"] == "successful"


def test_parquet_answers_are_not_gzipped_again_json_and_arrow_are(jobs_server):
    """Parquet is compressed inside (snappy, zstd): gzip would only cost cores. An Arrow IPC
    stream is written uncompressed and JSON is text: both still come gzipped when asked."""
    server, _ = jobs_server
    points = [
        {"id": i, "lon": 114.0 + (i % 50) * 0.004, "lat": 22.5 + (i // 50) * 0.004}
        for i in range(2_000)
    ]
    body = {"date": AFTER, "points": points}
    encodings = {}
    for accept in ("application/json", "application/vnd.apache.arrow.stream", PARQUET):
        answer = httpx.post(
            f"{server.url}/v1/lookup/batch",
            json=body,
            headers={"Accept": accept, "Accept-Encoding": "gzip"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith(accept)
        assert len(answer.content) > 1024  # over the size gzip starts at
        encodings[accept] = answer.headers.get("content-encoding")
    assert encodings == {
        "application/json": "gzip",
        "application/vnd.apache.arrow.stream": "gzip",
        PARQUET: None,
    }


#: Column names a records file may really have (Parquet allows any text; a CSV header any
#: byte but NUL): a NUL, a terminal escape that would retitle the window, a 5,000-character
#: name. A job asking for one is refused by name, escaped and cut; so is a missing column
#: among them (the message lists the file's columns).
NUL_NAME = "a\x00b"
ESCAPE_NAME = "\x1b]0;owned\x07id"
LONG_NAME = "L" * 5000


def hostile_inputs(inputs: Path) -> None:
    folder = inputs / "hostile"
    folder.mkdir(exist_ok=True)
    table = records().slice(0, 20)
    hostile = {
        "rid": table.column("rid"),
        "x": table.column("x"),
        "y": table.column("y"),
        NUL_NAME: table.column("rid"),
        ESCAPE_NAME: table.column("rid"),
        LONG_NAME: table.column("rid"),
    }
    pq.write_table(pa.table(hostile), folder / "h.parquet")
    lines = [f'rid,x,y,"{ESCAPE_NAME}",{LONG_NAME}']
    lines += [
        f"{r},{x},{y},{r},{r}"
        for r, x, y in zip(*(hostile[k].to_pylist() for k in ("rid", "x", "y")), strict=True)
    ]
    (inputs / "hostile.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def assert_safe(message: str) -> None:
    """Nothing raw a terminal or a log would act on, and no 5,000 characters echoed."""
    assert not any(ord(c) < 32 for c in message), repr(message)
    assert LONG_NAME not in message and len(message) < 1500, len(message)


@pytest.mark.parametrize(
    ("path", "source", "location", "code", "says"),
    [
        (
            "hostile/h.parquet",
            {"id_column": NUL_NAME},
            "source.id_column",
            "column_invalid",
            r"'a\x00b'",
        ),
        (
            "hostile/h.parquet",
            {"id_column": ESCAPE_NAME},
            "source.id_column",
            "column_invalid",
            r"'\x1b]0;owned\x07id'",
        ),
        (
            "hostile/h.parquet",
            {"id_column": LONG_NAME},
            "source.id_column",
            "column_invalid",
            "(5000 characters)",
        ),
        (
            "hostile/h.parquet",
            {"lon_column": "longitude"},
            "source.lon_column",
            "column_missing",
            r"'a\x00b', '\x1b]0;owned\x07id', 'LLLL",
        ),
        (
            "hostile.csv",
            {"id_column": ESCAPE_NAME},
            "source.id_column",
            "column_invalid",
            r"'\x1b]0;owned\x07id'",
        ),
        (
            "hostile.csv",
            {"lat_column": "latitude"},
            "source.lat_column",
            "column_missing",
            r"'\x1b]0;owned\x07id', 'LLLL",
        ),
        (
            "hostile.csv",
            {"sum_columns": [NUL_NAME]},
            "sum_columns[0]",
            "column_invalid",
            r"'a\x00b'",
        ),
    ],
)
def test_hostile_column_names_are_refused_escaped_and_nothing_stored(
    jobs_server, jobs_env, path, source, location, code, says
):
    server, tokens = jobs_server
    hostile_inputs(jobs_env["inputs"])
    body: dict[str, Any] = {"source": {**LIBRARY, "path": path}, "dates": [AFTER]}
    for key, value in source.items():
        if key == "sum_columns":
            body.update(aggregate=True, sum_columns=value)
        else:
            body["source"][key] = value
    before = httpx.get(f"{server.url}/v1/jobs", headers=auth(tokens["bea"])).json()["jobs"]
    outputs = set(jobs_env["outputs"].iterdir())
    response = submit(server, tokens["bea"], body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_job"
    (detail,) = [d for d in error["details"] if d["location"] == f"body.{location}"]
    assert detail["code"] == code, error
    assert says in detail["message"], detail["message"]
    for text in (error["message"], *(d["message"] for d in error["details"])):
        assert_safe(text)
    after = httpx.get(f"{server.url}/v1/jobs", headers=auth(tokens["bea"])).json()["jobs"]
    assert after == before  # nothing stored
    assert set(jobs_env["outputs"].iterdir()) == outputs


def test_the_cli_refuses_hostile_column_names_escaped_and_writes_nothing(
    jobs_server, jobs_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    from jurisdictions import cli
    from jurisdictions.settings import get_settings

    server, _ = jobs_server
    hostile_inputs(jobs_env["inputs"])
    monkeypatch.setenv("DATABASE_URL", server.database_url)
    get_settings.cache_clear()
    try:
        for asked in (NUL_NAME, ESCAPE_NAME, LONG_NAME):
            out = tmp_path / "out"
            argv = ["assign", str(jobs_env["inputs"] / "hostile" / "h.parquet")]
            argv += ["--output", str(out), "--date", AFTER, "--workers", "1"]
            argv += ["--id-column", asked, "--lon-column", "x", "--lat-column", "y"]
            assert cli.main(argv) == 2
            err = capsys.readouterr().err
            assert "source.id_column: the column name" in err, err
            assert "\x1b" not in err and "\x00" not in err and "\x07" not in err
            assert LONG_NAME not in err
            assert not out.exists() or not any(out.iterdir())
    finally:
        get_settings.cache_clear()
