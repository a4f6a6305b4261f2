"""The `period_report` flow: the whole county's submissions for one fiscal year, as xlsx and HTML."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from checks.findings import STATUS_TEXT
from checks.period import HEADLINE_FIGURES, PeriodReport, compared_headers
from checks.template import templates_for, with_bundled
from config.settings import Settings
from flows.common import database_task, engine_of, filing_year, retrying, settings_for, untracked
from intake.summaries import markdown_text, period_status_description, period_status_rows
from models.database import upgrade
from models.reporting import period_report as read_period
from reports.period import MISSING, write_html, write_workbook

PARALLEL_WRITE_LINES = 2000  # bureaus from which the workbook is written in a process of its own (~0.2 ms a line)


@task(cache_policy=NO_CACHE)
@database_task
def gather(settings: Settings, fiscal_year: int) -> PeriodReport:
    """Every registered or submitting bureau's current version for the year."""
    upgrade(settings.database_url_value())
    return read_period(engine_of(settings), fiscal_year, with_bundled(templates_for(settings.template)))


@task(cache_policy=NO_CACHE)
def write_outputs(report: PeriodReport, directory: Path) -> list[Path]:
    """The period report as a workbook and an HTML page, both with charts."""
    stem = f"{report.fiscal_year}-period-report"
    if len(report.lines) < PARALLEL_WRITE_LINES:
        return [write_workbook(report, directory / f"{stem}.xlsx"), write_html(report, directory / f"{stem}.html")]
    # A province's report takes seconds for each file, and it is the last step of an intake: side by side.
    with ProcessPoolExecutor(max_workers=1) as other_process:
        workbook = other_process.submit(write_workbook, report, directory / f"{stem}.xlsx")
        page = write_html(report, directory / f"{stem}.html")
        return [workbook.result(), page]


def _amount(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _change(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:+.2f}"


def parents_markdown(report: PeriodReport) -> list[str]:
    """The roll-up by 主管部门 as a markdown table: units, submitted, and each headline amount this year, last
    year and its change in percent."""
    parents = report.by_parent
    if not parents:
        return []
    figures = [header for figure in HEADLINE_FIGURES for header in compared_headers(figure)]
    rows = [
        "## 按主管部门汇总",
        "",
        "| " + " | ".join(["主管部门", "单位数", "已报送", *figures]) + " |",
        "|" + "---|" * (3 + len(figures)),
    ]
    for parent in parents:  # the 主管部门 comes from the bureaus' covers: escaped, as in the intake summary
        cells = [markdown_text(parent.label), str(parent.units), str(parent.submitted)]
        for figure in HEADLINE_FIGURES:  # the workbook and the page have them all
            now, before = parent.this_year.of(figure), parent.last_year.of(figure)
            cells += [_amount(now), _amount(before), _change(parent.change(figure))]
        rows.append("| " + " | ".join(cells) + " |")
    return [*rows, ""]


@task(cache_policy=NO_CACHE)
def publish(report: PeriodReport, paths: list[Path]) -> None:
    """A markdown summary in the Prefect UI, one stable key per fiscal year."""
    attention = "\n".join(  # code and name come from the bureau's cover: escaped, as in the intake summary
        f"- {markdown_text(line.code)} {markdown_text(line.name)}："
        f"{MISSING if line.status is None else STATUS_TEXT[line.status]}"
        for line in report.attention
    )
    markdown = "\n".join(
        [
            f"# {report.fiscal_year} 年度部门报送汇总",
            "",
            f"- 单位 {len(report.lines)} 个，需关注 {len(report.attention)} 个",
            f"- 全县预算执行率 {report.county_execution_rate or '—'}%",
            f"- 三公经费使用率 {report.county_three_public_use or '—'}%",
            "",
            attention or "（无需关注的单位）",
            "",
            *parents_markdown(report),
            *[f"- `{path}`" for path in paths],
        ]
    )
    create_markdown_artifact(key=f"period-report-{report.fiscal_year}", markdown=markdown, description="期间汇总报告")


@task(cache_policy=NO_CACHE)
def publish_status(report: PeriodReport, today: dt.date) -> None:
    """The year's status in the Prefect UI (`period-status-2023`): every registered bureau, submitted or not."""
    create_table_artifact(
        key=f"period-status-{report.fiscal_year}",
        table=period_status_rows(report, today),
        description=period_status_description(report, today),
    )


def refresh_status(settings: Settings, fiscal_years: list[int]) -> None:
    """The status artifact of each year, read again (the intake's and notify's runs call this)."""
    for year in fiscal_years:
        publish_status(untracked(retrying(gather, settings)(settings, year)), dt.date.today())


@flow(name="period_report", description="Write the county's period report for one fiscal year (xlsx and HTML).")
def period_report(
    fiscal_year: int | None = None, out_dir: str | None = None, data_dir: str | None = None
) -> list[Path]:
    """Gather → write → publish; returns the files written. The year defaults to the one being filed."""
    settings = settings_for(data_dir)
    today = dt.date.today()
    report = retrying(gather, settings)(settings, fiscal_year or filing_year(today))
    paths = write_outputs(untracked(report), Path(out_dir) if out_dir else settings.reports_dir / "period")
    publish(untracked(report), paths)
    publish_status(untracked(report), today)
    return paths
