"""Columnar batch benchmark: `POST /v1/lookup/batch` answered in Arrow or Parquet, against the
single-core shapely STRtree limit on the same polygons, measured in the same run (issue 17).

One real server (`jurisdictions serve`, one worker) on the Shenzhen demo; one batch of
100,000 random points inside the city on one date, every level. Printed as ratios of points
per second against `STRtree.query(points, predicate="intersects")` on that date's grid
polygons in this process (the tree built beforehand; best of three), each HTTP figure the best
of `--repeats` round trips (client encoding and decoding included):

- JSON request, JSON answer (the default; issue 8's figure);
- JSON request, Arrow IPC stream answer;
- JSON request, Parquet answer;
- Arrow IPC request (`Content-Type: application/vnd.apache.arrow.stream`), Arrow answer.

Target: at least 0.7x for the Arrow answers. Every columnar answer is also compared row by row
with the JSON answer (codes on every level, boundary flags): mismatches are printed and must
be 0.

Usage: ``python -m scripts.bench_batch_columnar [--points 100000] [--repeats 3]
[--database-url URL]``; without `--database-url` the demo is loaded into a scratch database,
dropped afterwards (`make bench-batch-columnar`).
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq
import shapely

from jurisdictions.settings import DEFAULT_DATABASE_URL
from scripts.bench_read_model import scratch_database
from scripts.bench_service import (
    BATCH_DAY,
    live_server,
    load_demo_into,
    points_inside,
    read_polygons,
    strtree_rate,
    wait_for_index,
)

ARROW = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
LEVELS = ("city", "district", "street", "community", "grid")


def post(url: str, path: str, body: bytes, content_type: str, accept: str) -> bytes:
    """One POST with the standard library's client (it reads the answer in one go)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=600)
    try:
        headers = {
            "Content-Type": content_type,
            "Accept": accept,
            "Content-Length": str(len(body)),
        }
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        content = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}: {content[:500]!r}")
        return content
    finally:
        connection.close()


def json_rows(raw: bytes) -> list[dict[str, Any]]:
    """The JSON answer as rows of the columnar shape (code and boundary flag per level)."""
    rows = []
    for result in json.loads(raw)["results"]:
        row: dict[str, Any] = {}
        for unit in result["units"]:
            row[unit["level"]] = unit["code"]
            row[f"{unit['level']}_on_boundary"] = unit["on_boundary"]
        rows.append(row)
    return rows


def table_rows(table: pa.Table) -> list[dict[str, Any]]:
    """A columnar answer as the same rows."""
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    rows = []
    for i in range(table.num_rows):
        row: dict[str, Any] = {}
        for level in LEVELS:
            if level in columns and columns[level][i] is not None:
                row[level] = columns[level][i]
                row[f"{level}_on_boundary"] = columns[f"{level}_on_boundary"][i]
        rows.append(row)
    return rows


def best_of(repeats: int, call: Callable[[], Any]) -> tuple[float, Any]:
    """The shortest of `repeats` calls, and the last one's result."""
    best = float("inf")
    result = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - started)
    return best, result


def run(database_url: str, points_wanted: int, repeats: int) -> list[str]:
    _, cities = read_polygons(database_url, "city", BATCH_DAY)
    city = shapely.union_all(cities)
    points = points_inside(city, points_wanted, random.Random(20170107))
    _, grids = read_polygons(database_url, "grid", BATCH_DAY)
    xs = np.array([p[0] for p in points])
    ys = np.array([p[1] for p in points])
    envelope = {"date": BATCH_DAY.isoformat()}
    json_body = json.dumps(
        {**envelope, "points": [{"id": i, "lon": x, "lat": y} for i, (x, y) in enumerate(points)]}
    ).encode()
    sink = io.BytesIO()
    request_table = pa.table({"id": np.arange(len(points)), "lon": xs, "lat": ys})
    with pa.ipc.new_stream(sink, request_table.schema) as writer:
        writer.write_table(request_table)
    arrow_body = sink.getvalue()
    path = f"/v1/lookup/batch?date={BATCH_DAY.isoformat()}"
    lines = []
    log = Path(tempfile.gettempdir()) / "bench-batch-columnar.log"
    with live_server(database_url, 1, log) as (url, _):
        wait_for_index(url)
        warm = {**envelope, "points": [{"lon": x, "lat": y} for x, y in points[:2000]]}
        post(url, "/v1/lookup/batch", json.dumps(warm).encode(), "application/json", ARROW)

        def json_json() -> list[dict[str, Any]]:
            return json_rows(post(url, path, json_body, "application/json", "application/json"))

        def json_arrow() -> pa.Table:
            raw = post(url, path, json_body, "application/json", ARROW)
            return pa.ipc.open_stream(raw).read_all()

        def json_parquet() -> pa.Table:
            return pq.read_table(
                pa.BufferReader(post(url, path, json_body, "application/json", PARQUET))
            )

        def arrow_arrow() -> pa.Table:
            return pa.ipc.open_stream(post(url, path, arrow_body, ARROW, ARROW)).read_all()

        cases: list[tuple[str, Callable[[], Any]]] = [
            ("JSON request, JSON answer", json_json),
            ("JSON request, Arrow answer", json_arrow),
            ("JSON request, Parquet answer", json_parquet),
            ("Arrow request, Arrow answer", arrow_arrow),
        ]
        # The baseline and the cases alternate, so that a busy spell hits both alike.
        tree_best = float("inf")
        timings: dict[str, float] = {}
        answers: dict[str, Any] = {}
        for name, call in cases:
            tree_rate, _ = strtree_rate(grids, points)
            tree_best = min(tree_best, len(points) / tree_rate)
            seconds, answers[name] = best_of(repeats, call)
            timings[name] = seconds
    reference = answers["JSON request, JSON answer"]
    tree = len(points) / tree_best
    lines.append(
        f"STRtree.query limit: {tree:,.0f} points/s ({tree_best * 1000:.0f} ms for "
        f"{len(points):,} points, {len(grids):,} grid polygons on {BATCH_DAY})"
    )
    lines.append("| request, answer | points/s | s per batch | x STRtree | target | mismatches |")
    lines.append("|---|---|---|---|---|---|")
    for name, _ in cases:
        rate = len(points) / timings[name]
        answer = answers[name]
        rows = reference if name.endswith("JSON answer") else table_rows(answer)
        mismatches = sum(a != b for a, b in zip(rows, reference, strict=True))
        target = ">= 0.7" if "Arrow answer" in name else ""
        lines.append(
            f"| {name} | {rate:,.0f} | {timings[name]:.3f} | {rate / tree:.2f}x | {target} | "
            f"{mismatches} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database-url", help="a database with the demo loaded (kept as is)")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, shared by the server and this client")
    if args.database_url:
        lines = run(args.database_url, args.points, args.repeats)
    else:
        server = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
        with scratch_database(server, "jl_bench_columnar") as url:
            print(f"demo loaded in {load_demo_into(url):.0f} s")
            lines = run(url, args.points, args.repeats)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
