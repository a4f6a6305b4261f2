"""Every rule of spec §2, failing at the right cell and passing when the figures agree.

Workbooks are the seed's with one planted change, written in the plain layout, whose cells are:
收支总表 rows 2–20 in template order, columns B 年初预算数, C 全年预算数, D 全年执行数; 三公经费 rows 2–7
(因公出国, 公务用车, 购置, 运行, 接待, 合计), B 预算数, C 决算数; 项目支出 rows 2–7 and 合计 in row 8,
C 年初预算数, D 全年预算数, E 全年执行数, F 执行率; 绩效指标 rows 2–11, E 指标值, F 完成值, H 分值, I 得分,
K 分子, L 分母; 自评结果 B1 执行率得分, B2 总分, B3 等级.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from checks.findings import FileReport, Finding, Severity
from tests.support import check_figures, check_one
from workbooks.samples import BureauFigures, Indicator, Layout, clean_figures, errors_figures, seed_figures

D = Decimal


def planted(tmp_path: Path, figures: BureauFigures, layout: Layout = Layout()) -> FileReport:
    return check_figures(tmp_path, figures, layout)


def rules(report: FileReport) -> set[str]:
    return {f.rule for f in report.findings}


def only(report: FileReport, rule: str) -> Finding:
    found = [f for f in report.findings if f.rule == rule]
    assert len(found) == 1, report.findings
    return found[0]


def with_summary(figures: BureauFigures, **rows: tuple[Any, ...]) -> BureauFigures:
    return replace(figures, summary={**figures.summary, **rows})


def with_indicator(figures: BureauFigures, position: int, **changes: Any) -> BureauFigures:
    indicators = list(figures.indicators)
    indicators[position] = replace(indicators[position], **changes)
    return replace(figures, indicators=indicators)


# --- sum ------------------------------------------------------------------------------------------


def test_the_clean_bureau_passes_every_rule(tmp_path: Path) -> None:
    report = planted(tmp_path, clean_figures())
    assert report.findings == []
    assert report.status == "passed"


def test_a_component_that_no_longer_sums_fails_at_its_total(tmp_path: Path) -> None:
    figures = with_summary(seed_figures(), exp_personnel=(D("651.94"), D("781.88"), D("771.88")))

    finding = only(planted(tmp_path, figures), "sum/basic")

    assert (finding.severity, finding.sheet, finding.cells) == (Severity.ERROR, "收支总表", ("D11", "D12", "D13"))
    assert (finding.expected, finding.actual) == ("891.11", "901.11")
    assert "相差 10.00" in finding.message


def test_an_expense_total_that_differs_from_its_parts_fails(tmp_path: Path) -> None:
    figures = with_summary(seed_figures(), exp_project=(D("460.27"), D("10757.67"), D("10747.67")))

    finding = only(planted(tmp_path, figures), "sum/expense")

    assert finding.cells[:3] == ("D18", "D11", "D14")
    assert (finding.expected, finding.actual) == ("11648.78", "11658.78")


def test_sums_allow_independent_rounding_of_each_component(tmp_path: Path) -> None:
    # 651.944 + 48.004 rounded independently: the total may be off by up to 0.005 × (n + 1).
    figures = with_summary(seed_figures(), exp_basic=(D("699.95"), D("901.11"), D("901.11")))
    figures = with_summary(figures, exp_total=(D("1160.22"), D("11658.78"), D("11658.78")))
    assert "sum/basic" not in rules(planted(tmp_path, figures))

    beyond = with_summary(seed_figures(), exp_basic=(D("699.96"), D("901.11"), D("901.11")))
    assert "sum/basic" in rules(planted(tmp_path, beyond))


def test_three_public_total_must_equal_its_three_items(tmp_path: Path) -> None:
    figures = replace(seed_figures(), three_public={**seed_figures().three_public, "total": (D(12), D("12.84"))})

    finding = only(planted(tmp_path, figures), "sum/three-public")

    assert (finding.sheet, finding.cells[0], finding.expected, finding.actual) == ("三公经费", "C7", "11.84", "12.84")


def test_vehicle_costs_must_equal_purchase_plus_running_when_either_is_filled(tmp_path: Path) -> None:
    three_public = {**seed_figures().three_public, "vehicle_running": (D(0), D("1.5"))}
    finding = only(planted(tmp_path, replace(seed_figures(), three_public=three_public)), "sum/vehicle")
    assert finding.cells[0] == "C3"

    unfilled = {**seed_figures().three_public, "vehicle_purchase": (None, None), "vehicle_running": (None, None)}
    unfilled["vehicle"] = (D(3), D(2))
    unfilled["total"] = (D(15), D("13.84"))
    report = planted(tmp_path, replace(seed_figures(), three_public=unfilled))
    assert "sum/vehicle" not in rules(report)


def test_a_project_total_row_that_differs_from_the_projects_fails_with_the_column_range(tmp_path: Path) -> None:
    report = planted(tmp_path, seed_figures())
    assert "sum/projects" not in rules(report)
    book = openpyxl.load_workbook(report.file)
    book["项目支出"]["C8"] = 600.00  # 合计 × 年初预算数; the projects add up to 533.67
    book.save(report.file)

    finding = only(check_one(Path(report.file)), "sum/projects")

    assert finding.cells == ("C8", "C2:C7")
    assert (finding.expected, finding.actual) == ("533.67", "600.00")


def test_indicator_weights_per_level_are_a_warning_and_the_grand_total_an_error(tmp_path: Path) -> None:
    # Move 5 points from 效益 to 产出: levels off (warnings), total still 90 + 10.
    moved = with_indicator(seed_figures(), 3, weight=D(10), score=D(10))
    moved = with_indicator(moved, 6, weight=D(5), score=D(5))
    moved = replace(moved, result=(D(10), D(99), "优"))
    report = planted(tmp_path, moved)
    weights = [f for f in report.findings if f.rule == "sum/weights"]
    assert {(f.severity, f.expected, f.actual) for f in weights} == {
        (Severity.WARNING, "50", "55"),
        (Severity.WARNING, "30", "25"),
    }

    heavier = with_indicator(seed_figures(), 9, weight=D(15), score=D(15))
    heavier = replace(heavier, result=(D(10), D(104), "优"))
    errors = [f for f in planted(tmp_path, heavier).findings if f.rule == "sum/weights" and f.severity == "error"]
    assert len(errors) == 1
    assert (errors[0].expected, errors[0].actual) == ("90", "95")
    assert errors[0].cells[0] == "H2"


# --- ceiling --------------------------------------------------------------------------------------


def test_three_public_actual_over_budget_fails_at_the_actual_cell(tmp_path: Path) -> None:
    three_public = {**seed_figures().three_public, "reception": (D(12), D("12.50")), "total": (D(12), D("12.50"))}

    report = planted(tmp_path, replace(seed_figures(), three_public=three_public))

    over = [f for f in report.findings if f.rule == "ceiling/three-public"]
    assert [(f.severity, f.cells) for f in over] == [(Severity.ERROR, ("C6", "B6")), (Severity.ERROR, ("C7", "B7"))]
    assert over[0].message == "公务接待费决算数 12.50 超过预算数 12.00，超出 0.50"


def test_three_public_within_half_a_cent_of_budget_passes(tmp_path: Path) -> None:
    three_public = {**seed_figures().three_public, "reception": (D(12), D("12.004")), "total": (D(12), D("12.004"))}
    report = planted(tmp_path, replace(seed_figures(), three_public=three_public))
    assert "ceiling/three-public" not in rules(report)


def test_a_project_executed_over_its_budget_fails_at_its_executed_cell(tmp_path: Path) -> None:
    projects = list(seed_figures().projects)
    projects[3] = replace(projects[3], actual=D("145.00"), rate="103.37")
    figures = replace(seed_figures(), projects=projects, project_total_rate="100.43")

    finding = only(planted(tmp_path, figures), "ceiling/project")

    assert (finding.sheet, finding.cells, finding.severity) == ("项目支出", ("E5", "D5"), Severity.ERROR)
    assert "科技三项费" in finding.message
    assert (finding.expected, finding.actual) == ("140.27", "145.00")


def test_total_expenditure_over_the_full_year_budget_is_a_warning(tmp_path: Path) -> None:
    figures = with_summary(
        seed_figures(),
        exp_project=(D("460.27"), D("10757.67"), D("10857.67")),
        exp_total=(D("1160.21"), D("11658.78"), D("11758.78")),
        carry_in=(None, None, D(100)),
    )

    finding = only(planted(tmp_path, figures), "ceiling/execution")

    assert (finding.severity, finding.cells) == (Severity.WARNING, ("D18", "C18"))


def test_a_score_above_its_weight_fails_at_the_score_cell(tmp_path: Path) -> None:
    figures = with_indicator(seed_figures(), 0, score=D(11))

    finding = only(planted(tmp_path, figures), "ceiling/score")

    assert (finding.sheet, finding.cells, finding.expected, finding.actual) == ("绩效指标", ("I2", "H2"), "10", "11")


def test_a_negative_score_fails_the_score_ceiling(tmp_path: Path) -> None:
    figures = with_indicator(seed_figures(), 1, score=D(-1))
    assert only(planted(tmp_path, figures), "ceiling/score").cells[0] == "I3"


# --- rate -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stated", "fails"),
    [("97.5", False), ("97.53", False), ("98", False), ("97.6", True), ("97.54", True), ("97", True)],
)
def test_79_of_81_is_checked_against_the_precision_it_is_stated_with(tmp_path: Path, stated: str, fails: bool) -> None:
    figures = with_indicator(seed_figures(), 4, result=D(stated))

    report = planted(tmp_path, figures)

    rate = [f for f in report.findings if f.rule == "rate/indicator"]
    assert bool(rate) is fails
    if fails:
        assert rate[0].cells == ("F6", "K6", "L6")
        assert rate[0].actual == stated
        assert "79 ÷ 81" in rate[0].message


@pytest.mark.parametrize(
    ("rate_style", "expected", "actual"),
    # A bare number written as 96.0 keeps no trailing zeros in the file: it states 0 decimals.
    [("percent-format", "97.00", "96.00"), ("text", "97.00", "96.00"), ("bare", "97", "96")],
)
def test_a_project_execution_rate_is_checked_in_each_of_its_three_forms(
    tmp_path: Path, rate_style: str, expected: str, actual: str
) -> None:
    projects = list(seed_figures().projects)
    projects[1] = replace(projects[1], rate="96.00")  # 48.50 / 50.00 = 97 %
    figures = replace(seed_figures(), projects=projects)

    finding = only(planted(tmp_path, figures, Layout(rate_style=rate_style)), "rate/project-execution")

    assert (finding.cells[0], finding.expected, finding.actual) == ("F3", expected, actual)


def test_the_project_total_row_rate_is_checked_too(tmp_path: Path) -> None:
    figures = replace(seed_figures(), project_total_rate="95.00")
    assert only(planted(tmp_path, figures), "rate/project-execution").cells[0] == "F8"


# --- balance --------------------------------------------------------------------------------------


def test_an_unbalanced_executed_column_is_an_error_and_a_budget_column_a_warning(tmp_path: Path) -> None:
    figures = with_summary(seed_figures(), carry_out=(None, None, D(5)))

    balance = [f for f in planted(tmp_path, figures).findings if f.rule == "balance/income-expense"]

    assert {(f.cells[0], f.severity) for f in balance} == {("B10", Severity.WARNING), ("D10", Severity.ERROR)}
    executed = next(f for f in balance if f.cells[0] == "D10")
    assert executed.cells == ("D10", "D18", "D20")
    assert (executed.expected, executed.actual) == ("11663.78", "11658.78")


def test_carry_over_makes_income_and_expense_balance(tmp_path: Path) -> None:
    report = planted(tmp_path, clean_figures())  # 56831.15 in = 56331.15 out + 500.00 carried out
    assert "balance/income-expense" not in rules(report)


# --- cross-sheet ----------------------------------------------------------------------------------


def test_projects_executing_more_than_the_summary_project_line_fail_across_sheets(tmp_path: Path) -> None:
    figures = with_summary(
        seed_figures(),
        exp_project=(D("460.27"), D("10757.67"), D("400.00")),
        exp_total=(D("1160.21"), D("11658.78"), D("1301.11")),
    )
    report = planted(tmp_path, figures)

    finding = only(report, "cross-sheet/projects")

    assert (finding.sheet, finding.cells, finding.expected, finding.actual) == ("项目支出", ("E8",), "400.00", "455.50")
    assert "收支总表!D14" in finding.message


# --- required -------------------------------------------------------------------------------------


def test_a_project_row_with_amounts_and_no_name_is_reported(tmp_path: Path) -> None:
    projects = list(seed_figures().projects)
    projects[2] = replace(projects[2], name="")
    report = planted(tmp_path, replace(seed_figures(), projects=projects))

    finding = only(report, "required/project-name")

    assert (finding.sheet, finding.cells) == ("项目支出", ("A4",))
    assert "第 4 行" in finding.message


def test_an_indicator_without_a_score_is_reported_at_the_empty_cell(tmp_path: Path) -> None:
    indicators = list(seed_figures().indicators)
    indicators[5] = Indicator(**{**vars(indicators[5]), "score": None})
    figures = replace(seed_figures(), indicators=indicators, result=(D(10), D(94), "优"))

    finding = only(planted(tmp_path, figures), "required/indicator")

    assert (finding.cells, finding.severity) == (("I7",), Severity.ERROR)
    assert "得分" in finding.message


def test_missing_cover_fields_are_required(tmp_path: Path) -> None:
    report = planted(tmp_path, replace(seed_figures(), contact="", email=""))
    missing = {f.message for f in report.findings if f.rule == "required/cover"}
    assert missing == {"封面“填报人”未填写", "封面“电子邮箱”未填写"}


# --- format (catalogue) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "rule", "cell"),
    [
        ({"code": "12"}, "format/bureau-code", "B2"),
        ({"code": "430981/013"}, "format/bureau-code", "B2"),
        ({"email": "kgxj at yuanjiang"}, "format/email", "B8"),
        ({"email": "kgxj@localhost"}, "format/email", "B8"),
        ({"year": 1999}, "format/fiscal-year", "B4"),
    ],
)
def test_cover_values_of_the_wrong_form_are_format_errors(
    tmp_path: Path, change: dict[str, Any], rule: str, cell: str
) -> None:
    finding = only(planted(tmp_path, replace(seed_figures(), **change)), rule)
    assert (finding.sheet, finding.cells, finding.severity) == ("封面", (cell,), Severity.ERROR)


def test_an_indicator_nature_outside_the_list_is_a_format_error(tmp_path: Path) -> None:
    finding = only(planted(tmp_path, with_indicator(seed_figures(), 2, nature=">")), "format/indicator-nature")
    assert finding.cells == ("D4",)


def test_level_one_aliases_count_as_their_canonical_name(tmp_path: Path) -> None:
    figures = with_indicator(seed_figures(), 9, level1="服务对象满意度指标")
    assert planted(tmp_path, figures).findings == planted(tmp_path, seed_figures()).findings


# --- score and grade ------------------------------------------------------------------------------


def test_an_indicator_score_that_ignores_a_shortfall_is_a_warning(tmp_path: Path) -> None:
    figures = with_indicator(seed_figures(), 1, score=D(10))  # 9 of 10 企业 → 10 × 9/10 = 9
    figures = replace(figures, result=(D(10), D(100), "优"))

    finding = only(planted(tmp_path, figures), "score/indicator")

    assert (finding.severity, finding.cells[0], finding.expected, finding.actual) == (Severity.WARNING, "I3", "9", "10")


def test_a_less_is_better_indicator_scores_target_over_result(tmp_path: Path) -> None:
    figures = with_indicator(seed_figures(), 3, nature="≤", target=D(100), result=D(125), weight=D(5), score=D(4))
    figures = replace(figures, result=(D(10), D(98), "优"))
    assert "score/indicator" not in rules(planted(tmp_path, figures))  # 5 × 100/125 = 4


def test_the_execution_score_is_ten_times_the_execution_rate_capped_at_one(tmp_path: Path) -> None:
    figures = replace(clean_figures(), result=(D(10), D(99), "优"))  # 56331.15 / 56831.15 → 9.91

    finding = only(planted(tmp_path, figures), "score/execution")

    assert (finding.cells, finding.expected, finding.actual) == (("B1",), "9.91", "10")


def test_a_total_that_is_not_the_sum_of_scores_fails(tmp_path: Path) -> None:
    finding = only(planted(tmp_path, replace(seed_figures(), result=(D(10), D(98), "优"))), "score/total")
    assert (finding.cells[0], finding.expected, finding.actual) == ("B2", "99", "98")


@pytest.mark.parametrize(
    ("total", "grade", "expected"),
    [(D(90), "良", "优"), (D("89.99"), "优", "良"), (D(80), "中", "良"), (D(60), "差", "中"), (D("59.5"), "中", "差")],
)
def test_a_grade_that_contradicts_the_total_fails(tmp_path: Path, total: Decimal, grade: str, expected: str) -> None:
    # Scores lowered so that the total is consistent and only the grade is wrong.
    figures = with_indicator(seed_figures(), 7, score=D(10) - (D(99) - total))
    figures = replace(figures, result=(D(10), total, grade))

    finding = only(planted(tmp_path, figures), "grade/self-evaluation")

    assert (finding.cells[0], finding.expected, finding.actual) == ("B3", expected, grade)


@pytest.mark.parametrize(
    ("total", "grade"), [(D(90), "优"), (D(80), "良"), (D(60), "中"), (D("59.99"), "差"), (D(99), "优秀")]
)
def test_grade_lower_bounds_are_inclusive(tmp_path: Path, total: Decimal, grade: str) -> None:
    figures = with_indicator(seed_figures(), 7, score=D(10) - (D(99) - total))
    figures = replace(figures, result=(D(10), total, grade))
    assert "grade/self-evaluation" not in rules(planted(tmp_path, figures))


# --- the errors sample ----------------------------------------------------------------------------


def test_the_errors_sample_reports_each_planted_error_at_its_cell(tmp_path: Path) -> None:
    report = planted(tmp_path, errors_figures())

    located = {(f.rule, f.sheet, f.cells[0]) for f in report.findings}

    assert {
        ("ceiling/three-public", "三公经费", "C6"),
        ("sum/basic", "收支总表", "D11"),
        ("rate/indicator", "绩效指标", "F6"),
        ("ceiling/project", "项目支出", "E2"),
        ("grade/self-evaluation", "自评结果", "B3"),
        ("ceiling/score", "绩效指标", "I2"),
    } <= located
    assert report.status == "failed"
