"""The typed tables: one pandera `DataFrameModel` per sheet, and building them for a batch.

A batch of submissions becomes one frame per sheet with a `submission` column (the position in
the batch), so every rule runs once per batch, not once per file. Each frame has a twin of the
same shape holding the A1 cell of every value, which is how findings name the cell to fix.
Amounts are float64 here (checks compare within tolerances); exact decimals stay in the records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from checks.records import NAME, TOTAL_ROW, Located, ReadSubmission, parent_code
from checks.template import NUMERIC_TYPES, CodeSpec, FieldSpec, SheetSpec, Template

AMOUNT_COLUMNS = r"^.+__.+$"  # `{row}__{column}` of the grid sheets


class KeyValueTable(pa.DataFrameModel):
    """A key/value sheet (封面, 自评结果): one row per submission that has it; its fields are added as typed."""

    submission: Series[int]
    sheet: Series[str] = pa.Field(nullable=True)


class GridTable(pa.DataFrameModel):
    """A grid sheet (收支总表, 三公经费): one row per submission, one column per `{row}__{column}` amount.

    The amounts are checked together, by one check: as a regex column, each of them was validated on its own
    (a national batch has ~190 of them, and pandera's fixed cost per column was a third of checking one part)."""

    submission: Series[int]
    sheet: Series[str] = pa.Field(nullable=True)

    @pa.dataframe_check
    @classmethod
    def amounts_are_numbers_not_below_zero(cls, frame: pd.DataFrame) -> pd.Series | bool:
        """Per row: every amount a float, none below zero (the reader makes a finding of a negative amount)."""
        amounts = frame.filter(regex=AMOUNT_COLUMNS)
        if not all(dtype == "float64" for dtype in amounts.dtypes):
            return False
        return (amounts.isna() | (amounts >= 0)).all(axis=1)


class ListTable(pa.DataFrameModel):
    """A list sheet (项目支出, 绩效指标): one row per item and the 合计 row flagged `is_total`; its columns are
    added as typed."""

    submission: Series[int]
    sheet: Series[str]
    row: Series[int] = pa.Field(gt=0)
    is_total: Series[bool]


class CodeTable(pa.DataFrameModel):
    """A code-row table (收入决算表 …): one row per table row, keyed by its classification code or by the
    template's key of a named row (合计); `parent` is the key of the row it adds up into."""

    submission: Series[int]
    sheet: Series[str]
    row: Series[int] = pa.Field(gt=0)
    is_total: Series[bool]
    key: Series[str]
    level: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1)
    parent: Series[str] = pa.Field(nullable=True)
    name: Series[str] = pa.Field(nullable=True)


SHAPES: dict[str, type[pa.DataFrameModel]] = {
    "keyvalue": KeyValueTable,
    "title": KeyValueTable,
    "grid": GridTable,
    "list": ListTable,
    "codes": CodeTable,
}


def _column_schemas(spec: FieldSpec) -> dict[str, pa.Column]:
    """The typed columns of one field or list column: its value, and what a rate or measure keeps beside it."""
    if spec.type in NUMERIC_TYPES:
        checks = [pa.Check.ge(0)] if spec.type == "amount" else []
        columns = {"": pa.Column(float, checks=checks, nullable=True)}
    elif spec.type == "year":
        columns = {"": pa.Column("Int64", nullable=True)}
    elif spec.type == "date":
        columns = {"": pa.Column(object, nullable=True)}
    elif spec.type == "unit":
        columns = {"": pa.Column(str, checks=[pa.Check.isin(["万元", "元"])], nullable=True)}
    else:
        columns = {"": pa.Column(str, nullable=True)}
    if spec.type in ("rate", "measure"):
        columns[DECIMALS] = pa.Column("Int64", checks=[pa.Check.ge(0)], nullable=True)
    if spec.type == "rate":
        columns[AMBIGUOUS] = pa.Column(bool)
    if spec.type == "measure":
        columns[TEXT] = pa.Column(str, nullable=True)
    return columns


DECIMALS, AMBIGUOUS, TEXT = "_decimals", "_ambiguous", "_text"  # suffixes of a column's companions


# Each sheet's schema, made once: pandera copies a schema deeply to add columns (~4 ms a sheet, each batch). Kept
# with its sheet, whose id is then never another's.
_SCHEMAS: dict[int, tuple[SheetSpec, pa.DataFrameSchema]] = {}


