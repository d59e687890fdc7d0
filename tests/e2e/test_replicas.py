"""Reads from a real streaming replica (pg_basebackup, a second port on loopback), writes to
the primary: reads are served by the replica, an edit is read back at once (the read waits for
the replica to replay it), and reads fall back to the primary when the replica stops."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jurisdictions.bootstrap import build_services
from jurisdictions.cli import migrate
from jurisdictions.settings import Settings
from tests import scenario
from tests.conftest import LiveServer, free_port
from tests.e2e.test_database_restart import as_postgres, private_cluster  # noqa: F401

pytestmark = [pytest.mark.db, pytest.mark.slow]


@pytest.fixture
def primary_and_replica(private_cluster: tuple[str, Path]) -> Iterator[tuple[str, str, Path]]:  # noqa: F811
    primary_url, primary_dir = private_cluster
    migrate(Settings(database_url=primary_url))
    services = build_services(Settings(database_url=primary_url, run_projection=False))
    try:
        scenario.build(services.register)
        services.worker.catch_up()
    finally:
        services.close()
    replica_dir = primary_dir.with_name(primary_dir.name + "-replica")
    port = free_port()
    primary_port = primary_url.rpartition(":")[2].split("/")[0]
    as_postgres(
        "pg_basebackup",
        "-h",
        "127.0.0.1",
        "-p",
        primary_port,
        "-U",
        "postgres",
        "-D",
        str(replica_dir),
        "-R",
        "-X",
        "stream",
        "--checkpoint=fast",
    )
    log = str(replica_dir / "server.log")
    options = f"-p {port} -c unix_socket_directories={replica_dir}"
    as_postgres("pg_ctl", "-D", str(replica_dir), "-l", log, "-o", options, "-w", "start")
    replica_url = primary_url.replace(f":{primary_port}/", f":{port}/")
    yield primary_url, replica_url, replica_dir
    as_postgres("pg_ctl", "-D", str(replica_dir), "-m", "immediate", "stop", check=False)
    shutil.rmtree(replica_dir, ignore_errors=True)


def test_reads_from_the_replica_writes_to_the_primary(primary_and_replica: tuple[str, str, Path]):
    primary_url, replica_url, replica_dir = primary_and_replica
    services = build_services(Settings(database_url=primary_url, run_projection=False))
    try:
        _, token = services.tokens.create("editor", "replica test")
    finally:
        services.close()
    # Lookups from memory are off: this test is about where SQL reads go.
    server = LiveServer(
        primary_url, JL_REPLICA_URLS=replica_url, JL_REPLICA_MAX_WAIT="10", JL_LOOKUP_INDEX="false"
    )
    point: dict[str, str | float] = {"lon": 114.02, "lat": 22.52, "date": "2021-06-01"}
    try:
        first = httpx.get(f"{server.url}/v1/lookup", params=point, timeout=10)
        assert first.status_code == 200 and first.headers["x-read-from"] == "replica"
        assert [u["code"] for u in first.json()["units"]][:4] == ["C", "D1", "S1", "M1"]

        edit = {
            "effective": "2021-01-01",
            "reason": "rename on the primary",
            "operations": [{"op": "rename", "unit": "M1", "name": "M1 after the edit"}],
        }
        response = httpx.post(
            f"{server.url}/v1/changesets",
            json=edit,
            timeout=30,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201
        position = response.json()["position"]
        # Read your writes: the very next read sees the edit, wherever it is served from.
        after = httpx.get(
            f"{server.url}/v1/lookup",
            params=point,
            timeout=30,
            headers={"X-Min-Position": str(position)},
        )
        community = next(u for u in after.json()["units"] if u["level"] == "community")
        assert community["name"] == "M1 after the edit"
        assert after.headers["x-read-from"] == "replica"

        as_postgres("pg_ctl", "-D", str(replica_dir), "-m", "fast", "stop")
        fallback = httpx.get(f"{server.url}/v1/lookup", params=point, timeout=30)
        assert fallback.status_code == 200
        assert fallback.headers["x-read-from"] == "primary"
        community = next(u for u in fallback.json()["units"] if u["level"] == "community")
        assert community["name"] == "M1 after the edit"
        time.sleep(0.1)
        again = httpx.get(f"{server.url}/v1/lookup", params=point, timeout=30)
        assert again.status_code == 200 and again.headers["x-read-from"] == "primary"
    finally:
        server.stop()
