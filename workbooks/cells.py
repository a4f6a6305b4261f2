"""The cells of a workbook as every engine behind `workbooks.grid` gives them: one shape for .xlsx, .xls and .ods."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

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
    # number formats an engine reads only when asked (.xls: a second, slow pass over the file that only the rate
    # and date rules and a converted copy need): read on the first `number_format`
    format_source: Callable[[], Mapping[tuple[int, int], str]] | None = None
    # `cells` with every merged range's other cells holding its top-left one: `get` is one lookup, since the reader
    # asks for thousands of cells a workbook; built on the first `get`, after the engine has put every cell
    _resolved: dict[tuple[int, int], RawCell] | None = None

    def put(self, row: int, col: int, cell: RawCell) -> None:
        self.cells[(row, col)] = cell
        self.max_row = max(self.max_row, row)
        self.max_col = max(self.max_col, col)
        self._resolved = None

    def index_merges(self) -> None:
        for min_col, min_row, max_col, max_row in self.merged:
            for row in range(min_row, max_row + 1):
                for col in range(min_col, max_col + 1):
                    if (row, col) != (min_row, min_col):
                        self._merge_anchor[(row, col)] = (min_row, min_col)
        self._resolved = None

    def _resolve(self) -> dict[tuple[int, int], RawCell]:
        resolved = dict(self.cells)
        for position, anchor in self._merge_anchor.items():
            cell = self.cells.get(anchor)
            if cell is None:
                resolved.pop(position, None)  # a value hidden under a merged range shows the range's empty top-left
            else:
                resolved[position] = cell
        self._resolved = resolved
        return resolved

    def anchor(self, row: int, col: int) -> tuple[int, int]:
        """The top-left cell of the merged range holding (row, col), or the cell itself."""
        return self._merge_anchor.get((row, col), (row, col))

    def get(self, row: int, col: int) -> RawCell | None:
        """The cell, where a cell inside a merged range holds the range's top-left value."""
        resolved = self._resolved
        if resolved is None:
            resolved = self._resolve()
        return resolved.get((row, col))

    def resolved(self) -> Mapping[tuple[int, int], RawCell]:
        """Every cell as `get` gives it, by (row, column): for a loop over many cells, one lookup each."""
        return self._resolved if self._resolved is not None else self._resolve()

    def load_formats(self) -> None:
        """Give the cells their number formats, where reading them was left until a format is first asked for."""
        if self.format_source is not None:
            source, self.format_source = self.format_source, None
            for position, code in source().items():
                cell = self.cells.get(position)
                if cell is not None:
                    cell.number_format = code

    def number_format(self, row: int, col: int) -> str:
        """The number format of the cell (merged ranges resolved)."""
        self.load_formats()
        raw = self.get(row, col)
        return "General" if raw is None else raw.number_format

    def is_merged_follower(self, row: int, col: int) -> bool:
        return (row, col) in self._merge_anchor

    def rows(self) -> Iterator[int]:
        return iter(range(1, self.max_row + 1))


@dataclass(slots=True)
class WorkbookGrid:
    sheets: list[SheetGrid]

    def sheet(self, title: str) -> SheetGrid | None:
        return next((s for s in self.sheets if s.title == title), None)


@lru_cache(maxsize=1 << 16)
def a1(row: int, col: int) -> str:
    """A cell's A1 address (kept: a national workbook names ~1000 cells, mostly the same ones file after file)."""
    return f"{get_column_letter(col)}{row}"
