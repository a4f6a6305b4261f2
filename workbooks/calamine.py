"""Values through calamine, for every format it reads (.xlsx, .xlsm, .xlsb, .xls, .ods), completed with what
calamine does not give: number formats, formulas and (for .ods) merged ranges, found by each format's reader."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import python_calamine

from config.settings import ReaderLimits
from workbooks.cells import CellValue, RawCell, SheetGrid, UnreadableWorkbook, WorkbookGrid

Bounds = tuple[int, int, int, int]  # min_col, min_row, max_col, max_row of a merged range
_LARGEST_EXACT_WHOLE = 1e15  # whole floats below this are ints, as openpyxl reads "3200" (no float noise)


@dataclass(frozen=True, slots=True)
class SheetPlan:
    """A sheet to read, and what its format's reader found in the file beside calamine's values."""

    title: str
    formats: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, col) → number format
    formulas: dict[tuple[int, int], tuple[str, bool]] = field(default_factory=dict)  # → (=text, cached?)
    merged: list[Bounds] | None = None  # None: the merged ranges calamine reports
    format_source: Callable[[], Mapping[tuple[int, int], str]] | None = None  # `formats`, read when first asked


def plain_value(value: CellValue) -> CellValue:
    """A calamine value as openpyxl gives it: whole numbers as int, dates as datetime."""
    if isinstance(value, float) and value.is_integer() and abs(value) < _LARGEST_EXACT_WHOLE:
        return int(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time())
    return value


def read_sheets(path: Path, plans: Sequence[SheetPlan], limits: ReaderLimits, *, bounded: bool = False) -> WorkbookGrid:
    """The planned sheets; `bounded`: cut each to the rows and columns the reader reads (for formats whose
    reader cannot tell beforehand that a sheet lies within them, as the OOXML reader does)."""
    with path.open("rb") as handle, python_calamine.CalamineWorkbook.from_filelike(handle) as book:
        return WorkbookGrid([_sheet(book, plan, limits, bounded) for plan in plans])


def _sheet(book: python_calamine.CalamineWorkbook, plan: SheetPlan, limits: ReaderLimits, bounded: bool) -> SheetGrid:
    grid = SheetGrid(title=plan.title, format_source=plan.format_source)
    sheet = book.get_sheet_by_name(plan.title)
    first_row, first_col = sheet.start or (0, 0)
    # to_python() starts at the first row and column with data; iter_rows() at the first column, but row 0.
    rows = sheet.iter_rows() if bounded else sheet.to_python()
    if bounded:
        first_row = 0
        rows = islice(rows, limits.max_rows)
    formats, cells = plan.formats, grid.cells
    last_col = max(0, limits.max_columns - first_col)  # a row's values past it are not read (bounded)
    max_row = max_col = 0
    # the hottest loop of reading (every cell of every sheet): SheetGrid.put written inline, plain_value called
    # only for what it changes, and no format looked up where the format's reader gives them later (format_source)
    for row, values in enumerate(rows, first_row + 1):
        for col, given in enumerate(values[:last_col] if bounded else values, first_col + 1):
            kind = given.__class__
            if kind is str and not given:
                continue  # calamine's empty cell
            value = plain_value(given) if kind is float or kind is dt.date else given
            cells[(row, col)] = RawCell(value, formats.get((row, col), "General")) if formats else RawCell(value)
            max_row = row
            if col > max_col:
                max_col = col
    grid.max_row, grid.max_col = max_row, max_col
    for (row, col), (formula, cached) in plan.formulas.items():
        held = grid.cells.get((row, col))
        if held is not None and cached:
            held.formula, held.cached = formula, True
        else:  # no cached value (calamine reads it as empty), or an empty text: the formula decides
            grid.put(row, col, RawCell(None, formats.get((row, col), "General"), formula=formula, cached=cached))
    if plan.merged is not None:
        grid.merged = plan.merged
    else:
        ranges = sheet.merged_cell_ranges or []
        grid.merged = bounded_merges(plan.title, ((a[1] + 1, a[0] + 1, b[1] + 1, b[0] + 1) for a, b in ranges), limits)
    grid.index_merges()
    return grid


def bounded_merges(title: str, ranges: Iterable[Bounds], limits: ReaderLimits) -> list[Bounds]:
    """Merged ranges, clipped to the rows and columns that are read.

    A range such as A1:XFD1048576 would otherwise cost 17 billion index entries. Merged ranges of a
    sound workbook never overlap, so together they never cover more cells than are read.
    """
    merged = []
    covered = 0
    for col_a, row_a, col_b, row_b in ranges:
        min_col, max_col = min(col_a, col_b), min(max(col_a, col_b), limits.max_columns)
        min_row, max_row = min(row_a, row_b), min(max(row_a, row_b), limits.max_rows)
        if min_col > max_col or min_row > max_row:
            continue  # wholly outside what is read
        covered += (max_col - min_col + 1) * (max_row - min_row + 1)
        if covered > limits.max_rows * limits.max_columns:
            raise UnreadableWorkbook(f"工作表“{title}”的合并单元格相互重叠或数量异常，文件可能已损坏，拒绝读取")
        merged.append((min_col, min_row, max_col, max_row))
    return merged
