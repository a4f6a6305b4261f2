"""Typed records of one submission, as the reader produces them and the checks and database use them.

Every value keeps the sheet and A1 cell it came from, so any finding can point at it. Amounts are
exact decimals in the unit declared on the cover (`unit`); `to_wan` converts for storage.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from checks.findings import FileReport, Finding

WAN = Decimal(10000)
TOTAL_ROW = "total"  # the row key of a list sheet's 合计 row in the long table of values
CODE, NAME = "code", "name"  # a code-row table's values beside its columns: the row's code and its name


def parent_code(code: str, lengths: tuple[int, ...]) -> str | None:
    """The code of a classification row's parent (`2060101` → `20601` → `206`); None for a 类 or a named row."""
    if len(code) not in lengths or not code.isdigit():
        return None
    level = lengths.index(len(code))
    return code[: lengths[level - 1]] if level > 0 else None


@dataclass(frozen=True, slots=True)
class Located:
    """A value and where it was read; `decimals` is the precision written for rates and measures."""

    value: Any
    cell: str | None
    decimals: int | None = None
    text: str | None = None
    ambiguous: bool = False  # a bare number in a rate column that may be a fraction (0.97) or percent points

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled by position: a slotted dataclass's own pickling calls fields() for every object, and a
        # batch read in worker processes comes back as some 200,000 of these (1 ms a submission, not 0.1).
        return (Located, (self.value, self.cell, self.decimals, self.text, self.ambiguous))


@dataclass(slots=True)
class ListRow:
    """One item row of a list sheet (a project, an indicator) or of a code-row table; `is_total` marks the 合计
    row, and `key` is a code-row table's row key (its classification code, or the template's key of a named row
    such as 合计)."""

    row: int
    values: dict[str, Located]
    is_total: bool = False
    key: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (ListRow, (self.row, self.values, self.is_total, self.key))  # see Located.__reduce__

    @property
    def row_key(self) -> str:
        """Its key in the long table of values: a code-row table's key, else its sheet row, or `total`."""
        if self.key is not None:
            return self.key
        return TOTAL_ROW if self.is_total else str(self.row)

    def value(self, key: str) -> Any:
        located = self.values.get(key)
        return located.value if located else None


@dataclass(slots=True)
class ReadSubmission:
    """Everything read from one workbook, by the template's own sheet, row and column keys.

    Each sheet's values are kept by its shape: `fields` for key/value sheets (field → value), `grids` for grid
    sheets ((row, column) → value), `lists` for list sheets (its item rows). `cover` is the submission's identity
    (bureau, year, unit, contact …): the fields of the template's cover sheet.
    """

    file: str
    sha256: str
    template: str
    sheets: dict[str, str] = field(default_factory=dict)  # sheet key → the sheet's title in the file
    unit: str = "万元"
    cover: dict[str, Located] = field(default_factory=dict)
    fields: dict[str, dict[str, Located]] = field(default_factory=dict)
    grids: dict[str, dict[tuple[str, str], Located]] = field(default_factory=dict)
    lists: dict[str, list[ListRow]] = field(default_factory=dict)
    column_letters: dict[str, dict[str, str]] = field(default_factory=dict)  # sheet → column key → letter
    findings: list[Finding] = field(default_factory=list)
    unreadable: str | None = None  # why the file could not be opened as a workbook

    def __reduce__(self) -> tuple[Any, ...]:
        return (ReadSubmission, tuple(getattr(self, name) for name in self.__slots__))  # see Located.__reduce__

    def without_values(self) -> ReadSubmission:
        """This submission without its sheets' typed values (the cover, findings and sheet titles kept): what
        loading needs once the values are rows, and cheap to send from a reading process."""
        return replace(self, fields={}, grids={}, lists={})

    def values(self) -> Iterator[tuple[str, str, str, Located]]:
        """Every value read, in sheet order: (sheet key, row key, column key, value). A key/value sheet's fields
        are its rows (column key ""); a list sheet's rows are keyed by their sheet row number, its 合计 row by
        `TOTAL_ROW`."""
        for sheet in self.sheets:
            for key, located in self.fields.get(sheet, {}).items():
                yield sheet, key, "", located
            for (row, column), located in self.grids.get(sheet, {}).items():
                yield sheet, row, column, located
            for item in self.lists.get(sheet, []):
                for column, located in item.values.items():
                    yield sheet, item.row_key, column, located

    @property
    def bureau_code(self) -> str | None:
        located = self.cover.get("bureau_code")
        return located.value if located and isinstance(located.value, str) else None

    @property
    def fiscal_year(self) -> int | None:
        located = self.cover.get("fiscal_year")
        return located.value if located and isinstance(located.value, int) else None

    def to_wan(self, amount: Decimal | None) -> Decimal | None:
        """An amount of this submission in 万元, exactly."""
        if amount is None or self.unit == "万元":
            return amount
        return amount / WAN

    def report(self, findings: list[Finding]) -> FileReport:
        return FileReport(
            file=self.file,
            sha256=self.sha256,
            findings=findings,
            bureau_code=self.bureau_code,
            fiscal_year=self.fiscal_year,
            template=self.template,
        )
