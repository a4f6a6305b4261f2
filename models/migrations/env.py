"""Alembic environment: migrations run against the URL the app passes in its Config."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers every table on the metadata)
from models.database import compared_in_schema, make_engine

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url") or ""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=True,
                include_object=compared_in_schema(connection.dialect.name),
            )
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    # Two first runs at once: the second waits here, then finds the schema current.
                    connection.exec_driver_sql("SELECT pg_advisory_xact_lock(724715001)")
                context.run_migrations()
    finally:
        engine.dispose()


_ = pool
if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
