"""Where a titled table is on a sheet: its region, its header rows and blocks, and which column holds what.

The national final-account tables (部门决算公开表) carry a title block (title, 公开0N表, 部门：…, 金额单位：…) above
a header of one to three rows with merged cells and a 栏次 row, and may stand several to a sheet or two blocks side
by side under one header. These functions find that layout from the sheet's text alone; reading the values is the
reader's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from workbooks.cells import SheetGrid

LabelAt = Callable[[SheetGrid, int, int], str]  # a cell's normalised text (checks.labels), merged ranges resolved
COLUMN_NUMBERS = "栏次"
_TITLE_BLOCK_MARKS = (":",)  # 部门：…, 金额单位：… (after NFKC; a header label carries none)
_HEADER_ROWS_ABOVE = 2  # header rows above the label header's row: 本年支出 over 合计 基本支出 项目支出
_HEADER_ROWS_BELOW = 3  # rows below it that may still be header: 类 款 项, 栏次


@dataclass(frozen=True, slots=True)
class Region:
    """The rows of one table on its sheet: all of them, or those from its title to the next table's."""

    first: int
    last: int


@dataclass(slots=True)
class TableHeader:
    """A table's header: the row of its label header, the header rows' extent, and its block's columns."""

    label_row: int
    top: int
    bottom: int  # the last header row (the 栏次 row when there is one); data starts below it
    label_col: int
    first_col: int
    last_col: int
    texts: dict[int, list[str]]  # column → its normalised header texts, top to bottom

    def columns(self) -> range:
        return range(self.first_col, self.last_col + 1)

    def find(self, spellings: set[str], used: Iterable[int] = (), *, besides_label: bool = True) -> int | None:
        """The first column of the block whose header texts name one of the spellings, not among `used`."""
        taken = set(used)
        for col in self.columns():
            if col in taken or (besides_label and col == self.label_col):
                continue
            if spellings & set(self.texts.get(col, ())):
                return col
        return None


def table_regions(sheet: SheetGrid, starts: dict[str, int]) -> dict[str, Region]:
    """Each table's rows on a sheet holding several, from the first row naming it to the row before the next
    table's; tables that start on one row (blocks side by side) share it."""
    rows = sorted(set(starts.values()))
    regions: dict[str, Region] = {}
    for key, start in starts.items():
        later = [row for row in rows if row > start]
        regions[key] = Region(start, (later[0] - 1) if later else sheet.max_row)
    return regions


def title_rows(sheet: SheetGrid, label_at: LabelAt) -> dict[str, list[int]]:
    """Every normalised text of the sheet and the rows it is on: where tables' titles and numbers are looked for."""
    found: dict[str, list[int]] = {}
    for (row, col), raw in sorted(sheet.cells.items()):
        if raw.value is None or not isinstance(raw.value, str):
            continue
        text = label_at(sheet, row, col)
        if text and row not in found.get(text, ()):
            found.setdefault(text, []).append(row)
    return found


def find_table_header(
    sheet: SheetGrid,
    region: Region,
    label_spellings: set[str],
    block: int,
    search_rows: int,
    label_at: LabelAt,
    wanted: list[set[str]],
    names: set[str],
) -> TableHeader | None:
    """The header of the `block`-th table under the label header in the region's first rows: the first row where
    that block's columns name at least one of the `wanted` spellings. `names` are the table's title and number,
    which end the header upwards as the title block does."""
    for row in range(region.first, min(region.first + search_rows - 1, region.last) + 1):
        label_cols = [
            col
            for col in range(1, sheet.max_col + 1)
            if not sheet.is_merged_follower(row, col) and label_at(sheet, row, col) in label_spellings
        ]
        if len(label_cols) < block:
            continue
        first_col = label_cols[block - 1]
        last_col = label_cols[block] - 1 if len(label_cols) > block else sheet.max_col
        top = _header_top(sheet, region, row, (first_col, last_col), names, label_at)
        bottom = _header_bottom(sheet, region, row, first_col, last_col, label_at)
        texts = {
            col: [label_at(sheet, r, col) for r in range(top, bottom + 1)] for col in range(first_col, last_col + 1)
        }
        header = TableHeader(row, top, bottom, first_col, first_col, last_col, texts)
        if any(header.find(spellings) is not None for spellings in wanted):
            return header
    return None


def _is_title_block_row(sheet: SheetGrid, row: int, names: set[str], label_at: LabelAt) -> bool:
    """A row of the title block: the table's title or number, or a `部门：…` / `金额单位：…` pair."""
    texts = [label_at(sheet, row, col) for col in range(1, sheet.max_col + 1)]
    return any(mark in text for text in texts for mark in _TITLE_BLOCK_MARKS) or any(text in names for text in texts)


def _header_top(
    sheet: SheetGrid, region: Region, row: int, span: tuple[int, int], names: set[str], label_at: LabelAt
) -> int:
    """The first header row: up to two rows above the label header's, below the title block."""
    first_col, last_col = span
    top = row
    for above in range(row - 1, max(region.first, row - _HEADER_ROWS_ABOVE) - 1, -1):
        if _is_title_block_row(sheet, above, names, label_at):
            break
        if not any(label_at(sheet, above, col) for col in range(first_col, last_col + 1)):
            break
        top = above
    return top


def _header_bottom(sheet: SheetGrid, region: Region, row: int, first_col: int, last_col: int, label_at: LabelAt) -> int:
    """The last header row: the 栏次 row if one follows closely, else the lowest row of the label row's merges."""
    for below in range(row, min(row + _HEADER_ROWS_BELOW, region.last) + 1):
        if any(label_at(sheet, below, col) == COLUMN_NUMBERS for col in range(first_col, last_col + 1)):
            return below
    bottom = row
    for min_col, min_row, max_col, max_row in sheet.merged:
        if min_row <= row <= max_row and min_col <= last_col and max_col >= first_col:
            bottom = max(bottom, min(max_row, region.last))
    return bottom
