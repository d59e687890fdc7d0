"""HTTP protocol benchmark: uvicorn's h11 and httptools implementations, with and without the
service's limits (jurisdictions/http.py), on a trivial app and on real lookups.

Three servers of each kind run side by side, one worker each, on free 127.0.0.1 ports:

- ``h11-limited``: uvicorn's h11 protocol with the limits, as the service ran it before the
  switch to httptools (the class is kept below as this benchmark's baseline);
- ``httptools-limited``: ``jurisdictions.http.protocol_with`` (what the service runs);
- ``httptools``: uvicorn's plain httptools protocol (no limits at all).

The trivial app answers ``ok`` to anything; the service is ``jurisdictions serve`` on the
Shenzhen demo, asked ``GET /v1/lookup`` at random points inside Shenzhen on random dates (from
memory, as in scripts/bench_service.py). wrk drives the load (one thread, `--connections`
kept-alive connections); the servers are measured in turn, the order rotating each round, and
the best run of each is kept, so that a noisy neighbour hurts every side alike. The table gives
requests/s and the ratios that decide the protocol.

Usage: ``python -m scripts.bench_http_protocols [--duration 5] [--rounds 3] [--connections 16]
[--database-url URL]``. Without `--database-url` the demo is loaded into a scratch database on
the server in DATABASE_URL, dropped afterwards. wrk must be on PATH (`make wrk`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import h11
import shapely
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from api import error_codes as codes
from api.edge import READ_TIMED_OUT
from api.errors import error_body
from jurisdictions.http import Limits, protocol_with, raw_response
from jurisdictions.settings import DEFAULT_DATABASE_URL, Settings
from scripts.bench_read_model import scratch_database
from scripts.bench_service import (
    BATCH_DAY,
    LUA_PATHS,
    ROOT,
    WrkResult,
    free_port,
    load_demo_into,
    lookup_paths,
    read_polygons,
    run_wrk,
    serving,
    wait_for_index,
)

VARIANTS = ("h11-limited", "httptools-limited", "httptools")


class LimitedH11Protocol(H11Protocol):
    """The baseline: uvicorn's h11 protocol with the same limits, as the service ran it until
    the switch (the head's size is measured in h11's buffer; the header count was left to
    ``api.edge``)."""

    limits: Limits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_head_bytes and self._head_too_large(data):
                self._refuse(codes.HEADERS_TOO_LARGE, "the request head is too large")
                return
            if self._head_timer is None:
                self._arm_head_timer()
        super().data_received(data)
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is not h11.IDLE:
            self._head_bytes = 0
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
        if state is h11.SEND_BODY:
            self._arm_body_timer()
        elif self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def send_400_response(self, msg: str) -> None:
        body = json.dumps(error_body(codes.HTTP_ERROR.code, f"malformed HTTP request: {msg}"))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        with contextlib.suppress(h11.LocalProtocolError):
            self.transport.write(
                (self.conn.send(h11.Response(status_code=400, headers=headers)) or b"")
                + (self.conn.send(h11.Data(data=body.encode())) or b"")
                + (self.conn.send(h11.EndOfMessage()) or b"")
            )
        self._cancel_timers()
        self.transport.close()

    def _head_too_large(self, data: bytes) -> bool:
        head = self.conn.trailing_data[0] + data
        end = head.find(b"\r\n\r\n")
        limit = self.limits.max_head_bytes
        return end > limit or (end < 0 and len(head) > limit)

    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _arm_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
        self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if not self.conn.trailing_data[0]:
            self.transport.close()
            return
        self._refuse(codes.REQUEST_TIMEOUT, "the request head took too long")

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.SEND_BODY:
            return
        if self.flow.read_paused:
            self._arm_body_timer()
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            self.transport.write(raw_response(codes.REQUEST_TIMEOUT, "the body stayed silent"))
            cycle.scope.setdefault("state", {})[READ_TIMED_OUT] = self.limits.body_timeout
            cycle.response_started = True
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    def _refuse(self, error: codes.ErrorCode, message: str) -> None:
        self._cancel_timers()
        self.transport.write(raw_response(error, message))
        self.transport.close()

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None


def protocol(variant: str, settings: Settings) -> type[asyncio.Protocol]:
    """The uvicorn protocol class of `variant`, with the limits of `settings`."""
    limits = Limits(
        settings.max_header_bytes,
        settings.max_header_count,
        settings.header_timeout,
        settings.body_timeout,
    )
    if variant == "h11-limited":
        return type("LimitedH11Protocol", (LimitedH11Protocol,), {"limits": limits})
    if variant == "httptools-limited":
        return protocol_with(limits)
    return HttpToolsProtocol


async def trivial_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Two bytes for any request: what the HTTP layer costs on its own."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")],
        }
    )
    await send({"type": "http.response.body", "body": b"ok"})


class _Transport(asyncio.Transport):
    """A connection that swallows what the server writes (for CPU time without a network)."""

    def __init__(self) -> None:
        super().__init__()
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8000) if name in ("peername", "sockname") else default

    def write(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def cpu_per_request(http: type[asyncio.Protocol], requests: int) -> float:
    """Microseconds of this process's CPU per request: `requests` GETs (as wrk sends them) fed
    one after the other to one connection of `http` serving the trivial app."""
    config = uvicorn.Config(trivial_app, http=http, lifespan="off", log_level="warning")
    config.load()
    state = ServerState()
    connection = http(config=config, server_state=state, app_state={})  # type: ignore[call-arg]
    connection.connection_made(_Transport())
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"
    started = time.process_time()
    for number in range(1, requests + 1):
        connection.data_received(request)
        while state.total_requests < number:
            await asyncio.sleep(0)
    spent = time.process_time() - started
    connection.connection_lost(None)
    return spent / requests * 1e6


def measure_cpu(args: argparse.Namespace) -> str:
    """Best of `args.rounds` in-process runs per variant, in turn."""
    settings = Settings()  # type: ignore[call-arg]
    best = dict.fromkeys(VARIANTS, float("inf"))
    for _ in range(args.rounds):
        for variant in VARIANTS:
            micros = asyncio.run(cpu_per_request(protocol(variant, settings), 20_000))
            best[variant] = min(best[variant], micros)
    lines = [
        "### CPU per request, in process (trivial app, no network)",
        "",
        "| protocol | µs of CPU per request (best) | vs plain httptools | vs h11-limited |",
        "|---|---|---|---|",
    ]
    for variant, micros in best.items():
        lines.append(
            f"| {variant} | {micros:.1f} | {micros / best['httptools']:.3f} "
            f"| {micros / best['h11-limited']:.2f} |"
        )
    return "\n".join(lines)


def serve_one(app: str, variant: str, port: int) -> None:
    """(In a subprocess) serve `app` ("trivial" or "service") with `variant`, one worker."""
    settings = Settings()  # type: ignore[call-arg]
    http = protocol(variant, settings)
    if app == "trivial":
        config = uvicorn.Config(
            trivial_app, host="127.0.0.1", port=port, http=http, lifespan="off", log_level="warning"
        )
        uvicorn.Server(config).run()
        return
    from jurisdictions import server

    server.protocol_with = lambda limits: http  # type: ignore[attr-defined,assignment,return-value]
    sys.exit(server.serve(settings, "127.0.0.1", port, 1, log_level="warning"))


@contextmanager
def servers(app: str, database_url: str, logs: Path) -> Iterator[dict[str, str]]:
    """One server per variant, all up at once: variant -> base URL."""
    with ExitStack() as stack:
        urls = {}
        for variant in VARIANTS:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            command = [sys.executable, "-m", "scripts.bench_http_protocols"]
            command += ["--serve", app, variant, str(port)]
            env = {**os.environ, "DATABASE_URL": database_url}
            ready = f"{url}/healthz"
            log = logs / f"bench-http-{app}-{variant}.log"
            stack.enter_context(serving(f"{app} {variant}", command, env, log, ready))
            urls[variant] = url
        yield urls


def measure(
    urls: dict[str, str], paths: list[str], args: argparse.Namespace, workdir: Path
) -> dict[str, WrkResult]:
    """Best of `args.rounds` runs per variant, taken in turn (the order rotating each round)."""
    for url in urls.values():  # warm
        run_wrk(url, paths, args.connections, 2, workdir)
    runs: dict[str, list[WrkResult]] = {variant: [] for variant in urls}
    order = list(urls)
    for round_ in range(args.rounds):
        for variant in order[round_ % len(order) :] + order[: round_ % len(order)]:
            result = run_wrk(urls[variant], paths, args.connections, args.duration, workdir)
            runs[variant].append(result)
            print(f"  {variant:18} {result.text()}  errors {result.errors}", flush=True)
    return {variant: max(results, key=lambda r: r.rate) for variant, results in runs.items()}


def table(name: str, best: dict[str, WrkResult]) -> str:
    plain = best["httptools"].rate
    h11_rate = best["h11-limited"].rate
    lines = [
        f"### {name}",
        "",
        "| protocol | requests/s (best) | p50 | p99 | vs plain httptools | vs h11-limited |",
        "|---|---|---|---|---|---|",
    ]
    for variant, result in best.items():
        lines.append(
            f"| {variant} | {result.rate:,.0f} | {result.p50_ms:.2f} ms | {result.p99_ms:.2f} ms "
            f"| {result.rate / plain:.3f} | {result.rate / h11_rate:.2f} |"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace, database_url: str) -> str:
    workdir = Path(tempfile.mkdtemp(prefix="bench_http_"))
    logs = ROOT / "artifacts"
    logs.mkdir(exist_ok=True)
    sections = []
    print("CPU per request, in process", flush=True)
    sections.append(measure_cpu(args))
    print(sections[-1], flush=True)
    try:
        print("trivial app", flush=True)
        with servers("trivial", database_url, logs) as urls:
            sections.append(table("Trivial app (GET /)", measure(urls, ["/"], args, workdir)))
        _, cities = read_polygons(database_url, "city", BATCH_DAY)
        paths = lookup_paths(shapely.union_all(cities), LUA_PATHS)
        print("service: GET /v1/lookup", flush=True)
        with servers("service", database_url, logs) as urls:
            for url in urls.values():
                wait_for_index(url)
            best = measure(urls, paths, args, workdir)
            sections.append(table("The service on the demo (GET /v1/lookup, from memory)", best))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    facts = (
        f"{os.cpu_count()} cores shared by the servers and wrk; one worker per server; "
        f"{args.connections} connections; best of {args.rounds} alternating {args.duration} s "
        f"runs; uvicorn {uvicorn.__version__}"
    )
    return facts + "\n\n" + "\n\n".join(sections)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs per variant")
    parser.add_argument("--database-url", help="a database with the demo loaded (kept as is)")
    parser.add_argument("--serve", nargs=3, metavar=("APP", "VARIANT", "PORT"), help="internal")
    args = parser.parse_args()
    if args.serve:
        app, variant, port = args.serve
        serve_one(app, variant, int(port))
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: make wrk")
    if args.database_url:
        print(run(args, args.database_url))
        return
    server = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    with scratch_database(server, "jl_bench_http") as url:
        print("loading the Shenzhen demo ...", flush=True)
        load_demo_into(url)
        print(run(args, url))


if __name__ == "__main__":
    main()
