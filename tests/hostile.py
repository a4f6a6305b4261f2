"""Hostile and unusual workbooks, each written into a directory by one small function that returns its path.

Every file starts from the seed bureau's valid workbook (`workbooks.samples`, 沅江市科学技术和工业信息化局,
plain spec-v1 layout) and is changed in one way: cells edited with openpyxl, or the zip's XML parts
rewritten with `zipfile`. Each is a real .xlsx package unless its docstring says otherwise. The seed
workbook itself fails two checks (`sum/income` and `balance/income-expense` on 年初预算数, as the seed
report states them), so those two findings are the baseline of every file that is still read.

Cells of the seed workbook used here (plain layout): 封面 B1 单位名称, B2 单位编码, B4 年度; 收支总表 rows 2–20
with 年初预算数/全年预算数/全年执行数 in B/C/D (row 2 一般公共预算财政拨款收入, 3 政府性基金, 10 本年收入合计,
14 项目支出); 项目支出 rows 2–7 projects and row 8 合计, with C/D/E 年初预算数/全年预算数/全年执行数 and F 执行率.
"""

from __future__ import annotations

import functools
import importlib
import io
import os
import random
import re
import string
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal
from xml.etree import ElementTree

import pandas as pd
from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from workbooks.samples import FIXED_ZIP_TIME, Layout, build_workbook, seed_figures, workbook_bytes, write_workbook

MB = 1024 * 1024
SEED_NAME = "2023-科工信局.xlsx"
COVER, SUMMARY, PROJECTS = "封面", "收支总表", "项目支出"
FORTY_DIGITS = "1234567890123456789012345678901234567890"
LIBREOFFICE_XLS = Path(__file__).parent / "fixtures" / "libreoffice"

_TRANSITIONAL_MAIN = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_TRANSITIONAL_RELATIONSHIPS = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELATIONSHIPS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_SHEET_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_WORKSHEET_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
# Transitional → Strict (ISO/IEC 29500 Strict), longest first so that a prefix never shadows a longer name.
STRICT_NAMES: tuple[tuple[bytes, bytes], ...] = (
    (
        _TRANSITIONAL_RELATIONSHIPS + b"/extended-properties",
        b"http://purl.oclc.org/ooxml/officeDocument/relationships/extendedProperties",
    ),
    (_TRANSITIONAL_RELATIONSHIPS, b"http://purl.oclc.org/ooxml/officeDocument/relationships"),
    (_TRANSITIONAL_MAIN, b"http://purl.oclc.org/ooxml/spreadsheetml/main"),
    (b"http://schemas.openxmlformats.org/drawingml/2006/main", b"http://purl.oclc.org/ooxml/drawingml/main"),
    (
        b"http://schemas.openxmlformats.org/officeDocument/2006/extended-properties",
        b"http://purl.oclc.org/ooxml/officeDocument/extendedProperties",
    ),
)

# --- the seed workbook and its parts ----------------------------------------------------------------


def seed_workbook(layout: Layout = Layout()) -> Workbook:
    """The seed bureau's workbook as openpyxl builds it, to edit before saving."""
    return build_workbook(seed_figures(), layout)


@functools.cache
def seed_bytes() -> bytes:
    """The seed bureau's valid .xlsx, byte for byte the same every time."""
    return workbook_bytes(seed_workbook())


def sheet(book: Workbook, title: str) -> Worksheet:
    found = book[title]
    assert isinstance(found, Worksheet), title
    return found


