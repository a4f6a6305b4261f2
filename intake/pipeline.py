"""The intake's steps as plain functions: the Prefect flow only calls them in order, in batches."""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from sqlalchemy import Engine

from checks.attribution import bureau_by_name, bureau_of_file, named_by_file, year_of_file
from checks.findings import FileReport, Status
from checks.records import Located, ReadSubmission
from checks.template import TemplateSet, templates_for, unreadable_finding, with_bundled
from config.settings import ReaderLimits, Settings
from intake import progress
from intake.archive import SkippedEntry, archive_files, archive_path_for, discover, remove_from_inbox
from intake.checking import CheckJob, check_files
from intake.isolation import FileTookTooLong, IsolatedPool, WorkerLost, beat, file_limits
from intake.outbox import DeliveryResult, submission_alerts
from models.queries import outputs_written, report_of, without_outputs
from models.reporting import registered_names, registry_emails, submissions_by_id
from models.rows import typed_rows
from models.store import (
    AlertsFor,
    ClaimedReceipt,
    Delivery,
    LoadItem,
    LoadOutcome,
    Outcome,
    count_attempts,
    load_batch,
    pending_receipts,
    record_receipts,
)
from models.tables import Submission
from reports.outputs import SubmissionOutputs, output_paths, output_stem, write_page, write_submission_outputs

PARALLEL_READ_MINIMUM = 64  # below this, one worker process reads the batch: starting more costs more than it saves
PARALLEL_WRITE_MINIMUM = 16  # an HTML page and annotated copy cost a few ms: a worker is worth it sooner
ARCHIVE_MISSING = "归档文件缺失（{path}），收件记录保留，归档文件恢复后下次运行时再处理"
GAVE_UP = (
    "此文件已有 {attempts} 次运行处理未完成（运行在处理它时中断），已停止重试。"
    "请用 Excel 或 WPS 打开该文件，另存为 .xlsx 后重新提交；如仍无法处理，请与财政局联系"
)


@dataclass(slots=True)
class IntakeSummary:
    run_id: int
    flow_run_id: str | None
    inbox: str
    files_seen: int = 0
    outcomes: list[LoadOutcome] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)  # annotated workbooks and HTML pages
    period_reports: list[Path] = field(default_factory=list)
    alerts_queued: int = 0
    delivery: DeliveryResult | None = None
    outbox: Path | None = None
    skipped: list[SkippedEntry] = field(default_factory=list)  # inbox entries not taken, and receipts left waiting
    problems: list[str] = field(default_factory=list)  # what went wrong inside budgetflow, for the operator
    written: dict[int, SubmissionOutputs] = field(default_factory=dict)  # by submission id
    bureau_names: dict[str, str] = field(default_factory=dict)  # by bureau code: the registry's, else the cover's
    # by file name, for files that name no bureau inside (unreadable): the registered bureau their name names
    named_by_file: dict[str, str] = field(default_factory=dict)
    published_limit: int = 0  # submissions that get an artifact of their own (the setting)
    unpublished: int = 0  # loaded submissions beyond it

    @property
    def fiscal_years(self) -> list[int]:
        return sorted({o.fiscal_year for o in self.outcomes if o.fiscal_year and o.outcome is Outcome.LOADED})

    def count(self, outcome: Outcome) -> int:
        return sum(o.outcome == outcome for o in self.outcomes)

    def add_delivery(self, result: DeliveryResult) -> None:
        self.delivery = self.delivery.then(result) if self.delivery else result

    @property
    def mail_unavailable(self) -> bool:
        """The mail server did not answer (or the run's time for mail is spent): the rest waits for a later run."""
        return self.delivery is not None and self.delivery.unavailable

    def status_count(self, status: Status) -> int:
        return sum(o.status == status and o.outcome is Outcome.LOADED for o in self.outcomes)


@dataclass(frozen=True, slots=True)
class Received:
    files_seen: int
    claimed: list[ClaimedReceipt]
    skipped: list[SkippedEntry]


