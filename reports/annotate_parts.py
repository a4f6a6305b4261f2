"""The annotated copy written part by part, without loading the workbook into openpyxl.

The bureau's file is copied zip entry by entry, and only the parts the annotation touches are edited: the
styles (two fills, three fonts and the cell formats that use them are appended), the sheets (marked cells get
their `s` attribute and a `<legacyDrawing>` for the comments; every other sheet is no longer the selected one),
the workbook's sheet list (the findings sheet goes first), the relationships and the content types; the
comments, their VML drawing and the findings sheet are new parts. Everything else — values, formulas, charts,
images, pivot caches, macros — passes through byte for byte. openpyxl's load and save take ~60 ms a file and
drop images and charts; this takes a few ms.

The edited parts go through lxml, which keeps every namespace declaration of an element as it was written
(ElementTree drops the ones that only `mc:Ignorable` names, which Excel then reports as corruption), whatever
prefix a part gives the spreadsheet namespace, and the order of elements and attributes. Entities are never
expanded and nothing is fetched.

A workbook this writer does not understand (no styles part, a marked sheet that already has comments, cells
without positions, strict OOXML, a document type declaration …) raises `UnsupportedWorkbook`, and the caller
writes the copy with openpyxl instead.
"""

from __future__ import annotations

import copy
import posixpath
import re
import struct
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import BinaryIO
from xml.sax.saxutils import escape, quoteattr

from lxml import etree
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
CONTENT_TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"
WORKSHEET_REL = f"{OFFICE_REL}/worksheet"
STYLES_REL = f"{OFFICE_REL}/styles"
COMMENTS_REL = f"{OFFICE_REL}/comments"
VML_REL = f"{OFFICE_REL}/vmlDrawing"
WORKSHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
COMMENTS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"
VML_TYPE = "application/vnd.openxmlformats-officedocument.vmlDrawing"
LINK_RGB = "FF0563C1"  # Excel's Hyperlink style
NOTE_RGB = "FF9C0006"  # the dark red of Excel's Bad style: a note the reader must not miss
WORKBOOK = "xl/workbook.xml"
CONTENT_TYPES_PART = "[Content_Types].xml"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
RELATIONSHIP_ID = f"{{{OFFICE_REL}}}id"

_CELL_REFERENCE = re.compile(r"([A-Z]{1,3})([0-9]+)")
# Worksheet children that come after <legacyDrawing> (ECMA-376 CT_Worksheet, in its order).
_AFTER_LEGACY_DRAWING = frozenset(
    f"{{{MAIN}}}{name}"
    for name in ("legacyDrawingHF", "drawingHF", "picture", "oleObjects", "controls", "webPublishItems", "tableParts")
)
_EXTENSIONS = f"{{{MAIN}}}extLst"


class UnsupportedWorkbook(Exception):
    """The workbook has something this writer does not handle; openpyxl writes its copy."""


def _text(value: str) -> str:
    return escape(ILLEGAL_CHARACTERS_RE.sub("", value))


def _attribute(value: str) -> str:
    return quoteattr(ILLEGAL_CHARACTERS_RE.sub("", value))


def _main(name: str) -> str:
    return f"{{{MAIN}}}{name}"


