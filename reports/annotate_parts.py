"""The annotated copy written part by part, without loading the workbook into openpyxl.

The bureau's file is copied zip entry by entry, and only what the annotation touches is edited, as
text, in place: the styles (two fills, three fonts and the cell formats that use them are appended),
the sheets with marked cells (their cells' `s` attributes, a `<legacyDrawing>` for the comments), the
workbook's sheet list (the findings sheet goes first) and the content types; the comments, their VML
drawing and the findings sheet are new parts. Everything else — values, formulas, charts, images,
pivot caches, macros, namespace declarations Excel relies on — passes through byte for byte.
openpyxl's load and save take ~60 ms a file and drop images and charts; this takes a few ms.

Parts are edited as text rather than re-serialised through an XML library: ElementTree drops the
namespace declarations that only `mc:Ignorable` names, which Excel then reports as corruption. They
are still parsed (defusedxml) wherever something is read from them.

A workbook this writer does not understand (no styles part, a marked sheet that already has comments,
cells without positions, prefixed or strict-OOXML elements, another encoding than UTF-8 …) raises
`UnsupportedWorkbook`, and the caller writes the copy with openpyxl instead.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape, quoteattr

from defusedxml.ElementTree import fromstring as parse_xml
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.comments.shape_writer import ShapeWriter
from openpyxl.utils.cell import column_index_from_string as column_index
from openpyxl.utils.cell import coordinate_from_string, get_column_letter

from checks.findings import Finding, Severity
from reports.annotation import (
    COMMENT_AUTHOR,
    COMMENT_HEIGHT,
    COMMENT_WIDTH,
    ERROR_RGB,
    MESSAGE_COLUMN,
    NO_FINDINGS_TEXT,
    PAPER_A4,
    RESULT_HEADERS,
    RESULT_WIDTHS,
    WARNING_RGB,
    Bounds,
    Notes,
    ResultLine,
    cell_notes,
    comment_text,
    is_error,
    result_lines,
    result_sheet_name,
)

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
OFFICE_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
WORKSHEET_REL = f"{OFFICE_REL}/worksheet"
STYLES_REL = f"{OFFICE_REL}/styles"
COMMENTS_REL = f"{OFFICE_REL}/comments"
VML_REL = f"{OFFICE_REL}/vmlDrawing"
WORKSHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
COMMENTS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"
VML_TYPE = "application/vnd.openxmlformats-officedocument.vmlDrawing"
LINK_RGB = "FF0563C1"  # Excel's Hyperlink style
WORKBOOK = "xl/workbook.xml"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

_DECLARED_ENCODING = re.compile(r"""<\?xml[^>]*encoding=["']([^"']+)["']""")
_PREFIXED = re.compile(r"<[A-Za-z_][\w.-]*:(?:worksheet|sheetData|row|c|styleSheet|workbook|sheets)[\s>/]")
_ROW = re.compile(r"<row\b([^>]*?)(?:/>|>(.*?)</row>)", re.DOTALL)
_CELL = re.compile(r"<c\b([^>]*?)(?:/>|>(.*?)</c>)", re.DOTALL)
_REFERENCE = re.compile(r"""\sr=["']([^"']*)["']""")
_STYLE = re.compile(r"""\ss=["']([0-9]*)["']""")
_XF = re.compile(r"<xf\b[^>]*?(?:/>|>.*?</xf>)", re.DOTALL)
_TAB_SELECTED = re.compile(rb"""\stabSelected=["'](?:1|true)["']""")
_CELL_REFERENCE = re.compile(r"([A-Z]{1,3})([0-9]+)")
# Worksheet children that come after <legacyDrawing> (ECMA-376 CT_Worksheet); extLst is found apart, as
# conditional formats hold an extLst of their own.
_AFTER_LEGACY_DRAWING = re.compile(
    r"<(?:legacyDrawingHF|drawingHF|picture|oleObjects|controls|webPublishItems|tableParts)[\s>/]"
)


class UnsupportedWorkbook(Exception):
    """The workbook has something this writer does not handle; openpyxl writes its copy."""


def _text(value: str) -> str:
    return escape(ILLEGAL_CHARACTERS_RE.sub("", value))


def _attribute(value: str) -> str:
    return quoteattr(ILLEGAL_CHARACTERS_RE.sub("", value))


def _with_attribute(start_tag: str, name: str, value: str | None) -> str:
    """A start tag with the attribute set to `value` (or taken out, for None)."""
    pattern = re.compile(rf"""\s{name}=["'][^"']*["']""")
    stripped = pattern.sub("", start_tag)
    if value is None:
        return stripped
    closing = "/>" if stripped.endswith("/>") else ">"
    return f"{stripped[: -len(closing)].rstrip()} {name}={quoteattr(value)}{closing}"


@dataclass
class _Package:
    """The original zip's parts (as text where edited) and the parts edited or added."""

    archive: zipfile.ZipFile
    changed: dict[str, bytes] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name in self.changed or name in self.archive.NameToInfo

    def text(self, name: str) -> str:
        data = self.changed[name] if name in self.changed else self.archive.read(name)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnsupportedWorkbook(f"{name} is not UTF-8") from exc
        declared = _DECLARED_ENCODING.match(text)
        if declared is not None and declared.group(1).lower().replace("-", "") != "utf8":
            raise UnsupportedWorkbook(f"{name} declares {declared.group(1)}")
        if _PREFIXED.search(text):
            raise UnsupportedWorkbook(f"{name} has prefixed spreadsheet elements")
        return text.removeprefix("\ufeff")

    def put(self, name: str, text: str) -> None:
        self.changed[name] = text.encode("utf-8")

    def fresh(self, pattern: str) -> str:
        number = 1
        while self.has(pattern.format(number)):
            number += 1
        return pattern.format(number)


def _rels_name(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", f"{name}.rels")


def _resolve(source: str, target: str) -> str:
    if target.startswith("/"):
        return target[1:]
    return posixpath.normpath(posixpath.join(posixpath.dirname(source), target))


@dataclass
class _Relationships:
    """A part's .rels: what it has (id → type, part) and relationships to add."""

    source: str
    text: str
    targets: dict[str, tuple[str, str]]
    added: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, package: _Package, source: str) -> _Relationships:
        name = _rels_name(source)
        if not package.has(name):
            return cls(source, f'{XML_DECLARATION}<Relationships xmlns="{PACKAGE_REL}"></Relationships>', {})
        text = package.text(name)
        targets = {
            rel.get("Id", ""): (rel.get("Type", ""), _resolve(source, rel.get("Target", "")))
            for rel in parse_xml(text.encode()).iter(f"{{{PACKAGE_REL}}}Relationship")
        }
        return cls(source, text, targets)

    def add(self, kind: str, part: str) -> str:
        number = 1
        while f"budgetflow{number}" in self.targets:
            number += 1
        relationship_id = f"budgetflow{number}"
        self.targets[relationship_id] = (kind, part)
        target = posixpath.relpath(part, posixpath.dirname(self.source))
        self.added.append(f'<Relationship Id="{relationship_id}" Type="{kind}" Target={quoteattr(target)}/>')
        return relationship_id

    def save(self, package: _Package) -> None:
        if self.added:
            package.put(_rels_name(self.source), _insert_before_end(self.text, "Relationships", "".join(self.added)))


def _insert_before_end(text: str, element: str, addition: str) -> str:
    """`addition` as the last children of the document's `element` (written `<element …/>` or open)."""
    end = text.rfind(f"</{element}>")
    if end >= 0:
        return text[:end] + addition + text[end:]
    empty = re.search(rf"<{element}\b([^>]*?)/>", text)
    if empty is None:
        raise UnsupportedWorkbook(f"no <{element}> element")
    return text[: empty.start()] + f"<{element}{empty.group(1)}>{addition}</{element}>" + text[empty.end() :]


class _Styles:
    """styles.xml, with fills, fonts and cell formats appended as the annotation needs them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.fill_count = self._count("fills", r"<fill[\s>/]")
        self.font_count = self._count("fonts", r"<font[\s>/]")
        cell_formats = re.search(r"<cellXfs\b[^>]*>(.*?)</cellXfs>", text, re.DOTALL)
        if cell_formats is None or not _XF.search(cell_formats.group(1)):
            raise UnsupportedWorkbook("the styles part has no cell formats")
        self.formats = _XF.findall(cell_formats.group(1))
        first_font = re.search(r"<font\b.*?</font>", text, re.DOTALL)
        name = re.search(r"""<name\s+val=["']([^"']*)["']""", first_font.group(0)) if first_font else None
        self.font_name = name.group(1) if name else None
        self.added: dict[str, list[str]] = {"fills": [], "fonts": [], "cellXfs": []}
        self._known: dict[tuple[int, int | None, int | None], int] = {}
        self._fill_ids: dict[str, int] = {}
        self._wrapped: int | None = None

    def _count(self, element: str, child: str) -> int:
        block = re.search(rf"<{element}\b[^>]*>(.*?)</{element}>", self.text, re.DOTALL)
        if block is None:
            raise UnsupportedWorkbook(f"the styles part has no <{element}>")
        return len(re.findall(child, block.group(1)))

    def fill(self, rgb: str) -> int:
        if rgb not in self._fill_ids:
            pattern = f'<patternFill patternType="solid"><fgColor rgb="{rgb}"/><bgColor rgb="{rgb}"/></patternFill>'
            self.added["fills"].append(f"<fill>{pattern}</fill>")
            self._fill_ids[rgb] = self.fill_count + len(self.added["fills"]) - 1
        return self._fill_ids[rgb]

    def font(self, *, bold: bool = False, size: int = 11, link: bool = False) -> int:
        parts = ["<b/>" if bold else "", "<u/>" if link else "", f'<sz val="{size}"/>']  # the schema's order
        parts.append(f'<color rgb="{LINK_RGB}"/>' if link else "")
        parts.append(f"<name val={quoteattr(self.font_name)}/>" if self.font_name else "")
        self.added["fonts"].append(f"<font>{''.join(parts)}</font>")
        return self.font_count + len(self.added["fonts"]) - 1

    def cell_format(self, base: int, *, fill: int | None = None, font: int | None = None) -> int:
        """A cell format like `base` (the cell's own) with another fill and/or font."""
        key = (base, fill, font)
        if key not in self._known:
            xf = self.formats[base] if 0 <= base < len(self.formats) else self.formats[0]
            start_end = xf.index(">") + 1
            start, rest = xf[:start_end], xf[start_end:]
            if fill is not None:
                start = _with_attribute(_with_attribute(start, "fillId", str(fill)), "applyFill", "1")
            if font is not None:
                start = _with_attribute(_with_attribute(start, "fontId", str(font)), "applyFont", "1")
            self.added["cellXfs"].append(start + rest)
            self._known[key] = len(self.formats) + len(self.added["cellXfs"]) - 1
        return self._known[key]

    def wrapped(self) -> int:
        """A cell format like the workbook's first, whose text wraps within the column."""
        if self._wrapped is None:  # made on first use
            first = self.formats[0]
            start = first[: first.index(">") + 1].removesuffix("/>").removesuffix(">")
            start = _with_attribute(start + ">", "applyAlignment", "1")
            self.added["cellXfs"].append(f'{start}<alignment wrapText="1"/></xf>')
            self._wrapped = len(self.formats) + len(self.added["cellXfs"]) - 1
        return self._wrapped

    def saved(self) -> str:
        text = self.text
        totals = {
            "fills": self.fill_count + len(self.added["fills"]),
            "fonts": self.font_count + len(self.added["fonts"]),
            "cellXfs": len(self.formats) + len(self.added["cellXfs"]),
        }
        for element, additions in self.added.items():
            if not additions:
                continue
            text = _insert_before_end(text, element, "".join(additions))
            start = re.search(rf"<{element}\b[^>]*>", text)
            assert start is not None
            tag = _with_attribute(start.group(0), "count", str(totals[element]))
            text = text[: start.start()] + tag + text[start.end() :]
        return text


@dataclass(frozen=True, slots=True)
class _Sheet:
    name: str
    part: str


def _worksheets(workbook: Element, relationships: _Relationships) -> list[_Sheet]:
    sheets = workbook.find(f"{{{MAIN}}}sheets")
    if sheets is None:
        raise UnsupportedWorkbook("the workbook part lists no sheets")
    found = []
    for sheet in sheets:
        kind, part = relationships.targets.get(sheet.get(f"{{{OFFICE_REL}}}id", ""), ("", ""))
        if kind == WORKSHEET_REL:
            found.append(_Sheet(sheet.get("name", ""), part))
    return found


def _merged(text: str) -> list[Bounds]:
    bounds = []
    for reference in re.findall(r"""<mergeCell\s+ref=["']([^"']+)["']""", text):
        start, _, end = reference.partition(":")
        (first_letters, first_row), (last_letters, last_row) = (
            coordinate_from_string(c) for c in (start, end or start)
        )
        bounds.append((column_index(first_letters), first_row, column_index(last_letters), last_row))
    return bounds


def _position(reference: str | None) -> tuple[int, int]:
    """(row, column) of an A1 reference; a cell without one is left to openpyxl."""
    match = _CELL_REFERENCE.fullmatch(reference or "")
    if match is None:
        raise UnsupportedWorkbook(f"a cell without a usable position ({reference!r})")
    return int(match.group(2)), column_index(match.group(1))


def _row_number(attributes: str) -> int:
    match = _REFERENCE.search(attributes)
    if match is None or not match.group(1).isdigit():
        raise UnsupportedWorkbook("a row without a number")
    return int(match.group(1))


def _marked_row(attributes: str, content: str, marks: dict[int, Callable[[int], int]], row: int) -> str:
    """A <row> with its marked cells restyled, and cells added (in column order) where there were none."""
    pieces: list[tuple[int, str]] = []
    for cell in _CELL.finditer(content):
        reference = _REFERENCE.search(cell.group(1))
        cell_row, column = _position(reference.group(1) if reference else None)
        if cell_row != row:
            raise UnsupportedWorkbook(f"cell {reference.group(1) if reference else ''} outside its row {row}")
        text = cell.group(0)
        if column in marks:
            end = text.index(">") + 1  # the start tag, or the whole of an empty <c …/>
            start = text[:end]
            style = _STYLE.search(start)
            restyled = marks.pop(column)(int(style.group(1) or 0) if style else 0)
            text = _with_attribute(start, "s", str(restyled)) + text[end:]
        pieces.append((column, text))
    if marks:
        pieces += [
            (column, f'<c r="{get_column_letter(column)}{row}" s="{style(0)}"/>') for column, style in marks.items()
        ]
        pieces.sort(key=lambda piece: piece[0])
        attributes = re.sub(r"""\sspans=["'][^"']*["']""", "", attributes)  # the row's column range may grow
    return f"<row{attributes}>{''.join(text for _, text in pieces)}</row>"


def _marked_sheet_data(text: str, marks: dict[int, dict[int, Callable[[int], int]]]) -> str:
    """The sheet with every marked cell restyled, rows and cells added in order where missing."""
    data = re.search(r"<sheetData\b[^>]*?(?:/>|>(.*?)</sheetData>)", text, re.DOTALL)
    if data is None:
        raise UnsupportedWorkbook("a worksheet without sheetData")
    content = data.group(1) or ""
    rows: list[tuple[int, str]] = []
    covered = 0
    for row in _ROW.finditer(content):
        if content[covered : row.start()].strip():
            raise UnsupportedWorkbook("something other than rows in sheetData")
        covered = row.end()
        number = _row_number(row.group(1))
        if number in marks:
            rows.append((number, _marked_row(row.group(1), row.group(2) or "", marks.pop(number), number)))
        else:
            rows.append((number, row.group(0)))
    if content[covered:].strip():
        raise UnsupportedWorkbook("something other than rows in sheetData")
    rows += [(number, _marked_row(f' r="{number}"', "", cells, number)) for number, cells in marks.items()]
    rows.sort(key=lambda row: row[0])
    return f"{text[: data.start()]}<sheetData>{''.join(row for _, row in rows)}</sheetData>{text[data.end() :]}"


def _top_level_extension_list(text: str) -> int | None:
    """Where the worksheet's own <extLst> (its last child) starts; None when it has none."""
    end = text.rfind("</worksheet>")
    closing = text.rfind("</extLst>", 0, end)
    if closing < 0 or text[closing + len("</extLst>") : end].strip():
        return None
    depth, position = 1, closing
    while depth:
        opening, inner = text.rfind("<extLst", 0, position), text.rfind("</extLst>", 0, position)
        if opening < 0:
            raise UnsupportedWorkbook("an unbalanced extLst")
        if inner > opening:
            depth, position = depth + 1, inner
        else:
            depth, position = depth - 1, opening
    return position


def _with_legacy_drawing(text: str, relationship_id: str, prefix: str) -> str:
    drawing = f'<legacyDrawing {prefix}:id="{relationship_id}"/>'
    tail_start = text.find("</sheetData>")
    later = _AFTER_LEGACY_DRAWING.search(text, tail_start if tail_start >= 0 else 0)
    if later is not None:
        position = later.start()
    else:
        extension = _top_level_extension_list(text)
        position = extension if extension is not None else text.rfind("</worksheet>")
    if position < 0:
        raise UnsupportedWorkbook("no end of worksheet")
    return text[:position] + drawing + text[position:]


def _relationship_prefix(text: str, root: str) -> tuple[str, str]:
    """The prefix bound to the relationships namespace on the root element, declaring `r` if none is."""
    start = re.search(rf"<{root}\b[^>]*>", text)
    if start is None:
        raise UnsupportedWorkbook(f"no <{root}> element")
    bound = re.search(rf"""xmlns:([\w.-]+)=["']{re.escape(OFFICE_REL)}["']""", start.group(0))
    if bound is not None:
        return bound.group(1), text
    if re.search(r"""\sxmlns:r=""", start.group(0)):
        raise UnsupportedWorkbook("prefix r is bound to another namespace")
    declared = _with_attribute(start.group(0), "xmlns:r", OFFICE_REL)
    return "r", text[: start.start()] + declared + text[start.end() :]


def _comments_part(notes: Notes) -> bytes:
    comments = "".join(
        f'<comment ref="{coordinate}" authorId="0"><text><t xml:space="preserve">'
        f"{_text(comment_text(named_by))}</t></text></comment>"
        for coordinate, named_by in notes.items()
    )
    return (
        f'{XML_DECLARATION}<comments xmlns="{MAIN}"><authors><author>{COMMENT_AUTHOR}</author></authors>'
        f"<commentList>{comments}</commentList></comments>"
    ).encode()


def _comment_drawing(notes: Notes) -> bytes:
    size = SimpleNamespace(width=COMMENT_WIDTH, height=COMMENT_HEIGHT)
    drawing = ShapeWriter([(coordinate, size) for coordinate in notes]).write(None)
    return drawing.encode() if isinstance(drawing, str) else drawing  # openpyxl's stubs say str; it gives bytes


def _result_sheet(lines: Sequence[ResultLine], title: str, styles: _Styles, fills: dict[bool, int]) -> bytes:
    title_format = styles.cell_format(0, font=styles.font(bold=True, size=13))
    header_format = styles.cell_format(0, font=styles.font(bold=True))
    link_format = styles.cell_format(0, font=styles.font(link=True))
    severity_formats = {error: styles.cell_format(0, fill=fill) for error, fill in fills.items()}
    message_format = styles.wrapped()  # a long message wraps in its column instead of running under the next

    def cell(column: int, row: int, value: int | str, style: int = 0) -> str:
        where = f'r="{get_column_letter(column)}{row}"' + (f' s="{style}"' if style else "")
        if isinstance(value, int):
            return f"<c {where}><v>{value}</v></c>"
        if value == "":
            return f"<c {where}/>" if style else ""
        return f'<c {where} t="inlineStr"><is><t xml:space="preserve">{_text(value)}</t></is></c>'

    rows = [f'<row r="1">{cell(1, 1, title, title_format)}</row>']
    rows.append(
        '<row r="3">' + "".join(cell(c, 3, h, header_format) for c, h in enumerate(RESULT_HEADERS, 1)) + "</row>"
    )
    links = []
    for row, line in enumerate(lines, start=4):
        cells = []
        for column, value in enumerate(line.values, start=1):
            style = 0
            if column == 2:
                style = severity_formats[line.severity is Severity.ERROR]
            elif column == MESSAGE_COLUMN:
                style = message_format
            elif column == 5 and line.link is not None:
                style = link_format
                links.append(
                    f'<hyperlink ref="E{row}" location={_attribute(line.link)} display={_attribute(str(value))}/>'
                )
            cells.append(cell(column, row, value, style))
        tall = f' ht="{line.height:g}" customHeight="1"' if line.height else ""
        rows.append(f'<row r="{row}"{tall}>{"".join(cells)}</row>')
    if not lines:
        rows.append(f'<row r="4">{cell(1, 4, NO_FINDINGS_TEXT)}</row>')
    columns = "".join(
        f'<col min="{n}" max="{n}" width="{width}" customWidth="1"/>' for n, width in enumerate(RESULT_WIDTHS, 1)
    )
    hyperlinks = f"<hyperlinks>{''.join(links)}</hyperlinks>" if links else ""
    return (
        f'{XML_DECLARATION}<worksheet xmlns="{MAIN}" xmlns:r="{OFFICE_REL}">'
        '<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>'  # printed: an A4 page across, as in annotate.py
        '<sheetViews><sheetView tabSelected="1" workbookViewId="0"/></sheetViews>'
        f'<sheetFormatPr defaultRowHeight="15"/><cols>{columns}</cols><sheetData>{"".join(rows)}</sheetData>'
        f'{hyperlinks}<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" footer="0.5"/>'
        f'<pageSetup paperSize="{PAPER_A4}" orientation="landscape" fitToWidth="1" fitToHeight="0"/>'
        "</worksheet>"
    ).encode()


def _restyle(styles: _Styles, fill: int) -> Callable[[int], int]:
    """The cell format a marked cell gets in place of its own (`base`): the same, with the fill."""
    return lambda base: styles.cell_format(base, fill=fill)


def _mark_sheet(
    package: _Package,
    sheet: _Sheet,
    text: str,
    notes: Notes,
    styles: _Styles,
    fills: dict[bool, int],
    overrides: dict[str, str],
) -> None:
    relationships = _Relationships.of(package, sheet.part)
    if "<legacyDrawing" in text or any(kind == COMMENTS_REL for kind, _ in relationships.targets.values()):
        raise UnsupportedWorkbook(f"sheet {sheet.name} already has comments or a legacy drawing")
    marks: dict[int, dict[int, Callable[[int], int]]] = {}
    for coordinate, named_by in notes.items():
        row, column = _position(coordinate)
        marks.setdefault(row, {})[column] = _restyle(styles, fills[is_error(named_by)])
    text = _marked_sheet_data(text, marks)
    comments_part = package.fresh("xl/comments/comment{}.xml")
    drawing_part = package.fresh("xl/drawings/commentsDrawing{}.vml")
    relationships.add(COMMENTS_REL, comments_part)
    prefix, text = _relationship_prefix(text, "worksheet")
    text = _with_legacy_drawing(text, relationships.add(VML_REL, drawing_part), prefix)
    package.changed[sheet.part] = _TAB_SELECTED.sub(b' tabSelected="0"', text.encode("utf-8"))
    relationships.save(package)
    package.changed[comments_part] = _comments_part(notes)
    package.changed[drawing_part] = _comment_drawing(notes)
    overrides[comments_part] = COMMENTS_TYPE


def _with_result_sheet(text: str, name: str, relationship_id: str) -> str:
    """workbook.xml with the findings sheet listed first and opened on."""
    prefix, text = _relationship_prefix(text, "workbook")
    ids = [int(i) for i in re.findall(r"""<sheet\b[^>]*?\ssheetId=["']([0-9]+)["']""", text)]
    entry = f'<sheet name={_attribute(name)} sheetId="{max(ids, default=0) + 1}" {prefix}:id="{relationship_id}"/>'
    sheets = re.search(r"<sheets\b[^>]*>", text)
    if sheets is None or sheets.group(0).endswith("/>"):
        raise UnsupportedWorkbook("the workbook part lists no sheets")
    text = text[: sheets.end()] + entry + text[sheets.end() :]
    # Sheet-local names (print areas, filters) count sheets by position, which has moved up by one.
    text = re.sub(
        r"""(\slocalSheetId=["'])([0-9]+)(["'])""", lambda m: f"{m.group(1)}{int(m.group(2)) + 1}{m.group(3)}", text
    )
    return re.sub(
        r"<workbookView\b[^>]*>",
        lambda m: _with_attribute(_with_attribute(m.group(0), "firstSheet", None), "activeTab", "0"),
        text,
    )


def _with_content_types(text: str, overrides: dict[str, str]) -> str:
    additions = "".join(f'<Override PartName="/{part}" ContentType="{kind}"/>' for part, kind in overrides.items())
    if not re.search(r"""<Default\b[^>]*Extension=["']vml["']""", text, re.IGNORECASE):
        additions = f'<Default Extension="vml" ContentType="{VML_TYPE}"/>' + additions
    return _insert_before_end(text, "Types", additions)


def _annotate(package: _Package, findings: list[Finding], title: str) -> None:
    workbook_text = package.text(WORKBOOK)
    workbook = parse_xml(workbook_text.encode())
    if workbook.tag != f"{{{MAIN}}}workbook":
        raise UnsupportedWorkbook(f"the workbook part is {workbook.tag}")  # e.g. strict OOXML's namespace
    workbook_rels = _Relationships.of(package, WORKBOOK)
    styles_part = next((part for kind, part in workbook_rels.targets.values() if kind == STYLES_REL), None)
    if styles_part is None or not package.has(styles_part):
        raise UnsupportedWorkbook("no styles part")
    styles = _Styles(package.text(styles_part))
    fills = {True: styles.fill(ERROR_RGB), False: styles.fill(WARNING_RGB)}
    sheets = [sheet for sheet in _worksheets(workbook, workbook_rels) if package.has(sheet.part)]
    named = {f.sheet for f in findings}
    texts = {sheet.name: package.text(sheet.part) for sheet in sheets if sheet.name in named}
    merged = {sheet.name: _merged(texts[sheet.name]) if sheet.name in texts else [] for sheet in sheets}
    notes_by_sheet = cell_notes(findings, merged)
    overrides: dict[str, str] = {}
    for sheet in sheets:
        notes = notes_by_sheet.get(sheet.name)
        if notes:
            _mark_sheet(package, sheet, texts[sheet.name], notes, styles, fills, overrides)
        else:  # the findings sheet is the one selected: another left selected would open grouped with it
            package.changed[sheet.part] = _TAB_SELECTED.sub(b' tabSelected="0"', package.archive.read(sheet.part))

    names = [sheet.get("name", "") for sheet in workbook.iterfind(f"{{{MAIN}}}sheets/{{{MAIN}}}sheet")]
    result_part = package.fresh("xl/worksheets/sheet{}.xml")
    package.changed[result_part] = _result_sheet(result_lines(findings, names), title, styles, fills)
    overrides[result_part] = WORKSHEET_TYPE
    result_id = workbook_rels.add(WORKSHEET_REL, result_part)
    package.put(WORKBOOK, _with_result_sheet(workbook_text, result_sheet_name(names), result_id))
    workbook_rels.save(package)
    package.put(styles_part, styles.saved())
    package.put("[Content_Types].xml", _with_content_types(package.text("[Content_Types].xml"), overrides))


def write_annotated_parts(original: Path, findings: list[Finding], target: Path, title: str) -> None:
    """Write the annotated copy of `original` to `target`; `UnsupportedWorkbook` when openpyxl must do it."""
    with zipfile.ZipFile(original) as archive:
        package = _Package(archive)
        _annotate(package, findings, title)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as copy:
            for info in archive.infolist():
                name = info.filename
                copy.writestr(name, package.changed.pop(name) if name in package.changed else archive.read(name))
            for name, data in package.changed.items():
                copy.writestr(name, data)
