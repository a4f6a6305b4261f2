"""The one small interface between a workbook file and the layout reader.

`open_grid(path)` returns every sheet as a sparse grid of raw cells (value, number format, and the
formula where a formula has no cached value) plus its merged ranges. Nothing above this module
knows which engine read the file.

Two engines stand behind it. Values come from calamine (Rust, about 10× faster than openpyxl), with
the number formats the rules need (percentages, stated decimals, dates) taken from the cells' style
ids in the sheet XML. Workbooks calamine would read differently — a formula without a cached value
(its text is needed), an error value, cells without positions or beyond the read limits — go to
openpyxl in read-only mode, which reads everything, slowly.
"""

from __future__ import annotations

import codecs
import datetime as dt
import html
import itertools
import os
import posixpath
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO
from xml.etree.ElementTree import ParseError

import openpyxl
import python_calamine
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as parse_xml
from openpyxl.styles.numbers import BUILTIN_FORMATS
from openpyxl.utils.cell import column_index_from_string, get_column_letter, range_boundaries
from openpyxl.worksheet.formula import ArrayFormula

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

    def put(self, row: int, col: int, cell: RawCell) -> None:
        self.cells[(row, col)] = cell
        self.max_row = max(self.max_row, row)
        self.max_col = max(self.max_col, col)

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
        if not self._merge_anchor:  # most sheets: no merged ranges to look through
            return self.cells.get((row, col))
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
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_ENCRYPTED_STREAMS = tuple(name.encode("utf-16-le") for name in ("EncryptionInfo", "EncryptedPackage"))
_SCAN_CHUNK = 1024 * 1024
_INFLATE_STEP = 1024 * 1024
_PROLOG_LIMIT = 64 * 1024
_XML_SPACE = " \t\r\n"
_MEDIA_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".emf", ".wmf", ".svg", ".wdp", ".bin")
_DECLARED_ENCODING = re.compile(r"""<\?xml[^>]*?\sencoding\s*=\s*["']([^"']{1,40})["']""")
_DIRECTORY_BYTES_PER_PART = 1024  # a central-directory entry is 46 bytes plus name and extras: far less in practice
_MAX_MARKUP_PER_ROW = 8 * 16384  # an Excel row holds at most 16384 cells, each a few elements (c, f, v, is, r, t)
_ROW_START = re.compile(rb"<row[\s>/]")
_MERGE_REF = re.compile(rb'<mergeCell\s+ref="([A-Z]+[0-9]+(?::[A-Z]+[0-9]+)?)"')
_FORMULA_START = re.compile(rb"<f[\s>/]")
_PLAIN_UNCACHED_FORMULA = re.compile(
    rb'<c r="([A-Z]{1,3})([0-9]{1,7})"(?: s="[0-9]{1,6}")?(?: t="[a-zA-Z]+")?>'
    rb"\s*<f>([^<]*)</f>\s*(?:<v></v>|<v\s*/>)?\s*</c>"
)
_HTML_MARKERS = ("<html", "<!doctype html", "<head", "<body", "<table", "<meta")
_XML_DANGER_MESSAGE = "含有 DOCTYPE 或实体（ENTITY）声明，拒绝读取（可能是 XML 实体炸弹或外部实体攻击）"


def _head(path: Path, size: int = 4096) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)


def _file_contains(path: Path, needles: tuple[bytes, ...]) -> bool:
    """Whether any needle occurs anywhere in the file, read in chunks (the file is at most max_file_bytes)."""
    overlap = max(len(needle) for needle in needles) - 1
    carry = b""
    with path.open("rb") as handle:
        while block := handle.read(_SCAN_CHUNK):
            window = carry + block
            if any(needle in window for needle in needles):
                return True
            carry = window[-overlap:]
    return False


