"""The one small interface between a workbook file and the layout reader.

`open_grid(path)` returns every sheet as a sparse grid of raw cells (value, number format, and the
formula where a formula has no cached value) plus its merged ranges. Nothing above this module
knows which engine read the file; the engine here is openpyxl in read-only mode.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import ParseError

import openpyxl
from defusedxml import DefusedXmlException
from openpyxl.utils.cell import get_column_letter, range_boundaries

from budgetflow.settings import ReaderLimits

CellValue = str | int | float | bool | object | None


class UnreadableWorkbook(Exception):
    """The file cannot be opened as a workbook; the message says why, for a bureau clerk."""


@dataclass(slots=True)
class RawCell:
    value: CellValue
    number_format: str = "General"
    formula: str | None = None  # only when the cell has a formula and no cached value


@dataclass(slots=True)
class SheetGrid:
    title: str
    cells: dict[tuple[int, int], RawCell] = field(default_factory=dict)
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # min_col, min_row, max_col, max_row
    max_row: int = 0
    max_col: int = 0
    _merge_anchor: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)

    def index_merges(self) -> None:
        for min_col, min_row, max_col, max_row in self.merged:
            for row in range(min_row, max_row + 1):
                for col in range(min_col, max_col + 1):
                    if (row, col) != (min_row, min_col):
                        self._merge_anchor[(row, col)] = (min_row, min_col)

    def anchor(self, row: int, col: int) -> tuple[int, int]:
        """The top-left cell of the merged range holding (row, col), or the cell itself."""
        return self._merge_anchor.get((row, col), (row, col))

    def get(self, row: int, col: int) -> RawCell | None:
        """The cell, where a cell inside a merged range holds the range's top-left value."""
        return self.cells.get(self.anchor(row, col))

    def is_merged_follower(self, row: int, col: int) -> bool:
        return (row, col) in self._merge_anchor

    def rows(self) -> Iterator[int]:
        return iter(range(1, self.max_row + 1))


@dataclass(slots=True)
class WorkbookGrid:
    sheets: list[SheetGrid]

    def sheet(self, title: str) -> SheetGrid | None:
        return next((s for s in self.sheets if s.title == title), None)


def a1(row: int, col: int) -> str:
    return f"{get_column_letter(col)}{row}"


_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_XML_DANGER = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)
_ROOT_START = re.compile(rb"<[A-Za-z_]")
_PROLOG_LIMIT = 64 * 1024
_MERGE_REF = re.compile(rb'<mergeCell\s+ref="([A-Z]+[0-9]+(?::[A-Z]+[0-9]+)?)"')
_FORMULA_WITHOUT_VALUE = re.compile(rb"<f[ >/](?:(?!</c>).)*?</c>", re.DOTALL)


def _head(path: Path, size: int = 4096) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)


def _explain_not_zip(head: bytes) -> str:
    if head.startswith(_CFB_MAGIC):
        if "EncryptionInfo".encode("utf-16-le") in head or b"E\x00n\x00c\x00r\x00y\x00p\x00t" in head:
            return "文件设置了打开密码（已加密），请去掉密码后重新提交"
        return "文件是旧版 Excel 97-2003（.xls）或其他 OLE 格式，请另存为 .xlsx 后重新提交"
    text = head[:4096].lstrip(b"\xef\xbb\xbf")
    if text[:1] in (b"<",) and b"html" in text[:200].lower():
        return "文件是网页（HTML），不是 Excel 工作簿，请另存为 .xlsx 后重新提交"
    if text and all(32 <= b < 127 or b in (9, 10, 13) or b >= 128 for b in text[:512]):
        return "文件是文本（可能是 CSV 改了扩展名），不是 Excel 工作簿，请另存为 .xlsx 后重新提交"
    return "文件不是 Excel 工作簿（.xlsx）：内容无法识别"


def _check_archive(archive: zipfile.ZipFile, limits: ReaderLimits) -> None:
    infos = archive.infolist()
    if len(infos) > limits.max_parts:
        raise UnreadableWorkbook(f"压缩包内文件数 {len(infos)} 超过上限 {limits.max_parts}，拒绝读取")
    names = {info.filename for info in infos}
    if "xl/workbook.xml" not in names and "xl/workbook.bin" not in names:
        raise UnreadableWorkbook("文件是 ZIP 压缩包，但其中没有 Excel 工作簿内容（缺少 xl/workbook.xml）")
    if "xl/workbook.bin" in names:
        raise UnreadableWorkbook("文件是二进制工作簿（.xlsb），请另存为 .xlsx 后重新提交")
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise UnreadableWorkbook(f"压缩包内 {info.filename} 已加密，无法读取")
        total += info.file_size
        if info.file_size > limits.max_part_bytes:
            raise UnreadableWorkbook(
                f"压缩包内 {info.filename} 解压后 {info.file_size // (1024 * 1024)} MB，超过上限 "
                f"{limits.max_part_bytes // (1024 * 1024)} MB，拒绝读取（可能是压缩炸弹）"
            )
        ratio_limited = info.file_size > 5 * 1024 * 1024
        if ratio_limited and info.file_size > limits.max_compression_ratio * max(info.compress_size, 1):
            raise UnreadableWorkbook(f"压缩包内 {info.filename} 压缩比异常，拒绝读取（可能是压缩炸弹）")
    if total > limits.max_total_bytes:
        raise UnreadableWorkbook(
            f"工作簿解压后共 {total // (1024 * 1024)} MB，超过上限 {limits.max_total_bytes // (1024 * 1024)} MB"
        )
    for info in infos:
        if info.filename.endswith((".xml", ".rels", ".vml")):
            _check_prolog(archive, info)


