"""Spec §1 Formulas: uncached arithmetic and SUM formulas are evaluated; anything else is refused."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from workbooks.formulas import FormulaError, evaluate, references
from workbooks.reader import read_submission
from workbooks.samples import build_workbook, seed_figures

D = Decimal

# A small sheet `S` (A1=2, A2=3, A3=5, B1=10, B2 empty) and sheets with awkward names.
CELLS: dict[tuple[str, int, int], Decimal] = {
    ("S", 1, 1): D(2),
    ("S", 2, 1): D(3),
    ("S", 3, 1): D(5),
    ("S", 1, 2): D(10),
    ("收支总表", 5, 3): D("1160.21"),
    ("收支总表", 6, 3): D("85.40"),
    ("Sheet 2", 1, 1): D(7),
    ("三公 经费", 2, 2): D("11.84"),
    ("it's", 1, 1): D(4),
}


def lookup(sheet: str, row: int, col: int) -> Decimal | None:
    return CELLS.get((sheet, row, col))


def value_of(formula: str) -> Decimal:
    return evaluate(formula, "S", lookup)


@pytest.mark.parametrize(
    ("formula", "value"),
    [
        ("=A1+A2", D(5)),
        ("=A3-A2", D(2)),
        ("=A1*A3", D(10)),
        ("=B1/A1", D(5)),
        ("=A1+A2*A3", D(17)),
        ("=B1-A1-A2", D(5)),
        ("=B1/A1/A3", D(1)),
        ("=(A1+A2)*A3", D(25)),
        ("=((A1+A2)*(A3-A1))/A2", D(5)),
        ("= A1 + A2 ", D(5)),
    ],
)
def test_arithmetic_follows_precedence_and_parentheses(formula: str, value: Decimal) -> None:
    assert value_of(formula) == value


@pytest.mark.parametrize(
    ("formula", "value"),
    [("=-A1", D(-2)), ("=-A1+A3", D(3)), ("=A3*-A1", D(-10)), ("=-(A1+A2)", D(-5)), ("=+A1", D(2)), ("=--A1", D(2))],
)
def test_unary_minus_and_plus_apply_to_what_follows(formula: str, value: Decimal) -> None:
    assert value_of(formula) == value


def test_numeric_constants_are_exact_decimals() -> None:
    assert value_of("=0.1+0.2") == D("0.3")
    assert value_of("=A1*1.5+.5") == D("3.5")
    assert value_of("=1160.21") == D("1160.21")
    assert value_of("=1E3/4") == D(250)


@pytest.mark.parametrize(("formula", "value"), [("=$A$1+A$2+$A3", D(10)), ("=SUM($A$1:$A$3)-A3", D(5))])
def test_dollar_anchored_references_read_the_same_cells(formula: str, value: Decimal) -> None:
    assert value_of(formula) == value


def test_lower_case_references_and_function_names_are_accepted() -> None:
    assert value_of("=sum(a1:a3)") == D(10)


def test_sum_adds_every_cell_of_a_range() -> None:
    assert value_of("=SUM(A1:A3)") == D(10)
    assert value_of("=SUM(A3:A1)") == D(10)
    assert value_of("=SUM(A1:B3)") == D(20)


def test_sum_takes_several_arguments_of_every_kind() -> None:
    assert value_of("=SUM(A1:A2, A3, 100, B1*2)") == D(130)
    assert value_of("=SUM(A1,A2)+SUM(A3)") == D(10)
    assert value_of("=SUM()") == D(0)


def test_sum_accepts_arithmetic_inside_an_argument() -> None:
    assert value_of("=SUM(A1+A2)") == D(5)
    assert value_of("=SUM(A1*2, A2-A1)") == D(5)
    assert value_of("=SUM((A1+A2)*A3)") == D(25)


def test_a_range_outside_sum_is_refused() -> None:
    with pytest.raises(FormulaError):
        value_of("=A1:A3*2")


def test_empty_cells_count_as_zero() -> None:
    assert value_of("=B2") == D(0)
    assert value_of("=B1+B2") == D(10)
    assert value_of("=SUM(B1:B9)") == D(10)


@pytest.mark.parametrize(
    ("formula", "value"),
    [
        ("=收支总表!C5+收支总表!C6", D("1245.61")),
        ("='收支总表'!C5", D("1160.21")),
        ("=SUM(收支总表!C5:C6)", D("1245.61")),
        ("='Sheet 2'!A1*2", D(14)),
        ("='三公 经费'!B2", D("11.84")),
        ("=SUM('三公 经费'!B2,'Sheet 2'!$A$1)", D("18.84")),
        ("='it''s'!A1", D(4)),
        ("=A1+'Sheet 2'!A1", D(9)),
    ],
)
def test_sheet_qualified_references_read_the_named_sheet(formula: str, value: Decimal) -> None:
    assert value_of(formula) == value


@pytest.mark.parametrize(
    "formula",
    [
        "=VLOOKUP(1,A1:B3,2,FALSE)",
        "=ROUND(A1,2)",
        "=IF(A1>1,A2,A3)",
        "=AVERAGE(A1:A3)",
        "=SUM(A1:A3)+MAX(A1,A2)",
        "=A1^2",
        "=A1&A2",
        '="text"',
        "=A1>A2",
        "=50%",
        "=A:A",
        "=#REF!+1",
        "=A1+",
        "=(A1+A2",
        "=A1 A2",
        "=SUM(A1;A2)",
    ],
)
def test_a_formula_outside_arithmetic_and_sum_is_refused(formula: str) -> None:
    with pytest.raises(FormulaError):
        value_of(formula)


@pytest.mark.parametrize("formula", ["=A1/0", "=A1/B2", "=B1/(A1-2)", "=0/0"])
def test_division_by_zero_is_refused(formula: str) -> None:
    with pytest.raises(FormulaError, match="除数为零"):
        value_of(formula)


def test_a_huge_range_is_refused_rather_than_walked() -> None:
    with pytest.raises(FormulaError):
        value_of("=SUM(A1:ZZ99999)")


def test_the_cells_a_formula_refers_to_are_listed_with_ranges_expanded() -> None:
    assert references("=A1+SUM(收支总表!C5:C6)*'Sheet 2'!$B$1", "S") == [
        ("S", 1, 1),
        ("收支总表", 5, 3),
        ("收支总表", 6, 3),
        ("Sheet 2", 1, 2),
    ]


# --- through the reader: circular and long chains of uncached formulas ---------------------------


def formula_findings(path: Path) -> list[tuple[str, str | None, tuple[str, ...]]]:
    submission = read_submission(path)
    return [(f.rule, f.sheet, f.cells) for f in submission.findings if f.rule == "format/formula"]


def test_a_circular_reference_is_a_formula_error_at_each_cell_not_a_hang(tmp_path: Path) -> None:
    book = build_workbook(seed_figures())
    sheet = book["收支总表"]
    sheet["B2"] = "=B3+1"  # inc_general 年初预算数
    sheet["B3"] = "=B2+1"  # inc_fund 年初预算数
    path = tmp_path / "circular.xlsx"
    book.save(path)

    submission = read_submission(path)

    assert [(f.rule, f.sheet, f.cells) for f in submission.findings] == [
        ("format/formula", "收支总表", ("B2",)),
        ("format/formula", "收支总表", ("B3",)),
    ]
    assert submission.grids["summary"][("inc_general", "budget_initial")].value is None
    assert submission.grids["summary"][("inc_fund", "budget_initial")].value is None
    assert "=B3+1" in submission.findings[0].message


def test_a_cell_that_refers_to_itself_is_a_formula_error(tmp_path: Path) -> None:
    book = build_workbook(seed_figures())
    book["收支总表"]["B2"] = "=SUM(B2:B9)"
    path = tmp_path / "self.xlsx"
    book.save(path)

    assert formula_findings(path) == [("format/formula", "收支总表", ("B2",))]


def test_a_formula_that_uses_a_circular_pair_is_a_formula_error_too(tmp_path: Path) -> None:
    book = build_workbook(seed_figures())
    calc = book.create_sheet("计算")
    calc["A1"] = "=A2"
    calc["A2"] = "=A1"
    book["收支总表"]["B2"] = "=计算!A1+1"
    book["收支总表"]["C2"] = "=计算!A3+1"  # the empty cell next to the loop is fine
    path = tmp_path / "uses-circular.xlsx"
    book.save(path)

    submission = read_submission(path)

    assert formula_findings(path) == [("format/formula", "收支总表", ("B2",))]
    assert submission.grids["summary"][("inc_general", "budget_full")].value == D(1)


def test_a_long_chain_of_uncached_formulas_is_evaluated_without_exhausting_the_stack(tmp_path: Path) -> None:
    book = build_workbook(seed_figures())
    calc = book.create_sheet("计算")
    length = 1500
    for row in range(1, length):
        calc.cell(row, 1, f"=A{row + 1}+1")  # each cell adds one to the cell below it
    calc.cell(length, 1, 1)
    book["收支总表"]["B2"] = "=计算!A1"
    path = tmp_path / "chain.xlsx"
    book.save(path)

    submission = read_submission(path)

    assert submission.grids["summary"][("inc_general", "budget_initial")].value == D(length)
    assert formula_findings(path) == []


def test_an_uncached_formula_whose_result_has_an_exponent_reads_as_a_plain_amount(tmp_path: Path) -> None:
    book = build_workbook(seed_figures())
    sheet = book["收支总表"]
    sheet["C20"] = 1200  # 年末结转和结余
    sheet["B2"] = "=C20/0.5"  # Decimal division gives 2.4E+3
    sheet["B3"] = "=C20"
    sheet["B4"] = "=C3/0.5"  # 118 / 0.5
    path = tmp_path / "plain.xlsx"
    book.save(path)

    submission = read_submission(path)

    assert [f.rule for f in submission.findings] == []
    assert str(submission.grids["summary"][("inc_general", "budget_initial")].value) == "2400"
    assert str(submission.grids["summary"][("inc_fund", "budget_initial")].value) == "1200"
    assert str(submission.grids["summary"][("inc_soe", "budget_initial")].value) == "236"


def test_a_sheet_name_in_a_formula_matches_whatever_its_case(tmp_path: Path) -> None:
    book = build_workbook(seed_figures())
    book.create_sheet("Data")["A1"] = 1160.21
    book["收支总表"]["B2"] = "=data!A1+DATA!A2"
    path = tmp_path / "case.xlsx"
    book.save(path)

    submission = read_submission(path)

    assert submission.grids["summary"][("inc_general", "budget_initial")].value == D("1160.21")
    assert formula_findings(path) == []


def test_an_uncached_formula_on_the_cover_is_evaluated_too(tmp_path: Path) -> None:
    book = build_workbook(seed_figures())
    book["封面"]["B4"] = "=2022+1"  # 年度
    path = tmp_path / "cover.xlsx"
    book.save(path)

    submission = read_submission(path)

    assert submission.fiscal_year == 2023
    assert submission.findings == []
