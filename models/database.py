"""The database: engines made on demand (never at import), migrations applied by the app itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys, a busy timeout and write-locking transactions."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        # A directory that cannot be made is reported by SQLite on connecting, as the OperationalError that
        # every unreachable database gives (not as an OSError here, which callers would not expect).
        with suppress(OSError):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, begin transactions, so that they can take the write lock first.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # IMMEDIATE: two writers queue on the busy timeout instead of deadlocking on a lock upgrade.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@cache
def engine_for(url: str) -> Engine:
    """One engine (and connection pool) per database URL in this process, made on first use."""
    return make_engine(url)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A short session in one transaction: committed on success, rolled back on any error."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


# The newest revision in models/migrations (tests/test_store.py holds it to Alembic's head): a database
# already there is not handed to Alembic, whose import and checks cost the small commands a third of a second.
NEWEST_REVISION = "0007"


# Links the models declare that PostgreSQL keeps by triggers rather than by a foreign key (revision 0007): the
# referring table and the table it refers to.
LINKS_KEPT_BY_TRIGGERS = frozenset({("sheet_value", "submission")})


def compared_in_schema(dialect_name: str) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """Alembic's `include_object` for comparing the models with a database: every object, except on PostgreSQL
    the foreign keys that its triggers stand in for."""

    def include(item: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if dialect_name == "postgresql" and type_ == "foreign_key_constraint":
            return (item.table.name, item.referred_table.name) not in LINKS_KEPT_BY_TRIGGERS
        return True

    return include


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to the newest schema (an empty database gets every table)."""
    if revision == "head" and _at_newest_revision(url):
        return
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def _at_newest_revision(url: str) -> bool:
    try:
        with engine_for(url).connect() as connection:
            found = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
    except SQLAlchemyError:  # no schema yet, or not readable: Alembic finds out and says so
        return False
    return found == NEWEST_REVISION
