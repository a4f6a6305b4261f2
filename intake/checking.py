"""Reading and checking files so that each one gets its answer, whatever it holds.

Used by the intake and by `budgetflow validate`. Every file is read inside `file_limits`, each part of
files in a worker process of an `IsolatedPool` (see `intake.isolation`). Whatever goes wrong with one
file — an exception in our code or an engine's, the time or memory limit, a worker that died on it
twice — makes that file alone `unreadable`, with a finding that tells the bureau what to do; the
exception itself goes to the operator (`CheckedFile.problem`), never to the bureau.
"""

from __future__ import annotations

import os
import stat
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from checks.findings import FileReport
from checks.identity import sha256_of
from checks.records import ReadSubmission
from checks.template import Template, TemplateSet, as_set, unreadable_finding
from config.settings import ReaderLimits
from intake.isolation import CHECKING, FileTookTooLong, IsolatedPool, WorkerLost, beat, file_limits, inline_map
from workbooks.reader import read_submission

if TYPE_CHECKING:
    from models.rows import TypedRows

RESUBMIT = "请用 Excel 或 WPS 打开该文件，另存为 .xlsx 后重新提交；如仍无法处理，请与财政局联系"
FAILED = f"文件无法处理：读取或校验该文件时出错。{RESUBMIT}"
WORKER_DIED = f"处理该文件时读取进程意外终止，单独重试一次后仍然如此，文件可能已损坏。{RESUBMIT}"
TOOK_TOO_LONG = (
    "文件处理超过 {seconds:g} 秒仍未完成，已停止处理（内容可能异常庞大或已损坏）。"
    "请检查并精简该文件（删除多余的工作表、空行和空列）后重新提交"
)
TOO_MUCH_MEMORY = (
    "文件处理所需内存超过上限 {megabytes} MB，已停止处理（内容可能异常庞大或已损坏）。"
    "请检查并精简该文件（删除多余的工作表、空行和空列）后重新提交"
)


@dataclass(frozen=True, slots=True)
class CheckJob:
    """A file to read and check: where it is, the name it arrived under, and its sha256 when known."""

    path: str
    file_name: str
    sha256: str | None = None
    must_exist: bool = False  # an archive copy: gone means it is still to be had, not a bad file


@dataclass(frozen=True, slots=True)
class CheckedFile:
    """What became of one file: what was read (cover, findings, sheet titles: no values), its report, its typed
    rows for loading, and, for the operator, what went wrong inside budgetflow or an engine."""

    read: ReadSubmission
    report: FileReport
    rows: TypedRows = field(default_factory=dict)
    problem: str | None = None
    missing: bool = False  # the file was not there (`must_exist`): no answer, try again later

    def __reduce__(self) -> tuple[object, ...]:
        return (CheckedFile, (self.read, self.report, self.rows, self.problem, self.missing))  # see records.Located


def _sha256(job: CheckJob) -> str:
    """The file's hash, for the record of a file that could not be processed; "" for anything that is not a
    regular file (a FIFO would block the hashing, a link to /dev/zero never end it)."""
    if job.sha256 is not None:
        return job.sha256
    try:
        if not stat.S_ISREG(os.lstat(job.path).st_mode):
            return ""
        return sha256_of(Path(job.path))
    except OSError:
        return ""


def _unprocessable(job: CheckJob, templates: TemplateSet, reason: str) -> ReadSubmission:
    return ReadSubmission(file=job.file_name, sha256=_sha256(job), template=templates.default.name, unreadable=reason)


def _read(job: CheckJob, templates: TemplateSet, limits: ReaderLimits) -> tuple[ReadSubmission, str | None]:
    """The file read within its limits, or an unreadable submission saying why; and the problem, if any."""
    try:
        with file_limits(limits):
            submission = read_submission(Path(job.path), templates, limits)
    except FileTookTooLong:
        return _unprocessable(job, templates, TOOK_TOO_LONG.format(seconds=limits.max_seconds)), (
            f"{job.file_name}: stopped after {limits.max_seconds:g} s"
        )
    except MemoryError:
        megabytes = limits.max_memory_bytes // (1024 * 1024)
        return _unprocessable(job, templates, TOO_MUCH_MEMORY.format(megabytes=megabytes)), (
            f"{job.file_name}: over the memory limit of {megabytes} MB"
        )
    except Exception:  # any other failure is budgetflow's or an engine's, and this file's alone
        return _unprocessable(job, templates, FAILED), f"{job.file_name}: reading failed\n{traceback.format_exc()}"
    submission.file = job.file_name
    return submission, None


