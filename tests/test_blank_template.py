"""The blank spec-v1 workbook bureaus fill in: its layout, validations, protection and total formulas,
and that a copy filled in with openpyxl (input cells only) reads and checks like the seed workbook."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.worksheet.worksheet import Worksheet

from checks.findings import Severity
from checks.template import default_template
from tests.support import check_one
from workbooks.blank import write_blank_template
from workbooks.reader import read_submission
from workbooks.samples import BureauFigures, Project, indicator_cells, seed_figures

D = Decimal
SHEETS = ["封面", "收支总表", "三公经费", "项目支出", "绩效指标", "自评结果", "情况说明"]
COVER_LABELS = ["单位名称", "单位编码", "主管部门", "年度", "金额单位", "填报人", "联系电话", "电子邮箱", "填报日期"]


@pytest.fixture
def blank(tmp_path: Path) -> Path:
    return write_blank_template(2023, tmp_path / "out" / "2023-template.xlsx")


def _validations(sheet: Worksheet) -> dict[tuple[str, str | None], set[str]]:
    """(type, formula1) → the ranges it applies to."""
    found: dict[tuple[str, str | None], set[str]] = {}
    for validation in sheet.data_validations.dataValidation:
        key = (str(validation.type), validation.formula1)
        found.setdefault(key, set()).update(str(r) for r in validation.sqref.ranges)
    return found


def _column(letter: str, first: int, last: int) -> list[str]:
    return [f"{letter}{row}" for row in range(first, last + 1)]


def _is_formula(value: object) -> bool:
    return isinstance(value, str) and value.startswith("=")


def _plain(value: Decimal | str | None) -> Any:
    if value is None or isinstance(value, str):
        return value
    return int(value) if value == value.to_integral_value() else float(value)


def _type_in(sheet: Worksheet, row: int, col: int, value: Any) -> None:
    """Types a value into an input cell, as a bureau would."""
    cell = sheet.cell(row, col)
    assert not cell.protection.locked, f"{sheet.title}!{cell.coordinate} is not an input cell"
    cell.value = value


def _fill(path: Path, figures: BureauFigures, typed_over: frozenset[tuple[str, str]] = frozenset()) -> Path:
    """Fills the blank template's input cells with `figures`, as a bureau would, and saves it.

    Cells found by their labels and headers. Total cells keep their formulas, except the
    (row key, column key) pairs of `typed_over`, where the figures' stated total is typed in.
    """
    template = default_template()
    book = openpyxl.load_workbook(path)

    cover = book["封面"]
    row_of = {cover.cell(row, 1).value: row for row in range(1, cover.max_row + 1)}
    cover_values: dict[str, Any] = {
        "单位名称": figures.name,
        "单位编码": figures.code,
        "主管部门": figures.parent,
        "填报人": figures.contact,
        "联系电话": figures.phone,
        "电子邮箱": figures.email,
        "填报日期": dt.date.fromisoformat(figures.submitted_on),
    }
    for label, value in cover_values.items():
        _type_in(cover, row_of[label], 2, value)

    for key, amounts in (("summary", figures.summary), ("three_public", figures.three_public)):
        spec = template.sheets[key]
        sheet = book[spec.title]
        row_of = {sheet.cell(row, 1).value: row for row in range(2, sheet.max_row + 1)}
        col_of = {sheet.cell(1, col).value: col for col in range(2, sheet.max_column + 1)}
        for row_key, values in amounts.items():
            for column_key, value in zip(spec.columns, values, strict=True):
                cell = sheet.cell(row_of[spec.rows[row_key].label], col_of[spec.columns[column_key].label])
                if cell.protection.locked:
                    assert _is_formula(cell.value)
                    if (row_key, column_key) not in typed_over:
                        continue
                if value is not None:
                    cell.value = float(value)

    projects = book["项目支出"]
    col_of = {projects.cell(1, col).value: col for col in range(1, projects.max_column + 1)}
    for row, project in enumerate(figures.projects, start=2):
        project_values: dict[str, Any] = {
            "项目名称": project.name,
            "年初预算数": float(project.budget_initial),
            "全年预算数": float(project.budget_full),
            "全年执行数": float(project.actual),
            "执行率": float(D(project.rate) / 100),  # the cell's format is 0.00%
            "资金来源": project.source,
        }
        for label, value in project_values.items():
            _type_in(projects, row, col_of[label], value)

    indicators = book["绩效指标"]
    col_of = {indicators.cell(1, col).value: col for col in range(1, indicators.max_column + 1)}
    for row, item in enumerate(figures.indicators, start=2):
        for label, value in indicator_cells(item).items():
            _type_in(indicators, row, col_of[label], value)

    assert figures.result is not None
    result = book["自评结果"]
    row_of = {result.cell(row, 1).value: row for row in range(1, result.max_row + 1)}
    execution, total, grade = figures.result
    for label, value in {"预算执行率得分": _plain(execution), "总分": _plain(total), "自评等级": grade}.items():
        _type_in(result, row_of[label], 2, value)

    filled = path.with_name(f"filled-{path.name}")
    book.save(filled)
    return filled


# --- layout --------------------------------------------------------------------------------------


def test_the_blank_template_has_every_sheet_of_the_template_with_the_cover_labels_and_the_year_prefilled(
    blank: Path,
) -> None:
    book = openpyxl.load_workbook(blank)

    assert book.sheetnames == SHEETS
    cover = book["封面"]
    assert [cover.cell(row, 1).value for row in range(1, 10)] == COVER_LABELS
    assert cover["B4"].value == 2023  # 年度
    assert cover["B5"].value == "万元"  # 金额单位, the default
    assert all(cover.cell(row, 2).value is None for row in (1, 2, 3, 6, 7, 8, 9))
    result = book["自评结果"]
    assert [result.cell(row, 1).value for row in (1, 2, 3)] == ["预算执行率得分", "总分", "自评等级"]


def test_grid_sheets_have_the_item_header_and_one_row_per_template_row_label(blank: Path) -> None:
    book = openpyxl.load_workbook(blank)
    template = default_template()

    for key in ("summary", "three_public"):
        spec = template.sheets[key]
        sheet = book[spec.title]
        assert [c.value for c in sheet[1]] == ["项目", *(column.label for column in spec.columns.values())]
        labels = [sheet.cell(row, 1).value for row in range(2, 2 + len(spec.rows))]
        assert labels == [row.label for row in spec.rows.values()]


def test_the_project_sheet_has_its_header_twenty_blank_rows_and_a_total_row(blank: Path) -> None:
    sheet = openpyxl.load_workbook(blank)["项目支出"]

    header = [c.value for c in sheet[1]]
    assert header == ["项目名称", "年初预算数", "全年预算数", "全年执行数", "执行率", "资金来源", "备注"]
    assert all(sheet.cell(row, col).value is None for row in range(2, 22) for col in range(1, 8))
    assert sheet["A22"].value == "合计"


def test_the_indicator_sheet_has_its_header_and_blank_rows(blank: Path) -> None:
    sheet = openpyxl.load_workbook(blank)["绩效指标"]

    header = [c.value for c in sheet[1]]
    assert header[:3] == ["一级指标", "二级指标", "三级指标"]
    assert header[-2:] == ["分子", "分母"]
    assert header == [column.label for column in default_template().sheets["indicators"].columns.values()]
    assert all(sheet.cell(row, col).value is None for row in range(2, 32) for col in range(1, 13))


# --- data validation -----------------------------------------------------------------------------


def test_every_amount_cell_accepts_only_non_negative_decimals(blank: Path) -> None:
    book = openpyxl.load_workbook(blank)

    assert _validations(book["收支总表"]) == {("decimal", "0"): {"B2:D20"}}
    assert _validations(book["三公经费"]) == {("decimal", "0"): {"B2:C7"}}
    projects = _validations(book["项目支出"])
    assert projects[("decimal", "0")] == {"B2:B21", "C2:C21", "D2:D21", "E2:E21"}  # amounts and 执行率
    for sheet in book.worksheets:
        for validation in sheet.data_validations.dataValidation:
            if validation.type == "decimal":
                assert (validation.operator, validation.allow_blank) == ("greaterThanOrEqual", True)
                assert validation.showErrorMessage


def test_choice_lists_offer_the_template_values_and_the_year_its_range(blank: Path) -> None:
    book = openpyxl.load_workbook(blank)

    indicators = _validations(book["绩效指标"])
    assert indicators[("list", '"产出指标,效益指标,满意度指标"')] == {"A2:A31"}  # 一级指标
    assert indicators[("list", '"≥,≤,=,定性"')] == {"D2:D31"}  # 指标性质
    assert indicators[("decimal", "0")] == {"H2:H31", "I2:I31", "K2:K31", "L2:L31"}  # 分值 得分 分子 分母
    result = _validations(book["自评结果"])
    assert result == {("decimal", "0"): {"B1", "B2"}, ("list", '"优,良,中,差"'): {"B3"}}
    cover = book["封面"]
    assert _validations(cover) == {("whole", "2000"): {"B4"}, ("list", '"万元,元"'): {"B5"}}
    year = next(v for v in cover.data_validations.dataValidation if v.type == "whole")
    assert (year.operator, year.formula1, year.formula2) == ("between", "2000", "2100")


# --- protection ----------------------------------------------------------------------------------


def test_every_sheet_is_protected_without_a_password_with_only_input_cells_unlocked(blank: Path) -> None:
    book = openpyxl.load_workbook(blank)

    assert book.security is not None and book.security.lockStructure
    for sheet in book.worksheets:
        assert sheet.protection.sheet
        assert not sheet.protection.password
        validated = {cell for v in sheet.data_validations.dataValidation for r in v.sqref.ranges for cell in r.cells}
        for row in sheet.iter_rows():
            for cell in row:
                if (cell.row, cell.column) in validated:
                    assert cell.protection.locked == _is_formula(cell.value), cell.coordinate
                elif cell.value is not None:
                    assert cell.protection.locked, f"{sheet.title}!{cell.coordinate} {cell.value}"
    text_inputs = {
        "封面": ["B1", "B2", "B3", "B6", "B7", "B8", "B9"],
        "项目支出": _column("A", 2, 21) + _column("F", 2, 21) + _column("G", 2, 21),
        "绩效指标": _column("B", 2, 31) + _column("C", 2, 31) + _column("J", 2, 31),
    }
    for title, cells in text_inputs.items():
        assert all(not book[title][ref].protection.locked for ref in cells), title


# --- total formulas ------------------------------------------------------------------------------


def test_totals_are_formulas_over_their_components_in_each_amount_column(blank: Path) -> None:
    book = openpyxl.load_workbook(blank)

    summary = book["收支总表"]
    assert [summary[f"A{row}"].value for row in (10, 11, 18)] == ["本年收入合计", "基本支出", "本年支出合计"]
    for letter in "BCD":
        assert summary[f"{letter}10"].value == f"=SUM({letter}2:{letter}9)"  # the eight income rows
        assert summary[f"{letter}11"].value == f"={letter}12+{letter}13"  # 人员经费 + 公用经费
        # 基本支出 + 项目支出 + 上缴上级支出 + 经营支出 + 对附属单位补助支出
        assert summary[f"{letter}18"].value == f"={letter}11+{letter}14+{letter}15+{letter}16+{letter}17"
    assert sum(_is_formula(c.value) for row in summary.iter_rows() for c in row) == 9

    three = book["三公经费"]
    assert [three[f"A{row}"].value for row in (3, 7)] == ["公务用车购置及运行费", "合计"]
    for letter in "BC":
        assert three[f"{letter}3"].value == f"={letter}4+{letter}5"  # 购置费 + 运行费
        assert three[f"{letter}7"].value == f"={letter}2+{letter}3+{letter}6"  # 出国 + 公务用车 + 接待

    projects = book["项目支出"]
    assert [projects[f"{letter}22"].value for letter in "BCD"] == ["=SUM(B2:B21)", "=SUM(C2:C21)", "=SUM(D2:D21)"]
    assert projects["E22"].value == "=D22/C22"  # 执行率 = 全年执行数 / 全年预算数
    assert projects["E22"].number_format == "0.00%"


def test_the_blank_template_read_as_it_is_reports_only_the_unfilled_cover_fields(blank: Path) -> None:
    report = check_one(blank)

    assert {(f.rule, f.cells[0]) for f in report.findings} == {
        ("required/cover", "B1"),  # 单位名称
        ("required/cover", "B2"),  # 单位编码
        ("required/cover", "B6"),  # 填报人
        ("required/cover", "B8"),  # 电子邮箱
    }
    assert report.fiscal_year == 2023


# --- filled in -----------------------------------------------------------------------------------


def test_filled_with_the_seed_and_its_stated_income_total_it_yields_exactly_the_seed_findings(blank: Path) -> None:
    filled = _fill(blank, seed_figures(), typed_over=frozenset({("inc_total", "budget_initial")}))

    report = check_one(filled)

    assert report.status == "failed"
    assert (report.bureau_code, report.fiscal_year) == ("430981-013", 2023)
    assert [(f.rule, f.severity, f.expected, f.actual) for f in report.findings] == [
        ("sum/income", Severity.ERROR, "1160.21", "1245.61"),
        ("balance/income-expense", Severity.WARNING, "1160.21", "1245.61"),
    ]
    income, balance = report.findings
    assert income.sheet == balance.sheet == "收支总表"
    assert income.cells[0] == "B10"  # 本年收入合计 × 年初预算数, typed over its formula
    assert balance.cells[0] == "B10"  # the same 年初预算数 column
    assert income.message == "年初预算数：本年收入合计 1245.61 与各项收入之和 1160.21 不符，相差 85.40"


def test_filled_with_the_seed_and_every_total_left_as_a_formula_it_passes(blank: Path) -> None:
    filled = _fill(blank, seed_figures())

    report = check_one(filled)

    assert report.findings == []
    assert report.status == "passed"
    submission = read_submission(filled)  # the formulas, evaluated by the reader
    assert submission.grids["summary"][("inc_total", "budget_initial")].value == D("1160.21")
    assert submission.grids["summary"][("exp_total", "actual")].value == D("11658.78")
    assert submission.grids["summary"][("exp_basic", "budget_initial")].value == D("699.94")
    assert submission.grids["three_public"][("total", "actual")].value == D("11.84")


def test_with_every_project_row_filled_the_total_row_formulas_are_read_and_pass(blank: Path) -> None:
    projects = [Project(f"项目{i}", D("10.00"), D("10.00"), D("9.50"), "95.00") for i in range(1, 21)]
    filled = _fill(blank, replace(seed_figures(), projects=projects))

    report = check_one(filled)

    assert report.findings == []
    total = read_submission(filled).lists["projects"][-1]
    assert total.is_total and total.row == 22
    assert [total.values[k].value for k in ("budget_initial", "budget_full", "actual")] == [200, 200, 190]
    assert total.values["rate"].value == 95


# --- the file ------------------------------------------------------------------------------------


def test_the_same_year_gives_the_same_bytes_and_the_target_is_returned(tmp_path: Path) -> None:
    first = write_blank_template(2024, tmp_path / "a" / "t.xlsx")
    second = write_blank_template(2024, tmp_path / "b" / "t.xlsx")

    assert first == tmp_path / "a" / "t.xlsx"
    assert first.read_bytes() == second.read_bytes()
    assert openpyxl.load_workbook(first)["封面"]["B4"].value == 2024


@pytest.mark.parametrize("year", [1999, 2101])
def test_a_year_outside_the_template_range_is_refused(tmp_path: Path, year: int) -> None:
    with pytest.raises(ValueError, match="2000–2100"):
        write_blank_template(year, tmp_path / "t.xlsx")
    assert not (tmp_path / "t.xlsx").exists()
