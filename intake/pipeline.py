"""The intake's steps as plain functions: the Prefect flow only calls them in order, in batches."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine

from alerts.outbox import DeliveryResult, QueuedSubmission
from budgetflow.settings import ReaderLimits, Settings
from checks.findings import STATUS_TEXT, FileReport
from checks.records import Submission
from checks.template import Template, load_template
from checks.validate import validate_batch
from intake import progress
from intake.archive import archive_files, archive_path_for, discover, remove_from_inbox
from models.reporting import submissions_by_id
from models.store import (
    ClaimedReceipt,
    Delivery,
    LoadItem,
    LoadOutcome,
    load_batch,
    pending_receipts,
    record_receipts,
    typed_rows,
)
from reports.outputs import SubmissionOutputs, output_stem, write_submission_outputs
from workbooks.reader import read_submission

T = TypeVar("T")

PARALLEL_READ_MINIMUM = 64  # below this, starting worker processes costs more than it saves
PARALLEL_WRITE_MINIMUM = 16  # an HTML page and annotated copy cost a few ms: a worker is worth it sooner


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

    @property
    def fiscal_years(self) -> list[int]:
        return sorted({o.fiscal_year for o in self.outcomes if o.fiscal_year and o.outcome == "loaded"})

    def count(self, outcome: str) -> int:
        return sum(o.outcome == outcome for o in self.outcomes)

    def add_delivery(self, result: DeliveryResult) -> None:
        self.delivery = self.delivery.then(result) if self.delivery else result

    def status_count(self, status: str) -> int:
        return sum(o.status == status and o.outcome == "loaded" for o in self.outcomes)


def receive(inbox: Path, settings: Settings, engine: Engine, run_id: int) -> tuple[int, list[ClaimedReceipt]]:
    """Archive every inbox file, record it, then take it out of the inbox; returns (files seen, claimed)."""
    files = discover(inbox)
    archived = archive_files(files, settings.archive_dir)
    deliveries = [Delivery(a.claim_key, a.sha256, a.file_name, a.source.size, str(a.archive_path)) for a in archived]
    claimed = record_receipts(engine, run_id, deliveries)
    remove_from_inbox(archived)  # every one is now archived and recorded, by this run or a concurrent one
    return len(files), claimed


def leftovers(settings: Settings, engine: Engine, run_id: int) -> list[ClaimedReceipt]:
    """Files archived and recorded by earlier runs but never loaded."""
    return pending_receipts(engine, run_id, lambda sha256: archive_path_for(settings.archive_dir, sha256))


def _read_one(receipt: ClaimedReceipt, template: Template, limits: ReaderLimits) -> Submission:
    submission = read_submission(Path(receipt.archive_path), template, limits)
    submission.file = receipt.file_name
    return submission


def _read_and_check_part(
    receipts: Sequence[ClaimedReceipt], template: Template, limits: ReaderLimits
) -> list[LoadItem]:
    submissions = [_read_one(receipt, template, limits) for receipt in receipts]
    reports = validate_batch(submissions, template)
    return [
        LoadItem(receipt, submission.without_values(), report, typed_rows(submission, report.findings))
        for receipt, submission, report in zip(receipts, submissions, reports, strict=True)
    ]


def read_and_check(receipts: Sequence[ClaimedReceipt], settings: Settings) -> list[LoadItem]:
    """Read and check a batch, ready to load; a large one in worker processes, each checking the part it read.

    Checking where the files were read keeps it off the flow's own process, whose one interpreter lock
    the loading, the alerts and Prefect share; for the same reason each submission comes back as its
    cover, report and typed rows, not as the reader's objects. A part is checked as one batch (pandera
    costs ~150 ms a batch whatever its size), so a large batch is cut into as many parts as there are workers.
    """
    template, limits = load_template(settings.template), ReaderLimits()  # once per batch, not once per file
    parts_wanted = _workers(settings) if len(receipts) >= PARALLEL_READ_MINIMUM else 1
    size = max(1, -(-len(receipts) // parts_wanted))
    parts = [receipts[start : start + size] for start in range(0, len(receipts), size)] or [receipts]
    checked = _in_processes(_read_and_check_part, parts, settings, 2, template, limits)
    return [item for part in checked for item in part]


def _workers(settings: Settings) -> int:
    return settings.read_workers or os.cpu_count() or 1


class WorkerPool:
    """Worker processes shared by every batch of a run, started when first needed.

    A fresh pool per batch cost each new worker its first use of everything: pandera builds its schemas
    (and imports its typing back-ends, ~0.25 s), the template and the caches are made again, and forking
    the grown flow process copies its page tables. Reads and writes of a run share these workers.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()  # a batch's writing and the next batch's reading ask from two threads

    def executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(max_workers=self.workers)
            return self._executor

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown()
                self._executor = None