def save(book: Workbook, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(workbook_bytes(book))
    return path


def zip_parts(data: bytes) -> dict[str, bytes]:
    """Every member of a zip, by name, in the zip's order."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def zip_bytes(parts: Mapping[str, bytes]) -> bytes:
    """A deflated zip of these members (names stored exactly as given), with fixed timestamps."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            info = zipfile.ZipInfo(name, FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def sheet_part(parts: Mapping[str, bytes], title: str) -> str:
    """The zip member that holds the worksheet of this title (read from xl/workbook.xml and its relationships)."""
    relationships = ElementTree.fromstring(parts["xl/_rels/workbook.xml.rels"])
    targets = {
        rel.get("Id"): rel.get("Target", "") for rel in relationships.iter(f"{_PACKAGE_RELATIONSHIPS}Relationship")
    }
    workbook = ElementTree.fromstring(parts["xl/workbook.xml"])
    for element in workbook.iter(f"{{{_TRANSITIONAL_MAIN.decode()}}}sheet"):
        if element.get("name") == title:
            target = targets[element.get(_SHEET_ID)]
            return target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    raise LookupError(title)


def replace_cell(xml: bytes, ref: str, cell: bytes) -> bytes:
    """The worksheet XML with the `<c>` element of one existing cell replaced by `cell`."""
    pattern = re.compile(rb'<c r="' + ref.encode() + rb'"(?:\s[^>]*?)?(?:/>|>.*?</c>)', re.DOTALL)
    replaced, count = pattern.subn(lambda _: cell, xml, count=1)
    if count != 1:
        raise LookupError(ref)
    return replaced


def edit_cells(data: bytes, title: str, cells: Mapping[str, bytes]) -> bytes:
    """The workbook with cells of one sheet replaced by raw `<c>` elements."""
    parts = zip_parts(data)
    name = sheet_part(parts, title)
    for ref, cell in cells.items():
        parts[name] = replace_cell(parts[name], ref, cell)
    return zip_bytes(parts)


def number_cell(ref: str, digits: str, style: int | None = None) -> bytes:
    """A numeric cell holding exactly these digits in `<v>`, as no float can say them."""
    styled = f' s="{style}"' if style is not None else ""
    return f'<c r="{ref}"{styled} t="n"><v>{digits}</v></c>'.encode()


def random_text(size: int, seed: int = 0) -> str:
    """`size` letters and digits, deterministic and nearly incompressible (so no zip-bomb check refuses the part)."""
    alphabet = (string.ascii_letters + string.digits).encode()
    table = bytes(alphabet[i % len(alphabet)] for i in range(256))
    return random.Random(seed).randbytes(size).translate(table).decode("ascii")


def misstate_first_rate(book: Workbook) -> None:
    """Make 税收增量评价费's 执行率 (项目支出 F2) 50% instead of 100%, so `project/rate` quotes that project's name."""
    sheet(book, PROJECTS)["F2"] = 0.5


# --- 1, 2: deep formulas ----------------------------------------------------------------------------


def nested_parentheses(directory: Path, depth: int = 400) -> Path:
    """收支总表 C10 (本年收入合计, 全年预算数) is `=((((…C2+C3+C4+C9…))))`, `depth` levels deep, with no cached value.

    Evaluated right it is 11658.78, the value the seed states, so the findings should be the seed's.
    """
    book = seed_workbook()
    sheet(book, SUMMARY)["C10"] = "=" + "(" * depth + "C2+C3+C4+C9" + ")" * depth
    return save(book, directory / f"nested-parentheses-{depth}.xlsx")


def nested_sums(directory: Path, depth: int = 3000) -> Path:
    """收支总表 C10 is `=SUM(SUM(…SUM(C2:C9)…))`, `depth` SUMs deep, with no cached value (11658.78 evaluated)."""
    book = seed_workbook()
    sheet(book, SUMMARY)["C10"] = "=" + "SUM(" * depth + "C2:C9" + ")" * depth
    return save(book, directory / f"nested-sums-{depth}.xlsx")


# --- 3, 4: huge numbers -----------------------------------------------------------------------------

HugeAmount = Literal["1e28", "1e308", "digits-text", "digits-number"]
HUGE_AMOUNTS: dict[HugeAmount, str] = {  # which 收支总表 cell holds each
    "1e28": "B2",
    "1e308": "C2",
    "digits-text": "D2",
    "digits-number": "B3",
}


def huge_amounts(directory: Path, only: HugeAmount | None = None) -> Path:
    """收支总表 amounts 1e28 (B2), 1e308 (C2), a 40-digit integer typed as text (D2) and stored as a number (B3).

    openpyxl writes a 40-digit int as the float `1.234567890123457e+39`, so the number is put into the
    sheet XML as `<v>1234567890123456789012345678901234567890</v>`. `only` writes one of the four alone.
    """
    chosen = set(HUGE_AMOUNTS) if only is None else {only}
    book = seed_workbook()
    summary = sheet(book, SUMMARY)
    if "1e28" in chosen:
        summary["B2"] = 1e28
    if "1e308" in chosen:
        summary["C2"] = 1e308
    if "digits-text" in chosen:
        summary["D2"] = FORTY_DIGITS
    data = workbook_bytes(book)
    if "digits-number" in chosen:
        data = edit_cells(data, SUMMARY, {"B3": number_cell("B3", FORTY_DIGITS, style=1)})
    path = directory / f"huge-amounts-{only or 'all'}.xlsx"
    path.write_bytes(data)
    return path


def huge_year(directory: Path) -> Path:
    """封面 年度 (B4) is 10**30, written as its 31 digits in `<v>` (openpyxl would write `1e+30`)."""
    data = edit_cells(seed_bytes(), COVER, {"B4": number_cell("B4", str(10**30))})
    path = directory / "huge-year.xlsx"
    path.write_bytes(data)
    return path


# --- 5, 6: formulas whose result is out of range, or undefined --------------------------------------

HugeFormula = Literal["power", "long-literal", "product"]
HUGE_FORMULAS: dict[HugeFormula, tuple[str, str]] = {  # 收支总表 cell, formula
    "power": ("B2", "=10^400"),  # `^` is outside what budgetflow evaluates
    "long-literal": ("C2", "=" + "9" * 5000),
    "product": ("D2", "=1E16*1E16"),  # 1E+32
}


def huge_formula_results(directory: Path, only: HugeFormula | None = None) -> Path:
    """收支总表 B2 `=10^400`, C2 a 5000-digit literal, D2 `=1E16*1E16` (1e32), none with a cached value.

    `only` writes one of the three alone (one that crashes the reader would hide the others).
    """
    book = seed_workbook()
    summary = sheet(book, SUMMARY)
    for key, (cell, formula) in HUGE_FORMULAS.items():
        if only is None or key == only:
            summary[cell] = formula
    return save(book, directory / f"huge-formula-{only or 'all'}.xlsx")


def division_by_zero(directory: Path) -> Path:
    """Formulas that divide by zero, none with a cached value (a spreadsheet shows #DIV/0!).

    项目支出 执行率 F3 `=E3/0`, F4 `=E4/H4` (H4 is empty), F5 `=0/0`; and one amount, 收支总表 D14
    (项目支出 全年执行数) `=10757.67/0`.
    """
    book = seed_workbook()
    projects = sheet(book, PROJECTS)
    projects["F3"] = "=E3/0"
    projects["F4"] = "=E4/H4"
    projects["F5"] = "=0/0"
    sheet(book, SUMMARY)["D14"] = "=10757.67/0"
    return save(book, directory / "division-by-zero.xlsx")


# --- 7: many sheets over one large part -------------------------------------------------------------


def padded_sheet(size: int) -> bytes:
    """A worksheet of about `size` bytes: rows of numbers in columns E–X (within the 2000 rows and 60 columns read)."""
    columns = [chr(ord("E") + i) for i in range(20)]
    head = f'<worksheet xmlns="{_TRANSITIONAL_MAIN.decode()}"><sheetData>'.encode()
    tail = b"</sheetData></worksheet>"
    rows: list[bytes] = []
    total = len(head) + len(tail)
    row = 1
    while total < size:
        cells = "".join(f'<c r="{col}{row}" t="n"><v>{(row * 31 + i) % 997}</v></c>' for i, col in enumerate(columns))
        text = f'<row r="{row}">{cells}</row>'.encode()
        rows.append(text)
        total += len(text)
        row += 1
    return head + b"".join(rows) + tail


def shared_part_sheets(directory: Path, sheets: int = 190, part_bytes: int = 1_000_000) -> Path:
    """The seed workbook plus `sheets` sheets whose <sheet> entries all reference ONE worksheet part of `part_bytes`.

    The shared part is xl/worksheets/shared.xml, declared once in [Content_Types].xml; xl/workbook.xml gets
    `sheets` <sheet> entries (共享1 …) and xl/_rels/workbook.xml.rels as many relationships, all with the
    same target. The six seed sheets stay, so the workbook has `sheets + 6` sheets (196 by default, under
    the 200 read limit) and the reader parses `sheets × part_bytes` of XML (190 MB by default, under 200 MB).
    The ~529 KB variant of the brief is `shared_part_sheets(directory, 184, 529_000)`.
    """
    parts = zip_parts(seed_bytes())
    parts["xl/worksheets/shared.xml"] = padded_sheet(part_bytes)
    entries = "".join(
        f'<sheet name="共享{i + 1}" sheetId="{100 + i}" state="visible" r:id="rIdShared{i}" />' for i in range(sheets)
    )
    relations = "".join(
        f'<Relationship Type="{_TRANSITIONAL_RELATIONSHIPS.decode()}/worksheet" '
        f'Target="/xl/worksheets/shared.xml" Id="rIdShared{i}" />'
        for i in range(sheets)
    )
    override = f'<Override PartName="/xl/worksheets/shared.xml" ContentType="{_WORKSHEET_CONTENT_TYPE}" />'
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(b"</sheets>", entries.encode() + b"</sheets>")
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>", relations.encode() + b"</Relationships>"
    )
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(b"</Types>", override.encode() + b"</Types>")
    path = directory / f"shared-part-{sheets}x{part_bytes // 1000}k.xlsx"
    path.write_bytes(zip_bytes(parts))
    return path


