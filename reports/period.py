"""The period report: the whole county at a glance for one fiscal year, as a workbook and an HTML page.

Per bureau expected to submit: the current version's status, income and expenditure totals (全年执行数),
execution rate, 三公 budget against actual and its use — each amount beside last year's and its change —,
the self-evaluation total and grade, and the number of errors and warnings; county totals; the units of each
主管部门 summed; bureaus that have not submitted or whose current version failed; charts of execution rate
by bureau and of 三公 use, in both formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Font, PatternFill
from openpyxl.styles.fonts import DEFAULT_FONT
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.worksheet import Worksheet

from checks.findings import STATUS_TEXT
from checks.period import (
    AMOUNT_FIGURES,
    AMOUNT_TITLES,
    CHANGE_TITLES,
    LAST_YEAR,
    BureauLine,
    ParentLine,
    PeriodReport,
    compared_headers,
)
from reports.annotate import print_one_page_across, write_text
from reports.html import render

MISSING = "未报送"
FAILED_FILL = PatternFill("solid", start_color="FFF4B6B6", end_color="FFF4B6B6")
MISSING_FILL = PatternFill("solid", start_color="FFD9D9D9", end_color="FFD9D9D9")


def compared(figure: str, now: Decimal | None, before: Decimal | None, change: Decimal | None) -> dict[str, object]:
    """An amount's cells by header: numbers, as the cells hold them."""
    values = [None if value is None else float(value) for value in (now, before, change)]
    return dict(zip(compared_headers(figure), values, strict=True))


HEADERS = [
    "单位编码", "单位名称", "状态", "版本", *compared_headers("income_total"), *compared_headers("expense_total"),
    *compared_headers("budget_total"), "执行率(%)", *compared_headers("three_public_budget"),
    *compared_headers("three_public_actual"), "三公使用率(%)", "自评总分", "自评等级", "按总分等级", "错误", "警告",
    "已说明",
]  # fmt: skip
PARENT_HEADERS = [
    "主管部门", "主管部门编码", "单位数", "已报送", *(h for figure in AMOUNT_FIGURES for h in compared_headers(figure))
]  # fmt: skip
_AMOUNT_HEADERS = {*AMOUNT_TITLES.values(), *(LAST_YEAR + title for title in AMOUNT_TITLES.values())}
AMOUNT_COLUMNS = tuple(col for col, h in enumerate(HEADERS, start=1) if h in _AMOUNT_HEADERS or h == "自评总分")
# percent: two decimals throughout, so that 100.00 stands beside 99.12
RATE_COLUMNS = tuple(col for col, h in enumerate(HEADERS, start=1) if h.endswith("(%)"))
_FIXED_WIDTHS = {
    "单位编码": 14, "单位名称": 30, "主管部门": 30, "主管部门编码": 14, "状态": 10, "版本": 6, "执行率(%)": 10,
    "单位数": 8, "已报送": 8, "错误": 6, "警告": 6, "已说明": 6,
}  # fmt: skip


def _width(header: str) -> int:
    """Wide enough for the header, or for an amount in the hundred thousands of 万元."""
    if header in _FIXED_WIDTHS:
        return _FIXED_WIDTHS[header]
    return 14 if header in _AMOUNT_HEADERS else 12 if header.endswith("(%)") else 10


WIDTHS = tuple(_width(header) for header in HEADERS)
TOTALS_END = HEADERS.index("三公使用率(%)") + 1  # the county totals row stops before the score
# The bold of the headers and the totals is the workbook's own font made bold (a bare Font(bold=True) names no
# font, and spreadsheet programs draw it in another one than the rows).
BOLD = Font(name=DEFAULT_FONT.name, sz=DEFAULT_FONT.sz, family=DEFAULT_FONT.family, scheme=DEFAULT_FONT.scheme, b=True)


