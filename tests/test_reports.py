"""The reports, written as real files and opened again: the annotated copy of a bureau's own workbook,
the submission page, and the period report (workbook and HTML page).

The seed workbook is the plain spec-v1 layout (see tests/test_rules.py for its cells): 收支总表!B10 is the
年初预算数 income total 1245.61 whose components make 1160.21 (`sum/income`, an error) and which does not
balance the expenditure total in B18 (`balance/income-expense`, a warning).
"""

from __future__ import annotations

import re
import shutil
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from markupsafe import escape
from openpyxl.cell.cell import Cell, MergedCell
from openpyxl.chart import BarChart
from openpyxl.utils.cell import get_column_letter, range_boundaries
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from checks.findings import FileReport, Finding, Severity
from checks.period import BureauLine, PeriodReport
from reports.annotate import (
    ERROR_FILL,
    MAX_CELLS_PER_RANGE,
    RESULT_SHEET,
    WARNING_FILL,
    Writer,
    annotate_workbook,
    has_macros,
)
from reports.html import submission_page
from reports.outputs import write_submission_outputs
from reports.period import html_page, write_html
from reports.period import write_workbook as write_period_workbook
from tests.support import check_one
from workbooks.samples import MESSY, Layout, build_workbook, errors_figures, seed_figures, write_workbook

D = Decimal
RED = str(ERROR_FILL.fgColor.rgb)
AMBER = str(WARNING_FILL.fgColor.rgb)
FORMULA_LIKE = ['=HYPERLINK("http://x","y")', "@SUM(1)", "-2+3", "+cmd|' /C calc'!A0"]
HOSTILE_HTML = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']
RESULT_HEADERS = ["序号", "级别", "规则", "工作表", "单元格", "说明", "应为", "实际"]


# --- helpers -----------------------------------------------------------------------------------

WRITER: list[Writer] = ["parts"]  # the writer `annotated` uses: every annotation test runs with both


@pytest.fixture(autouse=True, params=["parts", "openpyxl"])
def annotation_writer(request: pytest.FixtureRequest) -> Writer:
    WRITER[0] = request.param
    return WRITER[0]


def sheet_of(book: Workbook, name: str) -> Worksheet:
    sheet = book[name]
    assert isinstance(sheet, Worksheet)
    return sheet


def colour(cell: Cell | MergedCell) -> str | None:
    """The solid fill colour of a cell, None when it is not filled."""
    return str(cell.fill.fgColor.rgb) if cell.fill.fill_type == "solid" else None


def annotated(
    original: Path, findings: list[Finding], title: str = "沅江市科学技术和工业信息化局 2023 年度报送校验结果"
) -> Workbook:
    """Annotate `original` into a file next to it and open the copy."""
    target = original.with_name(f"annotated-{original.stem}{original.suffix}")
    annotate_workbook(original, findings, target, title, writer=WRITER[0])
    return openpyxl.load_workbook(target)


def seed_workbook(tmp_path: Path, layout: Layout = Layout()) -> tuple[Path, FileReport]:
    path = write_workbook(seed_figures(), tmp_path / "seed.xlsx", layout)
    return path, check_one(path)


def result_rows(book: Workbook) -> list[list[object]]:
    """The finding rows of the 校验结果 sheet (under the title and the header row 3)."""
    sheet = sheet_of(book, RESULT_SHEET)
    assert [cell.value for cell in sheet[3]] == RESULT_HEADERS
    return [[cell.value for cell in row] for row in sheet.iter_rows(min_row=4)]


def named_cells(findings: list[Finding], sheet: str) -> set[str]:
    """Every A1 cell the findings name on a sheet, ranges spelled out."""
    cells = set()
    for finding in findings:
        if finding.sheet != sheet:
            continue
        for reference in finding.cells:
            min_col, min_row, max_col, max_row = range_boundaries(reference)
            for row in range(min_row or 1, (max_row or 1) + 1):
                for col in range(min_col or 1, (max_col or 1) + 1):
                    cells.add(f"{get_column_letter(col)}{row}")
    return cells