# --- 8, 9: text that is quoted back -----------------------------------------------------------------


def text_cell(ref: str, text: str) -> bytes:
    """An inline-string cell holding exactly this text (XML-escaped), however long."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<c r="{ref}" t="inlineStr"><is><t>{escaped}</t></is></c>'.encode()


def huge_texts(directory: Path, size: int = 10 * MB, where: Literal["code", "project", "both"] = "both") -> Path:
    """Text cells of `size` characters (random letters and digits) that findings quote.

    `code`: 封面 单位编码 (B2), which `format/bureau-code` quotes. `project`: the first project's name
    (项目支出 A2), with its 执行率 misstated (F2 = 50%) so that `project/rate` quotes the name. openpyxl
    cuts a cell's text to Excel's 32767 characters, so the texts are written into the sheet XML.
    """
    book = seed_workbook()
    if where in ("project", "both"):
        misstate_first_rate(book)
    data = workbook_bytes(book)
    if where in ("code", "both"):
        data = edit_cells(data, COVER, {"B2": text_cell("B2", "430981-" + random_text(size, seed=1))})
    if where in ("project", "both"):
        data = edit_cells(data, PROJECTS, {"A2": text_cell("A2", random_text(size, seed=2))})
    path = directory / f"huge-text-{where}.xlsx"
    path.write_bytes(data)
    return path


def rich_markup(directory: Path) -> Path:
    """Bureau text that is Rich console markup, in a file whose path holds `[/]`.

    封面 单位名称 `[/bold]沅江市科学技术和工业信息化局[/]`; 单位编码 `430981-013[/]` (the table view prints the
    code after the file name, and `format/bureau-code` quotes it); the first project's name `[red]x[/red]`,
    with its 执行率 misstated (F2 = 50%) so that `project/rate` quotes it. A file name cannot hold `/`, so
    the file is `]-markup.xlsx` in a folder `rich-[`: its path reads `…/rich-[/]-markup.xlsx`.
    """
    book = seed_workbook()
    cover = sheet(book, COVER)
    cover["B1"] = "[/bold]沅江市科学技术和工业信息化局[/]"
    cover["B2"] = "430981-013[/]"
    sheet(book, PROJECTS)["A2"] = "[red]x[/red]"
    misstate_first_rate(book)
    return save(book, directory / "rich-[" / "]-markup.xlsx")


# --- 10, 11, 12: packages laid out otherwise --------------------------------------------------------


def strict_open_xml(directory: Path) -> Path:
    """The seed workbook as Strict Open XML (ISO/IEC 29500 Strict), as Excel's "Strict Open XML Spreadsheet" saves it.

    The SpreadsheetML, relationships, DrawingML and extended-properties namespaces and the relationship
    types become their purl.oclc.org Strict names (`STRICT_NAMES`); <workbook> gets conformance="strict";
    [Content_Types].xml, the package-relationship namespace and core properties stay. calamine opens it.
    """
    parts = zip_parts(seed_bytes())
    for name, data in parts.items():
        if name == "[Content_Types].xml":
            continue
        for transitional, strict in STRICT_NAMES:
            data = data.replace(transitional, strict)
        parts[name] = data
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(b"<workbook ", b'<workbook conformance="strict" ', 1)
    path = directory / "strict.xlsx"
    path.write_bytes(zip_bytes(parts))
    return path


def moved_workbook_part(directory: Path, name: str = "book.xml") -> Path:
    """A valid package whose workbook part is xl/`name`, not xl/workbook.xml.

    _rels/.rels points the officeDocument relationship at it, [Content_Types].xml declares it, and its
    relationships move to xl/_rels/`name`.rels (their targets are absolute or relative to xl/, unchanged).
    """
    old = zip_parts(seed_bytes())
    parts: dict[str, bytes] = {}
    for member, data in old.items():
        if member == "xl/workbook.xml":
            parts[f"xl/{name}"] = data
        elif member == "xl/_rels/workbook.xml.rels":
            parts[f"xl/_rels/{name}.rels"] = data
        elif member == "_rels/.rels":
            parts[member] = data.replace(b'Target="xl/workbook.xml"', f'Target="xl/{name}"'.encode())
        elif member == "[Content_Types].xml":
            parts[member] = data.replace(b'PartName="/xl/workbook.xml"', f'PartName="/xl/{name}"'.encode())
        else:
            parts[member] = data
    path = directory / f"moved-workbook-{name.removesuffix('.xml')}.xlsx"
    path.write_bytes(zip_bytes(parts))
    return path


def backslash_names(directory: Path) -> Path:
    """The seed workbook with every member name written with backslashes (`xl\\workbook.xml`, `_rels\\.rels` …)."""
    parts = {name.replace("/", "\\"): data for name, data in zip_parts(seed_bytes()).items()}
    path = directory / "backslash-names.xlsx"
    path.write_bytes(zip_bytes(parts))
    return path


# --- 13, 14: not a workbook, or a broken one --------------------------------------------------------


def theme_zip() -> bytes:
    """The small zip that Excel and WPS embed in an .xls for its theme (theme/theme/theme1.xml and its package)."""
    theme = zip_parts(seed_bytes())["xl/theme/theme1.xml"]
    content_types = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        b'<Default Extension="xml" ContentType="application/xml"/>'
        b'<Override PartName="/theme/theme/theme1.xml" '
        b'ContentType="application/vnd.openxmlformats-officedocument.theme+xml"/></Types>'
    )
    relationships = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/theme" '
        b'Target="theme/theme/theme1.xml"/></Relationships>'
    )
    return zip_bytes(
        {"[Content_Types].xml": content_types, "_rels/.rels": relationships, "theme/theme/theme1.xml": theme}
    )


def cfb_stub(sectors: int = 8) -> bytes:
    """A compound-file (OLE/CFB, the .xls container) header — magic, version 3, 512-byte sectors — and zeroed sectors.

    Not a well-formed compound file: it stands in for an .xls when no real one is at hand.
    """
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # magic
        + bytes(16)  # class id
        + bytes.fromhex("3e00 0300 feff 0900 0600")  # minor 0x3E, major 3, little-endian, 2⁹ and 2⁶ byte sectors
        + bytes(6)
        + (1).to_bytes(4, "little")  # FAT sectors
        + (1).to_bytes(4, "little")  # first directory sector
        + bytes(4)
        + (4096).to_bytes(4, "little")  # mini stream cutoff
        + b"\xfe\xff\xff\xff"  # no mini FAT
        + bytes(4)
        + b"\xfe\xff\xff\xff"  # no DIFAT sectors
        + bytes(4)
        + (0).to_bytes(4, "little")  # first FAT sector: 0
        + b"\xff" * (109 * 4 - 4)
    )
    return header.ljust(512, b"\0") + bytes(512 * sectors)


def xls_with_theme_zip(directory: Path) -> Path:
    """An OLE/CFB file (an .xls) that carries a theme zip at its end, so that `zipfile.is_zipfile` says True.

    Uses the first tests/fixtures/libreoffice/*.xls when there is one, else `cfb_stub()`; named .xlsx,
    as a clerk renames an .xls. Not a zip package at its start: it is a compound file.
    """
    real = sorted(LIBREOFFICE_XLS.glob("*.xls")) if LIBREOFFICE_XLS.is_dir() else []
    ole = real[0].read_bytes() if real else cfb_stub()
    path = directory / ("xls-theme-zip.xlsx" if real else "cfb-stub-theme-zip.xlsx")
    path.write_bytes(ole + theme_zip())
    return path


def truncated(directory: Path, fraction: float = 0.75) -> Path:
    """The seed workbook cut to `fraction` of its bytes (the end of the zip, its central directory, is lost)."""
    data = seed_bytes()
    path = directory / f"truncated-{round(fraction * 100)}.xlsx"
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def bit_flipped(directory: Path, seed: int = 0, flips: int = 4) -> Path:
    """The seed workbook with `flips` single bits flipped inside its members' headers and compressed data.

    The bits are chosen by `random.Random(seed)` before the central directory, which stays intact, so
    the file is still a zip whose members are damaged.
    """
    data = bytearray(seed_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        directory_start = archive.start_dir
    rng = random.Random(seed)
    for _ in range(flips):
        position = rng.randrange(directory_start)
        data[position] ^= 1 << rng.randrange(8)
    path = directory / f"bit-flipped-{seed}.xlsx"
    path.write_bytes(bytes(data))
    return path


# --- 15, 16: other writers --------------------------------------------------------------------------

FORMULA_TOTALS = frozenset({"inc_total", "exp_total", "exp_basic", "total", "vehicle"})


def xlsxwriter_formulas(directory: Path) -> Path:
    """The seed figures written by XlsxWriter, every total a formula with XlsxWriter's cached result 0.

    The totals of 收支总表 (本年收入合计, 支出合计, 基本支出) and 三公经费 (合计, 公务用车) are `=…+…`
    formulas (`Layout(formula_totals=…)`) and 项目支出 合计 C8:E8 are `=SUM(C2:C7)` …; XlsxWriter
    stores `<v>0</v>` for each, so a reader that trusts cached values reads every total as 0. Strings
    go to sharedStrings.xml, as XlsxWriter writes them. Raises ImportError without `xlsxwriter`.
    """
    book = seed_workbook(Layout(formula_totals=FORMULA_TOTALS))
    projects = sheet(book, PROJECTS)
    for column in "CDE":
        projects[f"{column}8"] = f"=SUM({column}2:{column}7)"
    return with_xlsxwriter(book, directory / "xlsxwriter-formulas.xlsx")


def with_xlsxwriter(book: Workbook, path: Path, cached: Mapping[tuple[str, str], float] | None = None) -> Path:
    """The openpyxl workbook rewritten cell by cell with XlsxWriter; a formula caches the value given for its
    (sheet, cell) in `cached`, else XlsxWriter's default result 0."""
    xlsxwriter: Any = importlib.import_module("xlsxwriter")
    cached = cached or {}
    target = xlsxwriter.Workbook(str(path))
    formats: dict[str, Any] = {}
    for worksheet in book.worksheets:
        out = target.add_worksheet(worksheet.title)
        for row in worksheet.iter_rows():
            for cell in row:
                value = cell.value
                if value is None or cell.row is None or cell.column is None:
                    continue
                code = cell.number_format
                if code != "General" and code not in formats:
                    formats[code] = target.add_format({"num_format": code})
                style = formats.get(code)
                at = (cell.row - 1, cell.column - 1)
                if isinstance(value, str) and value.startswith("="):
                    out.write_formula(*at, value, style, cached.get((worksheet.title, cell.coordinate), 0))
                elif isinstance(value, str):
                    out.write_string(*at, value, style)
                else:
                    out.write_number(*at, value, style)
    target.close()
    return path


def _rows(worksheet: Worksheet) -> list[list[Any]]:
    return [[cell.value for cell in row] for row in worksheet.iter_rows()]


def pandas_workbook(directory: Path) -> Path:
    """The seed workbook rewritten sheet by sheet with `pandas.ExcelWriter` and `DataFrame.to_excel` (openpyxl engine).

    pandas keeps the values and drops every number format: 项目支出 执行率 holds fractions (0.97, 0.9838 …,
    1 for 100%) in General format, and amounts lose `#,##0.00`. 封面 and 自评结果 (label/value sheets) are
    written without a header row; the other sheets with their first row as the DataFrame's header
    (which pandas writes bold, with borders), `index=False`, so every cell stays where the seed has it.
    """
    book = seed_workbook()
    path = directory / "pandas-to-excel.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for worksheet in book.worksheets:
            rows = _rows(worksheet)
            if worksheet.title in (COVER, "自评结果"):
                pd.DataFrame(rows).to_excel(writer, sheet_name=worksheet.title, index=False, header=False)
            else:
                frame = pd.DataFrame(rows[1:], columns=rows[0])
                frame.to_excel(writer, sheet_name=worksheet.title, index=False)
    return path


def fraction_rates(directory: Path) -> Path:
    """The simpler variant of `pandas_workbook`: the seed workbook with 项目支出 F2:F8 fractions in General format."""
    book = seed_workbook()
    projects = sheet(book, PROJECTS)
    for project_row in range(2, 9):  # the seed stores rates as fractions already, formatted 0%/0.00%
        projects[f"F{project_row}"].number_format = "General"
    return save(book, directory / "fraction-rates.xlsx")


# --- every hostile workbook, and an inbox of things that are not plain files -------------------------

HostileFile = Callable[[Path], Path]
HOSTILE_FILES: dict[str, HostileFile] = {
    "nested parentheses (400)": nested_parentheses,
    "nested SUMs (3000)": nested_sums,
    "huge amounts (all)": huge_amounts,
    **{f"huge amount {key}": functools.partial(huge_amounts, only=key) for key in HUGE_AMOUNTS},
    "cover year 10**30": huge_year,
    "huge formula results (all)": huge_formula_results,
    **{f"huge formula {key}": functools.partial(huge_formula_results, only=key) for key in HUGE_FORMULAS},
    "division by zero": division_by_zero,
    "190 sheets sharing a 1 MB part": shared_part_sheets,
    "184 sheets sharing a 529 KB part": functools.partial(shared_part_sheets, sheets=184, part_bytes=529_000),
    "10 MB texts (code and project)": huge_texts,
    "10 MB bureau code": functools.partial(huge_texts, where="code"),
    "10 MB project name": functools.partial(huge_texts, where="project"),
    "Rich markup": rich_markup,
    "Strict Open XML": strict_open_xml,
    "workbook part at xl/book.xml": moved_workbook_part,
    "backslash member names": backslash_names,
    "OLE file carrying a theme zip": xls_with_theme_zip,
    "truncated (75%)": truncated,
    "bit-flipped (seed 0)": bit_flipped,
    "bit-flipped (seed 1)": functools.partial(bit_flipped, seed=1),
    "XlsxWriter formulas cached as 0": xlsxwriter_formulas,
    "pandas to_excel": pandas_workbook,
    "fraction rates in General format": fraction_rates,
}


def write_all(directory: Path) -> dict[str, Path]:
    """Every hostile workbook of `HOSTILE_FILES`, by its description."""
    directory.mkdir(parents=True, exist_ok=True)
    return {kind: build(directory) for kind, build in HOSTILE_FILES.items()}


def excel_lock_file(owner: str = "李明") -> bytes:
    """The 165-byte owner file Excel keeps beside an open workbook: the owner's name, length-prefixed, twice."""
    name = owner.encode("utf-16-le")
    first = bytes([len(owner)]) + owner.encode("gbk", "replace").ljust(53, b" ")
    return (first + bytes([len(owner), 0]) + name).ljust(165, b" ")


def special_inbox_entries(directory: Path) -> dict[str, Path]:
    """Entries an inbox folder may hold that are not plain workbook files, by what each is.

    A symlink to /dev/zero and a FIFO (both named .xlsx; reading either never ends), a symlink to a valid
    workbook kept in a sub-folder (the sub-folder is itself an entry), a hidden `.hidden.xlsx` (a valid
    workbook) and an Excel lock file `~$x.xlsx`.
    """
    directory.mkdir(parents=True, exist_ok=True)
    sub_folder = directory / "sub-folder"
    valid = write_workbook(seed_figures(), sub_folder / SEED_NAME)
    entries = {
        "symlink to /dev/zero": directory / "dev-zero.xlsx",
        "symlink to a valid workbook": directory / "linked.xlsx",
        "FIFO": directory / "fifo.xlsx",
        "hidden file": directory / ".hidden.xlsx",
        "Excel lock file": directory / "~$x.xlsx",
        "sub-folder": sub_folder,
    }
    entries["symlink to /dev/zero"].symlink_to("/dev/zero")
    entries["symlink to a valid workbook"].symlink_to(valid)
    os.mkfifo(entries["FIFO"])
    entries["hidden file"].write_bytes(seed_bytes())
    entries["Excel lock file"].write_bytes(excel_lock_file())
    return entries
