"""Revision 0004 moves format v1's five typed tables into the long table of sheet values, keeping every value, and
its downgrade moves them back; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import command

from models.database import alembic_config, engine_for, upgrade
from models.types import ExactDecimal

D = Decimal
NOW = dt.datetime(2024, 3, 15, 8, 0, tzinfo=dt.UTC)

# What a v1 intake stored for one submission before revision 0004, as its rows (ids left to the database).
OLD_ROWS: dict[str, list[dict[str, Any]]] = {
    "summary_line": [
        {"line": "inc_total", "column": "budget_initial", "amount": D("1245.61"), "sheet": "收支总表", "cell": "B10"},
        {"line": "inc_total", "column": "actual", "amount": D("11658.78"), "sheet": "收支总表", "cell": "D10"},
        {"line": "inc_fund", "column": "actual", "amount": None, "sheet": "收支总表", "cell": "D3"},
    ],
    "three_public_line": [
        {"line": "total", "column": "actual", "amount": D("11.84"), "sheet": "三公经费", "cell": "C7"},
    ],
    "project": [
        {
            "row": 3,
            "is_total": False,
            "name": "科技三项费",
            "budget_initial": D("150"),
            "budget_full": D("140.27"),
            "actual": D("138"),
            "rate": D("98.38"),
            "rate_decimals": 2,
            "source": None,
            "note": None,
            "sheet": "项目支出",
            "cells": {"name": "A3", "budget_initial": "B3", "budget_full": "C3", "actual": "D3", "rate": "E3"},
        },
        {
            "row": 9,
            "is_total": True,
            "name": None,
            "budget_initial": D("533.67"),
            "budget_full": None,
            "actual": None,
            "rate": None,
            "rate_decimals": None,
            "source": None,
            "note": None,
            "sheet": "项目支出",
            "cells": {"budget_initial": "B9"},
        },
    ],
    "indicator": [
        {
            "row": 6,
            "level1": "产出指标",
            "level2": "质量指标",
            "name": "企业问题解决率",
            "nature": "≥",
            "target": D(95),
            "target_text": None,
            "result": D("97.5"),
            "result_text": "97.5%",
            "unit": "%",
            "weight": D(10),
            "score": D(10),
            "analysis": None,
            "numerator": D(79),
            "denominator": D(81),
            "sheet": "绩效指标",
            "cells": {"name": "C6", "target": "E6", "result": "F6", "weight": "H6", "score": "I6"},
        }
    ],
    "self_evaluation": [
        {
            "execution_score": D(10),
            "total": D(99),
            "grade": "优",
            "sheet": "自评结果",
            "cells": {"execution_score": "B1", "total": "B2", "grade": "B3"},
        }
    ],
}


MONEY = {"amount", "number", "budget_initial", "budget_full", "actual", "rate", "target", "result", "weight", "score"}
MONEY |= {"numerator", "denominator", "execution_score", "total"}


def _table(engine: sa.Engine, name: str) -> sa.Table:
    """A table as the database has it, its money columns as exact decimals (SQLite reflects them as text)."""
    columns = {c["name"] for c in sa.inspect(engine).get_columns(name)}
    money: list[sa.Column[Decimal]] = [sa.Column(column, ExactDecimal()) for column in sorted(MONEY & columns)]
    return sa.Table(name, sa.MetaData(), *money, autoload_with=engine)


def _insert_old_submission(engine: sa.Engine) -> int:
    tables = {name: _table(engine, name) for name in ("submission", *OLD_ROWS)}  # reflected before writing
    with engine.begin() as connection:
        submission = {
            "sha256": "a" * 64,
            "fiscal_year": 2023,
            "version": None,
            "file_name": "2023-科工信局.xlsx",
            "size": 1,
            "archive_path": "archive/a",
            "status": "failed",
            "is_current": False,
            "error_count": 1,
            "warning_count": 0,
            "template": "spec-v1",
            "received_at": NOW,
            "processed_at": NOW,
        }
        inserted = connection.execute(sa.insert(tables["submission"]).values(**submission)).inserted_primary_key
        assert inserted is not None
        submission_id = int(inserted[0])
        for table, rows in OLD_ROWS.items():
            connection.execute(sa.insert(tables[table]), [{**row, "submission_id": submission_id} for row in rows])
    return submission_id


def _rows(engine: sa.Engine, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    found = _table(engine, table)
    with engine.connect() as connection:
        return sorted(tuple(row) for row in connection.execute(sa.select(*(found.c[c] for c in columns))))


def test_the_v1_tables_move_into_the_long_table_value_for_value_and_back(database_url: str) -> None:
    upgrade(database_url, "0003")
    engine = engine_for(database_url)
    submission_id = _insert_old_submission(engine)

    upgrade(database_url)

    names = set(sa.inspect(engine).get_table_names())
    assert "sheet_value" in names and not names & set(OLD_ROWS)
    values = _rows(
        engine, "sheet_value", ["submission_id", "sheet", "row", "column", "number", "text", "decimals", "cell"]
    )
    s = submission_id
    assert values == sorted(
        [
            (s, "summary", "inc_total", "budget_initial", D("1245.61"), None, None, "B10"),
            (s, "summary", "inc_total", "actual", D("11658.78"), None, None, "D10"),  # the blank 政府性基金 cell: gone
            (s, "three_public", "total", "actual", D("11.84"), None, None, "C7"),
            (s, "projects", "3", "name", None, "科技三项费", None, "A3"),
            (s, "projects", "3", "budget_initial", D(150), None, None, "B3"),
            (s, "projects", "3", "budget_full", D("140.27"), None, None, "C3"),
            (s, "projects", "3", "actual", D(138), None, None, "D3"),
            (s, "projects", "3", "rate", D("98.38"), None, 2, "E3"),
            (s, "projects", "total", "budget_initial", D("533.67"), None, None, "B9"),
            (s, "indicators", "6", "level1", None, "产出指标", None, None),
            (s, "indicators", "6", "level2", None, "质量指标", None, None),
            (s, "indicators", "6", "name", None, "企业问题解决率", None, "C6"),
            (s, "indicators", "6", "nature", None, "≥", None, None),
            (s, "indicators", "6", "target", D(95), None, None, "E6"),
            (s, "indicators", "6", "result", D("97.5"), "97.5%", None, "F6"),
            (s, "indicators", "6", "unit", None, "%", None, None),
            (s, "indicators", "6", "weight", D(10), None, None, "H6"),
            (s, "indicators", "6", "score", D(10), None, None, "I6"),
            (s, "indicators", "6", "numerator", D(79), None, None, None),
            (s, "indicators", "6", "denominator", D(81), None, None, None),
            (s, "result", "execution_score", "", D(10), None, None, "B1"),
            (s, "result", "total", "", D(99), None, None, "B2"),
            (s, "result", "grade", "", None, "优", None, "B3"),
        ]
    )
    assert {str(number) for *_, number, _, _, _ in values if number is not None} >= {"1245.61", "97.5", "533.67"}

    command.downgrade(alembic_config(database_url), "0003")

    for table, rows in OLD_ROWS.items():
        kept = [
            {k: v for k, v in row.items() if k != "cells"} for row in rows if table != "summary_line" or row["amount"]
        ]
        columns = list(kept[0])
        assert _rows(engine, table, columns) == sorted(tuple(row[c] for c in columns) for row in kept), table
    cells = sa.Table("project", sa.MetaData(), autoload_with=engine)
    with engine.connect() as connection:
        stored = [row.cells for row in connection.execute(sa.select(cells.c.cells).order_by(cells.c.row))]
    assert stored == [row["cells"] for row in OLD_ROWS["project"]]
    engine.dispose()