_run_pool: WorkerPool | None = None


@contextmanager
def worker_pool(settings: Settings) -> Iterator[WorkerPool]:
    """The worker processes the batches inside this block share; ended, with their work, on leaving it."""
    global _run_pool
    pool = WorkerPool(_workers(settings))
    outer, _run_pool = _run_pool, pool
    try:
        yield pool
    finally:
        _run_pool = outer
        pool.close()


def _in_processes(
    function: Callable[..., T], items: Sequence[Any], settings: Settings, minimum: int, *shared: Any
) -> list[T]:
    """`function(item, *shared)` for every item, in order; in worker processes from `minimum` items on
    (the run's shared workers inside `worker_pool`, else workers started for this call)."""
    workers = _workers(settings)
    if len(items) < minimum or workers == 1:
        return [function(item, *shared) for item in items]
    chunk = max(1, len(items) // (workers * 4))
    arguments = (items, *(repeat(value) for value in shared))
    if _run_pool is not None and _run_pool.workers == workers:
        return list(_run_pool.executor().map(function, *arguments, chunksize=chunk))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, *arguments, chunksize=chunk))


def load_all(engine: Engine, run_id: int, items: Sequence[LoadItem]) -> list[LoadOutcome]:
    """Load a batch in one transaction (each submission in its own when it collides with a concurrent run)."""
    outcomes = load_batch(engine, run_id, items)
    progress.advance("load", len(outcomes))
    return outcomes


def write_outputs(
    settings: Settings, engine: Engine, outcomes: Sequence[LoadOutcome], reports: Sequence[FileReport]
) -> list[QueuedSubmission]:
    """Annotated workbook and HTML page of every submission this run loaded; many are written in worker processes."""
    loaded = {o.submission_id: report for o, report in zip(outcomes, reports, strict=True) if o.outcome == "loaded"}
    directory = settings.reports_dir / "submissions"
    submissions = submissions_by_id(engine, [i for i in loaded if i is not None])
    jobs = []
    for submission in submissions:
        assert submission.id is not None
        stem = output_stem(submission.id, submission.bureau_code, submission.fiscal_year, submission.version)
        jobs.append(
            OutputJob(
                directory,
                stem,
                loaded[submission.id],
                Path(submission.archive_path),
                submission.bureau_name,
                submission.version,
            )
        )
    written = _in_processes(_write_one, jobs, settings, PARALLEL_WRITE_MINIMUM)
    return [
        QueuedSubmission(submission, job.report, outputs.workbook, outputs.page)
        for submission, job, outputs in zip(submissions, jobs, written, strict=True)
    ]


@dataclass(frozen=True, slots=True)
class OutputJob:
    directory: Path
    stem: str
    report: FileReport
    archived: Path
    bureau_name: str | None
    version: int | None


def _write_one(job: OutputJob) -> SubmissionOutputs:
    return write_submission_outputs(
        job.directory, job.stem, job.report, job.archived, bureau_name=job.bureau_name, version=job.version
    )


OUTCOME_TEXT = {"loaded": "已入库", "duplicate": "重复（未再入库）", "skipped": "已由其他运行入库"}


