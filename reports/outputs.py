"""Where the per-submission outputs go, and writing them: `$BUDGETFLOW_DATA_DIR/reports/submissions/`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from checks.findings import FileReport
from reports.annotate import annotate_workbook, has_macros
from reports.html import submission_page

_UNSAFE = re.compile(r"[^0-9A-Za-z-]+")


@dataclass(frozen=True, slots=True)
class SubmissionOutputs:
    workbook: Path | None  # None when the file could not be opened as a workbook, or has no findings
    page: Path


def output_stem(submission_id: int, bureau_code: str | None, fiscal_year: int | None, version: int | None) -> str:
    code = _UNSAFE.sub("_", bureau_code or "unknown")[:20]
    return f"{submission_id:06d}_{code}_{fiscal_year or 'na'}_v{version or 0}"


def output_paths(directory: Path, stem: str, report: FileReport, archived: Path) -> SubmissionOutputs:
    """Where a submission's page and annotated workbook go (None: it gets no workbook). Decided here alone,
    so that an alert queued as its submission is loaded names the attachment that will be written.

    A workbook without findings gets no annotated copy: it would be the bureau's own file again, and
    writing thousands of copies nobody needs would cost an intake a few ms a file.
    """
    workbook = None
    if report.findings and not report.unreadable:
        workbook = directory / f"{stem}{'.xlsm' if has_macros(archived) else '.xlsx'}"
    return SubmissionOutputs(workbook, directory / f"{stem}.html")


def write_submission_outputs(
    directory: Path,
    stem: str,
    report: FileReport,
    archived: Path,
    *,
    bureau_name: str | None,
    version: int | None,
) -> SubmissionOutputs:
    """The HTML page of one submission, and the annotated workbook when there is something to mark."""
    directory.mkdir(parents=True, exist_ok=True)
    planned = output_paths(directory, stem, report, archived)
    workbook = None
    if planned.workbook is not None and archived.exists():
        title = f"{bureau_name or report.bureau_code or ''} {report.fiscal_year or ''} 年度报送校验结果".strip()
        workbook = annotate_workbook(archived, report.findings, planned.workbook, title)
    write_page(planned.page, report, bureau_name=bureau_name, version=version)
    return SubmissionOutputs(workbook, planned.page)


def write_page(page: Path, report: FileReport, *, bureau_name: str | None, version: int | None) -> Path:
    """The submission's HTML page, written under a temporary name and renamed (never half a page)."""
    page.parent.mkdir(parents=True, exist_ok=True)
    temporary = page.with_name(f".{page.name}.tmp")
    temporary.write_text(submission_page(report, bureau_name=bureau_name, version=version), encoding="utf-8")
    temporary.replace(page)
    return page