def _status_text(line: BureauLine) -> str:
    return MISSING if line.status is None else STATUS_TEXT[line.status]


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _row(line: BureauLine) -> list[object]:
    values: dict[str, object] = {
        "单位编码": line.code, "单位名称": line.name, "状态": _status_text(line), "版本": line.version,
        "执行率(%)": _number(line.execution_rate), "三公使用率(%)": _number(line.three_public_use),
        "自评总分": _number(line.self_total), "自评等级": line.grade, "按总分等级": line.grade_by_total,
        "错误": line.errors, "警告": line.warnings, "已说明": line.explained,
    }  # fmt: skip
    for figure in AMOUNT_FIGURES:
        now, before = line.amounts.of(figure), line.last_year_of(figure)
        values.update(compared(figure, now, before, line.change(figure)))
    return [values[header] for header in HEADERS]


def _totals_row(report: PeriodReport) -> list[object]:
    values: dict[str, object] = {
        "单位名称": "全县合计",
        "执行率(%)": _number(report.county_execution_rate),
        "三公使用率(%)": _number(report.county_three_public_use),
    }
    for figure in AMOUNT_FIGURES:
        now, before = report.total(figure), report.last_year_total(figure)
        values.update(compared(figure, now, before, report.total_change(figure)))
    return [values.get(header, "") for header in HEADERS[:TOTALS_END]]


def _parent_row(parent: ParentLine) -> list[object]:
    values: list[object] = [parent.label, parent.code, parent.units, parent.submitted]
    for figure in AMOUNT_FIGURES:
        now, before = parent.this_year.of(figure), parent.last_year.of(figure)
        values += compared(figure, now, before, parent.change(figure)).values()
    return values


def _cells(sheet: WriteOnlyWorksheet, values: list[object], **style: Any) -> list[Cell]:
    """A row of a write-only sheet: every value as text-safe cells, with one style."""
    cells = []
    for value in values:
        cell = WriteOnlyCell(sheet)
        write_text(cell, value)
        for name, setting in style.items():
            setattr(cell, name, setting)
        cells.append(cell)
    return cells


