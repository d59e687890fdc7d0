"""Bulk assignment (issue 17) on the Shenzhen demo, on real Dask processes, against SQL.

The job's answers are compared with the SQL `LookupEngine` (the lookup service's other
engine, which shares no code with the in-memory index the job runs on), point by point, level
by level, `on_boundary` included: random points over the city and the sea, and every kind of
hard point: vertices and edge midpoints of units on several dates, and records with their own
dates on both sides of the 2016-12-26 splits. The engine runs on a `LocalCluster` (started by
the job itself, and one shared by several jobs through its address), and, marked slow, on a
real cluster of `dask scheduler` and two `dask worker` processes on loopback.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

from bulk.run import run_assignment
from bulk.spec import AssignmentSpec, InvalidJob, Progress, RecordSource, spec_from_dict
from bulk.synth import write_library
from domain.levels import DEFAULT_LEVELS
from jurisdictions.bootstrap import Services, build_services
from jurisdictions.settings import Settings
from tests.conftest import LiveServer, free_port

pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parents[2]
LEVELS = DEFAULT_LEVELS.names
#: The day before the 2016-12-26 splits, the day of, and dates before, between and after.
DAYS = (
    date(2015, 1, 1),
    date(2016, 12, 25),
    date(2016, 12, 26),
    date(2017, 6, 1),
    date(2019, 3, 1),
)
SEED = 20151


@pytest.fixture(scope="module")
def demo(demo_database: str) -> Iterator[Services]:
    services = build_services(Settings(database_url=demo_database, run_projection=False))
    yield services
    services.close()


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """One LocalCluster for the jobs that do not test starting their own (CI time)."""
    import distributed

    with distributed.LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2, threads_per_worker=1, dashboard_address=None
    ) as found:
        yield found.scheduler_address


def hard_points(url: str, count: int) -> np.ndarray[Any, Any]:
    """Vertices and edge midpoints of the units live on `DAYS`, and random points over the
    city's box and beyond (sea, Hong Kong, nowhere), as (lon, lat) rows."""
    rng = np.random.default_rng(SEED)
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT DISTINCT ST_AsBinary(geom) FROM unit_versions WHERE upper_inf(recorded) "
            "AND valid && daterange(%s, %s, '[]')",
            (DAYS[0], DAYS[-1]),
        ).fetchall()
    shapes = shapely.from_wkb([r[0] for r in rows])
    rings = shapely.get_rings(shapely.get_parts(shapes))
    vertices = shapely.get_coordinates(rings)
    pairs = [shapely.get_coordinates(r) for r in rings.tolist()]
    mids = np.concatenate([(c[:-1] + c[1:]) / 2 for c in pairs])
    west, south, east, north = shapely.total_bounds(shapes)
    spread = np.column_stack(
        [
            rng.uniform(west - 0.05, east + 0.05, count),
            rng.uniform(south - 0.05, north + 0.05, count),
        ]
    )
    return np.concatenate(
        [
            vertices[rng.choice(len(vertices), count, replace=False)],
            mids[rng.choice(len(mids), count, replace=False)],
            spread,
        ]
    )


def expected(server: LiveServer, points: np.ndarray[Any, Any], day: date) -> dict[str, Any]:
    """What `/v1/lookup/batch` answers (from memory, as the API answers whenever its index is
    current) per level: codes, and whether the point is on a boundary on any level."""
    body = {
        "date": day.isoformat(),
        "points": [{"id": i, "lon": float(x), "lat": float(y)} for i, (x, y) in enumerate(points)],
    }
    for _ in range(50):  # the server's index loads in the background after it starts
        response = httpx.post(f"{server.url}/v1/lookup/batch", json=body, timeout=120)
        assert response.status_code == 200, response.text
        if response.headers["X-Read-From"] == "memory":
            break
        time.sleep(0.2)
    assert response.headers["X-Read-From"] == "memory"
    codes: dict[str, list[str | None]] = {level: [None] * len(points) for level in LEVELS}
    edge = [False] * len(points)
    for i, result in enumerate(response.json()["results"]):
        for unit in result["units"]:
            codes[unit["level"]][i] = unit["code"]
            edge[i] = edge[i] or unit["on_boundary"]
    return {**codes, "on_boundary": edge}


