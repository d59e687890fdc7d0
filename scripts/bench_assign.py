"""Bulk assignment benchmark (issue 17): the engine against shapely's STRtree, 2 workers
against 1, and end to end on the synthetic library, with peak memory per worker.

Every figure is a ratio against a baseline measured in the same run on the same data (the
machine is small and shared, so absolute figures drift):

1. Per worker: one partition of the synthetic library (`--partition` records) resolved on one
   core: `Epoch.resolve` on every level, and the whole task (`bulk.tasks.run_part`: read
   Parquet, resolve, write Parquet), against `STRtree.query(points, predicate="intersects")` on
   the grid polygons of the same date (the bulk query of issue 8's "STRtree limit"). Best of
   three each, alternating. Target: at least 0.7x.
2. Scaling: the same job (`--records` records, one date) on a LocalCluster of 1 worker and of
   2 workers (one single-threaded process each); the time from the first task submitted to
   the last answer. Target: 2 workers at least 1.7x one (only meaningful on a machine with
   two idle cores). Also the workers' CPU seconds per record, 2 workers against 1: what a
   second worker costs in coordination, whatever else the machine runs (2x their ratio is
   the speed-up two idle cores would give).
3. End to end: every record on its own date (2015-2020), Parquet to Parquet on 2 workers,
   records per second including reading the layers, and each worker's peak resident memory
   (sampled every 0.2 s; target at most 2 GiB).
4. Correctness: `--check-points` points (vertices and edge midpoints of units, random points)
   on three dates around the 2016-12-26 splits, as records with their own dates, against the
   lookup service's in-memory index (what /v1/lookup answers from memory; target 0
   mismatches) and against the SQL engine on `--sql-points` of them (target 0 as well: both
   follow the one exact boundary rule, `domain.boundary_rule`, even a hair off an edge).

Usage: ``python -m scripts.bench_assign [--records 2000000] [--huge] [--partition 250000]
[--rounds 2] [--parts 1234] [--check-points 100000] [--sql-points 20000] [--workdir DIR]``.
Needs the demo in DATABASE_URL (`make demo` once). `--huge` runs 20 million records (with
`--parts 3`: end to end only). The library is written once per size under `--workdir`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

from bulk.layers import read_layers, snapshot_of
from bulk.run import run_assignment
from bulk.source import discover
from bulk.spec import AssignmentSpec, Progress, RecordSource
from bulk.synth import DEFAULT_SEED, write_library
from bulk.tasks import TaskSpec, run_part
from domain.levels import DEFAULT_LEVELS
from domain.register import JurisdictionRegister
from jurisdictions.bootstrap import TRACKING_TABLE, Services, build_services
from jurisdictions.settings import Settings
from projections.lookup_index import load_snapshot

DAY = date(2017, 6, 1)
CHECK_DAYS = (date(2016, 12, 25), date(2016, 12, 26), date(2017, 6, 1))
LEVELS = DEFAULT_LEVELS
GIB = 1024**3


def best_of(runs: int, *work: Callable[[], object]) -> list[float]:
    """Best seconds of each piece of work, run alternately `runs` times."""
    best = [float("inf")] * len(work)
    for _ in range(runs):
        for i, job in enumerate(work):
            started = time.perf_counter()
            job()
            best[i] = min(best[i], time.perf_counter() - started)
    return best


def library(workdir: Path, records: int, partition: int) -> Path:
    """The synthetic library of `records` records (reused when already written)."""
    where = workdir / f"library-{records}-{partition}"
    manifest = where / "_manifest.json"
    if manifest.exists():
        found = json.loads(manifest.read_text())
        if found["records"] == records and found["seed"] == DEFAULT_SEED:
            return where
    started = time.perf_counter()
    write_library(where, records, DEFAULT_SEED, partition)
    print(f"  wrote {records:,} synthetic records in {time.perf_counter() - started:.1f} s")
    return where


# 1. Per worker ----------------------------------------------------------------------


def per_worker(url: str, records: Path, workdir: Path) -> dict[str, float]:
    layers = read_layers(url, LEVELS, (DAY,))
    epoch = snapshot_of(layers).epoch(DAY)
    parts, _, _ = discover(RecordSource(str(records)))
    part = parts[0]
    table = pq.ParquetFile(part.path).read_row_group(0, columns=["lon", "lat"])
    xs = table.column("lon").to_numpy()
    ys = table.column("lat").to_numpy()
    grids = epoch.per_level[-1]
    assert grids is not None
    tree = shapely.STRtree(list(layers.units.geoms[grids.members]))
    staging = workdir / "stage"
    staging.mkdir(parents=True, exist_ok=True)
    task = TaskSpec(
        RecordSource(str(records)), (DAY.toordinal(),), tuple(range(5)), False, (), str(staging)
    )
    epoch.resolve(xs, ys)  # first use: the period's coverage of ancestors
    tree_s, resolve_s, task_s = best_of(
        3,
        lambda: tree.query(shapely.points(xs, ys), predicate="intersects"),
        lambda: epoch.resolve(xs, ys),
        lambda: run_part(layers, task, part),
    )
    n = len(xs)
    return {"points": n, "strtree": n / tree_s, "resolve": n / resolve_s, "task": n / task_s}


# 2 and 3. On a cluster ----------------------------------------------------------------------


@contextmanager
def cluster(workers: int) -> Iterator[tuple[str, Any]]:
    import distributed

    with (
        distributed.LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers, threads_per_worker=1, dashboard_address=None, silence_logs=40
        ) as found,
        distributed.Client(found) as client,  # type: ignore[no-untyped-call]
    ):
        yield found.scheduler_address, client


class MemorySampler:
    """Each worker's resident set size, sampled every `every` seconds; the peaks."""

    def __init__(self, client: Any, every: float = 0.2) -> None:
        self.client = client
        self.every = every
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                found = self.client.run(_rss)
            except Exception:  # a worker restarting: try again
                found = {}
            for worker, rss in found.items():
                self.peaks[worker] = max(self.peaks.get(worker, 0), int(rss))
            self._stop.wait(self.every)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _rss() -> int:
    import psutil  # type: ignore[import-untyped]

    return int(psutil.Process().memory_info().rss)


