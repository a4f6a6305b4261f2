"""Helpers shared by the tests: write real workbooks with openpyxl, then read and check them."""

from __future__ import annotations

from pathlib import Path

from checks.findings import FileReport
from checks.validate import validate_batch
from workbooks.reader import read_submission
from workbooks.samples import BureauFigures, Layout, write_workbook


def check(*paths: Path) -> list[FileReport]:
    """Read and validate files as one batch, as the command line does."""
    return validate_batch([read_submission(path) for path in paths])


def check_one(path: Path) -> FileReport:
    return check(path)[0]


def check_figures(
    directory: Path, figures: BureauFigures, layout: Layout = Layout(), name: str = "book.xlsx"
) -> FileReport:
    """Write figures as a real .xlsx and check it."""
    return check_one(write_workbook(figures, directory / name, layout))


def rules_of(report: FileReport) -> list[str]:
    return [finding.rule for finding in report.findings]