def _as_text(head: bytes) -> str | None:
    """The head of a file as text when it looks like text (any common encoding), else None."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return head.decode("utf-16", "replace")
    body = head.removeprefix(codecs.BOM_UTF8)
    if not body or any((b < 32 and b not in (9, 10, 13)) or b == 127 for b in body[:512]):
        return None
    return body.decode("utf-8", "replace")


def _explain_not_zip(path: Path) -> str:
    head = _head(path, _PROLOG_LIMIT)
    if head.startswith(_CFB_MAGIC):
        if _file_contains(path, _ENCRYPTED_STREAMS):
            return "文件设置了打开密码（已加密），请去掉密码后重新提交"
        return "文件是旧版 Excel 97-2003（.xls）或其他 OLE 格式（如 WPS .et），请另存为 .xlsx 后重新提交"
    if head.startswith(_ZIP_MAGICS):
        return "文件是 ZIP 压缩包，但已损坏或不完整（可能在下载或复制时被截断），请重新保存后提交"
    if head.startswith(b"%PDF"):
        return "文件是 PDF 文档，不是 Excel 工作簿，请提交 .xlsx 格式的报表"
    text = _as_text(head)
    if text is None:
        return "文件不是 Excel 工作簿（.xlsx）：内容无法识别"
    start = text.lstrip(_XML_SPACE + "\ufeff")[:4096].lower()
    if start.startswith("<") and any(marker in start for marker in _HTML_MARKERS):
        return "文件是网页（HTML），不是 Excel 工作簿，请另存为 .xlsx 后重新提交"
    if start.startswith("<") and ("urn:schemas-microsoft-com:office:spreadsheet" in start or "<workbook" in start):
        return "文件是 Excel 2003 XML 表格，不是 .xlsx 工作簿，请另存为 .xlsx 后重新提交"
    if start.startswith("<?xml"):
        return "文件是 XML 文本，不是 Excel 工作簿，请另存为 .xlsx 后重新提交"
    return "文件是文本（可能是 CSV 改了扩展名），不是 Excel 工作簿，请另存为 .xlsx 后重新提交"


def _directory_size(path: Path) -> tuple[int, int] | None:
    """(entries, bytes) of the zip's central directory as its end record declares them, without parsing it."""
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - (22 + 0xFFFF + 20 + 56)))
        tail = handle.read()
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or len(tail) - end < 22:
        return None
    entries, directory_bytes = struct.unpack_from("<HI", tail, end + 10)
    if entries == 0xFFFF or directory_bytes == 0xFFFFFFFF:  # ZIP64: the real numbers are in the record before
        locator, record = end - 20, end - 20 - 56
        if record >= 0 and tail[locator : locator + 4] == b"PK\x06\x07" and tail[record : record + 4] == b"PK\x06\x06":
            entries, directory_bytes = struct.unpack_from("<QQ", tail, record + 32)
    return entries, directory_bytes


def _check_directory(path: Path, limits: ReaderLimits) -> None:
    """Refuse a zip whose directory alone would cost seconds and hundreds of MB to parse."""
    declared = _directory_size(path)
    if declared is None:
        return  # zipfile will say what is wrong
    entries, directory_bytes = declared
    if entries > limits.max_parts:
        raise UnreadableWorkbook(f"压缩包内文件数 {entries} 超过上限 {limits.max_parts}，拒绝读取")
    if directory_bytes > limits.max_parts * _DIRECTORY_BYTES_PER_PART:
        raise UnreadableWorkbook(
            f"压缩包目录 {directory_bytes // 1024} KB，异常庞大，拒绝读取（文件可能已损坏或是恶意文件）"
        )


def _explain_no_workbook(names: set[str]) -> str:
    if "word/document.xml" in names:
        return "文件是 Word 文档（.docx），不是 Excel 工作簿，请提交 .xlsx 格式的报表"
    if "ppt/presentation.xml" in names:
        return "文件是 PowerPoint 演示文稿（.pptx），不是 Excel 工作簿，请提交 .xlsx 格式的报表"
    if "mimetype" in names and "content.xml" in names:
        return "文件是 OpenDocument 表格（.ods 等），请在 Excel 或 WPS 中另存为 .xlsx 后重新提交"
    return "文件是 ZIP 压缩包，但其中没有 Excel 工作簿内容（缺少 xl/workbook.xml）"


