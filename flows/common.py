"""What the flows share: settings per run, engines, and the retry and error policy of database tasks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

from prefect import State, Task
from prefect.client.schemas.objects import TaskRun
from prefect.utilities.annotations import quote
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from config.settings import Settings
from models.database import engine_for

P = ParamSpec("P")
R = TypeVar("R")


class DatabaseUnavailable(RuntimeError):
    """The database refused or dropped the connection; archived files wait for the next run."""


def engine_of(settings: Settings) -> Engine:
    return engine_for(settings.database_url_value())


def database_task(function: Callable[P, R]) -> Callable[P, R]:
    """Turn a connection failure into one clear error (what retries see, and the run's final state)."""

    @wraps(function)  # its own name and signature, so that Prefect tells the tasks apart (task key, inputs)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except OperationalError as exc:
            settings = next(a for a in (*args, *kwargs.values()) if isinstance(a, Settings))
            where = make_url(settings.database_url_value()).render_as_string(hide_password=True)
            raise DatabaseUnavailable(
                f"数据库无法连接（{where}）：{str(exc.orig or exc).strip().splitlines()[0]}"
            ) from exc

    return guarded


def is_transient(error: BaseException | None) -> bool:
    """Whether trying again later may succeed: the database was down, dropped the connection, was locked
    (SQLite's busy timeout) or gave up a transaction in a deadlock or a serialization failure. A bug, a
    refused row or a full disk fails the same way every time, and retrying it only hides it for longer."""
    while error is not None:
        if isinstance(error, DatabaseUnavailable | OperationalError):
            return True
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True
        error = error.__cause__
    return False


def _retry_transient(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    return is_transient(state.data if isinstance(state.data, BaseException) else None)


def retrying(database_task: Task[P, R], settings: Settings) -> Task[P, R]:
    """The task, retried with growing delays when it failed on a transient database error (and only then)."""
    delays = [settings.db_retry_delay_seconds * 2**attempt for attempt in range(settings.db_retries)]
    return database_task.with_options(
        retries=settings.db_retries, retry_delay_seconds=delays or 0, retry_condition_fn=_retry_transient
    )


def filing_year(today: dt.date) -> int:
    """The fiscal year whose final accounts are being filed: the previous one (they are due in the spring)."""
    return today.year - 1


def settings_for(data_dir: str | None = None, **overrides: Any) -> Settings:
    """The settings of one flow run: the environment, with the flow's parameters on top."""
    values = {key: value for key, value in overrides.items() if value is not None}
    if data_dir is not None:
        values["data_dir"] = Path(data_dir)
    return Settings(**values)


def untracked(value: R) -> R:
    """A task argument Prefect passes as it is, without walking through it (`quote`).

    Prefect visits every object inside a task's arguments, looking for futures to wait on: for a batch
    of 2000 submissions that is millions of objects and most of an intake's time. Batches never hold
    futures, so they are passed through untouched.
    """
    return cast(R, quote(value))
