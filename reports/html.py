"""HTML pages (Jinja2, every value escaped): one per submission, and the period report."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from checks.findings import STATUS_TEXT, FileReport, Finding


@cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("reports", "templates"),
        # HTML templates escape every value; plain-text mail bodies (.txt.j2) must not.
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, **context: Any) -> str:
    context.setdefault("generated_at", dt.datetime.now().strftime("%Y-%m-%d %H:%M"))
    return environment().get_template(template).render(**context)


def grouped_by_sheet(findings: list[Finding]) -> list[tuple[str | None, list[Finding]]]:
    """Findings per sheet, sheets in the order their first finding came."""
    groups: dict[str | None, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.sheet, []).append(finding)
    return list(groups.items())


def submission_page(report: FileReport, *, bureau_name: str | None = None, version: int | None = None) -> str:
    status = str(report.status)
    return render(
        "submission.html.j2",
        file=report.file,
        sha256=report.sha256,
        bureau_code=report.bureau_code,
        bureau_name=bureau_name,
        fiscal_year=report.fiscal_year,
        version=version,
        status=status,
        status_text=STATUS_TEXT[status],
        errors=report.errors,
        warnings=report.warnings,
        explained=report.explained,
        groups=grouped_by_sheet(report.findings),
    )
