"""Import benchmark: what an import's dry run costs against reading and validating the file.

Issue 15, item 8: for the grid layer of the Shenzhen demo (about 15,000 features), an import's
dry run (`commands.import_layer(..., dry_run=True)`: read, plan against the map, snap to the
stored precision, the register's dry run when something changes) must cost at most 5x reading
and validating the same file with pyogrio and shapely (`pyogrio.raw.read`, `shapely.from_wkb`,
`shapely.is_valid_reason`, `shapely.set_precision` to 1e-7 degrees). Both are measured in the
same run, alternating, `--rounds` times each; the medians and their ratio are printed.

Two files are measured: the grid layer as exported (every unit comes back unchanged: the usual
hand-back), and the same layer with every grid renamed (15,000 operations through the register's
dry run). The file is made with `jurisdictions export --level grid` from the database.

Usage: ``python -m scripts.bench_import [--rounds 5] [--format geojson|gpkg] [--scratch]``.
The database in DATABASE_URL must hold the demo (`make demo` once); `--scratch` loads the demo
into a scratch database of that server instead (about 80 s) and drops it afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pyogrio.raw
import shapely

from jurisdictions.bootstrap import Services, build_services
from jurisdictions.commands import import_layer
from jurisdictions.settings import DEFAULT_DATABASE_URL, Settings
from projections.layers import export_layer
from scripts.bench_read_model import scratch_database

TARGET = 5.0


def baseline(path: Path) -> int:
    """Read and validate the file the usual way: pyogrio, then shapely at 1e-7 degrees."""
    _, _, wkb, _ = pyogrio.raw.read(path)
    geometries = shapely.from_wkb(wkb)
    reasons = shapely.is_valid_reason(geometries)
    snapped = shapely.set_precision(geometries, 1e-7)
    return int((reasons == "Valid Geometry").sum()) + 0 * len(snapped)


def dry_run(services: Services, path: Path, level: str, day: date) -> int:
    """The import's dry run, as `POST /v1/imports?dry_run=true` and the CLI run it."""
    outcome = import_layer(
        services, path, level=level, effective=day, reason="benchmark", actor="bench", dry_run=True
    )
    if outcome.problems:
        first = outcome.problems[0]
        msg = f"the benchmark's import has problems: {first.code} {first.message}"
        raise SystemExit(msg)
    outcome.report()  # the report is part of the answer
    return len(outcome.plan.operations)


def alternate(
    rounds: int, first: Callable[[], object], second: Callable[[], object]
) -> tuple[list[float], list[float]]:
    """Time `first` and `second` alternately, one warm-up each."""
    first(), second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for run, out in ((first, times[0]), (second, times[1])):
            started = time.perf_counter()
            run()
            out.append(time.perf_counter() - started)
    return times


def renamed(path: Path, target: Path) -> Path:
    """The layer with every unit renamed (GeoJSON)."""
    layer = json.loads(path.read_text(encoding="utf-8"))
    for feature in layer["features"]:
        feature["properties"]["name"] = f"{feature['properties']['name']} (renamed)"
    target.write_text(json.dumps(layer, ensure_ascii=False), encoding="utf-8")
    return target


@contextmanager
def demo_database(url: str, scratch: bool) -> Iterator[str]:
    """The database to measure on: the one given, or a scratch one with the demo loaded."""
    if not scratch:
        yield url
        return
    from jurisdictions.demo.shenzhen import load_demo

    with scratch_database(url, "jl_bench_import") as scratch_url:
        services = build_services(Settings(database_url=scratch_url, run_projection=False))
        try:
            load_demo(services.register)
            services.catch_up()
        finally:
            services.close()
        yield scratch_url


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--level", default="grid")
    parser.add_argument("--format", choices=("geojson", "gpkg"), default="geojson")
    parser.add_argument("--scratch", action="store_true", help="load the demo into a scratch db")
    args = parser.parse_args(argv)
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    day = date.today()
    with demo_database(url, args.scratch) as db, tempfile.TemporaryDirectory() as folder:
        services = build_services(Settings(database_url=db, run_projection=False))
        try:
            path = Path(folder) / f"{args.level}.{args.format}"
            count = export_layer(services.settings.conninfo, args.level, day, path, args.format)
            if count == 0:
                print(f"no {args.level} units in {db}: run `make demo` or pass --scratch")
                return 2
            files = [("as exported (unchanged)", path)]
            if args.format == "geojson":
                files.append(("every unit renamed", renamed(path, Path(folder) / "renamed.json")))
            print(f"import dry run vs pyogrio + shapely, {count} {args.level} features, ")
            print(f"{args.rounds} rounds alternating, medians (target: at most {TARGET:g}x)")
            worst = 0.0
            for label, file in files:
                base, imp = alternate(
                    args.rounds,
                    lambda file=file: baseline(file),  # type: ignore[misc]
                    lambda file=file: dry_run(services, file, args.level, day),  # type: ignore[misc]
                )
                ratio = statistics.median(imp) / statistics.median(base)
                worst = max(worst, ratio)
                size = file.stat().st_size / 1e6
                print(
                    f"  {label:<24} {size:5.1f} MB  read+validate "
                    f"{statistics.median(base):6.2f} s  import dry run "
                    f"{statistics.median(imp):6.2f} s  ratio {ratio:4.1f}x"
                )
        finally:
            services.close()
    print("PASS" if worst <= TARGET else "FAIL", f"(worst {worst:.1f}x, target {TARGET:g}x)")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
