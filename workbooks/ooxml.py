"""Office Open XML workbooks (.xlsx, .xlsm, transitional or Strict) as raw cells.

Values come from calamine (Rust, about 10× faster than openpyxl), with the number formats the rules
need (percentages, stated decimals, dates) taken from the cells' style ids in the sheet XML when first
asked for, and every formula's text, cached value or not, so that the reader can check what a program
cached. Workbooks calamine would read differently — a formula without a cached value that only openpyxl
gives the text of, an error value, cells without positions or beyond the read limits — go to openpyxl in
read-only mode, which reads everything, slowly.

The workbook part is found through the package's relationships, wherever it is; Strict Open XML's
namespaces are read like the transitional ones.
"""

from __future__ import annotations

import html
import io
import itertools
import posixpath
import re
import zipfile
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, BinaryIO
from xml.etree.ElementTree import ParseError

import openpyxl
import python_calamine
from defusedxml.ElementTree import fromstring as parse_xml
from openpyxl.formula.translate import Translator
from openpyxl.styles.numbers import BUILTIN_FORMATS
from openpyxl.utils.cell import column_index_from_string, range_boundaries
from openpyxl.worksheet.formula import ArrayFormula

from config.settings import ReaderLimits
from workbooks.calamine import Bounds, SheetPlan, bounded_merges, read_sheets
from workbooks.cells import RawCell, SheetGrid, UnreadableWorkbook, WorkbookGrid, a1
from workbooks.package import Package, part_name, relationships_of

_TRANSITIONAL_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_STRICT_MAIN = ("http://purl.oclc.org/ooxml/spreadsheetml/main",)
_MAIN_NAMESPACES = (_TRANSITIONAL_MAIN, *_STRICT_MAIN)
_RELATIONSHIPS_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_RELATIONSHIP_IDS = (
    "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id",
    "{http://purl.oclc.org/ooxml/officeDocument/relationships}id",
)
# Strict Open XML (ISO/IEC 29500 Strict) names the same elements in other namespaces, one for one.
_STRICT_TO_TRANSITIONAL = tuple(
    (strict.encode(), transitional.encode())
    for strict, transitional in (
        ("http://purl.oclc.org/ooxml/spreadsheetml/main", _TRANSITIONAL_MAIN),
        (
            "http://purl.oclc.org/ooxml/officeDocument/relationships",
            "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
        ),
        ("http://purl.oclc.org/ooxml/drawingml/main", "http://schemas.openxmlformats.org/drawingml/2006/main"),
        ("http://purl.oclc.org/ooxml/drawingml/chart", "http://schemas.openxmlformats.org/drawingml/2006/chart"),
        (
            "http://purl.oclc.org/ooxml/drawingml/spreadsheetDrawing",
            "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing",
        ),
        (
            "http://purl.oclc.org/ooxml/officeDocument/extendedProperties",
            "http://schemas.openxmlformats.org/officeDocument/2006/extended-properties",
        ),
        (
            "http://purl.oclc.org/ooxml/officeDocument/docPropsVTypes",
            "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes",
        ),
    )
)
_CELL_TAG = re.compile(rb"<c\s([^>]*)>")
# r, then s, then t, then other attributes: the order every known writer uses; any other is read by _CELL_TAG.
# An empty cell may close with ` />` (Python's own XML writer, as openpyxl uses it).
_PLAIN_CELL_TAG = re.compile(
    rb'<c r="([A-Z]{1,3})([0-9]{1,7})"(?: s="([0-9]{1,6})")?(?: t="([a-zA-Z]+)")?(?: [a-zA-Z]+="[^"<>]*")* ?/?>'
)
_CELL_REF = re.compile(rb'(?:^|\s)r="([A-Z]{1,3})([0-9]{1,7})"')
_CELL_STYLE = re.compile(rb'(?:^|\s)s="([0-9]{1,6})"')
_ERROR_TYPE = re.compile(rb'(?:^|\s)t="e"')
_UNUSUAL_CELLS = re.compile(rb"<c/?>|<[A-Za-z_][\w.-]*:(?:c|row|sheetData)[\s>/]")  # no position, or prefixed
_MAX_MARKUP_PER_ROW = 8 * 16384  # an Excel row holds at most 16384 cells, each a few elements (c, f, v, is, r, t)
_ROW_START = re.compile(rb"<row[\s>/]")
_MERGE_REF = re.compile(rb'<mergeCell\s+ref="([A-Z]+[0-9]+(?::[A-Z]+[0-9]+)?)"')
_FORMULA_START = re.compile(rb"<f[\s>/]")
_FORMULA_ELEMENT = re.compile(rb"<f(\s[^>]*?)?\s*(?:/>|>([^<]*)</f>)")
_FORMULA_KIND = re.compile(rb"""\st=["']([A-Za-z]+)["']""")
_SHARED_INDEX = re.compile(rb"""\ssi=["']([0-9]+)["']""")


