"""The write contract shared by change sets and imports (the command layer): 201 only once the
maps show the change; stored but not visible in time is a 202 with the position to wait for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from jurisdictions.bootstrap import build_services
from jurisdictions.settings import Settings
from tests import scenario
from tests.conftest import ROOT, DatabaseFactory, LiveServer, scenario_database
from tests.e2e.test_api import MOVE

pytestmark = pytest.mark.db

IN_G1 = {"lon": 114.042, "lat": 22.52}


def renamed_grids(path: Path, suffix: str) -> Path:
    """A layer of M1's two grids, each renamed, as GIS staff would hand it back."""
    layer = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": code, "name": f"grid {n} {suffix}", "parent": "M1"},
                "geometry": scenario.box(114.0, south, 114.04, south + 0.05),
            }
            for n, code, south in ((1, "G1", 22.5), (2, "G2", 22.55))
        ],
    }
    path.write_text(json.dumps(layer))
    return path


@pytest.fixture
def stalled(databases: DatabaseFactory) -> Iterator[tuple[LiveServer, str, str]]:
    """A server whose projection does not run, so no write becomes visible on its own."""
    url, (editor,) = scenario_database(databases, ("editor", "Editor Wang"))
    server = LiveServer(url, JL_RUN_PROJECTION="false", JL_READ_YOUR_WRITES_TIMEOUT="0.5")
    yield server, url, editor
    server.stop()
    databases.drop(url)


def _project(url: str) -> None:
    services = build_services(Settings(database_url=url, run_projection=False))
    try:
        services.catch_up()
    finally:
        services.close()


def test_writes_not_visible_in_time_answer_202_with_the_position(
    stalled: tuple[LiveServer, str, str], tmp_path: Path
):
    server, url, editor = stalled
    auth = {"Authorization": f"Bearer {editor}"}
    change = httpx.post(f"{server.url}/v1/changesets", json=MOVE, headers=auth, timeout=30)
    assert change.status_code == 202, change.text
    receipt = change.json()
    assert not receipt["projected"] and receipt["position"] > 0 and receipt["id"]

    layer = renamed_grids(tmp_path / "grids.geojson", "renamed")
    with layer.open("rb") as handle:
        imported = httpx.post(
            f"{server.url}/v1/imports",
            headers=auth,
            files={"file": ("grids.geojson", handle)},
            data={"level": "grid", "effective": "2022-01-01", "reason": "names"},
            timeout=30,
        )
    assert imported.status_code == 202, imported.text
    report = imported.json()
    assert report["applied"] and not report["projected"] and report["change_set"]
    assert report["position"] > receipt["position"]
    assert sorted(report["renamed"]) == ["G1", "G2"]

    # Once projected elsewhere, a read that sends the position back sees the change.
    _project(url)
    header = {"X-Min-Position": str(report["position"])}
    after = httpx.get(f"{server.url}/v1/units/G1", params={"date": "2022-06-01"}, headers=header)
    assert after.status_code == 200 and after.json()["properties"]["name"] == "grid 1 renamed"


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "jurisdictions.cli", *args],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_cli_import_goes_through_the_import_command(databases: DatabaseFactory, tmp_path: Path):
    url, _ = scenario_database(databases)
    try:
        layer = renamed_grids(tmp_path / "grids.geojson", "from the cli")
        common = [str(layer), "--level", "grid", "--effective", "2022-01-01", "--reason", "names"]
        dry = _cli(url, "import", *common, "--json")
        assert dry.returncode == 0, dry.stderr
        report: dict[str, Any] = json.loads(dry.stdout)
        assert sorted(report["renamed"]) == ["G1", "G2"]
        assert report["dry_run"] and not report["applied"] and report["change_set"] is None

        done = _cli(url, "import", *common, "--commit", "--actor", "GIS desk", "--json")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        # The command's report, as the API answers it: stored, and visible at its position.
        assert report["applied"] and report["projected"] and report["position"] > 0
        services = build_services(Settings(database_url=url, run_projection=False))
        try:
            unit = services.queries.unit_on("G1", date(2022, 6, 1))
            assert unit is not None and unit["name"] == "grid 1 from the cli"
            assert services.worker.position() >= report["position"]
            change_set = services.queries.change_set(report["change_set"])
            assert change_set is not None and change_set["actor"] == "GIS desk"
        finally:
            services.close()

        unknown = _cli(url, "import", *common[:1], "--level", "planet", *common[3:])
        assert unknown.returncode == 2

        # A file of G1 alone ends nothing by default; ending G2 takes --mode replace and the
        # parent, and is shown in the report (the register then finds M1 half uncovered).
        only_g1 = json.loads(layer.read_text())
        only_g1["features"] = only_g1["features"][:1]
        layer.write_text(json.dumps(only_g1))
        partial = _cli(url, "import", *common, "--json")
        assert partial.returncode == 0, partial.stderr
        assert json.loads(partial.stdout)["ended"] == []
        no_parents = _cli(url, "import", *common, "--mode", "replace")
        assert no_parents.returncode == 2 and "replace_parents" in no_parents.stderr
        assert "Traceback" not in no_parents.stderr
        replace = _cli(
            url, "import", *common, "--mode", "replace", "--replace-parents", "M1", "--json"
        )
        assert replace.returncode == 1, replace.stderr
        report = json.loads(replace.stdout)
        assert [e["code"] for e in report["ended"]] == ["G2"] and report["mode"] == "replace"
        assert "coverage_gap" in {p["code"] for p in report["problems"]}
    finally:
        databases.drop(url)


