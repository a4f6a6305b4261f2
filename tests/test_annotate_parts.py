"""The annotated copy written part by part gives the workbook openpyxl would have written, and keeps
what openpyxl drops. Every test writes real .xlsx files and opens the copies again with openpyxl.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from defusedxml.ElementTree import fromstring as parse_xml
from openpyxl.chart import BarChart, Reference
from openpyxl.comments import Comment
from openpyxl.workbook.workbook import Workbook

from checks.findings import Finding, Severity
from reports.annotate import RESULT_SHEET, annotate_workbook
from reports.annotate_parts import UnsupportedWorkbook, write_annotated_parts
from tests.support import check_one
from workbooks.samples import (
    MESSY,
    Layout,
    build_workbook,
    errors_figures,
    seed_figures,
    warnings_figures,
    write_workbook,
    yuan_figures,
)

TITLE = "沅江市科学技术和工业信息化局 2023 年度报送校验结果"
VARIANTS = {
    "seed": (seed_figures, Layout()),
    "errors": (errors_figures, Layout()),
    "warnings": (warnings_figures, Layout(rate_style="text")),
    "yuan": (yuan_figures, Layout(unit="元", amount_style="text", rate_style="text", title_rows=1)),
    "messy": (errors_figures, MESSY),
}


def both_copies(path: Path, findings: list[Finding]) -> tuple[Workbook, Workbook]:
    parts, whole = path.with_name("parts.xlsx"), path.with_name("openpyxl.xlsx")
    write_annotated_parts(path, findings, parts, TITLE)  # raises rather than falling back
    annotate_workbook(path, findings, whole, TITLE, writer="openpyxl")
    return openpyxl.load_workbook(parts), openpyxl.load_workbook(whole)


def cell_view(book: Workbook) -> dict[str, dict[str, tuple[object, ...]]]:
    """Every cell of every sheet as openpyxl reads it back: value, type, format, fill, comment and link."""
    view: dict[str, dict[str, tuple[object, ...]]] = {}
    for sheet in book.worksheets:
        cells: dict[str, tuple[object, ...]] = {}
        for row in sheet.iter_rows():
            for cell in row:
                fill = cell.fill.fgColor.rgb if cell.fill.fill_type == "solid" else None
                comment = cell.comment.text if cell.comment else None
                link = cell.hyperlink.location if cell.hyperlink else None
                if cell.value is None and fill is None and comment is None:
                    continue
                cells[cell.coordinate] = (cell.value, cell.data_type, cell.number_format, fill, comment, link)
        view[sheet.title] = cells
    return view


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_copy_written_part_by_part_reads_back_cell_for_cell_like_the_openpyxl_copy(
    tmp_path: Path, variant: str
) -> None:
    figures, layout = VARIANTS[variant]
    path = write_workbook(figures(), tmp_path / f"{variant}.xlsx", layout)
    findings = check_one(path).findings  # none for the 元 variant: then only the findings sheet differs
    parts, whole = both_copies(path, findings)
    assert parts.sheetnames == whole.sheetnames
    assert parts.active is not None and parts.active.title == RESULT_SHEET
    assert [s.title for s in parts.worksheets if s.sheet_view.tabSelected] == [RESULT_SHEET]
    assert cell_view(parts) == cell_view(whole)
    for name in parts.sheetnames:
        assert {str(r) for r in parts[name].merged_cells.ranges} == {str(r) for r in whole[name].merged_cells.ranges}
    widths = {letter: parts[RESULT_SHEET].column_dimensions[letter].width for letter in "ABCDEFGH"}
    assert widths == {letter: whole[RESULT_SHEET].column_dimensions[letter].width for letter in "ABCDEFGH"}


def test_a_finding_on_an_empty_cell_beyond_the_data_marks_a_new_cell_in_row_order(tmp_path: Path) -> None:
    path = write_workbook(seed_figures(), tmp_path / "seed.xlsx")
    findings = [
        Finding("required/row", Severity.ERROR, "第 40 行应有合计", sheet="收支总表", cells=("Z40",)),
        Finding("required/row", Severity.WARNING, "A1 之前", sheet="收支总表", cells=("A1",)),
        Finding("required/row", Severity.WARNING, "中间的空单元格", sheet="收支总表", cells=("H5",)),
    ]
    parts, whole = both_copies(path, findings)
    assert cell_view(parts) == cell_view(whole)
    with zipfile.ZipFile(tmp_path / "parts.xlsx") as archive:
        sheet = parse_xml(archive.read("xl/worksheets/sheet2.xml"))
    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    rows = [int(row.get("r", "0")) for row in sheet.iter(f"{main}row")]
    assert rows == sorted(rows) and 40 in rows


def test_charts_and_images_of_the_bureau_survive_the_copy(tmp_path: Path) -> None:
    book = build_workbook(seed_figures())
    sheet = next(s for s in book.worksheets if s.title == "收支总表")
    chart = BarChart()
    chart.add_data(Reference(sheet, min_col=2, min_row=5, max_row=10))
    sheet.add_chart(chart, "H2")
    path = tmp_path / "with-chart.xlsx"
    book.save(path)
    target = tmp_path / "copy.xlsx"
    annotate_workbook(path, check_one(path).findings, target, TITLE)
    with zipfile.ZipFile(path) as original, zipfile.ZipFile(target) as copy:
        charts = [n for n in original.namelist() if n.startswith("xl/charts/")]
        assert charts
        assert all(copy.read(n) == original.read(n) for n in charts)
    assert openpyxl.load_workbook(target)["收支总表"]["B10"].comment is not None


def test_a_sheet_that_already_has_comments_is_copied_by_openpyxl_and_keeps_them(tmp_path: Path) -> None:
    book = build_workbook(seed_figures())
    book["收支总表"]["A1"].comment = Comment("单位自己的批注", "办公室")
    path = tmp_path / "commented.xlsx"
    book.save(path)
    findings = check_one(path).findings
    with pytest.raises(UnsupportedWorkbook):
        write_annotated_parts(path, findings, tmp_path / "never.xlsx", TITLE)
    target = tmp_path / "copy.xlsx"
    annotate_workbook(path, findings, target, TITLE)
    sheet = openpyxl.load_workbook(target)["收支总表"]
    assert sheet["A1"].comment is not None and sheet["A1"].comment.text == "单位自己的批注"
    assert sheet["B10"].comment is not None and "sum/income" in sheet["B10"].comment.text


def test_a_print_area_stays_on_its_own_sheet_when_the_findings_sheet_goes_first(tmp_path: Path) -> None:
    book = build_workbook(seed_figures())
    book["收支总表"].print_area = "A1:D20"
    path = tmp_path / "print-area.xlsx"
    book.save(path)
    target = tmp_path / "copy.xlsx"
    write_annotated_parts(path, check_one(path).findings, target, TITLE)
    copy = openpyxl.load_workbook(target)
    assert copy.sheetnames[0] == RESULT_SHEET
    assert copy["收支总表"].print_area == "'收支总表'!$A$1:$D$20"


def test_every_part_of_the_copy_is_well_formed_and_every_new_part_has_a_content_type(tmp_path: Path) -> None:
    path = write_workbook(errors_figures(), tmp_path / "errors.xlsx", MESSY)
    target = tmp_path / "copy.xlsx"
    write_annotated_parts(path, check_one(path).findings, target, TITLE)
    with zipfile.ZipFile(path) as original, zipfile.ZipFile(target) as copy:
        assert copy.testzip() is None
        for name in copy.namelist():
            if name.endswith((".xml", ".rels", ".vml")):
                parse_xml(copy.read(name))
        types = copy.read("[Content_Types].xml").decode()
        added = set(copy.namelist()) - set(original.namelist())
        assert added
        for name in added:
            assert f'PartName="/{name}"' in types or name.endswith((".vml", ".rels")), name
        assert 'Extension="vml"' in types


def test_bureau_text_that_breaks_xml_is_escaped_or_dropped_not_written_raw(tmp_path: Path) -> None:
    path = write_workbook(seed_figures(), tmp_path / "seed.xlsx")
    hostile = 'a<b>&"c"\x01]]>'
    finding = Finding("format/cover", Severity.ERROR, hostile, sheet="收支总表", cells=("B10",), actual=hostile)
    target = tmp_path / "copy.xlsx"
    write_annotated_parts(path, [finding], target, hostile)
    copy = openpyxl.load_workbook(target)
    assert copy[RESULT_SHEET]["A1"].value == 'a<b>&"c"]]>'
    assert copy[RESULT_SHEET]["F4"].value == 'a<b>&"c"]]>'
    comment = copy["收支总表"]["B10"].comment
    assert comment is not None and 'a<b>&"c"]]>' in comment.text


def test_openpyxl_keeps_the_standard_librarys_xml_although_lxml_is_installed_for_the_part_edits() -> None:
    """openpyxl would switch to lxml, and write other bytes and parse by other rules (config/openpyxl_xml.py)."""
    program = "import workbooks.reader, reports.annotate_parts, lxml, openpyxl.xml; print(openpyxl.xml.LXML)"
    environment = {name: value for name, value in os.environ.items() if name != "OPENPYXL_LXML"}
    done = subprocess.run([sys.executable, "-c", program], env=environment, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_every_part_the_annotation_does_not_change_is_copied_byte_for_byte(tmp_path: Path) -> None:
    path = write_workbook(seed_figures(), tmp_path / "seed.xlsx")
    findings = check_one(path).findings
    target = tmp_path / "copy.xlsx"
    write_annotated_parts(path, findings, target, TITLE)
    book = openpyxl.load_workbook(path)
    # openpyxl writes the n-th sheet as sheetn.xml: the marked ones, and the one selected, are edited.
    edited_sheets = {
        f"xl/worksheets/sheet{number}.xml"
        for number, sheet in enumerate(book.worksheets, 1)
        if sheet.title in {f.sheet for f in findings} or sheet.sheet_view.tabSelected
    }
    edited = {"xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/styles.xml", "[Content_Types].xml", *edited_sheets}
    with zipfile.ZipFile(path) as original, zipfile.ZipFile(target) as copy:
        untouched = [name for name in original.namelist() if name not in edited]
        assert len(edited_sheets) < len(book.worksheets) and len(untouched) > 5
        for name in untouched:
            assert copy.read(name) == original.read(name), name
            assert copy.getinfo(name).compress_size == original.getinfo(name).compress_size, name  # not deflated again
