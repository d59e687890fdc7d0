"""A catalogue of bad inputs (tests/e2e/data/bad_inputs.json), each sent over HTTP.

Each must get a 4xx in the contract's shape; after the whole catalogue, the event store and
every read-model table are exactly as they were.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from jurisdictions.bootstrap import build_services
from jurisdictions.settings import Settings
from tests import scenario
from tests.conftest import DatabaseFactory, LiveServer
from tests.integration.test_projection import SNAPSHOT_QUERIES

pytestmark = pytest.mark.db

CATALOGUE = json.loads((Path(__file__).parent / "data" / "bad_inputs.json").read_text())


def test_the_catalogue_is_large_enough():
    assert len(CATALOGUE) >= 50
    assert len({case["name"] for case in CATALOGUE}) == len(CATALOGUE)


@pytest.fixture(scope="module")
def target(
    databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, str, dict[str, str]]]:
    url = databases.fresh()
    jobs = tmp_path_factory.mktemp("bad-input-jobs")
    (jobs / "inputs").mkdir()
    (jobs / "inputs" / "records.csv").write_text("id,lon,lat\n1,114.05,22.55\n")
    services = build_services(Settings(database_url=url, run_projection=False))
    try:
        scenario.build(services.register)
        services.worker.catch_up()
        tokens = {
            "editor": services.tokens.create("editor", "careless editor")[1],
            "reader": services.tokens.create("reader", "an app")[1],
            "analyst": services.tokens.create("analyst", "careless analyst")[1],
            "bogus": "jl_00000000_not-a-real-token",
        }
    finally:
        services.close()
    server = LiveServer(
        url,
        JL_MAX_BATCH_POINTS="50",
        JL_MAX_BODY_BYTES="200000",
        JL_JOBS_DIR=str(jobs / "outputs"),
        JL_JOBS_INPUT_DIR=str(jobs / "inputs"),
    )
    yield server, url, tokens
    server.stop()
    databases.drop(url)


def _state(url: str) -> dict[str, list[tuple[Any, ...]]]:
    queries = {
        **SNAPSHOT_QUERIES,
        "events": "SELECT originator_id, originator_version, topic, state, notification_id "
        "FROM jurisdictionregister_events ORDER BY notification_id",
        "tracking": "SELECT application_name, notification_id FROM readmodel_tracking "
        "ORDER BY application_name",
        "jobs": "SELECT id FROM jobs ORDER BY id",
    }
    with psycopg.connect(url) as conn:
        return {name: conn.execute(query).fetchall() for name, query in queries.items()}


def _send(server: LiveServer, tokens: dict[str, str], case: dict[str, Any]) -> httpx.Response:
    """Send one case as written: its method, raw path, query, headers and body.

    Case keys: `path` (sent as is: percent-escapes stay escaped), `query`, `headers`,
    `auth` (a token role), `content_type`, and one body: `json`, `raw` (text), `raw_b64`
    (bytes), `nest` (JSON nested that deep), `pad_bytes` (a change set that large) or
    `upload` (a multipart import: `filename`, `text` or `b64`, and `form` fields).
    """
    headers = dict(case.get("headers", {}))
    if case.get("auth"):
        headers["Authorization"] = f"Bearer {tokens[case['auth']]}"
    if "content_type" in case:
        headers["Content-Type"] = case["content_type"]
    content: bytes | None = None
    files: dict[str, tuple[str, bytes]] | None = None
    data: dict[str, str] | None = None
    if "pad_bytes" in case:
        content = json.dumps(
            {"effective": "2021-01-01", "reason": "x" * case["pad_bytes"], "operations": []}
        ).encode()
    elif "nest" in case:
        content = ("[" * case["nest"] + "]" * case["nest"]).encode()
    elif "raw_b64" in case:
        content = base64.b64decode(case["raw_b64"])
    elif "raw" in case:
        content = case["raw"].encode("utf-8", "surrogatepass")
    elif "json" in case:
        content = json.dumps(case["json"]).encode()
    elif "upload" in case:
        upload = case["upload"]
        body = (
            base64.b64decode(upload["b64"])
            if "b64" in upload
            else upload["text"].encode("utf-8", "surrogatepass")
        )
        files = {"file": (upload["filename"], body)}
        data = upload.get("form", {})
    url = httpx.URL(f"{server.url}{case['path']}")
    with httpx.Client(timeout=60) as client:
        request = client.build_request(
            case["method"],
            url,
            params=case.get("query"),
            content=content,
            files=files,
            data=data,
            headers=headers,
        )
        return client.send(request)


def _leaks(case: dict[str, Any], response: httpx.Response) -> list[str]:
    """What the answer must never contain (a server file's lines, a path, SQL text)."""
    return [text for text in case.get("must_not_contain", []) if text in response.text]


def test_every_bad_input_gets_a_clear_4xx_and_changes_nothing(
    target: tuple[LiveServer, str, dict[str, str]],
):
    server, url, tokens = target
    before = _state(url)
    failures = []
    for case in CATALOGUE:
        response = _send(server, tokens, case)
        body = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else None
        )
        error = (body or {}).get("error", {})
        if (
            response.status_code not in case["status"]
            or not error.get("message")
            or not error.get("code")
            or _leaks(case, response)
        ):
            failures.append(f"{case['name']}: {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures)
    assert _state(url) == before
    ready = httpx.get(f"{server.url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["projection"]["lag"] == 0