def schema_of(spec: SheetSpec) -> pa.DataFrameSchema:
    """The pandera schema of a sheet's typed table: its shape's columns, then one per declared field or column.
    Shared: pandera's `update_column` and `add_columns` give a new schema, and nothing changes one in place."""
    made = _SCHEMAS.get(id(spec))
    if made is None:
        if len(_SCHEMAS) >= 1024:  # templates loaded over and over (tests): let the oldest go
            del _SCHEMAS[next(iter(_SCHEMAS))]
        made = _SCHEMAS[id(spec)] = (spec, _new_schema(spec))
    return made[1]


def _new_schema(spec: SheetSpec) -> pa.DataFrameSchema:
    schema = SHAPES[spec.kind].to_schema()
    typed = spec.fields if spec.kind in ("keyvalue", "title") else spec.columns if spec.kind == "list" else {}
    columns = {
        key + suffix: column
        for key, field_spec in typed.items()
        for suffix, column in _column_schemas(field_spec).items()
    }
    if spec.kind == "codes":  # every column of a code-row table is an amount
        columns = {key: pa.Column(float, checks=[pa.Check.ge(0)], nullable=True) for key in spec.columns}
    return schema.add_columns(columns) if columns else schema


@dataclass(slots=True)
class Table:
    """A typed table of a batch: values, the A1 cell of each value, and the sheet's labels."""

    key: str
    values: pd.DataFrame
    cells: pd.DataFrame
    units: dict[int, str]  # submission → the amount unit declared on its cover
    # Columns as lists, made on first use: explaining a failure reads a dozen single values, and
    # DataFrame.at costs ~50 µs each, which over thousands of findings is most of a batch's checking.
    _value_columns: dict[str, list[Any]] = field(default_factory=dict)
    _cell_columns: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.values.index.equals(pd.RangeIndex(len(self.values))):
            raise ValueError(f"table {self.key}: rows must be numbered 0…n-1 (a row's label is its position)")

    def value(self, index: Any, column: str) -> Any:
        values = self._value_columns.get(column)
        if values is None:
            values = self._value_columns[column] = self.values[column].tolist()
        return values[index]

    def cell(self, index: Any, column: str) -> str | None:
        cells = self._cell_columns.get(column)
        if cells is None:
            if column not in self.cells.columns:
                return None
            cells = self._cell_columns[column] = self.cells[column].tolist()
        value = cells[index]
        return value if isinstance(value, str) else None


@dataclass(slots=True)
class Batch:
    """The typed tables of a batch of readable submissions."""

    submissions: list[ReadSubmission]
    tables: dict[str, Table]

    def __getitem__(self, key: str) -> Table:
        return self.tables[key]


def _number(value: Any) -> float:
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        return float(value)
    return float("nan")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _typed(spec: FieldSpec, located: Located | None, record: dict[str, Any], key: str) -> None:
    """A value into its table's record as its type says, with the companions a rate or measure keeps."""
    value = located.value if located else None
    if spec.type in NUMERIC_TYPES:
        record[key] = _number(value)
    elif spec.type in ("year", "date"):
        record[key] = value
    else:
        record[key] = _text(value)
    if spec.type in ("rate", "measure"):
        record[key + DECIMALS] = located.decimals if located else None
    if spec.type == "rate":
        record[key + AMBIGUOUS] = located.ambiguous if located else False
    if spec.type == "measure":
        record[key + TEXT] = located.text if located else None


def _table(
    key: str, spec: SheetSpec, records: list[dict[str, Any]], cells: list[dict[str, Any]], units: dict[int, str]
) -> Table:
    """A typed table from its records (an empty table keeps its columns)."""
    schema = schema_of(spec)
    named = [name for name, column in schema.columns.items() if not column.regex]
    amounts = [grid_column(r, c) for r in spec.rows for c in spec.columns] if spec.kind == "grid" else []
    values = pd.DataFrame.from_records(records, columns=[*named, *amounts])
    values[amounts] = values[amounts].astype(float)
    cell_frame = pd.DataFrame.from_records(cells, columns=[*named, *amounts])
    return _typed_table(key, schema, values, cell_frame, units)


def _typed_table(
    key: str, schema: pa.DataFrameSchema, values: pd.DataFrame, cells: pd.DataFrame, units: dict[int, str]
) -> Table:
    """The table with each named column in its schema's dtype, and its cells as Python objects."""
    for name, column in schema.columns.items():
        if not column.regex:
            dtype = str(column.dtype)
            values[name] = values[name].astype(dtype if dtype in _EXACT_DTYPES else object)
    return Table(key, values, cells.astype(object), units)


