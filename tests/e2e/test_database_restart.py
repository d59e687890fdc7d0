"""PostgreSQL restarted while the API is under load: the API recovers by itself within
seconds; meanwhile clients get 503 with Retry-After, never a wrong answer."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jurisdictions.bootstrap import build_services
from jurisdictions.cli import migrate
from jurisdictions.settings import Settings
from tests import scenario
from tests.conftest import ROOT, LiveServer, free_port

pytestmark = [pytest.mark.db, pytest.mark.slow]

PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))


def as_postgres(program: str, *args: str, check: bool = True) -> None:
    """Run a PostgreSQL program as the postgres user, with no pipe a server could inherit."""
    subprocess.run(
        ["runuser", "-u", "postgres", "--", str(PG_BIN[-1].with_name(program)), *args],
        check=check,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=180,
    )


@pytest.fixture
def private_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A PostgreSQL of our own, on its own port, that this test may restart."""
    if os.geteuid() != 0 or not PG_BIN:
        pytest.skip("needs root and Debian's PostgreSQL to run a private cluster")
    folder = Path("/tmp") / f"jl-restart-{os.getpid()}"
    port = free_port()
    env = {
        **os.environ,
        "JL_FORCE_PRIVATE_CLUSTER": "1",
        "JL_PGDATA": str(folder),
        "JL_PRIVATE_PORT": str(port),
        "JL_DB_NAME": "jl_restart",
    }
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "ensure_postgis.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    url = result.stdout.strip().splitlines()[-1]
    yield url, folder
    as_postgres("pg_ctl", "-D", str(folder), "-m", "immediate", "stop", check=False)
    shutil.rmtree(folder, ignore_errors=True)


def test_the_api_rides_out_a_database_restart(private_cluster: tuple[str, Path]):
    url, folder = private_cluster
    migrate(Settings(database_url=url))
    services = build_services(Settings(database_url=url, run_projection=False))
    try:
        scenario.build(services.register)
        services.worker.catch_up()
    finally:
        services.close()
    server = LiveServer(url)
    expected = httpx.get(
        f"{server.url}/v1/lookup",
        params={"lon": 114.02, "lat": 22.52, "date": "2020-01-01"},
        timeout=10,
    ).json()["units"]
    statuses: Counter[int] = Counter()
    wrong: list[object] = []
    missing_retry_after = 0
    stop = threading.Event()

    def load() -> None:
        nonlocal missing_retry_after
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                try:
                    response = client.get(
                        f"{server.url}/v1/lookup",
                        params={"lon": 114.02, "lat": 22.52, "date": "2020-01-01"},
                    )
                except httpx.HTTPError:
                    statuses[0] += 1
                    continue
                statuses[response.status_code] += 1
                if response.status_code == 200 and response.json()["units"] != expected:
                    wrong.append(response.json())
                if response.status_code == 503 and "retry-after" not in response.headers:
                    missing_retry_after += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        log = str(folder / "server.log")
        as_postgres("pg_ctl", "-D", str(folder), "-m", "fast", "-w", "-l", log, "restart")
        restarted = time.monotonic()
        recovered = None
        while time.monotonic() - restarted < 30:
            try:
                response = httpx.get(
                    f"{server.url}/v1/lookup",
                    params={"lon": 114.02, "lat": 22.52, "date": "2020-01-01"},
                    timeout=5,
                )
                if response.status_code == 200:
                    recovered = time.monotonic() - restarted
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        server.stop()
    assert recovered is not None and recovered < 10, f"did not recover within 10 s: {statuses}"
    assert not wrong, wrong[:3]
    assert set(statuses) <= {200, 503}, statuses
    assert missing_retry_after == 0
    assert statuses[200] > 10