def read_ooxml(path: Path, package: Package, limits: ReaderLimits) -> WorkbookGrid:
    """Every sheet of an .xlsx or .xlsm: through calamine where it reads the workbook as openpyxl would."""
    return _read_with_calamine(path, package, limits) or _read_with_openpyxl(path, package, limits)


def _namespace(tag: str) -> str:
    """`{uri}` of an element's tag (empty for none)."""
    return tag[: tag.index("}") + 1] if tag.startswith("{") else ""


def _refuse_shared_parts(parts: list[str]) -> None:
    """Two sheets never share one part in a file a spreadsheet program wrote; a file that has them would make
    every reader parse the part again for each (a 529 KB file of 184 sheets sharing one part, minutes)."""
    if len(set(parts)) != len(parts):
        raise UnreadableWorkbook(
            f"工作簿中 {len(parts) - len(set(parts)) + 1} 个以上的工作表指向同一份工作表内容，"
            "不是电子表格软件保存的结构，拒绝读取（文件可能已损坏或是恶意文件）"
        )


@dataclass(slots=True)
class _WorkbookParts:
    sheets: list[tuple[str, str | None]]  # title, worksheet part (None: a chartsheet or another kind)
    styles: str | None


def _workbook_parts(package: Package, limits: ReaderLimits) -> _WorkbookParts | None:
    """The sheets and styles of the workbook, wherever its relationships put it; None when it is no spreadsheetml
    workbook this reader knows."""
    workbook = package.office_document()
    if workbook is None or not workbook.endswith(".xml"):
        return None
    relationships = relationships_of(workbook)
    if workbook not in package.parts or relationships not in package.parts:
        return None
    declared = _parsed_once(
        _declared_parts, package.read(workbook), package.read(relationships), posixpath.dirname(workbook)
    )
    if declared is None:
        return None
    sheets, styles = declared
    if len(sheets) > limits.max_sheets:
        raise UnreadableWorkbook(f"工作簿有 {len(sheets)} 个工作表，超过上限 {limits.max_sheets}，拒绝读取")
    if any(part is not None and part not in package.names for _, part in sheets):
        return None
    _refuse_shared_parts([part for _, part in sheets if part is not None])
    return _WorkbookParts(list(sheets), next((part for part in styles if part in package.names), None))


# A county's workbooks come from one template, so most share these parts byte for byte: each distinct
# one is parsed once per process. The cached results are shared and never changed; a part too large to
# be worth keeping (the cache holds its bytes) is parsed every time.
CACHED_PART_BYTES = 256 * 1024


def _parsed_once(parse: Any, *arguments: bytes | str) -> Any:
    """`parse(*arguments)`, cached (an `lru_cache` function) unless the parts are too large to keep."""
    size = sum(len(argument) for argument in arguments if isinstance(argument, bytes))
    return (parse if size <= CACHED_PART_BYTES else parse.__wrapped__)(*arguments)


@lru_cache(maxsize=64)
def _declared_parts(
    workbook_xml: bytes, relationships_xml: bytes, folder: str
) -> tuple[tuple[tuple[str, str | None], ...], tuple[str, ...]] | None:
    """(title, worksheet part or None for a chartsheet) of every sheet, and the styles parts, as declared."""
    relationships = {
        rel.get("Id"): (rel.get("Type", ""), part_name(folder, rel.get("Target", "")))
        for rel in parse_xml(relationships_xml).iter(f"{_RELATIONSHIPS_NS}Relationship")
    }
    root = parse_xml(workbook_xml)
    main = _namespace(root.tag)
    if main.strip("{}") not in _MAIN_NAMESPACES:
        return None
    sheets_element = root.find(f"{main}sheets")
    if sheets_element is None:
        return None
    sheets = []
    for sheet in sheets_element.iter(f"{main}sheet"):
        identifier = next((sheet.get(name) for name in _RELATIONSHIP_IDS if sheet.get(name) is not None), None)
        kind, part = relationships.get(identifier, ("", ""))
        sheets.append((sheet.get("name", ""), part if kind.endswith("/worksheet") else None))
    styles = tuple(part for kind, part in relationships.values() if kind.endswith("/styles"))
    return tuple(sheets), styles


