"""One typed settings object, read from the environment (12-factor)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.clock import today_in, zone
from domain.codes import DEFAULT_CODE_PATTERN, check_code_pattern
from domain.levels import LevelScheme, Rules

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/jurisdictions"


class Settings(BaseSettings):
    """Every knob of the service; environment variables are prefixed ``JL_``.

    The database comes from ``DATABASE_URL`` (or ``JL_DATABASE_URL``).
    """

    model_config = SettingsConfigDict(env_prefix="JL_", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL, validation_alias=AliasChoices("DATABASE_URL", "JL_DATABASE_URL")
    )
    levels: str = "city,district,street,community,grid"
    #: The register's time zone (IANA name): "today", every default date, is the date there.
    time_zone: str = "UTC"
    #: Overlap, gap or overhang (m², geodesic on WGS84) tolerated as digitising noise. Areas
    #: need no CRS; the former JL_METRIC_CRS is ignored (extra settings are).
    tolerance_m2: float = 5.0
    #: The level whose units must each be served by exactly one workstation.
    served_level: str = "community"
    #: Whether a unit's children must cover it wherever it has children.
    full_coverage: bool = True
    #: The grammar of codes (a Python regular expression a whole code must match; see
    #: domain/codes.py): it may not admit '/', '%', '?', '#', '@', whitespace or controls.
    code_pattern: str = DEFAULT_CODE_PATTERN
    #: Whether the API process runs the projection worker (one process wins the lock).
    run_projection: bool = True
    projection_batch_size: int = 500
    #: How long a write waits for the projections to show it before answering.
    read_your_writes_timeout: float = 10.0
    #: Largest batch lookup, and largest request body in bytes (both answer 413 beyond).
    max_batch_points: int = 100_000
    max_body_bytes: int = 64 * 1024 * 1024
    #: The HTTP server's limits (docs/architecture.md, "HTTP limits"): header bytes (names and
    #: values) and count, beyond which a request is answered 431; seconds a client may take to
    #: send its request head; seconds a body may stay silent. Slower clients get 408.
    max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    max_header_count: int = Field(default=100, ge=10)
    header_timeout: float = Field(default=10.0, gt=0)
    body_timeout: float = Field(default=30.0, gt=0)
    #: Reads are open unless this is set; writes always need an editor token.
    reads_require_token: bool = False
    #: Origins allowed by CORS (comma-separated; empty: CORS off).
    cors_origins: str = ""
    #: Streaming replicas to read from (comma-separated URLs); writes go to DATABASE_URL.
    replica_urls: str = ""
    #: How long a read waits for a replica to reach a write it must see, before the primary.
    replica_max_wait: float = 2.0
    read_pool_min: int = 2
    read_pool_max: int = 10
    #: Lookups from memory (projections/lookup_index.py): each API process holds the current
    #: unit versions, offices and matters, reloaded whenever the read model moves.
    lookup_index: bool = True
    #: Above this many unit versions the index stays off and SQL answers (memory bound).
    lookup_index_max_versions: int = 2_000_000
    #: How many epochs (periods without any change) each process keeps indexed at once.
    lookup_index_epochs: int = 16
    map_tile_url: str = ""
    #: In-process caches (MiB per API process; 0 turns one off) of vector tiles and of OGC item
    #: pages, valid for one read-model position (api/routes/tiles.py, api/routes/ogc.py).
    tile_cache_mib: int = 64
    items_cache_mib: int = 64

    #: Bulk assignment jobs over HTTP (docs/jobs.md): both directories must be set, or the
    #: server runs no jobs. Inputs are read only from inside `jobs_input_dir` (paths relative
    #: to it; nothing resolving outside it, symlinks included); each job writes only under
    #: `jobs_dir`/<job id>.
    jobs_dir: str = ""
    jobs_input_dir: str = ""
    #: The Dask scheduler jobs run on (tcp://host:8786), HTTP jobs and `jurisdictions assign`
    #: without --scheduler alike; empty: a LocalCluster per job on this machine, with
    #: `jobs_workers` processes (default: one per core; --workers overrides it).
    dask_scheduler: str = ""
    jobs_workers: int | None = Field(default=None, ge=1)
    #: How often (seconds) the job runner looks for accepted jobs, and how often a server
    #: without the runner's lock tries to take it.
    jobs_poll_seconds: float = Field(default=1.0, gt=0)

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
            msg = "DATABASE_URL must look like postgresql://user[:password]@host[:port]/dbname"
            raise ValueError(msg)
        return value

    @field_validator("time_zone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        zone(value)
        return value

    def today(self, now: dt.datetime | None = None) -> dt.date:
        """The register's date at ``now`` (default: this instant), in its time zone."""
        return today_in(zone(self.time_zone), now)

    @field_validator("code_pattern")
    @classmethod
    def _code_pattern(cls, value: str) -> str:
        check_code_pattern(value)
        return value

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: str) -> str:
        LevelScheme.parse(value)
        return value

    def job_cluster(
        self, scheduler: str | None = None, workers: int | None = None
    ) -> tuple[str | None, int | None]:
        """Where a bulk job runs: the scheduler and worker count asked for (the CLI's
        --scheduler and --workers), else `dask_scheduler` and `jobs_workers`; a None
        scheduler is a LocalCluster on this machine. The CLI and the HTTP jobs both ask here."""
        return (scheduler or self.dask_scheduler or None, workers or self.jobs_workers)

    @property
    def level_scheme(self) -> LevelScheme:
        """The configured levels, top down."""
        return LevelScheme.parse(self.levels)

    @property
    def rules(self) -> Rules:
        """The register's rules from these settings."""
        return Rules(
            levels=self.level_scheme,
            tolerance_m2=self.tolerance_m2,
            served_level=self.served_level,
            full_coverage=self.full_coverage,
            code_pattern=self.code_pattern,
        )

    @property
    def conninfo(self) -> str:
        """The URL as libpq understands it (no SQLAlchemy driver suffix)."""
        return self.database_url.replace("postgresql+psycopg://", "postgresql://", 1)

    @property
    def sqlalchemy_url(self) -> str:
        """The URL for SQLAlchemy/Alembic, with the psycopg 3 driver."""
        return "postgresql+psycopg://" + self.conninfo.split("://", 1)[1]

    def database_parts(self) -> dict[str, str]:
        """Host, port, name, user and password, for libraries that want them apart."""
        url = urlsplit(self.conninfo)
        return {
            "host": url.hostname or "127.0.0.1",
            "port": str(url.port or 5432),
            "dbname": unquote(url.path.lstrip("/")) or "jurisdictions",
            "user": unquote(url.username or "postgres"),
            "password": unquote(url.password or ""),
        }


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()  # type: ignore[call-arg]  # filled from the environment
