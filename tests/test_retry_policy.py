"""Database tasks retry on what may pass (the database down or busy), never on what fails every time."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from config.settings import Settings
from flows.common import DatabaseUnavailable, database_task, is_transient, retrying

CLOSED_DATABASE = "postgresql+psycopg://budgetflow@127.0.0.1:1/budgetflow"


def raised(statement: str, url: str) -> Exception:
    """The error a real database raises for `statement`."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for part in statement.split(";"):
                connection.execute(text(part))
    except Exception as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError(f"{statement} ran")


def test_a_database_that_cannot_be_reached_is_transient_a_refused_row_or_a_bug_is_not(tmp_path: Path) -> None:
    sqlite = f"sqlite:///{tmp_path / 'x.db'}"
    unreachable = raised("SELECT 1", CLOSED_DATABASE)
    refused = raised(UNIQUE_VIOLATION, sqlite)
    assert isinstance(unreachable, OperationalError) and isinstance(refused, IntegrityError)

    assert is_transient(unreachable)
    wrapped = DatabaseUnavailable("数据库无法连接")
    wrapped.__cause__ = unreachable
    assert is_transient(wrapped)
    assert not is_transient(refused)
    assert not is_transient(ValueError("a bug"))
    assert not is_transient(None)


ATTEMPTS: list[str] = []
UNIQUE_VIOLATION = "CREATE TABLE t (k INTEGER UNIQUE); INSERT INTO t VALUES (1); INSERT INTO t VALUES (1)"


@task(cache_policy=NO_CACHE)
@database_task
def failing_the_first_time(settings: Settings, error: str) -> str:
    ATTEMPTS.append(error)
    if len(ATTEMPTS) == 1:
        raise raised("SELECT 1", CLOSED_DATABASE) if error == "unreachable" else raised(UNIQUE_VIOLATION, "sqlite://")
    return "done"


@flow
def calling(settings: Settings, error: str) -> str:
    return retrying(failing_the_first_time, settings)(settings, error)


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_server")
def test_a_task_retries_after_the_database_was_unreachable_and_fails_at_once_on_a_refused_row(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, db_retries=2, db_retry_delay_seconds=0.01)

    ATTEMPTS.clear()
    assert calling(settings, "unreachable") == "done"
    assert ATTEMPTS == ["unreachable", "unreachable"]

    ATTEMPTS.clear()
    state = calling(settings, "refused", return_state=True)
    assert state.is_failed()
    assert ATTEMPTS == ["refused"]  # once: the same row would be refused again