def _style_formats(package: Package, styles: str | None) -> dict[int, str]:
    """Number format code of every cell style (xf) whose format is not General (shared: read only)."""
    if styles is None:
        return {}
    formats: dict[int, str] = _parsed_once(_formats_of_styles, package.read(styles))
    return formats


@lru_cache(maxsize=64)
def _formats_of_styles(xml: bytes) -> dict[int, str]:
    root = parse_xml(xml)
    main = _namespace(root.tag)
    custom = {
        int(item.get("numFmtId", "-1")): item.get("formatCode", "General")
        for item in root.iterfind(f"{main}numFmts/{main}numFmt")
    }
    formats = {}
    for index, xf in enumerate(root.iterfind(f"{main}cellXfs/{main}xf")):
        number_format_id = int(xf.get("numFmtId", "0"))
        code = custom.get(number_format_id) or BUILTIN_FORMATS.get(number_format_id, "General")
        if code != "General":
            formats[index] = code
    return formats


@lru_cache(maxsize=1024)
def _column_number(letters: bytes) -> int:
    return column_index_from_string(letters.decode())


_PlainCell = tuple[bytes, bytes, bytes, bytes]  # column letters, row, style id, type: as _PLAIN_CELL_TAG finds them


def _plain_cells(xml: bytes, limits: ReaderLimits) -> list[_PlainCell] | None:
    """Every cell tag of a sheet as every known writer makes it (r, s, t in that order), found in one pass in C;
    None when some tag is not (`_cell_formats_by_attribute` reads those), or when calamine would not read the
    sheet as openpyxl does (an error value, a cell beyond what is read)."""
    cells = _PLAIN_CELL_TAG.findall(xml)
    if len(cells) != xml.count(b"<c "):
        return None
    if cells:
        letters, rows, _, kinds = zip(*cells, strict=True)
        # the checks once per distinct text, not once per cell: a sheet holds few of each
        if b"e" in kinds or max(map(int, set(rows))) > limits.max_rows:
            return None
        if max(_column_number(text) for text in set(letters)) > limits.max_columns:
            return None
    return cells


def _formats_of_cells(cells: list[_PlainCell], style_formats: dict[int, str]) -> dict[tuple[int, int], str]:
    """The number format of every cell that has one. Made when a rule or a copy first asks for a format (most
    workbooks are read without)."""
    codes = {
        text: code for text in {c[2] for c in cells} if text and (code := style_formats.get(int(text))) is not None
    }
    return {
        (int(row_text), _column_number(column_text)): codes[style_text]
        for column_text, row_text, style_text, _ in cells
        if style_text in codes
    }


def _cell_formats_by_attribute(
    xml: bytes, style_formats: dict[int, str], limits: ReaderLimits
) -> dict[tuple[int, int], str] | None:
    """The number format of every cell that has one, for cell tags with their attributes in any order; None when
    calamine would not read the sheet as openpyxl does."""
    formats = {}
    for tag in _CELL_TAG.finditer(xml):
        attributes = tag.group(1)
        reference = _CELL_REF.search(attributes)
        if reference is None or _ERROR_TYPE.search(attributes):
            return None  # no position, or an error value that calamine reads as empty
        row, col = int(reference.group(2)), column_index_from_string(reference.group(1).decode())
        if row > limits.max_rows or col > limits.max_columns:
            return None  # calamine holds a sheet as a dense range: only openpyxl reads a far cell cheaply
        style = _CELL_STYLE.search(attributes)
        if style is not None and (code := style_formats.get(int(style.group(1)))) is not None:
            formats[(row, col)] = code
    return formats


def _read_with_calamine(path: Path, package: Package, limits: ReaderLimits) -> WorkbookGrid | None:
    """Every sheet through calamine; None when the workbook needs openpyxl (see the module's docstring)."""
    try:
        workbook = _workbook_parts(package, limits)
        if workbook is None:
            return None
        style_formats = _style_formats(package, workbook.styles)
    except (ParseError, ValueError, KeyError):
        return None  # a malformed part: openpyxl reads it if it can, and says what is wrong if not
    plans: list[SheetPlan] = []
    read_bytes = 0
    for title, part in workbook.sheets:
        if part is None:
            continue
        xml = package.read(part)
        read_bytes += len(xml)
        if read_bytes > limits.max_total_bytes:
            return None
        _check_markup(title, xml)
        if _UNUSUAL_CELLS.search(xml):
            return None
        formulas = _sheet_formulas(xml)
        if formulas is None:
            return None
        merged = merges(title, xml, limits)
        cells = _plain_cells(xml, limits)
        if cells is not None:
            plans.append(SheetPlan(title, {}, formulas, merged, partial(_formats_of_cells, cells, style_formats)))
            continue
        formats = _cell_formats_by_attribute(xml, style_formats, limits)
        if formats is None:
            return None
        plans.append(SheetPlan(title, formats, formulas, merged))
    try:
        return read_sheets(path, plans, limits)
    except python_calamine.CalamineError:
        return None  # openpyxl says what is wrong, in the words the clerk gets for every engine failure


