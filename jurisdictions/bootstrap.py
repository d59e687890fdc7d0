"""Builds the long-lived objects from the settings, once per process.

Everything that owns a connection pool is made here and closed by `Services.close`, so neither
the API nor the CLI ever builds an application or a pool per request (each `eventsourcing`
application and view owns its own pool).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Literal

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment
from psycopg_pool import ConnectionPool

from domain.register import JurisdictionRegister
from jurisdictions.settings import Settings
from projections.features import AnswerCache, FeaturePage, FeatureStore, PageIndex
from projections.freshness import ReadModelWatch
from projections.jobs import JobStore
from projections.lookup import LookupEngine
from projections.lookup_index import LookupIndex, Snapshot
from projections.lookup_service import LookupService
from projections.maintenance import BULK_EVENTS, tidy_read_model
from projections.published import PublishedLists
from projections.queries import ReadModelQueries
from projections.read_model import ReadModelView
from projections.routing import ReadRouter
from projections.tokens import TokenStore
from projections.worker import Progress, ProjectionBusy, ProjectionStalled, ProjectionWorker

#: Name of the read-model view; it prefixes the tracking table (``readmodel_tracking``).
READ_MODEL_NAME = "ReadModel"
#: The tracking table the `eventsourcing` library names after the view.
TRACKING_TABLE = f"{READ_MODEL_NAME.lower()}_tracking"
MIB = 1024 * 1024


def eventsourcing_env(
    settings: Settings, pool_size: int = 3, *, create_tables: bool = False
) -> dict[str, str]:
    """The `eventsourcing` library's environment for our database.

    Tables are created by `jurisdictions migrate` only: the library's ``CREATE OR REPLACE
    FUNCTION`` fails when several workers start at once ("tuple concurrently updated").
    """
    parts = settings.database_parts()
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts["dbname"],
        "POSTGRES_HOST": parts["host"],
        "POSTGRES_PORT": parts["port"],
        "POSTGRES_USER": parts["user"],
        "POSTGRES_PASSWORD": parts["password"],
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(pool_size),
        # Projection batches do their geometry work before opening the transaction, but a
        # rebuild batch of thousands of rows may legitimately take longer than the default 5 s.
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "60",
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "CREATE_TABLE": "y" if create_tables else "n",
    }


def build_register(settings: Settings, *, create_tables: bool = False) -> JurisdictionRegister:
    """The event-sourced register on PostgreSQL."""
    env = eventsourcing_env(settings, create_tables=create_tables)
    return JurisdictionRegister(env=env, rules=settings.rules)


def build_view(settings: Settings, *, create_tables: bool = False) -> ReadModelView:
    """The read-model writer, with its tracking table."""
    env = Environment(
        name=READ_MODEL_NAME,
        env=eventsourcing_env(settings, pool_size=2, create_tables=create_tables),
    )
    factory = InfrastructureFactory.construct(env)
    view = factory.tracking_recorder(ReadModelView)
    assert isinstance(view, ReadModelView)
    return view


@dataclass
class AnswerCaches:
    """This process's caches of whole answers, each kept at one read-model position."""

    #: OGC API item pages (`/collections/{id}/items`).
    items: AnswerCache[FeaturePage]
    #: Vector tiles.
    tiles: AnswerCache[bytes]
    #: The keys each items query matches, so that every page of it is a fetch by key.
    page_indexes: AnswerCache[PageIndex]


@dataclass
class Services:
    """The process's long-lived objects, and their life: `start`, then `close`.

    `build_services` only builds; `start` starts the background parts a role needs (the watch,
    the in-memory lookup index, the projection follower). The server and the CLI both go
    through `running`, so start-up and shutdown are written once.
    """

    settings: Settings
    register: JurisdictionRegister
    view: ReadModelView
    worker: ProjectionWorker
    read_pool: ConnectionPool
    reads: ReadRouter
    lookup: LookupEngine
    queries: ReadModelQueries
    published: PublishedLists
    features: FeatureStore
    tokens: TokenStore
    #: Bulk assignment jobs' records (`/v1/jobs`; run by `jurisdictions.jobs.JobRunner`).
    jobs: JobStore
    #: The read model's position as announced (NOTIFY); started by `start(watch=True)`.
    watch: ReadModelWatch
    caches: AnswerCaches
    #: Every lookup (single, batch, history) asks this: it picks memory or SQL.
    lookup_service: LookupService
    #: Lookups from memory (None when JL_LOOKUP_INDEX is off); loads once the watch runs.
    lookup_index: LookupIndex | None = None
    #: Whether a write catches the projection up in this process before waiting (the CLI,
    #: which runs no follower); see `wait_visible`.
    project_on_write: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)
    _follower: threading.Thread | None = None

    def start(
        self, *, watch: bool = True, lookup_index: bool = False, follow_projection: bool = False
    ) -> Services:
        """Start the background parts: the watch (a LISTEN connection), the lookup index (needs
        the watch), the projection follower (a thread projecting new events as they come)."""
        if watch or lookup_index:
            self.watch.start()
        if lookup_index and self.lookup_index is not None:
            self.lookup_index.start()
        if follow_projection:
            self._follower = threading.Thread(
                target=self.worker.follow, args=(self._stop,), name="projection", daemon=True
            )
            self._follower.start()
        return self

    def catch_up(
        self, progress: Progress | None = None, batch_size: int | None = None, *, wait: bool = True
    ) -> int:
        """Project every event stored so far, in this process; returns how many were applied.

        Takes the projection lock first (`ProjectionBusy` if another process holds it and not
        `wait`). A bulk catch-up is followed by a vacuum and analyse.
        """
        with self.worker.exclusive(wait=wait):
            count = self.worker.catch_up(progress, batch_size)
        if count >= BULK_EVENTS:
            tidy_read_model(self.settings.conninfo)
        return count

    def wait_visible(self, position: int, timeout: float) -> bool:
        """Block until the read model shows `position`; False after `timeout` seconds.

        The wait is the watch's (NOTIFY-driven). A process that projects on write (the CLI)
        first catches up itself, unless another process holds the projection lock (a server's
        follower), which then does the work while this one waits. Without a running watch
        (services built but not started, as in some tests) it looks once and does not wait.
        """
        if self.project_on_write:
            # A stall is recorded for `status` and `/readyz`; the write itself is stored.
            with suppress(ProjectionBusy, ProjectionStalled):
                self.catch_up(wait=False)
        if not self.watch.running:
            return self.worker.position() >= position
        return self.watch.wait_for(position, timeout)

    def close(self) -> None:
        """Stop the follower, the watch and the index, close every pool."""
        self._stop.set()
        if self._follower is not None:
            self._follower.join(timeout=10)
        self.watch.stop()
        if self.lookup_index is not None:
            self.lookup_index.stop()
        self.reads.close()
        self.register.close()
        self.view.datastore.close()


