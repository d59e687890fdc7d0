"""Job records: bulk assignment jobs submitted over HTTP, kept in the `jobs` table.

Not a projection (jobs are work, not the register's history), but the SQL lives here with the
rest. A job is a record first, so it survives restarts: `accepted` until a runner claims it
(`running`), then `successful` or `failed`; a client may `dismiss` it at any time. The runner
holds `RunnerLock` (a PostgreSQL advisory lock), so one process per database runs jobs and a
job left `running` without a lock holder was interrupted (`requeue_interrupted`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

#: What a job may be, as OGC API - Processes names it.
STATUSES = ("accepted", "running", "successful", "failed", "dismissed")
#: The advisory lock of the job runner (any fixed 64-bit key, distinct from the projection's).
RUNNER_LOCK_KEY = 0x4A4C_4A4F_4253  # "JLJOBS"
#: How many times an interrupted job is started before it is failed for good.
MAX_ATTEMPTS = 3

_COLUMNS = sql.SQL(
    "id, owner, spec, status, progress, result, error, message, attempts, "
    "created, started, finished, updated"
)


@dataclass(frozen=True)
class JobRecord:
    """One job as stored."""

    id: str
    owner: str
    spec: dict[str, Any]
    status: str
    progress: dict[str, Any]
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    message: str
    attempts: int
    created: datetime
    started: datetime | None
    finished: datetime | None
    updated: datetime


class JobStore:
    """Create, read, claim and finish job records."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def _one(self, query: sql.Composed, params: tuple[Any, ...]) -> JobRecord | None:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            row = cursor.execute(query, params).fetchone()
        return JobRecord(**row) if row else None

    def create(self, owner: str, spec: dict[str, Any]) -> JobRecord:
        """A new accepted job for `owner`."""
        query = sql.SQL("INSERT INTO jobs (id, owner, spec) VALUES (%s, %s, %s) RETURNING {}")
        record = self._one(query.format(_COLUMNS), (new_job_id(), owner, Jsonb(spec)))
        assert record is not None
        return record

    def get(self, job_id: str, owner: str | None = None) -> JobRecord | None:
        """The job, if it exists (and, with `owner`, is theirs)."""
        query = sql.SQL("SELECT {} FROM jobs WHERE id = %s AND (%s::text IS NULL OR owner = %s)")
        return self._one(query.format(_COLUMNS), (job_id, owner, owner))

    def of_owner(self, owner: str, limit: int = 100) -> list[JobRecord]:
        """The owner's jobs, newest first."""
        query = sql.SQL("SELECT {} FROM jobs WHERE owner = %s ORDER BY created DESC LIMIT %s")
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            rows = cursor.execute(query.format(_COLUMNS), (owner, limit)).fetchall()
        return [JobRecord(**row) for row in rows]

    def claim_next(self) -> JobRecord | None:
        """The oldest accepted job, now running (None when none waits)."""
        query = sql.SQL(
            "UPDATE jobs SET status = 'running', started = now(), updated = now(), "
            "attempts = attempts + 1, progress = '{{}}'::jsonb "
            "WHERE id = (SELECT id FROM jobs WHERE status = 'accepted' ORDER BY created "
            "LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING {}"
        )
        return self._one(query.format(_COLUMNS), ())

    def report(self, job_id: str, progress: dict[str, Any]) -> bool:
        """Record a running job's progress; False when it is no longer running (dismissed)."""
        with self.pool.connection() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET progress = %s, updated = now() "
                "WHERE id = %s AND status = 'running'",
                (Jsonb(progress), job_id),
            )
            return cursor.rowcount == 1

    def succeed(self, job_id: str, result: dict[str, Any], message: str) -> bool:
        """A running job finished; False if it was dismissed meanwhile."""
        return self._finish(job_id, "successful", result, None, message)

    def fail(self, job_id: str, error: dict[str, Any], message: str) -> bool:
        """A running job failed; False if it was dismissed meanwhile."""
        return self._finish(job_id, "failed", None, error, message)

    def _finish(
        self,
        job_id: str,
        status: str,
        result: dict[str, Any] | None,
        error: dict[str, Any] | None,
        message: str,
    ) -> bool:
        with self.pool.connection() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET status = %s, result = %s, error = %s, message = %s, "
                "finished = now(), updated = now() WHERE id = %s AND status = 'running'",
                (
                    status,
                    Jsonb(result) if result is not None else None,
                    Jsonb(error) if error is not None else None,
                    message,
                    job_id,
                ),
            )
            return cursor.rowcount == 1

    def dismiss(self, job_id: str, owner: str) -> JobRecord | None:
        """Dismiss the owner's job (None if there is no such job of theirs). A running job
        stops at its next progress report; its results are removed by the caller."""
        query = sql.SQL(
            "UPDATE jobs SET status = 'dismissed', updated = now(), "
            "finished = coalesce(finished, now()), message = 'dismissed by its owner' "
            "WHERE id = %s AND owner = %s RETURNING {}"
        )
        return self._one(query.format(_COLUMNS), (job_id, owner))

    def requeue_interrupted(self, max_attempts: int = MAX_ATTEMPTS) -> list[JobRecord]:
        """Jobs left `running` (their runner stopped with the server): accepted again to run
        anew, or failed once they were started `max_attempts` times. Only the lock holder
        may call this: then no job is really running."""
        query = sql.SQL(
            "UPDATE jobs SET "
            "status = CASE WHEN attempts < %(most)s THEN 'accepted' ELSE 'failed' END, "
            "message = CASE WHEN attempts < %(most)s THEN format("
            "  'attempt %%s was interrupted (the server stopped at %%s); it runs again', "
            "  attempts, to_char(updated AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')) "
            "ELSE format('interrupted %%s times by server restarts; not run again', attempts) "
            "END, "
            "error = CASE WHEN attempts < %(most)s THEN NULL ELSE jsonb_build_object("
            "  'code', 'interrupted', 'message', 'the server stopped while the job ran') END, "
            "finished = CASE WHEN attempts < %(most)s THEN NULL ELSE now() END, "
            "updated = now() "
            "WHERE status = 'running' RETURNING {}"
        )
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            rows = cursor.execute(query.format(_COLUMNS), {"most": max_attempts}).fetchall()
        return [JobRecord(**row) for row in rows]


class RunnerLock:
    """The advisory lock making one process per database the job runner; held by a
    connection of its own for as long as the process runs jobs."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._conn: psycopg.Connection[Any] | None = None

    @property
    def held(self) -> bool:
        """Whether this process holds the lock (its session still alive)."""
        if self._conn is None or self._conn.closed:
            return False
        try:
            self._conn.execute("SELECT 1")
        except psycopg.Error:
            self.release()
            return False
        return True

    def try_acquire(self) -> bool:
        """Take the lock if no other process holds it."""
        if self.held:
            return True
        conn = psycopg.connect(self.conninfo, autocommit=True, application_name="jl-job-runner")
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (RUNNER_LOCK_KEY,)).fetchone()
        if row is None or not row[0]:
            conn.close()
            return False
        self._conn = conn
        return True

    def release(self) -> None:
        """Let another process take over (closing the session drops the lock)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def new_job_id() -> str:
    """A job id: 16 hex digits, not guessable (ids appear in URLs and directory names)."""
    return secrets.token_hex(8)
