"""A workbook's zip package, opened safely: what .xlsx, .xlsm, .xlsb and .ods files are made of.

Before any engine sees a zip, its directory and every part are checked against the reader's limits
(entries, sizes, compression ratios, checksums, encryption), and every XML part's prolog is walked for
DTDs and entity declarations. The XML parts are inflated once, here, and kept for the readers.
"""

from __future__ import annotations

import codecs
import os
import posixpath
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from defusedxml.ElementTree import fromstring as parse_xml

from config.settings import ReaderLimits
from workbooks.cells import UnreadableWorkbook

_INFLATE_STEP = 1024 * 1024
PROLOG_LIMIT = 64 * 1024
XML_SPACE = " \t\r\n"
_MEDIA_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".emf", ".wmf", ".svg", ".wdp", ".bin")
BUNDLE_SUFFIXES = (".xls", ".xlsx", ".xlsm", ".ods", ".et")  # the workbooks a zip of tables may hold
_CLUTTER = ("__macosx/", ".ds_store", "thumbs.db", "desktop.ini")  # what archivers and file managers add
_CLUTTER_PREFIXES = ("~$", "._")  # an open workbook's lock file (Excel, WPS), a Mac's resource fork


def _is_clutter(name: str) -> bool:
    lowered = name.lower()
    base = lowered.rsplit("/", 1)[-1]
    return lowered.startswith(_CLUTTER[0]) or base in _CLUTTER[1:] or base.startswith(_CLUTTER_PREFIXES) or not base


_DECLARED_ENCODING = re.compile(r"""<\?xml[^>]*?\sencoding\s*=\s*["']([^"']{1,40})["']""")
_DIRECTORY_BYTES_PER_PART = 1024  # a central-directory entry is 46 bytes plus name and extras: far less in practice
XML_DANGER_MESSAGE = "含有 DOCTYPE 或实体（ENTITY）声明，拒绝读取（可能是 XML 实体炸弹或外部实体攻击）"
_RELATIONSHIPS_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"


@dataclass(slots=True)
class Package:
    """The names of a zip's parts and the bytes of its XML parts (media and binary parts are only checked)."""

    parts: dict[str, bytes] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)
    renamed: bool = False  # some names were written with backslashes or a leading slash
    workbooks: dict[str, bytes] = field(default_factory=dict)  # workbooks inside: a zip of tables sent together

    def bundled_workbooks(self) -> list[str] | None:
        """The workbooks of a zip that is no workbook itself but holds some (a department's nine tables sent
        together, perhaps with a 说明.pdf beside them), in name order; None when it holds none."""
        return sorted(self.workbooks) or None

    def read(self, name: str) -> bytes:
        """An XML part; KeyError, as from zipfile, when there is none."""
        return self.parts[name.lstrip("/")]

    def office_document(self) -> str | None:
        """The package's main part, as its relationships name it (`xl/workbook.xml` for Excel's files, anywhere
        for others'); the conventional place when the package has no relationships."""
        relationships = self.parts.get("_rels/.rels")
        if relationships is not None:
            try:
                for relationship in parse_xml(relationships).iter(f"{_RELATIONSHIPS_NS}Relationship"):
                    if relationship.get("Type", "").endswith("/officeDocument"):
                        target = part_name("", relationship.get("Target", ""))
                        if target in self.names:
                            return target
            except Exception:  # a malformed relationships part: fall back on where Excel puts it
                pass
        return next((name for name in ("xl/workbook.xml", "xl/workbook.bin") if name in self.names), None)

    def is_ods(self) -> bool:
        return self.parts.get("mimetype", b"").strip() == ODS_MIMETYPE or (
            "content.xml" in self.names and "mimetype" in self.names
        )


def part_name(source_directory: str, target: str) -> str:
    """A relationship's target as a name in the zip: absolute (`/xl/x.xml`), or relative to its source's folder."""
    target = target.replace("\\", "/")
    if target.startswith("/"):
        return posixpath.normpath(target.lstrip("/"))
    return posixpath.normpath(posixpath.join(source_directory, target))


def relationships_of(part: str) -> str:
    """The name of the relationships part of `part` (`xl/workbook.xml` → `xl/_rels/workbook.xml.rels`)."""
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", f"{name}.rels")


def open_package(path: Path, limits: ReaderLimits) -> Package:
    """The checked parts of the zip at `path`; UnreadableWorkbook (or an engine's error) when it must not be read."""
    _check_directory(path, limits)
    with zipfile.ZipFile(path) as archive:
        return _check_archive(path, archive, limits)


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


def _check_archive(path: Path, archive: zipfile.ZipFile, limits: ReaderLimits) -> Package:
    """Refuse what no reader should open; the bytes of every XML part otherwise, under its name as a zip
    reader on any system reads it (`xl\\workbook.xml`, as some programs write it, is `xl/workbook.xml`)."""
    infos = archive.infolist()
    if len(infos) > limits.max_parts:
        raise UnreadableWorkbook(f"压缩包内文件数 {len(infos)} 超过上限 {limits.max_parts}，拒绝读取")
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
    package = Package()
    with path.open("rb") as handle:
        for info in infos:
            if info.is_dir():
                continue
            data = _inflate_checked(handle, info)
            name = info.filename.replace("\\", "/").lstrip("/")
            package.renamed |= name != info.filename
            package.names.add(name)
            if name.lower().endswith(BUNDLE_SUFFIXES) and not _is_clutter(name):
                package.workbooks[name] = data  # a workbook inside, opened (and checked) as a file of its own
            elif not name.lower().endswith(_MEDIA_SUFFIXES):
                _check_prolog(name, data[:PROLOG_LIMIT])
                package.parts[name] = data
    return package


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
    if not text.lstrip(XML_SPACE).startswith("<"):
        return None  # images and other binary parts
    declared = _DECLARED_ENCODING.match(text.lstrip(XML_SPACE))
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
        while pos < len(text) and text[pos] in XML_SPACE + "\ufeff":
            pos += 1
        if pos == len(text):
            break
        if text.startswith("<?", pos):
            end, skip = text.find("?>", pos + 2), 2
        elif text.startswith("<!--", pos):
            end, skip = text.find("-->", pos + 4), 3
        elif text.startswith("<!", pos):
            raise UnreadableWorkbook(f"{name} {XML_DANGER_MESSAGE}")
        else:
            return  # the root element, or not XML at all (the parser will say so)
        if end < 0:
            break
        pos = end + skip
    if len(head) == PROLOG_LIMIT:
        raise UnreadableWorkbook(f"{name} 的 XML 开头异常冗长，拒绝读取（可能是恶意文件）")