#: What a process is: its role decides which background parts `running` starts.
Role = Literal["server", "cli"]


@contextmanager
def running(
    settings: Settings, role: Role, *, preloaded: Snapshot | None = None
) -> Iterator[Services]:
    """The process's services, started for `role` and closed on the way out.

    server: the watch, the lookup index, and (unless `run_projection` is off) the follower.
    cli: the watch only; a write catches the projection up in the CLI's own process
    (`project_on_write`), so the command layer's wait then returns at once.
    `preloaded`: the lookup index's snapshot, loaded once by a pre-fork parent.
    """
    services = build_services(settings, preloaded=preloaded)
    try:
        if role == "server":
            services.start(watch=True, lookup_index=True, follow_projection=settings.run_projection)
        else:
            services.project_on_write = True
            services.start(watch=True)
            services.watch.wait_connected(5.0)
        yield services
    finally:
        services.close()


def create_event_store_tables(settings: Settings) -> None:
    """The library's own tables (events, tracking), made once by `jurisdictions migrate`."""
    build_register(settings, create_tables=True).close()
    build_view(settings, create_tables=True).datastore.close()


def build_services(settings: Settings, *, preloaded: Snapshot | None = None) -> Services:
    """Wire everything a process needs (the lookup index starting from `preloaded`, if given)."""
    register = build_register(settings)
    view = build_view(settings)
    worker = ProjectionWorker(
        register, view, settings.conninfo, batch_size=settings.projection_batch_size
    )
    read_pool = ConnectionPool(
        settings.conninfo,
        min_size=settings.read_pool_min,
        max_size=settings.read_pool_max,
        open=True,
        kwargs={"autocommit": True},
    )
    replicas = [
        ConnectionPool(
            url.strip(),
            min_size=0,
            max_size=settings.read_pool_max,
            open=True,
            kwargs={"autocommit": True, "connect_timeout": 2},
        )
        for url in settings.replica_urls.split(",")
        if url.strip()
    ]
    reads = ReadRouter(
        read_pool,
        replicas,
        tracking_table=view.tracking_table_name,
        application_name=register.name,
        max_wait=settings.replica_max_wait,
    )
    watch = ReadModelWatch(settings.conninfo, view.tracking_table_name, register.name)
    lookup_index = None
    if settings.lookup_index:
        lookup_index = LookupIndex(
            read_pool,
            watch,
            settings.level_scheme,
            tracking_table=view.tracking_table_name,
            application=register.name,
            needed_position=reads.needed_position,
            max_versions=settings.lookup_index_max_versions,
            max_epochs=settings.lookup_index_epochs,
            preloaded=preloaded,
        )
    lookup = LookupEngine(reads, settings.level_scheme)
    return Services(
        settings=settings,
        register=register,
        view=view,
        worker=worker,
        read_pool=read_pool,
        reads=reads,
        lookup=lookup,
        queries=ReadModelQueries(reads),
        published=PublishedLists(reads),
        features=FeatureStore(reads),
        tokens=TokenStore(read_pool),
        jobs=JobStore(read_pool),
        watch=watch,
        caches=AnswerCaches(
            items=AnswerCache[FeaturePage](settings.items_cache_mib * MIB),
            tiles=AnswerCache[bytes](settings.tile_cache_mib * MIB),
            page_indexes=AnswerCache[PageIndex](max(settings.items_cache_mib // 4, 1) * MIB),
        ),
        lookup_service=LookupService(lookup, lookup_index, settings.level_scheme),
        lookup_index=lookup_index,
    )
