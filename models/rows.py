"""A read submission as rows of the database: every typed value in the long table (amounts in 万元, each with
its sheet and cell, text cut to its column's length), and its findings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from checks.findings import Finding
from checks.records import CODE, ReadSubmission
from checks.template import Template, TemplateSet, as_set
from models.tables import FindingRecord, SheetValue

# The typed rows and findings of one submission, by table, without their submission id (it is given when
# the submission is loaded). Made where the workbook was read, so that a batch travels back to the loading
# process as plain rows rather than as the reader's objects, which cost that process 0.6 ms a file to unpickle.
TypedRows = dict[Any, list[dict[str, Any]]]


def clipped(value: Any, limit: int) -> str | None:
    """A value as the text a column of `limit` characters holds; None for an empty one."""
    return str(value)[:limit] if value not in (None, "") else None


def typed_rows(read: ReadSubmission, findings: Sequence[Finding], templates: Template | TemplateSet) -> TypedRows:
    """Every typed value and finding of one submission, by table (see `TypedRows`), as the template it was read
    with types them."""
    rows: TypedRows = {}
    template = as_set(templates).get(read.template)
    amounts = template.amount_keys
    values = []
    for sheet, row, column, located in read.values():
        if column == CODE and sheet in template.sheets and template.sheets[sheet].kind == "codes":
            continue  # a code row's code is its row key
        number, text = _number_and_text(located.value)
        if number is not None and (sheet, column or row) in amounts:
            number = read.to_wan(number)
        text = text if text is not None else located.text
        if number is None and text is None:
            continue  # a blank cell: nothing to keep, and the sheet's cells are in the archived file
        values.append(
            {
                "sheet": sheet,
                "row": row,
                "column": column,
                "number": number,
                "text": clipped(text, 2000),
                "decimals": located.decimals,
                "title": clipped(read.sheets[sheet], 100) or "",
                "cell": located.cell,
            }
        )
    rows[SheetValue] = values
    rows[FindingRecord] = [
        {
            "position": position,
            "rule": f.rule,
            "severity": str(f.severity),
            "sheet": f.sheet,
            "cells": list(f.cells),
            "message": f.message,
            "expected": f.expected if f.expected is None else f.expected[:100],
            "actual": f.actual if f.actual is None else f.actual[:200],  # it may quote a whole cell's text
        }
        for position, f in enumerate(findings)
    ]
    return {table: table_rows for table, table_rows in rows.items() if table_rows}


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
