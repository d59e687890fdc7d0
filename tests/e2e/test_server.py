"""The pre-fork server: workers share one preloaded lookup index and stop with the parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.db


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_workers_adopt_the_preloaded_index_and_stop_with_the_parent(demo_database: str):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = ROOT / "artifacts" / f"server-prefork-{port}.log"
    log.parent.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "jurisdictions.cli", "serve", "--port", str(port)]
    with log.open("w") as out:
        process = subprocess.Popen(
            [*command, "--workers", "2"],
            env={**os.environ, "DATABASE_URL": demo_database},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        deadline = time.monotonic() + 60
        ready: dict[str, Any] = {}
        while time.monotonic() < deadline and len(children(process.pid)) < 2:
            time.sleep(0.2)
        workers = children(process.pid)
        assert len(workers) == 2
        # Every worker (ten answers in a row on new connections) answers from memory at once:
        # none loaded the index itself.
        in_a_row = 0
        while time.monotonic() < deadline and in_a_row < 10:
            try:
                ready = httpx.get(f"{url}/readyz", timeout=2).json()["lookup_index"]
                in_a_row = in_a_row + 1 if ready["current"] else 0
            except httpx.TransportError:
                in_a_row = 0
            time.sleep(0.1)
        assert ready["current"] and ready["unit_versions"] > 10_000
        assert ready["load_seconds"] > 0  # the parent's load
        text = log.read_text()
        assert "lookup index preloaded for all workers" in text
        assert "(full)" not in text  # no worker loaded the index itself
        response = httpx.get(f"{url}/v1/lookup", params={"lon": 114.029, "lat": 22.679})
        assert response.status_code == 200 and response.headers["x-read-from"] == "memory"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
