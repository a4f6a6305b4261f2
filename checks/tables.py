"""The typed tables: one pandera `DataFrameModel` per sheet, and building them for a batch.

A batch of submissions becomes one frame per sheet with a `submission` column (the position in
the batch), so every rule runs once per batch, not once per file. Each frame has a twin of the
same shape holding the A1 cell of every value, which is how findings name the cell to fix.
Amounts are float64 here (checks compare within tolerances); exact decimals stay in the records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from checks.records import ListRow, Located, ReadSubmission
from checks.template import Template

AMOUNT_COLUMNS = r"^[a-z_]+__[a-z_]+$"  # `{row}__{column}` of the grid sheets


class CoverTable(pa.DataFrameModel):
    """封面: one row per submission."""

    submission: Series[int]
    sheet: Series[str] = pa.Field(nullable=True)
    bureau_name: Series[str] = pa.Field(nullable=True)
    bureau_code: Series[str] = pa.Field(nullable=True)
    parent: Series[str] = pa.Field(nullable=True)
    fiscal_year: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    unit: Series[str] = pa.Field(nullable=True, isin=["万元", "元"])
    contact: Series[str] = pa.Field(nullable=True)
    phone: Series[str] = pa.Field(nullable=True)
    email: Series[str] = pa.Field(nullable=True)
    submitted_on: Series[Any] = pa.Field(nullable=True)


class SummaryTable(pa.DataFrameModel):
    """收支总表: one row per submission, one column per `{row}__{column}` amount."""

    submission: Series[int]
    sheet: Series[str] = pa.Field(nullable=True)
    amount: Series[float] = pa.Field(alias=AMOUNT_COLUMNS, regex=True, nullable=True, ge=0)


class ThreePublicTable(pa.DataFrameModel):
    """三公经费: one row per submission, one column per `{row}__{column}` amount."""

    submission: Series[int]
    sheet: Series[str] = pa.Field(nullable=True)
    amount: Series[float] = pa.Field(alias=AMOUNT_COLUMNS, regex=True, nullable=True, ge=0)


class ProjectTable(pa.DataFrameModel):
    """项目支出: one row per project, and the 合计 row flagged `is_total`."""

    submission: Series[int]
    sheet: Series[str]
    row: Series[int] = pa.Field(gt=0)
    is_total: Series[bool]
    name: Series[str] = pa.Field(nullable=True)
    budget_initial: Series[float] = pa.Field(nullable=True, ge=0)
    budget_full: Series[float] = pa.Field(nullable=True, ge=0)
    actual: Series[float] = pa.Field(nullable=True, ge=0)
    rate: Series[float] = pa.Field(nullable=True)
    rate_decimals: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    rate_ambiguous: Series[bool]
    source: Series[str] = pa.Field(nullable=True)
    note: Series[str] = pa.Field(nullable=True)


class IndicatorTable(pa.DataFrameModel):
    """绩效指标: one row per indicator; 一级/二级 already filled down."""

    submission: Series[int]
    sheet: Series[str]
    row: Series[int] = pa.Field(gt=0)
    is_total: Series[bool]
    level1: Series[str] = pa.Field(nullable=True)
    level2: Series[str] = pa.Field(nullable=True)
    name: Series[str] = pa.Field(nullable=True)
    nature: Series[str] = pa.Field(nullable=True)
    target: Series[float] = pa.Field(nullable=True)
    target_text: Series[str] = pa.Field(nullable=True)
    result: Series[float] = pa.Field(nullable=True)
    result_text: Series[str] = pa.Field(nullable=True)
    result_decimals: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    unit: Series[str] = pa.Field(nullable=True)
    weight: Series[float] = pa.Field(nullable=True)
    score: Series[float] = pa.Field(nullable=True)
    analysis: Series[str] = pa.Field(nullable=True)
    numerator: Series[float] = pa.Field(nullable=True)
    denominator: Series[float] = pa.Field(nullable=True)


class ResultTable(pa.DataFrameModel):
    """自评结果: one row per submission that has the sheet."""

    submission: Series[int]
    sheet: Series[str]
    execution_score: Series[float] = pa.Field(nullable=True)
    total: Series[float] = pa.Field(nullable=True)
    grade: Series[str] = pa.Field(nullable=True)


MODELS: dict[str, type[pa.DataFrameModel]] = {
    "cover": CoverTable,
    "summary": SummaryTable,
    "three_public": ThreePublicTable,
    "projects": ProjectTable,
    "indicators": IndicatorTable,
    "result": ResultTable,
}


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


_DECIMAL_COLUMNS = {"rate": "rate_decimals", "result": "result_decimals"}
_AMBIGUOUS_COLUMNS = {"rate": "rate_ambiguous"}  # bare numbers that may be fractions (see workbooks.values)
_TEXT_COLUMNS = {"target": "target_text", "result": "result_text"}


def _frames(
    records: list[dict[str, Any]], cells: list[dict[str, Any]], columns: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    values = pd.DataFrame.from_records(records, columns=columns)
    cell_frame = pd.DataFrame.from_records(cells, columns=columns).astype(object)
    return values, cell_frame


def _list_records(
    submissions: Iterable[tuple[int, ReadSubmission]], table: str, column_keys: list[str], numeric: tuple[str, ...]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    records: list[dict[str, Any]] = []
    cells: list[dict[str, Any]] = []
    for position, submission in submissions:
        sheet = submission.sheets.get(table)
        rows: list[ListRow] = submission.projects if table == "projects" else submission.indicators
        for item in rows:
            record: dict[str, Any] = {
                "submission": position,
                "sheet": sheet,
                "row": item.row,
                "is_total": item.is_total,
            }
            cell_record: dict[str, Any] = {}
            for key in column_keys:
                located = item.values.get(key)
                value = located.value if located else None
                record[key] = _number(value) if key in numeric else _text(value)
                cell_record[key] = located.cell if located else None
                if key in _DECIMAL_COLUMNS:
                    record[_DECIMAL_COLUMNS[key]] = located.decimals if located else None
                if key in _AMBIGUOUS_COLUMNS:
                    record[_AMBIGUOUS_COLUMNS[key]] = located.ambiguous if located else False
                if key in _TEXT_COLUMNS and table == "indicators":
                    record[_TEXT_COLUMNS[key]] = located.text if located else None
            records.append(record)
            cells.append(cell_record)
    return records, cells


def _grid_record(
    position: int, submission: ReadSubmission, table: str, columns: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    grid: dict[tuple[str, str], Located] = submission.summary if table == "summary" else submission.three_public
    record: dict[str, Any] = {"submission": position, "sheet": submission.sheets.get(table)}
    cell_record: dict[str, Any] = {}
    for name in columns:
        row_key, column_key = name.split("__")
        located = grid.get((row_key, column_key))
        record[name] = _number(located.value) if located else float("nan")
        cell_record[name] = located.cell if located else None
    return record, cell_record


def grid_column(row_key: str, column_key: str) -> str:
    return f"{row_key}__{column_key}"


def build_batch(submissions: list[ReadSubmission], template: Template) -> Batch:
    """The typed tables of every readable submission in the batch."""
    readable = [(i, s) for i, s in enumerate(submissions) if s.unreadable is None]
    units = {i: s.unit for i, s in readable}
    tables: dict[str, Table] = {}

    cover_fields = template.sheets["cover"].fields
    cover_keys = list(cover_fields)
    records, cells = [], []
    for position, submission in readable:
        record: dict[str, Any] = {"submission": position, "sheet": submission.sheets.get("cover")}
        cell_record: dict[str, Any] = {}
        for key in cover_keys:
            located = submission.cover.get(key)
            value = located.value if located else None
            record[key] = value if cover_fields[key].type in ("year", "date") else _text(value)
            cell_record[key] = located.cell if located else None
        records.append(record)
        cells.append(cell_record)
    values, cell_frame = _frames(records, cells, ["submission", "sheet", *cover_keys])
    values["fiscal_year"] = values["fiscal_year"].astype("Int64")
    tables["cover"] = Table("cover", values, cell_frame, units)

    for table in ("summary", "three_public"):
        spec = template.sheets[table]
        columns = [grid_column(r, c) for r in spec.rows for c in spec.columns]
        pairs = [_grid_record(p, s, table, columns) for p, s in readable if table in s.sheets]
        values, cell_frame = _frames([p[0] for p in pairs], [p[1] for p in pairs], ["submission", "sheet", *columns])
        values[columns] = values[columns].astype(float)
        tables[table] = Table(table, values, cell_frame, units)

    for table in ("projects", "indicators"):
        column_keys, numeric = list(template.sheets[table].columns), template.sheets[table].numeric_keys()
        records, cells = _list_records(readable, table, column_keys, numeric)
        extra = [_DECIMAL_COLUMNS[k] for k in column_keys if k in _DECIMAL_COLUMNS]
        extra += [_AMBIGUOUS_COLUMNS[k] for k in column_keys if k in _AMBIGUOUS_COLUMNS]
        if table == "indicators":
            extra += [_TEXT_COLUMNS[k] for k in column_keys if k in _TEXT_COLUMNS]
        values, cell_frame = _frames(records, cells, ["submission", "sheet", "row", "is_total", *column_keys, *extra])
        values[list(numeric)] = values[list(numeric)].astype(float)
        for column in extra:
            if column.endswith("_decimals"):
                values[column] = values[column].astype("Int64")
            elif column.endswith("_ambiguous"):
                values[column] = values[column].astype(bool)
        values["is_total"] = values["is_total"].astype(bool)
        values["row"] = values["row"].astype(int)
        tables[table] = Table(table, values, cell_frame, units)

    result_keys, result_numeric = list(template.sheets["result"].fields), template.sheets["result"].numeric_keys()
    records, cells = [], []
    for position, submission in readable:
        if "result" not in submission.sheets:
            continue
        record = {"submission": position, "sheet": submission.sheets["result"]}
        cell_record = {}
        for key in result_keys:
            located = submission.result.get(key)
            value = located.value if located else None
            record[key] = _number(value) if key in result_numeric else _text(value)
            cell_record[key] = located.cell if located else None
        records.append(record)
        cells.append(cell_record)
    values, cell_frame = _frames(records, cells, ["submission", "sheet", *result_keys])
    values[list(result_numeric)] = values[list(result_numeric)].astype(float)
    tables["result"] = Table("result", values, cell_frame, units)

    for typed in tables.values():
        typed.values["submission"] = typed.values["submission"].astype(int)
    return Batch(submissions, tables)
