"""The worked example: the seed bureau's 2023 workbook, plain and messy, yields exactly its findings."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from checks.findings import Severity
from tests.support import check_one
from workbooks.reader import read_submission
from workbooks.samples import MESSY, Layout, seed_figures, write_workbook
from workbooks.values import clean_text, parse_amount


def _seed_findings(path: Path) -> list[tuple[str, Severity, str | None, str | None]]:
    return [(f.rule, f.severity, f.expected, f.actual) for f in check_one(path).findings]


EXPECTED = [
    ("sum/income", Severity.ERROR, "1160.21", "1245.61"),
    ("balance/income-expense", Severity.WARNING, "1160.21", "1245.61"),
]


def test_the_seed_workbook_fails_income_sum_on_the_budget_total_cell_and_warns_on_balance(tmp_path: Path) -> None:
    report = check_one(write_workbook(seed_figures(), tmp_path / "seed.xlsx"))

    assert report.status == "failed"
    assert (report.bureau_code, report.fiscal_year) == ("430981-013", 2023)
    assert _seed_findings(Path(report.file)) == EXPECTED
    income, balance = report.findings
    assert income.sheet == balance.sheet == "收支总表"
    assert income.cells[0] == "B10"  # 本年收入合计 × 年初预算数
    assert set(income.cells[1:]) == {"B2", "B3", "B4", "B9"}  # the filled income lines
    assert income.message == "年初预算数：本年收入合计 1245.61 与各项收入之和 1160.21 不符，相差 85.40"
    assert balance.cells[0][0] == "B"  # the same 年初预算数 column


def test_the_messy_seed_workbook_gives_the_same_findings_at_the_moved_cells(tmp_path: Path) -> None:
    path = write_workbook(seed_figures(), tmp_path / "messy.xlsx", MESSY)

    report = check_one(path)

    assert _seed_findings(path) == EXPECTED
    submission = read_submission(path)
    total_cell = submission.grids["summary"][("inc_total", "budget_initial")].cell
    assert report.findings[0].cells[0] == total_cell != "B10"
    sheet = openpyxl.load_workbook(path)[report.findings[0].sheet or ""]
    assert total_cell is not None
    assert parse_amount(sheet[total_cell].value, "万元") == Decimal("1245.61")


@pytest.mark.parametrize(
    "layout",
    [
        Layout(title_rows=3),
        Layout(leading_columns=2, extra_column=True),
        Layout(shuffle=True),
        Layout(messy_labels=True),
        Layout(amount_style="text"),
        Layout(amount_style="fullwidth"),
        Layout(unit="元", amount_style="text"),
        Layout(unit="元"),
        Layout(merged_levels=True),
        Layout(formula_totals=frozenset({"exp_total", "exp_basic", "total", "vehicle"})),
        Layout(rate_style="text"),
        Layout(rate_style="bare"),
        Layout(extra_sheet=True),
    ],
    ids=lambda layout: ",".join(f"{k}" for k, v in vars(layout).items() if v != getattr(Layout(), k)),
)
def test_each_layout_variation_alone_gives_the_seed_findings(tmp_path: Path, layout: Layout) -> None:
    assert _seed_findings(write_workbook(seed_figures(), tmp_path / "seed.xlsx", layout)) == EXPECTED


def test_an_income_total_written_as_a_formula_is_consistent_so_no_income_finding(tmp_path: Path) -> None:
    layout = replace(MESSY, formula_totals=frozenset({"inc_total", "exp_total", "exp_basic", "total"}))

    report = check_one(write_workbook(seed_figures(), tmp_path / "formula.xlsx", layout))

    assert report.findings == []
    assert report.status == "passed"


def test_every_seed_figure_is_read_as_the_exact_decimal_of_the_report(tmp_path: Path) -> None:
    figures = seed_figures()
    for name, layout in (("plain", Layout()), ("messy", MESSY), ("yuan", Layout(unit="元", amount_style="text"))):
        submission = read_submission(write_workbook(figures, tmp_path / f"{name}.xlsx", layout))
        for key, amounts in figures.summary.items():
            for column, amount in zip(("budget_initial", "budget_full", "actual"), amounts, strict=True):
                located = submission.grids["summary"][(key, column)]
                assert submission.to_wan(located.value) == amount, (name, key, column)
        for key, (budget, actual) in figures.three_public.items():
            assert submission.to_wan(submission.grids["three_public"][(key, "budget")].value) == budget
            assert submission.to_wan(submission.grids["three_public"][(key, "actual")].value) == actual
        assert [p.value("name") for p in submission.lists["projects"] if not p.is_total] == [
            p.name for p in figures.projects
        ]
        items = [p for p in submission.lists["projects"] if not p.is_total]
        assert sum(submission.to_wan(p.value("budget_initial")) or Decimal(0) for p in items) == Decimal("533.67")
        assert sum(submission.to_wan(p.value("budget_full")) or Decimal(0) for p in items) == Decimal("460.27")
        rates = {i.value("name"): i.values["result"] for i in submission.lists["indicators"]}
        assert rates["企业问题解决率"].value == Decimal("97.5")
        assert clean_text(submission.cover["bureau_name"].value) == "沅江市科学技术和工业信息化局"


SEED_REPORT = Path(__file__).parents[2] / "shared" / "seed" / "000_be10a066d638351f.txt"


@pytest.mark.skipif(not SEED_REPORT.exists(), reason="the seed report lives in ../shared beside the checkout")
def test_the_seed_report_figures_agree_with_the_sample_figures() -> None:
    report = SEED_REPORT.read_text(encoding="utf-8")
    figures = seed_figures()
    stated = {
        "1245.61": figures.summary["inc_total"][0],
        "1160.21": figures.summary["inc_general"][0],
        "699.94": figures.summary["exp_basic"][0],
        "460.27": figures.summary["exp_project"][0],
        "651.94": figures.summary["exp_personnel"][0],
        "11658.78": figures.summary["inc_total"][2],
        "2439.23": figures.summary["inc_general"][2],
        "9093.55": figures.summary["inc_other"][2],
        "901.11": figures.summary["exp_basic"][2],
        "10757.67": figures.summary["exp_project"][2],
        "781.88": figures.summary["exp_personnel"][2],
        "119.23": figures.summary["exp_public"][2],
        "11.84": figures.three_public["reception"][1],
        "533.67": sum((p.budget_initial for p in figures.projects), Decimal(0)),
    }
    for text, value in stated.items():
        assert text in report, text
        assert value == Decimal(text), text
