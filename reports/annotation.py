"""What an annotated copy holds, whichever writer puts it into the file.

Every cell a finding names is marked (red for an error, amber for a warning) with one comment giving
each finding's rule and expected value; a cell inside a merged range is marked on the range's top-left
cell. A first sheet `校验结果` lists the findings, each linked to its first cell.
"""

from __future__ import annotations

import math
import unicodedata
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import NamedTuple

from openpyxl.utils.cell import column_index_from_string as column_index
from openpyxl.utils.cell import coordinate_from_string, get_column_letter, range_boundaries

from checks.findings import Finding, Severity

RESULT_SHEET = "校验结果"
RESULT_HEADERS = ("序号", "级别", "规则", "工作表", "单元格", "说明", "应为", "实际")
RESULT_WIDTHS = (6, 6, 24, 14, 16, 70, 14, 14)
MESSAGE_COLUMN = RESULT_HEADERS.index("说明") + 1  # wraps: a long message would run under 应为
LINE_HEIGHT = 15.0  # points, of one line of the default font
PAPER_A4 = 9  # the OOXML paperSize of A4
NO_FINDINGS_TEXT = "未发现问题。"
ERROR_RGB = "FFF4B6B6"
WARNING_RGB = "FFFFD966"
MAX_CELLS_PER_RANGE = 500
MAX_COMMENT_CHARS = 30000
COMMENT_AUTHOR = "budgetflow"
COMMENT_WIDTH, COMMENT_HEIGHT = 320, 160

Bounds = tuple[int, int, int, int]  # min_col, min_row, max_col, max_row of a merged range


class NamedBy(NamedTuple):
    """A finding that names a cell, and whether that cell is the one to change (the finding's first), not one
    that only takes part in the check (a rate's numerator, an addend of a sum)."""

    finding: Finding
    to_fix: bool


Notes = dict[str, list[NamedBy]]  # marked cell → the findings that name it


def cells_of(reference: str) -> list[str]:
    """The A1 cells of a reference (`B10` or `C2:C7`), bounded."""
    if ":" not in reference:
        return [reference]
    min_col, min_row, max_col, max_row = range_boundaries(reference)
    if None in (min_col, min_row, max_col, max_row):
        return []
    cells = (
        f"{get_column_letter(col)}{row}"
        for row in range(min_row or 1, (max_row or 1) + 1)
        for col in range(min_col or 1, (max_col or 1) + 1)
    )
    return list(islice(cells, MAX_CELLS_PER_RANGE))  # never list a whole sheet (`A1:XFD1048576`) first


def _marked_coordinate(coordinate: str, merged: Sequence[Bounds]) -> str:
    """The cell that carries the mark of `coordinate`: itself, or the top-left cell of its merged range."""
    letters, row = coordinate_from_string(coordinate)
    col = column_index(letters)
    for min_col, min_row, max_col, max_row in merged:
        if min_col <= col <= max_col and min_row <= row <= max_row:
            return f"{get_column_letter(min_col)}{min_row}"
    return f"{letters}{row}"


def cell_notes(findings: Sequence[Finding], merged_by_sheet: Mapping[str, Sequence[Bounds]]) -> dict[str, Notes]:
    """Sheet → marked cell → the findings that name it, for the sheets of `merged_by_sheet` (the worksheets)."""
    notes: dict[str, Notes] = defaultdict(lambda: defaultdict(list))
    for finding in findings:
        if finding.sheet is None or finding.sheet not in merged_by_sheet:
            continue
        merged = merged_by_sheet[finding.sheet]
        to_fix = {_marked_coordinate(c, merged) for c in cells_of(finding.cells[0])} if finding.cells else set()
        for reference in finding.cells:
            for coordinate in cells_of(reference):
                marked = _marked_coordinate(coordinate, merged)
                named_by = notes[finding.sheet][marked]
                # one note per cell: a merged range's cells all come to its top-left
                if all(note.finding is not finding for note in named_by):
                    named_by.append(NamedBy(finding, marked in to_fix))
    return {sheet: dict(cells) for sheet, cells in notes.items()}


def is_error(named_by: Sequence[NamedBy]) -> bool:
    return any(note.finding.severity is Severity.ERROR for note in named_by)


def comment_text(named_by: Sequence[NamedBy]) -> str:
    """The comment of a marked cell: every finding that names it, with its rule; on the cell to change, the
    expected value, and on a cell that only takes part in the check, which cell that is."""
    parts = []
    for finding, to_fix in named_by:
        lines = [f"[{finding.severity_text}] {finding.rule}", finding.shown_message]
        if not to_fix:
            lines.append(f"此单元格参与该项校验；应核对修改的是 {finding.cells[0]}")
        elif finding.expected is not None:
            lines.append(f"应为：{finding.expected}")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)[:MAX_COMMENT_CHARS]


def wrapped_height(text: str, width: float) -> float | None:
    """The height (points) of a row whose `text` wraps in a column `width` characters wide, when it takes more
    than one line: spreadsheet programs do not grow a row for wrapped text by themselves on opening."""
    # a column's width counts the default font's digits; a CJK character is about 1.6 of them (1.4 as LibreOffice
    # draws it, wider in Excel's fonts): a row may be a little tall, never cut
    units = sum(1.6 if unicodedata.east_asian_width(c) in "WF" else 1.0 for c in text)
    lines = max(1, math.ceil(units / max(1.0, width - 1)))
    return lines * LINE_HEIGHT if lines > 1 else None


@dataclass(frozen=True, slots=True)
class ResultLine:
    values: tuple[int | str, ...]  # one per RESULT_HEADERS
    severity: Severity
    link: str | None  # `'sheet'!A1` of the finding's first cell, when the workbook has that sheet

    @property
    def height(self) -> float | None:
        """The row's height when its message wraps onto more than one line (both writers set it)."""
        return wrapped_height(str(self.values[MESSAGE_COLUMN - 1]), RESULT_WIDTHS[MESSAGE_COLUMN - 1])


def result_lines(findings: Sequence[Finding], sheet_names: Collection[str]) -> list[ResultLine]:
    lines = []
    for number, finding in enumerate(findings, start=1):
        link = None
        if finding.sheet and finding.cells and finding.sheet in sheet_names:
            quoted = finding.sheet.replace("'", "''")
            link = f"'{quoted}'!{finding.cells[0].split(':')[0]}"
        values = (
            number,
            finding.severity_text,
            finding.rule,
            finding.sheet or "",
            ", ".join(finding.cells),
            finding.shown_message,
            finding.expected or "",
            finding.actual or "",
        )
        lines.append(ResultLine(values, finding.severity, link))
    return lines


def result_sheet_name(sheet_names: Collection[str]) -> str:
    name = RESULT_SHEET
    while name in sheet_names:  # the bureau's own workbook may have a sheet of that name
        name = f"{name}_"
    return name
