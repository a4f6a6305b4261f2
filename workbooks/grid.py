"""The one small interface between a workbook file and the layout reader.

`open_grid(path)` returns every sheet as a sparse grid of raw cells (value, number format, and the
formula where the file gives one) plus its merged ranges. Nothing above this module knows which
format or engine read the file: the file's content, never its name, decides.

- Office Open XML (.xlsx, .xlsm; transitional or Strict): `workbooks.ooxml`.
- OpenDocument (.ods): `workbooks.opendocument`.
- Excel 97–2003 BIFF8 (.xls, as Excel, WPS and LibreOffice save it): `workbooks.legacy`.
- Excel binary (.xlsb): calamine's values, without number formats (see the README's reading rules).

Every zip is opened through `workbooks.package`, which checks it against the reader's limits first.
"""

from __future__ import annotations

import codecs
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePath
from xml.etree.ElementTree import ParseError

import python_calamine
from defusedxml import DefusedXmlException

from config.settings import DEFAULT_READER_LIMITS, ReaderLimits
from workbooks.calamine import SheetPlan, read_sheets
from workbooks.cells import CellValue, RawCell, SheetGrid, UnreadableWorkbook, WorkbookGrid, a1
from workbooks.legacy import is_encrypted_cfb, read_xls
from workbooks.ooxml import read_ooxml
from workbooks.opendocument import read_ods
from workbooks.package import PROLOG_LIMIT, XML_DANGER_MESSAGE, XML_SPACE, Package, open_package

__all__ = ["CellValue", "RawCell", "SheetGrid", "UnreadableWorkbook", "WorkbookGrid", "a1", "open_grid"]

CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE compound file: .xls, encrypted .xlsx, WPS .et, .doc
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_HTML_MARKERS = ("<html", "<!doctype html", "<head", "<body", "<table", "<meta")


def _head(path: Path, size: int = 4096) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)


def _as_text(head: bytes) -> str | None:
    """The head of a file as text when it looks like text (any common encoding), else None."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return head.decode("utf-16", "replace")
    body = head.removeprefix(codecs.BOM_UTF8)
    if not body or any((b < 32 and b not in (9, 10, 13)) or b == 127 for b in body[:512]):
        return None
    return body.decode("utf-8", "replace")


def _explain_not_a_workbook(head: bytes) -> str:
    """Why a file that is neither a zip package nor a compound file is no workbook, in a clerk's words."""
    if head.startswith(_ZIP_MAGICS):
        return "文件是 ZIP 压缩包，但已损坏或不完整（可能在下载或复制时被截断），请重新保存后提交"
    if head.startswith(b"%PDF"):
        return "文件是 PDF 文档，不是 Excel 工作簿，请提交 .xlsx 格式的报表"
    text = _as_text(head)
    if text is None:
        return "文件不是 Excel 工作簿（.xlsx、.xls 或 .ods）：内容无法识别"
    start = text.lstrip(XML_SPACE + "\ufeff")[:4096].lower()
    if start.startswith("<") and any(marker in start for marker in _HTML_MARKERS):
        return "文件是网页（HTML），不是 Excel 工作簿，请另存为 .xlsx 后重新提交"
    if start.startswith("<") and ("urn:schemas-microsoft-com:office:spreadsheet" in start or "<workbook" in start):
        return "文件是 Excel 2003 XML 表格，不是 .xlsx 工作簿，请另存为 .xlsx 后重新提交"
    if start.startswith("<?xml"):
        return "文件是 XML 文本，不是 Excel 工作簿，请另存为 .xlsx 后重新提交"
    return "文件是文本（可能是 CSV 改了扩展名），不是 Excel 工作簿，请另存为 .xlsx 后重新提交"


def _explain_no_workbook(names: set[str]) -> str:
    if "word/document.xml" in names:
        return "文件是 Word 文档（.docx），不是 Excel 工作簿，请提交 .xlsx 格式的报表"
    if "ppt/presentation.xml" in names:
        return "文件是 PowerPoint 演示文稿（.pptx），不是 Excel 工作簿，请提交 .xlsx 格式的报表"
    if "mimetype" in names and "content.xml" in names:
        return "文件是 OpenDocument 文档，但不是表格（.ods），请提交 Excel 或 .ods 表格"
    return "文件是 ZIP 压缩包，但其中没有 Excel 工作簿内容（找不到 xl/workbook.xml，包内的关系文件也没有指向工作簿）"


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
        return UnreadableWorkbook(f"工作簿中的 XML {XML_DANGER_MESSAGE}")
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


def check_regular_file(path: Path, limits: ReaderLimits) -> int:
    """The file's size; UnreadableWorkbook for anything that is not a regular file of an acceptable size.

    A symlink to /dev/zero, a FIFO or a device would otherwise be read for ever (or block the run)."""
    try:
        status = path.lstat()
    except OSError as exc:
        raise UnreadableWorkbook(f"文件无法打开：{exc.strerror or exc}") from exc
    if stat.S_ISLNK(status.st_mode):
        raise UnreadableWorkbook("这是一个符号链接，不是文件本身，拒绝读取；请提交文件本身")
    if not stat.S_ISREG(status.st_mode):
        raise UnreadableWorkbook("这不是普通文件（是目录、设备或管道），拒绝读取")
    if status.st_size == 0:
        raise UnreadableWorkbook("文件为空（0 字节）")
    if status.st_size > limits.max_file_bytes:
        raise UnreadableWorkbook(
            f"文件 {status.st_size // (1024 * 1024)} MB，超过上限 {limits.max_file_bytes // (1024 * 1024)} MB"
        )
    return status.st_size