def _check_archive(path: Path, archive: zipfile.ZipFile, limits: ReaderLimits) -> dict[str, bytes]:
    """Refuse what no reader should open; the bytes of every XML part (name → bytes) otherwise."""
    infos = archive.infolist()
    if len(infos) > limits.max_parts:
        raise UnreadableWorkbook(f"压缩包内文件数 {len(infos)} 超过上限 {limits.max_parts}，拒绝读取")
    names = {info.filename for info in infos}
    if "xl/workbook.xml" not in names and "xl/workbook.bin" not in names:
        raise UnreadableWorkbook(_explain_no_workbook(names))
    if "xl/workbook.bin" in names:
        raise UnreadableWorkbook("文件是二进制工作簿（.xlsb），请另存为 .xlsx 后重新提交")
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise UnreadableWorkbook(f"压缩包内 {info.filename} 设置了密码（已加密），请去掉密码后重新提交")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise UnreadableWorkbook(
                f"压缩包内 {info.filename} 使用了 Excel 不用的压缩方式（{info.compress_type}），拒绝读取"
            )
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
            f"工作簿解压后共 {total // (1024 * 1024)} MB，超过上限 {limits.max_total_bytes // (1024 * 1024)} MB，"
            "拒绝读取（可能是压缩炸弹）"
        )
    parts: dict[str, bytes] = {}
    with path.open("rb") as handle:
        for info in infos:
            if info.is_dir():
                continue
            data = _inflate_checked(handle, info)
            if not info.filename.lower().endswith(_MEDIA_SUFFIXES):
                _check_prolog(info.filename, data[:_PROLOG_LIMIT])
                parts[info.filename] = data
    return parts


def _inflate_checked(handle: BinaryIO, info: zipfile.ZipInfo) -> bytes:
    """A part's bytes, refused when it holds more than its headers declare or fails its checksum.

    The part is inflated in bounded steps: the size checks above trust the headers, and zipfile trusts
    them too, except that a whole-part read (`ZipFile.read`, which openpyxl uses) inflates everything
    the compressed bytes hold, up to 1 GB in one call, before cutting it to the declared size. The
    bytes are kept, so that every XML part is inflated once here rather than again for each reader.
    """
    handle.seek(info.header_offset)
    local = handle.read(30)
    if len(local) < 30 or not local.startswith(b"PK\x03\x04"):
        raise UnreadableWorkbook(f"压缩包已损坏，无法读取（{info.filename} 的文件头缺失）")
    name_length, extra_length = struct.unpack_from("<HH", local, 26)
    handle.seek(info.header_offset + 30 + name_length + extra_length)
    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size != info.file_size:
            raise UnreadableWorkbook(_understated(info))
        data = handle.read(info.file_size)
    else:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        left, pieces, produced = info.compress_size, [], 0
        while not inflater.eof:
            if inflater.unconsumed_tail:
                chunk = inflater.unconsumed_tail
            else:
                chunk = handle.read(min(_INFLATE_STEP, left))
                left -= len(chunk)
                if not chunk:
                    break
            piece = inflater.decompress(chunk, _INFLATE_STEP)
            produced += len(piece)
            if produced > info.file_size:
                raise UnreadableWorkbook(_understated(info))
            pieces.append(piece)
        data = b"".join(pieces)
    if len(data) != info.file_size or zlib.crc32(data) != info.CRC:
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {info.filename!r}")  # as zipfile says it
    return data