def receive(inbox: Path, settings: Settings, engine: Engine, run_id: int) -> Received:
    """Archive every settled inbox file, record it, then take it out of the inbox; and name what was not taken."""
    found = discover(inbox, settings.inbox_settle_seconds)
    archived, changed = archive_files(found.files, settings.archive_dir)
    deliveries = [Delivery(a.claim_key, a.sha256, a.file_name, a.source.size, str(a.archive_path)) for a in archived]
    claimed = record_receipts(engine, run_id, deliveries)
    kept = remove_from_inbox(archived)  # every one is now archived and recorded, by this run or a concurrent one
    return Received(len(found.files), claimed, [*found.skipped, *changed, *kept])


def leftovers(settings: Settings, engine: Engine, run_id: int) -> tuple[list[ClaimedReceipt], list[SkippedEntry]]:
    """Files archived and recorded by earlier runs but never loaded, counted as taken up once more; and those
    whose archive copy is missing (two data folders on one database, a restore), which stay receipts."""
    pending = pending_receipts(engine, run_id, lambda sha256: archive_path_for(settings.archive_dir, sha256))
    present = [receipt for receipt in pending if Path(receipt.archive_path).is_file()]
    missing = [
        SkippedEntry(receipt.file_name, ARCHIVE_MISSING.format(path=receipt.archive_path))
        for receipt in pending
        if receipt not in present
    ]
    count_attempts(engine, [receipt.id for receipt in present])
    return [_replace_attempts(r, r.attempts + 1) for r in present], missing


def _replace_attempts(receipt: ClaimedReceipt, attempts: int) -> ClaimedReceipt:
    return ClaimedReceipt(
        receipt.id, receipt.sha256, receipt.file_name, receipt.size, receipt.archive_path, receipt.received_at, attempts
    )


def _given_up(receipt: ClaimedReceipt, templates: TemplateSet) -> LoadItem:
    """A receipt that runs kept dying on: recorded as not processed, without reading it again."""
    reason = GAVE_UP.format(attempts=receipt.attempts)
    read = ReadSubmission(
        file=receipt.file_name, sha256=receipt.sha256, template=templates.default.name, unreadable=reason
    )
    report = FileReport(receipt.file_name, receipt.sha256, [unreadable_finding(reason, templates)], unreadable=True)
    problem = f"{receipt.file_name}: given up after {receipt.attempts} unfinished runs"
    return LoadItem(receipt, read, report, typed_rows(read, report.findings, templates), problem)


@dataclass(slots=True)
class ReadBatch:
    """A batch ready to load, and the receipts whose archive copy vanished before it could be read."""

    items: list[LoadItem]
    missing: list[SkippedEntry] = field(default_factory=list)


def read_and_check(
    receipts: Sequence[ClaimedReceipt], settings: Settings, pool: IsolatedPool | None = None, *, isolated: bool = True
) -> ReadBatch:
    """Read and check a batch, ready to load: in worker processes (the run's `pool`, or workers started for this
    batch), each checking the part it read; here, file by file, where no worker process may be started
    (`isolated=False`).

    Checking where the files were read keeps it off the flow's own process, whose one interpreter lock
    the loading, the alerts and Prefect share; for the same reason each submission comes back as its
    cover, report and typed rows, not as the reader's objects. A part is checked as one batch (pandera
    costs ~150 ms a batch whatever its size), so a large batch is cut into as many parts as there are workers.
    """
    templates, limits = templates_for(settings.template), settings.limits  # the templates once per batch
    given_up = {r.id: _given_up(r, templates) for r in receipts if r.attempts >= settings.max_receipt_attempts}
    to_read = [receipt for receipt in receipts if receipt.id not in given_up]
    jobs = [CheckJob(r.archive_path, r.file_name, r.sha256, must_exist=True) for r in to_read]
    parts = _workers(settings) if len(jobs) >= PARALLEL_READ_MINIMUM else 1
    with _pool(settings, pool, isolated) as workers:
        checked = check_files(jobs, templates, limits, workers, parts=parts)
    read = {r.id: c for r, c in zip(to_read, checked, strict=True)}
    batch = ReadBatch([])
    for receipt in receipts:
        if receipt.id in given_up:
            batch.items.append(given_up[receipt.id])
        elif read[receipt.id].missing:
            batch.missing.append(SkippedEntry(receipt.file_name, ARCHIVE_MISSING.format(path=receipt.archive_path)))
        else:
            result = read[receipt.id]
            batch.items.append(LoadItem(receipt, result.read, result.report, result.rows, result.problem))
    return batch


