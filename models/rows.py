"""A read submission as rows of the database: every typed value in the long table (amounts in 万元, each with
its sheet and cell, text cut to its column's length), and its findings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from checks.findings import Finding, Severity
from checks.records import CODE, ReadSubmission
from checks.template import Template, TemplateSet, as_set
from models.tables import FindingRecord, SheetValue


@dataclass(frozen=True, slots=True)
class TableRows:
    """Rows of one table, each a tuple of the values of `columns`, without the submission id (it is given when
    the submission is loaded).

    Tuples, not a dict a row: a national workbook keeps ~500 values, and the loading process, the busiest of
    an intake, would otherwise unpickle and take apart a dict for each of them.
    """

    columns: tuple[str, ...]
    values: list[tuple[Any, ...]]

    @classmethod
    def of_dicts(cls, rows: Sequence[dict[str, Any]]) -> TableRows:
        """Rows given as dicts with the same keys."""
        columns = tuple(rows[0]) if rows else ()
        return cls(columns, [tuple(row[name] for name in columns) for row in rows])

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.values]


# The typed rows and findings of one submission, by table. Made where the workbook was read, so that a batch
# travels back to the loading process as plain rows rather than as the reader's objects, which cost that
# process 0.6 ms a file to unpickle.
TypedRows = dict[Any, TableRows]

SHEET_VALUE_COLUMNS = ("sheet", "row", "column", "number", "text", "decimals", "title", "cell")


def storable_year(year: int | None) -> int | None:
    """A year, if an INTEGER column holds it (a wild year is already a format/fiscal-year finding)."""
    return year if year is not None and -(2**31) <= year < 2**31 else None


def clipped(value: Any, limit: int) -> str | None:
    """A value as the text a column of `limit` characters holds; None for an empty one."""
    return str(value)[:limit] if value not in (None, "") else None


def typed_rows(read: ReadSubmission, findings: Sequence[Finding], templates: Template | TemplateSet) -> TypedRows:
    """Every typed value and finding of one submission, by table (see `TypedRows`), as the template it was read
    with types them."""
    rows: TypedRows = {}
    template = as_set(templates).get(read.template)
    amounts = template.amount_keys
    code_sheets = {key for key, sheet in template.sheets.items() if sheet.kind == "codes"}
    titles = {key: clipped(title, 100) or "" for key, title in read.sheets.items()}
    values = []
    for sheet, row, column, located in read.values():
        if located.value is None and located.text is None:
            continue  # a blank cell (most of a code table): nothing to keep, its cell is in the archived file
        if column == CODE and sheet in code_sheets:
            continue  # a code row's code is its row key
        number, text = _number_and_text(located.value)
        if number is not None and (sheet, column or row) in amounts:
            number = read.to_wan(number)
        text = text if text is not None else located.text
        if number is None and text is None:
            continue  # a value that is neither (a boolean)
        values.append((sheet, row, column, number, clipped(text, 2000), located.decimals, titles[sheet], located.cell))
    if values:
        rows[SheetValue] = TableRows(SHEET_VALUE_COLUMNS, values)
    if findings:
        rows[FindingRecord] = TableRows.of_dicts(
            [{"position": position, **finding_record(f)} for position, f in enumerate(findings)]
        )
    return rows


def _number_and_text(value: Any) -> tuple[Decimal | None, str | None]:
    """A read value as the long table keeps it: a number, or text (a date as ISO text, a year as a number)."""
    if isinstance(value, Decimal):
        return value, None
    if isinstance(value, bool) or value is None:
        return None, None
    if isinstance(value, int):
        return Decimal(value), None
    if isinstance(value, dt.date):
        return None, value.isoformat()
    return None, str(value)


def finding_record(finding: Finding) -> dict[str, Any]:
    """A finding's columns in the finding table, cut to their lengths (its position and submission aside)."""
    return {
        "rule": finding.rule,
        "severity": str(finding.severity),
        "sheet": finding.sheet,
        "cells": list(finding.cells),
        "message": finding.message,
        "expected": finding.expected if finding.expected is None else finding.expected[:100],
        "actual": finding.actual if finding.actual is None else finding.actual[:200],  # it may quote a whole cell
        "explanation": finding.explanation,
        "explained_by": finding.explained_by if finding.explained_by is None else finding.explained_by[:200],
    }


def finding_of(record: FindingRecord) -> Finding:
    """A stored finding as the checks made it."""
    return Finding(
        rule=record.rule,
        severity=Severity(record.severity),
        message=record.message,
        sheet=record.sheet,
        cells=tuple(record.cells),
        expected=record.expected,
        actual=record.actual,
        explanation=record.explanation,
        explained_by=record.explained_by,
    )
