"""A stalled projection, as an operator sees it: `/readyz` and `jurisdictions status`.

A poison event (stored as an older release without the text rule would have: see
tests/integration/test_projection_stall.py) stops the live server's projection; `/readyz`
says where and why with a 503, `jurisdictions status` exits non-zero saying so, later writes
are stored but not shown, and once the event is dealt with the server resumes by itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from jurisdictions.bootstrap import build_services
from jurisdictions.settings import Settings
from tests.conftest import ROOT, DatabaseFactory, LiveServer, scenario_database
from tests.integration.test_projection_stall import delete_event, store_poison

pytestmark = pytest.mark.db


def until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll `check` until it returns something truthy (the server retries on its own)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def status(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jurisdictions.cli", "status"],
        env={**os.environ, "DATABASE_URL": url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_stalled_projection_is_reported_and_resumes_once_fixed(databases: DatabaseFactory):
    url, (editor,) = scenario_database(databases, ("editor", "Editor Wang"))
    server = LiveServer(url)
    services = build_services(Settings(database_url=url, run_projection=False))
    try:
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert ready.json()["projection"]["stalled"] is None

        poison = store_poison(services)
        write = httpx.post(
            f"{server.url}/v1/changesets",
            json={
                "effective": "2030-01-01",
                "reason": "after the poison",
                "operations": [{"op": "rename", "unit": "M1", "name": "After"}],
            },
            headers={"Authorization": f"Bearer {editor}"},
            timeout=60,
        )
        assert write.status_code == 202, write.text  # stored, never visible while stalled
        later = write.json()["position"]
        assert later > poison

        def stalled_twice() -> dict[str, Any] | None:
            answer = httpx.get(f"{server.url}/readyz", timeout=10)
            if answer.status_code != 503:
                return None
            body: dict[str, Any] = answer.json()
            return body if body["projection"]["stalled"]["attempts"] >= 2 else None

        body = until(stalled_twice, "/readyz to report the stall twice")
        assert body["status"] == "stalled"
        assert body["error"]["code"] == "projection_stalled"
        stall = body["projection"]["stalled"]
        assert stall["position"] == poison
        assert stall["event_topic"] == "domain.changesets:ChangeSet.Recorded"
        assert stall["reason"] == (
            "DataError: PostgreSQL text fields cannot contain NUL (0x00) bytes"
        )
        assert body["projection"]["position"] == poison - 1
        assert body["projection"]["head"] == later
        assert body["projection"]["lag"] == later - poison + 1
        message = body["error"]["message"]
        assert f"stalled at event {poison}" in message and stall["since"] in message
        detail = body["error"]["details"][0]
        assert (detail["position"], detail["head"], detail["lag"]) == (
            poison,
            later,
            later - poison + 1,
        )
        for leak in ("SELECT", "COPY", "INSERT", str(ROOT)):
            assert leak not in answer_text(server)

        printed = status(url)
        assert printed.returncode == 1, printed.stdout + printed.stderr
        assert f"STALLED: the projection cannot apply event {poison}" in printed.stdout
        assert "cannot contain NUL" in printed.stdout

        # The later change set is stored, not shown.
        unit = httpx.get(f"{server.url}/v1/units/M1", params={"date": "2030-06-01"}, timeout=10)
        assert unit.json()["properties"]["name"] != "After"

        # The full traceback once; then one line per attempt.
        log = server.log.read_text()
        assert log.count(f"projection stalled at event {poison}") == 1
        assert f"projection still stalled at event {poison}" in log
        assert log.count("Traceback") >= 1
        assert "Traceback" not in log.split(f"projection still stalled at event {poison}", 1)[1]

        delete_event(url, poison)  # what a fixed release amounts to for this event

        def ready_again() -> dict[str, Any] | None:
            answer = httpx.get(f"{server.url}/readyz", timeout=10)
            return answer.json() if answer.status_code == 200 else None

        body = until(ready_again, "/readyz to be ready again", timeout=120)
        assert body["projection"]["stalled"] is None
        assert body["projection"]["position"] == body["projection"]["head"] == later
        unit = httpx.get(f"{server.url}/v1/units/M1", params={"date": "2030-06-01"}, timeout=10)
        assert unit.json()["properties"]["name"] == "After"
        assert status(url).returncode == 0
        # Logged once the catch-up that cleared the stall returns.
        until(
            lambda: f"projection resumed past event {poison}" in server.log.read_text(),
            "the projection to log that it resumed",
        )
    finally:
        services.close()
        server.stop()
        databases.drop(url)


def answer_text(server: LiveServer) -> str:
    return httpx.get(f"{server.url}/readyz", timeout=10).text