def _understated(info: zipfile.ZipInfo) -> str:
    return (
        f"压缩包内 {info.filename} 的实际内容超过其记录的大小（{info.file_size} 字节），"
        "拒绝读取（可能是谎报大小的压缩炸弹，或文件已损坏）"
    )


def _prolog_text(name: str, head: bytes) -> str | None:
    """The start of a part decoded as an XML parser would decode it; None when the part is not XML."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return head.decode("utf-16", "replace")
    if head.startswith(b"<\x00"):
        return head.decode("utf-16-le", "replace")
    if head.startswith(b"\x00<"):
        return head.decode("utf-16-be", "replace")
    text = head.removeprefix(codecs.BOM_UTF8).decode("latin-1")
    if not text.lstrip(_XML_SPACE).startswith("<"):
        return None  # images and other binary parts
    declared = _DECLARED_ENCODING.match(text.lstrip(_XML_SPACE))
    if declared is None:
        return head.decode("utf-8", "replace")
    try:
        return head.decode(declared.group(1), "replace")
    except (LookupError, ValueError, TypeError) as exc:
        raise UnreadableWorkbook(f"{name} 声明了无法识别的 XML 编码，拒绝读取（文件可能已损坏或是恶意文件）") from exc


def _check_prolog(name: str, head: bytes) -> None:
    """Refuse DTDs and entity declarations, which can only stand in the prolog, before the root element.

    The prolog is walked as XML defines it (declaration, processing instructions, comments, white space),
    after decoding the part as the parser would (UTF-8, UTF-16 with or without BOM, a declared encoding),
    so a `<` inside a comment or a UTF-16 part does not hide a DOCTYPE from the check.
    """
    text = _prolog_text(name, head)
    if text is None:
        return
    pos = 0
    while True:
        while pos < len(text) and text[pos] in _XML_SPACE + "\ufeff":
            pos += 1
        if pos == len(text):
            break
        if text.startswith("<?", pos):
            end, skip = text.find("?>", pos + 2), 2
        elif text.startswith("<!--", pos):
            end, skip = text.find("-->", pos + 4), 3
        elif text.startswith("<!", pos):
            raise UnreadableWorkbook(f"{name} {_XML_DANGER_MESSAGE}")
        else:
            return  # the root element, or not XML at all (the parser will say so)
        if end < 0:
            break
        pos = end + skip
    if len(head) == _PROLOG_LIMIT:
        raise UnreadableWorkbook(f"{name} 的 XML 开头异常冗长，拒绝读取（可能是恶意文件）")


def _defused_cause(exc: BaseException) -> DefusedXmlException | None:
    """The defusedxml refusal behind an engine error (openpyxl wraps it in a ValueError), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, DefusedXmlException):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _innermost(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    while exc.__cause__ is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc = exc.__cause__
    return exc


def _engine_failure(exc: Exception) -> UnreadableWorkbook:
    """A clerk-readable reason for an error raised while unpacking or parsing the workbook."""
    if _defused_cause(exc) is not None:
        return UnreadableWorkbook(f"工作簿中的 XML {_XML_DANGER_MESSAGE}")
    cause = _innermost(exc)
    detail = str(cause).splitlines()[0][:200] if str(cause) else type(cause).__name__
    if isinstance(cause, zipfile.BadZipFile) and detail.startswith("Bad CRC-32"):
        return UnreadableWorkbook(
            f"压缩包内容与其记录的大小或校验和不符（{detail}）：文件已损坏，或是谎报大小的压缩炸弹，拒绝读取"
        )
    if isinstance(cause, zipfile.BadZipFile | zipfile.LargeZipFile | EOFError | zlib.error):
        return UnreadableWorkbook(f"压缩包已损坏，无法读取（{detail}）")
    if isinstance(cause, KeyError):
        return UnreadableWorkbook(f"工作簿缺少必要的组成部分 {detail}，文件可能已损坏")
    if isinstance(cause, ParseError):
        return UnreadableWorkbook(f"工作簿中的 XML 格式错误（{detail}），文件可能已损坏，请用 Excel 打开后重新保存")
    return UnreadableWorkbook(f"工作簿内容无法解析（{type(cause).__name__}: {detail}），请用 Excel 打开后重新保存")


def open_grid(path: Path, limits: ReaderLimits | None = None) -> WorkbookGrid:
    """Every sheet of the workbook as raw cells; raises UnreadableWorkbook with the reason."""
    limits = limits or ReaderLimits()
    try:
        size = path.stat().st_size
        if size == 0:
            raise UnreadableWorkbook("文件为空（0 字节）")
        if size > limits.max_file_bytes:
            raise UnreadableWorkbook(
                f"文件 {size // (1024 * 1024)} MB，超过上限 {limits.max_file_bytes // (1024 * 1024)} MB"
            )
        if not zipfile.is_zipfile(path):
            raise UnreadableWorkbook(_explain_not_zip(path))
        _check_directory(path, limits)
    except OSError as exc:
        raise UnreadableWorkbook(f"文件无法打开：{exc.strerror or exc}") from exc
    try:
        with zipfile.ZipFile(path) as archive:
            parts = _check_archive(path, archive, limits)
            return _read_with_calamine(path, parts, limits) or _read_with_openpyxl(path, parts, limits)
    except UnreadableWorkbook:
        raise
    except Exception as exc:  # every other engine failure is still just a file we cannot read
        raise _engine_failure(exc) from exc


_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_RELATIONSHIPS_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_RELATIONSHIP_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_WORKSHEET_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
_STYLES_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles"
_CELL_TAG = re.compile(rb"<c\s([^>]*)>")
# r, then s, then t, then other attributes: the order every known writer uses; any other is read by _CELL_TAG.
_PLAIN_CELL_TAG = re.compile(
    rb'<c r="([A-Z]{1,3})([0-9]{1,7})"(?: s="([0-9]{1,6})")?(?: t="([a-zA-Z]+)")?(?: [a-zA-Z]+="[^"<>]*")*/?>'
)
_CELL_REF = re.compile(rb'(?:^|\s)r="([A-Z]{1,3})([0-9]{1,7})"')
_CELL_STYLE = re.compile(rb'(?:^|\s)s="([0-9]{1,6})"')
_ERROR_TYPE = re.compile(rb'(?:^|\s)t="e"')
_UNUSUAL_CELLS = re.compile(rb"<c/?>|<[A-Za-z_][\w.-]*:(?:c|row|sheetData)[\s>/]")  # no position, or prefixed
_LARGEST_EXACT_WHOLE = 1e15  # whole floats below this are ints, as openpyxl reads "3200" (no float noise)


@dataclass(slots=True)
class _WorkbookParts:
    sheets: list[tuple[str, str | None]]  # title, worksheet part (None: a chartsheet or another kind)
    styles: str | None


def _part_name(target: str) -> str:
    """A relationship target of xl/workbook.xml as a name in the zip."""
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join("xl", target))