def sql_disagreements(
    demo: Services, points: np.ndarray[Any, Any], day: date, table: pa.Table
) -> list[int]:
    """Points where the SQL engine answers otherwise than the job (none: both follow the one
    exact boundary rule, `domain.boundary_rule`, even a hair off an edge)."""
    hits = demo.lookup.batch([(float(x), float(y)) for x, y in points], day)
    rows = table.select([*LEVELS, "on_boundary"]).to_pylist()
    found = []
    for i, units in enumerate(hits):
        sql = dict.fromkeys(LEVELS) | {h.level: h.code for h in units}
        sql["on_boundary"] = any(h.on_boundary for h in units)
        if sql != rows[i]:
            found.append(i)
    return found


def read_result(out: Path, key: str = "id") -> pa.Table:
    return pq.read_table(sorted(out.glob("part-*.parquet"))).sort_by(key)


def write_parquet(path: Path, columns: dict[str, Any], row_group_size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)


@pytest.fixture(scope="module")
def points(demo_database: str) -> np.ndarray[Any, Any]:
    return hard_points(demo_database, 1200)


def test_records_with_their_own_dates_match_the_lookup_on_every_level(
    demo: Services, demo_database: str, demo_server: LiveServer, points, tmp_path: Path
):
    """Each point once per date of `DAYS`, as records carrying their own dates: the job
    groups each partition by epoch; every answer equals /v1/lookup's on that record's date,
    and SQL's."""
    n = len(points)
    ids = np.arange(len(DAYS) * n, dtype=np.int64)
    days = np.repeat([d.toordinal() - date(1970, 1, 1).toordinal() for d in DAYS], n)
    # Shuffled so that every partition mixes dates (records are not sorted by date).
    order = np.random.default_rng(SEED).permutation(len(ids))
    write_parquet(
        tmp_path / "records" / "records.parquet",
        {
            "record": ids[order],
            "x": np.tile(points[:, 0], len(DAYS))[order],
            "y": np.tile(points[:, 1], len(DAYS))[order],
            "day": pa.array(days[order].astype(np.int32)).cast(pa.date32()),
        },
        row_group_size=4000,
    )
    seen: list[Progress] = []
    spec = AssignmentSpec(
        RecordSource(
            str(tmp_path / "records"),
            id_column="record",
            lon_column="x",
            lat_column="y",
            date_column="day",
        ),
        output=str(tmp_path / "out"),
        workers=2,
    )
    result = run_assignment(spec, demo_database, seen.append, level_scheme=DEFAULT_LEVELS)
    table = pq.read_table(sorted((tmp_path / "out").glob("part-*.parquet"))).sort_by("record")
    assert table.num_rows == result.records == len(ids)
    assert result.partitions == seen[-1].partitions_total == -(-len(ids) // 4000)
    assert seen[-1].records_done == len(ids)
    assert table.column_names == ["record", "date", *LEVELS, "on_boundary"]
    mismatches = 0
    for k, day in enumerate(DAYS):
        want = expected(demo_server, points, day)
        got = table.slice(k * n, n)
        assert set(got.column("date").to_pylist()) == {day}
        for column in [*LEVELS, "on_boundary"]:
            mismatches += sum(
                a != b for a, b in zip(got.column(column).to_pylist(), want[column], strict=True)
            )
        assert sql_disagreements(demo, points, day, got) == [], day
    assert mismatches == 0
    # Outside records are kept with empty codes, and counted.
    outside = sum(
        1 for row in table.select(LEVELS).to_pylist() if all(v is None for v in row.values())
    )
    assert outside == result.outside > 0
    assert json.loads((tmp_path / "out" / "_job.json").read_text())["result"]["records"] == len(ids)


def test_one_date_chosen_levels_and_a_projected_csv_match_the_lookup(
    demo_database: str, demo_server: LiveServer, points, cluster: str, tmp_path: Path
):
    """One date for all, two levels, records as CSV in CGCS2000 / 3-degree GK zone 38
    (EPSG:4547) through the cluster's address: the answers of /v1/lookup on the WGS84
    points."""
    from pyproj import Transformer

    to_metric = Transformer.from_crs("EPSG:4326", "EPSG:4547", always_xy=True)
    xs, ys = to_metric.transform(points[:, 0], points[:, 1])
    source = tmp_path / "records.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["code", "easting", "northing"])
        for i, (x, y) in enumerate(zip(xs.tolist(), ys.tolist(), strict=True)):
            writer.writerow([f"R{i:06d}", repr(x), repr(y)])
    spec = AssignmentSpec(
        RecordSource(
            str(source),
            id_column="code",
            lon_column="easting",
            lat_column="northing",
            crs="EPSG:4547",
        ),
        output=str(tmp_path / "out"),
        dates=(date(2017, 6, 1),),
        levels=("community", "street"),
        scheduler=cluster,
    )
    result = run_assignment(spec, demo_database, level_scheme=DEFAULT_LEVELS)
    assert result.engine == cluster
    table = read_result(tmp_path / "out", "code")
    assert table.column_names == ["code", "street", "community", "on_boundary"]
    back = Transformer.from_crs("EPSG:4547", "EPSG:4326", always_xy=True)
    lon, lat = back.transform(xs, ys)
    want = expected(demo_server, np.column_stack([lon, lat]), date(2017, 6, 1))
    assert table.column("street").to_pylist() == want["street"]
    assert table.column("community").to_pylist() == want["community"]
    assert sum(v is None for v in want["community"]) > 0  # some records outside, kept


def test_geoparquet_points_in_gcj02(
    demo_database: str, demo_server: LiveServer, points, cluster: str, tmp_path: Path
):
    """A GeoParquet file (WKB points, no lon/lat columns) in GCJ-02, the offset of Amap's
    maps: converted as /v1/lookup converts `crs=gcj02`, then the same answers."""
    from domain.coordinates import wgs84_to_gcj02

    sample = points[:: max(1, len(points) // 600)]
    shifted = np.array([wgs84_to_gcj02(float(x), float(y)) for x, y in sample])
    geo = {"version": "1.1.0", "primary_column": "geom", "columns": {"geom": {"encoding": "WKB"}}}
    table = pa.table(
        {"id": np.arange(len(sample)), "geom": shapely.to_wkb(shapely.points(shifted))}
    ).replace_schema_metadata({"geo": json.dumps(geo)})
    pq.write_table(table, tmp_path / "records.parquet")
    result = run_assignment(
        AssignmentSpec(
            RecordSource(str(tmp_path / "records.parquet"), crs="gcj02"),
            str(tmp_path / "out"),
            dates=(date(2016, 12, 26),),
            scheduler=cluster,
        ),
        demo_database,
        level_scheme=DEFAULT_LEVELS,
    )
    assert result.records == len(sample)
    got = read_result(tmp_path / "out")
    body = {
        "date": "2016-12-26",
        "crs": "gcj02",
        "points": [{"lon": float(x), "lat": float(y)} for x, y in shifted],
    }
    answer = httpx.post(f"{demo_server.url}/v1/lookup/batch", json=body, timeout=120).json()
    for level in LEVELS:
        want = [
            next((u["code"] for u in r["units"] if u["level"] == level), None)
            for r in answer["results"]
        ]
        assert got.column(level).to_pylist() == want, level


def test_aggregates_equal_the_counts_of_the_assignment(
    demo_database: str, cluster: str, tmp_path: Path
):
    """Counts and sums per unit on 2015-01-01 and 2017-06-01 side by side equal what the
    assignments on each date give, record by record (the synthetic library)."""
    write_library(tmp_path / "library", 30_000, seed=SEED, partition_size=10_000)
    dates = (date(2015, 1, 1), date(2017, 6, 1))
    source = RecordSource(str(tmp_path / "library"))
    result = run_assignment(
        AssignmentSpec(
            source,
            str(tmp_path / "agg"),
            dates=dates,
            levels=("street",),
            aggregate=True,
            sum_columns=("persons",),
            scheduler=cluster,
        ),
        demo_database,
        level_scheme=DEFAULT_LEVELS,
    )
    assert result.files == ("aggregate.parquet", "aggregate.csv", "_job.json")
    aggregate = pq.read_table(tmp_path / "agg" / "aggregate.parquet")
    with (tmp_path / "agg" / "aggregate.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == aggregate.num_rows
    library = pq.read_table(tmp_path / "library", columns=["id", "persons"]).sort_by("id")
    for day in dates:
        out = tmp_path / f"assigned-{day}"
        run_assignment(
            AssignmentSpec(source, str(out), dates=(day,), levels=("street",), scheduler=cluster),
            demo_database,
            level_scheme=DEFAULT_LEVELS,
        )
        assigned = read_result(out)
        assert assigned.column("id").to_pylist() == library.column("id").to_pylist()
        counts: dict[str | None, list[float]] = {}
        for code, persons in zip(
            assigned.column("street").to_pylist(),
            library.column("persons").to_pylist(),
            strict=True,
        ):
            found = counts.setdefault(code, [0, 0.0])
            found[0] += 1
            found[1] += persons
        rows = [r for r in aggregate.to_pylist() if r["date"] == day]
        assert {r["code"]: [r["records"], r["sum_persons"]] for r in rows} == counts
        assert None in counts  # the stray records: outside every street, counted apart
    streets_2015 = {r["code"] for r in aggregate.to_pylist() if r["date"] == dates[0]}
    streets_2017 = {r["code"] for r in aggregate.to_pylist() if r["date"] == dates[1]}
    assert len(streets_2017 - streets_2015) > 0  # the streets born on 2016-12-26


def test_bad_jobs_name_the_field_and_write_nothing(demo_database: str, tmp_path: Path):
    write_parquet(
        tmp_path / "records" / "r.parquet",
        {"id": [1, 2], "lon": [114.0, 114.1], "lat": [22.5, 22.6], "when": ["2016-01-01", "x"]},
        row_group_size=10,
    )
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01\x02 not a table")

    def problems(**changes: Any) -> dict[str, str]:
        body: dict[str, Any] = {
            "source": {"path": str(tmp_path / "records")},
            "output": str(tmp_path / "out"),
            "dates": ["2016-01-01"],
        }
        for key, value in changes.items():
            if key.startswith("source_"):
                body["source"][key.removeprefix("source_")] = value
            else:
                body[key] = value
        with pytest.raises(InvalidJob) as caught:
            run_assignment(spec_from_dict(body), demo_database, level_scheme=DEFAULT_LEVELS)
        return {p.field: p.code for p in caught.value.problems}

    assert problems(source_lon_column="longitude") == {"source.lon_column": "column_missing"}
    assert problems(source_crs="EPSG:999999") == {"source.crs": "crs_unknown"}
    assert problems(dates=["2016-02-30"]) == {"dates[0]": "date_invalid"}
    assert problems(source_path=str(tmp_path / "nowhere")) == {"source.path": "path_missing"}
    assert problems(source_path=str(tmp_path / "junk.bin")) == {"source.path": "format_unknown"}
    assert problems(levels=["street", "ward"]) == {"levels[1]": "level_unknown"}
    assert problems(sum_columns=["lat"]) == {"sum_columns": "invalid_request"}
    assert problems(source_id_column="lon", source_lat_column="when") == {
        "source.lat_column": "column_invalid"
    }
    # A value that is not a date is found by the worker that reads it: named, nothing kept.
    assert problems(dates=[], source_date_column="when") == {"source.date_column": "date_invalid"}
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.slow
def test_a_real_cluster_through_its_address(
    demo_database: str, demo_server: LiveServer, points, tmp_path: Path
):
    """`dask scheduler` and two `dask worker` processes on loopback, started here; the job
    runs through the scheduler's address and agrees with SQL."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    dask = str(Path(sys.executable).parent / "dask")
    started = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        time.sleep(1.0)
        for _ in range(2):
            started.append(
                subprocess.Popen(
                    [dask, "worker", address, "--nthreads", "1", "--no-dashboard"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        import distributed

        with distributed.Client(address, timeout=30) as client:  # type: ignore[no-untyped-call]
            client.wait_for_workers(2, timeout=60)
            workers = len(client.scheduler_info()["workers"])
        assert workers == 2
        write_parquet(
            tmp_path / "records.parquet",
            {"id": np.arange(len(points)), "lon": points[:, 0], "lat": points[:, 1]},
            row_group_size=500,
        )
        result = run_assignment(
            AssignmentSpec(
                RecordSource(str(tmp_path / "records.parquet")),
                str(tmp_path / "out"),
                dates=(date(2016, 12, 26),),
                scheduler=address,
            ),
            demo_database,
            level_scheme=DEFAULT_LEVELS,
        )
        assert result.engine == address
        table = read_result(tmp_path / "out")
        want = expected(demo_server, points, date(2016, 12, 26))
        for column in [*LEVELS, "on_boundary"]:
            assert table.column(column).to_pylist() == want[column], column
    finally:
        for process in reversed(started):
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
