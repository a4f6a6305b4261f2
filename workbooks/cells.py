"""The cells of a workbook as every engine behind `workbooks.grid` gives them: one shape for .xlsx, .xls and .ods."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from openpyxl.utils.cell import get_column_letter

CellValue = str | int | float | bool | object | None


class UnreadableWorkbook(Exception):
    """The file cannot be opened as a workbook; the message says why, for a bureau clerk."""


@dataclass(slots=True)
class RawCell:
    """A cell as the file holds it: its value (for a formula, the value the writing program cached, None when it
    cached none), its number format, and its formula (`=…`) where the file gives one that can be evaluated."""

    value: CellValue
    number_format: str = "General"
    formula: str | None = None
    cached: bool = False  # the formula came with a cached value (`value`), which may be stale


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