def write_workbook(report: PeriodReport, target: Path) -> Path:
    """The period workbook, streamed row by row (a province's thousands of bureaus never sit in memory)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("汇总")
    _widths(sheet, WIDTHS)
    print_one_page_across(sheet)
    deadline = f"截止日期 {report.deadline:%Y-%m-%d}；" if report.deadline else ""
    sheet.append(_cells(sheet, [f"{report.fiscal_year} 年度部门报送汇总"], font=Font(bold=True, size=14)))
    sheet.append(_cells(sheet, [f"{deadline}生成于 {report.generated_at:%Y-%m-%d %H:%M}"]))
    sheet.append([])
    sheet.append(_cells(sheet, list(HEADERS), font=BOLD))
    for line in report.lines:
        row = _number_formats(_cells(sheet, _row(line)))
        if line.needs_attention:
            row[2].fill = MISSING_FILL if line.status is None else FAILED_FILL
        sheet.append(row)
    total_row = 5 + len(report.lines)
    sheet.append(_number_formats(_cells(sheet, _totals_row(report), font=BOLD)))
    _parents_sheet(book, report)

    attention = book.create_sheet("需关注")
    _widths(attention, (14, 30, 12, 6, 6))
    attention.append(_cells(attention, ["单位编码", "单位名称", "情况", "错误", "警告"], font=BOLD))
    for line in report.attention:
        attention.append(_cells(attention, [line.code, line.name, _status_text(line), line.errors, line.warnings]))
    _charts(book, report, anchor_row=total_row + 3, sheet=sheet)
    target.parent.mkdir(parents=True, exist_ok=True)
    book.save(target)
    return target


def _parents_sheet(book: Workbook, report: PeriodReport) -> None:
    """按主管部门汇总: each 主管部门's units, how many submitted, and their amounts summed, beside last year's."""
    sheet = book.create_sheet("按主管部门汇总")
    _widths(sheet, tuple(_width(header) for header in PARENT_HEADERS))
    print_one_page_across(sheet)
    amount_columns = [col for col, h in enumerate(PARENT_HEADERS, start=1) if h in _AMOUNT_HEADERS]
    rate_columns = [col for col, h in enumerate(PARENT_HEADERS, start=1) if h.endswith("(%)")]
    sheet.append(_cells(sheet, list(PARENT_HEADERS), font=BOLD))
    for parent in report.by_parent:
        row = _cells(sheet, _parent_row(parent))
        for columns, number_format in ((amount_columns, "#,##0.00"), (rate_columns, "0.00")):
            for col in columns:
                row[col - 1].number_format = number_format
        sheet.append(row)


def _widths(sheet: Worksheet, widths: tuple[int, ...]) -> None:
    for col, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width


def _number_formats(row: list[Cell]) -> list[Cell]:
    for columns, number_format in ((AMOUNT_COLUMNS, "#,##0.00"), (RATE_COLUMNS, "0.00")):
        for col in columns:
            if col <= len(row):  # the totals row stops before the score
                row[col - 1].number_format = number_format
    return row


def _charts(book: Workbook, report: PeriodReport, anchor_row: int, sheet: Worksheet) -> None:
    """The two charts, drawn from a sheet of their own that holds the bureaus with figures: one that has not
    submitted, or whose file could not be read, is no empty bar (it is in 需关注). With none yet, the charts
    are there, empty."""
    submitted = [line for line in report.lines if line.has_figures]
    data = book.create_sheet("图表数据")
    _widths(data, (30, 12, 12, 12))
    data.append(_cells(data, ["单位名称", "执行率(%)", "三公预算数", "三公决算数"], font=BOLD))
    for line in submitted:
        values = [line.execution_rate, line.three_public_budget, line.three_public_actual]
        data.append(_cells(data, [line.name, *(None if v is None else float(v) for v in values)]))
    last = max(2, 1 + len(submitted))
    names = Reference(data, min_col=1, min_row=2, max_row=last)
    rate_chart = BarChart()
    rate_chart.title = "各单位预算执行率(%)"
    rate_chart.add_data(Reference(data, min_col=2, min_row=1, max_row=last), titles_from_data=True)
    rate_chart.set_categories(names)
    rate_chart.height, rate_chart.width = 8, 18
    sheet.add_chart(rate_chart, f"B{anchor_row}")
    use_chart = BarChart()
    use_chart.title = "三公经费预算与决算（万元）"
    use_chart.add_data(Reference(data, min_col=3, max_col=4, min_row=1, max_row=last), titles_from_data=True)
    use_chart.set_categories(names)
    use_chart.height, use_chart.width = 8, 18
    sheet.add_chart(use_chart, f"J{anchor_row}")


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    over: bool = False


def _bars(report: PeriodReport) -> tuple[list[Bar], list[tuple[str, float, float]]]:
    rates = [
        Bar(line.name, float(line.execution_rate), line.execution_rate > 100)
        for line in report.lines
        if line.execution_rate is not None
    ]
    three_public = [
        (line.name, float(line.three_public_budget or 0), float(line.three_public_actual or 0))
        for line in report.lines
        if line.has_figures
    ]
    return rates, three_public


def rate_axis(rates: list[Bar]) -> tuple[float, float]:
    """Where the execution-rate bars start and end, in percent. From 0 when a rate is low; else from a round
    10 below the lowest (rates of 97–100 % drawn from 0 look all alike), at most 100 or the highest rate."""
    values = [bar.value for bar in rates]
    high = max([100.0, *values])
    low = min(values, default=0.0)
    start = 0.0 if low < 50 else float(int((low - 5) // 10 * 10))
    return start, high


def html_page(report: PeriodReport) -> str:
    rates, three_public = _bars(report)
    rate_start, rate_end = rate_axis(rates)
    return render(
        "period.html.j2",
        report=report,
        lines=[(line, _status_text(line)) for line in report.lines],
        parents=report.by_parent,
        amount_titles=AMOUNT_TITLES,
        change_titles=CHANGE_TITLES,
        rates=rates,
        rate_start=rate_start,
        rate_end=rate_end,
        three_public=three_public,
        three_public_max=max([1.0, *(max(b, a) for _, b, a in three_public)]),
        generated_at=f"{report.generated_at:%Y-%m-%d %H:%M}",
    )


def write_html(report: PeriodReport, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(html_page(report), encoding="utf-8")
    return target
