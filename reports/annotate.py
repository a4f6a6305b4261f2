"""The annotated copy of a bureau's own workbook: failing cells filled and commented, findings first.

The bureau's workbook is opened in full (formulas, formats and other sheets are kept as they are),
every cell a finding names is filled red (error) or amber (warning) with a comment giving the rule
and the expected value, and a first sheet `校验结果` lists the findings with links to their cells.
Bureau-supplied text is always written as text, never as a formula.
"""

from __future__ import annotations

import zipfile
from collections import defaultdict
from itertools import islice
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.cell.cell import Cell, MergedCell
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils.cell import get_column_letter, range_boundaries
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.worksheet import Worksheet

from checks.findings import Finding, Severity

RESULT_SHEET = "校验结果"
ERROR_FILL = PatternFill("solid", start_color="FFF4B6B6", end_color="FFF4B6B6")
WARNING_FILL = PatternFill("solid", start_color="FFFFD966", end_color="FFFFD966")
SEVERITY_TEXT = {Severity.ERROR: "错误", Severity.WARNING: "警告"}
FORMULA_STARTS = ("=", "+", "-", "@")
MAX_CELLS_PER_RANGE = 500


def write_text(cell: Cell | MergedCell, value: Any) -> None:
    """Put a value in a cell; text stays text even when it starts like a formula (`=1+1`, `@SUM`)."""
    if not isinstance(cell, Cell):
        raise ValueError(f"{cell.coordinate} lies inside a merged range")
    cell.value = value
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        cell.data_type = "s"


def _cells_of(reference: str) -> list[str]:
    """The A1 cells of a reference (`B10` or `C2:C7`), bounded."""
    if ":" not in reference:
        return [reference]
    min_col, min_row, max_col, max_row = range_boundaries(reference)
    if None in (min_col, min_row, max_col, max_row):
        return []
    cells = (
        f"{get_column_letter(col)}{row}"
        for row in range(min_row or 1, (max_row or 1) + 1)
        for col in range(min_col or 1, (max_col or 1) + 1)
    )
    return list(islice(cells, MAX_CELLS_PER_RANGE))  # never list a whole sheet (`A1:XFD1048576`) first


def _comment_text(finding: Finding) -> str:
    lines = [f"[{SEVERITY_TEXT[finding.severity]}] {finding.rule}", finding.message]
    if finding.expected is not None:
        lines.append(f"应为：{finding.expected}")
    return "\n".join(lines)


def _marked_cell(sheet: Worksheet, coordinate: str) -> Cell | None:
    """The cell that carries the mark of `coordinate`: itself, or the top-left cell of its merged range."""
    cell = sheet[coordinate]
    if isinstance(cell, Cell):
        return cell
    for merged in sheet.merged_cells.ranges:
        if coordinate in merged:
            top_left = sheet.cell(merged.min_row, merged.min_col)
            return top_left if isinstance(top_left, Cell) else None
    return None


def _mark_cells(book: openpyxl.Workbook, findings: list[Finding]) -> None:
    notes: dict[Cell, list[Finding]] = defaultdict(list)
    for finding in findings:
        if finding.sheet is None or finding.sheet not in book.sheetnames:
            continue
        sheet = book[finding.sheet]
        assert isinstance(sheet, Worksheet)
        for reference in finding.cells:
            for coordinate in _cells_of(reference):
                cell = _marked_cell(sheet, coordinate)
                # One note per cell: the cells of a merged range all come to its top-left cell.
                if cell is not None and finding not in notes[cell]:
                    notes[cell].append(finding)
    for cell, named_by in notes.items():
        error = any(f.severity is Severity.ERROR for f in named_by)
        cell.fill = ERROR_FILL if error else WARNING_FILL
        text = "\n\n".join(_comment_text(f) for f in named_by)
        cell.comment = Comment(text[:30000], "budgetflow", width=320, height=160)


def _result_sheet(book: openpyxl.Workbook, findings: list[Finding], title: str) -> None:
    name = RESULT_SHEET
    while name in book.sheetnames:  # the bureau's own workbook may have a sheet of that name
        name = f"{name}_"
    sheet = book.create_sheet(name, 0)
    write_text(sheet.cell(1, 1), title)
    sheet.cell(1, 1).font = Font(bold=True, size=13)
    headers = ["序号", "级别", "规则", "工作表", "单元格", "说明", "应为", "实际"]
    for col, header in enumerate(headers, start=1):
        sheet.cell(3, col, header).font = Font(bold=True)
    for row, finding in enumerate(findings, start=4):
        values = [
            row - 3,
            SEVERITY_TEXT[finding.severity],
            finding.rule,
            finding.sheet or "",
            ", ".join(finding.cells),
            finding.message,
            finding.expected or "",
            finding.actual or "",
        ]
        for col, value in enumerate(values, start=1):
            write_text(sheet.cell(row, col), value)
        sheet.cell(row, 2).fill = ERROR_FILL if finding.severity is Severity.ERROR else WARNING_FILL
        if finding.sheet and finding.cells and finding.sheet in book.sheetnames:
            first = finding.cells[0].split(":")[0]
            link = sheet.cell(row, 5)
            quoted = finding.sheet.replace("'", "''")
            link.hyperlink = Hyperlink(ref=link.coordinate, location=f"'{quoted}'!{first}", display=link.value)
            link.style = "Hyperlink"
    if not findings:
        write_text(sheet.cell(4, 1), "未发现问题。")
    for letter, width in zip("ABCDEFGH", (6, 6, 24, 14, 16, 70, 14, 14), strict=True):
        sheet.column_dimensions[letter].width = width
    for other in book.worksheets:  # a sheet left selected would open grouped with this one in Excel
        other.sheet_view.tabSelected = False
    sheet.sheet_view.tabSelected = True
    book.active = 0


def annotate_workbook(original: Path, findings: list[Finding], target: Path, title: str) -> Path:
    """Write the annotated copy of `original` to `target`."""
    with original.open("rb") as handle:  # archived files have no extension; open by content
        book = openpyxl.load_workbook(handle, keep_vba=has_macros(original), keep_links=True, rich_text=True)
    _mark_cells(book, findings)
    _result_sheet(book, findings, title)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    book.save(temporary)
    temporary.replace(target)
    return target


def has_macros(path: Path) -> bool:
    """Whether the workbook carries a VBA project (then its copy must stay .xlsm; macros never run)."""
    with zipfile.ZipFile(path) as archive:
        return "xl/vbaProject.bin" in archive.namelist()
