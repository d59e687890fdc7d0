"""A batch with offices (`POST /v1/lookup/batch`, `"offices": true`) against the plain batch.

The same 100,000 random points inside Shenzhen (fixed seed), on one date, through the real
server (`jurisdictions serve`, one worker): a plain batch (units only: the baseline), the batch
with offices (and a matter) answered from memory, and the same as recorded at an instant (SQL
answers). Each is timed end to end (request sent, whole answer read, not decompressed twice);
the table gives the median of the repeats and its ratio to the plain batch of the same run.

Usage: ``python -m scripts.bench_batch_offices [--database-url URL] [--points 100000]
[--repeats 3] [--code DIR]``; the database must hold the demo. `--code` serves another
checkout's code instead (e.g. /work/main, to compare before and after on the same database).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import httpx

from jurisdictions.settings import DEFAULT_DATABASE_URL
from scripts.bench_service import free_port, points_inside, serving
from scripts.bench_tipg import city_area

ROOT = Path(__file__).resolve().parent.parent
DAY = "2020-01-01"
#: After every recording of the demo: current beliefs, but asked "as recorded" (SQL answers).
LATER = "2999-01-01T00:00:00Z"
CASES = {
    "plain batch (units)": {},
    "offices + matter, from memory": {"offices": True, "matter": "elderly-card"},
    "offices + matter, as_recorded (SQL)": {
        "offices": True,
        "matter": "elderly-card",
        "as_recorded": LATER,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout to serve")
    args = parser.parse_args()
    url = args.database_url or os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    rng = random.Random(16)
    points = [
        {"id": i, "lon": round(lon, 6), "lat": round(lat, 6)}
        for i, (lon, lat) in enumerate(points_inside(city_area(url), args.points, rng))
    ]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    code = args.code.resolve()
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(code)}
    command = [sys.executable, "-m", "jurisdictions.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1"]
    log = ROOT / "artifacts" / "bench-batch-offices.log"
    log.parent.mkdir(exist_ok=True)
    times: dict[str, list[float]] = {case: [] for case in CASES}
    sizes: dict[str, int] = {}
    with (
        serving("server", command, env, log, f"{base}/healthz", cwd=code),
        httpx.Client(timeout=900) as client,
    ):
        # The date's period is indexed on its third ask: ask three times first.
        for _ in range(3):
            client.post(f"{base}/v1/lookup/batch", json={"date": DAY, "points": points[:10]})
        for repeat in range(args.repeats):
            for case, options in CASES.items():
                body = json.dumps({"date": DAY, **options, "points": points}).encode()
                started = time.perf_counter()
                response = client.post(
                    f"{base}/v1/lookup/batch",
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
                times[case].append(time.perf_counter() - started)
                assert response.status_code == 200, response.text[:500]
                sizes[case] = len(response.content)
                print(f"repeat {repeat + 1}: {case}: {times[case][-1]:.2f} s", flush=True)
    plain = statistics.median(times["plain batch (units)"])
    print(f"\n{args.points:,} points on {DAY}, served from {code}, median of {args.repeats}:\n")
    print("| batch | time | points/s | ratio to plain | answer |")
    print("|---|---|---|---|---|")
    for case, found in times.items():
        median = statistics.median(found)
        print(
            f"| {case} | {median:.2f} s ({min(found):.2f}-{max(found):.2f}) | "
            f"{args.points / median:,.0f} | {median / plain:.2f}x | "
            f"{sizes[case] / 1e6:.0f} MB |"
        )


if __name__ == "__main__":
    main()