def _workers(settings: Settings) -> int:
    return settings.read_workers or os.cpu_count() or 1


@contextmanager
def worker_pool(settings: Settings) -> Iterator[IsolatedPool]:
    """Worker processes for a run's batches to share, given to each call; ended, with their work, on leaving.

    A fresh pool per batch cost each new worker its first use of everything: pandera builds its schemas
    (and imports its typing back-ends, ~0.25 s), the template and the caches are made again, and forking
    the grown flow process copies its page tables. Reads and writes of a run share these workers.
    """
    pool = IsolatedPool(_workers(settings), settings.limits)
    try:
        yield pool
    finally:
        pool.close()


@contextmanager
def _pool(settings: Settings, given: IsolatedPool | None, isolated: bool) -> Iterator[IsolatedPool | None]:
    """The workers given, else workers started for this call (None: not isolated, read here)."""
    if not isolated:
        yield None
    elif given is not None:
        yield given
    else:
        with worker_pool(settings) as pool:
            yield pool


def alerts_for(settings: Settings) -> AlertsFor:
    """How the loading makes a batch's alerts: for the operators and the bureau, with the annotated copy that
    `write_outputs` will write attached."""
    directory = settings.reports_dir / "submissions"

    def attachment_of(submission: Submission, report: FileReport) -> Path | None:
        return output_paths(directory, _stem(submission), report, Path(submission.archive_path)).workbook

    return partial(submission_alerts, operators=settings.operator_list, attachment_of=attachment_of)


def load_all(engine: Engine, run_id: int, items: Sequence[LoadItem], settings: Settings) -> list[LoadOutcome]:
    """Load a batch and queue its alerts in one transaction (each submission in its own when it collides with a
    concurrent run)."""
    templates = with_bundled(templates_for(settings.template))  # and those stored versions were read with
    outcomes = load_batch(engine, run_id, identified_by_name(engine, items), alerts_for(settings), templates)
    progress.advance("load", len(outcomes))
    return outcomes


def identified_by_name(engine: Engine, items: Sequence[LoadItem]) -> Sequence[LoadItem]:
    """Submissions whose tables carry no bureau code (the national tables say only `部门：…`) given the code of the
    registered bureau they name, so that their versions are kept as that bureau's."""
    nameless = [item for item in items if item.read.unreadable is None and item.read.bureau_code is None]
    named = [
        (item, located.value)
        for item in nameless
        if isinstance(located := item.read.cover.get("bureau_name"), Located) and isinstance(located.value, str)
    ]
    if not named:
        return items
    registry = registered_names(engine)
    codes = {id(item): bureau_by_name(name, registry) for item, name in named}
    emails = registry_emails(engine, [code for code in codes.values() if code is not None])
    for item, _ in named:
        code = codes[id(item)]
        if code is None:
            continue
        # from the registry, so from no cell of the workbook; its address too, where the tables give none,
        # so that the bureau hears of its failed checks
        found = {"bureau_code": Located(code, None)}
        if code in emails and item.read.cover.get("email") is None:
            found["email"] = Located(emails[code], None)
        item.read.cover = {**item.read.cover, **found}
        item.report.bureau_code = code
    return items


def _stem(submission: Submission) -> str:
    assert submission.id is not None
    return output_stem(submission.id, submission.bureau_code, submission.fiscal_year, submission.version)


@dataclass(frozen=True, slots=True)
class OutputJob:
    directory: Path
    stem: str
    report: FileReport
    archived: Path
    bureau_name: str | None
    version: int | None


@dataclass(frozen=True, slots=True)
class Written:
    """The outputs of one submission, and what went wrong writing them (for the operator's log)."""

    submission: Submission
    outputs: SubmissionOutputs
    problem: str | None = None