def open_grid(path: Path, limits: ReaderLimits | None = None) -> WorkbookGrid:
    """Every sheet of the workbook as raw cells (of every workbook, for a zip of workbooks sent together);
    raises UnreadableWorkbook with the reason."""
    limits = limits or DEFAULT_READER_LIMITS
    check_regular_file(path, limits)
    try:
        return _open(path, limits, bundled=False)
    except UnreadableWorkbook:
        raise
    except OSError as exc:
        raise UnreadableWorkbook(f"文件无法打开：{exc.strerror or exc}") from exc
    except Exception as exc:  # every other engine failure is still just a file we cannot read
        raise _engine_failure(exc) from exc


def _read_package(path: Path, package: Package, limits: ReaderLimits, *, bundled: bool = False) -> WorkbookGrid:
    if package.is_ods():
        return read_ods(path, package, limits)
    main = package.office_document()
    members = package.bundled_workbooks() if main is None else None
    if members is not None and not bundled:
        return _read_bundle(package, members, limits)
    if main is None:
        raise UnreadableWorkbook(_explain_no_workbook(package.names))
    if main.endswith(".bin"):
        return _read_xlsb(path, limits)
    return read_ooxml(path, package, limits)


MAX_BUNDLED_WORKBOOKS = 30  # nine tables sent together, and room for a few more: each is read within the limits


def _member_name(name: str) -> str:
    """A member's name as its sender wrote it: Windows archivers store Chinese names in GBK without saying so,
    which zipfile reads as code page 437."""
    try:
        return name.encode("cp437").decode("gbk")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return name


def _read_bundle(package: Package, members: list[str], limits: ReaderLimits) -> WorkbookGrid:
    """The sheets of every workbook in a zip of tables sent together (nine workbooks of one table each), as one
    workbook: each member read as a file of its own, within the same limits; a sheet whose title another member
    has already used is named after its file too. A zip inside a member is not opened again."""
    if len(members) > MAX_BUNDLED_WORKBOOKS:
        raise UnreadableWorkbook(f"压缩包内有 {len(members)} 个工作簿，超过上限 {MAX_BUNDLED_WORKBOOKS}，拒绝读取")
    sheets: list[SheetGrid] = []
    titles: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="budgetflow-bundle-") as folder:
        for position, member in enumerate(members):
            shown = _member_name(member)
            copy = Path(folder) / f"{position}{PurePath(member).suffix.lower()}"
            copy.write_bytes(package.workbooks[member])
            try:
                grid = _open(copy, limits, bundled=True)
            except UnreadableWorkbook as exc:
                raise UnreadableWorkbook(f"压缩包内的 {shown}：{exc}") from exc
            except OSError as exc:
                raise UnreadableWorkbook(f"压缩包内的 {shown}：文件无法打开（{exc.strerror or exc}）") from exc
            except Exception as exc:  # an engine's failure on this member is still just this member unreadable
                raise UnreadableWorkbook(f"压缩包内的 {shown}：{_engine_failure(exc)}") from exc
            finally:
                copy.unlink()
            for sheet in grid.sheets:
                sheet.title = _unused_title(sheet.title, PurePath(shown).stem, titles)
                titles.add(sheet.title)
                sheets.append(sheet)
            if len(sheets) > limits.max_sheets:
                raise UnreadableWorkbook(f"压缩包内的工作簿共有超过 {limits.max_sheets} 个工作表，拒绝读取")
    return WorkbookGrid(sheets)


def _unused_title(title: str, stem: str, used: set[str]) -> str:
    """A sheet title no other sheet of the bundle has: its own, else named after its file, else numbered."""
    candidates = [title, f"{stem}-{title}"[:31], *(f"{stem}-{title}"[:27] + f"-{n}" for n in range(2, 1000))]
    return next(candidate for candidate in candidates if candidate not in used)


def _open(path: Path, limits: ReaderLimits, *, bundled: bool) -> WorkbookGrid:
    """A file's sheets by its format as its content tells it; `bundled`: a workbook inside a bundle, which may not
    be a bundle itself."""
    try:
        head = _head(path, PROLOG_LIMIT)
    except OSError as exc:
        raise UnreadableWorkbook(f"文件无法打开：{exc.strerror or exc}") from exc
    # The magic first: an .xls that embeds a theme holds a zip inside, which `zipfile.is_zipfile` finds.
    if head.startswith(CFB_MAGIC):
        if is_encrypted_cfb(path):
            raise UnreadableWorkbook("文件设置了打开密码（已加密），请去掉密码后重新提交")
        return read_xls(path, limits)
    if not head.startswith(_ZIP_MAGICS) or not zipfile.is_zipfile(path):
        raise UnreadableWorkbook(_explain_not_a_workbook(head))
    return _read_package(path, open_package(path, limits), limits, bundled=bundled)


def _read_xlsb(path: Path, limits: ReaderLimits) -> WorkbookGrid:
    """An Excel binary workbook: calamine's values, bounded to what is read, without number formats."""
    with path.open("rb") as handle, python_calamine.CalamineWorkbook.from_filelike(handle) as book:
        titles = list(book.sheet_names)
    if len(titles) > limits.max_sheets:
        raise UnreadableWorkbook(f"工作簿有 {len(titles)} 个工作表，超过上限 {limits.max_sheets}，拒绝读取")
    return read_sheets(path, [SheetPlan(title) for title in titles], limits, bounded=True)