def test_the_cli_import_prints_a_summary_and_writes_the_geojson_report(
    databases: DatabaseFactory, tmp_path: Path
):
    url, _ = scenario_database(databases)
    try:
        layer = renamed_grids(tmp_path / "grids.geojson", "new")
        data = json.loads(layer.read_text())
        # G1 reaches east of M1: a problem the officer must find on the map.
        data["features"][0]["geometry"] = scenario.box(114.0, 22.5, 114.045, 22.55)
        layer.write_text(json.dumps(data))
        geojson = tmp_path / "report.geojson"
        common = [str(layer), "--level", "grid", "--effective", "2022-01-01", "--reason", "x"]
        run = _cli(url, "import", *common, "--report-geojson", str(geojson))
        assert run.returncode == 1, run.stderr
        lines = run.stdout.splitlines()
        # Counts first, then each problem on one line: code, unit and name, where, m².
        assert lines[0].endswith("2 grid features (dry run, mode update)"), lines
        assert "1 redrawn, 2 renamed" in lines[1]
        assert lines[4] == "problems:"
        problem = lines[5]
        assert problem.startswith("  child_outside_parent  G1 grid 1 new M1 ")
        assert "features[0] @ 114.04" in problem and " m²" in problem
        assert "changes:" in lines and not run.stdout.lstrip().startswith("{")
        assert "Traceback" not in run.stderr
        collection = json.loads(geojson.read_text())
        assert collection["type"] == "FeatureCollection"
        kinds = sorted(f["properties"]["kind"] for f in collection["features"])
        assert kinds == ["change", "change", "problem"]
    finally:
        databases.drop(url)


@pytest.mark.parametrize(
    ("args", "environment", "code", "says"),
    [
        (["--effective", "2022-02-30"], {}, 2, "not a day of the calendar"),
        (["--effective", "yesterday"], {}, 2, "--effective"),
        (
            ["--effective", "2022-01-01"],
            {"DATABASE_URL": "postgresql://nobody:secret@127.0.0.1:1/nowhere"},
            1,
            "cannot reach the database at 127.0.0.1:1/nowhere",
        ),
        (["--effective", "2022-01-01", "--level", "planet"], {}, 2, "unknown level 'planet'"),
    ],
)
def test_the_cli_import_says_what_is_wrong_without_a_traceback(
    tmp_path: Path, args: list[str], environment: dict[str, str], code: int, says: str
):
    layer = renamed_grids(tmp_path / "grids.geojson", "x")
    level = [] if "--level" in args else ["--level", "grid"]
    command = [sys.executable, "-m", "jurisdictions.cli", "import", str(layer), *level, *args]
    run = subprocess.run(
        [*command, "--reason", "x"],
        env={**os.environ, **environment},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == code, run.stderr
    assert says in run.stderr and "Traceback" not in run.stderr
    assert "secret" not in run.stderr