def _checked(submissions: list[ReadSubmission], templates: TemplateSet) -> list[tuple[FileReport, str | None]]:
    """Every submission's report: the batch checked at once, or, when that fails, one at a time."""
    # imported when there is something to check: pandas and pandera take half a second, which a run that
    # finds nothing new need not wait for
    from checks.validate import validate_batch

    try:
        return [(report, None) for report in validate_batch(submissions, templates)]
    except Exception:
        pass  # one submission the checks cannot take: find it, and check the others
    checked: list[tuple[FileReport, str | None]] = []
    for submission in submissions:
        try:
            checked.append((validate_batch([submission], templates)[0], None))
        except Exception:
            report = FileReport(
                file=submission.file,
                sha256=submission.sha256,
                findings=[unreadable_finding(FAILED, templates)],
                unreadable=True,
            )
            checked.append((report, f"{submission.file}: checking failed\n{traceback.format_exc()}"))
    return checked


def check_part(
    jobs: Sequence[CheckJob], templates: TemplateSet, limits: ReaderLimits, with_rows: bool
) -> list[CheckedFile]:
    """Read and check files as one batch (pandera costs ~100 ms a batch, whatever its size)."""
    read: list[tuple[ReadSubmission, str | None] | None] = []
    for index, job in enumerate(jobs):
        beat(index)
        read.append(None if job.must_exist and not Path(job.path).is_file() else _read(job, templates, limits))
    beat(CHECKING)
    present = [item[0] for item in read if item is not None]
    reports = iter(_checked(present, templates))
    results = []
    for job, item in zip(jobs, read, strict=True):
        if item is None:
            missing = ReadSubmission(file=job.file_name, sha256=job.sha256 or "", template=templates.default.name)
            results.append(CheckedFile(missing, FileReport(job.file_name, job.sha256 or ""), missing=True))
            continue
        submission, problem = item
        report, check_problem = next(reports)
        rows = _typed_rows(submission, report, templates) if with_rows else {}  # an unreadable file's: its finding
        results.append(CheckedFile(submission.without_values(), report, rows, problem or check_problem))
    return results


def _lost(job: CheckJob, why: WorkerLost, templates: TemplateSet, limits: ReaderLimits) -> CheckedFile:
    reason = TOOK_TOO_LONG.format(seconds=limits.max_seconds) if why.timed_out else WORKER_DIED
    submission = _unprocessable(job, templates, reason)
    report = FileReport(job.file_name, submission.sha256, [unreadable_finding(reason, templates)], unreadable=True)
    cause = "no progress, killed" if why.timed_out else "its worker process died, twice"
    return CheckedFile(submission, report, _typed_rows(submission, report, templates), f"{job.file_name}: {cause}")


def _typed_rows(submission: ReadSubmission, report: FileReport, templates: TemplateSet) -> TypedRows:
    # imported here: `budgetflow validate` checks files without a database, and need not wait for SQLAlchemy
    from models.rows import typed_rows

    return typed_rows(submission, report.findings, templates)


def check_files(
    jobs: Sequence[CheckJob],
    templates: Template | TemplateSet,
    limits: ReaderLimits,
    pool: IsolatedPool | None,
    *,
    parts: int = 1,
    with_rows: bool = True,
) -> list[CheckedFile]:
    """Every file read and checked, in order: in `parts` parts on the pool's workers, or here without a pool."""
    templates = as_set(templates)
    size = max(1, -(-len(jobs) // max(1, parts)))
    cut = [jobs[start : start + size] for start in range(0, len(jobs), size)]
    if pool is None:
        return inline_map(check_part, cut, templates, limits, with_rows)
    lost = partial(_lost, templates=templates, limits=limits)
    return pool.map(check_part, cut, templates, limits, with_rows, lost=lost)
