"""Excel 97–2003 workbooks (BIFF8 `.xls`, as Excel, WPS and LibreOffice still save them) as raw cells.

Values come from calamine, cut to the rows and columns that are read. calamine gives no number formats,
and the rate rules need them (0.975 shown as 97.50 % is a percentage), so each cell's format is taken
from its XF record through xlrd, which reads the same file's formatting tables; the merged ranges come
from xlrd too. A BIFF file keeps each formula's result but no text the evaluator could read back, so
its cached results are taken as they are.
"""

from __future__ import annotations

import io
from pathlib import Path

import python_calamine
import xlrd

from config.settings import ReaderLimits
from workbooks.calamine import Bounds, SheetPlan, bounded_merges, read_sheets
from workbooks.cells import UnreadableWorkbook, WorkbookGrid

# Stream names of an encrypted Office Open XML package inside a compound file (Excel's "password to open").
_ENCRYPTED_STREAMS = tuple(name.encode("utf-16-le") for name in ("EncryptionInfo", "EncryptedPackage"))
_SCAN_CHUNK = 1024 * 1024


def is_encrypted_cfb(path: Path) -> bool:
    """Whether the compound file is an encrypted .xlsx (its streams are named so in the directory)."""
    overlap = max(len(needle) for needle in _ENCRYPTED_STREAMS) - 1
    carry = b""
    with path.open("rb") as handle:
        while block := handle.read(_SCAN_CHUNK):
            window = carry + block
            if any(needle in window for needle in _ENCRYPTED_STREAMS):
                return True
            carry = window[-overlap:]
    return False


def read_xls(path: Path, limits: ReaderLimits) -> WorkbookGrid:
    """Every worksheet of a BIFF8 workbook; UnreadableWorkbook when it is none (or is encrypted).

    xlrd opens the file first: it checks the compound file's allocation chains, and refuses a corrupt
    one with an exception, where calamine follows a chain that loops back on itself until the process
    runs out of memory (an abort no caller can catch)."""
    try:
        book = xlrd.open_workbook(
            file_contents=path.read_bytes(), formatting_info=True, on_demand=True, logfile=io.StringIO()
        )
    except Exception as exc:  # xlrd's errors are of many kinds for a damaged file: each is this file's answer
        raise UnreadableWorkbook(_explain(exc)) from exc
    try:
        found = _formats_and_merges(book, limits)
    finally:
        book.release_resources()
    try:
        with path.open("rb") as handle, python_calamine.CalamineWorkbook.from_filelike(handle) as calamine_book:
            titles = list(calamine_book.sheet_names)
    except python_calamine.CalamineError as exc:
        raise UnreadableWorkbook(_explain(exc)) from exc
    if len(titles) > limits.max_sheets:
        raise UnreadableWorkbook(f"工作簿有 {len(titles)} 个工作表，超过上限 {limits.max_sheets}，拒绝读取")
    plans = [SheetPlan(title, *found[title]) if title in found else SheetPlan(title) for title in titles]
    return read_sheets(path, plans, limits, bounded=True)


def _explain(exc: Exception) -> str:
    detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    if "password" in detail.lower() or "encrypt" in detail.lower():
        return "文件设置了打开密码（已加密），请去掉密码后重新提交"
    return (
        "文件是 OLE 复合文档，但不是能读取的 Excel 97-2003 工作簿（.xls）：可能是 WPS .et、Word .doc "
        f"等其他格式，或文件已损坏（{detail}）；请用 Excel 或 WPS 打开后另存为 .xlsx 重新提交"
    )


SheetFormats = tuple[dict[tuple[int, int], str], dict[tuple[int, int], tuple[str, bool]], list[Bounds]]


def _formats_and_merges(book: xlrd.book.Book, limits: ReaderLimits) -> dict[str, SheetFormats]:
    """For each worksheet: the number format of every cell whose format is not General, no formulas (a BIFF
    file keeps results only), and its merged ranges. Empty when the formatting tables cannot be read (the
    values alone are then read, and the rate rules fall back on reading bare numbers)."""
    try:
        codes = {
            index: book.format_map[xf.format_key].format_str
            for index, xf in enumerate(book.xf_list)
            if xf.format_key in book.format_map
        }
        found: dict[str, SheetFormats] = {}
        for index in range(book.nsheets):
            sheet = book.sheet_by_index(index)
            formats = {}
            for row in range(min(sheet.nrows, limits.max_rows)):
                for col in range(min(sheet.ncols, limits.max_columns)):
                    code = codes.get(sheet.cell_xf_index(row, col), "General")
                    if code not in ("General", "@"):
                        formats[(row + 1, col + 1)] = code
            ranges = (
                (low_col + 1, low_row + 1, high_col, high_row)  # xlrd's ranges are 0-based and end-exclusive
                for low_row, high_row, low_col, high_col in sheet.merged_cells
            )
            found[sheet.name] = (formats, {}, bounded_merges(sheet.name, ranges, limits))
            book.unload_sheet(index)
        return found
    except UnreadableWorkbook:
        raise
    except Exception:  # damaged formatting records: the values are still worth reading
        return {}