def _cpu() -> float:
    """This worker process's CPU seconds so far (user and system)."""
    import psutil

    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def timed_job(spec: AssignmentSpec, url: str) -> tuple[float, float, int]:
    """Seconds of the whole job, seconds from its first task to its last, records."""
    marks: list[float] = []

    def progress(p: Progress) -> None:
        marks.append(time.perf_counter())

    started = time.perf_counter()
    result = run_assignment(spec, url, progress, level_scheme=LEVELS)
    return time.perf_counter() - started, marks[-1] - marks[0], result.records


def scaling(url: str, records: Path, workdir: Path, rounds: int) -> dict[str, float]:
    """1 worker and 2 workers, alternately `rounds` times; the best of each."""
    found: dict[str, float] = {"rate1": 0.0, "rate2": 0.0, "total1": 1e9, "total2": 1e9}
    for _ in range(rounds):
        for workers in (1, 2):
            with cluster(workers) as (address, client):
                spec = AssignmentSpec(
                    RecordSource(str(records)),
                    str(workdir / f"out-{workers}"),
                    dates=(DAY,),
                    scheduler=address,
                )
                before = client.run(_cpu)
                total, tasks, count = timed_job(spec, url)
                after = client.run(_cpu)
            cpu = sum(after[w] - before[w] for w in after)
            found[f"cpu{workers}"] = min(found.get(f"cpu{workers}", 1e9), cpu / count * 1e6)
            found[f"rate{workers}"] = max(found[f"rate{workers}"], count / tasks)
            found[f"total{workers}"] = min(found[f"total{workers}"], total)
            found["records"] = count
    return found


def end_to_end(url: str, records: Path, workdir: Path) -> dict[str, float]:
    with cluster(2) as (address, client), MemorySampler(client) as memory:
        spec = AssignmentSpec(
            RecordSource(str(records), date_column="date"),
            str(workdir / "out-own-dates"),
            scheduler=address,
        )
        total, tasks, count = timed_job(spec, url)
    written = sum(f.stat().st_size for f in (workdir / "out-own-dates").glob("part-*.parquet"))
    return {
        "records": count,
        "total": total,
        "tasks": tasks,
        "peak": max(memory.peaks.values()),
        "workers": len(memory.peaks),
        "bytes": written,
    }


# 4. Correctness ----------------------------------------------------------------------


