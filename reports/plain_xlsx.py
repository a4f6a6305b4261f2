"""A plain .xlsx of a workbook's sheets as budgetflow read them: values, number formats and merged ranges.

It is what the annotated copy of a file openpyxl cannot open (.xls, .ods, .xlsb, Strict Open XML) starts
from: `reports.annotate_parts` then marks it as it marks any .xlsx. Written as XML text, part by part,
since building it cell by cell in openpyxl cost ten times as much (40 ms for the nine national tables).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import cast
from xml.sax.saxutils import escape, quoteattr

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import datetime as openpyxl_datetime
from openpyxl.utils.cell import get_column_letter

from workbooks.cells import CellValue, SheetGrid, WorkbookGrid

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
OFFICE_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_FIRST_CUSTOM_FORMAT = 164  # ids below are Excel's built-in formats
_DATE_FORMAT, _DATETIME_FORMAT, _TIME_FORMAT = "yyyy-mm-dd", "yyyy-mm-dd h:mm:ss", "h:mm:ss"
_LONGEST_TEXT = 32767  # Excel's limit for a cell
_LONGEST_TITLE = 31
# openpyxl's serial numbers, Excel's 1900 leap-year bug included; typed here, as openpyxl leaves it untyped
_serial = cast(Callable[[dt.date | dt.time], float], openpyxl_datetime.to_excel)
_NOT_IN_TITLES = re.compile(r"[\[\]:*?/\\]")  # .ods sheet names may hold what Excel's may not


def write_plain_xlsx(grid: WorkbookGrid, target: Path) -> None:
    formats: dict[str, int] = {}  # number format → its cell format's index in cellXfs (0: General)
    titles = _sheet_titles(grid)
    sheets = [_sheet_xml(sheet, formats) for sheet in grid.sheets]
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as package:
        package.writestr("[Content_Types].xml", _content_types(len(sheets)))
        package.writestr("_rels/.rels", _relationships([("officeDocument", "xl/workbook.xml")]))
        package.writestr("xl/workbook.xml", _workbook(titles))
        package.writestr(
            "xl/_rels/workbook.xml.rels",
            _relationships(
                [
                    *(("worksheet", f"worksheets/sheet{n}.xml") for n in range(1, len(sheets) + 1)),
                    ("styles", "styles.xml"),
                ]
            ),
        )
        package.writestr("xl/styles.xml", _styles(formats))
        for number, sheet in enumerate(sheets, 1):
            package.writestr(f"xl/worksheets/sheet{number}.xml", sheet)


def _sheet_titles(grid: WorkbookGrid) -> list[str]:
    """Each sheet's title as Excel allows it (unchanged for a workbook Excel could have saved), unique."""
    titles: list[str] = []
    for index, sheet in enumerate(grid.sheets, 1):
        title = _NOT_IN_TITLES.sub("_", sheet.title).strip("'")[:_LONGEST_TITLE] or f"Sheet{index}"
        while title.casefold() in {t.casefold() for t in titles}:
            title = f"{title[: _LONGEST_TITLE - len(str(index)) - 1]}_{index}"
        titles.append(title)
    return titles


def _sheet_xml(sheet: SheetGrid, formats: dict[str, int]) -> str:
    rows: dict[int, list[str]] = {}
    for (row, col), raw in sorted(sheet.cells.items()):
        if sheet.is_merged_follower(row, col):
            continue  # only the top-left cell of a merged range holds anything
        cell = _cell(f"{get_column_letter(col)}{row}", raw.value, sheet.number_format(row, col), formats)
        if cell:
            rows.setdefault(row, []).append(cell)
    data = "".join(f'<row r="{row}">{"".join(cells)}</row>' for row, cells in rows.items())
    merged = "".join(
        f'<mergeCell ref="{get_column_letter(c1)}{r1}:{get_column_letter(c2)}{r2}"/>' for c1, r1, c2, r2 in sheet.merged
    )
    merges = f'<mergeCells count="{len(sheet.merged)}">{merged}</mergeCells>' if sheet.merged else ""
    opening = f'{_DECLARATION}<worksheet xmlns="{MAIN}" xmlns:r="{OFFICE_REL}">'
    return f"{opening}<sheetData>{data}</sheetData>{merges}</worksheet>"


def _cell(reference: str, value: CellValue, number_format: str, formats: dict[str, int]) -> str:
    """A cell's XML; "" for one without a value (a formula no program cached a value of)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        if number_format == "General":
            number_format = _date_format(value)
        value = _serial(value)
    elif isinstance(value, dt.timedelta):
        value = value.total_seconds() / 86400  # a duration as a spreadsheet keeps it: in days
    style = _format_index(number_format, formats)
    where = f'r="{reference}"' + (f' s="{style}"' if style else "")
    if isinstance(value, bool):
        return f'<c {where} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float) and math.isfinite(value):
        return f"<c {where}><v>{value!r}</v></c>"
    text = ILLEGAL_CHARACTERS_RE.sub("", str(value))[:_LONGEST_TEXT]
    return f'<c {where} t="inlineStr"><is><t xml:space="preserve">{escape(text)}</t></is></c>'


def _date_format(value: dt.date | dt.time) -> str:
    if isinstance(value, dt.datetime):
        return _DATE_FORMAT if value.time() == dt.time() else _DATETIME_FORMAT
    return _TIME_FORMAT if isinstance(value, dt.time) else _DATE_FORMAT


def _format_index(number_format: str, formats: dict[str, int]) -> int:
    if number_format == "General":
        return 0
    return formats.setdefault(number_format, len(formats) + 1)


def _styles(formats: dict[str, int]) -> str:
    codes = "".join(
        f"<numFmt numFmtId={quoteattr(str(_FIRST_CUSTOM_FORMAT + index - 1))} formatCode={quoteattr(code)}/>"
        for code, index in formats.items()
    )
    cell_formats = "".join(
        f'<xf numFmtId="{_FIRST_CUSTOM_FORMAT + index - 1}" fontId="0" fillId="0" borderId="0" xfId="0" '
        'applyNumberFormat="1"/>'
        for index in formats.values()
    )
    return (
        f'{_DECLARATION}<styleSheet xmlns="{MAIN}">'
        + (f'<numFmts count="{len(formats)}">{codes}</numFmts>' if formats else "")
        + '<fonts count="1"><font><sz val="11"/><name val="等线"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        f'<cellXfs count="{len(formats) + 1}"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        f"{cell_formats}</cellXfs>"
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    )


def _workbook(titles: list[str]) -> str:
    sheets = "".join(
        f'<sheet name={quoteattr(title)} sheetId="{n}" r:id="rId{n}"/>' for n, title in enumerate(titles, 1)
    )
    return (
        f'{_DECLARATION}<workbook xmlns="{MAIN}" xmlns:r="{OFFICE_REL}">'
        f'<bookViews><workbookView activeTab="0"/></bookViews><sheets>{sheets}</sheets></workbook>'
    )


def _relationships(targets: list[tuple[str, str]]) -> str:
    items = "".join(
        f'<Relationship Id="rId{n}" Type="{OFFICE_REL}/{kind}" Target="{target}"/>'
        for n, (kind, target) in enumerate(targets, 1)
    )
    return f'{_DECLARATION}<Relationships xmlns="{PACKAGE_REL}">{items}</Relationships>'


def _content_types(sheets: int) -> str:
    kinds = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{kinds}.worksheet+xml"/>'
        for n in range(1, sheets + 1)
    )
    return (
        f'{_DECLARATION}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{kinds}.sheet.main+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{kinds}.styles+xml"/>'
        f"{overrides}</Types>"
    )
