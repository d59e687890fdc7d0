"""OGC API items and vector tiles of the grid level: our server against tipg on the same rows.

tipg (developmentseed's OGC Features and Tiles server, asyncpg, installed apart in
`.venv-tipg` by `scripts/ensure_tipg.sh`) serves the view ``layer_grid`` (today's grids, as
currently recorded: the rows our `/ogc/collections/grid/items` and `/tiles/grid/...` answer
with no date). Both run under uvicorn with one worker on free 127.0.0.1 ports against the same
database; wrk sends both the same requests:

- OGC items: GeoJSON ``items?bbox=...&limit=...`` for random boxes inside Shenzhen;
- vector tiles: every Web Mercator tile of zooms 11-15 that touches Shenzhen.

Each figure is measured twice: cold (a pass over the paths, each asked once, so no cache in
either server can help; the pass times itself; with our caches off, `--cold-passes` such
passes, servers alternating, counted together, since a second pass is as uncached as the first
and one pass over z12's 47 tiles is a fraction of a second) and warm (random requests over the
same paths again). Figures: items, tiles of all those zooms together, and tiles of each of
`--zooms` alone.
Each figure of each repeat starts a fresh server of ours (empty caches) per cache setting
(`--caches on,off`; off is `JL_TILE_CACHE_MIB=0 JL_ITEMS_CACHE_MIB=0`, so warm requests too
come from PostgreSQL); tipg runs throughout. The target is 2x tipg's requests per second;
each ratio is taken within one repeat (both servers back to back, ours first in even
repeats and tipg first in odd ones), the table gives their median.

Usage: ``python -m scripts.bench_tipg [--database-url URL | --scratch] [--duration 8]
[--connections 16] [--repeats 3] [--caches on,off] [--zooms 12,13,14] [--output FILE]``.
The database must hold the demo and the ``layer_grid`` view (`jurisdictions migrate` makes it);
it is only read. `--scratch` loads the
demo into a scratch database instead, ANALYZEs it and drops it afterwards. wrk (`apt-get install
-y wrk`) must be on PATH.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import psycopg
import shapely
from psycopg.sql import SQL
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from jurisdictions.settings import DEFAULT_DATABASE_URL
from scripts.bench_read_model import scratch_database
from scripts.bench_service import (
    LUA_DONE,
    WrkResult,
    free_port,
    live_server,
    load_demo_into,
    parse_wrk,
    points_inside,
    serving,
    wrk,
)
from scripts.mvt import feature_count

ROOT = Path(__file__).resolve().parent.parent
LEVEL = "grid"
TIPG_TABLE = "public.layer_grid"
#: Our tiles carry these attributes; tipg is asked for the same ones.
TILE_PROPERTIES = "code,name,level,parent_code,valid_from,valid_to"
TILE_ZOOMS = (11, 12, 13, 14, 15)
#: Zoom 16 tiles and a second seed of boxes warm both servers and PostgreSQL before the
#: measured runs without touching any measured path (so our caches stay cold for them).
PRIME_ZOOM = 16
ITEM_PATHS = 3_000
ITEM_LIMITS = (10, 20, 50)
COLUMNS = ("figure", "ours req/s (p50/p99)", "tipg req/s (p50/p99)", "ratio", "target", "verdict")


# Paths -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Paths:
    """The same requests for both servers (index i of each list is the same question)."""

    ours: list[str]
    tipg: list[str]


def city_area(url: str) -> BaseGeometry:
    """Today's city level (Shenzhen), as one geometry."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(SQL("SELECT ST_AsBinary(geom) FROM layer_city")).fetchall()
    if not rows:
        raise SystemExit("no rows in layer_city: load the demo (jurisdictions up) first")
    return shapely.union_all(shapely.from_wkb([bytes(r[0]) for r in rows]))


def item_paths(city: BaseGeometry, count: int, seed: int) -> Paths:
    """Random boxes (about 1-4 km across) centred inside the city, with a random page size."""
    rng = random.Random(seed)
    ours, tipg = [], []
    for lon, lat in points_inside(city, count, rng):
        half = rng.uniform(0.005, 0.02)
        bbox = f"{lon - half:.5f},{lat - half:.5f},{lon + half:.5f},{lat + half:.5f}"
        query = urlencode({"bbox": bbox, "limit": rng.choice(ITEM_LIMITS)}, safe=",")
        ours.append(f"/ogc/collections/{LEVEL}/items?{query}")
        tipg.append(f"/collections/{TIPG_TABLE}/items?{query}")
    return Paths(ours, tipg)


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """West, south, east, north (degrees) of a Web Mercator tile."""
    n = 2**z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


