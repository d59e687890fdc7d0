"""Schemathesis against /openapi.json: no 5xx, and every response as the schema says."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jurisdictions.bootstrap import build_services
from jurisdictions.settings import Settings
from tests import scenario
from tests.conftest import DatabaseFactory, LiveServer

pytestmark = [pytest.mark.db, pytest.mark.slow]

CHECKS = (
    "not_a_server_error",
    "response_schema_conformance",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
)


@pytest.fixture
def fuzzed_server(
    databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, str]]:
    url = databases.fresh()
    jobs = tmp_path_factory.mktemp("fuzzed-jobs")
    (jobs / "inputs").mkdir()
    services = build_services(Settings(database_url=url, run_projection=False))
    try:
        scenario.build(services.register)
        services.worker.catch_up()
        _, token = services.tokens.create("editor", "schemathesis")
    finally:
        services.close()
    # Jobs configured (with nothing to read), so that /v1/jobs is fuzzed past its set-up check.
    server = LiveServer(
        url, JL_JOBS_DIR=str(jobs / "outputs"), JL_JOBS_INPUT_DIR=str(jobs / "inputs")
    )
    yield server, token
    server.stop()
    databases.drop(url)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    fuzzed_server: tuple[LiveServer, str], tmp_path: Path
):
    server, token = fuzzed_server
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{server.url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        os.environ.get("JL_SCHEMATHESIS_EXAMPLES", "40"),
        # One worker: Hypothesis' lambda introspection is not thread-safe.
        "--workers",
        "1",
        "--seed",
        "20151226",
        "-H",
        f"Authorization: Bearer {token}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    report = Path(__file__).resolve().parents[2] / "artifacts" / "schemathesis.txt"
    report.parent.mkdir(exist_ok=True)
    report.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-5000:]
    assert " passed" in result.stdout