def _workbook_parts(parts: dict[str, bytes]) -> _WorkbookParts | None:
    """The sheets and styles of a transitional-OOXML workbook in xl/; None for anything else."""
    names = parts.keys()
    if "xl/workbook.xml" not in names or "xl/_rels/workbook.xml.rels" not in names:
        return None
    declared = _parsed_once(
        _declared_parts, _read_part(parts, "xl/workbook.xml"), _read_part(parts, "xl/_rels/workbook.xml.rels")
    )
    if declared is None:
        return None
    sheets, styles = declared
    if any(part is not None and part not in names for _, part in sheets):
        return None
    return _WorkbookParts(list(sheets), next((part for part in styles if part in names), None))


# A county's workbooks come from one template, so most share these parts byte for byte: each distinct
# one is parsed once per process. The cached results are shared and never changed; a part too large to
# be worth keeping (the cache holds its bytes) is parsed every time.
_CACHED_PART_BYTES = 256 * 1024


def _parsed_once(parse: Any, *xml: bytes) -> Any:
    """`parse(*xml)`, cached (an `lru_cache` function) unless the parts are too large to keep."""
    return (parse if sum(map(len, xml)) <= _CACHED_PART_BYTES else parse.__wrapped__)(*xml)


@lru_cache(maxsize=64)
def _declared_parts(
    workbook_xml: bytes, relationships_xml: bytes
) -> tuple[tuple[tuple[str, str | None], ...], tuple[str, ...]] | None:
    """(title, worksheet part or None for a chartsheet) of every sheet, and the styles parts, as declared."""
    relationships = {
        rel.get("Id"): (rel.get("Type"), _part_name(rel.get("Target", "")))
        for rel in parse_xml(relationships_xml).iter(f"{_RELATIONSHIPS_NS}Relationship")
    }
    sheets_element = parse_xml(workbook_xml).find(f"{_MAIN_NS}sheets")
    if sheets_element is None:
        return None
    sheets = []
    for sheet in sheets_element.iter(f"{_MAIN_NS}sheet"):
        kind, part = relationships.get(sheet.get(_RELATIONSHIP_ID), (None, ""))
        sheets.append((sheet.get("name", ""), part if kind == _WORKSHEET_TYPE else None))
    styles = tuple(part for kind, part in relationships.values() if kind == _STYLES_TYPE)
    return tuple(sheets), styles