def hard_points(url: str, count: int, rng: np.random.Generator) -> np.ndarray[Any, Any]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT DISTINCT ST_AsBinary(geom) FROM unit_versions WHERE upper_inf(recorded) "
            "AND valid && daterange(%s, %s, '[]')",
            (CHECK_DAYS[0], CHECK_DAYS[-1]),
        ).fetchall()
    shapes = shapely.from_wkb([r[0] for r in rows])
    rings = shapely.get_rings(shapely.get_parts(shapes))
    vertices = shapely.get_coordinates(rings)
    mids = np.concatenate(
        [(c[:-1] + c[1:]) / 2 for c in (shapely.get_coordinates(r) for r in rings.tolist())]
    )
    west, south, east, north = shapely.total_bounds(shapes)
    third = count // 3
    spread = np.column_stack(
        [rng.uniform(west, east, count - 2 * third), rng.uniform(south, north, count - 2 * third)]
    )
    return np.concatenate(
        [
            vertices[rng.choice(len(vertices), third, replace=len(vertices) < third)],
            mids[rng.choice(len(mids), third, replace=len(mids) < third)],
            spread,
        ]
    )


def correctness(url: str, workdir: Path, count: int, sql_points: int) -> dict[str, Any]:
    rng = np.random.default_rng(DEFAULT_SEED)
    points = hard_points(url, count, rng)
    n = len(points)
    epoch_1970 = date(1970, 1, 1).toordinal()
    days = np.repeat([d.toordinal() - epoch_1970 for d in CHECK_DAYS], n)
    order = rng.permutation(len(days))
    source = workdir / "check" / "records.parquet"
    source.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table(
            {
                "id": np.arange(len(days))[order],
                "lon": np.tile(points[:, 0], len(CHECK_DAYS))[order],
                "lat": np.tile(points[:, 1], len(CHECK_DAYS))[order],
                "date": pa.array(days[order].astype(np.int32)).cast(pa.date32()),
            }
        ),
        source,
        row_group_size=100_000,
    )
    spec = AssignmentSpec(
        RecordSource(str(source), date_column="date"), str(workdir / "check-out"), workers=2
    )
    run_assignment(spec, url, level_scheme=LEVELS)
    table = pq.read_table(workdir / "check-out", columns=["id", *LEVELS.names]).sort_by("id")
    with psycopg.connect(url, autocommit=True) as conn:
        snapshot = load_snapshot(conn, TRACKING_TABLE, JurisdictionRegister.name, LEVELS, 8)
    memory_mismatches = 0
    sql_mismatches: list[float] = []
    services: Services = build_services(Settings(database_url=url, run_projection=False))
    try:
        for k, day in enumerate(CHECK_DAYS):
            got = table.slice(k * n, n)
            resolved = snapshot.epoch(day).resolve(points[:, 0].copy(), points[:, 1].copy())
            codes = np.array([*snapshot.units.code, None], dtype=object)
            for rank, level in enumerate(LEVELS.names):
                want = codes[resolved.found[:, rank]].tolist()
                have = got.column(level).to_pylist()
                memory_mismatches += sum(a != b for a, b in zip(have, want, strict=True))
            sample = points[:sql_points]
            hits = services.lookup.batch([(float(x), float(y)) for x, y in sample], day)
            rows = got.slice(0, len(sample)).select(list(LEVELS.names)).to_pylist()
            for i, units in enumerate(hits):
                sql = dict.fromkeys(LEVELS.names) | {h.level: h.code for h in units}
                if sql != rows[i]:
                    sql_mismatches.append(edge_distance(snapshot, sample[i], day))
    finally:
        services.close()
    return {
        "records": len(days),
        "memory": memory_mismatches,
        "sql_compared": min(sql_points, n) * len(CHECK_DAYS),
        "sql": len(sql_mismatches),
        "sql_max_distance": max(sql_mismatches, default=0.0),
    }


def edge_distance(snapshot: Any, point: np.ndarray[Any, Any], day: date) -> float:
    """Degrees from a point to the nearest boundary of a unit live on `day`."""
    epoch = snapshot.epoch(day)
    where = shapely.Point(point)
    near = min(
        shapely.distance(shapely.boundary(snapshot.units.geoms[index.members]), where).min()
        for index in epoch.per_level
        if index is not None
    )
    return float(near)


