"""The pre-fork server: the lookup index loaded once per machine, shared by every worker.

Each uvicorn worker would otherwise read and index the whole register for itself (hundreds of
MiB each). Here the parent binds the socket, loads the snapshot and indexes its most recent
periods with a plain connection (no pool, no thread), freezes the garbage collector's view of
those objects (`gc.freeze`: a collection would otherwise write to every page and unshare it),
then forks the workers. Each worker builds its pools, watch and threads after the fork, adopts
the snapshot and refreshes it by difference, so the pages loaded before the fork stay shared.
The parent only supervises: it forwards SIGTERM and SIGINT to the workers and restarts one that
dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import signal
import socket
import sys
import threading
import time
from datetime import date
from types import FrameType

import psycopg
import uvicorn
from fastapi import FastAPI

from domain.register import JurisdictionRegister
from jurisdictions.bootstrap import TRACKING_TABLE
from jurisdictions.http import Limits, protocol_with
from jurisdictions.settings import Settings
from projections.lookup_index import Snapshot, load_snapshot
from projections.lookup_index.refresher import count_versions

LOGGER = logging.getLogger(__name__)


#: The ASGI application every worker serves.
def bind(host: str, port: int) -> socket.socket:
    """The listening socket, inherited by the workers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def load_shared(settings: Settings) -> Snapshot | None:
    """The snapshot with its most recent periods indexed, before any fork."""
    if not settings.lookup_index:
        return None
    started = time.perf_counter()
    try:
        with psycopg.connect(settings.conninfo, autocommit=True) as conn:
            if count_versions(conn) > settings.lookup_index_max_versions:
                return None  # each worker's index says why on /readyz
            snapshot = load_snapshot(
                conn,
                TRACKING_TABLE,
                JurisdictionRegister.name,
                settings.level_scheme,
                settings.lookup_index_epochs,
            )
    except psycopg.Error as exc:  # no database yet: the workers load when they can
        LOGGER.warning("lookup index not preloaded (%s)", exc)
        return None
    # The most recent periods (as many as each worker keeps), today's last and with its batch
    # coverage: built here they are shared, built in a worker each would hold its own copy.
    for first in snapshot.bounds[-(settings.lookup_index_epochs - 1) :]:
        snapshot.epoch(date.fromordinal(first))
    snapshot.epoch(settings.today()).covered()
    print(
        f"lookup index preloaded for all workers: {snapshot.versions} unit versions "
        f"in {time.perf_counter() - started:.2f} s",
        file=sys.stderr,
        flush=True,
    )
    return snapshot


def trim_regularly(every: float = 5.0) -> None:
    """In a worker: every few seconds, hand the heap's free pages back to the system
    (`malloc_trim`). glibc would otherwise keep a large batch's peak resident for good: private
    memory in every worker, which the shared index cannot offset."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return

    def trim() -> None:
        while True:
            time.sleep(every)
            libc.malloc_trim(0)

    threading.Thread(target=trim, name="memory-trim", daemon=True).start()


def serve(settings: Settings, host: str, port: int, workers: int, log_level: str = "info") -> int:
    """Bind, preload, fork `workers` uvicorn workers and supervise them until told to stop."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The index's loads and refreshes (position, how, seconds) belong in the server's log.
    logging.getLogger("projections.lookup_index").setLevel(logging.INFO)
    sock = bind(host, port)
    from api.app import create_app  # imported once here: the workers share its pages

    # Built before the fork with the shared snapshot; its lifespan (pools, threads) runs in
    # each worker, after the fork, through the composition root.
    app = create_app(settings, preloaded=load_shared(settings))
    gc.collect()
    gc.freeze()
    children: dict[int, int] = {}  # pid -> worker number
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):  # exited already
                os.kill(pid, signal.SIGTERM)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    config = server_config(settings, app, log_level)
    for number in range(workers):
        children[_fork(sock, number, config)] = number
    status = 0
    while children:
        try:
            pid, code = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid not in children:
            continue
        number = children.pop(pid)
        if not stopping:
            LOGGER.warning("worker %d (pid %d) exited with %d; starting another", number, pid, code)
            time.sleep(1)
            children[_fork(sock, number, config)] = number
        elif os.waitstatus_to_exitcode(code) not in (0, -signal.SIGTERM):
            status = 1
    sock.close()
    return status


def server_config(settings: Settings, app: FastAPI, log_level: str = "info") -> uvicorn.Config:
    """uvicorn's configuration: the httptools protocol with the limits of `settings` (see
    jurisdictions/http.py for what each limit does)."""
    limits = Limits(
        settings.max_header_bytes,
        settings.max_header_count,
        settings.header_timeout,
        settings.body_timeout,
    )
    return uvicorn.Config(app, log_level=log_level, lifespan="on", http=protocol_with(limits))


def _fork(sock: socket.socket, number: int, config: uvicorn.Config) -> int:
    pid = os.fork()
    if pid:
        return pid
    # The worker: default signal handling (uvicorn installs its own), then serve forever.
    code = 1
    try:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        trim_regularly()  # a thread: after the fork
        uvicorn.Server(config).run(sockets=[sock])
        code = 0
    except BaseException:
        LOGGER.exception("worker %d failed", number)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
