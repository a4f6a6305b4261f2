"""Excel 97–2003 workbooks (BIFF8 `.xls`, as Excel, WPS and LibreOffice still save them) as raw cells.

Values come from calamine, cut to the rows and columns that are read. calamine gives no number formats,
and the rate rules need them (0.975 shown as 97.50 % is a percentage), so each cell's format is taken
from its XF record through xlrd, which reads the same file's formatting tables, when first asked for.
A BIFF file keeps each formula's result but no text the evaluator could read back, so
its cached results are taken as they are.
"""

from __future__ import annotations

import io
from functools import partial
from pathlib import Path

import python_calamine
import xlrd
from xlrd import compdoc

from config.settings import ReaderLimits
from workbooks.calamine import SheetPlan, read_sheets
from workbooks.cells import UnreadableWorkbook, WorkbookGrid

# Stream names of an encrypted Office Open XML package inside a compound file (Excel's "password to open").
_ENCRYPTED_STREAMS = tuple(name.encode("utf-16-le") for name in ("EncryptionInfo", "EncryptedPackage"))
_SCAN_CHUNK = 1024 * 1024
_PLAIN_FORMATS = ("General", "@")  # formats that say nothing a rule reads: a cell without one is General


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

    xlrd's compound-file reader walks the file first: it checks the allocation chains, and refuses a
    corrupt one with an exception, where calamine follows a chain that loops back on itself until the
    process runs out of memory (an abort no caller can catch). The number formats are read when a rule or a
    converted copy first asks for one: that pass parses every record in Python, five times calamine's cost."""
    data = path.read_bytes()
    try:
        _check_compound_file(data)
        with python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data)) as calamine_book:
            titles = list(calamine_book.sheet_names)
    except Exception as exc:  # xlrd's and calamine's errors are of many kinds for a damaged file: each is its answer
        raise UnreadableWorkbook(_explain(exc)) from exc
    if len(titles) > limits.max_sheets:
        raise UnreadableWorkbook(f"工作簿有 {len(titles)} 个工作表，超过上限 {limits.max_sheets}，拒绝读取")
    formats = _NumberFormats(data, limits)
    plans = [SheetPlan(title, format_source=partial(formats.of_sheet, title)) for title in titles]
    return read_sheets(path, plans, limits, bounded=True)


def _check_compound_file(data: bytes) -> None:
    """xlrd's checks of the compound file and of its workbook stream's chain; CompDocError when either is corrupt."""
    document = compdoc.CompDoc(data, logfile=io.StringIO())
    for name in ("Workbook", "Book"):  # BIFF8 names its stream Workbook; BIFF5 and older, Book
        stream, _, _ = document.locate_named_stream(name)
        if stream is not None:
            return
    raise compdoc.CompDocError("no Workbook stream: not an Excel workbook")


def _explain(exc: Exception) -> str:
    detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    if "password" in detail.lower() or "encrypt" in detail.lower():
        return "文件设置了打开密码（已加密），请去掉密码后重新提交"
    return (
        "文件是 OLE 复合文档，但不是能读取的 Excel 97-2003 工作簿（.xls）：可能是 WPS .et、Word .doc "
        f"等其他格式，或文件已损坏（{detail}）；请用 Excel 或 WPS 打开后另存为 .xlsx 重新提交"
    )


class _NumberFormats:
    """The number format of every cell whose format is not General, by sheet, read through xlrd once, on the first
    question. Empty when the formatting tables cannot be read (the rate rules then read bare numbers)."""

    def __init__(self, data: bytes, limits: ReaderLimits) -> None:
        self._data, self._limits = data, limits
        self._by_sheet: dict[str, dict[tuple[int, int], str]] | None = None

    def of_sheet(self, title: str) -> dict[tuple[int, int], str]:
        if self._by_sheet is None:
            try:
                self._by_sheet = _read_number_formats(self._data, self._limits)
            except Exception:  # damaged formatting records: the values are still worth reading
                self._by_sheet = {}
        return self._by_sheet.get(title, {})


def _read_number_formats(data: bytes, limits: ReaderLimits) -> dict[str, dict[tuple[int, int], str]]:
    book = xlrd.open_workbook(file_contents=data, formatting_info=True, on_demand=True, logfile=io.StringIO())
    try:
        named = {key: entry.format_str for key, entry in book.format_map.items()}
        codes = {
            index: code
            for index, xf in enumerate(book.xf_list)
            if (code := named.get(xf.format_key, "General")) not in _PLAIN_FORMATS
        }
        found: dict[str, dict[tuple[int, int], str]] = {}
        for index in range(book.nsheets):
            sheet = book.sheet_by_index(index)
            # the XF index of every cell, row by row, as xlrd keeps it (its cell_xf_index, one call a cell, cost
            # twice the parse; xlrd is no longer developed, so the attribute stays)
            rows = sheet._cell_xf_indexes[: limits.max_rows]
            found[sheet.name] = {
                (row, col): codes[xf_index]
                for row, indexes in enumerate(rows, 1)
                for col, xf_index in enumerate(indexes[: limits.max_columns], 1)
                if xf_index in codes
            }
            book.unload_sheet(index)
        return found
    finally:
        book.release_resources()
