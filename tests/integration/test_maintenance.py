"""Bulk writers leave the read model vacuumed and analysed (autovacuum may be off)."""

from __future__ import annotations

import psycopg
import pytest

from jurisdictions.bootstrap import Services
from projections.maintenance import tidy_read_model
from projections.read_model import READ_MODEL_TABLES
from tests.scenario import load_districts

pytestmark = pytest.mark.db


def test_tidying_gives_the_planner_statistics(services: Services, database_url: str):
    load_districts(services.register)
    services.worker.catch_up()
    tidy_read_model(database_url)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT relname, last_vacuum IS NOT NULL, last_analyze IS NOT NULL, "
            "(SELECT count(*) FROM pg_stats s WHERE s.tablename = t.relname) "
            "FROM pg_stat_user_tables t WHERE relname = ANY(%s)",
            (list(READ_MODEL_TABLES),),
        ).fetchall()
    assert {r[0] for r in rows} == set(READ_MODEL_TABLES)
    assert all(vacuumed and analysed for _, vacuumed, analysed, _ in rows)
    statistics = {name: count for name, _, _, count in rows}
    assert statistics["unit_versions"] > 0 and statistics["unit_version_parts"] > 0