def _code_table(key: str, spec: SheetSpec, readable: list[tuple[int, ReadSubmission]], units: dict[int, str]) -> Table:
    """A code-row table, gathered column by column (a national batch has ~36,000 code rows: a dict a row, which
    pandas then took apart again, cost a quarter more). Each row has its level and parent: a 类 adds up into the 合计
    row where there is one."""
    schema = schema_of(spec)
    names = [name for name, column in schema.columns.items() if not column.regex]
    values: dict[str, list[Any]] = {name: [] for name in names}
    cells: dict[str, list[Any]] = {name: [] for name in names}
    submissions, sheets, row_numbers, totals, keys, levels, parents, row_names = (
        values[name] for name in ("submission", "sheet", "row", "is_total", "key", "level", "parent", "name")
    )
    name_cells = cells["name"]
    amounts = [(values[column_key], cells[column_key], column_key) for column_key in spec.columns]
    lengths = (spec.codes or CodeSpec()).lengths
    nan = float("nan")
    for position, submission in readable:
        sheet = submission.sheets.get(key)
        if sheet is None:
            continue
        rows = submission.lists.get(key, [])
        top = TOTAL_ROW if any(item.key == TOTAL_ROW for item in rows) else None
        for item in rows:
            row_key = item.row_key
            level = lengths.index(len(row_key)) + 1 if row_key.isdigit() and len(row_key) in lengths else None
            name = item.values.get(NAME)
            submissions.append(position)
            sheets.append(sheet)
            row_numbers.append(item.row)
            totals.append(item.is_total)
            keys.append(row_key)
            levels.append(level)
            parents.append((parent_code(row_key, lengths) or top) if level is not None else None)
            row_names.append(name.value if name is not None else None)
            name_cells.append(name.cell if name is not None else None)
            for column_values, column_cells, column_key in amounts:  # most cells of a code table are blank
                located = item.values.get(column_key)
                value = located.value if located is not None else None
                column_values.append(nan if value is None else float(value))
                column_cells.append(located.cell if located is not None else None)
    rows_made = len(submissions)
    for name in names:  # the cells of the row's own columns: none, the row is named by its label's cell
        if not cells[name]:
            cells[name] = [None] * rows_made
    return _typed_table(key, schema, pd.DataFrame(values, columns=names), pd.DataFrame(cells, columns=names), units)


_EXACT_DTYPES = ("Int64", "bool", "int64", "float64")  # the others (text, dates) stay Python objects


def grid_column(row_key: str, column_key: str) -> str:
    return f"{row_key}__{column_key}"


def build_batch(submissions: list[ReadSubmission], template: Template) -> Batch:
    """The typed tables of every readable submission in the batch: one per sheet of the template."""
    readable = [(i, s) for i, s in enumerate(submissions) if s.unreadable is None]
    units = {i: s.unit for i, s in readable}
    tables: dict[str, Table] = {}
    for key, spec in template.sheets.items():
        if spec.kind == "codes":
            tables[key] = _code_table(key, spec, readable, units)
            continue
        records: list[dict[str, Any]] = []
        cells: list[dict[str, Any]] = []
        for position, submission in readable:
            sheet = submission.sheets.get(key)
            if sheet is None:
                continue
            if spec.kind == "list":
                for item in submission.lists.get(key, []):
                    record: dict[str, Any] = {
                        "submission": position,
                        "sheet": sheet,
                        "row": item.row,
                        "is_total": item.is_total,
                    }
                    for column_key, column in spec.columns.items():
                        _typed(column, item.values.get(column_key), record, column_key)
                    records.append(record)
                    cells.append({k: located.cell for k, located in item.values.items()})
                continue
            record = {"submission": position, "sheet": sheet}
            cell_record: dict[str, Any] = {}
            if spec.kind in ("keyvalue", "title"):
                found = submission.fields.get(key, {})
                for field_key, field_spec in spec.fields.items():
                    located = found.get(field_key)
                    _typed(field_spec, located, record, field_key)
                    cell_record[field_key] = located.cell if located else None
            else:
                grid = submission.grids.get(key, {})
                for row_key in spec.rows:
                    for column_key in spec.columns:
                        name = grid_column(row_key, column_key)
                        located = grid.get((row_key, column_key))
                        record[name] = _number(located.value) if located else float("nan")
                        cell_record[name] = located.cell if located else None
            records.append(record)
            cells.append(cell_record)
        tables[key] = _table(key, spec, records, cells, units)
    return Batch(submissions, tables)