def _style_formats(parts: dict[str, bytes], styles: str | None) -> dict[int, str]:
    """Number format code of every cell style (xf) whose format is not General (shared: read only)."""
    if styles is None:
        return {}
    formats: dict[int, str] = _parsed_once(_formats_of_styles, _read_part(parts, styles))
    return formats


@lru_cache(maxsize=64)
def _formats_of_styles(xml: bytes) -> dict[int, str]:
    root = parse_xml(xml)
    custom = {
        int(item.get("numFmtId", "-1")): item.get("formatCode", "General")
        for item in root.iterfind(f"{_MAIN_NS}numFmts/{_MAIN_NS}numFmt")
    }
    formats = {}
    for index, xf in enumerate(root.iterfind(f"{_MAIN_NS}cellXfs/{_MAIN_NS}xf")):
        number_format_id = int(xf.get("numFmtId", "0"))
        code = custom.get(number_format_id) or BUILTIN_FORMATS.get(number_format_id, "General")
        if code != "General":
            formats[index] = code
    return formats


@lru_cache(maxsize=1024)
def _column_number(letters: bytes) -> int:
    return column_index_from_string(letters.decode())


def _cell_formats(xml: bytes, style_formats: dict[int, str], limits: ReaderLimits) -> dict[tuple[int, int], str] | None:
    """The number format of every cell that has one; None when calamine would not read this sheet as openpyxl does."""
    if _UNUSUAL_CELLS.search(xml):
        return None
    cells = _PLAIN_CELL_TAG.findall(xml)
    if len(cells) == xml.count(b"<c "):  # every cell as Excel, WPS and openpyxl write it: one pass in C
        formats = {}
        for letters, row_text, style_text, kind in cells:
            row, col = int(row_text), _column_number(letters)
            if kind == b"e" or row > limits.max_rows or col > limits.max_columns:
                return None
            if style_text and (code := style_formats.get(int(style_text))) is not None:
                formats[(row, col)] = code
        return formats
    return _cell_formats_by_attribute(xml, style_formats, limits)


def _cell_formats_by_attribute(
    xml: bytes, style_formats: dict[int, str], limits: ReaderLimits
) -> dict[tuple[int, int], str] | None:
    """`_cell_formats` for cell tags with their attributes in any order."""
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