def _load(source: Path | bytes, handles: list[BinaryIO], *, data_only: bool) -> Any:
    """A read-only openpyxl workbook over an open handle: the engine then ignores the file's name,
    so `submission`, `x.XLSX.bak` and `.xlsm` files are opened by content, not by extension."""
    handle: BinaryIO = source.open("rb") if isinstance(source, Path) else io.BytesIO(source)
    handles.append(handle)
    return openpyxl.load_workbook(handle, read_only=True, data_only=data_only, keep_links=False)


def _openpyxl_source(path: Path, package: Package) -> Path | bytes:
    """What openpyxl can open: the file itself, or, for a package whose part names use backslashes or whose
    parts are Strict Open XML (which openpyxl reads as a workbook without sheets), its XML parts again under
    plain names and in the transitional namespaces they correspond to one for one."""
    strict = any(name.encode() in data for data in package.parts.values() for name in _STRICT_MAIN)
    if not package.renamed and not strict:
        return path
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as copy:
        for name, data in package.parts.items():
            copy.writestr(name, _transitional(data) if strict else data)
    return buffer.getvalue()


def _transitional(xml: bytes) -> bytes:
    for strict, transitional in _STRICT_TO_TRANSITIONAL:
        xml = xml.replace(strict, transitional)
    return xml


def _read_with_openpyxl(path: Path, package: Package, limits: ReaderLimits) -> WorkbookGrid:
    handles: list[BinaryIO] = []
    source = _openpyxl_source(path, package)
    values_book = _load(source, handles, data_only=True)
    formula_book = None
    sheets: list[SheetGrid] = []
    read_bytes = 0
    try:
        if len(values_book.sheetnames) > limits.max_sheets:
            raise UnreadableWorkbook(
                f"工作簿有 {len(values_book.sheetnames)} 个工作表，超过上限 {limits.max_sheets}，拒绝读取"
            )
        worksheets = [worksheet for worksheet in values_book.worksheets if hasattr(worksheet, "_worksheet_path")]
        _refuse_shared_parts([worksheet._worksheet_path for worksheet in worksheets])  # chartsheets hold no cells
        for worksheet in worksheets:
            part = worksheet._worksheet_path
            xml = package.read(part)
            read_bytes += len(xml)
            if read_bytes > limits.max_total_bytes:  # sheets that share one part would multiply the work
                raise UnreadableWorkbook(
                    f"工作表内容合计超过上限 {limits.max_total_bytes // (1024 * 1024)} MB，拒绝读取（可能是恶意文件）"
                )
            _check_markup(worksheet.title, xml)
            grid = SheetGrid(title=worksheet.title)
            for row in worksheet.iter_rows(max_row=limits.max_rows, max_col=limits.max_columns):
                for cell in row:
                    if cell.value is None or not hasattr(cell, "row"):
                        continue
                    grid.put(cell.row, cell.column, RawCell(cell.value, cell.number_format or "General"))
            grid.merged = merges(worksheet.title, xml, limits)
            if _has_formula(xml):
                if formula_book is None:
                    formula_book = _load(source, handles, data_only=False)
                _add_formulas(grid, formula_book[worksheet.title], limits)
            grid.index_merges()
            sheets.append(grid)
    finally:
        values_book.close()
        if formula_book is not None:
            formula_book.close()
        for handle in handles:
            handle.close()
    return WorkbookGrid(sheets)


def _check_markup(title: str, xml: bytes) -> None:
    """Refuse a sheet with a row (or the stretch before or after the rows) of abnormally many elements.

    The engine holds one whole row in memory while parsing it (and keeps unknown elements outside rows),
    so a row of a million cells costs gigabytes although the part is under max_part_bytes.
    """
    start = 0
    for match in itertools.chain(_ROW_START.finditer(xml), [None]):
        end = len(xml) if match is None else match.start()
        if end - start > _MAX_MARKUP_PER_ROW and xml.count(b"<", start, end) > _MAX_MARKUP_PER_ROW:
            raise UnreadableWorkbook(
                f"工作表“{title}”中有一行含有异常多的单元格或 XML 元素（超过 Excel 的行宽上限），"
                "拒绝读取（文件可能已损坏或是恶意文件）"
            )
        start = end


