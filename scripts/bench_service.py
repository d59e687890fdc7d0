"""Service benchmark: the real server (uvicorn through the CLI) on the Shenzhen demo.

Prints one table, every figure a ratio against a baseline measured in the same run on the same
data (the machine is small and shared, so absolute figures drift):

1. Single lookups (`GET /v1/lookup`, random points inside Shenzhen, random dates 2015-2025)
   against the same server's `/healthz`, at a fixed concurrency, with wrk (a Lua script picks
   the points). Target: at least 0.5x of /healthz's requests per second.
2. One batch of 100,000 points (`POST /v1/lookup/batch`) against shapely's bulk
   `STRtree.query(points, predicate="intersects")` on the same grid polygons (read from the
   read model for the same date) in this process. Target: at least 0.7x STRtree's points/s.
3. A change set (a street split moving about ten communities, real demo codes) from POST to
   visible in a lookup (201 answers once projected), against a dry run of the same body.
4. The server's resident memory (all its processes) before and after the load, and its
   proportional set size (PSS: shared pages counted once), 2 workers against 1 (target: at most
   1.3x; the lookup index is loaded once, before the workers are forked).
5. A change set (one community, then about ten) from POST until a lookup *from memory* shows
   it, against a full load of the index (target: within 1 s; each worker refreshes its snapshot
   by difference, so the time follows the change, not the register).

Usage: ``python -m scripts.bench_service [--workers 1 2] [--connections 16] [--duration 10]
[--batch-points 100000] [--database-url URL]``. Without `--database-url` the demo is loaded
into a scratch database on the server in DATABASE_URL, which is dropped afterwards. wrk
(`apt-get install -y wrk`) must be on PATH; it only ever talks to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import shapely
from shapely.geometry.base import BaseGeometry

from jurisdictions.bootstrap import build_services
from jurisdictions.settings import DEFAULT_DATABASE_URL, Settings
from projections.maintenance import tidy_read_model
from scripts.bench_read_model import scratch_database

ROOT = Path(__file__).resolve().parent.parent
FIRST_DAY, LAST_DAY = date(2015, 1, 1), date(2025, 12, 31)
BATCH_DAY = date(2020, 6, 1)
#: The change set takes effect after everything in the demo, so lookups before are unaffected.
CHANGE_DAY = date(2031, 1, 1)
#: An instant after every recording: current beliefs, but asked through SQL.
LATER = "2999-01-01T00:00:00Z"
LUA_PATHS = 5_000
#: Streets split by this run.
SPLIT_STREETS: set[str] = set()
#: Server log lines: a worker's refresh by difference, the pre-fork full load.
REFRESH_LINE = r"lookup index at position \d+ \(refresh\): \d+ unit versions in ([\d.]+) s"
PRELOAD_LINE = r"lookup index preloaded for all workers: \d+ unit versions in ([\d.]+) s"


@dataclass
class Row:
    """One line of the table: a figure, its baseline, the ratio and the target."""

    figure: str
    workers: int | None
    measured: str
    baseline: str
    ratio: float
    target: str = ""
    notes: str = ""

    def verdict(self) -> str:
        if not self.target:
            return ""
        bound = float(self.target.split()[-1])
        ok = self.ratio >= bound if self.target.startswith(">=") else self.ratio <= bound
        return "meets" if ok else f"MISSES by {abs(1 - self.ratio / bound):.0%}"


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)

    def table(self) -> str:
        lines = [
            "| figure | workers | measured | baseline | ratio | target | verdict | notes |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            workers = "" if r.workers is None else str(r.workers)
            lines.append(
                f"| {r.figure} | {workers} | {r.measured} | {r.baseline} | {r.ratio:.2f}x | "
                f"{r.target} | {r.verdict()} | {r.notes} |"
            )
        return "\n".join(lines)


# The data ---------------------------------------------------------------------------------------


def load_demo_into(url: str) -> float:
    """Store and project the Shenzhen demo; seconds taken."""
    from jurisdictions.demo.shenzhen import load_demo

    services = build_services(Settings(database_url=url, run_projection=False))
    try:
        started = time.perf_counter()
        load_demo(services.register)
        services.worker.catch_up()
        tidy_read_model(url)  # as `jurisdictions demo` does after a bulk load
        return time.perf_counter() - started
    finally:
        services.close()


def data_size(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(DISTINCT unit_id) FROM unit_versions), "
            "(SELECT count(*) FROM unit_versions), (SELECT count(*) FROM unit_version_parts), "
            "(SELECT count(*) FROM unit_versions WHERE level = 'grid' "
            "  AND valid @> %s::date AND upper_inf(recorded))",
            (BATCH_DAY,),
        ).fetchone()
    assert row is not None
    units, versions, parts, grids = row
    return (
        f"{units:,} units, {versions:,} unit versions, {parts:,} subdivided pieces, "
        f"{grids:,} grids on {BATCH_DAY}"
    )


def read_polygons(url: str, level: str, day: date) -> tuple[list[str], list[BaseGeometry]]:
    """Codes and geometries of a level's units on a day, as currently recorded."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT code, ST_AsBinary(geom) FROM unit_versions WHERE level = %s "
            "AND valid @> %s::date AND upper_inf(recorded) ORDER BY code",
            (level, day),
        ).fetchall()
    codes = [r[0] for r in rows]
    geoms = list(shapely.from_wkb([bytes(r[1]) for r in rows]))
    return codes, geoms


