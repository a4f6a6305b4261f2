"""Excel 97–2003 workbooks (BIFF8 `.xls`, as Excel, WPS and LibreOffice still save them) as raw cells.

Values come from calamine, cut to the rows and columns that are read. calamine gives no number formats,
and the rate rules need them (0.975 shown as 97.50 % is a percentage), so each cell's format is taken
from its XF record when first asked for: from the FORMAT, XF and cell records alone, or through xlrd's parse
of every record where that scan does not read the stream (BIFF5, encrypted, damaged).
A BIFF file keeps each formula's result but no text the evaluator could read back, so
its cached results are taken as they are.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import python_calamine
import xlrd
import xlrd.formatting
from xlrd import compdoc
from xlrd.biffh import unpack_unicode

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
    converted copy first asks for one (`_read_number_formats`)."""
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
    document = compdoc.CompDoc(data, logfile=io.StringIO())
    memory, start, length = document.locate_named_stream("Workbook")
    scanned = None if memory is None else _scanned_number_formats(memory[start : start + length], limits)
    return scanned if scanned is not None else _xlrd_number_formats(data, limits)


# BIFF8 record types: the workbook's globals, and the cell records that carry an XF index after their row and
# column (MS-XLS 2.4); MULRK and MULBLANK carry one for each of a run of cells.
_BOF, _EOF, _FILEPASS, _BOUNDSHEET, _FORMAT, _XF = 0x0809, 0x000A, 0x002F, 0x0085, 0x041E, 0x00E0
_CELLS = frozenset({0x0006, 0x0201, 0x0203, 0x0204, 0x0205, 0x027E, 0x00FD, 0x00D6})  # FORMULA … LABELSST, RSTRING
_MULRK, _MULBLANK = 0x00BD, 0x00BE
_BIFF8, _GLOBALS, _WORKSHEET = 0x0600, 0x0005, 0x0010


def _scanned_number_formats(stream: bytes, limits: ReaderLimits) -> dict[str, dict[tuple[int, int], str]] | None:
    """What `_xlrd_number_formats` gives, read from the records that hold it alone (the FORMAT and XF tables, each
    worksheet's cell records), not from every record as xlrd parses them: a third of an `.xls` copy's cost.
    None for what this does not read (not BIFF8, encrypted, damaged): xlrd reads that, and says what is wrong."""
    try:
        version, kind = struct.unpack_from("<HH", stream, 4)
        if struct.unpack_from("<H", stream)[0] != _BOF or (version, kind) != (_BIFF8, _GLOBALS):
            return None
        named = {key: xlrd.formatting.std_format_strings.get(key) for key in xlrd.formatting.std_format_code_types}
        xf_formats: list[int] = []
        sheets: list[tuple[str, int]] = []
        for record, body, end in _records(stream, 0):
            if record == _EOF:
                break
            if record == _FILEPASS:
                return None
            if record == _FORMAT:
                named[struct.unpack_from("<H", stream, body)[0]] = unpack_unicode(stream[body:end], 2)
            elif record == _XF:
                xf_formats.append(struct.unpack_from("<H", stream, body + 2)[0])
            elif record == _BOUNDSHEET and stream[body + 5] == 0:  # a worksheet (not a chart, not a macro sheet)
                offset = struct.unpack_from("<i", stream, body)[0]
                sheets.append((unpack_unicode(stream[body:end], 6, lenlen=1), offset))
        codes = _format_codes(named, xf_formats)
        return {title: _sheet_formats(stream, offset, codes, limits) for title, offset in sheets}
    except (struct.error, IndexError, UnicodeDecodeError, _NotAWorksheet):
        return None


def _format_codes(named: dict[int, str | None], xf_formats: list[int]) -> dict[int, str]:
    """Each XF's number format, by XF index, where it says anything (see `_PLAIN_FORMATS`)."""
    return {
        index: code  # type: ignore[misc]  # a built-in format xlrd knows no text of stays as xlrd gives it
        for index, key in enumerate(xf_formats)
        if (code := named.get(key, "General")) not in _PLAIN_FORMATS
    }


class _NotAWorksheet(Exception):
    """A sheet's offset that does not lead to a worksheet's BOF record."""


def _sheet_formats(
    stream: bytes, position: int, codes: dict[int, str], limits: ReaderLimits
) -> dict[tuple[int, int], str]:
    """The formats of one worksheet's cells, from its BOF to its EOF (a chart's substream inside is passed over)."""
    if (
        position < 0  # unpack_from would count it from the end
        or struct.unpack_from("<HHHH", stream, position)[::2] != (_BOF, _BIFF8)
        or struct.unpack_from("<H", stream, position + 6)[0] != _WORKSHEET
    ):
        raise _NotAWorksheet
    found: dict[tuple[int, int], str] = {}
    depth = 0
    for record, body, end in _records(stream, position):
        if record == _BOF:
            depth += 1
        elif record == _EOF:
            depth -= 1
            if depth == 0:
                return found
        elif depth == 1 and (record in _CELLS or record in (_MULRK, _MULBLANK)):
            for row, col, xf in _cell_styles(stream, record, body, end):
                if xf in codes and row < limits.max_rows and col < limits.max_columns:
                    found[(row + 1, col + 1)] = codes[xf]
    raise AssertionError("records go on until the stream ends")  # _records raises struct.error there


def _records(stream: bytes, position: int) -> Iterator[tuple[int, int, int]]:
    """Each record from `position` on: its type, where its body starts and where it ends; struct.error past the
    stream's end."""
    while True:
        record, size = struct.unpack_from("<HH", stream, position)
        body = position + 4
        position = body + size
        yield record, body, position


def _cell_styles(stream: bytes, record: int, body: int, end: int) -> Iterator[tuple[int, int, int]]:
    """The (row, column, XF index) of each cell a cell record holds, counted from 0."""
    if record in _CELLS:
        yield struct.unpack_from("<HHH", stream, body)
        return
    row, first = struct.unpack_from("<HH", stream, body)
    step = 6 if record == _MULRK else 2  # MULRK: an XF and a number a cell; MULBLANK: an XF
    for index, offset in enumerate(range(body + 4, end - 2, step)):
        yield row, first + index, struct.unpack_from("<H", stream, offset)[0]


def _xlrd_number_formats(data: bytes, limits: ReaderLimits) -> dict[str, dict[tuple[int, int], str]]:
    book = xlrd.open_workbook(file_contents=data, formatting_info=True, on_demand=True, logfile=io.StringIO())
    try:
        named = {key: entry.format_str for key, entry in book.format_map.items()}
        codes = _format_codes(named, [xf.format_key for xf in book.xf_list])
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
