"""Alembic environment: migrations run online against DATABASE_URL, with psycopg 3."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from jurisdictions.settings import get_settings

url = context.config.get_main_option("sqlalchemy.url") or get_settings().sqlalchemy_url


def run_migrations_online() -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    context.configure(url=url, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
