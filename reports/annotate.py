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
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.hyperlink import Hyperlink

from checks.findings import Finding, Severity
from reports.annotate_parts import UnsupportedWorkbook, write_annotated_parts
from reports.annotation import (
    COMMENT_AUTHOR,
    COMMENT_HEIGHT,
    COMMENT_WIDTH,
    ERROR_RGB,
    MAX_CELLS_PER_RANGE,
    NO_FINDINGS_TEXT,
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

__all__ = ["ERROR_FILL", "MAX_CELLS_PER_RANGE", "RESULT_SHEET", "WARNING_FILL", "annotate_workbook", "has_macros"]

log = logging.getLogger(__name__)

ERROR_FILL = PatternFill("solid", start_color=ERROR_RGB, end_color=ERROR_RGB)
WARNING_FILL = PatternFill("solid", start_color=WARNING_RGB, end_color=WARNING_RGB)
FORMULA_STARTS = ("=", "+", "-", "@")
Writer = Literal["parts", "openpyxl"]


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
        if line.link is not None:
            link = sheet.cell(row, 5)
            link.hyperlink = Hyperlink(ref=link.coordinate, location=line.link, display=link.value)
            link.style = "Hyperlink"
    if not lines:
        write_text(sheet.cell(4, 1), NO_FINDINGS_TEXT)
    for letter, width in zip("ABCDEFGH", RESULT_WIDTHS, strict=True):
        sheet.column_dimensions[letter].width = width
    for other in book.worksheets:  # a sheet left selected would open grouped with this one in Excel
        other.sheet_view.tabSelected = False
    sheet.sheet_view.tabSelected = True
    book.active = 0


def _write_with_openpyxl(original: Path, findings: list[Finding], target: Path, title: str) -> None:
    with original.open("rb") as handle:  # archived files have no extension; open by content
        book = openpyxl.load_workbook(handle, keep_vba=has_macros(original), keep_links=True, rich_text=True)
    _mark_cells(book, findings)
    _result_sheet(book, findings, title)
    book.save(target)


def annotate_workbook(
    original: Path, findings: list[Finding], target: Path, title: str, *, writer: Writer = "parts"
) -> Path:
    """Write the annotated copy of `original` to `target` (part by part unless the workbook needs openpyxl)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    if writer == "parts":
        try:
            write_annotated_parts(original, findings, temporary, title)
        except (UnsupportedWorkbook, ParseError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            log.debug("annotating %s with openpyxl: %s", original, exc)
            writer = "openpyxl"
    if writer == "openpyxl":
        _write_with_openpyxl(original, findings, temporary, title)
    temporary.replace(target)
    return target


def has_macros(path: Path) -> bool:
    """Whether the workbook carries a VBA project (then its copy must stay .xlsm; macros never run)."""
    with zipfile.ZipFile(path) as archive:
        return "xl/vbaProject.bin" in archive.namelist()
