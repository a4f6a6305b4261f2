"""OpenDocument spreadsheets (.ods, as LibreOffice, WPS and others save them) as raw cells.

Values come from calamine, cut to the rows and columns that are read. What calamine does not give is
read from `content.xml` in one streaming pass: each cell's number format, from the data style of its
cell style (or of its row's or column's default style), and the merged ranges, which ODF writes as
spans on the cell that starts them. Positions follow ODF's repeat counts (LibreOffice writes the
empty rest of a sheet as one row repeated a million times) without expanding them. A formula's cached
result (`office:value`) is taken as it is: ODF formulas are OpenFormula, not Excel's syntax.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from defusedxml.ElementTree import iterparse, parse

from config.settings import ReaderLimits
from workbooks.calamine import Bounds, SheetPlan, bounded_merges, read_sheets
from workbooks.cells import UnreadableWorkbook, WorkbookGrid
from workbooks.package import Package

_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_STYLE = "{urn:oasis:names:tc:opendocument:xmlns:style:1.0}"
_NUMBER = "{urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_NUMBER_STYLES = {f"{_NUMBER}number-style": "", f"{_NUMBER}currency-style": "", f"{_NUMBER}percentage-style": "%"}
_NUMERIC_TYPES = {"float", "percentage", "currency"}
_CELLS = (f"{_TABLE}table-cell", f"{_TABLE}covered-table-cell")


def read_ods(path: Path, package: Package, limits: ReaderLimits) -> WorkbookGrid:
    """Every sheet of an OpenDocument spreadsheet, with number formats and merged ranges from its XML."""
    if "content.xml" not in package.parts:
        raise UnreadableWorkbook("OpenDocument 表格缺少 content.xml，文件已损坏")
    cell_formats = _cell_style_formats(package)
    plans = list(_sheet_plans(package.read("content.xml"), cell_formats, limits))
    if len(plans) > limits.max_sheets:
        raise UnreadableWorkbook(f"工作簿有 {len(plans)} 个工作表，超过上限 {limits.max_sheets}，拒绝读取")
    return read_sheets(path, plans, limits, bounded=True)


def _format_code(element: Any) -> str:
    """An Excel-style format code for an ODF number style (what the rate and amount rules read)."""
    number = element.find(f"{_NUMBER}number")
    decimals = int(number.get(f"{_NUMBER}decimal-places", "0")) if number is not None else 0
    grouping = number is not None and number.get(f"{_NUMBER}grouping") == "true"
    whole = "#,##0" if grouping else "0"
    fraction = "." + "0" * min(decimals, 30) if decimals > 0 else ""
    return whole + fraction + _NUMBER_STYLES[element.tag]


def _cell_style_formats(package: Package) -> dict[str, str]:
    """Cell style name → format code, for the styles whose data style is a number, currency or percentage."""
    data_styles: dict[str, str] = {}
    cell_styles: dict[str, tuple[str | None, str | None]] = {}  # name → (data style, parent)
    for name in ("styles.xml", "content.xml"):
        if name not in package.parts:
            continue
        for element in _style_elements(package.read(name)):
            if element.tag in _NUMBER_STYLES:
                data_styles[element.get(f"{_STYLE}name", "")] = _format_code(element)
            elif element.tag == f"{_STYLE}style" and element.get(f"{_STYLE}family") == "table-cell":
                cell_styles[element.get(f"{_STYLE}name", "")] = (
                    element.get(f"{_STYLE}data-style-name"),
                    element.get(f"{_STYLE}parent-style-name"),
                )
    formats = {}
    for style in cell_styles:
        current: str | None = style
        for _ in range(8):  # a parent chain is a few deep; a cycle in a broken file ends here
            if current is None or current not in cell_styles:
                break
            data_style, parent = cell_styles[current]
            if data_style is not None:
                if data_style in data_styles:
                    formats[style] = data_styles[data_style]
                break
            current = parent
    return formats


def _style_elements(xml: bytes) -> Iterator[Any]:
    """The style definitions of a part (office:styles and office:automatic-styles), not its body."""
    root = parse(io.BytesIO(xml)).getroot()
    for section in ("styles", "automatic-styles"):
        for container in root.iter(f"{_OFFICE}{section}"):
            yield from container


@dataclass(slots=True)
class _Sheet:
    title: str
    formats: dict[tuple[int, int], str] = field(default_factory=dict)
    merged: list[Bounds] = field(default_factory=list)
    column_styles: list[tuple[int, str | None]] = field(default_factory=list)  # (last column, default style)
    row: int = 0  # the last row placed
    col: int = 0  # the last column placed in the current row
    row_repeat: int = 1
    row_style: str | None = None

    def column_style(self, col: int) -> str | None:
        return next((style for last, style in self.column_styles if col <= last), None)


def _repeat(element: Any, name: str) -> int:
    try:
        return max(1, int(element.get(f"{_TABLE}{name}", "1")))
    except ValueError:
        return 1


def _sheet_plans(content: bytes, cell_formats: dict[str, str], limits: ReaderLimits) -> Iterator[SheetPlan]:
    sheet: _Sheet | None = None
    depth = 0  # tables nested inside a cell (ODF allows them) are not sheets
    for event, element in iterparse(io.BytesIO(content), events=("start", "end")):
        tag = element.tag
        if tag == f"{_TABLE}table":
            if event == "start":
                depth += 1
                if depth == 1:
                    sheet = _Sheet(element.get(f"{_TABLE}name", ""))
            else:
                depth -= 1
                if depth == 0 and sheet is not None:
                    merged = bounded_merges(sheet.title, sheet.merged, limits)
                    yield SheetPlan(sheet.title, sheet.formats, {}, merged)
                    sheet = None
                element.clear()
            continue
        if sheet is None or depth != 1:
            continue
        if tag == f"{_TABLE}table-column" and event == "start":
            last = sheet.column_styles[-1][0] if sheet.column_styles else 0
            repeat = _repeat(element, "number-columns-repeated")
            sheet.column_styles.append((last + repeat, element.get(f"{_TABLE}default-cell-style-name")))
        elif tag == f"{_TABLE}table-row":
            if event == "start":
                sheet.row += 1
                sheet.col = 0
                sheet.row_repeat = _repeat(element, "number-rows-repeated")
                sheet.row_style = element.get(f"{_TABLE}default-cell-style-name")
            else:
                sheet.row += sheet.row_repeat - 1
                element.clear()
        elif tag in _CELLS and event == "end":
            _place_cell(sheet, element, cell_formats, limits)
            element.clear()


def _place_cell(sheet: _Sheet, element: Any, cell_formats: dict[str, str], limits: ReaderLimits) -> None:
    repeat = _repeat(element, "number-columns-repeated")
    first_col = sheet.col + 1
    sheet.col += repeat
    row = sheet.row
    if row > limits.max_rows or first_col > limits.max_columns:
        return
    if element.tag == f"{_TABLE}table-cell":
        rows_spanned = _repeat(element, "number-rows-spanned")
        columns_spanned = _repeat(element, "number-columns-spanned")
        if rows_spanned > 1 or columns_spanned > 1:
            sheet.merged.append((first_col, row, first_col + columns_spanned - 1, row + rows_spanned - 1))
    if element.get(f"{_OFFICE}value-type") not in _NUMERIC_TYPES:
        return
    for col in range(first_col, min(first_col + repeat, limits.max_columns + 1)):
        style = element.get(f"{_TABLE}style-name") or sheet.row_style or sheet.column_style(col)
        code = cell_formats.get(style or "")
        if code is None and element.get(f"{_OFFICE}value-type") == "percentage":
            code = "0%"  # shown as a percentage, with decimals the file does not say
        if code is not None:
            for repeated_row in range(row, min(row + sheet.row_repeat, limits.max_rows + 1)):
                sheet.formats[(repeated_row, col)] = code
