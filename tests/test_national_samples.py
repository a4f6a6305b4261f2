"""The national final-account samples (format `national-2023`, shared/spec/national-final-accounts.md).

The checks of the spec's §3 are computed here, from the figures, with Decimal arithmetic and nothing of the
module's own: the seed's nine tables pass every one, and each planted copy fails exactly the check it was
planted for. The written files are read back with calamine (values) and xlrd (the .xls's merges and
formats) and must show the tables where the documented layout puts them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlrd
from python_calamine import CalamineWorkbook

from workbooks.national_samples import (
    CLASSES,
    FUNCTIONAL_NAMES,
    Amount,
    Amounts,
    CodeTable,
    NationalFigures,
    national_planted_errors,
    national_seed_figures,
    stacked_offsets,
    write_national_samples,
    write_national_separate,
    write_national_stacked,
    write_national_xls,
    write_national_xlsx,
)
from workbooks.samples import seed_figures

D = Decimal
ZERO = D(0)
CENT = D("0.01")
DEPARTMENT = "部门：沅江市科学技术和工业信息化局"
UNIT = "金额单位：万元"
OLE2 = bytes.fromhex("D0CF11E0A1B11AE1")

# --- the checks of §3, computed independently -------------------------------------------------

# Every check id, as the planted errors name them. Within a table: sum/… (合计, 小计, 总计 rows and each
# row's total column), hierarchy/… (类 = Σ 款, 款 = Σ 项, 合计 = Σ 类, parents present), balance/… (表1 and
# 表4 收入总计 = 支出总计, 表8 per row), ceiling/three-public (表7 决算 ≤ 预算). Between tables: cross/… for
# each pair the spec ties, and ceiling/three-public-within-general (表7 决算合计 ≤ 表6 公用经费 + 表5 项目支出).
ALL_CHECKS = {
    *(f"sum/table-{n}" for n in range(1, 10)),
    *(f"hierarchy/table-{n}" for n in (2, 3, 5, 6, 8, 9)),
    "balance/table-1",
    "balance/table-4",
    "balance/table-8",
    "ceiling/three-public",
    "cross/table-2-table-1",
    "cross/table-3-table-1",
    "cross/table-4-table-5",
    "cross/table-5-table-6",
    "cross/table-4-table-8",
    "cross/table-4-table-9",
    "ceiling/three-public-within-general",
}

# Each row's total column and its parts (spec §3: 本年收入合计 = Σ sources; 本年支出合计 = 基本 + 项目 + …).
ROW_SUMS = {
    2: ("total", ("appropriation", "higher", "service", "business", "affiliate", "other")),
    3: ("total", ("basic", "project", "to_higher", "business", "to_affiliates")),
    5: ("total", ("basic", "project")),
    8: ("total", ("basic", "project")),
    9: ("total", ("basic", "project")),
}
COLUMNS = {
    2: ("total", "appropriation", "higher", "service", "business", "affiliate", "other"),
    3: ("total", "basic", "project", "to_higher", "business", "to_affiliates"),
    5: ("total", "basic", "project"),
    8: ("carry_in", "income", "total", "basic", "project", "carry_out"),
    9: ("total", "basic", "project"),
}


def v(amount: Amount) -> Decimal:
    return ZERO if amount is None else amount


def total(amounts: Iterable[Amount]) -> Decimal:
    return sum((v(a) for a in amounts), ZERO)


class Checks:
    """Each check id with the messages of its failures (an empty list: it holds)."""

    def __init__(self) -> None:
        self.results: dict[str, list[str]] = {}

    def expect(self, check: str, ok: bool, message: str) -> None:
        failures = self.results.setdefault(check, [])
        if not ok:
            failures.append(message)

    def equal(self, check: str, left: Decimal, right: Decimal, what: str) -> None:
        self.expect(check, left == right, f"{what}: {left} ≠ {right}")

    def failing(self) -> set[str]:
        return {check for check, failures in self.results.items() if failures}


def col(table: CodeTable, amounts: Amounts, key: str) -> Decimal:
    return v(amounts[table.columns.index(key)])


def parent(code: str) -> str | None:
    return {7: code[:5], 5: code[:3]}.get(len(code))


def check_hierarchy(checks: Checks, check: str, table: CodeTable) -> None:
    codes = [row.code for row in table.rows]
    checks.expect(check, len(set(codes)) == len(codes), f"duplicate codes in {codes}")
    for i, row in enumerate(table.rows):
        checks.expect(check, re.fullmatch(r"\d{3}|\d{5}|\d{7}", row.code) is not None, f"code {row.code!r}")
        above = parent(row.code)
        if above is not None:  # a child whose parent row is missing (or comes after it)
            checks.expect(check, above in codes[:i], f"{row.code}: no parent row {above} above it")
    for i, key in enumerate(table.columns):
        classes = [row for row in table.rows if len(row.code) == 3]
        checks.equal(check, total(row.amounts[i] for row in classes), v(table.total[i]), f"合计.{key} vs Σ 类")
        for row in table.rows:
            children = [child for child in table.rows if parent(child.code) == row.code]
            if children:
                sum_of = total(child.amounts[i] for child in children)
                checks.equal(check, sum_of, v(row.amounts[i]), f"{row.code}.{key} vs Σ children")


def check_row_sums(checks: Checks, table_no: int, table: CodeTable) -> None:
    key, parts = ROW_SUMS[table_no]
    for code, amounts in [("合计", table.total), *((row.code, row.amounts) for row in table.rows)]:
        part_sum = sum((col(table, amounts, p) for p in parts), ZERO)
        checks.equal(f"sum/table-{table_no}", col(table, amounts, key), part_sum, f"{code}.{key} vs Σ parts")


def run_checks(f: NationalFigures) -> Checks:
    checks = Checks()
    t1, t2, t3, t4, t5, t6, t7, t8, t9 = (
        f.table1,
        f.table2,
        f.table3,
        f.table4,
        f.table5,
        f.table6,
        f.table7,
        f.table8,
        f.table9,
    )
    # 表1
    inc, exp = t1.income, t1.expenditure
    sources = ("general", "fund", "soe", "higher", "service", "business", "affiliate", "other")
    checks.equal("sum/table-1", total(inc[k] for k in sources), v(inc["total"]), "本年收入合计")
    checks.equal(
        "sum/table-1", v(inc["total"]) + v(inc["use_balance"]) + v(inc["carry_in"]), v(inc["grand_total"]), "收入总计"
    )
    checks.equal("sum/table-1", total(row.amounts[0] for row in t1.classes), v(exp["total"]), "本年支出合计")
    checks.equal(
        "sum/table-1",
        v(exp["total"]) + v(exp["distribution"]) + v(exp["carry_out"]),
        v(exp["grand_total"]),
        "支出总计",
    )
    checks.equal("balance/table-1", v(inc["grand_total"]), v(exp["grand_total"]), "收入总计 vs 支出总计")
    # 表2, 表3, 表5, 表8, 表9: each row's total column, and the code hierarchy
    for n, table in ((2, t2), (3, t3), (5, t5), (8, t8), (9, t9)):
        check_row_sums(checks, n, table)
        check_hierarchy(checks, f"hierarchy/table-{n}", table)
    for code, line in [("合计", t8.total), *((r.code, r.amounts) for r in t8.rows)]:
        expected = col(t8, line, "carry_in") + col(t8, line, "income") - col(t8, line, "total")
        checks.equal("balance/table-8", col(t8, line, "carry_out"), expected, f"{code} 年末 vs 年初+收入−支出")
    # 表4: income, expenditure per row (合计 = three sources) and per column, and the balance
    i4, e4 = t4.income, t4.expenditure
    checks.equal("sum/table-4", v(i4["general"]) + v(i4["fund"]) + v(i4["soe"]), v(i4["total"]), "本年收入合计")
    carry_parts = v(i4["carry_in_general"]) + v(i4["carry_in_fund"]) + v(i4["carry_in_soe"])
    checks.equal("sum/table-4", carry_parts, v(i4["carry_in"]), "年初财政拨款结转和结余")
    checks.equal("sum/table-4", v(i4["total"]) + v(i4["carry_in"]), v(i4["grand_total"]), "收入总计")
    for label, amounts in [*((row.code, row.amounts) for row in t4.classes), *e4.items()]:
        checks.equal("sum/table-4", total(amounts[1:]), v(amounts[0]), f"{label} 合计 vs three sources")
    for i in range(4):
        checks.equal(
            "sum/table-4", total(row.amounts[i] for row in t4.classes), v(e4["total"][i]), f"本年支出合计[{i}]"
        )
        sum_of = v(e4["total"][i]) + v(e4["carry_out"][i])
        checks.equal("sum/table-4", sum_of, v(e4["grand_total"][i]), f"支出总计[{i}]")
    checks.equal("balance/table-4", v(i4["grand_total"]), v(e4["grand_total"][0]), "收入总计 vs 支出总计")
    for i, source in enumerate(("general", "fund", "soe"), start=1):
        income = v(i4[source]) + v(i4[f"carry_in_{source}"])
        checks.equal("balance/table-4", income, v(e4["grand_total"][i]), f"{source}: 收入 + 年初 vs 支出总计")
    # 表6: 合计 = Σ 类, 类 = Σ 款, per block
    for name, rows, block_total in (
        ("人员经费", t6.personnel, t6.personnel_total),
        ("公用经费", t6.public, t6.public_total),
    ):
        checks.equal("sum/table-6", total(r.amounts[0] for r in rows if len(r.code) == 3), block_total, f"{name}合计")
        codes = [r.code for r in rows]
        for i, row in enumerate(rows):
            checks.expect("hierarchy/table-6", re.fullmatch(r"\d{3}|\d{5}", row.code) is not None, row.code)
            if len(row.code) == 5:
                checks.expect("hierarchy/table-6", row.code[:3] in codes[:i], f"{row.code}: no parent above it")
            else:
                children = [r.amounts[0] for r in rows if len(r.code) == 5 and r.code[:3] == row.code]
                checks.equal("hierarchy/table-6", total(children), v(row.amounts[0]), f"{row.code} vs Σ 款")
    # 表7
    for what, items in (("预算数", t7.budget), ("决算数", t7.actual)):
        parts = items["abroad"] + items["vehicle"] + items["reception"]
        checks.equal("sum/table-7", parts, items["total"], f"{what} 合计")
        vehicle = items["vehicle_purchase"] + items["vehicle_running"]
        checks.equal("sum/table-7", vehicle, items["vehicle"], f"{what} 公务用车购置及运行费 小计")
    for key, budget in t7.budget.items():
        checks.expect("ceiling/three-public", t7.actual[key] <= budget, f"{key}: 决算 {t7.actual[key]} > 预算 {budget}")
    # Between tables
    checks.equal("cross/table-2-table-1", col(t2, t2.total, "total"), v(inc["total"]), "表2 合计 vs 表1 本年收入合计")
    grants = v(inc["general"]) + v(inc["fund"]) + v(inc["soe"])
    checks.equal("cross/table-2-table-1", col(t2, t2.total, "appropriation"), grants, "表2 财政拨款收入 vs 表1")
    checks.equal("cross/table-3-table-1", col(t3, t3.total, "total"), v(exp["total"]), "表3 合计 vs 表1 本年支出合计")
    t1_classes = {row.code: row for row in t1.classes}
    for row in t3.rows:
        if len(row.code) == 3:
            match = t1_classes.get(row.code)
            checks.expect("cross/table-3-table-1", match is not None, f"表1 has no 类 {row.code}")
            if match is not None:
                checks.expect("cross/table-3-table-1", match.name == row.name, f"{row.code}: names differ")
                checks.equal("cross/table-3-table-1", col(t3, row.amounts, "total"), v(match.amounts[0]), row.code)
    checks.equal("cross/table-4-table-5", v(e4["total"][1]), col(t5, t5.total, "total"), "表4 一般公共预算 vs 表5")
    basic = t6.personnel_total + t6.public_total
    checks.equal("cross/table-5-table-6", col(t5, t5.total, "basic"), basic, "表5 基本支出 vs 表6")
    checks.equal("cross/table-4-table-8", v(e4["total"][2]), col(t8, t8.total, "total"), "表4 政府性基金 vs 表8")
    checks.equal("cross/table-4-table-9", v(e4["total"][3]), col(t9, t9.total, "total"), "表4 国有资本经营 vs 表9")
    ceiling = t6.public_total + col(t5, t5.total, "project")
    checks.expect("ceiling/three-public-within-general", t7.actual["total"] <= ceiling, "表7 决算合计 > 表6 + 表5")
    return checks


# --- the figures -------------------------------------------------------------------------------


def test_every_check_of_the_spec_holds_on_the_seed() -> None:
    checks = run_checks(national_seed_figures())
    assert set(checks.results) == ALL_CHECKS
    assert {check: failures for check, failures in checks.results.items() if failures} == {}


PLANTED = {
    # name: (the check it breaks, the table it changes, a fragment of the failure it must give)
    "item-not-summing": ("hierarchy/table-5", "table5", "21505.total vs Σ children: 998.30 ≠ 993.30"),
    "expenditure-total-off": ("cross/table-3-table-1", "table3", "表3 合计 vs 表1 本年支出合计: 11668.78 ≠ 11658.78"),
    "fund-balance": ("balance/table-8", "table8", "2121301 年末 vs 年初+收入−支出: 8.50 ≠ 6.50"),
    "reception-over-budget": ("ceiling/three-public", "table7", "reception: 决算 12.50 > 预算 12.00"),
}


def test_the_planted_errors_are_the_four_of_the_spec() -> None:
    planted = national_planted_errors()
    assert set(planted) == set(PLANTED)
    for name, error in planted.items():
        assert error.name == name
        assert error.check == PLANTED[name][0]
        assert error.where  # says which cell or row carries it


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_each_planted_copy_breaks_exactly_its_one_check(name: str) -> None:
    check, table, fragment = PLANTED[name]
    error = national_planted_errors()[name]
    checks = run_checks(error.figures)
    assert checks.failing() == {check}
    assert any(fragment in failure for failure in checks.results[check]), checks.results[check]
    seed = national_seed_figures()
    changed = {f.name for f in fields(seed) if getattr(seed, f.name) != getattr(error.figures, f.name)}
    assert changed == {table}


def test_the_planted_errors_are_the_amounts_the_spec_names() -> None:
    planted = {name: error.figures for name, error in national_planted_errors().items()}
    seed = national_seed_figures()
    t3 = planted["expenditure-total-off"].table3
    assert col(t3, t3.total, "total") - v(seed.table1.expenditure["total"]) == D(10)
    t7 = planted["reception-over-budget"].table7
    assert t7.actual["reception"] > t7.budget["reception"] == D(12)
    t8 = planted["fund-balance"].table8
    row = t8.row("2121301").amounts
    assert col(t8, row, "carry_out") != col(t8, row, "carry_in") + col(t8, row, "income") - col(t8, row, "total")
    t5 = planted["item-not-summing"].table5
    items = [r for r in t5.rows if parent(r.code) == "21505"]
    assert total(col(t5, r.amounts, "total") for r in items) != col(t5, t5.row("21505").amounts, "total")


def test_the_totals_are_the_ones_of_the_spec() -> None:
    f = national_seed_figures()
    inc, exp = f.table1.income, f.table1.expenditure
    assert (inc["general"], inc["fund"], inc["soe"], inc["other"]) == (D("2439.23"), D(118), D(8), D("9093.55"))
    assert inc["total"] == exp["total"] == D("11658.78")
    for amount in (inc["higher"], inc["service"], inc["business"], inc["affiliate"]):
        assert v(amount) == ZERO
    t3 = f.table3
    assert (col(t3, t3.total, "basic"), col(t3, t3.total, "project")) == (D("901.11"), D("10757.67"))
    assert (f.table6.personnel_total, f.table6.public_total) == (D("781.88"), D("119.23"))
    t8, t9 = f.table8, f.table9
    assert col(t8, t8.total, "total") == D(118)
    assert {row.code[:3] for row in t8.rows} == {"212"}
    assert col(t9, t9.total, "total") == D(8)
    assert {row.code[:3] for row in t9.rows} == {"223"}
    items = ("abroad", "vehicle", "vehicle_purchase", "vehicle_running")
    assert f.table7.budget == {"total": D(12), "reception": D(12), **dict.fromkeys(items, ZERO)}
    assert f.table7.actual == {"total": D("11.84"), "reception": D("11.84"), **dict.fromkeys(items, ZERO)}
    assert f.table2.columns == COLUMNS[2] and f.table3.columns == COLUMNS[3] and f.table5.columns == COLUMNS[5]
    assert f.table8.columns == COLUMNS[8] and f.table9.columns == COLUMNS[9]


def test_the_figures_agree_with_the_v1_seed() -> None:
    """Same department, same year: the v1 seed's 全年执行数 and 三公 are these tables' figures."""
    v1, f = seed_figures(), national_seed_figures()
    assert (f.department, f.code, f.email, f.year) == (v1.name, v1.code, v1.email, v1.year)
    actual = {key: amounts[2] for key, amounts in v1.summary.items()}
    inc, t3 = f.table1.income, f.table3
    assert (inc["general"], inc["fund"], inc["soe"], inc["other"], inc["total"]) == (
        actual["inc_general"],
        actual["inc_fund"],
        actual["inc_soe"],
        actual["inc_other"],
        actual["inc_total"],
    )
    assert col(t3, t3.total, "total") == actual["exp_total"]
    assert col(t3, t3.total, "basic") == actual["exp_basic"]
    assert col(t3, t3.total, "project") == actual["exp_project"]
    assert f.table6.personnel_total == actual["exp_personnel"]
    assert f.table6.public_total == actual["exp_public"]
    for key, (budget, spent) in v1.three_public.items():
        assert (f.table7.budget[key], f.table7.actual[key]) == (budget, spent)


def all_amounts(f: NationalFigures) -> list[Decimal]:
    found: list[Amount] = [*f.table1.income.values(), *f.table1.expenditure.values()]
    found += [a for row in f.table1.classes for a in row.amounts]
    for table in (f.table2, f.table3, f.table5, f.table8, f.table9):
        found += [*table.total, *(a for row in table.rows for a in row.amounts)]
    found += [*f.table4.income.values(), *(a for row in f.table4.classes for a in row.amounts)]
    found += [a for amounts in f.table4.expenditure.values() for a in amounts]
    found += [a for row in f.table6.personnel + f.table6.public for a in row.amounts]
    found += [f.table6.personnel_total, f.table6.public_total, *f.table7.budget.values(), *f.table7.actual.values()]
    return [a for a in found if a is not None]


def test_amounts_are_decimals_in_wanyuan_with_two_decimals() -> None:
    amounts = all_amounts(national_seed_figures())
    assert len(amounts) > 200
    assert all(isinstance(a, Decimal) and a.as_tuple().exponent == -2 and a >= 0 for a in amounts)


def test_codes_carry_their_real_names_and_the_classes_the_spec_names() -> None:
    f = national_seed_figures()
    real = {
        "206": "科学技术支出",
        "208": "社会保障和就业支出",
        "210": "卫生健康支出",
        "212": "城乡社区支出",
        "215": "资源勘探工业信息等支出",
        "21505": "工业和信息产业监管",
        "2150501": "行政运行",
        "221": "住房保障支出",
        "223": "国有资本经营预算支出",
        "2230105": "国有企业退休人员社会化管理补助支出",
    }
    names: dict[str, str] = {}
    for table in (f.table2, f.table3, f.table5, f.table8, f.table9):
        for row in table.rows:
            assert names.setdefault(row.code, row.name) == row.name, row.code  # one name per code everywhere
    for row in f.table1.classes + f.table4.classes:
        assert names[row.code] == row.name
    assert {code: names[code] for code in real} == real
    assert {code for code in names if len(code) == 3} >= {"206", "208", "210", "212", "215", "221", "223"}
    assert set(names) == {row.code for row in f.table2.rows} == {row.code for row in f.table3.rows}
    assert [c for c, _ in CLASSES][:2] == ["201", "202"] and FUNCTIONAL_NAMES["201"] == "一般公共服务支出"
    personnel = {row.code[:3] for row in f.table6.personnel}
    public = {row.code[:3] for row in f.table6.public}
    assert personnel == {"301", "303"} and public == {"302", "310"}


def test_the_seed_ties_beyond_the_spec_checks() -> None:
    """Ties the spec does not list but a real export holds: 表4's 类 columns are 表5, 表8 and 表9 by 类; the
    carry-over of 表4 is 表8's; 表1's carry-over is all of it (nothing but the fund carries over)."""
    f = national_seed_figures()
    t4 = {row.code: row.amounts for row in f.table4.classes}
    for i, table in ((1, f.table5), (2, f.table8), (3, f.table9)):
        classes = {row.code: col(table, row.amounts, "total") for row in table.rows if len(row.code) == 3}
        assert {code: v(a[i]) for code, a in t4.items() if a[i] is not None} == classes
    t8 = f.table8
    assert f.table4.income["carry_in_fund"] == col(t8, t8.total, "carry_in") == f.table1.income["carry_in"]
    assert f.table4.expenditure["carry_out"][2] == col(t8, t8.total, "carry_out") == f.table1.expenditure["carry_out"]
    assert col(t8, t8.total, "income") == f.table4.income["fund"]
    t2, t3 = f.table2, f.table3
    by_class = {row.code: col(t3, row.amounts, "total") for row in t3.rows if len(row.code) == 3}
    assert {row.code: col(t2, row.amounts, "total") for row in t2.rows if len(row.code) == 3} == by_class
    assert col(t2, t2.total, "other") == f.table1.income["other"]


# --- the written files -------------------------------------------------------------------------

TITLES = {
    1: "收入支出决算总表",
    2: "收入决算表",
    3: "支出决算表",
    4: "财政拨款收入支出决算总表",
    5: "一般公共预算财政拨款支出决算表",
    6: "一般公共预算财政拨款基本支出决算表",
    7: "一般公共预算财政拨款“三公”经费支出决算表",
    8: "政府性基金预算财政拨款收入支出决算表",
    9: "国有资本经营预算财政拨款支出决算表",
}
# The documented layout (0-based): row 0 title, row 1 公开0N表 in the last column, row 2 部门 | 金额单位,
# header rows from 3, then the 栏次 row: its numbers by column.
WIDTH = {1: 6, 2: 9, 3: 8, 4: 9, 5: 7, 6: 6, 7: 7, 8: 8, 9: 5}
LANCI_ROW = {1: 5, 2: 5, 3: 5, 4: 5, 5: 6, 6: 5, 7: 5, 8: 5, 9: 5}
LANCI = {
    1: {2: "1", 5: "2"},
    2: {c: str(c - 1) for c in range(2, 9)},
    3: {c: str(c - 1) for c in range(2, 8)},
    4: {2: "1", 5: "2", 6: "3", 7: "4", 8: "5"},
    5: {4: "1", 5: "2", 6: "3"},
    6: {2: "1", 5: "2"},
    7: {c: str(c) for c in range(1, 7)},
    8: {c: str(c - 1) for c in range(2, 8)},
    9: {2: "1", 3: "2", 4: "3"},
}
HEADERS = {
    1: {"收入", "支出", "项目", "行次", "金额"},
    2: {"项目", "科目编码", "科目名称", "本年收入合计", "财政拨款收入", "上级补助收入", "事业收入", "经营收入"}
    | {"附属单位上缴收入", "其他收入"},
    3: {"项目", "科目编码", "科目名称", "本年支出合计", "基本支出", "项目支出", "上缴上级支出", "经营支出"}
    | {"对附属单位补助支出"},
    4: {"收入", "支出", "项目", "行次", "金额", "合计", "一般公共预算财政拨款", "政府性基金预算财政拨款"}
    | {"国有资本经营预算财政拨款"},
    5: {"项目", "科目编码", "类", "款", "项", "科目名称", "本年支出", "合计", "基本支出", "项目支出"},
    6: {"人员经费", "公用经费", "科目编码", "科目名称", "决算数"},
    7: {"项目", "合计", "因公出国（境）费", "公务用车购置及运行费", "小计", "公务用车购置费", "公务用车运行费"}
    | {"公务接待费"},
    8: {"项目", "科目编码", "科目名称", "年初结转和结余", "本年收入", "本年支出", "合计", "基本支出", "项目支出"}
    | {"年末结转和结余"},
    9: {"项目", "科目编码", "科目名称", "本年支出", "合计", "基本支出", "项目支出"},
}
# Merged ranges (first row, first column, last row, last column) and the text of their top-left cell.
MERGES = {
    1: [(3, 0, 3, 2, "收入"), (3, 3, 3, 5, "支出")],
    2: [(3, 0, 3, 1, "项目"), (3, 2, 4, 2, "本年收入合计"), (5, 0, 5, 1, "栏次"), (6, 0, 6, 1, "合计")],
    3: [(3, 0, 3, 1, "项目"), (3, 4, 4, 4, "项目支出"), (6, 0, 6, 1, "合计")],
    4: [(3, 0, 3, 2, "收入"), (3, 3, 3, 8, "支出")],
    5: [
        (3, 0, 3, 3, "项目"),
        (4, 0, 4, 2, "科目编码"),
        (4, 3, 5, 3, "科目名称"),
        (3, 4, 3, 6, "本年支出"),
        (4, 4, 5, 4, "合计"),
        (6, 0, 6, 3, "栏次"),
        (7, 0, 7, 3, "合计"),
    ],
    6: [(3, 0, 3, 2, "人员经费"), (3, 3, 3, 5, "公用经费")],
    7: [(3, 3, 3, 5, "公务用车购置及运行费"), (3, 0, 4, 0, "项目"), (3, 6, 4, 6, "公务接待费")],
    8: [(3, 4, 3, 6, "本年支出"), (3, 2, 4, 2, "年初结转和结余"), (3, 7, 4, 7, "年末结转和结余")],
    9: [(3, 2, 3, 4, "本年支出"), (3, 0, 3, 1, "项目")],
}
# 表1 and 表4 number the 类 rows 一、二、… in the order of the functional classification.
ORDINALS = [*"一二三四五六七八九十", *(f"十{d}" for d in "一二三四五六七八九"), "二十", "二十一", "二十二", "二十三"]
T1_INCOME = {
    "general": "一、一般公共预算财政拨款收入",
    "fund": "二、政府性基金预算财政拨款收入",
    "soe": "三、国有资本经营预算财政拨款收入",
    "higher": "四、上级补助收入",
    "service": "五、事业收入",
    "business": "六、经营收入",
    "affiliate": "七、附属单位上缴收入",
    "other": "八、其他收入",
    "total": "本年收入合计",
    "use_balance": "使用非财政拨款结余",
    "carry_in": "年初结转和结余",
    "grand_total": "总计",
}
T1_EXPENDITURE = {
    "total": "本年支出合计",
    "distribution": "结余分配",
    "carry_out": "年末结转和结余",
    "grand_total": "总计",
}
T4_INCOME = {
    "general": "一、一般公共预算财政拨款",
    "fund": "二、政府性基金预算财政拨款",
    "soe": "三、国有资本经营预算财政拨款",
    "total": "本年收入合计",
    "carry_in": "年初财政拨款结转和结余",
    "carry_in_general": "一般公共预算财政拨款",
    "carry_in_fund": "政府性基金预算财政拨款",
    "carry_in_soe": "国有资本经营预算财政拨款",
    "grand_total": "总计",
}
T4_EXPENDITURE = {"total": "本年支出合计", "carry_out": "年末财政拨款结转和结余", "grand_total": "总计"}
T7_ITEMS = ("total", "abroad", "vehicle", "vehicle_purchase", "vehicle_running", "reception")
EMPTY_NOTES = {
    8: "注：本单位2023年度无政府性基金预算财政拨款收入、支出及结转结余。",
    9: "注：本单位2023年度无国有资本经营预算财政拨款支出。",
}

Rows = list[list[Any]]


def amount(value: Any) -> Decimal | None:
    """A read-back amount cell: a number (never text), or blank."""
    if value == "":
        return None
    assert isinstance(value, int | float) and not isinstance(value, bool), f"amount {value!r} is not a number"
    return D(repr(float(value))).quantize(CENT)


def amounts(values: Sequence[Any]) -> Amounts:
    return tuple(amount(value) for value in values)


def cell(rows: Rows, row: int, col: int) -> Any:
    return rows[row][col] if row < len(rows) and col < len(rows[row]) else ""


def body(rows: Rows, first: int) -> Rows:
    """The data rows from `first` to the footnote (注：…) or the blank row after the table."""
    found: Rows = []
    for row in rows[first:]:
        if (isinstance(row[0], str) and row[0].startswith("注：")) or all(value == "" for value in row):
            break
        found.append(row)
    return found


def assert_title_block(table: int, rows: Rows) -> None:
    width = WIDTH[table]
    assert cell(rows, 0, 0) == TITLES[table]
    assert all(cell(rows, 0, c) == "" for c in range(1, width))
    assert cell(rows, 1, width - 1) == f"公开{table:02d}表"
    assert cell(rows, 2, 0) == DEPARTMENT
    assert cell(rows, 2, width - 1) == UNIT
    lanci = LANCI_ROW[table]
    headers = {value for row in rows[3:lanci] for value in row[:width] if value != ""}
    assert headers == HEADERS[table]
    assert cell(rows, lanci, 0) == "栏次"
    assert {c: cell(rows, lanci, c) for c in LANCI[table]} == LANCI[table]
    for first_row, first_col, _, _, text in MERGES[table]:
        assert cell(rows, first_row, first_col) == text


def assert_code_table(table: int, rows: Rows, data: CodeTable) -> None:
    width, split = WIDTH[table], table == 5
    labels = 4 if split else 2
    found = body(rows, LANCI_ROW[table] + 1)
    assert found[0][0] == "合计"
    read = [("", "合计", amounts(found[0][labels:width]))]
    for row in found[1:]:
        if split:  # 类 | 款 | 项: 206 | | , 206 | 01 | , 206 | 01 | 01
            parts = row[:3]
            assert all(isinstance(part, str) for part in parts), parts
            assert re.fullmatch(r"\d{3}", parts[0]) and re.fullmatch(r"(\d{2})?", parts[1]), parts
            assert re.fullmatch(r"(\d{2})?", parts[2]) and (parts[1] or not parts[2]), parts
            code = "".join(parts)
        else:
            code = row[0]
            assert isinstance(code, str), f"code {code!r} is not text"
        read.append((code, row[labels - 1], amounts(row[labels:width])))
    expected = [("", "合计", data.total), *((r.code, r.name, r.amounts) for r in data.rows)]
    assert read == expected


def assert_two_blocks(
    rows: Rows,
    first: int,
    income: dict[str, Amount],
    income_labels: dict[str, str],
    classes: Mapping[str, Amounts],
    tail: Mapping[str, Amounts],
    tail_labels: dict[str, str],
    width: int,
) -> None:
    found = body(rows, first)
    split = 3
    for i, row in enumerate(found):
        assert row[1] == str(i + 1) and row[split + 1] == str(len(found) + i + 1)  # 行次, as text
    left = {row[0]: amount(row[2]) for row in found if row[0]}
    assert left == {income_labels[key]: value for key, value in income.items()}
    right = [(row[split], amounts(row[split + 2 : width])) for row in found if row[split]]
    blank = (None,) * (width - split - 2)
    expected = [(f"{ORDINALS[i]}、{name}", classes.get(code, blank)) for i, (code, name) in enumerate(CLASSES)]
    expected += [(tail_labels[key], value) for key, value in tail.items()]
    assert right == expected
    totals = [row for row in found if row[0] in ("本年收入合计", "总计")]  # income and spending side by side
    assert [(row[0], row[split]) for row in totals] == [("本年收入合计", "本年支出合计"), ("总计", "总计")]


def assert_table(table: int, rows: Rows, f: NationalFigures, empty: Iterable[int] = ()) -> None:
    assert_title_block(table, rows)
    first = LANCI_ROW[table] + 1
    if table in set(empty):
        assert cell(rows, first, 0) == EMPTY_NOTES[table]
        assert body(rows, first) == []
        return
    if table == 1:
        t1 = f.table1
        classes = {row.code: row.amounts for row in t1.classes}
        tail = {key: (value,) for key, value in t1.expenditure.items()}
        assert_two_blocks(rows, first, t1.income, T1_INCOME, classes, tail, T1_EXPENDITURE, WIDTH[1])
    elif table == 4:
        t4 = f.table4
        classes = {row.code: row.amounts for row in t4.classes}
        assert_two_blocks(rows, first, t4.income, T4_INCOME, classes, t4.expenditure, T4_EXPENDITURE, WIDTH[4])
    elif table == 6:
        found = body(rows, first)
        *blocks, totals = found
        left = [(r[0], r[1], amount(r[2])) for r in blocks if r[0] != ""]
        right = [(r[3], r[4], amount(r[5])) for r in blocks if r[3] != ""]
        assert left == [(r.code, r.name, r.amounts[0]) for r in f.table6.personnel]
        assert right == [(r.code, r.name, r.amounts[0]) for r in f.table6.public]
        assert all(isinstance(code, str) for code, _, _ in left + right)
        assert (totals[0], totals[1], totals[3], totals[4]) == ("人员经费合计", "", "公用经费合计", "")
        assert (amount(totals[2]), amount(totals[5])) == (f.table6.personnel_total, f.table6.public_total)
    elif table == 7:
        budget, actual = rows[first], rows[first + 1]
        assert (budget[0], actual[0]) == ("预算数", "决算数")
        assert amounts(budget[1:7]) == tuple(f.table7.budget[k] for k in T7_ITEMS)
        assert amounts(actual[1:7]) == tuple(f.table7.actual[k] for k in T7_ITEMS)
    else:
        data = {2: f.table2, 3: f.table3, 5: f.table5, 8: f.table8, 9: f.table9}[table]
        assert_code_table(table, rows, data)


def calamine_sheets(path: Path) -> dict[str, Rows]:
    book = CalamineWorkbook.from_path(str(path))
    sheets = {}
    for name in book.sheet_names:
        sheet = book.get_sheet_by_name(name)
        assert sheet.start == (0, 0)  # the rows are the sheet's from A1
        sheets[name] = sheet.to_python()
    return sheets


def calamine_merges(path: Path, sheet: str) -> set[tuple[int, int, int, int]]:
    ranges = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).merged_cell_ranges or []
    return {(r1, c1, r2, c2) for (r1, c1), (r2, c2) in ranges}


def expected_merges(table: int, top: int = 0) -> set[tuple[int, int, int, int]]:
    title = (top, 0, top, WIDTH[table] - 1)
    return {title} | {(top + r1, c1, top + r2, c2) for r1, c1, r2, c2, _ in MERGES[table]}


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("national")
    write_national_samples(directory)
    return directory


def test_the_samples_are_written_where_the_brief_puts_them(tmp_path: Path) -> None:
    paths = write_national_samples(tmp_path)
    names = ["seed", *(f"error-{name}" for name in national_planted_errors())]
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        f"national-{name}{suffix}" for name in names for suffix in (".xlsx", ".xls")
    ]
    assert all(p.is_file() for p in paths)


@pytest.mark.parametrize("suffix", [".xlsx", ".xls"])
def test_the_seed_workbook_reads_back_table_by_table(written: Path, suffix: str) -> None:
    sheets = calamine_sheets(written / f"national-seed{suffix}")
    assert list(sheets) == [f"公开{n:02d}表" for n in range(1, 10)]
    figures = national_seed_figures()
    for table in range(1, 10):
        assert_table(table, sheets[f"公开{table:02d}表"], figures)


@pytest.mark.parametrize("suffix", [".xlsx", ".xls"])
@pytest.mark.parametrize("name", sorted(PLANTED))
def test_each_planted_workbook_shows_its_figures(written: Path, suffix: str, name: str) -> None:
    figures = national_planted_errors()[name].figures
    sheets = calamine_sheets(written / f"national-error-{name}{suffix}")
    for table in range(1, 10):
        assert_table(table, sheets[f"公开{table:02d}表"], figures)


def test_the_xlsx_merges_cells_and_keeps_codes_as_text(written: Path) -> None:
    path = written / "national-seed.xlsx"
    for table in range(1, 10):
        assert calamine_merges(path, f"公开{table:02d}表") >= expected_merges(table)
    book = openpyxl.load_workbook(path)
    sheet = book["公开03表"]
    code, name, spent = sheet["A10"], sheet["B10"], sheet["C10"]  # row 10: 项 2060101 行政运行
    assert (code.value, code.data_type, code.number_format) == ("2060101", "s", "@")
    assert name.value == "行政运行"
    assert (spent.value, spent.data_type, spent.number_format) == (167.32, "n", "#,##0.00")
    split = book["公开05表"]
    assert [split.cell(11, c).value for c in range(1, 5)] == ["206", "01", "01", "行政运行"]
    assert all(split.cell(11, c).data_type == "s" for c in range(1, 4))


def test_the_xls_is_biff8_with_the_merges_formats_and_text_codes(written: Path) -> None:
    path = written / "national-seed.xls"
    assert path.read_bytes()[:8] == OLE2
    book = xlrd.open_workbook(str(path), formatting_info=True)
    assert book.biff_version == 80
    assert book.sheet_names() == [f"公开{n:02d}表" for n in range(1, 10)]
    for table in range(1, 10):
        sheet = book.sheet_by_name(f"公开{table:02d}表")
        merges = {(r1, c1, r2 - 1, c2 - 1) for r1, r2, c1, c2 in sheet.merged_cells}
        assert merges >= expected_merges(table), table
    sheet = book.sheet_by_name("公开02表")
    for row in range(7, sheet.nrows):
        code = sheet.cell(row, 0)
        if code.value.startswith("注："):
            break
        assert code.ctype == xlrd.XL_CELL_TEXT and code.value.isdigit()
        total_cell = sheet.cell(row, 2)
        assert total_cell.ctype == xlrd.XL_CELL_NUMBER
        number_format = book.format_map[book.xf_list[total_cell.xf_index].format_key].format_str
        assert number_format == "#,##0.00"
    split = book.sheet_by_name("公开05表")
    assert [split.cell_value(10, c) for c in range(4)] == ["206", "01", "01", "行政运行"]
    assert all(split.cell(10, c).ctype == xlrd.XL_CELL_TEXT for c in range(3))


@pytest.mark.parametrize("suffix", [".xlsx", ".xls"])
def test_separate_workbooks_hold_one_table_each(tmp_path: Path, suffix: str) -> None:
    figures = national_seed_figures()
    paths = write_national_separate(figures, tmp_path, suffix)
    assert [p.name for p in paths] == [f"公开{n:02d}表{suffix}" for n in range(1, 10)]
    for table, path in enumerate(paths, start=1):
        sheets = calamine_sheets(path)
        assert list(sheets) == [f"公开{table:02d}表"]
        assert_table(table, sheets[f"公开{table:02d}表"], figures)
    if suffix == ".xls":
        assert all(p.read_bytes()[:8] == OLE2 for p in paths)


@pytest.mark.parametrize("suffix", [".xlsx", ".xls"])
def test_the_stacked_sheet_holds_the_nine_tables_one_below_another(tmp_path: Path, suffix: str) -> None:
    figures = national_seed_figures()
    path = write_national_stacked(figures, tmp_path / f"stacked{suffix}")
    sheets = calamine_sheets(path)
    assert len(sheets) == 1
    (rows,) = sheets.values()
    starts = [i for i, row in enumerate(rows) if row[0] in TITLES.values()]
    assert [rows[i][0] for i in starts] == [TITLES[n] for n in range(1, 10)]
    assert starts == list(stacked_offsets(figures).values())
    for table, (start, end) in enumerate(zip(starts, [*starts[1:], len(rows) + 2], strict=True), start=1):
        if table > 1:  # blank rows between two tables
            assert all(value == "" for value in rows[start - 1] + rows[start - 2])
        assert_table(table, rows[start : end - 2], figures)
    if suffix == ".xls":
        sheet = xlrd.open_workbook(str(path), formatting_info=True).sheet_by_index(0)
        merges = {(r1, c1, r2 - 1, c2 - 1) for r1, r2, c1, c2 in sheet.merged_cells}
    else:
        merges = calamine_merges(path, next(iter(sheets)))
    for table, start in enumerate(starts, start=1):
        assert merges >= expected_merges(table, start), table


@pytest.mark.parametrize("suffix", [".xlsx", ".xls"])
def test_tables_8_and_9_can_be_written_empty_with_their_note(tmp_path: Path, suffix: str) -> None:
    figures = national_seed_figures()
    write = write_national_xls if suffix == ".xls" else write_national_xlsx
    sheets = calamine_sheets(write(figures, tmp_path / f"empty{suffix}", empty_tables={8, 9}))
    for table in range(1, 10):
        assert_table(table, sheets[f"公开{table:02d}表"], figures, empty={8, 9})
    with pytest.raises(ValueError, match="empty"):
        write(figures, tmp_path / f"bad{suffix}", empty_tables={3})


def test_writing_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    first = {p.name: p.read_bytes() for p in write_national_samples(tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in write_national_samples(tmp_path / "b")}
    assert first == second
    figures = national_seed_figures()
    for suffix in (".xlsx", ".xls"):
        a = write_national_stacked(figures, tmp_path / "a" / f"stacked{suffix}").read_bytes()
        b = write_national_stacked(figures, tmp_path / "b" / f"stacked{suffix}").read_bytes()
        assert a == b
        separate_a = [p.read_bytes() for p in write_national_separate(figures, tmp_path / "sa", suffix)]
        separate_b = [p.read_bytes() for p in write_national_separate(figures, tmp_path / "sb", suffix)]
        assert separate_a == separate_b
    # Different figures give different bytes (the comparison above would not see a writer that drops them).
    assert first["national-seed.xlsx"] != first["national-error-reception-over-budget.xlsx"]
    assert first["national-seed.xls"] != first["national-error-reception-over-budget.xls"]
