"""Spec §1 reading rules, through real .xlsx files: finding sheets, labels, headers, rows and cells.

Most tests take the seed bureau's plain workbook (`build_workbook(seed_figures())`), change its layout
with openpyxl, save it into tmp_path, and read it back: what is read must not change, and what is
wrong must be reported at its cell. In the plain layout the 收支总表 has 项目 | 年初预算数 | 全年预算数 |
全年执行数 in row 1 and its rows in template order from row 2 (一般公共预算财政拨款收入 … 年末结转和结余).
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pytest
from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from checks.findings import Finding, Severity
from checks.records import Located, ReadSubmission
from checks.template import Tolerances, default_template
from checks.validate import validate_batch
from tests.support import check_one, rules_of
from workbooks.reader import read_submission
from workbooks.samples import MESSY, Layout, build_workbook, seed_figures

D = Decimal
SUMMARY_ROW = {
    key: 2 + i for i, key in enumerate(default_template().sheets["summary"].rows)
}  # plain layout: row of each key


# --- helpers --------------------------------------------------------------------------------------


def seed_book(layout: Layout = Layout()) -> Workbook:
    return build_workbook(seed_figures(), layout)


def sheet_of(book: Workbook, title: str) -> Worksheet:
    sheet = book[title]
    assert isinstance(sheet, Worksheet)
    return sheet


def save(book: Workbook, tmp_path: Path, name: str = "book.xlsx") -> Path:
    path = tmp_path / name
    book.save(path)
    return path


def read(book: Workbook, tmp_path: Path, name: str = "book.xlsx") -> ReadSubmission:
    return read_submission(save(book, tmp_path, name))


def what(located: Located | None) -> tuple[Any, int | None, str | None] | None:
    """A read value without its cell."""
    return None if located is None else (located.value, located.decimals, located.text)


def values_of(submission: ReadSubmission) -> dict[str, Any]:
    """Everything read, cells aside."""
    return {
        "unit": submission.unit,
        "cover": {k: what(v) for k, v in submission.cover.items()},
        "summary": {k: what(v) for k, v in submission.grids["summary"].items()},
        "three_public": {k: what(v) for k, v in submission.grids["three_public"].items()},
        "projects": [({k: what(v) for k, v in r.values.items()}, r.is_total) for r in submission.lists["projects"]],
        "indicators": [({k: what(v) for k, v in r.values.items()}, r.is_total) for r in submission.lists["indicators"]],
        "result": {k: what(v) for k, v in submission.fields["result"].items()},
    }


def plain_values(tmp_path: Path) -> dict[str, Any]:
    return values_of(read(seed_book(), tmp_path, "plain.xlsx"))


def findings(submission: ReadSubmission) -> list[tuple[str, Severity, str | None, tuple[str, ...]]]:
    return [(f.rule, f.severity, f.sheet, f.cells) for f in submission.findings]


def only(submission: ReadSubmission, rule: str) -> Finding:
    matching = [f for f in submission.findings if f.rule == rule]
    assert len(matching) == 1, findings(submission)
    return matching[0]


def summary_value(submission: ReadSubmission, row: str, column: str = "actual") -> Any:
    return submission.grids["summary"][(row, column)].value


def rewrite(sheet: Worksheet, rows: list[list[Any]]) -> None:
    """Replace every cell of a sheet by `rows` (values only)."""
    sheet.delete_rows(1, sheet.max_row)
    for row in rows:
        sheet.append(row)


def cells_of(sheet: Worksheet) -> list[list[Any]]:
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def cover_book(rows: list[tuple[int, int, Any]], merges: tuple[str, ...] = ()) -> Workbook:
    """The seed workbook with its cover replaced by cells (row, column, value)."""
    book = seed_book()
    cover = sheet_of(book, "封面")
    rewrite(cover, [])
    for row, col, value in rows:
        cover.cell(row, col, value)
    for merge in merges:
        cover.merge_cells(merge)
    return book


# --- workbook: sheets -----------------------------------------------------------------------------


def test_sheets_are_found_by_name_in_any_order(tmp_path: Path) -> None:
    book = seed_book()
    for title in list(book.sheetnames):  # each to the front: 自评结果 … 封面
        book.move_sheet(title, -book.sheetnames.index(title))
    assert book.sheetnames[0] == "自评结果"

    submission = read(book, tmp_path)

    assert list(submission.sheets) == ["cover", "summary", "three_public", "projects", "indicators", "result"]
    assert values_of(submission) == plain_values(tmp_path)
    assert findings(submission) == []


@pytest.mark.parametrize(
    ("key", "title", "alias"),
    [
        ("cover", "封面", "基本信息"),
        ("cover", "封面", "Cover"),
        ("summary", "收支总表", "收入支出决算总表"),
        ("summary", "收支总表", "收支决算总表"),
        ("summary", "收支总表", "一、收支总表"),
        ("three_public", "三公经费", '"三公"经费支出决算表'),
        ("three_public", "三公经费", "财政拨款“三公”经费支出决算表"),
        ("three_public", "三公经费", "三 公 经 费"),
        ("projects", "项目支出", "项目支出明细"),
    ],
)
def test_a_sheet_is_found_by_its_alias_or_a_differently_spaced_name(
    tmp_path: Path, key: str, title: str, alias: str
) -> None:
    book = seed_book()
    sheet_of(book, title).title = alias

    submission = read(book, tmp_path)

    assert submission.sheets[key] == alias
    assert values_of(submission) == plain_values(tmp_path)


def test_extra_sheets_are_ignored(tmp_path: Path) -> None:
    book = seed_book()
    notes = book.create_sheet("填表说明", 0)
    notes.append(["项目", "年初预算数", "说明"])
    notes.append(["一般公共预算财政拨款收入", "abc", "不读本表"])
    book.create_sheet("Sheet1").append(["=VLOOKUP(1,A1:B2,2)"])
    book.create_sheet("收支总表（上年）").append(["项目", "全年执行数"])

    submission = read(book, tmp_path)

    assert set(submission.sheets.values()) == {"封面", "收支总表", "三公经费", "项目支出", "绩效指标", "自评结果"}
    assert values_of(submission) == plain_values(tmp_path)
    assert findings(submission) == []


@pytest.mark.parametrize("state", ["hidden", "veryHidden"])
def test_hidden_sheets_are_read_like_the_others(tmp_path: Path, state: Literal["hidden", "veryHidden"]) -> None:
    book = seed_book()
    for title in ("收支总表", "三公经费", "绩效指标"):
        sheet_of(book, title).sheet_state = state

    submission = read(book, tmp_path)

    assert submission.sheets["summary"] == "收支总表"
    assert values_of(submission) == plain_values(tmp_path)


@pytest.mark.parametrize("title", ["封面", "收支总表", "三公经费", "项目支出", "绩效指标"])
def test_a_missing_required_sheet_is_a_required_error(tmp_path: Path, title: str) -> None:
    book = seed_book()
    book.remove(sheet_of(book, title))

    report = check_one(save(book, tmp_path))

    missing = [f for f in report.findings if f.rule == "required/sheet"]
    assert [(f.severity, f.sheet, f.cells) for f in missing] == [(Severity.ERROR, None, ())]
    assert f"“{title}”" in missing[0].message
    assert report.status == "failed"


def test_a_missing_optional_sheet_is_no_finding(tmp_path: Path) -> None:
    book = seed_book()
    book.remove(sheet_of(book, "自评结果"))

    report = check_one(save(book, tmp_path))

    assert "required/sheet" not in rules_of(report)


# --- cover: labels in columns A–D, value the next non-empty cell to the right -------------------

COVER: list[tuple[str, str | int]] = [
    ("单位名称", "沅江市科学技术和工业信息化局"),
    ("单位编码", "430981-013"),
    ("年度", 2023),
    ("填报人", "李明"),
    ("电子邮箱", "kgxj@yuanjiang.example.cn"),
]


@pytest.mark.parametrize("label_col", [1, 2, 3, 4])
@pytest.mark.parametrize("gap", [0, 2])
def test_a_cover_label_in_any_of_columns_a_to_d_reads_the_next_filled_cell_to_its_right(
    tmp_path: Path, label_col: int, gap: int
) -> None:
    book = cover_book([(2 + i, label_col, label) for i, (label, _) in enumerate(COVER)])
    cover = sheet_of(book, "封面")
    cover.cell(1, 1, "2023年度部门决算及绩效自评表")
    for i, (_, value) in enumerate(COVER):
        cover.cell(2 + i, label_col + 1 + gap, value)
        if gap:
            cover.cell(2 + i, label_col + 1, "  ")  # a cell holding only spaces is empty too

    submission = read(book, tmp_path)

    value_col = "ABCDEFG"[label_col + gap]
    assert submission.cover["bureau_name"] == Located("沅江市科学技术和工业信息化局", f"{value_col}2")
    assert submission.cover["fiscal_year"] == Located(2023, f"{value_col}4")
    assert submission.bureau_code == "430981-013"
    assert "required/cover" not in rules_of(check_one(save(book, tmp_path, "checked.xlsx")))


def test_a_cover_label_beyond_column_d_is_not_a_label(tmp_path: Path) -> None:
    book = cover_book([(1 + i, 5, label) for i, (label, _) in enumerate(COVER)])
    for i, (_, value) in enumerate(COVER):
        sheet_of(book, "封面").cell(1 + i, 6, value)

    report = check_one(save(book, tmp_path))

    assert report.bureau_code is None
    assert rules_of(report).count("required/cover") == len(COVER)


def test_a_cover_label_merged_across_columns_reads_the_cell_right_of_the_merge(tmp_path: Path) -> None:
    rows = [(1 + i, 1, label) for i, (label, _) in enumerate(COVER)] + [
        (1 + i, 4, value) for i, (_, value) in enumerate(COVER)
    ]
    book = cover_book(rows, merges=tuple(f"A{1 + i}:C{1 + i}" for i in range(len(COVER))))

    submission = read(book, tmp_path)

    assert submission.cover["bureau_name"] == Located("沅江市科学技术和工业信息化局", "D1")
    assert submission.cover["email"] == Located("kgxj@yuanjiang.example.cn", "D5")


def test_a_cover_value_merged_across_columns_is_read_at_its_top_left_cell(tmp_path: Path) -> None:
    rows = [(1 + i, 1, label) for i, (label, _) in enumerate(COVER)] + [
        (1 + i, 2, value) for i, (_, value) in enumerate(COVER)
    ]
    book = cover_book(rows, merges=tuple(f"B{1 + i}:D{1 + i}" for i in range(len(COVER))))

    submission = read(book, tmp_path)

    assert submission.cover["bureau_name"] == Located("沅江市科学技术和工业信息化局", "B1")


def test_a_cover_label_with_a_colon_spaces_and_full_width_characters_is_found(tmp_path: Path) -> None:
    book = cover_book(
        [(1, 2, " 单位名称："), (1, 3, "沅江市科学技术和工业信息化局"), (2, 1, "　预算年度："), (2, 2, "２０２３年度")]
    )

    submission = read(book, tmp_path)

    assert submission.cover["bureau_name"].value == "沅江市科学技术和工业信息化局"
    assert submission.cover["fiscal_year"] == Located(2023, "B2")


def test_two_labels_on_one_cover_row_each_read_their_own_value(tmp_path: Path) -> None:
    book = cover_book(
        [
            (1, 1, "单位名称"),
            (1, 2, "沅江市科学技术和工业信息化局"),
            (1, 3, "单位编码"),
            (1, 4, "430981-013"),
            (2, 1, "填报人"),
            (2, 3, "联系电话"),  # 填报人 left blank: its value is not the next label
            (2, 4, "0737-2721234"),
        ]
    )

    submission = read(book, tmp_path)

    assert submission.cover["bureau_name"] == Located("沅江市科学技术和工业信息化局", "B1")
    assert submission.cover["bureau_code"] == Located("430981-013", "D1")
    assert submission.cover["contact"] == Located(None, "B2")
    assert submission.cover["phone"] == Located("0737-2721234", "D2")


def test_a_cover_label_and_its_value_in_one_cell_are_read_from_that_cell(tmp_path: Path) -> None:
    book = cover_book([(1, 1, "单位名称"), (1, 2, "沅江市交通运输局"), (2, 1, "金额单位：元"), (3, 1, "年度： 2023年")])

    submission = read(book, tmp_path)

    assert submission.cover["unit"] == Located("元", "A2")
    assert submission.cover["fiscal_year"] == Located(2023, "A3")
    assert submission.unit == "元"


@pytest.mark.parametrize("code", ["0430981013", "43098101300000000001", "007", "0737-0001"])
def test_a_bureau_code_typed_as_text_stays_exact_text(tmp_path: Path, code: str) -> None:
    book = seed_book()
    sheet_of(book, "封面")["B2"] = code

    report = check_one(save(book, tmp_path))

    assert report.bureau_code == code
    assert read_submission(Path(report.file)).cover["bureau_code"] == Located(code, "B2")
    assert "format/bureau-code" not in rules_of(report)


@pytest.mark.parametrize(("cell", "year"), [(2023, 2023), (2023.0, 2023), ("2023年", 2023), ("2023年度", 2023)])
def test_the_fiscal_year_is_read_in_each_written_form(tmp_path: Path, cell: Any, year: int) -> None:
    book = seed_book()
    sheet_of(book, "封面")["B4"] = cell

    report = check_one(save(book, tmp_path))

    assert report.fiscal_year == year
    assert not [f for f in report.findings if f.sheet == "封面"]


def test_a_fiscal_year_in_another_form_is_a_year_error_at_its_cell(tmp_path: Path) -> None:
    book = seed_book()
    sheet_of(book, "封面")["B4"] = "二〇二三年"

    submission = read(book, tmp_path)

    year = only(submission, "format/year")
    assert (year.severity, year.sheet, year.cells) == (Severity.ERROR, "封面", ("B4",))
    assert "二〇二三年" in year.message
    assert submission.fiscal_year is None


@pytest.mark.parametrize("cell", [dt.datetime(2024, 3, 15), "2024-03-15", "2024年3月15日"])
def test_the_submission_date_is_read_from_a_date_cell_or_text(tmp_path: Path, cell: Any) -> None:
    book = seed_book()
    sheet_of(book, "封面")["B9"] = cell

    submission = read(book, tmp_path)

    assert submission.cover["submitted_on"] == Located(dt.date(2024, 3, 15), "B9")
    assert findings(submission) == []


def test_a_submission_date_in_another_form_is_a_date_warning_at_its_cell(tmp_path: Path) -> None:
    book = seed_book()
    sheet_of(book, "封面")["B9"] = "三月十五日"

    submission = read(book, tmp_path)

    assert findings(submission) == [("format/date", Severity.WARNING, "封面", ("B9",))]


# --- table sheets: the header row -----------------------------------------------------------------


@pytest.mark.parametrize("title_rows", [1, 3, 14])
def test_the_header_row_is_found_below_inserted_title_rows(tmp_path: Path, title_rows: int) -> None:
    book = seed_book()
    for title in ("收支总表", "三公经费", "项目支出", "绩效指标"):
        sheet = sheet_of(book, title)
        sheet.insert_rows(1, title_rows)
        sheet.cell(1, 1, f"{title}（2023年度）")
        sheet.cell(title_rows, 1, "金额单位：万元")

    submission = read(book, tmp_path)

    assert values_of(submission) == plain_values(tmp_path)
    assert submission.grids["summary"][("inc_general", "budget_initial")].cell == f"B{2 + title_rows}"
    assert submission.lists["projects"][0].values["rate"].cell == f"F{2 + title_rows}"
    assert findings(submission) == []


def test_a_header_row_below_the_first_fifteen_rows_is_not_found(tmp_path: Path) -> None:
    book = seed_book()
    sheet_of(book, "收支总表").insert_rows(1, 15)  # the header is now row 16

    report = check_one(save(book, tmp_path))

    header = [f for f in report.findings if f.rule == "required/header"]
    assert [(f.severity, f.sheet) for f in header] == [(Severity.ERROR, "收支总表")]
    assert "15" in header[0].message
    assert "summary" not in read_submission(Path(report.file)).grids


def test_a_title_row_with_the_label_header_but_no_amount_header_is_not_the_header(tmp_path: Path) -> None:
    book = seed_book()
    sheet = sheet_of(book, "收支总表")
    sheet.insert_rows(1, 2)
    sheet["A1"] = "项目"  # 项目 alone: not yet the header
    sheet["B1"] = "沅江市科学技术和工业信息化局"

    submission = read(book, tmp_path)

    assert submission.grids["summary"][("inc_general", "budget_initial")] == Located(D("1160.21"), "B4")


def test_amount_columns_are_found_by_header_wherever_they_are(tmp_path: Path) -> None:
    book = seed_book()
    sheet = sheet_of(book, "收支总表")
    rows = cells_of(sheet)
    # 序号 | 项目 | 栏次 | 全年执行数 | 备注 | 年初预算数 | 全年预算数
    moved = [
        [i or "序号", r[0], "栏次" if i == 0 else i, r[3], "备注" if i == 0 else None, r[1], r[2]]
        for i, r in enumerate(rows)
    ]
    rewrite(sheet, moved)
    three = sheet_of(book, "三公经费")
    rewrite(three, [[r[2], r[0], r[1]] for r in cells_of(three)])  # 决算数 | 项目 | 预算数

    submission = read(book, tmp_path)

    assert values_of(submission) == plain_values(tmp_path)
    assert submission.grids["summary"][("inc_general", "actual")].cell == "D2"
    assert submission.grids["summary"][("inc_general", "budget_initial")].cell == "F2"
    assert submission.grids["summary"][("inc_general", "budget_full")].cell == "G2"
    assert submission.grids["three_public"][("reception", "actual")] == Located(D("11.84"), "A6")
    assert submission.column_letters["summary"] == {"actual": "D", "budget_initial": "F", "budget_full": "G"}


def test_amount_columns_of_list_sheets_are_found_by_header_wherever_they_are(tmp_path: Path) -> None:
    submission = read(seed_book(Layout(shuffle=True, leading_columns=1)), tmp_path)

    assert values_of(submission)["projects"] == plain_values(tmp_path)["projects"]
    assert submission.lists["projects"][0].values["actual"].cell == "C2"  # 序号 | 项目名称 | 全年执行数 | …


@pytest.mark.parametrize(
    "headers",
    [
        ("项 目", "年初预算数（万元）", "全年预算数（万元）", "全年执行数（万元）"),
        ("项目", "一、年初预算数", "调整后预算数", "决算数"),
        ("项目", "年初预算数 (万元)", "调整后预算数（万元）", "决算数（万元）"),
    ],
)
def test_header_labels_may_carry_a_unit_suffix_spaces_or_an_alias(tmp_path: Path, headers: tuple[str, ...]) -> None:
    book = seed_book()
    sheet = sheet_of(book, "收支总表")
    for col, text in enumerate(headers, start=1):
        sheet.cell(1, col, text)

    submission = read(book, tmp_path)

    assert values_of(submission) == plain_values(tmp_path)


# --- table sheets: item rows ----------------------------------------------------------------------


def test_rows_are_found_by_label_in_any_order(tmp_path: Path) -> None:
    book = seed_book()
    for title in ("收支总表", "三公经费"):
        sheet = sheet_of(book, title)
        header, *items = cells_of(sheet)
        rewrite(sheet, [header, *reversed(items)])

    submission = read(book, tmp_path)

    assert values_of(submission) == plain_values(tmp_path)
    assert submission.grids["summary"][("carry_out", "actual")].cell == "D2"
    assert submission.grids["summary"][("inc_general", "actual")].cell == "D20"
    assert findings(submission) == []


def test_row_labels_with_enumerators_spaces_and_aliases_are_found(tmp_path: Path) -> None:
    book = seed_book()
    sheet = sheet_of(book, "收支总表")
    labels = {
        "inc_general": "一、一般公共预算财政拨款",
        "inc_fund": "（二）政府性基金预算拨款",
        "inc_total": "收 入 合 计",
        "exp_basic": "1.基本支出",
        "exp_personnel": "　其中：人员经费 ",
        "exp_public": "　　　日常公用经费",
        "exp_project": "2、项目支出",
        "exp_total": "支出合计",
    }
    for key, label in labels.items():
        sheet.cell(SUMMARY_ROW[key], 1, label)

    submission = read(book, tmp_path)

    assert values_of(submission) == plain_values(tmp_path)


def test_blank_rows_and_note_rows_inside_the_table_are_skipped(tmp_path: Path) -> None:
    book = seed_book()
    sheet = sheet_of(book, "收支总表")
    sheet.insert_rows(SUMMARY_ROW["exp_basic"], 2)  # two blank rows between income and expenditure
    sheet.insert_rows(SUMMARY_ROW["inc_soe"], 1)
    sheet.cell(SUMMARY_ROW["inc_soe"], 1, "注：国有资本经营预算本年无收入。")
    sheet.insert_rows(SUMMARY_ROW["inc_higher"] + 1, 1)
    sheet.cell(SUMMARY_ROW["inc_higher"] + 1, 1, "注 ： 上级补助收入含省级转移支付")
    sheet.append([])
    sheet.append(["说明：本表金额单位为万元。"])

    submission = read(book, tmp_path)

    assert values_of(submission) == plain_values(tmp_path)
    assert findings(submission) == []
    assert submission.grids["summary"][("exp_basic", "actual")].cell == f"D{SUMMARY_ROW['exp_basic'] + 4}"


def test_an_unknown_row_inside_the_item_block_is_a_warning_naming_its_cell(tmp_path: Path) -> None:
    book = seed_book()
    sheet = sheet_of(book, "收支总表")
    sheet.insert_rows(5, 1)
    sheet["A5"] = "其他补助收入"
    sheet["D5"] = 100

    submission = read(book, tmp_path)

    unknown = only(submission, "format/unknown-row")
    assert (unknown.severity, unknown.sheet, unknown.cells) == (Severity.WARNING, "收支总表", ("A5",))
    assert "其他补助收入" in unknown.message
    assert "5" in unknown.message
    assert values_of(submission)["summary"] == plain_values(tmp_path)["summary"]
    assert (
        check_one(save(book, tmp_path, "checked.xlsx"))
        .flatten()
        .count(("format/unknown-row", "warning", "收支总表", "A5"))
        == 1
    )


def test_an_unknown_row_outside_the_item_block_is_ignored(tmp_path: Path) -> None:
    book = seed_book()
    sheet = sheet_of(book, "收支总表")
    sheet.insert_rows(2, 1)
    sheet["A2"] = "栏次"  # above the first item
    sheet["B2"] = 1
    sheet.append(["单位负责人：张三", "审核人：王五"])  # below the last item
    sheet.append(["合计（大写）", "壹仟壹佰陆拾万元"])

    submission = read(book, tmp_path)

    assert findings(submission) == []
    assert values_of(submission) == plain_values(tmp_path)


@pytest.mark.parametrize(
    ("title", "label", "key"),
    [
        ("收支总表", "其他收入", "inc_other"),
        ("收支总表", "本年支出合计", "exp_total"),
        ("三公经费", "公务接待费", "reception"),
    ],
)
def test_a_missing_required_row_is_a_required_error(tmp_path: Path, title: str, label: str, key: str) -> None:
    book = seed_book()
    sheet = sheet_of(book, title)
    row = next(r for r in range(1, sheet.max_row + 1) if sheet.cell(r, 1).value == label)
    sheet.delete_rows(row)

    report = check_one(save(book, tmp_path))

    missing = [f for f in report.findings if f.rule == "required/row"]
    assert [(f.severity, f.sheet) for f in missing] == [(Severity.ERROR, title)]
    assert f"“{label}”" in missing[0].message


def test_a_missing_optional_row_is_no_finding(tmp_path: Path) -> None:
    book = seed_book()
    sheet_of(book, "收支总表").delete_rows(SUMMARY_ROW["carry_in"])

    submission = read(book, tmp_path)

    assert findings(submission) == []
    assert ("carry_in", "actual") not in submission.grids["summary"]


# --- merged cells ---------------------------------------------------------------------------------


def test_a_merged_label_cell_counts_as_holding_its_top_left_value(tmp_path: Path) -> None:
    book = seed_book()
    sheet = sheet_of(book, "收支总表")
    sheet.insert_cols(2)  # 项目 spans A:B, amounts move to C:E
    for row in range(1, sheet.max_row + 1):
        sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=2)

    submission = read(book, tmp_path)

    assert values_of(submission) == plain_values(tmp_path)
    assert submission.grids["summary"][("inc_general", "budget_initial")].cell == "C2"


def test_a_merged_header_cell_over_two_rows_is_found(tmp_path: Path) -> None:
    book = seed_book()
    sheet = sheet_of(book, "收支总表")
    sheet.insert_rows(1, 1)
    sheet["A1"] = "项目"
    sheet.merge_cells("A1:A2")
    sheet["B1"] = "金额"
    sheet.merge_cells("B1:D1")

    submission = read(book, tmp_path)

    assert values_of(submission) == plain_values(tmp_path)


def test_merged_level1_cells_fill_down_and_blank_level2_cells_repeat_the_value_above(tmp_path: Path) -> None:
    submission = read(seed_book(Layout(merged_levels=True)), tmp_path)

    levels = [(r.value("level1"), r.value("level2")) for r in submission.lists["indicators"]]
    assert levels == [(i.level1, i.level2) for i in seed_figures().indicators]
    assert values_of(submission)["indicators"] == plain_values(tmp_path)["indicators"]
    assert submission.lists["indicators"][3].values["level1"].cell == "A2"  # the merged range's top-left cell


def test_a_blank_level1_cell_without_a_merge_repeats_the_value_above(tmp_path: Path) -> None:
    book = seed_book()
    sheet = sheet_of(book, "绩效指标")
    for row in range(3, 8):  # 产出指标 rows after the first
        sheet.cell(row, 1, None)
    for row in (3, 4, 5):  # 数量指标 rows after the first
        sheet.cell(row, 2, None)

    submission = read(book, tmp_path)

    levels = [(r.value("level1"), r.value("level2")) for r in submission.lists["indicators"]]
    assert levels == [(i.level1, i.level2) for i in seed_figures().indicators]


# --- list sheets: where the list ends ------------------------------------------------------------


def test_a_list_sheet_stops_at_the_first_blank_row(tmp_path: Path) -> None:
    book = seed_book()
    sheet = sheet_of(book, "项目支出")
    sheet.insert_rows(5, 1)  # after the third project

    submission = read(book, tmp_path)

    assert [r.value("name") for r in submission.lists["projects"]] == [p.name for p in seed_figures().projects[:3]]
    assert not any(r.is_total for r in submission.lists["projects"])


def test_a_list_sheet_stops_at_its_total_row(tmp_path: Path) -> None:
    book = seed_book()
    sheet = sheet_of(book, "项目支出")
    sheet.append(["不应读取的项目", None, 1, 1, 1, 1])

    submission = read(book, tmp_path)

    names = [r.value("name") for r in submission.lists["projects"]]
    assert names == [p.name for p in seed_figures().projects] + [None]
    assert submission.lists["projects"][-1].is_total
    assert submission.lists["projects"][-1].values["actual"] == Located(D("455.50"), "E8")


def test_a_list_sheet_stops_at_a_note_row(tmp_path: Path) -> None:
    book = seed_book()
    sheet = sheet_of(book, "项目支出")
    sheet.insert_rows(4, 1)
    sheet["A4"] = "注：以下为结转项目"

    submission = read(book, tmp_path)

    assert len(submission.lists["projects"]) == 2


# --- amounts --------------------------------------------------------------------------------------


def test_amounts_in_yuan_are_read_and_converted_exactly_to_wan_yuan(tmp_path: Path) -> None:
    plain = read(seed_book(), tmp_path, "plain.xlsx")
    submission = read(seed_book(Layout(unit="元")), tmp_path)

    assert submission.unit == "元"
    general = submission.grids["summary"][("inc_general", "budget_initial")]
    assert general == Located(D("11602100"), "B2")
    assert submission.to_wan(general.value) == D("1160.21")
    assert str(submission.to_wan(general.value)) == "1160.21"
    for key, located in plain.grids["summary"].items():
        assert submission.to_wan(submission.grids["summary"][key].value) == located.value, key
    for read_row, plain_row in zip(submission.lists["projects"], plain.lists["projects"], strict=True):
        assert submission.to_wan(read_row.value("budget_full")) == plain_row.value("budget_full")


def test_amounts_written_as_yuan_text_with_the_unit_read_like_numbers(tmp_path: Path) -> None:
    submission = read(seed_book(Layout(unit="元", amount_style="text", title_rows=1)), tmp_path)

    assert submission.grids["summary"][("inc_general", "budget_initial")].value == D("11602100")
    assert submission.to_wan(submission.grids["summary"][("exp_total", "actual")].value) == D("11658.78")
    assert findings(submission) == []


@pytest.mark.parametrize("style", ["text", "fullwidth"])
def test_amounts_written_as_text_read_like_numbers(tmp_path: Path, style: str) -> None:
    submission = read(seed_book(Layout(amount_style=style)), tmp_path)

    assert values_of(submission) == plain_values(tmp_path)
    assert findings(submission) == []


@pytest.mark.parametrize("cell", ["-", "—", "－", "/", "", "  "])
def test_a_dash_or_slash_amount_means_not_filled_and_is_not_zero(tmp_path: Path, cell: str) -> None:
    book = seed_book()
    sheet_of(book, "收支总表")["B2"] = cell

    submission = read(book, tmp_path)

    assert submission.grids["summary"][("inc_general", "budget_initial")] == Located(None, "B2")
    assert findings(submission) == []


def test_a_unit_on_an_amount_that_contradicts_the_cover_is_a_format_error_at_its_cell(tmp_path: Path) -> None:
    book = seed_book()
    sheet_of(book, "收支总表")["B2"] = "11602100元"

    submission = read(book, tmp_path)

    unit = only(submission, "format/unit")
    assert (unit.severity, unit.sheet, unit.cells) == (Severity.ERROR, "收支总表", ("B2",))
    assert "元" in unit.message and "万元" in unit.message
    assert submission.grids["summary"][("inc_general", "budget_initial")].value is None


def test_a_negative_amount_is_a_format_error_at_its_cell(tmp_path: Path) -> None:
    book = seed_book()
    sheet_of(book, "三公经费")["C6"] = -11.84

    submission = read(book, tmp_path)

    negative = only(submission, "format/negative")
    assert (negative.severity, negative.sheet, negative.cells) == (Severity.ERROR, "三公经费", ("C6",))
    assert "-11.84" in negative.message


def test_an_amount_that_is_not_a_number_is_a_format_error_naming_the_cell_and_its_text(tmp_path: Path) -> None:
    book = seed_book()
    sheet_of(book, "项目支出")["E3"] = "见附表"

    report = check_one(save(book, tmp_path))

    amount = next(f for f in report.findings if f.rule == "format/amount")
    assert (amount.severity, amount.sheet, amount.cells) == (Severity.ERROR, "项目支出", ("E3",))
    assert "见附表" in amount.message
    assert amount.actual == "见附表"


# --- percentages ----------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["percent-format", "text", "bare"])
def test_a_rate_reads_the_same_in_each_of_the_three_forms(tmp_path: Path, style: str) -> None:
    submission = read(seed_book(Layout(rate_style=style)), tmp_path)

    stated = [p.rate for p in seed_figures().projects] + ["98.96"]
    assert [r.value("rate") for r in submission.lists["projects"]] == [D(rate) for rate in stated]
    assert [r.values["rate"].decimals for r in submission.lists["projects"]] == [
        # A bare number in a General cell shows no trailing zeros: 100.00 is written 100.
        len(str(D(rate).normalize()).partition(".")[2]) if style == "bare" else 2
        for rate in stated
    ]
    assert findings(submission) == []


def test_a_bare_rate_up_to_one_and_a_half_is_an_ambiguous_warning_at_its_cell(tmp_path: Path) -> None:
    book = seed_book()
    sheet = sheet_of(book, "项目支出")
    sheet["F3"] = 0.97
    sheet["F3"].number_format = "General"

    submission = read(book, tmp_path)

    ambiguous = only(submission, "format/rate-ambiguous")
    assert (ambiguous.severity, ambiguous.sheet, ambiguous.cells) == (Severity.WARNING, "项目支出", ("F3",))
    assert "0.97" in ambiguous.message and "97" in ambiguous.message


def test_an_uncached_rate_formula_keeps_its_percent_format(tmp_path: Path) -> None:
    book = seed_book()
    sheet = sheet_of(book, "项目支出")
    sheet["F5"] = "=E5/D5"  # 138 / 140.27, shown as 98.38%
    sheet["F5"].number_format = "0.00%"

    report = check_one(save(book, tmp_path))
    submission = read_submission(Path(report.file))

    rate = submission.lists["projects"][3].values["rate"]
    assert (round(rate.value, 2), rate.decimals, rate.cell) == (D("98.38"), 2, "F5")
    assert not [f for f in report.findings if f.sheet == "项目支出"]


# --- every value keeps its sheet and cell ---------------------------------------------------------


def test_every_value_keeps_its_sheet_and_a1_cell(tmp_path: Path) -> None:
    submission = read(seed_book(), tmp_path)

    assert submission.sheets == {
        "cover": "封面",
        "summary": "收支总表",
        "three_public": "三公经费",
        "projects": "项目支出",
        "indicators": "绩效指标",
        "result": "自评结果",
    }
    assert submission.cover["fiscal_year"] == Located(2023, "B4")
    assert submission.grids["summary"][("inc_total", "budget_initial")] == Located(D("1245.61"), "B10")
    assert submission.grids["summary"][("exp_total", "actual")] == Located(D("11658.78"), "D18")
    assert submission.grids["three_public"][("reception", "actual")] == Located(D("11.84"), "C6")
    assert submission.lists["projects"][3].values["rate"] == Located(D("98.38"), "F5", 2)
    assert submission.lists["indicators"][4].values["result"] == Located(D("97.5"), "F6", 1, "97.5")
    assert submission.fields["result"]["total"] == Located(D(99), "B2")
    everything = [
        *submission.cover.values(),
        *submission.grids["summary"].values(),
        *submission.grids["three_public"].values(),
        *(v for r in submission.lists["projects"] for v in r.values.values()),
        *(v for r in submission.lists["indicators"] for v in r.values.values()),
        *submission.fields["result"].values(),
    ]
    assert all(re.fullmatch(r"[A-Z]{1,3}[1-9]\d*", v.cell or "") for v in everything)


def test_a_finding_names_the_sheet_as_titled_in_the_file(tmp_path: Path) -> None:
    book = seed_book()
    sheet_of(book, "收支总表").title = "收入支出决算总表"

    report = check_one(save(book, tmp_path))

    assert report.flatten()[0] == ("sum/income", "error", "收入支出决算总表", "B10")


# --- formulas -------------------------------------------------------------------------------------


def test_uncached_arithmetic_and_sum_formulas_are_evaluated_not_read_as_empty(tmp_path: Path) -> None:
    book = seed_book()
    sheet = sheet_of(book, "收支总表")
    row = SUMMARY_ROW
    sheet[f"D{row['inc_total']}"] = f"=SUM(D{row['inc_general']}:D{row['inc_other']})"
    sheet[f"D{row['exp_basic']}"] = f"=D{row['exp_personnel']}+D{row['exp_public']}"
    sheet[f"D{row['exp_total']}"] = f"=SUM($D${row['exp_basic']},D{row['exp_project']}:D{row['exp_affiliate']})"
    sheet[f"C{row['exp_total']}"] = f"=(C{row['exp_basic']}+C{row['exp_project']})*1"
    three = sheet_of(book, "三公经费")
    three["C7"] = "=C2+C3+C6"

    submission = read(book, tmp_path)

    assert values_of(submission) == plain_values(tmp_path)
    assert findings(submission) == []


def test_the_sample_formula_layout_reads_the_same_values(tmp_path: Path) -> None:
    layout = Layout(formula_totals=frozenset({"exp_total", "exp_basic", "inc_total", "total", "vehicle"}))
    submission = read(seed_book(layout), tmp_path)

    summary = values_of(submission)["summary"]
    plain = plain_values(tmp_path)["summary"]
    assert {k: v for k, v in summary.items() if k[0] != "inc_total"} == {
        k: v for k, v in plain.items() if k[0] != "inc_total"
    }
    assert summary_value(submission, "inc_total", "budget_initial") == D("1160.21")  # the components' sum


def test_uncached_formulas_may_refer_to_other_sheets(tmp_path: Path) -> None:
    book = seed_book()
    data = book.create_sheet("基础 数据")
    data["A1"] = 2439.23
    data["A2"] = "118"
    data["B1"] = 8
    sheet = sheet_of(book, "收支总表")
    sheet["D2"] = "='基础 数据'!A1"
    sheet["D3"] = "='基础 数据'!A2"
    sheet["D4"] = "=SUM('基础 数据'!B1:B3)"
    sheet["D14"] = "=项目支出!E8*0+10757.67"
    sheet_of(book, "项目支出")["E8"] = "=SUM(E2:E7)"

    submission = read(book, tmp_path)

    assert values_of(submission) == plain_values(tmp_path)
    assert findings(submission) == []


def test_a_formula_other_than_arithmetic_is_a_format_error_telling_the_clerk_to_open_and_save(
    tmp_path: Path,
) -> None:
    book = seed_book()
    sheet_of(book, "收支总表")["D2"] = "=VLOOKUP(A2,数据!A:B,2,FALSE)"

    report = check_one(save(book, tmp_path))

    formula = [f for f in report.findings if f.rule == "format/formula"]
    assert [(f.severity, f.sheet, f.cells) for f in formula] == [(Severity.ERROR, "收支总表", ("D2",))]
    assert "VLOOKUP" in formula[0].message
    assert "打开" in formula[0].message and "保存" in formula[0].message
    assert report.status == "failed"
    assert read_submission(Path(report.file)).grids["summary"][("inc_general", "actual")] == Located(None, "D2")


def test_a_formula_referring_to_a_missing_sheet_is_a_format_error(tmp_path: Path) -> None:
    book = seed_book()
    sheet_of(book, "三公经费")["C6"] = "=接待明细!B9"

    submission = read(book, tmp_path)

    assert findings(submission) == [("format/formula", Severity.ERROR, "三公经费", ("C6",))]


def with_cached_value(path: Path, cell: str, cached: str) -> None:
    """Give the uncached formula at `cell` of the first sheet holding it the cached value `cached`."""
    with zipfile.ZipFile(path) as source:
        parts = {info.filename: source.read(info.filename) for info in source.infolist()}
    pattern = re.compile(rf'(<c r="{cell}"[^>]*>\s*<f>[^<]*</f>)\s*<v\s*/>'.encode())
    for name, data in parts.items():
        if name.startswith("xl/worksheets/") and pattern.search(data):
            parts[name] = pattern.sub(rb"\1<v>" + cached.encode() + rb"</v>", data, count=1)
            break
    else:
        raise AssertionError(f"no uncached formula at {cell}")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)


def test_a_formula_with_a_cached_value_is_read_as_that_value(tmp_path: Path) -> None:
    book = seed_book()
    sheet_of(book, "收支总表")["D2"] = "=VLOOKUP(A2,数据!A:B,2,FALSE)"
    path = save(book, tmp_path)
    with_cached_value(path, "D2", "2439.23")

    submission = read_submission(path)

    assert submission.grids["summary"][("inc_general", "actual")] == Located(D("2439.23"), "D2")
    assert findings(submission) == []


# --- the messy layout -----------------------------------------------------------------------------


def test_the_messy_layout_reads_the_same_values_as_the_plain_layout(tmp_path: Path) -> None:
    messy = read(seed_book(MESSY), tmp_path, "messy.xlsx")

    assert values_of(messy) == plain_values(tmp_path)
    assert findings(messy) == []
    assert messy.sheets["summary"] == "收入支出决算总表"
    assert messy.grids["summary"][("inc_general", "budget_initial")].cell != "B2"


def test_the_messy_layout_in_yuan_reads_the_same_amounts_in_wan_yuan(tmp_path: Path) -> None:
    plain = read(seed_book(), tmp_path, "plain.xlsx")
    messy = read(seed_book(replace(MESSY, unit="元")), tmp_path, "messy.xlsx")

    assert messy.unit == "元"
    assert {k: messy.to_wan(v.value) for k, v in messy.grids["summary"].items()} == {
        k: v.value for k, v in plain.grids["summary"].items()
    }
    assert findings(messy) == []


def test_the_messy_layout_gives_the_same_findings_as_the_plain_layout(tmp_path: Path) -> None:
    plain = check_one(save(seed_book(), tmp_path, "plain.xlsx"))
    messy = check_one(save(seed_book(MESSY), tmp_path, "messy.xlsx"))

    assert [(f.rule, f.severity, f.expected, f.actual) for f in messy.findings] == [
        (f.rule, f.severity, f.expected, f.actual) for f in plain.findings
    ]


# --- workbook formats -----------------------------------------------------------------------------

MACRO_WORKBOOK = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
PLAIN_WORKBOOK = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"


def test_a_macro_enabled_xlsm_workbook_is_read_like_an_xlsx(tmp_path: Path) -> None:
    source = save(seed_book(), tmp_path, "plain.xlsx")
    path = tmp_path / "book.xlsm"
    with zipfile.ZipFile(source) as plain, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as macro:
        for info in plain.infolist():
            data = plain.read(info.filename)
            if info.filename == "[Content_Types].xml":
                assert PLAIN_WORKBOOK.encode() in data
                data = data.replace(PLAIN_WORKBOOK.encode(), MACRO_WORKBOOK.encode())
            macro.writestr(info.filename, data)
        macro.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0 not a real macro project, never run")

    submission = read_submission(path)

    assert submission.unreadable is None
    assert values_of(submission) == plain_values(tmp_path)


def test_the_cover_unit_governs_amounts_even_when_the_cover_is_the_last_sheet(tmp_path: Path) -> None:
    plain = read(seed_book(), tmp_path, "plain.xlsx")
    book = seed_book(Layout(unit="元", amount_style="text"))
    book.move_sheet("封面", len(book.sheetnames) - 1)
    assert book.sheetnames[-1] == "封面"

    submission = read(book, tmp_path)

    assert submission.unit == "元"
    assert findings(submission) == []
    assert {k: submission.to_wan(v.value) for k, v in submission.grids["summary"].items()} == {
        k: v.value for k, v in plain.grids["summary"].items()
    }


# --- tolerances -----------------------------------------------------------------------------------


def flat(book: Workbook, tmp_path: Path) -> list[tuple[str, str, str | None, str | None]]:
    return check_one(save(book, tmp_path, "tolerance.xlsx")).flatten()


@pytest.mark.parametrize(("basic", "fails"), [(901.12, False), (901.125, False), (901.13, True)])
def test_a_sum_may_differ_by_half_a_cent_per_component_plus_one(tmp_path: Path, basic: float, fails: bool) -> None:
    book = seed_book()
    sheet_of(book, "收支总表")[f"D{SUMMARY_ROW['exp_basic']}"] = basic  # 781.88 + 119.23 = 901.11; n = 2

    found = flat(book, tmp_path)

    assert (("sum/basic", "error", "收支总表", "D11") in found) is fails


def test_a_sum_tolerance_is_in_the_declared_units_scale(tmp_path: Path) -> None:
    book = seed_book(Layout(unit="元"))
    sheet_of(book, "收支总表")[f"D{SUMMARY_ROW['exp_basic']}"] = 9011101  # one 元 more than 7818800 + 1192300

    assert ("sum/basic", "error", "收支总表", "D11") in flat(book, tmp_path)


@pytest.mark.parametrize(("actual", "fails"), [(12.004, False), (12.005, False), (12.01, True)])
def test_an_amount_may_exceed_its_ceiling_by_half_a_cent(tmp_path: Path, actual: float, fails: bool) -> None:
    book = seed_book()
    sheet = sheet_of(book, "三公经费")
    sheet["C6"] = actual  # 公务接待费 决算数, 预算数 12
    sheet["C7"] = actual  # 合计

    found = flat(book, tmp_path)

    assert (("ceiling/three-public", "error", "三公经费", "C6") in found) is fails


@pytest.mark.parametrize(
    ("stated", "number_format", "fails"),
    [
        ("97.5%", "General", False),
        ("97.53%", "General", False),
        ("98%", "General", False),
        ("97.6%", "General", True),
        ("97.54%", "General", True),
        (97.5, "General", False),
        (97.6, "General", True),
        (0.975, "0.0%", False),
        (0.9753, "0.00%", False),
        (0.98, "0%", False),
        (0.976, "0.0%", True),
        (0.9754, "0.00%", True),
    ],
)
def test_a_stated_rate_may_differ_by_half_a_unit_of_its_last_written_decimal(
    tmp_path: Path, stated: Any, number_format: str, fails: bool
) -> None:
    book = seed_book()
    sheet = sheet_of(book, "绩效指标")
    sheet["F6"] = stated  # 企业问题解决率 实际完成值; 分子 79 / 分母 81 = 97.5309 %
    sheet["F6"].number_format = number_format

    found = flat(book, tmp_path)

    assert (("rate/indicator", "error", "绩效指标", "F6") in found) is fails


@pytest.mark.parametrize(("stated", "fails"), [("98.38%", False), ("98.4%", False), ("98%", False), ("98.39%", True)])
def test_a_project_rate_is_checked_to_the_precision_it_states(tmp_path: Path, stated: str, fails: bool) -> None:
    book = seed_book()
    sheet_of(book, "项目支出")["F5"] = stated  # 科技三项费: 138 / 140.27 = 98.3817 %

    found = flat(book, tmp_path)

    assert (("rate/project-execution", "error", "项目支出", "F5") in found) is fails


def test_tolerances_come_from_the_template_settings(tmp_path: Path) -> None:
    book = seed_book()
    sheet_of(book, "收支总表")[f"D{SUMMARY_ROW['exp_basic']}"] = 901.12
    path = save(book, tmp_path)
    strict = default_template().model_copy(update={"tolerances": Tolerances(sum_per_term=0.001)})

    default_report = check_one(path)
    strict_report = validate_batch([read_submission(path, strict)], strict)[0]

    assert ("sum/basic", "error", "收支总表", "D11") not in default_report.flatten()
    assert ("sum/basic", "error", "收支总表", "D11") in strict_report.flatten()


def test_an_uncached_array_formula_is_evaluated_like_any_other(tmp_path: Path) -> None:
    from openpyxl.worksheet.formula import ArrayFormula

    book = seed_book()
    sheet_of(book, "收支总表")["B10"] = ArrayFormula("B10", "=SUM(B2:B9)")  # the seed's 1245.61 becomes consistent

    report = check_one(save(book, tmp_path))

    assert report.findings == []


def test_a_workbook_is_recognised_by_its_content_not_its_file_name(tmp_path: Path) -> None:
    path = save(seed_book(), tmp_path, "科工信局提交件")  # no extension, as mail gateways sometimes deliver

    assert rules_of(check_one(path)) == ["sum/income", "balance/income-expense"]