def _plain_value(value: CellValue) -> CellValue:
    """A calamine value as openpyxl gives it: whole numbers as int, dates as datetime."""
    if isinstance(value, float) and value.is_integer() and abs(value) < _LARGEST_EXACT_WHOLE:
        return int(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time())
    return value


def _read_with_calamine(path: Path, parts: dict[str, bytes], limits: ReaderLimits) -> WorkbookGrid | None:
    """Every sheet through calamine; None when the workbook needs openpyxl (see the module's docstring)."""
    try:
        workbook = _workbook_parts(parts)
        if workbook is None or len(workbook.sheets) > limits.max_sheets:
            return None
        style_formats = _style_formats(parts, workbook.styles)
    except (ParseError, ValueError, KeyError):
        return None  # a malformed part: openpyxl reads it if it can, and says what is wrong if not
    sheets: list[tuple[str, bytes, dict[tuple[int, int], str], dict[tuple[int, int], str]]] = []
    read_bytes = 0
    for title, part in workbook.sheets:
        if part is None:
            continue
        xml = _read_part(parts, part)
        read_bytes += len(xml)
        if read_bytes > limits.max_total_bytes:
            return None
        _check_markup(title, xml)
        formats = _cell_formats(xml, style_formats, limits)
        formulas = _uncached_formulas(xml)
        if formats is None or formulas is None:
            return None
        sheets.append((title, xml, formats, formulas))
    try:
        with path.open("rb") as handle, python_calamine.CalamineWorkbook.from_filelike(handle) as book:
            grids = [_calamine_sheet(book, *sheet, limits) for sheet in sheets]
    except python_calamine.CalamineError:
        return None  # openpyxl says what is wrong, in the words the clerk gets for every engine failure
    return WorkbookGrid(grids)


def _calamine_sheet(
    book: python_calamine.CalamineWorkbook,
    title: str,
    xml: bytes,
    formats: dict[tuple[int, int], str],
    formulas: dict[tuple[int, int], str],
    limits: ReaderLimits,
) -> SheetGrid:
    grid = SheetGrid(title=title)
    sheet = book.get_sheet_by_name(title)
    first_row, first_col = sheet.start or (0, 0)  # to_python() starts at the first row and column with data
    for row, values in enumerate(sheet.to_python(), first_row + 1):
        for col, value in enumerate(values, first_col + 1):
            if value.__class__ is str and not value:
                continue  # calamine's empty cell
            grid.put(row, col, RawCell(_plain_value(value), formats.get((row, col), "General")))
    for (row, col), formula in formulas.items():  # calamine reads them as empty: their text, as openpyxl gives it
        grid.put(row, col, RawCell(None, formats.get((row, col), "General"), formula=formula))
    grid.merged = _merges(title, xml, limits)
    grid.index_merges()
    return grid


def _load(path: Path, handles: list[BinaryIO], *, data_only: bool) -> Any:
    """A read-only openpyxl workbook over an open handle: the engine then ignores the file's name,
    so `submission`, `x.XLSX.bak` and `.xlsm` files are opened by content, not by extension."""
    handle = path.open("rb")
    handles.append(handle)
    return openpyxl.load_workbook(handle, read_only=True, data_only=data_only, keep_links=False)


def _read_with_openpyxl(path: Path, parts: dict[str, bytes], limits: ReaderLimits) -> WorkbookGrid:
    handles: list[BinaryIO] = []
    values_book = _load(path, handles, data_only=True)
    formula_book = None
    sheets: list[SheetGrid] = []
    read_bytes = 0
    try:
        if len(values_book.sheetnames) > limits.max_sheets:
            raise UnreadableWorkbook(
                f"工作簿有 {len(values_book.sheetnames)} 个工作表，超过上限 {limits.max_sheets}，拒绝读取"
            )
        for worksheet in values_book.worksheets:
            if not hasattr(worksheet, "_worksheet_path"):
                continue  # chartsheets hold no cells
            part = worksheet._worksheet_path
            xml = _read_part(parts, part)
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
            grid.merged = _merges(worksheet.title, xml, limits)
            if _has_formula_without_value(xml):
                if formula_book is None:
                    formula_book = _load(path, handles, data_only=False)
                _add_uncached_formulas(grid, formula_book[worksheet.title], limits)
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


