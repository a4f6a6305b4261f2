"""A read submission as the rows of the database's typed tables: amounts in 万元, each row with its sheet and
cells, text cut to its column's length.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from checks.findings import Finding
from checks.records import ListRow, Located, ReadSubmission
from models.tables import FindingRecord, Indicator, Project, SelfEvaluation, SummaryLine, ThreePublicLine

# The typed rows and findings of one submission, by table, without their submission id (it is given when
# the submission is loaded). Made where the workbook was read, so that a batch travels back to the loading
# process as plain rows rather than as the reader's objects, which cost that process 0.6 ms a file to unpickle.
TypedRows = dict[Any, list[dict[str, Any]]]


def clipped(value: Any, limit: int) -> str | None:
    """A value as the text a column of `limit` characters holds; None for an empty one."""
    return str(value)[:limit] if value not in (None, "") else None


def typed_rows(read: ReadSubmission, findings: Sequence[Finding]) -> TypedRows:
    """Every typed row and finding of one submission, by table (see `TypedRows`)."""
    rows: TypedRows = {}
    for table, grid, sheet_key in (
        (SummaryLine, read.summary, "summary"),
        (ThreePublicLine, read.three_public, "three_public"),
    ):
        rows[table] = [
            {
                "line": line,
                "column": column,
                "amount": _wan(read, located),
                "sheet": read.sheets.get(sheet_key, ""),
                "cell": located.cell,
            }
            for (line, column), located in grid.items()
        ]
    rows[Project] = [_project(read, item) for item in read.projects]
    rows[Indicator] = [_indicator(read, item) for item in read.indicators]
    if read.result and "result" in read.sheets:
        rows[SelfEvaluation] = [
            {
                "execution_score": _number(read.result.get("execution_score")),
                "total": _number(read.result.get("total")),
                "grade": clipped(read.result["grade"].value if "grade" in read.result else None, 10),
                "sheet": read.sheets["result"],
                "cells": _cells(read.result),
            }
        ]
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


def _number(located: Located | None) -> Decimal | None:
    value = located.value if located else None
    return value if isinstance(value, Decimal) else None


def _project(read: ReadSubmission, item: ListRow) -> dict[str, Any]:
    values = item.values
    rate = values.get("rate")
    return {
        "row": item.row,
        "is_total": item.is_total,
        "name": clipped(item.value("name"), 500),
        "budget_initial": _wan(read, values.get("budget_initial")),
        "budget_full": _wan(read, values.get("budget_full")),
        "actual": _wan(read, values.get("actual")),
        "rate": _number(rate),
        "rate_decimals": rate.decimals if rate else None,
        "source": clipped(item.value("source"), 200),
        "note": clipped(item.value("note"), 1000),
        "sheet": read.sheets.get("projects", ""),
        "cells": _cells(values),
    }


def _indicator(read: ReadSubmission, item: ListRow) -> dict[str, Any]:
    values = item.values
    target, result = values.get("target"), values.get("result")
    return {
        "row": item.row,
        **{key: clipped(item.value(key), limit) for key, limit in _INDICATOR_TEXT.items()},
        "target": _number(target),
        "target_text": clipped(target.text if target else None, 200),
        "result": _number(result),
        "result_text": clipped(result.text if result else None, 200),
        **{key: _number(values.get(key)) for key in ("weight", "score", "numerator", "denominator")},
        "sheet": read.sheets.get("indicators", ""),
        "cells": _cells(values),
    }


_INDICATOR_TEXT = {"level1": 100, "level2": 100, "name": 500, "nature": 10, "unit": 40, "analysis": 2000}


def _wan(read: ReadSubmission, located: Located | None) -> Decimal | None:
    value = located.value if located else None
    return read.to_wan(value) if isinstance(value, Decimal) else None


def _cells(values: dict[str, Located]) -> dict[str, str]:
    return {key: located.cell for key, located in values.items() if located.cell}