# Report ----------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--huge", action="store_true", help="20 million records")
    parser.add_argument("--partition", type=int, default=250_000, help="records per file")
    parser.add_argument("--rounds", type=int, default=2, help="of 1 and 2 workers, alternately")
    parser.add_argument("--parts", default="1234", help="measures to run, e.g. 3: end to end")
    parser.add_argument("--check-points", type=int, default=100_000)
    parser.add_argument("--sql-points", type=int, default=20_000)
    parser.add_argument("--workdir", default="/tmp/bench_assign")
    parser.add_argument("--keep", action="store_true", help="keep the outputs")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    args = parser.parse_args()
    records = 20_000_000 if args.huge else args.records
    url = args.database_url
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"bench_assign: {records:,} records, {os.cpu_count()} cores, {url.rsplit('/', 1)[-1]}")
    source = library(workdir, records, args.partition)
    lines = ["| measure | figure | baseline | ratio | target |", "|---|---|---|---|---|"]
    if "1" in args.parts:
        report_per_worker(lines, per_worker(url, source, workdir))
    if "2" in args.parts:
        report_scaling(lines, scaling(url, source, workdir, args.rounds))
    if "3" in args.parts:
        report_end_to_end(lines, end_to_end(url, source, workdir))
    if "4" in args.parts and args.check_points:
        report_correctness(lines, correctness(url, workdir, args.check_points, args.sql_points))
    print()
    print("\n".join(lines))
    if not args.keep:
        for name in ("out-1", "out-2", "out-own-dates", "check", "check-out", "stage"):
            shutil.rmtree(workdir / name, ignore_errors=True)
    return 0


def report_per_worker(lines: list[str], one: dict[str, float]) -> None:
    lines.append(
        f"| 1. resolve, every level, 1 core ({one['points']:,.0f} points) | "
        f"{one['resolve']:,.0f} pts/s | STRtree {one['strtree']:,.0f} pts/s | "
        f"{one['resolve'] / one['strtree']:.2f}x | >= 0.7x |"
    )
    lines.append(
        f"| 1. whole task (read, resolve, write Parquet), 1 core | {one['task']:,.0f} pts/s | "
        f"STRtree {one['strtree']:,.0f} pts/s | {one['task'] / one['strtree']:.2f}x | >= 0.7x |"
    )
    print("\n".join(lines[-2:]), flush=True)


def report_scaling(lines: list[str], two: dict[str, float]) -> None:
    lines.append(
        f"| 2. {two['records']:,.0f} records on one date, 2 workers vs 1 (tasks) | "
        f"{two['rate2']:,.0f} rec/s | 1 worker {two['rate1']:,.0f} rec/s | "
        f"{two['rate2'] / two['rate1']:.2f}x | >= 1.7x |"
    )
    lines.append(
        f"| 2. workers' CPU per record, 2 workers vs 1 (ratio: 2 x 1 worker's / 2 workers', "
        f"the speed-up on two idle cores) | {two['cpu2']:.2f} us | 1 worker {two['cpu1']:.2f} us | "
        f"{2 * two['cpu1'] / two['cpu2']:.2f}x | >= 1.7x |"
    )
    lines.append(
        f"| 2. same, whole job (layers read, tasks, files) | {two['total2']:.1f} s | "
        f"1 worker {two['total1']:.1f} s | {two['total1'] / two['total2']:.2f}x | |"
    )
    print("\n".join(lines[-3:]), flush=True)


def report_end_to_end(lines: list[str], three: dict[str, float]) -> None:
    lines.append(
        f"| 3. {three['records']:,.0f} records, own dates, Parquet to Parquet, 2 workers | "
        f"{three['records'] / three['total']:,.0f} rec/s ({three['total']:.1f} s) | "
        f"per worker {three['records'] / three['tasks'] / 2:,.0f} rec/s in tasks | | |"
    )
    lines.append(
        f"| 3. peak resident memory per worker | {three['peak'] / 2**20:,.0f} MiB | "
        f"2 GiB | {three['peak'] / (2 * GIB):.2f}x | <= 1x |"
    )
    print("\n".join(lines[-2:]), flush=True)


def report_correctness(lines: list[str], four: dict[str, Any]) -> None:
    lines.append(
        f"| 4. mismatches vs the lookup's in-memory index ({four['records']:,} records, "
        f"3 dates) | {four['memory']} | | | 0 |"
    )
    lines.append(
        f"| 4. disagreements with SQL ({four['sql_compared']:,} point-dates) | {four['sql']} "
        f"(farthest {four['sql_max_distance']:.1e} deg from an edge) | | | 0 |"
    )
    print("\n".join(lines[-2:]), flush=True)


if __name__ == "__main__":
    sys.exit(main())
