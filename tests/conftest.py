"""Test fixtures: real PostGIS databases, built once from the migrations and cloned per test.

Each test that needs a database gets its own, created from a migrated template in a few
hundred milliseconds, so tests never see each other's events. The server is the one in
DATABASE_URL (what `make test` sets up); only the database names differ.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

from jurisdictions.bootstrap import Services, build_services
from jurisdictions.cli import migrate
from jurisdictions.settings import DEFAULT_DATABASE_URL, Settings

ROOT = Path(__file__).resolve().parent.parent


def _with_dbname(url: str, dbname: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{dbname}"


class DatabaseFactory:
    """Creates the template once per session and hands out fresh clones of it."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.admin_url = _with_dbname(self.server_url, "postgres")
        self.template = f"jl_test_template_{os.getpid()}"
        self.created: list[str] = []
        self._template_ready = False

    def _admin(self, statement: sql.Composed) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(statement)

    def _ensure_template(self) -> None:
        if self._template_ready:
            return
        self._admin(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.template))
        )
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.template)))
        settings = Settings(database_url=_with_dbname(self.server_url, self.template))
        migrate(settings)
        self._template_ready = True

    def fresh(self) -> str:
        """The URL of a new database, a clone of the migrated template."""
        self._ensure_template()
        name = f"jl_test_{uuid.uuid4().hex[:12]}"
        self._admin(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(self.template)
            )
        )
        self.created.append(name)
        return _with_dbname(self.server_url, name)

    def drop(self, url: str) -> None:
        name = url.rpartition("/")[2]
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def drop_all(self) -> None:
        for name in [*self.created, self.template]:
            self._admin(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def databases() -> Iterator[DatabaseFactory]:
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    try:
        psycopg.connect(_with_dbname(url, "postgres"), connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        pytest.exit(
            f"PostgreSQL at {url} is not reachable ({exc}); run the tests with `make test`, "
            "which sets up PostGIS first",
            returncode=3,
        )
    manager = DatabaseFactory(url)
    yield manager
    manager.drop_all()


def scenario_database(
    databases: DatabaseFactory, *owners: tuple[str, str]
) -> tuple[str, list[str]]:
    """A fresh database holding the projected scenario city, and a token per (role, actor)."""
    from tests import scenario

    url = databases.fresh()
    services = build_services(Settings(database_url=url, run_projection=False))
    try:
        scenario.build(services.register)
        services.worker.catch_up()
        tokens = [services.tokens.create(role, actor)[1] for role, actor in owners]
    finally:
        services.close()
    return url, tokens


@pytest.fixture
def database_url(databases: DatabaseFactory) -> Iterator[str]:
    url = databases.fresh()
    yield url
    databases.drop(url)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, run_projection=False)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = build_services(settings)
    yield built
    built.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """The real service in a subprocess (uvicorn, real sockets), as users run it."""

    def __init__(self, database_url: str, **env: str) -> None:
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {**os.environ, "DATABASE_URL": database_url, **env}
        self.log = ROOT / "artifacts" / f"server-{self.port}.log"
        self.log.parent.mkdir(exist_ok=True)
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jurisdictions.cli", "serve", "--port", str(self.port)],
            env=environment,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log_file.close()


def own_demo_database(
    databases: DatabaseFactory, *owners: tuple[str, str]
) -> tuple[str, list[str]]:
    """A fresh database holding the projected Shenzhen demo (a module's own, so it may edit
    it), and a token per (role, actor)."""
    from jurisdictions.demo.shenzhen import load_demo

    url = databases.fresh()
    built = build_services(Settings(database_url=url, run_projection=False))
    try:
        load_demo(built.register)
        built.worker.catch_up()
        tokens = [built.tokens.create(role, actor)[1] for role, actor in owners]
    finally:
        built.close()
    return url, tokens


@pytest.fixture(scope="session")
def demo_database(databases: DatabaseFactory) -> str:
    """A database with the Shenzhen demo loaded and projected, shared by read-only tests."""
    return own_demo_database(databases)[0]


@pytest.fixture(scope="session")
def demo_server(demo_database: str) -> Iterator[LiveServer]:
    server = LiveServer(demo_database)
    yield server
    server.stop()