@dataclass
class _Package:
    """The original zip's parts, the parts parsed to be edited, and the parts edited or added."""

    archive: zipfile.ZipFile
    changed: dict[str, bytes] = field(default_factory=dict)
    parsed: dict[str, etree._Element] = field(default_factory=dict)
    # No entity is expanded, no DTD loaded, nothing fetched; one parser per package, as lxml's parsers may not
    # be shared between threads.
    parser: etree.XMLParser = field(
        default_factory=lambda: etree.XMLParser(
            resolve_entities=False, load_dtd=False, no_network=True, collect_ids=False
        )
    )
    edited: set[str] = field(default_factory=set)  # the parsed parts that changed: only they are written anew
    _read: dict[str, bytes] = field(default_factory=dict)

    def read(self, name: str) -> bytes:
        """The original part's bytes, inflated once."""
        if name not in self._read:
            self._read[name] = self.archive.read(name)
        return self._read[name]

    def has(self, name: str) -> bool:
        return name in self.changed or name in self.parsed or name in self.archive.NameToInfo

    def tree(self, name: str, root: str | None = None) -> etree._Element:
        """The part's root element, parsed once and edited in place; saved with the package. `root`: the
        element it must be (a part in another namespace, such as strict OOXML's, is not edited here)."""
        if name not in self.parsed:
            try:
                document = etree.fromstring(self.read(name), self.parser).getroottree()
            except etree.XMLSyntaxError as exc:
                raise UnsupportedWorkbook(f"{name} is not well-formed: {exc}") from exc
            if document.docinfo.internalDTD is not None or document.docinfo.doctype:
                raise UnsupportedWorkbook(f"{name} has a document type declaration")
            self.parsed[name] = document.getroot()
        element = self.parsed[name]
        if root is not None and element.tag != root:
            raise UnsupportedWorkbook(f"{name} is {element.tag!r}, not {root}")
        return element

    def edit(self, name: str, root: str | None = None) -> etree._Element:
        """`tree`, for a part that will be changed."""
        element = self.tree(name, root)
        self.edited.add(name)
        return element

    def new_tree(self, name: str, root: etree._Element) -> None:
        self.parsed[name] = root
        self.edited.add(name)

    def fresh(self, pattern: str) -> str:
        number = 1
        while self.has(pattern.format(number)):
            number += 1
        return pattern.format(number)

    def serialise(self) -> None:
        """Every edited part as bytes, with the declaration Excel writes."""
        for name in self.edited:
            root = self.parsed[name]
            self.changed[name] = XML_DECLARATION.encode() + etree.tostring(
                root, encoding="UTF-8", xml_declaration=False
            )
        self.parsed.clear()