def tiles_over(city: BaseGeometry, zooms: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """Every tile of these zooms that touches the city."""
    west, south, east, north = city.bounds
    shapely.prepare(city)
    found = []
    for z in zooms:
        n = 2**z
        x0, x1 = int((west + 180) / 360 * n), int((east + 180) / 360 * n)

        def row(lat: float, n: int = n) -> int:
            rad = math.radians(lat)
            return int((1 - math.asinh(math.tan(rad)) / math.pi) / 2 * n)

        for x in range(x0, x1 + 1):
            for y in range(row(north), row(south) + 1):
                if city.intersects(box(*tile_bounds(z, x, y))):
                    found.append((z, x, y))
    return found


def tile_paths(tiles: list[tuple[int, int, int]]) -> Paths:
    return Paths(
        [f"/tiles/{LEVEL}/{z}/{x}/{y}.mvt" for z, x, y in tiles],
        [
            f"/collections/{TIPG_TABLE}/tiles/WebMercatorQuad/{z}/{x}/{y}"
            f"?properties={TILE_PROPERTIES}"
            for z, x, y in tiles
        ],
    )


# tipg ------------------------------------------------------------------------------------------


def ensure_tipg() -> Path:
    """The python of `.venv-tipg` (installed by scripts/ensure_tipg.sh when missing)."""
    done = subprocess.run(
        ["bash", "scripts/ensure_tipg.sh"], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return ROOT / done.stdout.strip().splitlines()[-1]


@contextmanager
def tipg_server(python: Path, database_url: str, log: Path) -> Iterator[str]:
    """tipg under uvicorn (one worker) on a free port, serving only ``layer_grid``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": database_url,
        "TIPG_DB_TABLES": json.dumps([TIPG_TABLE]),
        "TIPG_DB_FUNCTIONS": "[]",
        # `code` identifies a grid (the view has no primary key to find).
        "TIPG_TABLE_CONFIG__public_layer_grid__PK": "code",
        # Same tile buffer as ours, and no cap on features per tile (ours has none).
        "TIPG_TILE_BUFFER": "64",
        "TIPG_MAX_FEATURES_PER_TILE": "100000",
        # Same pool ceiling as our read pool (JL_READ_POOL_MAX default).
        "DB_MAX_CONN_SIZE": "10",
    }
    command = [str(python), "-m", "uvicorn", "tipg.main:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1", "--log-level", "info"]
    with serving("tipg", command, env, log, f"{url}/collections/{TIPG_TABLE}"):
        yield url


def sanity(ours: str, tipg: str, items: Paths, tiles: Paths) -> list[str]:
    """Compare a few answers: matched counts and feature ids of items, features per tile."""
    lines = []
    with httpx.Client(timeout=60) as client:
        for a, b in list(zip(items.ours, items.tipg, strict=True))[:5]:
            mine, theirs = client.get(ours + a).json(), client.get(tipg + b).json()
            same_ids = [f["id"] for f in mine["features"]] == [f["id"] for f in theirs["features"]]
            lines.append(
                f"items {a.partition('?')[2]}: matched {mine['numberMatched']} vs "
                f"{theirs['numberMatched']}, returned {mine['numberReturned']} vs "
                f"{theirs['numberReturned']}, same ids in order: {same_ids}"
            )
        by_zoom: dict[str, tuple[str, str]] = {}
        for a, b in zip(tiles.ours, tiles.tipg, strict=True):
            by_zoom.setdefault(a.split("/")[3], (a, b))
        for a, b in by_zoom.values():
            mine_tile, theirs_tile = client.get(ours + a), client.get(tipg + b)
            lines.append(
                f"tile {a.removeprefix('/tiles/')}: {feature_count(mine_tile.content)} vs "
                f"{feature_count(theirs_tile.content)} features, {len(mine_tile.content):,} vs "
                f"{len(theirs_tile.content):,} bytes"
            )
    return lines


# wrk -------------------------------------------------------------------------------------------

LUA = """
local paths = {
%(paths)s
}
local n = #paths
local sequential = %(sequential)s
local sent, received = 0, 0
local started = nil
-- wrk's own duration is the -d it sleeps, also when the thread stops early: a pass times itself
-- (wall clock through date(1), twice per run).
local function now()
  local pipe = io.popen("date +%%s.%%N")
  local text = pipe:read("*l")
  pipe:close()
  return text
end
math.randomseed(20151226)
request = function()
  if started == nil then
    started = now()
  end
  sent = sent + 1
  if sequential then
    return wrk.format("GET", paths[((sent - 1) %% n) + 1])
  end
  return wrk.format("GET", paths[math.random(n)])
end
response = function(status, headers, body)
  received = received + 1
  if sequential and received == n then
    io.write("WRK_PASS " .. received .. " " .. started .. " " .. now() .. "\\n")
    wrk.thread:stop()
  end
end
"""


def run_wrk(
    url: str, paths: list[str], *, sequential: bool, seconds: int, connections: int, workdir: Path
) -> WrkResult:
    """Sequential: each path once (stops after the last answer or at `seconds`); otherwise
    random paths for `seconds`."""
    script = workdir / f"wrk-{time.monotonic_ns()}.lua"
    script.write_text(
        LUA
        % {
            "paths": ",\n".join(json.dumps(p) for p in paths),
            "sequential": "true" if sequential else "false",
        }
        + LUA_DONE
    )
    output = wrk(url, script, connections, seconds)
    result = parse_wrk(output)
    passed = next((ln for ln in output.splitlines() if ln.startswith("WRK_PASS")), None)
    if passed is not None:  # the pass ended before the time did: count it, timed by itself
        count, start, end = passed.split()[1:]
        result = dataclasses.replace(result, requests=int(count), seconds=float(end) - float(start))
    return result


# Main ------------------------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    ours: WrkResult
    tipg: WrkResult
    ratio: float
    notes: str

    def line(self) -> str:
        verdict = "meets" if self.ratio >= 2.0 else f"MISSES by {1 - self.ratio / 2.0:.0%}"
        return (
            f"| {self.figure} | {self.ours.text()} | {self.tipg.text()} | {self.ratio:.2f}x | "
            f">= 2.0 | {verdict} | {self.notes} |"
        )


def data_size(url: str) -> list[str]:
    """What is served, and whether the planner has statistics (autovacuum may be off)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            SQL(
                "SELECT (SELECT count(*) FROM layer_grid), (SELECT count(*) FROM unit_versions), "
                "pg_size_pretty(pg_database_size(current_database())), current_date, "
                "current_setting('autovacuum'), (SELECT coalesce(last_analyze, last_autoanalyze) "
                "FROM pg_stat_user_tables WHERE relname = 'unit_versions')"
            )
        ).fetchone()
    assert row is not None
    grids, versions, size, today, autovacuum, analyzed = row
    return [
        f"data: {grids:,} grids in layer_grid on {today} (of {versions:,} unit versions), {size}",
        f"planner statistics of unit_versions: {analyzed or 'none'} (autovacuum {autovacuum})",
    ]


PHASES = (("cold (first pass)", True), ("warm (random again)", False))
Pair = tuple[WrkResult, WrkResult]
#: Our answer caches, on (the defaults) or off (`JL_TILE_CACHE_MIB=0`, `JL_ITEMS_CACHE_MIB=0`:
#: every tile and page comes from PostgreSQL, as for a user panning over a new area).
CACHE_SETTINGS = {
    "on": {},
    "off": {"JL_TILE_CACHE_MIB": "0", "JL_ITEMS_CACHE_MIB": "0"},
}


def measure(
    paths: Paths,
    ours: str,
    tipg: str,
    args: argparse.Namespace,
    workdir: Path,
    repeat: int,
    passes: int,
) -> list[Pair]:
    """Cold: `passes` passes over the paths, each path once per pass (more than one only with
    our caches off, where a second pass is as uncached as the first: a single pass over
    z12's 47 tiles lasts a fraction of a second, and its ratio swung 1.4-2.9x between
    repeats); warm: random over them again. Ours first in even repeats and passes, tipg first
    in odd ones, so that neither always runs right after the other (a busy neighbour, a
    cache the other warmed, the machine's clock speed)."""
    results = []
    for _, sequential in PHASES:
        runs: dict[str, list[WrkResult]] = {ours: [], tipg: []}
        for turn in range(passes if sequential else 1):
            servers = [(ours, paths.ours), (tipg, paths.tipg)]
            if (repeat + turn) % 2:
                servers.reverse()
            for url, own in servers:
                result = run_wrk(
                    url,
                    own,
                    sequential=sequential,
                    seconds=args.duration,
                    connections=args.connections,
                    workdir=workdir,
                )
                if result.errors:
                    print(f"  ! {url}: {result.errors} errors or bad statuses", flush=True)
                runs[url].append(result)
        mine, theirs = together(runs[ours]), together(runs[tipg])
        print(f"    {mine.text()} vs {theirs.text()}: {mine.rate / theirs.rate:.2f}x", flush=True)
        results.append((mine, theirs))
    return results


def together(runs: list[WrkResult]) -> WrkResult:
    """Several passes as one: requests over the time they took together; the median pass's
    p50 and the worst p99."""
    if len(runs) == 1:
        return runs[0]
    return WrkResult(
        requests=sum(r.requests for r in runs),
        seconds=sum(r.seconds for r in runs),
        p50_ms=statistics.median(r.p50_ms for r in runs),
        p99_ms=max(r.p99_ms for r in runs),
        bad_status=sum(r.bad_status for r in runs),
        socket_errors=sum(r.socket_errors for r in runs),
    )


def median_rows(figure: str, paths: Paths, repeats: list[list[Pair]]) -> list[Row]:
    """Per phase: the median of the repeats' ratios (each ratio within one repeat, both servers
    measured back to back), each server's median run, and every repeat's ratio in the notes."""
    rows = []
    for index, (phase, sequential) in enumerate(PHASES):
        pairs = [repeat[index] for repeat in repeats]
        mine = sorted((p[0] for p in pairs), key=lambda r: r.rate)[len(pairs) // 2]
        theirs = sorted((p[1] for p in pairs), key=lambda r: r.rate)[len(pairs) // 2]
        ratios = [p[0].rate / p[1].rate for p in pairs]
        counted = f"{mine.requests:,} vs {theirs.requests:,} requests"
        if sequential:
            counted += f" of {len(paths.ours):,} paths"
        errors = sum(p[0].errors + p[1].errors for p in pairs)
        each = ", ".join(f"{r:.2f}x" for r in ratios)
        notes = f"median of {len(pairs)}; {counted}; each repeat: {each}; {errors} errors"
        rows.append(Row(f"{figure}, {phase}", mine, theirs, statistics.median(ratios), notes))
    return rows


def run(args: argparse.Namespace, url: str, python: Path, facts: list[str]) -> list[Row]:
    """tipg for the whole run; a fresh server of ours per figure, repeat and cache setting (its
    caches start empty, so a cold pass is never answered from memory). Figures: items, tiles
    of every zoom, and tiles of each of `--zooms` alone."""
    facts += data_size(url)
    city = city_area(url)
    items = item_paths(city, ITEM_PATHS, seed=7)
    tiles = tiles_over(city, TILE_ZOOMS)
    random.Random(11).shuffle(tiles)
    figures: dict[str, Paths] = {"OGC items (GeoJSON, bbox)": items}
    zooms = f"z{TILE_ZOOMS[0]}-{TILE_ZOOMS[-1]}"
    figures[f"vector tiles {zooms}"] = tile_set = tile_paths(tiles)
    for zoom in args.zooms:
        figures[f"vector tiles z{zoom}"] = tile_paths([t for t in tiles if t[0] == zoom])
    # Warm PostgreSQL, both pools and plans on paths never measured (zoom 16, other boxes).
    prime_items = item_paths(city, 500, seed=8)
    prime_tiles = tile_paths(tiles_over(city, (PRIME_ZOOM,))[:500])
    workdir = Path(tempfile.mkdtemp(prefix="bench_tipg_"))
    logs = ROOT / "artifacts"
    logs.mkdir(exist_ok=True)
    log = logs / "bench-tipg-ours.log"
    runs: dict[tuple[str, str], list[list[Pair]]] = {}
    try:
        with tipg_server(python, url, logs / "bench-tipg-tipg.log") as tipg:
            with live_server(url, 1, log) as (ours, _):
                print("sanity check (ours vs tipg):", flush=True)
                checks = sanity(ours, tipg, items, tile_set)
                for line in checks:
                    print(f"  {line}", flush=True)
                facts += [f"check: {line}" for line in checks]
            for repeat in range(args.repeats):
                print(f"repeat {repeat + 1} of {args.repeats}", flush=True)
                for figure, paths in figures.items():
                    prime = prime_items if paths is items else prime_tiles
                    for caches in args.caches:
                        print(f"  {figure}, our caches {caches} (a fresh server)", flush=True)
                        with live_server(url, 1, log, CACHE_SETTINGS[caches]) as (ours, _):
                            # As many connections as measured: each pool opens all its
                            # connections (and PostGIS in each backend) before the cold pass.
                            for server, own in ((ours, prime.ours), (tipg, prime.tipg)):
                                run_wrk(
                                    server,
                                    own,
                                    sequential=False,
                                    seconds=2,
                                    connections=args.connections,
                                    workdir=workdir,
                                )
                            passes = args.cold_passes if caches == "off" else 1
                            result = measure(paths, ours, tipg, args, workdir, repeat, passes)
                        runs.setdefault((figure, caches), []).append(result)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows = []
    for caches in args.caches:
        for figure, paths in figures.items():
            rows += median_rows(f"{figure}, caches {caches}", paths, runs[(figure, caches)])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database-url", help="a database with the demo loaded (only read)")
    parser.add_argument(
        "--scratch",
        action="store_true",
        help="load the demo into a scratch database on DATABASE_URL's server, ANALYZE it (as "
        "autovacuum would), measure there and drop it",
    )
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run (at most)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="fresh servers of ours in a row")
    parser.add_argument(
        "--cold-passes",
        type=int,
        default=5,
        help="passes over every path in a cold phase with our caches off (each path once per "
        "pass; caches on: always one)",
    )
    parser.add_argument(
        "--caches",
        type=lambda text: [part for part in text.split(",") if part],
        default=["on", "off"],
        help="our answer caches: on, off or on,off (each repeat starts one server per setting)",
    )
    parser.add_argument(
        "--zooms",
        type=lambda text: [int(part) for part in text.split(",") if part],
        default=[12, 13, 14],
        help="zooms also measured alone (comma-separated; empty for none)",
    )
    parser.add_argument("--output", type=Path, help="also write the table (markdown) here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    if not args.caches or set(args.caches) - set(CACHE_SETTINGS):
        parser.error(f"--caches: one or both of {', '.join(CACHE_SETTINGS)}, comma-separated")
    url = args.database_url or os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    print("tipg environment ...", flush=True)
    python = ensure_tipg()
    version = subprocess.run(
        [str(python), "-c", "import tipg, uvicorn; print(tipg.__version__, uvicorn.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    facts = [
        f"machine: {os.cpu_count()} cores, shared by both servers, PostgreSQL and wrk",
        (
            f"tipg {version[0]} (uvicorn {version[1]}, 1 worker) on {TIPG_TABLE}; ours: "
            "`jurisdictions serve` (1 worker); wrk: 1 thread, "
            f"{args.connections} connections, at most {args.duration} s per run"
        ),
    ]
    if args.scratch:
        with scratch_database(url, "jl_bench_tipg") as scratch:
            print("loading the Shenzhen demo into a scratch database ...", flush=True)
            facts.append(f"scratch database: demo loaded in {load_demo_into(scratch):.0f} s")
            with psycopg.connect(scratch, autocommit=True) as conn:
                conn.execute(SQL("VACUUM ANALYZE"))
            rows = run(args, scratch, python, facts)
    else:
        rows = run(args, url, python, facts)
    table = [
        "| " + " | ".join((*COLUMNS, "notes")) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
        *(row.line() for row in rows),
    ]
    text = "\n".join(f"- {fact}" for fact in facts) + "\n\n" + "\n".join(table)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