def merges(title: str, xml: bytes, limits: ReaderLimits) -> list[Bounds]:
    """The sheet's merged ranges, clipped to the rows and columns that are read."""
    return bounded_merges(title, (_bounds(ref) for ref in _MERGE_REF.findall(xml)), limits)


@lru_cache(maxsize=4096)
def _bounds(ref: bytes) -> tuple[int, int, int, int]:
    """A merged range's bounds (kept: a county's workbooks merge the same header cells file after file)."""
    min_col, min_row, max_col, max_row = range_boundaries(ref.decode())
    return (min_col or 1, min_row or 1, max_col or 1, max_row or 1)


def _sheet_formulas(xml: bytes) -> dict[tuple[int, int], tuple[str, bool]] | None:
    """(`=text`, cached?) of every formula of a sheet; None when one without a cached value is one that only
    openpyxl gives the text of (an array or data-table formula, a shared one without its master, a cell
    tag of another shape). A cached array or data-table formula keeps its value and gives no text.

    One pass over the `<f` elements, each found in its cell by plain searches (no backtracking regex);
    a shared formula's followers get the master's text moved to their own cell, as a spreadsheet does.
    """
    if b"<f" not in xml:
        return {}
    formulas: dict[tuple[int, int], tuple[str, bool]] = {}
    masters: dict[bytes, tuple[str, str]] = {}  # shared index → (the master's cell, its formula)
    followers: list[tuple[int, int, bytes, bool]] = []
    position = 0
    while (found := _FORMULA_START.search(xml, position)) is not None:
        start, end = xml.rfind(b"<c", 0, found.start()), xml.find(b"</c>", found.end())
        element = _FORMULA_ELEMENT.match(xml, found.start())
        tag_end = xml.find(b">", start, found.start()) if start >= 0 else -1
        reference = _CELL_REF.search(xml, start + 2, tag_end) if tag_end >= 0 else None
        if end < 0 or element is None or reference is None:
            return None
        position = end + 4
        row, col = int(reference.group(2)), _column_number(reference.group(1))
        attributes, text = element.group(1) or b"", element.group(2) or b""
        cached = _has_cached_value(xml, element.end(), end)
        kind = _FORMULA_KIND.search(attributes)
        kind_name = kind.group(1) if kind else b"normal"
        if kind_name in (b"array", b"dataTable"):
            if not cached:
                return None
            continue
        formula = "=" + html.unescape(text.decode("utf-8"))
        if kind_name == b"shared":
            index = _SHARED_INDEX.search(attributes)
            if index is None:
                return None
            if not text:
                followers.append((row, col, index.group(1), cached))
                continue
            masters[index.group(1)] = (a1(row, col), formula)
        formulas[(row, col)] = (formula, cached)
    for row, col, shared, cached in followers:
        master = masters.get(shared)
        if master is None:
            if not cached:
                return None
            continue
        origin, formula = master
        formulas[(row, col)] = (Translator(formula, origin=origin).translate_formula(a1(row, col)), cached)
    return formulas


def _has_cached_value(xml: bytes, start: int, end: int) -> bool:
    """Whether a `<v>` with content stands between the formula and the end of its cell (`<v/>`, `<v />` and
    `<v></v>` are no value)."""
    value = xml.find(b"<v", start, end)
    if value < 0:
        return False
    close = xml.find(b">", value, end)
    if close < 0 or xml[close - 1 : close] == b"/":
        return False
    return xml.find(b"</v>", close, end) > close + 1


def _has_formula(xml: bytes) -> bool:
    return _FORMULA_START.search(xml) is not None


def _add_formulas(grid: SheetGrid, worksheet: object, limits: ReaderLimits) -> None:
    """Each formula's text onto its cell (openpyxl's formula reading: shared formulas already moved to their cells)."""
    rows = worksheet.iter_rows(max_row=limits.max_rows, max_col=limits.max_columns)  # type: ignore[attr-defined]
    for row in rows:
        for cell in row:
            value = cell.value
            array = isinstance(value, ArrayFormula)
            if array:  # {=…} entered with Ctrl+Shift+Enter: the same arithmetic, evaluated when nothing is cached
                value = value.text
            if not isinstance(value, str) or not value.startswith("=") or not hasattr(cell, "row"):
                continue
            cached = grid.cells.get((cell.row, cell.column))
            if cached is None:
                grid.put(cell.row, cell.column, RawCell(None, cell.number_format or "General", formula=value))
            elif not array:
                cached.formula, cached.cached = value, True