def _check_prolog(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Refuse DTDs and entity declarations: they can only stand before the root element."""
    with archive.open(info) as part:
        prolog = part.read(_PROLOG_LIMIT)
    root = _ROOT_START.search(prolog)
    if root is None and len(prolog) == _PROLOG_LIMIT:
        raise UnreadableWorkbook(f"{info.filename} 的 XML 开头异常冗长，拒绝读取（可能是恶意文件）")
    if _XML_DANGER.search(prolog[: root.start() if root else None]):
        raise UnreadableWorkbook(f"{info.filename} 含有 XML 实体或 DOCTYPE 声明，拒绝读取（可能是恶意文件）")


def open_grid(path: Path, limits: ReaderLimits | None = None) -> WorkbookGrid:
    """Every sheet of the workbook as raw cells; raises UnreadableWorkbook with the reason."""
    limits = limits or ReaderLimits()
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnreadableWorkbook(f"文件无法打开：{exc.strerror}") from exc
    if size == 0:
        raise UnreadableWorkbook("文件为空（0 字节）")
    if size > limits.max_file_bytes:
        raise UnreadableWorkbook(
            f"文件 {size // (1024 * 1024)} MB，超过上限 {limits.max_file_bytes // (1024 * 1024)} MB"
        )
    if not zipfile.is_zipfile(path):
        raise UnreadableWorkbook(_explain_not_zip(_head(path, 1024 * 1024)))
    try:
        with zipfile.ZipFile(path) as archive:
            _check_archive(archive, limits)
            return _read_with_openpyxl(path, archive, limits)
    except UnreadableWorkbook:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise UnreadableWorkbook(f"压缩包已损坏，无法读取（{exc}）") from exc
    except KeyError as exc:
        raise UnreadableWorkbook(f"工作簿缺少必要的组成部分 {exc}，文件可能已损坏") from exc
    except (DefusedXmlException, ParseError) as exc:
        raise UnreadableWorkbook(f"工作簿中的 XML 无法安全解析（{type(exc).__name__}），拒绝读取") from exc
    except Exception as exc:  # every other engine failure is still just a file we cannot read
        raise UnreadableWorkbook(f"工作簿内容无法解析（{type(exc).__name__}: {str(exc)[:200]}）") from exc


def _read_with_openpyxl(path: Path, archive: zipfile.ZipFile, limits: ReaderLimits) -> WorkbookGrid:
    values_book = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    formula_book = None
    sheets: list[SheetGrid] = []
    try:
        for worksheet in values_book.worksheets:
            if not hasattr(worksheet, "_worksheet_path"):
                continue  # chartsheets hold no cells
            part = worksheet._worksheet_path
            xml = _read_part(archive, part)
            grid = SheetGrid(title=worksheet.title)
            for row in worksheet.iter_rows(max_row=limits.max_rows, max_col=limits.max_columns):
                for cell in row:
                    if cell.value is None or not hasattr(cell, "row"):
                        continue
                    grid.cells[(cell.row, cell.column)] = RawCell(cell.value, cell.number_format or "General")
                    grid.max_row = max(grid.max_row, cell.row)
                    grid.max_col = max(grid.max_col, cell.column)
            grid.merged = [_bounds(ref.decode()) for ref in _MERGE_REF.findall(xml)]
            if _has_formula_without_value(xml):
                if formula_book is None:
                    formula_book = openpyxl.load_workbook(path, read_only=True, data_only=False, keep_links=False)
                _add_uncached_formulas(grid, formula_book[worksheet.title], limits)
            grid.index_merges()
            sheets.append(grid)
    finally:
        values_book.close()
        if formula_book is not None:
            formula_book.close()
    return WorkbookGrid(sheets)


def _read_part(archive: zipfile.ZipFile, name: str) -> bytes:
    with archive.open(name.lstrip("/")) as part:
        return part.read()


def _bounds(ref: str) -> tuple[int, int, int, int]:
    min_col, min_row, max_col, max_row = range_boundaries(ref)
    return (min_col or 1, min_row or 1, max_col or 1, max_row or 1)


def _has_formula_without_value(xml: bytes) -> bool:
    for match in _FORMULA_WITHOUT_VALUE.finditer(xml):
        chunk = match.group(0)
        if b"<v>" not in chunk or b"<v></v>" in chunk:
            return True
    return False


def _add_uncached_formulas(grid: SheetGrid, worksheet: object, limits: ReaderLimits) -> None:
    rows = worksheet.iter_rows(max_row=limits.max_rows, max_col=limits.max_columns)  # type: ignore[attr-defined]
    for row in rows:
        for cell in row:
            value = cell.value
            if not isinstance(value, str) or not value.startswith("=") or not hasattr(cell, "row"):
                continue
            key = (cell.row, cell.column)
            if key in grid.cells:
                continue  # the cached value is used
            grid.cells[key] = RawCell(None, cell.number_format or "General", formula=value)
            grid.max_row = max(grid.max_row, cell.row)
            grid.max_col = max(grid.max_col, cell.column)
