"""`jurisdictions --help` answers at once: it imports none of the heavy libraries (issue 16).

Checked by what is imported, in a fresh interpreter, not by timing: before, `--help` loaded
636 modules through `jurisdictions.bootstrap` (1.3 s of imports); the commands import them
when they run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "fastapi",
    "shapely",
    "psycopg",
    "pyproj",
    "numpy",
    "eventsourcing",
    "pydantic",
    "tqdm",
    "dask",
    "distributed",
    "pyarrow",
)

PROBE = """
import json, sys
from jurisdictions.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = {heavy!r}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


def imported_by(*argv: str) -> list[str]:
    """The heavy modules a fresh interpreter holds after `jurisdictions <argv>`."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "usage: jurisdictions" in done.stdout + done.stderr, done
    found: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.parametrize(
    "argv",
    [
        ("--help",),
        ("import", "--help"),
        ("serve", "--help"),
        ("assign", "--help"),
        ("synth-records", "--help"),
        ("no-such-command",),
    ],
)
def test_help_imports_no_heavy_library(argv: tuple[str, ...]):
    assert imported_by(*argv) == []


def test_the_probe_sees_heavy_imports_when_there_are_some():
    """The check can fail: the settings module (pydantic) does show up."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, jurisdictions.settings; print('pydantic' in sys.modules)",
        ],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert done.stdout.strip() == "True"
