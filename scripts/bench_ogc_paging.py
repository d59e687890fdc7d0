"""How long GIS clients take to copy the demo's grid layer through OGC API - Features.

Real clients against the real server (`jurisdictions serve`, one worker, a free 127.0.0.1 port)
over a database holding the Shenzhen demo:

- `ogr2ogr` (the system's GDAL, Debian 12: 3.6) with no option, which asks for 10 features a
  page and follows the `next` links, then with ``-oo PAGE_SIZE=1000`` and ``10000``;
- pyogrio's bundled GDAL (a newer one, which picks its page size itself) with no option;
- single pages over HTTP (one client, keep-alive): the first page of the layer (the query's
  page index is built), further pages not seen before, and pages asked again (from memory).

Each repeat starts a fresh server (empty caches) and copies the layer twice: "cold" (first
copy after start) and "warm" (the same copy again). Figures are medians over the repeats, with
the range. `--baseline CHECKOUT` measures another checkout of the project (e.g. a worktree of
an older commit) on the same database in the same run, for a before/after ratio; its
`ogr2ogr` with no option can take minutes, so it runs once.

Usage: ``python -m scripts.bench_ogc_paging [--database-url URL] [--repeats 3]
[--datetime 2020-01-01] [--baseline PATH]``. The database must hold the projected demo
(`jurisdictions demo`); it is only read. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

from jurisdictions.settings import DEFAULT_DATABASE_URL

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(checkout: Path, database_url: str, log: Path) -> Iterator[str]:
    """`jurisdictions serve` of `checkout` (its own code, not this one's) on a free port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(checkout)}
    command = [sys.executable, "-m", "jurisdictions.cli", "serve", "--port", str(port)]
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, cwd=checkout, stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start:\n{log.read_text()}")
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            # Pages are cached (and indexed) once the read-model watch has connected.
            while httpx.get(f"{url}/ogc/collections/city/items").headers.get("x-cache") == "off":
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def grid_count(database_url: str, day: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM unit_versions WHERE level = 'grid' AND upper_inf(recorded) "
            "AND valid @> %s::date",
            (day,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def ogr2ogr(url: str, day: str, options: list[str], expected: int) -> float:
    """Seconds `ogr2ogr` takes to copy the grid layer of `day` into a GeoPackage."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "grid.gpkg"
        started = time.perf_counter()
        subprocess.run(
            [
                "ogr2ogr",
                "-f",
                "GPKG",
                str(out),
                f"OAPIF:{url}/ogc?datetime={day}",
                "grid",
                *options,
            ],
            check=True,
            capture_output=True,
            timeout=3600,
        )
        seconds = time.perf_counter() - started
        info = subprocess.run(
            ["ogrinfo", "-so", str(out), "grid"], check=True, capture_output=True, text=True
        ).stdout
    count = next(line for line in info.splitlines() if line.startswith("Feature Count"))
    assert int(count.split(":")[1]) == expected, (count, expected)
    return seconds


def pyogrio_read(url: str, day: str, expected: int) -> float:
    """Seconds pyogrio's GDAL takes to read the grid layer of `day`, with its defaults."""
    from pyogrio.raw import read

    started = time.perf_counter()
    _, _, geometry, _ = read(f"OAPIF:{url}/ogc/collections/grid?datetime={day}")
    seconds = time.perf_counter() - started
    assert len(geometry) == expected, (len(geometry), expected)
    return seconds


def pages(
    url: str, day: str, limit: int, total: int, count: int = 20
) -> tuple[float, float, float]:
    """Milliseconds (median) for the first page, for pages not asked before (each at its own
    offset, spread over the layer), and for the same pages asked again."""
    items = f"{url}/ogc/collections/grid/items"
    with httpx.Client(timeout=120) as client:

        def timed(offset: int) -> float:
            started = time.perf_counter()
            response = client.get(items, params={"datetime": day, "limit": limit, "offset": offset})
            assert response.status_code == 200, response.text
            return (time.perf_counter() - started) * 1000

        first = timed(0)
        offsets = [(i + 1) * (total // (count + 1)) + 1 for i in range(count)]
        fresh = [timed(offset) for offset in offsets]
        again = [timed(offset) for offset in offsets]
    return first, statistics.median(fresh), statistics.median(again)


def figure(values: list[float], unit: str = "s") -> str:
    if len(values) == 1:
        return f"{values[0]:.1f} {unit}"
    return f"{statistics.median(values):.1f} {unit} ({min(values):.1f}-{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--datetime", default="2020-01-01", help="the date of the layer")
    parser.add_argument("--baseline", type=Path, help="another checkout to measure too")
    args = parser.parse_args()
    database_url = args.database_url or DEFAULT_DATABASE_URL
    day = args.datetime
    expected = grid_count(database_url, day)
    if not shutil.which("ogr2ogr"):
        sys.exit("ogr2ogr is missing: run scripts/ensure_test_tools.sh as root")
    gdal = subprocess.run(["ogr2ogr", "--version"], capture_output=True, text=True).stdout.strip()
    logs = Path(tempfile.mkdtemp(prefix="bench-ogc-"))
    print(f"grid layer of {day}: {expected} features; {gdal}; logs in {logs}", file=sys.stderr)

    clients: list[tuple[str, Callable[[str], float]]] = [
        ("ogr2ogr, no option (10 a page)", lambda url: ogr2ogr(url, day, [], expected)),
        (
            "ogr2ogr -oo PAGE_SIZE=1000",
            lambda url: ogr2ogr(url, day, ["-oo", "PAGE_SIZE=1000"], expected),
        ),
        (
            "ogr2ogr -oo PAGE_SIZE=10000",
            lambda url: ogr2ogr(url, day, ["-oo", "PAGE_SIZE=10000"], expected),
        ),
        ("pyogrio (its GDAL), no option", lambda url: pyogrio_read(url, day, expected)),
    ]
    cold: dict[str, list[float]] = {name: [] for name, _ in clients}
    warm: dict[str, list[float]] = {name: [] for name, _ in clients}
    single: dict[int, list[tuple[float, float, float]]] = {10: [], 1000: [], 10000: []}
    for repeat in range(args.repeats):
        for name, run in clients:
            with server(ROOT, database_url, logs / f"server-{repeat}.log") as url:
                cold[name].append(run(url))
                warm[name].append(run(url))
            print(f"repeat {repeat + 1}: {name}: {cold[name][-1]:.1f} s", file=sys.stderr)
        with server(ROOT, database_url, logs / f"server-{repeat}-pages.log") as url:
            for limit in single:
                single[limit].append(pages(url, day, limit, expected, 20 if limit <= 1000 else 5))

    print(f"| client (grid layer of {day}, {expected:,} features) | cold | warm |")
    print("|---|---|---|")
    for name, _ in clients:
        print(f"| {name} | {figure(cold[name])} | {figure(warm[name])} |")
    print()
    print("| one page (HTTP, keep-alive) | first page | new pages | pages again |")
    print("|---|---|---|---|")
    for limit, runs in single.items():
        first, fresh, again = ([run[i] for run in runs] for i in range(3))
        print(
            f"| limit={limit} | {figure(first, 'ms')} | {figure(fresh, 'ms')} "
            f"| {figure(again, 'ms')} |"
        )

    if args.baseline is not None:
        with server(args.baseline.resolve(), database_url, logs / "baseline.log") as url:
            before = [ogr2ogr(url, day, [], expected)]
        with server(ROOT, database_url, logs / "after.log") as url:
            after = [ogr2ogr(url, day, [], expected)]
        print()
        print("| ogr2ogr, no option | baseline | this checkout | ratio |")
        print("|---|---|---|---|")
        print(
            f"| {args.baseline} | {before[0]:.1f} s | {after[0]:.1f} s | "
            f"{before[0] / after[0]:.0f}x |"
        )


if __name__ == "__main__":
    main()
