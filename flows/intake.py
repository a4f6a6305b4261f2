"""The `intake` flow: take in everything new in the inbox, check it, load it exactly once.

The flow only wires the plain functions of `intake.pipeline` together as tasks. Tasks work on
batches of files (a task run costs 10–40 ms), and every task that touches the database retries.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from prefect import Task, flow, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from budgetflow.settings import Settings
from checks.findings import FileReport
from checks.records import Submission
from intake import pipeline, progress
from intake.pipeline import IntakeSummary
from models.database import engine_for, upgrade
from models.store import ClaimedReceipt, LoadOutcome, finish_run, start_run

P = ParamSpec("P")
R = TypeVar("R")


class DatabaseUnavailable(RuntimeError):
    """The database refused or dropped the connection; archived files wait for the next run."""


def _engine(settings: Settings) -> Engine:
    return engine_for(settings.database_url_value())


def _database_task(function: Callable[P, R]) -> Callable[P, R]:
    """Turn a connection failure into one clear error (what retries see, and the run's final state)."""

    @wraps(function)  # its own name and signature, so that Prefect tells the tasks apart (task key, inputs)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except OperationalError as exc:
            settings = next(a for a in (*args, *kwargs.values()) if isinstance(a, Settings))
            where = make_url(settings.database_url_value()).render_as_string(hide_password=True)
            raise DatabaseUnavailable(
                f"数据库无法连接（{where}）：{str(exc.orig or exc).strip().splitlines()[0]}。"
                "已收到的文件已归档，下次运行时会继续处理。"
            ) from exc

    return guarded


@task(cache_policy=NO_CACHE)
@_database_task
def prepare_database(settings: Settings) -> None:
    """Create or migrate the database schema."""
    upgrade(settings.database_url_value())


@task(cache_policy=NO_CACHE)
@_database_task
def open_run(settings: Settings, inbox: Path) -> int:
    """Record the start of this intake run."""
    return start_run(_engine(settings), str(inbox), str(flow_run.id) if flow_run.id else None)


@task(cache_policy=NO_CACHE)
@_database_task
def receive_files(settings: Settings, inbox: Path, run_id: int) -> tuple[int, list[ClaimedReceipt]]:
    """Archive, record and take every new file out of the inbox."""
    seen, claimed = pipeline.receive(inbox, settings, _engine(settings), run_id)
    return seen, claimed + pipeline.leftovers(settings, _engine(settings), run_id)


@task(cache_policy=NO_CACHE)
def read_workbooks(settings: Settings, receipts: list[ClaimedReceipt]) -> list[Submission]:
    """Read a batch of archived workbooks."""
    submissions = pipeline.read_all(receipts, settings)
    progress.advance("read", len(submissions))
    return submissions


@task(cache_policy=NO_CACHE)
def check_workbooks(settings: Settings, submissions: list[Submission]) -> list[FileReport]:
    """Run the rule catalogue over a batch."""
    return pipeline.check_all(submissions, settings)


@task(cache_policy=NO_CACHE)
@_database_task
def load_submissions(
    settings: Settings,
    run_id: int,
    receipts: list[ClaimedReceipt],
    submissions: list[Submission],
    reports: list[FileReport],
) -> list[LoadOutcome]:
    """Load a batch, one transaction per submission."""
    return pipeline.load_all(_engine(settings), run_id, receipts, submissions, reports)


@task(cache_policy=NO_CACHE)
@_database_task
def close_run(settings: Settings, run_id: int, files_seen: int, outcomes: list[LoadOutcome]) -> None:
    """Record the run's counts."""
    finish_run(_engine(settings), run_id, files_seen, outcomes)


def _retrying(database_task: Task[P, R], settings: Settings) -> Task[P, R]:
    delays = [settings.db_retry_delay_seconds * 2**attempt for attempt in range(settings.db_retries)]
    return database_task.with_options(retries=settings.db_retries, retry_delay_seconds=delays or 0)


@flow(name="intake", description="Take in new submission workbooks from the inbox, check them and load them once.")
def intake(inbox: str | None = None, batch_size: int | None = None, data_dir: str | None = None) -> IntakeSummary:
    """Inbox → archive → read → check → load, in batches; returns what became of every file."""
    overrides: dict[str, Any] = {}
    if batch_size is not None:
        overrides["batch_size"] = batch_size
    if data_dir is not None:
        overrides["data_dir"] = Path(data_dir)
    settings = Settings(**overrides)
    inbox_path = Path(inbox) if inbox else settings.inbox_dir

    _retrying(prepare_database, settings)(settings)
    run_id = _retrying(open_run, settings)(settings, inbox_path)
    files_seen, receipts = _retrying(receive_files, settings)(settings, inbox_path, run_id)
    summary = IntakeSummary(run_id, str(flow_run.id) if flow_run.id else None, str(inbox_path), files_seen)
    progress.expect("read", len(receipts))
    progress.expect("load", len(receipts))
    for batch in pipeline.batches(receipts, settings.batch_size):
        submissions = read_workbooks(settings, batch)
        reports = check_workbooks(settings, submissions)
        summary.outcomes += _retrying(load_submissions, settings)(settings, run_id, batch, submissions, reports)
    _retrying(close_run, settings)(settings, run_id, files_seen, summary.outcomes)
    return summary