def _rels_name(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", f"{name}.rels")


def _resolve(source: str, target: str) -> str:
    if target.startswith("/"):
        return target[1:]
    return posixpath.normpath(posixpath.join(posixpath.dirname(source), target))


@dataclass
class _Relationships:
    """A part's .rels: what it has (id → type, part), and relationships added to it."""

    package: _Package
    source: str
    root: etree._Element
    targets: dict[str, tuple[str, str]]

    @classmethod
    def of(cls, package: _Package, source: str) -> _Relationships:
        name = _rels_name(source)
        if not package.has(name):
            package.new_tree(name, etree.Element(f"{{{PACKAGE_REL}}}Relationships", nsmap={None: PACKAGE_REL}))
        root = package.tree(name, f"{{{PACKAGE_REL}}}Relationships")
        targets = {
            rel.get("Id", ""): (rel.get("Type", ""), _resolve(source, rel.get("Target", "")))
            for rel in root.iterchildren(f"{{{PACKAGE_REL}}}Relationship")
        }
        return cls(package, source, root, targets)

    def add(self, kind: str, part: str) -> str:
        number = 1
        while f"budgetflow{number}" in self.targets:
            number += 1
        relationship_id = f"budgetflow{number}"
        self.targets[relationship_id] = (kind, part)
        target = posixpath.relpath(part, posixpath.dirname(self.source))
        etree.SubElement(self.root, f"{{{PACKAGE_REL}}}Relationship", Id=relationship_id, Type=kind, Target=target)
        self.package.edited.add(_rels_name(self.source))
        return relationship_id


def _child(parent: etree._Element, name: str) -> etree._Element:
    found = parent.find(_main(name))
    if found is None:
        raise UnsupportedWorkbook(f"no <{name}> in <{etree.QName(parent).localname}>")
    return found


class _Styles:
    """styles.xml, with fills, fonts and cell formats appended as the annotation needs them."""

    def __init__(self, root: etree._Element) -> None:
        self.fills, self.fonts, self.cell_formats = (_child(root, n) for n in ("fills", "fonts", "cellXfs"))
        self.formats = list(self.cell_formats.iterchildren(_main("xf")))
        if not self.formats:
            raise UnsupportedWorkbook("the styles part has no cell formats")
        first_font = self.fonts.find(_main("font"))
        name = first_font.find(_main("name")) if first_font is not None else None
        self.font_name = name.get("val") if name is not None else None
        self._known: dict[tuple[int, int | None, int | None], int] = {}
        self._fill_ids: dict[str, int] = {}
        self._wrapped: int | None = None

    @staticmethod
    def _append(block: etree._Element, item: etree._Element, kind: str) -> int:
        """`item` as the last of the block's `kind` children; its index, with the block's count kept true."""
        block.append(item)
        count = sum(1 for _ in block.iterchildren(_main(kind)))
        block.set("count", str(count))
        return count - 1

    def fill(self, rgb: str) -> int:
        if rgb not in self._fill_ids:
            fill = etree.Element(_main("fill"))
            pattern = etree.SubElement(fill, _main("patternFill"), patternType="solid")
            etree.SubElement(pattern, _main("fgColor"), rgb=rgb)
            etree.SubElement(pattern, _main("bgColor"), rgb=rgb)
            self._fill_ids[rgb] = self._append(self.fills, fill, "fill")
        return self._fill_ids[rgb]

    def font(self, *, bold: bool = False, size: int = 11, link: bool = False, rgb: str | None = None) -> int:
        font = etree.Element(_main("font"))
        if bold:  # the schema's order: b, u, sz, color, name
            etree.SubElement(font, _main("b"))
        if link:
            etree.SubElement(font, _main("u"))
        etree.SubElement(font, _main("sz"), val=str(size))
        if link or rgb:
            etree.SubElement(font, _main("color"), rgb=rgb or LINK_RGB)
        if self.font_name:
            etree.SubElement(font, _main("name"), val=self.font_name)
        return self._append(self.fonts, font, "font")

    def cell_format(self, base: int, *, fill: int | None = None, font: int | None = None) -> int:
        """A cell format like `base` (the cell's own) with another fill and/or font."""
        key = (base, fill, font)
        if key not in self._known:
            xf = copy.deepcopy(self.formats[base] if 0 <= base < len(self.formats) else self.formats[0])
            if fill is not None:
                xf.set("fillId", str(fill))
                xf.set("applyFill", "1")
            if font is not None:
                xf.set("fontId", str(font))
                xf.set("applyFont", "1")
            self._known[key] = self._append(self.cell_formats, xf, "xf")
        return self._known[key]

    def wrapped(self) -> int:
        """A cell format like the workbook's first, whose text wraps within the column."""
        if self._wrapped is None:  # made on first use
            xf = copy.deepcopy(self.formats[0])
            for alignment in xf.findall(_main("alignment")):
                xf.remove(alignment)
            xf.set("applyAlignment", "1")
            xf.insert(0, etree.Element(_main("alignment"), wrapText="1"))  # CT_Xf: alignment comes first
            self._wrapped = self._append(self.cell_formats, xf, "xf")
        return self._wrapped


@dataclass(frozen=True, slots=True)
class _Sheet:
    name: str
    part: str


def _worksheets(workbook: etree._Element, relationships: _Relationships) -> list[_Sheet]:
    found = []
    for sheet in _child(workbook, "sheets").iterchildren(_main("sheet")):
        kind, part = relationships.targets.get(sheet.get(RELATIONSHIP_ID, ""), ("", ""))
        if kind == WORKSHEET_REL:
            found.append(_Sheet(sheet.get("name", ""), part))
    return found


def _merged(worksheet: etree._Element) -> list[Bounds]:
    bounds = []
    for merged in worksheet.iterfind(f"{_main('mergeCells')}/{_main('mergeCell')}"):
        start, _, end = merged.get("ref", "").partition(":")
        try:
            (first_letters, first_row), (last_letters, last_row) = (
                coordinate_from_string(c) for c in (start, end or start)
            )
        except ValueError as exc:
            raise UnsupportedWorkbook(f"a merged range {merged.get('ref')!r}") from exc
        bounds.append((column_index(first_letters), first_row, column_index(last_letters), last_row))
    return bounds


def _position(reference: str | None) -> tuple[int, int]:
    """(row, column) of an A1 reference; a cell without one is left to openpyxl."""
    match = _CELL_REFERENCE.fullmatch(reference or "")
    if match is None:
        raise UnsupportedWorkbook(f"a cell without a usable position ({reference!r})")
    return int(match.group(2)), column_index(match.group(1))


def _row_number(row: etree._Element) -> int:
    number = row.get("r", "")
    if not number.isdigit():
        raise UnsupportedWorkbook("a row without a number")
    return int(number)


def _mark_row(row: etree._Element, number: int, marks: dict[int, Callable[[int], int]]) -> None:
    """The row's marked cells restyled, and cells added (in column order) where there were none."""
    for cell in row:
        if not isinstance(cell.tag, str):
            continue  # a comment or a processing instruction
        if cell.tag != _main("c"):
            raise UnsupportedWorkbook(f"<{etree.QName(cell).localname}> in row {number}")
        cell_row, column = _position(cell.get("r"))
        if cell_row != number:
            raise UnsupportedWorkbook(f"cell {cell.get('r')} outside its row {number}")
        if column in marks:
            cell.set("s", str(marks.pop(column)(int(cell.get("s") or 0))))
    if not marks:
        return
    for column, style in sorted(marks.items()):
        added = etree.Element(_main("c"), r=f"{get_column_letter(column)}{number}", s=str(style(0)))
        later = next((c for c in row.iterchildren(_main("c")) if _position(c.get("r"))[1] > column), None)
        if later is None:
            row.append(added)
        else:
            later.addprevious(added)
    row.attrib.pop("spans", None)  # the row's column range may have grown


def _mark_sheet_data(worksheet: etree._Element, marks: dict[int, dict[int, Callable[[int], int]]]) -> None:
    """Every marked cell restyled, rows and cells added in order where missing."""
    data = _child(worksheet, "sheetData")
    for row in data:
        if not isinstance(row.tag, str):
            continue
        if row.tag != _main("row"):
            raise UnsupportedWorkbook("something other than rows in sheetData")
        number = _row_number(row)
        if number in marks:
            _mark_row(row, number, marks.pop(number))
    for number, cells in sorted(marks.items()):
        added = etree.Element(_main("row"), r=str(number))
        _mark_row(added, number, cells)
        later = next((r for r in data.iterchildren(_main("row")) if _row_number(r) > number), None)
        if later is None:
            data.append(added)
        else:
            later.addprevious(added)


def _with_relationship_namespace(package: _Package, part: str, root: etree._Element) -> etree._Element:
    """The part's root, declaring the relationships namespace as `r` when it declares it under no prefix."""
    if OFFICE_REL in root.nsmap.values():
        return root
    if "r" in root.nsmap:
        raise UnsupportedWorkbook(f"prefix r is bound to another namespace in {part}")
    # lxml fixes an element's declarations when it is made: a new root with one more declaration takes over the
    # old root's attributes and children, and every declaration the old root had (mc:Ignorable's among them).
    declared = etree.Element(root.tag, attrib=dict(root.attrib), nsmap={**root.nsmap, "r": OFFICE_REL})
    declared.text = root.text
    declared.extend(list(root))
    for sibling in reversed(list(root.itersiblings(preceding=True))):  # comments or instructions before it
        declared.addprevious(copy.copy(sibling))
    package.new_tree(part, declared)
    return declared


def _add_legacy_drawing(worksheet: etree._Element, relationship_id: str) -> None:
    """<legacyDrawing> where the schema puts it: before the first element that follows it, or the worksheet's
    own extension list, or last."""
    drawing = etree.Element(_main("legacyDrawing"))
    drawing.set(RELATIONSHIP_ID, relationship_id)
    later = next((c for c in worksheet if c.tag in _AFTER_LEGACY_DRAWING or c.tag == _EXTENSIONS), None)
    if later is None:
        worksheet.append(drawing)
    else:
        later.addprevious(drawing)


def _unselect(worksheet: etree._Element) -> bool:
    """The sheet no longer selected: the findings sheet is, and another left selected would open grouped
    with it. Whether it was selected."""
    selected = False
    for view in worksheet.iterfind(f"{_main('sheetViews')}/{_main('sheetView')}"):
        if view.get("tabSelected") in ("1", "true"):
            view.set("tabSelected", "0")
            selected = True
    return selected


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


def _result_sheet(
    lines: Sequence[ResultLine], title: str, note: str | None, styles: _Styles, fills: dict[bool, int]
) -> bytes:
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
    if note is not None:
        note_format = styles.cell_format(0, font=styles.font(bold=True, rgb=NOTE_RGB))
        rows.append(f'<row r="2">{cell(1, 2, note, note_format)}</row>')
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
    worksheet: etree._Element,
    notes: Notes,
    styles: _Styles,
    fills: dict[bool, int],
    overrides: dict[str, str],
) -> None:
    relationships = _Relationships.of(package, sheet.part)
    if worksheet.find(_main("legacyDrawing")) is not None or any(
        kind == COMMENTS_REL for kind, _ in relationships.targets.values()
    ):
        raise UnsupportedWorkbook(f"sheet {sheet.name} already has comments or a legacy drawing")
    marks: dict[int, dict[int, Callable[[int], int]]] = {}
    for coordinate, named_by in notes.items():
        row, column = _position(coordinate)
        marks.setdefault(row, {})[column] = _restyle(styles, fills[is_error(named_by)])
    _mark_sheet_data(worksheet, marks)
    package.edited.add(sheet.part)
    comments_part = package.fresh("xl/comments/comment{}.xml")
    drawing_part = package.fresh("xl/drawings/commentsDrawing{}.vml")
    relationships.add(COMMENTS_REL, comments_part)
    worksheet = _with_relationship_namespace(package, sheet.part, worksheet)
    _add_legacy_drawing(worksheet, relationships.add(VML_REL, drawing_part))
    package.changed[comments_part] = _comments_part(notes)
    package.changed[drawing_part] = _comment_drawing(notes)
    overrides[comments_part] = COMMENTS_TYPE


