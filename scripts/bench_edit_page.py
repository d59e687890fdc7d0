"""How fast the editing page is ready, offline, against the layers map as the same-run baseline.

Chromium (Debian's, driven by Playwright) with every host but 127.0.0.1 unresolvable opens
`/maps/edit?unit=CODE` on a running service (the demo: `make demo`), each time in a fresh
context (cold cache, as a GIS officer's first visit), and reads `JL.readyAt`: milliseconds from
navigation start until the unit, its parent, neighbours and children are drawn. The layers map
`/maps` is opened the same way as the baseline (until its first tiles are drawn). Then, on the
open editing page, a rename is added as a user would and the page's own dry run is timed from the
edit to the answer drawn (the round trip a GIS officer waits for).

    make bench-edit-page         # a server of its own over DATABASE_URL (the demo), a token
    python -m scripts.bench_edit_page [--url http://127.0.0.1:8000 --token TOKEN] [--runs 7]

With --url, a running service is measured (dry runs only with --token). Prints median and
worst; the target is a page ready in under 2 s.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: The network cut: nothing but the local server resolves (as tests/browser.py).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
VIEWPORT: Any = {"width": 1280, "height": 860}


@contextmanager
def own_server() -> Iterator[tuple[str, str]]:
    """A service over DATABASE_URL on a free port, and an editor token made for the run."""
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "jurisdictions.cli",
            "tokens",
            "create",
            "--role",
            "editor",
            "--actor",
            "bench_edit_page",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    token = made.stdout.strip().splitlines()[-1]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "jurisdictions.cli", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield url, token
    finally:
        server.terminate()
        server.wait(timeout=15)


def _ready_ms(page: Any, url: str, attribute: str) -> float:
    page.goto(url, wait_until="load")
    page.wait_for_selector(f"html[{attribute}=true]", state="attached", timeout=60_000)
    started = page.evaluate("() => performance.timeOrigin")
    now = page.evaluate("() => performance.timeOrigin + performance.now()")
    return float(now - started)


def _edit_ready_ms(page: Any, url: str) -> float:
    page.goto(url, wait_until="load")
    page.wait_for_function("() => window.JL && JL.readyAt", timeout=60_000)
    return float(page.evaluate("() => JL.readyAt"))


def _dry_run_ms(page: Any, token: str, name: str) -> tuple[float, float]:
    """From the click adding a rename to the answer drawn (with the page's 250 ms wait for
    more edits), and the request's own round trip as the page shows it."""
    page.fill("#jl-token", token)
    page.click("#jl-token-form button")
    page.click("button[data-tool=rename]")
    page.fill("#jl-rename-name", name)
    before = int(page.evaluate("() => Number(document.documentElement.dataset.jlChecks || 0)"))
    started = time.perf_counter()
    page.click("#jl-rename-add")
    page.wait_for_function(
        "(before) => Number(document.documentElement.dataset.jlChecks || 0) > before",
        arg=before,
        timeout=60_000,
    )
    waited = (time.perf_counter() - started) * 1000
    shown = re.search(r"(\d+) ms", page.inner_text("#jl-check"))
    return waited, float(shown.group(1)) if shown else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="", help="a running service (default: start one)")
    parser.add_argument("--unit", default="440303001", help="the unit the page opens on")
    parser.add_argument("--token", default="", help="an editor token, to time dry runs")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--warmup", type=int, default=1, help="unmeasured runs first (a server just started)"
    )
    args = parser.parse_args(argv)

    if args.url:
        return measure(args.url, args.unit, args.token, args.runs, args.warmup)
    with own_server() as (url, token):
        return measure(url, args.unit, token, args.runs, args.warmup)


def measure(url: str, unit: str, token: str, runs: int, warmup: int = 1) -> int:
    """Open both pages `runs` times each and print the figures."""
    from playwright.sync_api import sync_playwright

    edit: list[float] = []
    layers: list[float] = []
    checks: list[float] = []
    trips: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            for run in range(-warmup, runs):
                for name, sink in (("layers", layers), ("edit", edit)):
                    context = browser.new_context(viewport=VIEWPORT, service_workers="block")
                    page = context.new_page()
                    keep = run >= 0
                    if name == "layers":
                        took = _ready_ms(page, f"{url}/maps", "data-jl-ready")
                    else:
                        took = _edit_ready_ms(page, f"{url}/maps/edit?unit={unit}")
                        if token:
                            waited, trip = _dry_run_ms(page, token, f"bench {run}")
                            if keep:
                                checks.append(waited)
                                trips.append(trip)
                    if keep:
                        sink.append(took)
                    else:
                        print(f"warm-up (not counted): {name} ready in {took:.0f} ms")
                    context.close()
        finally:
            browser.close()

    def line(label: str, values: list[float]) -> str:
        return (
            f"{label:<34} median {statistics.median(values):7.0f} ms   worst {max(values):7.0f} ms"
            f"   ({len(values)} runs)"
        )

    print(f"offline, cold browser cache each run, {url}, unit {unit}, after {warmup} warm-up")
    print(line("layers map /maps (baseline)", layers))
    print(line("editing page /maps/edit ready", edit))
    ratio = statistics.median(edit) / statistics.median(layers)
    print(f"{'ratio edit / layers (median)':<34} {ratio:7.2f}")
    if checks:
        print(line("a rename, click to answer drawn", checks))
        print(line("  its dry run request (page-timed)", trips))
    print(f"target: ready in under 2000 ms -> {'met' if max(edit) < 2000 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
