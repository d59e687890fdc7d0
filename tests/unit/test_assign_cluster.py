"""Where `jurisdictions assign` runs: --scheduler, else the JL_DASK_SCHEDULER setting, else a
LocalCluster; the same rule the HTTP jobs use (`Settings.job_cluster`). Only the resolved
spec is checked: no cluster is started."""

from __future__ import annotations

import subprocess
import sys

import pytest

from jurisdictions.cli import build_parser
from jurisdictions.commands.bulk import spec_from_args
from jurisdictions.settings import Settings
from tests.conftest import ROOT

CLUSTER = "tcp://10.0.0.5:8786"
URL = "postgresql://postgres@127.0.0.1:5432/jurisdictions"


def spec(*extra: str, settings: Settings) -> tuple[str | None, int | None]:
    args = build_parser().parse_args(["assign", "records.csv", "--output", "out", *extra])
    resolved = spec_from_args(args, settings)
    return resolved.scheduler, resolved.workers


def test_without_scheduler_assign_takes_the_setting_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("JL_DASK_SCHEDULER", CLUSTER)
    monkeypatch.setenv("JL_JOBS_WORKERS", "3")
    assert spec(settings=Settings(database_url=URL)) == (CLUSTER, 3)


def test_the_command_line_wins_over_the_setting():
    settings = Settings(database_url=URL, dask_scheduler=CLUSTER, jobs_workers=3)
    assert spec("--scheduler", "tcp://other:8786", "--workers", "2", settings=settings) == (
        "tcp://other:8786",
        2,
    )


def test_with_neither_a_local_cluster(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("JL_DASK_SCHEDULER", raising=False)
    monkeypatch.delenv("JL_JOBS_WORKERS", raising=False)
    assert spec(settings=Settings(database_url=URL)) == (None, None)


def test_the_help_names_the_setting():
    shown = subprocess.run(
        [sys.executable, "-m", "jurisdictions.cli", "assign", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "JL_DASK_SCHEDULER" in " ".join(shown.split())