def artifact_table(summary: IntakeSummary) -> list[dict[str, object]]:
    """One row per file, for the Prefect UI."""
    return [
        {
            "文件": o.file_name,
            "单位编码": o.bureau_code or "",
            "年度": o.fiscal_year or "",
            "版本": o.version or "",
            "结果": OUTCOME_TEXT.get(o.outcome, o.outcome),
            "状态": STATUS_TEXT.get(o.status, o.status),
            "错误": o.errors,
            "警告": o.warnings,
        }
        for o in summary.outcomes
    ]


def artifact_markdown(summary: IntakeSummary) -> str:
    """The run at a glance: a headline that says when submissions failed, counts, and where outputs are."""
    loaded = [o for o in summary.outcomes if o.outcome == "loaded"]
    failed = [o for o in loaded if o.status == "failed"]
    unreadable = [o for o in loaded if o.status == "unreadable"]
    if failed or unreadable:
        headline = f"## ⚠ 本次入库有 {len(failed)} 份未通过校验、{len(unreadable)} 份无法读取"
    elif loaded:
        headline = "## ✓ 本次入库的报表均通过校验（可能有警告）"
    else:
        headline = "## 本次没有新的报表"
    lines = [
        f"# 入库运行 #{summary.run_id}",
        "",
        headline,
        "",
        f"- 收件箱：{markdown_text(summary.inbox)}，{summary.files_seen} 个文件",
        f"- 入库 {len(loaded)}，重复 {summary.count('duplicate')}；通过 {summary.status_count('passed')}，"
        f"有警告 {summary.status_count('warnings')}，未通过 {len(failed)}，无法读取 {len(unreadable)}",
        f"- 新增提醒邮件 {summary.alerts_queued} 封",
    ]
    problems = [o for o in loaded if o.status in ("failed", "unreadable")]
    if problems:
        lines += ["", "| 文件 | 单位编码 | 状态 | 错误 | 首个问题 |", "|---|---|---|---|---|"]
        for o in problems:
            first = next((f for f in o.findings if f.severity == "error"), None)
            where = f"{first.sheet}!{first.cells[0]} " if first and first.sheet and first.cells else ""
            text = f"{where}{first.message}" if first else ""
            cells = [
                markdown_text(o.file_name),
                markdown_text(o.bureau_code or ""),
                STATUS_TEXT[o.status],
                str(o.errors),
                markdown_text(text),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    if summary.outputs:
        folder = markdown_text(str(summary.outputs[0].parent))
        lines += ["", f"- 标注工作簿和网页 {len(summary.outputs)} 个，在 {folder}"]
    lines += [f"- 期间汇总报告：{markdown_text(str(path))}" for path in summary.period_reports]
    return "\n".join(lines)


def failure_markdown(inbox: str, error: Exception, summary: IntakeSummary | None) -> str:
    """The summary of a run that could not finish: what failed, and what it had done by then."""
    lines = [
        "# 入库运行失败",
        "",
        "## ✗ 本次运行未能完成，请查看运行日志",
        "",
        f"- 收件箱：{markdown_text(inbox)}",
        f"- 原因：{markdown_text(str(error))}",
        "- 已归档的文件不会丢失，下次运行时会继续处理。",
    ]
    if summary is not None and summary.outcomes:
        lines.append(f"- 失败前已入库 {summary.count('loaded')} 份，重复 {summary.count('duplicate')} 份")
    return "\n".join(lines)


def markdown_text(text: str) -> str:
    """Bureau-supplied text inside a markdown table cell or list item: no pipes, no markup, no line breaks."""
    one_line = " ".join(text.splitlines())[:200]  # \r, \r\n and \n all end a markdown line (and a table row)
    return "".join("\\" + c if c in "\\`*_[]<>|#" else c for c in one_line)


def batches(items: Sequence[ClaimedReceipt], size: int) -> list[list[ClaimedReceipt]]:
    return [list(items[start : start + size]) for start in range(0, len(items), size)]
