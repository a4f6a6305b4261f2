"""The annotated copy of a bureau's own workbook: failing cells filled and commented, findings first.

What goes into the copy is `reports.annotation`. It is written part by part (`reports.annotate_parts`:
a few ms, and the bureau's charts and images survive); a workbook that writer does not understand is
opened in full with openpyxl instead (formulas, formats and other sheets kept; ~60 ms, and openpyxl
drops images and charts). Bureau-supplied text is always written as text, never as a formula.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Any, Literal
from xml.etree.ElementTree import ParseError

import openpyxl
from openpyxl.cell.cell import Cell, MergedCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from checks.findings import Finding, Severity
from reports.annotate_parts import UnsupportedWorkbook, write_annotated_parts
from reports.annotation import (
    COMMENT_AUTHOR,
    COMMENT_HEIGHT,
    COMMENT_WIDTH,
    ERROR_RGB,
    MAX_CELLS_PER_RANGE,
    MESSAGE_COLUMN,
    NO_FINDINGS_TEXT,
    PAPER_A4,
    RESULT_HEADERS,
    RESULT_SHEET,
    RESULT_WIDTHS,
    WARNING_RGB,
    cell_notes,
    comment_text,
    is_error,
    result_lines,
    result_sheet_name,
)
from reports.plain_xlsx import write_plain_xlsx

__all__ = ["ERROR_FILL", "MAX_CELLS_PER_RANGE", "RESULT_SHEET", "WARNING_FILL", "annotate_workbook", "has_macros"]

log = logging.getLogger(__name__)

ERROR_FILL = PatternFill("solid", start_color=ERROR_RGB, end_color=ERROR_RGB)
WARNING_FILL = PatternFill("solid", start_color=WARNING_RGB, end_color=WARNING_RGB)
FORMULA_STARTS = ("=", "+", "-", "@")
Writer = Literal["parts", "openpyxl", "converted"]
CONVERTED_NOTE = (
    "原文件不是 .xlsx（如 .xls、.ods、.xlsb 或 Excel 无法直接修改的格式），本副本已转换为 .xlsx："
    "保留了各单元格的值、数字格式和合并单元格，原文件的公式、样式和图表没有保留。请在原文件中修改后重新报送。"
)


def write_text(cell: Cell | MergedCell, value: Any) -> None:
    """Put a value in a cell; text stays text even when it starts like a formula (`=1+1`, `@SUM`)."""
    if not isinstance(cell, Cell):
        raise ValueError(f"{cell.coordinate} lies inside a merged range")
    cell.value = value
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        cell.data_type = "s"


def _mark_cells(book: openpyxl.Workbook, findings: list[Finding]) -> None:
    merged = {
        sheet.title: [(r.min_col, r.min_row, r.max_col, r.max_row) for r in sheet.merged_cells.ranges]
        for sheet in book.worksheets
    }
    for title, notes in cell_notes(findings, merged).items():
        sheet = book[title]
        for coordinate, named_by in notes.items():
            cell = sheet[coordinate]
            assert isinstance(cell, Cell)  # a merged range's mark is on its top-left cell, which is a Cell
            cell.fill = ERROR_FILL if is_error(named_by) else WARNING_FILL
            cell.comment = Comment(comment_text(named_by), COMMENT_AUTHOR, width=COMMENT_WIDTH, height=COMMENT_HEIGHT)


def print_one_page_across(sheet: Worksheet) -> None:
    """Printed, the sheet is one landscape A4 page across, and runs on over as many pages as it needs."""
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    sheet.page_setup.paperSize, sheet.page_setup.orientation = PAPER_A4, "landscape"
    sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight = 1, 0


def _result_sheet(book: openpyxl.Workbook, findings: list[Finding], title: str) -> None:
    lines = result_lines(findings, book.sheetnames)
    sheet = book.create_sheet(result_sheet_name(book.sheetnames), 0)
    write_text(sheet.cell(1, 1), title)
    sheet.cell(1, 1).font = Font(bold=True, size=13)
    for col, header in enumerate(RESULT_HEADERS, start=1):
        sheet.cell(3, col, header).font = Font(bold=True)
    for row, line in enumerate(lines, start=4):
        for col, value in enumerate(line.values, start=1):
            write_text(sheet.cell(row, col), value)
        sheet.cell(row, 2).fill = ERROR_FILL if line.severity is Severity.ERROR else WARNING_FILL
        sheet.cell(row, MESSAGE_COLUMN).alignment = Alignment(wrap_text=True)  # as annotate_parts
        if line.height:
            sheet.row_dimensions[row].height = line.height
        if line.link is not None:
            link = sheet.cell(row, 5)
            link.hyperlink = Hyperlink(ref=link.coordinate, location=line.link, display=link.value)
            link.style = "Hyperlink"
    if not lines:
        write_text(sheet.cell(4, 1), NO_FINDINGS_TEXT)
    for letter, width in zip("ABCDEFGH", RESULT_WIDTHS, strict=True):
        sheet.column_dimensions[letter].width = width
    print_one_page_across(sheet)
    for other in book.worksheets:  # a sheet left selected would open grouped with this one in Excel
        other.sheet_view.tabSelected = False
    sheet.sheet_view.tabSelected = True
    book.active = 0


def _write_with_openpyxl(original: Path, findings: list[Finding], target: Path, title: str) -> None:
    with original.open("rb") as handle:  # archived files have no extension; open by content
        book = openpyxl.load_workbook(handle, keep_vba=has_macros(original), keep_links=True, rich_text=True)
    if not book.worksheets:  # Strict Open XML: openpyxl sees a workbook without sheets
        raise UnsupportedWorkbook("openpyxl read no worksheet")
    _mark_cells(book, findings)
    _result_sheet(book, findings, title)
    book.save(target)


def _write_converted(original: Path, findings: list[Finding], target: Path, title: str) -> None:
    """A new .xlsx of the original's sheets as budgetflow read them (values, number formats, merged ranges),
    for files openpyxl cannot open (.xls, .ods, .xlsb, Strict Open XML), marked as any .xlsx; its first sheet
    says it was converted."""
    from workbooks.grid import open_grid  # the reader's own view of the file: what the findings are about

    plain = target.with_name(f".{target.name}.plain")
    try:
        write_plain_xlsx(open_grid(original), plain)
        write_annotated_parts(plain, findings, target, title, note=CONVERTED_NOTE)
    finally:
        plain.unlink(missing_ok=True)


def annotate_workbook(
    original: Path, findings: list[Finding], target: Path, title: str, *, writer: Writer = "parts"
) -> Path:
    """Write the annotated copy of `original` to `target`: part by part; with openpyxl where that writer does not
    understand the package; as a converted .xlsx where openpyxl cannot open the file either."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    if writer != "converted" and not zipfile.is_zipfile(original):
        writer = "converted"  # an .xls (a compound file): neither part edits nor openpyxl can open it
    if writer == "parts":
        try:
            write_annotated_parts(original, findings, temporary, title)
        except (UnsupportedWorkbook, ParseError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            log.debug("annotating %s with openpyxl: %s", original, exc)
            writer = "openpyxl"
    if writer == "openpyxl":
        try:
            _write_with_openpyxl(original, findings, temporary, title)
        except Exception as exc:  # an .xls, .ods or .xlsb, or a package openpyxl reads as having no sheets
            log.debug("annotating %s as a converted copy: %s", original, exc)
            writer = "converted"
    if writer == "converted":
        _write_converted(original, findings, temporary, title)
    temporary.replace(target)
    return target


def has_macros(path: Path) -> bool:
    """Whether the workbook carries a VBA project (then its copy must stay .xlsm; macros never run). An .xls,
    an .ods or a file that is no zip at all gets an .xlsx copy, without its macros."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.replace("\\", "/").lower() == "xl/vbaproject.bin" for name in archive.namelist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return False