def _read_part(parts: dict[str, bytes], name: str) -> bytes:
    """An XML part checked and inflated by `_check_archive`; KeyError, as from zipfile, when there is none."""
    return parts[name.lstrip("/")]


def _merges(title: str, xml: bytes, limits: ReaderLimits) -> list[tuple[int, int, int, int]]:
    """The merged ranges, clipped to the rows and columns that are read.

    A range such as A1:XFD1048576 would otherwise cost 17 billion index entries. Merged ranges of a
    sound workbook never overlap, so together they never cover more cells than are read.
    """
    merges = []
    covered = 0
    for ref in _MERGE_REF.findall(xml):
        col_a, row_a, col_b, row_b = _bounds(ref.decode())
        min_col, max_col = min(col_a, col_b), min(max(col_a, col_b), limits.max_columns)
        min_row, max_row = min(row_a, row_b), min(max(row_a, row_b), limits.max_rows)
        if min_col > max_col or min_row > max_row:
            continue  # wholly outside what is read
        covered += (max_col - min_col + 1) * (max_row - min_row + 1)
        if covered > limits.max_rows * limits.max_columns:
            raise UnreadableWorkbook(f"工作表“{title}”的合并单元格相互重叠或数量异常，文件可能已损坏，拒绝读取")
        merges.append((min_col, min_row, max_col, max_row))
    return merges


def _bounds(ref: str) -> tuple[int, int, int, int]:
    min_col, min_row, max_col, max_row = range_boundaries(ref)
    return (min_col or 1, min_row or 1, max_col or 1, max_row or 1)


def _uncached_formulas(xml: bytes) -> dict[tuple[int, int], str] | None:
    """`=text` of every formula without a cached value; None unless each is a plain one calamine's
    reading can be completed with (not shared, not an array formula, not in an unusual tag)."""
    count = _count_formulas_without_value(xml)
    if count == 0:
        return {}
    formulas = {
        (int(row), _column_number(letters)): "=" + html.unescape(text.decode("utf-8"))
        for letters, row, text in _PLAIN_UNCACHED_FORMULA.findall(xml)
    }
    return formulas if len(formulas) == count else None


def _has_formula_without_value(xml: bytes) -> bool:
    return _count_formulas_without_value(xml, stop_at=1) > 0


def _count_formulas_without_value(xml: bytes, stop_at: int | None = None) -> int:
    """How many cells hold a formula and no cached value (up to `stop_at`), in one pass (no backtracking regex)."""
    pos = count = 0
    while (match := _FORMULA_START.search(xml, pos)) is not None and count != stop_at:
        end = xml.find(b"</c>", match.end())
        if end < 0:
            break
        if xml.find(b"<v>", match.start(), end) < 0 or xml.find(b"<v></v>", match.start(), end) >= 0:
            count += 1
        pos = end + 4
    return count


def _add_uncached_formulas(grid: SheetGrid, worksheet: object, limits: ReaderLimits) -> None:
    rows = worksheet.iter_rows(max_row=limits.max_rows, max_col=limits.max_columns)  # type: ignore[attr-defined]
    for row in rows:
        for cell in row:
            value = cell.value
            if isinstance(value, ArrayFormula):  # {=…} entered with Ctrl+Shift+Enter: the same arithmetic
                value = value.text
            if not isinstance(value, str) or not value.startswith("=") or not hasattr(cell, "row"):
                continue
            key = (cell.row, cell.column)
            if key in grid.cells:
                continue  # the cached value is used
            grid.put(cell.row, cell.column, RawCell(None, cell.number_format or "General", formula=value))
