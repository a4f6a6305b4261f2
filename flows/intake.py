"""The `intake` flow: take in everything new in the inbox, check it, load it exactly once, tell people.

The flow only wires the plain functions of `intake.pipeline` together as tasks. Tasks work on
batches of files (a task run costs 10–40 ms), and every task that touches the database retries.
A batch is read and checked in worker processes, one batch ahead; given the address of a Dask
scheduler, the batches are read and checked on that cluster's workers, all at once, while the flow
loads them in order. A submission's alert is queued in the transaction that loads it, and a run
first writes the pages and annotated copies that an earlier run loaded but did not live to write.

What the operator sees comes from `intake.summaries`: the final state (Completed with the run's counts,
named 需要处理 when a submission failed or could not be read; Failed only when the run could not finish,
with one message that says where the files are), a log line per file, and the artifacts.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Generator
from contextlib import closing
from pathlib import Path
from typing import cast

from prefect import State, flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.states import Completed

from checks.attribution import named_by_file
from checks.findings import FileReport, Status
from config.settings import Settings
from flows.common import DatabaseUnavailable, database_task, engine_of, filing_year, retrying, settings_for, untracked
from flows.period_report import period_report, refresh_status
from intake import pipeline, progress, summaries
from intake.archive import SkippedEntry
from intake.isolation import IsolatedPool, batch_collection
from intake.outbox import DeliveryResult, deliver_pending
from intake.pipeline import IntakeSummary, ReadBatch, Received, Written
from models.database import upgrade
from models.reporting import bureau_names, registered_names
from models.store import ClaimedReceipt, LoadItem, LoadOutcome, Outcome, finish_run, start_run
from models.tables import utcnow

__all__ = ["DatabaseUnavailable", "InboxMissing", "IntakeFailed", "intake"]


class InboxMissing(ValueError):
    """The inbox named for the run is not a folder: nothing could be taken in."""


class IntakeFailed(RuntimeError):
    """The run could not finish: why, and where the files it had not finished with are (said once)."""


@task(cache_policy=NO_CACHE)
@database_task
def prepare_database(settings: Settings) -> None:
    """Create or migrate the database schema."""
    upgrade(settings.database_url_value())


@task(cache_policy=NO_CACHE)
@database_task
def open_run(settings: Settings, inbox: Path) -> int:
    """Record the start of this intake run."""
    return start_run(engine_of(settings), str(inbox), str(flow_run.id) if flow_run.id else None)


@task(cache_policy=NO_CACHE)
@database_task
def receive_files(settings: Settings, inbox: Path, run_id: int) -> Received:
    """Archive, record and take every new file out of the inbox; then the receipts earlier runs left."""
    received = pipeline.receive(inbox, settings, engine_of(settings), run_id)
    earlier, missing = pipeline.leftovers(settings, engine_of(settings), run_id)
    return Received(received.files_seen, received.claimed + earlier, received.skipped + missing)


@task(cache_policy=NO_CACHE)
@database_task
def write_missing_outputs(settings: Settings, pool: IsolatedPool) -> list[Written]:
    """The pages and annotated copies an earlier run loaded but did not live to write."""
    return pipeline.repair_outputs(settings, engine_of(settings), pool)


@task(cache_policy=NO_CACHE)
def read_workbooks(
    settings: Settings, receipts: list[ClaimedReceipt], pool: IsolatedPool | None = None, isolated: bool = True
) -> ReadBatch:
    """Read and check a batch of archived workbooks, ready to load: by the run's worker processes (`pool`), or
    here, file by file (`isolated=False`, on a Dask worker)."""
    batch = pipeline.read_and_check(receipts, settings, pool, isolated=isolated)
    progress.advance("read", len(receipts))
    return batch


DASK_READ_CHUNK = 250  # files per task on a Dask worker, read and checked: the cluster's unit of work


def read_batches(settings: Settings, receipts: list[ClaimedReceipt], pool: IsolatedPool) -> Generator[ReadBatch]:
    """Each batch ready to load, in order: read and checked here one batch ahead (the flow's task runner, and
    the run's worker processes), or all at once on the Dask cluster of `settings.dask_address`."""
    batches = pipeline.batches(receipts, settings.batch_size)
    if settings.dask_address is None:
        # The next batch is read and checked (by worker processes, waited on in a thread) while this one is
        # loaded and reported, so that the reading and the rest use both cores at once.
        pending = read_workbooks.submit(settings, untracked(batches[0]), untracked(pool)) if batches else None
        for index in range(len(batches)):
            assert pending is not None
            items = pending.result()
            following = batches[index + 1] if index + 1 < len(batches) else None
            pending = read_workbooks.submit(settings, untracked(following), untracked(pool)) if following else None
            yield items
        return

    from prefect_dask.task_runners import DaskTaskRunner  # imported only when asked for: it brings in dask.distributed

    # A Dask worker is a daemon process and may not start reader processes of its own: it reads one file
    # after another, and the cluster reads the chunks side by side. Reading needs no database password.
    # Prefect's Dask runner takes the reading alone: as the flow's task runner it would also take the pages and
    # copies (which need the database and the run's workers), and a subflow that yields the batches would leave
    # its run context set in this flow between them.
    reading = settings.model_copy(update={"read_workers": 1, "database_url": None})
    runner = DaskTaskRunner(address=settings.dask_address)
    with runner:
        reads = [
            [
                (chunk, runner.submit(read_workbooks, {"settings": reading, "receipts": chunk, "isolated": False}))
                for chunk in pipeline.batches(batch, DASK_READ_CHUNK)
            ]
            for batch in batches
        ]
        for _ in batches:
            yield _joined([_dask_chunk(settings, pool, *read) for read in reads.pop(0)])  # let go once it is loaded


def _dask_chunk(
    settings: Settings, pool: IsolatedPool, chunk: list[ClaimedReceipt], future: PrefectFuture[ReadBatch]
) -> ReadBatch:
    """A chunk read on Dask; read here instead, in worker processes, when a file killed the Dask workers
    that took it (Dask gives up on a task that killed three) or the cluster failed it otherwise."""
    try:
        return future.result()
    except Exception as exc:
        get_run_logger().warning("Dask 读取失败（%s），改在本机的读取进程中读取这 %d 个文件", exc, len(chunk))
        return pipeline.read_and_check(chunk, settings, pool)


def _joined(parts: list[ReadBatch]) -> ReadBatch:
    return ReadBatch(
        [item for part in parts for item in part.items], [entry for part in parts for entry in part.missing]
    )


@task(cache_policy=NO_CACHE)
@database_task
def load_submissions(settings: Settings, run_id: int, items: list[LoadItem]) -> list[LoadOutcome]:
    """Load a batch and queue its alerts in one transaction (one per submission when it meets a concurrent run)."""
    return pipeline.load_all(engine_of(settings), run_id, items, settings)


@task(cache_policy=NO_CACHE)
@database_task
def write_reports(
    settings: Settings, outcomes: list[LoadOutcome], reports: list[FileReport], pool: IsolatedPool
) -> list[Written]:
    """Annotated workbooks and HTML pages of the submissions a batch loaded, by the run's worker processes."""
    return pipeline.write_outputs(settings, engine_of(settings), outcomes, reports, pool)


@task(cache_policy=NO_CACHE)
@database_task
def deliver_alerts(
    settings: Settings, alert_ids: list[int] | None, due_by: dt.datetime | None = None, deadline: float | None = None
) -> DeliveryResult:
    """Send the given alerts (None: all that were due by `due_by`), until the run's time for mail (`deadline`,
    a `time.monotonic()` value) is spent; what cannot be sent now waits for a later run."""
    return deliver_pending(
        engine_of(settings),
        settings.smtp,
        settings.outbox_dir,
        retry_seconds=settings.alert_retry_seconds,
        now=due_by,
        only=alert_ids,
        deadline=deadline,
    )


@task(cache_policy=NO_CACHE)
@database_task
def close_run(settings: Settings, run_id: int, files_seen: int, outcomes: list[LoadOutcome]) -> None:
    """Record the run's counts."""
    finish_run(engine_of(settings), run_id, files_seen, outcomes)


@task(cache_policy=NO_CACHE)
@database_task
def name_bureaus(
    settings: Settings, codes: list[str], files_without_code: list[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The names of the bureaus of this run's files, for the log and the artifacts: by code, and by file name
    for files that name none inside (an unreadable file), where the name names a registered bureau."""
    engine = engine_of(settings)
    registry = registered_names(engine) if files_without_code else []
    by_file = {name: named for name in files_without_code if (named := named_by_file(name, registry))}
    return (bureau_names(engine, codes) if codes else {}), by_file


@task(cache_policy=NO_CACHE)
def publish_artifacts(summary: IntakeSummary) -> None:
    """The run's table and summary in the Prefect UI, under stable keys so history is browsable, and a page of
    findings per submission loaded. A run with nothing new leaves the keyed summary alone (the last meaningful
    one stays the latest) and says so in an artifact of its own."""
    if not summary.count(Outcome.LOADED):
        create_markdown_artifact(markdown=summaries.artifact_markdown(summary), description="入库运行摘要（无新报表）")
        return
    create_table_artifact(
        key="intake-results",
        table=summaries.artifact_table(summary),
        description=f"入库运行 #{summary.run_id}：每个文件的结果",
    )
    create_markdown_artifact(
        key="intake-summary", markdown=summaries.artifact_markdown(summary), description="入库运行摘要"
    )
    for outcome in summaries.submissions_to_publish(summary, summary.published_limit):
        create_markdown_artifact(
            key=summaries.submission_key(outcome.bureau_code, outcome.fiscal_year, outcome.sha256),
            markdown=summaries.submission_markdown(summary, outcome),
            description=f"{summaries.bureau_of(summary, outcome)} {outcome.fiscal_year or ''} 年度报送的校验结果",
        )


@task(cache_policy=NO_CACHE)
def publish_failure(inbox: str, reason: str, summary: IntakeSummary | None = None) -> None:
    """Say in the UI that the run failed, under the same key, so the latest summary never looks green."""
    create_markdown_artifact(
        key="intake-summary", markdown=summaries.failure_markdown(inbox, reason, summary), description="入库运行摘要"
    )


def _failed(inbox: str, exc: Exception, summary: IntakeSummary | None, archived: int | None) -> IntakeFailed:
    """The run's one failure message: what went wrong, and (truly) where the files are now."""
    if archived is None:
        where = f"收件箱 {inbox} 中的文件未作处理，仍在收件箱中，下次运行时处理"
    elif summary is not None and summary.outcomes:
        where = f"已入库 {summary.count(Outcome.LOADED)} 份；其余已归档的文件下次运行时继续处理"
    else:
        where = f"已归档的 {archived} 个文件下次运行时继续处理"
    reason = f"{exc}；{where}" if not isinstance(exc, InboxMissing) else str(exc)
    publish_failure(inbox, reason, untracked(summary))
    return IntakeFailed(reason)


def _deliver_batch(
    settings: Settings, summary: IntakeSummary, outcomes: list[LoadOutcome], written: list[Written], deadline: float
) -> None:
    """Count a batch's outputs, then send the alerts its loading queued (while the next batch is read)."""
    for item in written:
        summary.outputs += [p for p in (item.outputs.workbook, item.outputs.page) if p is not None]
        if item.submission.id is not None:
            summary.written[item.submission.id] = item.outputs
        _log_problem(summary, item.problem)
    queued = [o.alert_id for o in outcomes if o.alert_id is not None]
    summary.alerts_queued += len(queued)
    if queued and not summary.mail_unavailable:
        _add_delivery(summary, retrying(deliver_alerts, settings)(settings, queued, deadline=deadline))


def _add_delivery(summary: IntakeSummary, delivery: DeliveryResult) -> None:
    summary.add_delivery(delivery)
    for problem in delivery.problems:  # refused recipients, a mail server that is down: the operator's to see
        get_run_logger().warning("%s", problem)


def _log_files(summary: IntakeSummary) -> None:
    """A line per file: INFO, or WARNING for a file that could not be read."""
    logger = get_run_logger()
    for outcome in summary.outcomes:
        line = summaries.file_line(summary, outcome)
        if outcome.status is Status.UNREADABLE:
            logger.warning("%s", line)
        else:
            logger.info("%s", line)
    for line in summaries.recheck_lines(summary):
        logger.warning("%s", line)  # a stored version's findings changed: the operator must hear of it


def _log_problem(summary: IntakeSummary, problem: str | None) -> None:
    """What went wrong inside budgetflow or an engine with one file: the operator's to see, in the run's log."""
    if problem is not None:
        summary.problems.append(problem.splitlines()[0])
        get_run_logger().warning("%s", problem)


def _log_skipped(summary: IntakeSummary, skipped: list[SkippedEntry]) -> None:
    summary.skipped += skipped
    for entry in skipped:
        get_run_logger().warning("未处理：%s —— %s", entry.name, entry.reason)


@flow(name="intake", description="Take in new submission workbooks from the inbox, check them and load them once.")
def intake(
    inbox: str | None = None,
    batch_size: int | None = None,
    data_dir: str | None = None,
    dask_address: str | None = None,
) -> IntakeSummary:
    """Inbox → archive → read → check → load (with alerts) → reports → mail, in batches.

    `dask_address` (e.g. `tcp://10.0.0.5:8786`, or `BUDGETFLOW_DASK_ADDRESS`): read on that Dask cluster;
    its workers need the checkout and the data directory at the same paths as here.
    """
    settings = settings_for(data_dir, batch_size=batch_size, dask_address=dask_address)
    inbox_path = Path(inbox) if inbox else settings.inbox_dir
    started = utcnow()
    mail_deadline = time.monotonic() + settings.smtp.budget_seconds

    try:
        if inbox is None:
            settings.prepare_data_dir()
        elif not inbox_path.is_dir():
            raise InboxMissing(f"收件箱 {inbox_path} 不存在或不是文件夹")
        retrying(prepare_database, settings)(settings)
        run_id = retrying(open_run, settings)(settings, inbox_path)
        received = retrying(receive_files, settings)(settings, inbox_path, run_id)
    except Exception as exc:
        raise _failed(str(inbox_path), exc, None, None) from exc
    summary = IntakeSummary(run_id, str(flow_run.id) if flow_run.id else None, str(inbox_path), received.files_seen)
    summary.outbox = settings.outbox_dir
    _log_skipped(summary, received.skipped)
    receipts = received.claimed
    progress.expect("read", len(receipts))
    progress.expect("load", len(receipts))
    try:
        # The run's worker processes, given to each task that reads or writes workbooks (untracked: a task
        # runner in this process shares them, and Prefect has nothing to look for inside them).
        with (
            batch_collection(),
            pipeline.worker_pool(settings) as pool,
            closing(read_batches(settings, receipts, pool)) as read,
        ):
            for repaired in retrying(write_missing_outputs, settings)(settings, untracked(pool)):
                _log_problem(summary, repaired.problem)
            writing: PrefectFuture[list[Written]] | None = None
            loaded_last: list[LoadOutcome] = []
            for batch in read:
                _log_skipped(summary, batch.missing)
                for item in batch.items:
                    _log_problem(summary, item.problem)
                outcomes = retrying(load_submissions, settings)(settings, run_id, untracked(batch.items))
                summary.outcomes += outcomes
                reports = [item.report for item in batch.items]
                if writing is not None:
                    _deliver_batch(settings, summary, loaded_last, writing.result(), mail_deadline)
                # The batch's workbooks and pages are written (worker processes) while the next batch is loaded.
                writing = retrying(write_reports, settings).submit(
                    settings, untracked(outcomes), untracked(reports), untracked(pool)
                )
                loaded_last = outcomes
            # Everything is loaded: the period reports are written while the last batch's pages are.
            for year in summary.fiscal_years:
                summary.period_reports += period_report(year, data_dir=data_dir)
            if writing is not None:
                _deliver_batch(settings, summary, loaded_last, writing.result(), mail_deadline)
        # Then what earlier runs could not send; this run's own failures wait for their backoff.
        if not summary.mail_unavailable:
            _add_delivery(summary, retrying(deliver_alerts, settings)(settings, None, started, mail_deadline))
        retrying(close_run, settings)(settings, run_id, received.files_seen, untracked(summary.outcomes))
        codes = sorted({o.bureau_code for o in summary.outcomes if o.bureau_code})
        without_code = sorted({o.file_name for o in summary.outcomes if not o.bureau_code})
        if codes or without_code:
            summary.bureau_names, summary.named_by_file = retrying(name_bureaus, settings)(
                settings, codes, without_code
            )
        if not summary.fiscal_years:  # the year's status is refreshed by the period reports, or here
            refresh_status(settings, [filing_year(dt.date.today())])
    except Exception as exc:
        raise _failed(str(inbox_path), exc, summary, len(receipts)) from exc
    _log_files(summary)
    summary.published_limit = settings.submission_artifacts_per_run
    summary.unpublished = max(0, summary.count(Outcome.LOADED) - summary.published_limit)
    publish_artifacts(untracked(summary))
    get_run_logger().info("%s", summaries.closing_line(summary))
    # A returned state is the run's final state, and callers get its data: the summary.
    state: State[IntakeSummary] = Completed(
        message=summaries.state_message(summary),
        name=summaries.NEEDS_ATTENTION if summaries.needs_attention(summary) else "Completed",
        data=summary,
    )
    return cast(IntakeSummary, state)
