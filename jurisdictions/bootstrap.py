"""Builds the long-lived objects from the settings, once per process.

Everything that owns a connection pool is made here and closed by `Services.close`, so neither
the API nor the CLI ever builds an application or a pool per request (each `eventsourcing`
application and view owns its own pool).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment
from psycopg_pool import ConnectionPool

from domain.register import JurisdictionRegister
from jurisdictions.settings import Settings
from projections.features import FeatureStore
from projections.freshness import ReadModelWatch
from projections.lookup import LookupEngine
from projections.lookup_index import LookupIndex
from projections.lookup_service import LookupService
from projections.queries import ReadModelQueries
from projections.read_model import ReadModelView
from projections.routing import ReadRouter
from projections.tokens import TokenStore
from projections.worker import ProjectionWorker

#: Name of the read-model view; it prefixes the tracking table (``readmodel_tracking``).
READ_MODEL_NAME = "ReadModel"


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
class Services:
    """The process's long-lived objects."""

    settings: Settings
    register: JurisdictionRegister
    view: ReadModelView
    worker: ProjectionWorker
    read_pool: ConnectionPool
    reads: ReadRouter
    lookup: LookupEngine
    queries: ReadModelQueries
    features: FeatureStore
    tokens: TokenStore
    #: The read model's position as announced (started by the API's lifespan only).
    watch: ReadModelWatch
    #: Every lookup (single, batch, history) asks this: it picks memory or SQL.
    lookup_service: LookupService
    #: Lookups from memory (None when JL_LOOKUP_INDEX is off); loads once the watch runs.
    lookup_index: LookupIndex | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        """Stop the watch and the index, close every pool."""
        self.watch.stop()
        if self.lookup_index is not None:
            self.lookup_index.stop()
        self.reads.close()
        self.register.close()
        self.view.datastore.close()


def create_event_store_tables(settings: Settings) -> None:
    """The library's own tables (events, tracking), made once by `jurisdictions migrate`."""
    build_register(settings, create_tables=True).close()
    build_view(settings, create_tables=True).datastore.close()


def build_services(settings: Settings) -> Services:
    """Wire everything a process needs."""
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
        features=FeatureStore(reads),
        tokens=TokenStore(read_pool),
        watch=watch,
        lookup_service=LookupService(lookup, lookup_index, settings.level_scheme),
        lookup_index=lookup_index,
    )