def with_vba_project(source: Path, target: Path, project: bytes) -> Path:
    """A copy of an .xlsx made into an .xlsm: a vbaProject part, its relationship and content types."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as macro:
        for info in original.infolist():
            data = original.read(info.filename)
            if info.filename == "[Content_Types].xml":
                data = data.replace(
                    b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                    b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
                ).replace(
                    b"<Default ",
                    b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/><Default ',
                    1,
                )
            elif info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(
                    b"</Relationships>",
                    b'<Relationship Id="rIdVba" Target="vbaProject.bin"'
                    b' Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject"/></Relationships>',
                )
            macro.writestr(info, data)
        macro.writestr("xl/vbaProject.bin", project)
    return target


def sheet_parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist() if name.startswith("xl/worksheets/sheet")}


# --- the annotated workbook ----------------------------------------------------------------------


def test_the_seed_income_total_cell_is_filled_red_with_a_comment_giving_the_rule_and_expected_value(
    tmp_path: Path,
) -> None:
    path, report = seed_workbook(tmp_path)

    book = annotated(path, report.findings)

    cell = sheet_of(book, "收支总表")["B10"]
    assert cell.value == 1245.61
    assert colour(cell) == RED
    assert cell.comment is not None
    assert "sum/income" in cell.comment.text
    assert "应为：1160.21" in cell.comment.text
    assert report.findings[0].message in cell.comment.text


def test_cells_named_only_by_warnings_are_filled_amber_and_cells_named_by_an_error_red(tmp_path: Path) -> None:
    path, report = seed_workbook(tmp_path)
    assert [(f.rule, f.severity, f.cells[-1]) for f in report.findings][1] == (
        "balance/income-expense",
        Severity.WARNING,
        "B18",
    )

    sheet = sheet_of(annotated(path, report.findings), "收支总表")

    assert colour(sheet["B18"]) == AMBER  # only the balance warning names the expenditure total
    assert sheet["B18"].comment is not None and "balance/income-expense" in sheet["B18"].comment.text
    for reference in ("B2", "B3", "B4", "B9"):  # the income lines the sum/income error names
        assert colour(sheet[reference]) == RED
    assert colour(sheet["C10"]) is None and sheet["C10"].comment is None
    assert RED != AMBER


def test_only_the_cell_to_fix_is_told_what_it_should_be_and_the_cells_it_is_checked_with_say_so(
    tmp_path: Path,
) -> None:
    path = write_workbook(errors_figures(), tmp_path / "errors.xlsx")
    report = check_one(path)
    [rate] = [f for f in report.findings if f.rule == "rate/indicator"]
    assert (rate.cells, rate.expected) == (("F6", "K6", "L6"), "97.5")  # F6 = K6 ÷ L6: 79 ÷ 81

    indicators = sheet_of(annotated(path, report.findings), "绩效指标")

    assert indicators["F6"].comment is not None and "应为：97.5" in indicators["F6"].comment.text
    for contributing in ("K6", "L6"):
        comment = indicators[contributing].comment
        assert comment is not None and colour(indicators[contributing]) is not None  # still marked
        assert "应为：" not in comment.text, comment.text  # (the message itself may say "应为 97.5%")
        assert "此单元格参与该项校验；应核对修改的是 F6" in comment.text


def test_the_result_sheet_prints_an_a4_page_wide(tmp_path: Path) -> None:
    path = write_workbook(errors_figures(), tmp_path / "errors.xlsx")

    summary = sheet_of(annotated(path, check_one(path).findings), RESULT_SHEET)

    assert summary.sheet_properties.pageSetUpPr is not None and summary.sheet_properties.pageSetUpPr.fitToPage
    setup = summary.page_setup
    assert (setup.fitToWidth, setup.fitToHeight, setup.orientation, str(setup.paperSize)) == (1, 0, "landscape", "9")
    # a long message wraps in its column rather than running under 应为 (or being cut off by it)
    assert [summary.cell(row, 6).alignment.wrap_text for row in range(4, summary.max_row + 1)] == [True] * (
        summary.max_row - 3
    )
    assert summary["G4"].alignment.wrap_text is not True
    # and its row is as tall as its lines: the balance message takes two in a column 70 wide
    [balance_row] = [r for r in range(4, summary.max_row + 1) if summary.cell(r, 3).value == "balance/income-expense"]
    assert summary.row_dimensions[balance_row].height == 30
    assert summary.row_dimensions[4].height in (None, 15)  # one line


def test_the_first_sheet_lists_every_finding_with_a_working_link_to_its_cell(tmp_path: Path) -> None:
    path = write_workbook(errors_figures(), tmp_path / "errors.xlsx")
    report = check_one(path)
    assert len({f.sheet for f in report.findings}) >= 4  # findings on several sheets

    book = annotated(path, report.findings, "沅江市农业农村局 2023 年度报送校验结果")

    assert book.sheetnames[0] == RESULT_SHEET
    assert book.active is not None and book.active.title == RESULT_SHEET
    summary = sheet_of(book, RESULT_SHEET)
    assert summary["A1"].value == "沅江市农业农村局 2023 年度报送校验结果"
    rows = result_rows(book)
    assert rows == [
        [
            number,
            "错误" if f.severity is Severity.ERROR else "警告",
            f.rule,
            f.sheet,
            ", ".join(f.cells),
            f.message,
            f.expected,
            f.actual,
        ]
        for number, f in enumerate(report.findings, start=1)
    ]
    for row, finding in enumerate(report.findings, start=4):
        link = summary.cell(row, 5).hyperlink
        assert link is not None
        assert link.location == f"'{finding.sheet}'!{finding.cells[0]}"
        assert link.target is None  # internal: no external relationship
        linked = re.fullmatch(r"'(.+)'!([A-Z]+[0-9]+)", link.location)
        assert linked is not None
        assert linked.group(1) in book.sheetnames
        target = sheet_of(book, linked.group(1))[linked.group(2)]
        assert isinstance(target, Cell) and colour(target) in (RED, AMBER)


def test_the_seed_finding_links_to_the_income_total_cell(tmp_path: Path) -> None:
    path, report = seed_workbook(tmp_path)

    summary = sheet_of(annotated(path, report.findings), RESULT_SHEET)

    assert summary["C4"].value == "sum/income"
    assert summary["E4"].hyperlink is not None
    assert summary["E4"].hyperlink.location == "'收支总表'!B10"
    assert (summary["G4"].value, summary["H4"].value) == ("1160.21", "1245.61")


def test_a_workbook_without_findings_says_so_on_the_first_sheet(tmp_path: Path) -> None:
    path, _ = seed_workbook(tmp_path)

    book = annotated(path, [])

    assert sheet_of(book, RESULT_SHEET)["A4"].value == "未发现问题。"


def test_the_copy_opens_on_the_findings_sheet_without_grouping_it_with_the_sheet_left_selected(
    tmp_path: Path,
) -> None:
    # Excel saves the sheet the bureau was on as selected; a second selected tab opens the sheets
    # grouped, and what the clerk then types goes into both.
    book = build_workbook(seed_figures())
    book.active = 1
    book.worksheets[1].sheet_view.tabSelected = True
    path = tmp_path / "saved-on-收支总表.xlsx"
    book.save(path)

    copy = annotated(path, check_one(path).findings)

    assert copy.active is not None and copy.active.title == RESULT_SHEET
    selected = [sheet.title for sheet in copy.worksheets if sheet.sheet_view.tabSelected]
    assert selected == [RESULT_SHEET]


def test_a_bureau_sheet_of_the_same_name_is_kept_and_the_findings_sheet_still_comes_first(tmp_path: Path) -> None:
    book = build_workbook(seed_figures())
    book.create_sheet(RESULT_SHEET).cell(1, 1, "单位自查记录")
    path = tmp_path / "own-result-sheet.xlsx"
    book.save(path)

    copy = annotated(path, check_one(path).findings)

    assert copy.sheetnames[0] == f"{RESULT_SHEET}_"
    assert sheet_of(copy, RESULT_SHEET)["A1"].value == "单位自查记录"
    assert sheet_of(copy, f"{RESULT_SHEET}_")["E4"].hyperlink is not None


@pytest.mark.parametrize("layout", [Layout(), MESSY], ids=["plain", "messy"])
def test_formulas_number_formats_and_other_sheets_are_kept_and_only_named_cells_change(
    tmp_path: Path, layout: Layout
) -> None:
    path = write_workbook(errors_figures(), tmp_path / "errors.xlsx", layout)
    report = check_one(path)
    assert report.findings
    original = openpyxl.load_workbook(path)
    formats = {c.number_format for s in original.worksheets for row in s.iter_rows() for c in row}
    formulas = [c for s in original.worksheets for row in s.iter_rows() for c in row if c.data_type == "f"]
    if layout == MESSY:  # what this test is about: uncached SUM formulas and a sheet of the bureau's own
        assert formulas and "填表说明" in original.sheetnames
        assert all(str(c.value).startswith("=") for c in formulas)
    else:
        assert {"#,##0.00", "0.00%"} <= formats

    copy = annotated(path, report.findings)

    assert copy.sheetnames == [RESULT_SHEET, *original.sheetnames]
    for before in original.worksheets:
        after = sheet_of(copy, before.title)
        assert {str(r) for r in after.merged_cells.ranges} == {str(r) for r in before.merged_cells.ranges}
        marked = named_cells(report.findings, before.title)
        for row in before.iter_rows():
            for cell in row:
                kept = after[cell.coordinate]
                where = f"{before.title}!{cell.coordinate}"
                assert (kept.value, kept.number_format) == (cell.value, cell.number_format), where
                if cell.value is not None:  # (an empty text cell comes back empty, of no type)
                    assert kept.data_type == cell.data_type, where
                if cell.coordinate not in marked:
                    assert colour(kept) == colour(cell) and kept.comment is None, where
        for coordinate in marked:
            assert colour(after[coordinate]) in (RED, AMBER) and after[coordinate].comment is not None
    if layout == MESSY:
        assert sheet_of(copy, "填表说明")["A1"].value == "本工作簿按财政局下发格式填报。"


def test_a_macro_workbook_keeps_its_vba_project_and_stays_xlsm(tmp_path: Path) -> None:
    project = b"VBA project bytes \x00\x01\x02 kept as they are"
    plain, _ = seed_workbook(tmp_path)
    macro = with_vba_project(plain, tmp_path / "seed.xlsm", project)
    archived = tmp_path / "archive" / "ab" / "abcdef0123"  # archived files have no extension
    archived.parent.mkdir(parents=True)
    shutil.copyfile(macro, archived)
    assert has_macros(archived) and not has_macros(plain)
    report = check_one(macro)

    outputs = write_submission_outputs(
        tmp_path / "out",
        "000001_430981-013_2023_v1",
        report,
        archived,
        bureau_name="沅江市科学技术和工业信息化局",
        version=1,
    )

    assert outputs.workbook is not None and outputs.workbook.suffix == ".xlsm"
    assert has_macros(outputs.workbook)
    with zipfile.ZipFile(outputs.workbook) as archive:
        assert archive.read("xl/vbaProject.bin") == project
        assert b"application/vnd.ms-excel.sheet.macroEnabled.main+xml" in archive.read("[Content_Types].xml")
        assert b"vbaProject.bin" in archive.read("xl/_rels/workbook.xml.rels")
    copy = openpyxl.load_workbook(outputs.workbook)
    assert colour(sheet_of(copy, "收支总表")["B10"]) == RED


def test_has_macros_looks_for_the_vba_project_part_of_the_zip(tmp_path: Path) -> None:
    with_part = tmp_path / "with.zip"
    without = tmp_path / "without.zip"
    with zipfile.ZipFile(with_part, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/vbaProject.bin", b"\x00")
    with zipfile.ZipFile(without, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/vbaProjectSignature.bin", b"\x00")

    assert has_macros(with_part)
    assert not has_macros(without)


def test_a_finding_naming_a_range_marks_every_cell_of_it_and_links_to_its_first_cell(tmp_path: Path) -> None:
    path = write_workbook(seed_figures(), tmp_path / "projects.xlsx")
    book = openpyxl.load_workbook(path)
    sheet_of(book, "项目支出")["C8"] = 999  # the 年初预算数 total of the projects, no longer their sum
    book.save(path)
    report = check_one(path)
    projects = [f for f in report.findings if f.rule == "sum/projects"]
    assert [f.cells for f in projects] == [("C8", "C2:C7")]

    copy = annotated(path, report.findings)

    sheet = sheet_of(copy, "项目支出")
    for row in range(2, 9):
        assert colour(sheet.cell(row, 3)) == RED
        comment = sheet.cell(row, 3).comment
        assert comment is not None and comment.text.count("sum/projects") == 1
    assert colour(sheet["D2"]) is None and colour(sheet["C9"]) is None
    listed = next(r for r in result_rows(copy) if r[2] == "sum/projects")
    assert listed[4] == "C8, C2:C7"
    link = next(c.hyperlink for c in sheet_of(copy, RESULT_SHEET)["E"] if c.value == "C8, C2:C7")
    assert link is not None and link.location == "'项目支出'!C8"


def test_cells_inside_merged_ranges_mark_the_top_left_cell_with_every_finding_and_the_worst_colour(
    tmp_path: Path,
) -> None:
    path = write_workbook(seed_figures(), tmp_path / "messy.xlsx", MESSY)
    sheet = sheet_of(openpyxl.load_workbook(path), "绩效指标")
    group = next(r for r in sheet.merged_cells.ranges if r.max_row - r.min_row >= 2)  # a merged 一级指标
    title = next(r for r in sheet.merged_cells.ranges if r.min_row == r.max_row == 1)
    letter = get_column_letter(group.min_col)
    top, second, third = (f"{letter}{group.min_row + i}" for i in range(3))
    findings = [
        Finding("score/level-one", Severity.WARNING, "一级指标分值偏低", "绩效指标", (second,)),
        Finding("required/level-one", Severity.ERROR, "一级指标名称不规范", "绩效指标", (third,)),
        Finding("format/title", Severity.WARNING, "标题应写明年度", "绩效指标", ("A1:C1",)),
    ]

    copy = annotated(path, findings)

    after = sheet_of(copy, "绩效指标")
    assert {str(r) for r in after.merged_cells.ranges} == {str(r) for r in sheet.merged_cells.ranges}
    assert colour(after[top]) == RED  # the error wins whichever cell of the range came last
    assert after[top].comment is not None
    assert after[top].comment.text.count("score/level-one") == 1
    assert after[top].comment.text.count("required/level-one") == 1
    title_cell = after.cell(title.min_row, title.min_col)
    assert colour(title_cell) == AMBER
    assert title_cell.comment is not None and title_cell.comment.text.count("format/title") == 1
    links = [c.hyperlink.location for c in sheet_of(copy, RESULT_SHEET)["E"][3:] if c.hyperlink]
    assert links == [f"'绩效指标'!{second}", f"'绩效指标'!{third}", "'绩效指标'!A1"]


def test_a_finding_naming_the_whole_sheet_marks_a_bounded_number_of_cells(tmp_path: Path) -> None:
    path, _ = seed_workbook(tmp_path)
    whole = Finding("format/sheet", Severity.WARNING, "整张表格式不符", "收支总表", ("A1:XFD1048576",))

    copy = annotated(path, [whole])  # 17 billion cells named; spelling them all out would never finish

    commented = [c for row in sheet_of(copy, "收支总表").iter_rows() for c in row if c.comment is not None]
    assert len(commented) == MAX_CELLS_PER_RANGE


def test_findings_on_a_sheet_the_workbook_does_not_have_are_listed_but_not_linked(tmp_path: Path) -> None:
    path, _ = seed_workbook(tmp_path)
    findings = [
        Finding("required/sheet", Severity.ERROR, "缺少工作表“资产情况”", "资产情况", ("A1",)),
        Finding("format/cover", Severity.ERROR, "封面缺少单位编码"),
    ]

    copy = annotated(path, findings)

    rows = result_rows(copy)
    assert [r[2] for r in rows] == ["required/sheet", "format/cover"]
    assert all(c.hyperlink is None for c in sheet_of(copy, RESULT_SHEET)["E"])


# --- bureau text never becomes a formula --------------------------------------------------------


def test_finding_text_and_a_bureau_name_that_start_like_formulas_stay_text_on_the_findings_sheet(
    tmp_path: Path,
) -> None:
    path, report = seed_workbook(tmp_path)
    findings = [
        Finding("sum/income", Severity.ERROR, text, "收支总表", ("B10",), expected="-85.40", actual=text)
        for text in FORMULA_LIKE
    ]
    report.findings = findings
    hostile_name = FORMULA_LIKE[0]

    outputs = write_submission_outputs(tmp_path / "out", "stem", report, path, bureau_name=hostile_name, version=1)

    assert outputs.workbook is not None
    summary = sheet_of(openpyxl.load_workbook(outputs.workbook), RESULT_SHEET)
    assert summary["A1"].value == f"{hostile_name} 2023 年度报送校验结果"
    assert summary["A1"].data_type == "s"
    for row, text in enumerate(FORMULA_LIKE, start=4):
        for cell, value in (
            (summary.cell(row, 6), text),
            (summary.cell(row, 7), "-85.40"),
            (summary.cell(row, 8), text),
        ):
            assert (cell.value, cell.data_type) == (value, "s")
    first_part = sheet_parts(outputs.workbook)["xl/worksheets/sheet1.xml"]
    assert b"<f>" not in first_part and b"<f " not in first_part


@pytest.mark.parametrize("text", FORMULA_LIKE)
def test_a_project_name_the_bureau_typed_as_text_stays_text_in_its_annotated_copy(tmp_path: Path, text: str) -> None:
    path = write_workbook(seed_figures(), tmp_path / "seed.xlsx")
    book = openpyxl.load_workbook(path)
    name = sheet_of(book, "项目支出")["A2"]
    name.value = text
    name.data_type = "s"  # as Excel keeps text typed after an apostrophe
    book.save(path)
    assert sheet_of(openpyxl.load_workbook(path), "项目支出")["A2"].data_type == "s"
    finding = Finding("ceiling/project", Severity.ERROR, f"“{text}”全年执行数超过全年预算数", "项目支出", ("A2",))

    copy = annotated(path, [finding])

    kept = sheet_of(copy, "项目支出")["A2"]
    assert (kept.value, kept.data_type) == (text, "s")
    assert colour(kept) == RED


def hostile_period(tmp_path: Path) -> tuple[PeriodReport, Path]:
    lines = [
        BureauLine(FORMULA_LIKE[1], FORMULA_LIKE[0], "failed", 1, D(1), D(2), D(2), D(1), D(1), D(60), "-2+3", 1),
        BureauLine("430981-099", FORMULA_LIKE[3], None),
        BureauLine(FORMULA_LIKE[2], "@SUM(A1:A9)", "passed", 2, D(5), D(5), D(5), D(1), D(1), D(95), "优"),
    ]
    report = PeriodReport(2023, lines)
    return report, write_period_workbook(report, tmp_path / "period.xlsx")


def test_bureau_names_codes_and_grades_that_start_like_formulas_stay_text_in_the_period_workbook(
    tmp_path: Path,
) -> None:
    report, path = hostile_period(tmp_path)

    book = openpyxl.load_workbook(path)

    summary = sheet_of(book, "汇总")
    grade = columns(summary)["自评等级"]
    for row, line in enumerate(report.lines, start=5):
        for col, value in ((1, line.code), (2, line.name), (grade, line.grade)):
            cell = summary.cell(row, col)
            assert cell.value == value
            if value is not None:
                assert cell.data_type == "s"
    attention = sheet_of(book, "需关注")
    assert [(c.value, c.data_type) for c in attention["B"][1:]] == [(FORMULA_LIKE[0], "s"), (FORMULA_LIKE[3], "s")]
    assert [(c.value, c.data_type) for c in attention["A"][1:]] == [(FORMULA_LIKE[1], "s"), ("430981-099", "s")]
    for name, part in sheet_parts(path).items():
        assert b"<f>" not in part and b"<f " not in part, name


# --- HTML escaping ---------------------------------------------------------------------------------


def assert_escaped(page: str, *texts: str) -> None:
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "onerror=alert(1)>" not in page
    for text in texts:
        assert str(escape(text)) in page


@pytest.mark.parametrize("hostile", HOSTILE_HTML)
def test_the_submission_page_escapes_a_hostile_bureau_name_file_name_and_finding_text(hostile: str) -> None:
    report = FileReport(
        file=f"{hostile}.xlsx",
        sha256="0" * 64,
        findings=[
            Finding(
                "sum/income", Severity.ERROR, f"“{hostile}”合计不符", hostile, (f"B10{hostile}",), hostile, hostile
            ),
            Finding("ceiling/project", Severity.WARNING, hostile, "项目支出", ("E2",)),
        ],
        bureau_code=hostile,
        fiscal_year=2023,
    )

    page = submission_page(report, bureau_name=hostile, version=2)

    assert_escaped(page, hostile, f"{hostile}.xlsx", f"“{hostile}”合计不符", f"B10{hostile}")
    assert "未通过" in page


@pytest.mark.parametrize("hostile", HOSTILE_HTML)
def test_the_period_page_escapes_hostile_bureau_names_and_codes(tmp_path: Path, hostile: str) -> None:
    report = PeriodReport(
        2023,
        [
            BureauLine(f"430981-{hostile}", hostile, "passed", 1, D(10), D(9), D(10), D(2), D(1), D(95), "优"),
            BureauLine("430981-002", f"{hostile}未报送", None),
            BureauLine("430981-003", f"{hostile}失败", "failed", 1, errors=2),
        ],
    )

    page = write_html(report, tmp_path / "period.html").read_text(encoding="utf-8")

    assert page == html_page(report)
    assert_escaped(page, hostile, f"430981-{hostile}", f"{hostile}未报送", f"{hostile}失败")
    assert page.count("<svg") == 2


# --- the period report -----------------------------------------------------------------------------


def county() -> PeriodReport:
    return PeriodReport(
        2023,
        [
            BureauLine(
                "430981-013", "沅江市科学技术和工业信息化局", "failed", 1,
                D("11658.78"), D("11658.78"), D("11658.78"), D("12"), D("11.84"), D("99"), "优", 1, 1,
            ),
            BureauLine(
                "430981-021", "沅江市教育局", "passed", 2,
                D("56831.15"), D("56331.15"), D("56831.15"), D("26.5"), D("23.55"), D("98.91"), "优",
            ),
            BureauLine(
                "430981-035", "沅江市卫生健康局", "warnings", 1,
                D("56831.15"), D("57031.15"), D("56831.15"), D("26.5"), D("23.55"), D("97"), "优", 0, 2,
            ),
            BureauLine("430981-047", "沅江市水利局", "unreadable", 1, errors=1),
            BureauLine("430981-052", "沅江市交通运输局"),
            BureauLine("430981-060", "沅江市档案馆", "passed", 1, D("0"), D("0"), D("0"), D("0"), D("0")),
        ],
    )  # fmt: skip


def columns(sheet: Worksheet) -> dict[str, int]:
    return {str(cell.value): cell.column for cell in sheet[4] if cell.value is not None}


def test_execution_rate_and_three_public_use_are_exact_decimal_percentages() -> None:
    seed, education, health, *_ = county().lines

    assert seed.execution_rate == D("100.00")
    assert seed.three_public_use == D("98.67")  # 11.84 ÷ 12
    assert education.execution_rate == D("99.12")  # 56331.15 ÷ 56831.15
    assert education.three_public_use == D("88.87")  # 23.55 ÷ 26.5
    assert health.execution_rate == D("100.35")
    for value in (seed.execution_rate, seed.three_public_use, education.execution_rate):
        assert isinstance(value, Decimal)
    # 2.675 % is 2.67 in binary floating point; exact decimals keep it 2.675 before rounding.
    assert BureauLine("x", "x", "passed", expense_total=D("2.675"), budget_total=D("100")).execution_rate == D("2.68")


def test_county_totals_and_rates_are_exact_sums_of_the_bureau_figures() -> None:
    report = county()

    assert report.total("income_total") == D("125321.08")
    assert report.total("expense_total") == D("125021.08")
    assert report.total("budget_total") == D("125321.08")
    assert report.county_execution_rate == D("99.76")
    assert report.total("three_public_budget") == D("65.0")
    assert report.county_three_public_use == D("90.68")  # 58.94 ÷ 65
    tenths = PeriodReport(
        2023,
        [BureauLine("a", "a", "passed", income_total=D("0.1")), BureauLine("b", "b", "passed", income_total=D("0.2"))],
    )
    assert tenths.total("income_total") == D("0.3")


def test_zero_budgets_and_missing_figures_give_no_rate_instead_of_dividing_by_zero(tmp_path: Path) -> None:
    report = county()
    unreadable, missing, archive = report.lines[3:]
    nothing = PeriodReport(2023, [BureauLine("a", "a", "passed", budget_total=D(0), three_public_budget=D(0))])

    assert archive.execution_rate is None and archive.three_public_use is None  # 0 ÷ 0
    assert unreadable.execution_rate is None and missing.three_public_use is None
    assert nothing.county_execution_rate is None and nothing.county_three_public_use is None
    book = openpyxl.load_workbook(write_period_workbook(nothing, tmp_path / "nothing.xlsx"))
    summary = sheet_of(book, "汇总")
    assert summary.cell(5, columns(summary)["执行率(%)"]).value is None
    assert summary.cell(6, 2).value == "全县合计" and summary.cell(6, columns(summary)["执行率(%)"]).value is None
    assert "全县合计" in html_page(nothing)


def test_the_period_workbook_has_a_row_per_bureau_a_county_total_row_and_two_charts(tmp_path: Path) -> None:
    report = county()

    book = openpyxl.load_workbook(write_period_workbook(report, tmp_path / "period.xlsx"))

    summary = sheet_of(book, "汇总")
    col = columns(summary)
    assert summary["A1"].value == "2023 年度部门报送汇总"
    rows = {summary.cell(row, col["单位编码"]).value: row for row in range(5, 5 + len(report.lines))}
    assert list(rows) == [line.code for line in report.lines]
    education = rows["430981-021"]
    assert summary.cell(education, col["单位名称"]).value == "沅江市教育局"
    assert summary.cell(education, col["状态"]).value == "通过"
    assert summary.cell(education, col["执行率(%)"]).value == 99.12
    assert summary.cell(education, col["三公使用率(%)"]).value == 88.87
    assert summary.cell(education, col["支出合计"]).value == 56331.15
    assert summary.cell(education, col["支出合计"]).number_format == "#,##0.00"
    assert summary.cell(rows["430981-052"], col["状态"]).value == "未报送"
    assert summary.cell(rows["430981-052"], col["收入合计"]).value is None
    total = 5 + len(report.lines)
    assert summary.cell(total, col["单位名称"]).value == "全县合计"
    assert summary.cell(total, col["收入合计"]).value == 125321.08
    assert summary.cell(total, col["支出合计"]).value == 125021.08
    assert summary.cell(total, col["执行率(%)"]).value == 99.76
    assert summary.cell(total, col["三公使用率(%)"]).value == 90.68
    assert summary.cell(total + 1, col["单位名称"]).value is None
    charts = summary._charts  # type: ignore[attr-defined]  # openpyxl keeps a sheet's charts there
    assert len(charts) == 2
    assert all(isinstance(chart, BarChart) for chart in charts)
    assert sorted(len(chart.series) for chart in charts) == [1, 2]  # execution rate; 三公 budget and actual


def test_the_period_workbook_reads_as_one_table_totals_and_rates_formatted_and_charts_without_missing_bureaus(
    tmp_path: Path,
) -> None:
    report = county()

    book = openpyxl.load_workbook(write_period_workbook(report, tmp_path / "period.xlsx"))

    summary = sheet_of(book, "汇总")
    col = columns(summary)
    total, education = 5 + len(report.lines), 6
    row_font, total_font = summary.cell(education, col["收入合计"]).font, summary.cell(total, col["收入合计"]).font
    assert total_font.b and (total_font.name, total_font.sz) == (row_font.name, row_font.sz)  # bold, same font
    for line_row in (education, total):
        assert summary.cell(line_row, col["收入合计"]).number_format == "#,##0.00"
        for rate in ("执行率(%)", "三公使用率(%)"):  # 100.00 beside 99.12, not 100
            assert summary.cell(line_row, col[rate]).number_format == "0.00"
    attention = sheet_of(book, "需关注")
    assert attention.column_dimensions["B"].width >= 20 and attention.column_dimensions["C"].width >= 8
    assert summary.sheet_properties.pageSetUpPr is not None and summary.sheet_properties.pageSetUpPr.fitToPage
    assert (summary.page_setup.fitToWidth, summary.page_setup.orientation) == (1, "landscape")  # a page across
    # the charts draw the bureaus that submitted, not empty bars for the one that has not
    data = sheet_of(book, "图表数据")
    charted = [row[0].value for row in data.iter_rows(min_row=2)]
    assert "沅江市交通运输局" not in charted
    assert "沅江市水利局" not in charted  # unreadable: no figures
    assert charted == [line.name for line in report.lines if line.has_figures]
    for chart in summary._charts:  # type: ignore[attr-defined]
        for series in chart.series:
            assert "图表数据" in series.val.numRef.f and "汇总" not in series.val.numRef.f


def test_the_period_reports_show_the_stated_grade_and_the_grade_the_total_calls_for(tmp_path: Path) -> None:
    report = PeriodReport(
        2023,
        [
            BureauLine("a", "甲局", "failed", self_total=D("85"), grade="优", grade_by_total="良"),
            BureauLine("b", "乙局", "passed", self_total=D("95"), grade="优", grade_by_total="优"),
        ],
    )

    book = openpyxl.load_workbook(write_period_workbook(report, tmp_path / "period.xlsx"))
    page = html_page(report)

    summary = sheet_of(book, "汇总")
    col = columns(summary)
    assert [summary.cell(5, col[h]).value for h in ("自评总分", "自评等级", "按总分等级")] == [85, "优", "良"]
    assert "<th>自评等级</th><th>按总分等级</th>" in page
    assert "<td>优</td><td>良</td>" in page


def test_the_attention_sheet_lists_the_bureaus_not_submitted_or_failed(tmp_path: Path) -> None:
    report = county()

    book = openpyxl.load_workbook(write_period_workbook(report, tmp_path / "period.xlsx"))

    attention = sheet_of(book, "需关注")
    assert [c.value for c in attention[1]] == ["单位编码", "单位名称", "情况", "错误", "警告"]
    assert [[c.value for c in row] for row in attention.iter_rows(min_row=2)] == [
        ["430981-013", "沅江市科学技术和工业信息化局", "未通过", 1, 1],
        ["430981-047", "沅江市水利局", "无法读取", 1, 0],
        ["430981-052", "沅江市交通运输局", "未报送", 0, 0],
    ]


def test_the_period_page_has_the_table_the_attention_list_and_two_svg_charts(tmp_path: Path) -> None:
    report = county()

    page = write_html(report, tmp_path / "period.html").read_text(encoding="utf-8")

    assert "<table>" in page and "全县合计" in page
    for line in report.lines:
        assert line.name in page and line.code in page
    attention = re.findall(r"<li>(.*?)</li>", page)
    assert attention == [
        "430981-013 沅江市科学技术和工业信息化局：未通过（错误 1）",
        "430981-047 沅江市水利局：无法读取",
        "430981-052 沅江市交通运输局：未报送",
    ]
    assert page.count("<svg") == 2
    assert "99.12%" in page and "100.35%" in page
    assert page.count('class="bar over"') == 1  # the 卫生健康局 spent more than its budget
    assert "56,331.15" in page and "125,021.08" in page
    assert ">99.76<" in page and ">90.68<" in page


def test_a_period_where_no_bureau_has_figures_yet_still_writes_both_reports(tmp_path: Path) -> None:
    report = PeriodReport(2024, [BureauLine("430981-013", "沅江市科学技术和工业信息化局"), BureauLine("b", "乙局")])

    book = openpyxl.load_workbook(write_period_workbook(report, tmp_path / "period.xlsx"))
    page = write_html(report, tmp_path / "period.html").read_text(encoding="utf-8")

    assert sheet_of(book, "需关注").max_row == 3
    assert len(sheet_of(book, "汇总")._charts) == 2  # type: ignore[attr-defined]
    assert page.count("<svg") == 2 and page.count("<li>") == 2