def points_inside(area: BaseGeometry, count: int, rng: random.Random) -> list[tuple[float, float]]:
    """Uniform random points inside `area` (rejection sampling on its bounding box)."""
    shapely.prepare(area)
    west, south, east, north = area.bounds
    out: list[tuple[float, float]] = []
    while len(out) < count:
        xs = np.array([rng.uniform(west, east) for _ in range(count)])
        ys = np.array([rng.uniform(south, north) for _ in range(count)])
        keep = shapely.contains_xy(area, xs, ys)
        out.extend(zip(xs[keep].round(6).tolist(), ys[keep].round(6).tolist(), strict=True))
    return out[:count]


# The server -------------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(
    what: str,
    command: list[str],
    env: dict[str, str],
    log: Path,
    ready: str,
    cwd: Path = ROOT,
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process (run in `cwd`), output to `log`, once `ready` (a URL) answers 200;
    stopped after."""
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{what} exited early:\n{log.read_text()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{what} did not start:\n{log.read_text()}")
                try:
                    if httpx.get(ready, timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def live_server(
    database_url: str, workers: int, log: Path, settings: dict[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """The real service (`jurisdictions serve`) on a free 127.0.0.1 port: (url, pid).
    `settings`: extra environment (e.g. ``JL_TILE_CACHE_MIB``)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **(settings or {}), "DATABASE_URL": database_url}
    command = [sys.executable, "-m", "jurisdictions.cli", "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    with serving("server", command, env, log, f"{url}/healthz") as process:
        if workers > 1:  # every worker must be up, not only the first one
            wait_for_processes(process.pid, workers + 1)
        yield url, process.pid


def descendants(pid: int) -> list[int]:
    """The process and all its descendants (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def wait_for_processes(pid: int, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(descendants(pid)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # the workers import the app and open their pools after they are forked


def rss_mib(pid: int) -> float:
    """Resident memory of the server: the process and its workers, in MiB."""
    total_kib = 0
    for child in descendants(pid):
        try:
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024


def pss_mib(pid: int) -> float:
    """Proportional set size of the server, summed over its processes, in MiB: a page shared
    by n processes counts 1/n in each, so pages shared between workers count once."""
    total_kib = 0
    for child in descendants(pid):
        try:
            for line in Path(f"/proc/{child}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024


# 1. Single lookups with wrk --------------------------------------------------------------------

LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK_RESULT %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    bad_status: int
    socket_errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def errors(self) -> int:
        return self.bad_status + self.socket_errors

    def text(self) -> str:
        return f"{self.rate:,.0f}/s (p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms)"


def parse_wrk(stdout: str) -> WrkResult:
    """The figures `LUA_DONE` printed."""
    line = next(ln for ln in stdout.splitlines() if ln.startswith("WRK_RESULT"))
    requests, micros, p50, p99, status, errors = (int(v) for v in line.split()[1:])
    return WrkResult(requests, micros / 1e6, p50 / 1000, p99 / 1000, status, errors)


def lua_script(paths: list[str]) -> str:
    table = ",\n".join(json.dumps(p) for p in paths)
    return (
        f"local paths = {{\n{table}\n}}\n"
        "local n = #paths\n"
        "math.randomseed(20151226)\n"
        "request = function()\n"
        '  return wrk.format("GET", paths[math.random(n)])\n'
        "end\n" + LUA_DONE
    )


def run_wrk(url: str, paths: list[str], connections: int, seconds: int, workdir: Path) -> WrkResult:
    script = workdir / f"wrk-{abs(hash(tuple(paths[:3])))}.lua"
    script.write_text(lua_script(paths))
    return parse_wrk(wrk(url, script, connections, seconds))


def wrk(url: str, script: Path, connections: int, seconds: int) -> str:
    """wrk's output for one run of `script` against `url` (one thread, this machine only)."""
    assert url.startswith("http://127.0.0.1:"), "load only ever goes to this machine"
    command = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "30s"]
    done = subprocess.run(
        [*command, "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 90,
    )
    return done.stdout


def lookup_paths(city: BaseGeometry, count: int) -> list[str]:
    rng = random.Random(7)
    span = (LAST_DAY - FIRST_DAY).days
    return [
        f"/v1/lookup?lon={lon}&lat={lat}&date={FIRST_DAY + timedelta(days=rng.randrange(span))}"
        for lon, lat in points_inside(city, count, rng)
    ]


def measure_single(
    url: str, workers: int, paths: list[str], args: argparse.Namespace, workdir: Path
) -> list[Row]:
    # Warm: every epoch of the lookup index, plan caches, buffers, every worker's pool.
    wait_for_index(url)
    run_wrk(url, paths, args.connections, 2, workdir)
    # Alternating runs, best of each: a noisy neighbour then hurts both sides alike.
    healths, lookups = [], []
    for _ in range(args.rounds):
        healths.append(run_wrk(url, ["/healthz"], args.connections, args.duration, workdir))
        lookups.append(run_wrk(url, paths, args.connections, args.duration, workdir))
    sql_paths = [f"{p}&as_recorded={LATER}" for p in paths]
    sql = run_wrk(url, sql_paths, args.connections, args.duration, workdir)
    health = max(healths, key=lambda r: r.rate)
    lookup = max(lookups, key=lambda r: r.rate)
    for name, result in (("healthz", health), ("lookup", lookup), ("sql", sql)):
        if result.bad_status or result.socket_errors:
            print(f"  ! {name}: {result.bad_status} bad statuses, {result.socket_errors} errors")

    c = args.connections
    return [
        Row(
            "1. GET /v1/lookup vs /healthz, requests/s",
            workers,
            lookup.text(),
            health.text(),
            lookup.rate / health.rate,
            ">= 0.5",
            f"{c} connections, best of {args.rounds} alternating {args.duration}s runs, "
            f"{lookup.requests:,} lookups, {lookup.bad_status + lookup.socket_errors} errors; "
            f"from memory",
        ),
        Row(
            "1b. the same lookups through SQL (as_recorded) vs /healthz",
            workers,
            sql.text(),
            health.text(),
            sql.rate / health.rate,
            "",
            "as_recorded always reads PostgreSQL (what the register knew then)",
        ),
    ]


def wait_for_index(url: str, timeout: float = 120) -> dict[str, Any]:
    """Until the server answers lookups from memory (ten answers in a row on new connections,
    so that every worker has loaded); its /readyz figures."""
    deadline = time.monotonic() + timeout
    in_a_row = 0
    while True:
        status = httpx.get(f"{url}/readyz", timeout=10).json().get("lookup_index") or {}
        in_a_row = in_a_row + 1 if status.get("current") else 0
        if in_a_row >= 10 or time.monotonic() > deadline:
            return dict(status)
        time.sleep(0.1 if in_a_row else 0.5)


# 2. Batch against STRtree ----------------------------------------------------------------------


def strtree_rate(geoms: list[BaseGeometry], points: list[tuple[float, float]]) -> tuple[float, Any]:
    """Points per second of STRtree's bulk query (best of three; the tree is built before)."""
    tree = shapely.STRtree(geoms)
    xs = np.array([p[0] for p in points])
    ys = np.array([p[1] for p in points])
    best = float("inf")
    pairs: Any = None
    for _ in range(3):
        started = time.perf_counter()
        pairs = tree.query(shapely.points(xs, ys), predicate="intersects")
        best = min(best, time.perf_counter() - started)
    return len(points) / best, pairs


def post_json(url: str, path: str, body: bytes) -> tuple[bytes, str]:
    """POST with the standard library's client: it reads a large body in one go, where
    httpx's chunked reading would add its own cost to the server's."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=600)
    try:
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        content = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}: {content[:500]!r}")
        return content, response.getheader("X-Read-From", "")
    finally:
        connection.close()


def measure_batch(
    url: str,
    workers: int,
    points: list[tuple[float, float]],
    codes: list[str],
    geoms: list[BaseGeometry],
    repeats: int,
) -> list[Row]:
    """Every level (the contract's default), then the grid only (what STRtree answers)."""
    tree_rate, pairs = strtree_rate(geoms, points)
    found: dict[int, set[str]] = {}
    for point_index, geom_index in zip(pairs[0].tolist(), pairs[1].tolist(), strict=True):
        found.setdefault(point_index, set()).add(codes[geom_index])
    rows = []
    for levels in (None, ["grid"]):
        request: dict[str, Any] = {"date": BATCH_DAY.isoformat()}
        if levels:
            request["levels"] = levels
        body = json.dumps(
            {
                **request,
                "points": [{"id": str(i), "lon": x, "lat": y} for i, (x, y) in enumerate(points)],
            }
        ).encode()
        warm = {**request, "points": [{"id": "w", "lon": x, "lat": y} for x, y in points[:1000]]}
        post_json(url, "/v1/lookup/batch", json.dumps(warm).encode())
        best = float("inf")
        raw = b""
        sources = set()
        for _ in range(repeats):
            started = time.perf_counter()
            raw, source = post_json(url, "/v1/lookup/batch", body)
            best = min(best, time.perf_counter() - started)
            sources.add(source)
        answer = json.loads(raw)
        # Same answers? The server's grid must be one STRtree found (two on a shared boundary).
        agree = 0
        for i, result in enumerate(answer["results"]):
            grid = next((u["code"] for u in result["units"] if u["level"] == "grid"), None)
            agree += grid in found.get(i, set()) if grid else i not in found
        http_rate = len(points) / best
        rows.append(
            Row(
                "2. POST /v1/lookup/batch vs STRtree.query, points/s"
                + (f" (levels={levels})" if levels else " (every level)"),
                workers,
                f"{http_rate:,.0f}/s ({best:.2f} s per batch)",
                f"{tree_rate:,.0f}/s",
                http_rate / tree_rate,
                ">= 0.7",
                f"{len(points):,} points on {BATCH_DAY}, best of {repeats}; "
                f"{agree / len(points):.2%} same grid; {len(body) / 1e6:.1f} MB request, "
                f"{len(raw) / 1e6:.1f} MB answer; read from {'/'.join(sorted(sources))}",
            )
        )
    return rows


# 3. A change set until visible ----------------------------------------------------------------


def split_body(
    url: str, communities_wanted: int
) -> tuple[dict[str, Any], str, tuple[float, float]]:
    """A street split moving whole workstations' communities (about `communities_wanted`):
    the body, the new street's code, and a point inside a moved community."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT unit_code, code, serves FROM office_versions WHERE kind = 'workstation' "
            "AND valid @> %s::date AND upper_inf(recorded) ORDER BY unit_code, code",
            (CHANGE_DAY,),
        ).fetchall()
        for (reason,) in conn.execute(
            "SELECT reason FROM change_set_log WHERE reason LIKE 'benchmark: %% split off'"
        ).fetchall():
            SPLIT_STREETS.add(reason.split()[-3])  # split by an earlier run
        streets: dict[str, list[list[str]]] = {}
        for street, _, serves in rows:
            streets.setdefault(street, []).append(list(serves))
        # The street with the most communities, so that about ten can leave and some stay
        # (one not split by this run yet: two splits of one street would overlap).
        street = max(
            (s for s in streets if s not in SPLIT_STREETS),
            key=lambda s: sum(len(x) for x in streets[s]),
        )
        SPLIT_STREETS.add(street)  # tried: a street whose split is rejected is not retried
        moved: list[str] = []
        for serves in streets[street][:-1]:  # at least one workstation's communities stay
            if len(moved) >= communities_wanted:
                break
            moved.extend(serves)
        geometry, lon, lat = conn.execute(
            "SELECT ST_AsGeoJSON(ST_Multi(ST_Union(geom))), "
            "ST_X(ST_PointOnSurface((array_agg(geom ORDER BY code))[1])), "
            "ST_Y(ST_PointOnSurface((array_agg(geom ORDER BY code))[1])) "
            "FROM unit_versions WHERE code = ANY(%s) AND valid @> %s::date "
            "AND upper_inf(recorded)",
            (moved, CHANGE_DAY),
        ).fetchone() or (None, 0.0, 0.0)
        new_code = next(
            code
            for n in range(900, 1000)
            if not conn.execute(
                "SELECT 1 FROM unit_versions WHERE code = %s", (code := f"{street[:6]}{n}",)
            ).fetchone()
        )
    body = {
        "effective": CHANGE_DAY.isoformat(),
        "reason": f"benchmark: {len(moved)} communities of {street} split off",
        "document": "bench_service (synthetic)",
        "operations": [
            {
                "op": "split",
                "unit": street,
                "mode": "split_off",
                "reassign_children": "by_location",
                "parts": [
                    {
                        "code": new_code,
                        "name": f"bench {new_code}",
                        "geometry": json.loads(geometry),
                    }
                ],
            }
        ],
    }
    return body, new_code, (lon, lat)


def street_at(client: httpx.Client, url: str, point: tuple[float, float], day: date) -> str:
    params: dict[str, str | float] = {"lon": point[0], "lat": point[1], "date": day.isoformat()}
    response = client.get(f"{url}/v1/lookup", params=params)
    response.raise_for_status()
    return next((u["code"] for u in response.json()["units"] if u["level"] == "street"), "")


def valid_split(
    client: httpx.Client, url: str, database_url: str, token: str, communities: int
) -> tuple[dict[str, Any], str, tuple[float, float]]:
    """`split_body`'s split of the first street the register accepts (a dry run): in the demo
    the communities of some streets reach a few m² beyond their street."""
    for _ in range(20):
        body, new_code, point = split_body(database_url, communities)
        dry = client.post(
            f"{url}/v1/changesets",
            params={"dry_run": "true"},
            content=json.dumps(body),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        if dry.status_code == 200:
            return body, new_code, point
    raise RuntimeError(f"no street's split was accepted: {dry.text[:500]}")


def memory_street(client: httpx.Client, url: str, point: tuple[float, float], day: date) -> str:
    """The street at `point` if the answer came from memory, else ""."""
    params: dict[str, str | float] = {"lon": point[0], "lat": point[1], "date": day.isoformat()}
    response = client.get(f"{url}/v1/lookup", params=params)
    response.raise_for_status()
    if response.headers.get("x-read-from") != "memory":
        return ""
    return next((u["code"] for u in response.json()["units"] if u["level"] == "street"), "")


def logged_seconds(log: Path, pattern: str) -> list[float]:
    """Seconds of the server's log lines matching `pattern` (regex, one group: the seconds)."""
    return [float(m.group(1)) for m in re.finditer(pattern, log.read_text())]


def measure_visible(
    url: str, database_url: str, workers: int, log: Path, token: str, communities: int
) -> Row:
    """A change set from POST until a lookup from memory shows it (every worker refreshes its
    snapshot by difference; the period of the change is indexed again on demand)."""
    with httpx.Client(timeout=120) as client:
        body, new_code, point = valid_split(client, url, database_url, token, communities)
    moved = body["reason"].split()[1]
    headers = {
        "Authorization": f"Bearer {token}",
        "Idempotency-Key": f"bench-visible-{time.time_ns()}",
        "Content-Type": "application/json",
    }
    refreshes_before = len(logged_seconds(log, REFRESH_LINE))
    with httpx.Client(timeout=120) as client:
        for _ in range(3):  # the period is indexed before the change
            memory_street(client, url, point, CHANGE_DAY)
        started = time.perf_counter()
        applied = client.post(f"{url}/v1/changesets", content=json.dumps(body), headers=headers)
        if applied.status_code != 201:
            raise RuntimeError(f"change set answered {applied.status_code}: {applied.text[:500]}")
        posted = time.perf_counter() - started
        visible = float("nan")
        while time.perf_counter() - started < 60:
            if memory_street(client, url, point, CHANGE_DAY) == new_code:
                visible = time.perf_counter() - started
                break
            time.sleep(0.01)
    time.sleep(0.5)  # every worker's refresh line is in the log
    refreshes = logged_seconds(log, REFRESH_LINE)[refreshes_before:]
    full = logged_seconds(log, PRELOAD_LINE)
    full_seconds = full[-1] if full else float("nan")
    refresh = max(refreshes) if refreshes else float("nan")
    verdict = "meets" if visible <= 1.0 else "MISSES"
    return Row(
        "5. change set to visible in lookups from memory: refresh vs full load of the index, s",
        workers,
        f"refresh {refresh:.3f} s; visible {visible:.2f} s after the POST was sent, "
        f"{visible - posted:.2f} s after its 201 ({posted:.2f} s)",
        f"{full_seconds:.2f} s",
        refresh / full_seconds,
        "",
        f"split of {body['operations'][0]['unit']} moving {moved} communities into {new_code}; "
        f"target visible within 1 s: {verdict}; refresh = the slowest worker's refresh by "
        f"difference ({len(refreshes)} refreshes); baseline = the pre-fork full load",
    )


def editor_token(database_url: str) -> str:
    """A new editor's token in the benchmarked register."""
    services = build_services(Settings(database_url=database_url, run_projection=False))
    try:
        return services.tokens.create("editor", "bench")[1]
    finally:
        services.close()


def measure_change(url: str, database_url: str, workers: int) -> list[Row]:
    token = editor_token(database_url)
    with httpx.Client(timeout=120) as client:
        body, new_code, point = valid_split(client, url, database_url, token, 10)
    moved = body["reason"].split()[1]
    key = f"bench-split-{time.time_ns()}"
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    payload = json.dumps(body).encode()
    with httpx.Client(timeout=120, headers={"Content-Type": "application/json"}) as client:
        before = street_at(client, url, point, CHANGE_DAY)
        started = time.perf_counter()
        dry = client.post(
            f"{url}/v1/changesets",
            params={"dry_run": "true"},
            content=payload,
            headers={**headers, "Idempotency-Key": f"{key}-dry"},
        )
        dry_seconds = time.perf_counter() - started
        if dry.status_code != 200:
            raise RuntimeError(f"dry run answered {dry.status_code}: {dry.text[:2000]}")
        started = time.perf_counter()
        applied = client.post(f"{url}/v1/changesets", content=payload, headers=headers)
        post_seconds = time.perf_counter() - started
        after = street_at(client, url, point, CHANGE_DAY)
        visible_seconds = time.perf_counter() - started
    if applied.status_code != 201:
        raise RuntimeError(f"change set answered {applied.status_code}: {applied.text[:2000]}")
    seen = "seen" if after == new_code and before != new_code else f"NOT seen ({before}->{after})"
    return [
        Row(
            "3. POST /v1/changesets (201) vs dry run, seconds",
            workers,
            f"{post_seconds:.2f} s; with confirming lookup {visible_seconds:.2f} s",
            f"{dry_seconds:.2f} s",
            post_seconds / dry_seconds,
            "",
            f"split of {body['operations'][0]['unit']} moving {moved} communities into "
            f"{new_code}; lookup right after: {seen}",
        )
    ]


# Main -------------------------------------------------------------------------------------------


def run(args: argparse.Namespace, database_url: str, report: Report) -> None:
    report.facts.append(f"data: {data_size(database_url)}")
    _, cities = read_polygons(database_url, "city", BATCH_DAY)
    city = shapely.union_all(cities)
    paths = lookup_paths(city, LUA_PATHS)
    rng = random.Random(20170107)
    batch_points = points_inside(city, args.batch_points, rng)
    codes, grids = read_polygons(database_url, "grid", BATCH_DAY)
    workdir = Path(tempfile.mkdtemp(prefix="bench_service_"))
    logs = ROOT / "artifacts"
    logs.mkdir(exist_ok=True)
    pss: dict[int, float] = {}
    try:
        for index, workers in enumerate(args.workers):
            print(f"server with --workers {workers}", flush=True)
            log = logs / f"bench-service-{workers}.log"
            with live_server(database_url, workers, log) as (url, pid):
                loaded = wait_for_index(url)
                report.facts.append(
                    f"lookup index ({workers} worker(s)): {loaded.get('unit_versions', 0):,} unit "
                    f"versions loaded in {loaded.get('load_seconds', 0):.2f} s"
                    + (f" ({loaded['disabled_reason']})" if loaded.get("disabled_reason") else "")
                )
                rss_before = rss_mib(pid)
                pss_before = pss_mib(pid)
                report.rows += measure_single(url, workers, paths, args, workdir)
                print(f"  {report.rows[-1].measured} vs {report.rows[-1].baseline}", flush=True)
                report.rows += measure_batch(url, workers, batch_points, codes, grids, args.repeats)
                print(f"  {report.rows[-1].measured} vs {report.rows[-1].baseline}", flush=True)
                rss_after = rss_mib(pid)
                pss[workers] = pss_mib(pid)
                processes = len(descendants(pid))
                report.rows.append(
                    Row(
                        "4. server RSS after vs before the load, MiB",
                        workers,
                        f"{rss_after:,.0f} MiB",
                        f"{rss_before:,.0f} MiB",
                        rss_after / rss_before,
                        "",
                        f"{processes} processes",
                    )
                )
                report.rows.append(
                    Row(
                        "4b. server PSS (all processes) after vs before the load, MiB",
                        workers,
                        f"{pss[workers]:,.0f} MiB",
                        f"{pss_before:,.0f} MiB",
                        pss[workers] / pss_before,
                        "",
                        "proportional set size: pages shared by the workers count once",
                    )
                )
                if index == len(args.workers) - 1 and not args.no_change:
                    report.rows += measure_change(url, database_url, workers)
                    print(f"  {report.rows[-1].measured}", flush=True)
                    token = editor_token(database_url)
                    for communities in (1, 10):
                        report.rows.append(
                            measure_visible(url, database_url, workers, log, token, communities)
                        )
                        print(f"  {report.rows[-1].measured}", flush=True)
        if 1 in pss and len(pss) > 1:
            most = max(pss)
            report.rows.append(
                Row(
                    f"4c. server PSS after the load, {most} workers vs 1, MiB",
                    None,
                    f"{pss[most]:,.0f} MiB",
                    f"{pss[1]:,.0f} MiB",
                    pss[most] / pss[1],
                    "<= 1.3",
                    "the lookup index is loaded once before the workers are forked",
                )
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating wrk runs per side")
    parser.add_argument("--batch-points", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=2, help="batches per server")
    parser.add_argument("--no-change", action="store_true", help="skip the change set")
    parser.add_argument("--database-url", help="a database with the demo loaded (kept as is)")
    parser.add_argument("--output", type=Path, help="also write the table (markdown) here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    server = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    report = Report()
    report.facts.append(f"machine: {os.cpu_count()} cores; server and wrk share them")
    if args.database_url:
        run(args, args.database_url, report)
    else:
        with scratch_database(server, "jl_bench_service") as url:
            print("loading the Shenzhen demo ...", flush=True)
            report.facts.append(f"demo loaded and projected in {load_demo_into(url):.0f} s")
            run(args, url, report)
    text = "\n".join(f"- {fact}" for fact in report.facts) + "\n\n" + report.table()
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