def _list_result_sheet(package: _Package, workbook: etree._Element, name: str, relationship_id: str) -> None:
    """The findings sheet listed first in the workbook and opened on."""
    workbook = _with_relationship_namespace(package, WORKBOOK, workbook)
    sheets = _child(workbook, "sheets")
    ids = [int(number) for s in sheets.iterchildren(_main("sheet")) if (number := s.get("sheetId", "")).isdigit()]
    entry = etree.Element(
        _main("sheet"), name=ILLEGAL_CHARACTERS_RE.sub("", name), sheetId=str(max(ids, default=0) + 1)
    )
    entry.set(RELATIONSHIP_ID, relationship_id)
    sheets.insert(0, entry)
    # Sheet-local names (print areas, filters) count sheets by position, which has moved up by one.
    for defined in workbook.iterfind(f"{_main('definedNames')}/{_main('definedName')}"):
        local = defined.get("localSheetId", "")
        if local.isdigit():
            defined.set("localSheetId", str(int(local) + 1))
    for view in workbook.iterfind(f"{_main('bookViews')}/{_main('workbookView')}"):
        view.attrib.pop("firstSheet", None)
        view.set("activeTab", "0")


def _add_content_types(package: _Package, overrides: dict[str, str]) -> None:
    types = package.edit(CONTENT_TYPES_PART, f"{{{CONTENT_TYPES}}}Types")
    defaults = types.iterchildren(f"{{{CONTENT_TYPES}}}Default")
    if not any(default.get("Extension", "").lower() == "vml" for default in defaults):
        vml = etree.Element(f"{{{CONTENT_TYPES}}}Default", Extension="vml", ContentType=VML_TYPE)
        first_override = types.find(f"{{{CONTENT_TYPES}}}Override")
        if first_override is None:
            types.append(vml)
        else:
            first_override.addprevious(vml)  # the defaults first, as Excel writes them
    for part, kind in overrides.items():
        etree.SubElement(types, f"{{{CONTENT_TYPES}}}Override", PartName=f"/{part}", ContentType=kind)


