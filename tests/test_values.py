"""Spec §1 reading rules for single values: labels, amounts, percentages, years and dates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from checks.labels import normalise_label
from workbooks.values import (
    CellValueError,
    Rate,
    exact,
    parse_amount,
    parse_date,
    parse_measure,
    parse_number,
    parse_rate,
    parse_unit,
    parse_year,
)

D = Decimal
AMBIGUOUS_MAX = 1.5


def rule_of(call: object, *args: object) -> str:
    """The reading rule a parser raises for the given arguments."""
    assert callable(call)
    with pytest.raises(CellValueError) as raised:
        call(*args)
    return raised.value.rule


# --- labels ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "compared"),
    [
        ("　其中：人员经费 ", "人员经费"),
        ("一、一般公共预算财政拨款收入", "一般公共预算财政拨款收入"),
        ("十一、其他收入", "其他收入"),
        ("（一）日常公用经费", "日常公用经费"),
        ("(1)人员经费", "人员经费"),
        ("（1）人员经费", "人员经费"),
        ("1.人员经费", "人员经费"),
        ("1. 人员经费", "人员经费"),
        ("1、人员经费", "人员经费"),
        ("３．公务接待费", "公务接待费"),
        ("其中：人员经费", "人员经费"),
        ("其中:人员经费", "人员经费"),
        ("减：人员经费", "人员经费"),
        ("一、（一）其中：人员经费", "人员经费"),
    ],
)
def test_a_leading_enumerator_is_stripped_from_a_label(written: str, compared: str) -> None:
    assert normalise_label(written) == compared


@pytest.mark.parametrize(
    ("written", "compared"),
    [
        ("ＡＢＣ１２３", "ABC123"),
        ("因公出国（境）费", "因公出国(境)费"),
        ("单位编码：", "单位编码"),
    ],
)
def test_full_width_characters_become_half_width(written: str, compared: str) -> None:
    assert normalise_label(written) == compared


@pytest.mark.parametrize(
    "written",
    ["收 入 合 计", "收入\u3000合计", "\t收入合计\n", "收入\xa0合计", " 收入合计 "],
)
def test_every_kind_of_white_space_is_removed_from_a_label(written: str) -> None:
    assert normalise_label(written) == "收入合计"


def test_a_header_keeps_its_name_without_its_unit_suffix() -> None:
    assert normalise_label("年初预算数（万元）") == "年初预算数"
    assert normalise_label("年初预算数 (元)") == "年初预算数"


@pytest.mark.parametrize("label", ["5G基站", "2023年度", "一般公共预算财政拨款收入", "三公经费", "1.5倍"])
def test_text_that_only_looks_like_an_enumerator_is_kept(label: str) -> None:
    assert normalise_label(label) == label


def test_an_empty_cell_has_an_empty_label() -> None:
    assert normalise_label(None) == ""


# --- amounts --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "amount"),
    [
        (1160.21, D("1160.21")),
        (0, D("0")),
        (118, D("118")),
        (11658.78, D("11658.78")),
        ("1160.21", D("1160.21")),
        ("1,160.21", D("1160.21")),
        ("11，658.78", D("11658.78")),
        ("１１６０．２１", D("1160.21")),
        ("１，１６０．２１", D("1160.21")),
        ("  1160.21 ", D("1160.21")),
        ("\u30001160.21\u3000", D("1160.21")),
        ("1160.21万元", D("1160.21")),
        ("1,160.21 万元", D("1160.21")),
        ("１１６０．２１万元", D("1160.21")),
    ],
)
def test_an_amount_is_read_from_a_number_or_number_text(cell: object, amount: Decimal) -> None:
    assert parse_amount(cell, "万元") == amount


def test_an_amount_keeps_exactly_the_decimals_submitted_never_float_noise() -> None:
    read = parse_amount(1160.21, "万元")
    assert isinstance(read, Decimal)
    assert str(read) == "1160.21"
    assert read != Decimal.from_float(1160.21)  # 1160.2100000000000363797880709171295166015625


def test_a_float_is_read_as_the_number_a_spreadsheet_shows() -> None:
    assert str(exact(0.1 + 0.2)) == "0.3"
    assert str(exact(2439.23 + 118 + 8 + 9093.55)) == "11658.78"


def test_a_whole_float_amount_reads_without_an_exponent() -> None:
    assert str(parse_amount(100.0, "万元")) == "100"
    assert str(parse_amount(12000000.0, "元")) == "12000000"


def test_text_amount_keeps_its_written_decimals() -> None:
    assert str(parse_amount("1,160.2100", "万元")) == "1160.2100"


def test_an_amount_in_yuan_may_carry_the_yuan_unit() -> None:
    assert parse_amount("11,602,100元", "元") == D("11602100")


@pytest.mark.parametrize(
    ("cell", "declared"),
    [("1160.21元", "万元"), ("11602100 元", "万元"), ("1160.21万元", "元"), ("１１６０．２１万元", "元")],
)
def test_a_trailing_unit_that_contradicts_the_declared_unit_is_a_unit_error(cell: str, declared: str) -> None:
    with pytest.raises(CellValueError) as raised:
        parse_amount(cell, declared)
    assert raised.value.rule == "format/unit"
    assert raised.value.fields["unit"] == declared


@pytest.mark.parametrize("cell", [None, "", "   ", "-", "—", "－", "/", "／", "\u3000"])
def test_a_dash_slash_or_empty_cell_means_not_filled_which_is_not_zero(cell: object) -> None:
    assert parse_amount(cell, "万元") is None
    assert parse_amount(cell, "万元") != D(0)


@pytest.mark.parametrize("cell", [-5, -0.01, "-5", "-1,160.21", "－５", "-1160.21万元"])
def test_a_negative_amount_is_a_negative_error(cell: object) -> None:
    assert rule_of(parse_amount, cell, "万元") == "format/negative"


@pytest.mark.parametrize(
    "cell", ["abc", "约100", "100万", "1160.21万元万元", "abc元", "(100)", "1.2.3", "见附表", True]
)
def test_text_that_is_not_a_number_is_an_amount_error_carrying_the_text(cell: object) -> None:
    with pytest.raises(CellValueError) as raised:
        parse_amount(cell, "万元")
    assert raised.value.rule == "format/amount"
    assert raised.value.fields["value"] == str(cell)


def test_an_amount_error_message_field_shows_the_text_after_nfkc() -> None:
    with pytest.raises(CellValueError) as raised:
        parse_amount(" 约１００ ", "万元")
    assert raised.value.fields["value"] == "约100"


def test_an_infinite_float_is_not_an_amount() -> None:
    assert rule_of(parse_amount, float("inf"), "万元") == "format/amount"


def test_an_evaluated_formula_decimal_is_an_amount_even_with_an_exponent() -> None:
    assert parse_amount(D("2E+2"), "万元") == D("200")
    assert str(parse_amount(D("2E+2"), "万元")) == "200"


@pytest.mark.parametrize(("cell", "unit"), [(None, "万元"), ("万元", "万元"), ("元", "元"), (" 元 ", "元")])
def test_the_declared_unit_is_wan_yuan_unless_yuan_is_written(cell: object, unit: str) -> None:
    assert parse_unit(cell) == unit


def test_a_declared_unit_other_than_wan_yuan_or_yuan_is_an_error() -> None:
    assert rule_of(parse_unit, "千元") == "format/declared-unit"


def test_a_plain_number_may_be_negative_but_must_be_a_number() -> None:
    assert parse_number(-3) == D(-3)
    assert parse_number("１０") == D(10)
    assert parse_number("—") is None
    assert rule_of(parse_number, "十分") == "format/number"


# --- percentages ----------------------------------------------------------------------------------


def test_a_number_with_a_percent_format_is_read_in_percent_with_its_shown_decimals() -> None:
    assert parse_rate(0.975, "0.0%", AMBIGUOUS_MAX) == Rate(D("97.5"), 1)
    assert parse_rate(0.9838, "0.00%", AMBIGUOUS_MAX) == Rate(D("98.38"), 2)
    assert parse_rate(1, "0%", AMBIGUOUS_MAX) == Rate(D("100"), 0)


def test_a_full_percent_reads_as_one_hundred_not_an_exponent() -> None:
    rate = parse_rate(1.0, "0.00%", AMBIGUOUS_MAX)
    assert rate is not None
    assert str(rate.percent) == "100"
    assert rate.decimals == 2


def test_a_small_number_with_a_percent_format_is_not_ambiguous() -> None:
    rate = parse_rate(0.975, "0.0%", AMBIGUOUS_MAX)
    assert rate is not None
    assert not rate.ambiguous


@pytest.mark.parametrize(
    ("cell", "percent", "decimals"),
    [("97.5%", D("97.5"), 1), ("97.50%", D("97.50"), 2), ("98%", D("98"), 0), (" ９７．５％ ", D("97.5"), 1)],
)
def test_text_ending_in_percent_is_read_with_the_decimals_written(cell: str, percent: Decimal, decimals: int) -> None:
    assert parse_rate(cell, "General", AMBIGUOUS_MAX) == Rate(percent, decimals)


@pytest.mark.parametrize(
    ("cell", "number_format", "percent", "decimals"),
    [
        (97.5, "General", D("97.5"), 1),
        (98, "General", D("98"), 0),
        ("97.53", "@", D("97.53"), 2),
        (98, "0.00", D(98), 2),
    ],
)
def test_a_bare_number_means_percentage_points(
    cell: object, number_format: str, percent: Decimal, decimals: int
) -> None:
    assert parse_rate(cell, number_format, AMBIGUOUS_MAX) == Rate(percent, decimals)


@pytest.mark.parametrize("cell", [0.975, 1, 1.5, "0.98", "1.5"])
def test_a_bare_number_up_to_one_and_a_half_is_flagged_ambiguous(cell: object) -> None:
    rate = parse_rate(cell, "General", AMBIGUOUS_MAX)
    assert rate is not None
    assert rate.ambiguous


@pytest.mark.parametrize("cell", [1.51, 2, 97.5, "1.6", "1%", 0])
def test_a_bare_number_above_one_and_a_half_or_a_percent_text_is_not_ambiguous(cell: object) -> None:
    rate = parse_rate(cell, "General", AMBIGUOUS_MAX)
    assert rate is not None
    assert not rate.ambiguous


@pytest.mark.parametrize("cell", [None, "", "-", "/"])
def test_an_empty_rate_is_not_filled(cell: object) -> None:
    assert parse_rate(cell, "0.00%", AMBIGUOUS_MAX) is None


@pytest.mark.parametrize("cell", ["高", "约98%", "98%%", True])
def test_a_rate_that_is_not_a_number_is_a_rate_error(cell: object) -> None:
    assert rule_of(parse_rate, cell, "General", AMBIGUOUS_MAX) == "format/rate"


def test_an_evaluated_formula_rate_uses_the_cells_percent_format() -> None:
    rate = parse_rate(D(79) / D(81), "0.00%", AMBIGUOUS_MAX)
    assert rate is not None
    assert rate.decimals == 2
    assert not rate.ambiguous
    assert round(rate.percent, 2) == D("97.53")


def test_an_indicator_value_in_a_percent_cell_is_read_in_percent_as_shown() -> None:
    assert parse_measure(0.975, "0.0%") == (D("97.5"), 1, "97.5%")
    assert parse_measure("≥95%", "General") == (D(95), 0, "≥95%")
    assert parse_measure("按期完成", "General") == (None, None, "按期完成")


# --- years and dates ------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", [2023, 2023.0, "2023", "2023年", "2023年度", " ２０２３年度 ", D(2023)])
def test_a_year_is_read_from_every_written_form(cell: object) -> None:
    assert parse_year(cell) == 2023


@pytest.mark.parametrize("cell", ["二〇二三", "23年", "2023-2024", "2023年度预算", 2023.5, "FY2023"])
def test_a_year_in_another_form_is_a_year_error(cell: object) -> None:
    assert rule_of(parse_year, cell) == "format/year"


def test_an_empty_year_is_not_filled() -> None:
    assert parse_year(None) is None


@pytest.mark.parametrize(
    "cell",
    [
        dt.date(2024, 3, 15),
        dt.datetime(2024, 3, 15, 0, 0),
        "2024-03-15",
        "2024-3-15",
        "2024年3月15日",
        "2024年03月15日",
        "２０２４年３月１５日",
    ],
)
def test_a_date_is_read_from_a_date_cell_or_either_text_form(cell: object) -> None:
    assert parse_date(cell) == dt.date(2024, 3, 15)


@pytest.mark.parametrize("cell", ["2024-02-30", "三月十五日", "15/03/2024", "2024年3月", "明天"])
def test_a_date_in_another_form_is_a_date_error(cell: str) -> None:
    assert rule_of(parse_date, cell) == "format/date"


def test_an_empty_date_is_not_filled() -> None:
    assert parse_date("") is None
