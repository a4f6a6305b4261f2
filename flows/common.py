"""What the flows share: settings per run, engines, and the retry and error policy of database tasks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

from prefect import Task
from prefect.utilities.annotations import quote
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from budgetflow.settings import Settings
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


def retrying(database_task: Task[P, R], settings: Settings) -> Task[P, R]:
    delays = [settings.db_retry_delay_seconds * 2**attempt for attempt in range(settings.db_retries)]
    return database_task.with_options(retries=settings.db_retries, retry_delay_seconds=delays or 0)


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