def _annotate(package: _Package, findings: list[Finding], title: str, note: str | None) -> None:
    workbook = package.edit(WORKBOOK, _main("workbook"))  # strict OOXML's namespace is refused here
    workbook_rels = _Relationships.of(package, WORKBOOK)
    styles_part = next((part for kind, part in workbook_rels.targets.values() if kind == STYLES_REL), None)
    if styles_part is None or not package.has(styles_part):
        raise UnsupportedWorkbook("no styles part")
    styles = _Styles(package.edit(styles_part, _main("styleSheet")))  # two fills at least are added
    fills = {True: styles.fill(ERROR_RGB), False: styles.fill(WARNING_RGB)}
    sheets = [sheet for sheet in _worksheets(workbook, workbook_rels) if package.has(sheet.part)]
    named = {finding.sheet for finding in findings}
    # Parsed: the sheets findings name, and those that may be selected (a byte search spares parsing the rest).
    worksheets = {
        sheet.name: package.tree(sheet.part, _main("worksheet"))
        for sheet in sheets
        if sheet.name in named or b"tabSelected" in package.read(sheet.part)
    }
    notes_by_sheet = cell_notes(
        findings, {name: _merged(worksheet) for name, worksheet in worksheets.items() if name in named}
    )
    overrides: dict[str, str] = {}
    for sheet in sheets:
        if sheet.name not in worksheets:
            continue
        if _unselect(worksheets[sheet.name]):
            package.edited.add(sheet.part)
        notes = notes_by_sheet.get(sheet.name)
        if notes:
            _mark_sheet(package, sheet, worksheets[sheet.name], notes, styles, fills, overrides)

    names = [sheet.get("name", "") for sheet in _child(workbook, "sheets").iterchildren(_main("sheet"))]
    result_part = package.fresh("xl/worksheets/sheet{}.xml")
    package.changed[result_part] = _result_sheet(result_lines(findings, names), title, note, styles, fills)
    overrides[result_part] = WORKSHEET_TYPE
    result_id = workbook_rels.add(WORKSHEET_REL, result_part)
    _list_result_sheet(package, workbook, result_sheet_name(names), result_id)
    _add_content_types(package, overrides)
    package.serialise()


