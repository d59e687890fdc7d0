"""Soak test: a steady lookup load for minutes, reporting errors, latency and memory over time.

Starts the real server (the CLI's `serve`, uvicorn) on a free 127.0.0.1 port against
DATABASE_URL (which must hold a register, e.g. after `make demo`), then holds `--concurrency`
clients sending random point lookups inside Shenzhen for `--minutes` (and at most `--requests`).
Every `--interval` seconds it prints requests, errors, p50/p95/p99 latency and the server's
resident memory; at the end, whether errors stayed at 0 and memory stayed flat.

Only 127.0.0.1 is ever targeted; the load is bounded in time and count and stops by itself.

Usage: ``python -m scripts.soak [--minutes 5] [--concurrency 8] [--requests 1000000]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import httpx

from jurisdictions.settings import DEFAULT_DATABASE_URL

ROOT = Path(__file__).resolve().parents[1]
WEST, SOUTH, EAST, NORTH = 113.80, 22.45, 114.55, 22.80


@dataclass
class Window:
    """What happened during one reporting interval."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn workers), in MiB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for each in pids:
        status = Path(f"/proc/{each}/status")
        if status.exists():
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _client(
    url: str, stop_at: float, budget: list[int], window: list[Window], seed: int
) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        while time.monotonic() < stop_at and budget[0] > 0:
            budget[0] -= 1
            day = date(2015, 1, 1) + timedelta(days=rng.randrange(4000))
            params: dict[str, str | float] = {
                "lon": rng.uniform(WEST, EAST),
                "lat": rng.uniform(SOUTH, NORTH),
                "date": day.isoformat(),
            }
            started = time.perf_counter()
            try:
                response = await client.get("/v1/lookup", params=params)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            window[0].latencies.append(time.perf_counter() - started)
            if not ok:
                window[0].errors += 1


async def _run(
    url: str, pid: int, minutes: float, concurrency: int, requests: int, interval: float
) -> bool:
    stop_at = time.monotonic() + minutes * 60
    budget = [requests]
    window = [Window()]
    clients = [
        asyncio.create_task(_client(url, stop_at, budget, window, seed))
        for seed in range(concurrency)
    ]
    memory: list[float] = []
    total, errors = 0, 0
    print(
        f"{'t (s)':>6} {'requests':>9} {'errors':>6} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'p99 ms':>7} {'RSS MiB':>8}"
    )
    started = time.monotonic()
    while any(not c.done() for c in clients):
        await asyncio.sleep(interval)
        current, window[0] = window[0], Window()
        rss = _rss_mb(pid)
        memory.append(rss)
        total += len(current.latencies)
        errors += current.errors
        ms = [v * 1000 for v in current.latencies]
        print(
            f"{time.monotonic() - started:6.0f} {len(ms):9d} {current.errors:6d} "
            f"{len(ms) / interval:7.0f} {_percentile(ms, 0.5):7.1f} {_percentile(ms, 0.95):7.1f} "
            f"{_percentile(ms, 0.99):7.1f} {rss:8.1f}",
            flush=True,
        )
    await asyncio.gather(*clients)
    settled = memory[len(memory) // 3 :] or memory
    growth = (max(settled) - min(settled)) / statistics.mean(settled) if settled else 0.0
    flat = growth < 0.10
    verdict = "flat" if flat else "GROWING"
    print(
        f"total {total} requests, {errors} errors; memory after warm-up "
        f"{min(settled):.0f}-{max(settled):.0f} MiB ({growth:.1%} spread: {verdict})"
    )
    return errors == 0 and flat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=1_000_000, help="upper bound")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds per report line")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jurisdictions.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ],
        env={**os.environ, "DATABASE_URL": database_url},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        print(
            f"soak: {args.concurrency} clients for {args.minutes} min against {url} "
            f"({os.cpu_count()} cores)"
        )
        ok = asyncio.run(
            _run(url, server.pid, args.minutes, args.concurrency, args.requests, args.interval)
        )
    finally:
        server.terminate()
        server.wait(timeout=20)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