def write_outputs(
    settings: Settings,
    engine: Engine,
    outcomes: Sequence[LoadOutcome],
    reports: Sequence[FileReport],
    pool: IsolatedPool | None = None,
) -> list[Written]:
    """Annotated workbook and HTML page of every submission this run loaded, and of the stored ones whose findings
    its loading changed (checked again against a new version of their year before); many in worker processes."""
    loaded = {
        o.submission_id: report for o, report in zip(outcomes, reports, strict=True) if o.outcome is Outcome.LOADED
    }
    submissions = submissions_by_id(engine, [i for i in loaded if i is not None])
    jobs = [(submission, loaded[submission.id]) for submission in submissions]
    rechecked = submissions_by_id(engine, sorted({r.submission_id for o in outcomes for r in o.rechecks} - set(loaded)))
    jobs += [(submission, report_of(engine, submission)) for submission in rechecked]
    return _write(settings, engine, jobs, pool)


def repair_outputs(settings: Settings, engine: Engine, pool: IsolatedPool | None = None) -> list[Written]:
    """The pages and annotated copies of loaded submissions that were never written (a run died in between)."""
    return _write(settings, engine, [(s, report_of(engine, s)) for s in without_outputs(engine)], pool)


def _write(
    settings: Settings, engine: Engine, loaded: Sequence[tuple[Submission, FileReport]], pool: IsolatedPool | None
) -> list[Written]:
    directory = settings.reports_dir / "submissions"
    registry = registered_names(engine) if any(s.bureau_code is None for s, _ in loaded) else []
    jobs = [_output_job(directory, s, report, registry) for s, report in loaded]
    limits = settings.limits
    if len(jobs) < PARALLEL_WRITE_MINIMUM:
        written = write_part(jobs, limits)
    else:
        with _pool(settings, pool, isolated=True) as workers:
            assert workers is not None
            size = max(1, len(jobs) // (workers.workers * 4))
            parts = [jobs[start : start + size] for start in range(0, len(jobs), size)]
            written = workers.map(write_part, parts, limits, lost=_page_only)
    outputs_written(engine, [s.id for (s, _), (outputs, _) in zip(loaded, written, strict=True) if s.id is not None])
    return [Written(s, outputs, problem) for (s, _), (outputs, problem) in zip(loaded, written, strict=True)]


def _output_job(
    directory: Path, submission: Submission, report: FileReport, registry: Sequence[tuple[str, str]]
) -> OutputJob:
    """What to write for a submission. A file that names no bureau (it could not be read) gets the bureau and
    year its file name tells, if it tells (checks.attribution), said to come from the name."""
    code = bureau_of_file(submission.file_name, registry) if submission.bureau_code is None else None
    if code is None:
        stem, name = _stem(submission), submission.bureau_name
    else:
        year = year_of_file(submission.file_name)
        assert submission.id is not None
        stem = output_stem(submission.id, code, year, submission.version)
        name = named_by_file(submission.file_name, registry)
        report = replace(report, bureau_code=code, fiscal_year=year)
    return OutputJob(directory, stem, report, Path(submission.archive_path), name, submission.version)


def write_part(jobs: Sequence[OutputJob], limits: ReaderLimits) -> list[tuple[SubmissionOutputs, str | None]]:
    """Each job's outputs; an annotated copy that cannot be written (within the limits) leaves the page alone."""
    written: list[tuple[SubmissionOutputs, str | None]] = []
    for index, job in enumerate(jobs):
        beat(index)
        try:
            with file_limits(limits):
                outputs = write_submission_outputs(
                    job.directory, job.stem, job.report, job.archived, bureau_name=job.bureau_name, version=job.version
                )
            written.append((outputs, None))
        except (Exception, FileTookTooLong):  # the alarm included: the page is written all the same
            problem = f"{job.stem}: the annotated workbook could not be written\n{traceback.format_exc()}"
            written.append(_page_only(job, problem))
    return written


def _page_only(job: OutputJob, why: WorkerLost | str) -> tuple[SubmissionOutputs, str | None]:
    """The page without the annotated copy (whose writing failed, or killed its worker)."""
    page = output_paths(job.directory, job.stem, job.report, job.archived).page
    write_page(page, job.report, bureau_name=job.bureau_name, version=job.version)
    problem = why if isinstance(why, str) else f"{job.stem}: writing the annotated workbook killed its worker"
    return SubmissionOutputs(None, page), problem


def batches(items: Sequence[ClaimedReceipt], size: int) -> list[list[ClaimedReceipt]]:
    return [list(items[start : start + size]) for start in range(0, len(items), size)]