def write_annotated_parts(
    original: Path, findings: list[Finding], target: Path, title: str, *, note: str | None = None
) -> None:
    """Write the annotated copy of `original` to `target`, its result sheet saying `note` under the title;
    `UnsupportedWorkbook` when openpyxl must do it."""
    with original.open("rb") as source, zipfile.ZipFile(source) as archive:
        package = _Package(archive)
        _annotate(package, findings, title, note)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as copy_:
            for info in archive.infolist():
                if info.filename in package.changed:
                    copy_.writestr(info.filename, package.changed.pop(info.filename))
                elif not _copy_compressed(source, info, copy_):
                    copy_.writestr(info.filename, archive.read(info))
            for name, data in package.changed.items():
                copy_.writestr(name, data)


_LOCAL_HEADER = b"PK\x03\x04"
_LOCAL_HEADER_SIZE = 30  # then the name and the extra field, whose lengths end the fixed part
_DATA_DESCRIPTOR = 0x08  # flag bit: CRC and sizes follow the data instead of being in the local header


def _copy_compressed(source: BinaryIO, info: zipfile.ZipInfo, copy_: zipfile.ZipFile) -> bool:
    """Copy an entry as it is stored, without inflating and deflating it again: that was most of a copy's time,
    and all of it for a workbook with large images. False when the entry is not one to copy this way (ZIP64
    sizes), or its local header is not where the central directory says."""
    if info.file_size >= zipfile.ZIP64_LIMIT or info.compress_size >= zipfile.ZIP64_LIMIT or copy_.fp is None:
        return False
    source.seek(info.header_offset)
    header = source.read(_LOCAL_HEADER_SIZE)
    if len(header) < _LOCAL_HEADER_SIZE or not header.startswith(_LOCAL_HEADER):
        return False
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    source.seek(info.header_offset + _LOCAL_HEADER_SIZE + name_length + extra_length)
    data = source.read(info.compress_size)
    if len(data) != info.compress_size:
        return False
    entry = copy.copy(info)
    entry.flag_bits &= ~_DATA_DESCRIPTOR  # the local header written here has them
    entry.extra = b""  # the central directory's extra fields (timestamps …) describe the old layout
    # The entry joins the copy as zipfile's own writes do: its header and data at the end, then listed.
    entry.header_offset = copy_.fp.tell()
    copy_.fp.write(entry.FileHeader())
    copy_.fp.write(data)
    copy_.filelist.append(entry)
    copy_.NameToInfo[entry.filename] = entry
    copy_.start_dir = copy_.fp.tell()
    return True
