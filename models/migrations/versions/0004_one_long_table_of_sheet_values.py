"""one long table of sheet values

Every typed value of every sheet in one table (submission, sheet, row key, column key, value, cell), so that a
template may have any sheets: the five tables of format v1's sheets (summary_line, three_public_line, project,
indicator, self_evaluation) are moved into it, value for value, and dropped. Blank values are not kept.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 22:30:00
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MONEY = models.types.ExactDecimal(precision=28, scale=10)
CHUNK = 5000

# The v1 tables of one row per submission and grid cell: table → the sheet key of its values.
GRIDS = {"summary_line": "summary", "three_public_line": "three_public"}
# The v1 tables of one row per item row: table → (sheet key, column → number or text); a rate kept its decimals
# and a measure its text in a column of their own.
LISTS: dict[str, tuple[str, dict[str, str]]] = {
    "project": (
        "projects",
        {
            "name": "text",
            "budget_initial": "number",
            "budget_full": "number",
            "actual": "number",
            "rate": "number",
            "source": "text",
            "note": "text",
        },
    ),
    "indicator": (
        "indicators",
        {
            "level1": "text",
            "level2": "text",
            "name": "text",
            "nature": "text",
            "target": "number",
            "result": "number",
            "unit": "text",
            "weight": "number",
            "score": "number",
            "analysis": "text",
            "numerator": "number",
            "denominator": "number",
        },
    ),
}
DECIMALS = {("project", "rate"): "rate_decimals"}
TEXTS = {("indicator", "target"): "target_text", ("indicator", "result"): "result_text"}
EVALUATION = ("self_evaluation", "result", {"execution_score": "number", "total": "number", "grade": "text"})


def _sheet_value_table() -> sa.Table:
    return sa.table(
        "sheet_value",
        sa.column("submission_id", sa.Integer()),
        sa.column("sheet", sa.String()),
        sa.column("row", sa.String()),
        sa.column("column", sa.String()),
        sa.column("number", MONEY),
        sa.column("text", sa.String()),
        sa.column("decimals", sa.Integer()),
        sa.column("title", sa.String()),
        sa.column("cell", sa.String()),
    )


def _money_columns(name: str) -> list[str]:
    if name in GRIDS:
        return ["amount"]
    if name == "sheet_value":
        return ["number"]
    columns = LISTS[name][1] if name in LISTS else EVALUATION[2]
    return [column for column, kind in columns.items() if kind == "number"]


def _old_table(name: str) -> sa.Table:
    """A table as the database has it, its money columns as exact decimals (SQLite reflects them as text)."""
    money = [sa.Column(column, MONEY) for column in _money_columns(name)]
    return sa.Table(name, sa.MetaData(), *money, autoload_with=op.get_bind())


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _values_of_old_tables() -> Iterator[dict[str, Any]]:
    bind = op.get_bind()
    for name, sheet in GRIDS.items():
        table = _old_table(name)
        for line in bind.execute(sa.select(table)).mappings():
            if line["amount"] is not None:
                yield {
                    "submission_id": line["submission_id"],
                    "sheet": sheet,
                    "row": line["line"],
                    "column": line["column"],
                    "number": line["amount"],
                    "text": None,
                    "decimals": None,
                    "title": line["sheet"],
                    "cell": line["cell"],
                }
    evaluation_table, evaluation_sheet, evaluation_fields = EVALUATION
    old_lists = {**LISTS, evaluation_table: (evaluation_sheet, evaluation_fields)}
    for name, (sheet, columns) in old_lists.items():
        table = _old_table(name)
        for item in bind.execute(sa.select(table)).mappings():
            # a key/value sheet's fields are rows of their own; an item row is keyed by its number, or as the 合计
            row_key = None if name == evaluation_table else "total" if item.get("is_total") else str(item["row"])
            cells = item["cells"] or {}
            for column, kind in columns.items():
                number = item[column] if kind == "number" else None
                text = item[column] if kind == "text" else item.get(TEXTS.get((name, column), ""))
                if number is None and text is None:
                    continue
                yield {
                    "submission_id": item["submission_id"],
                    "sheet": sheet,
                    "row": column if row_key is None else row_key,
                    "column": "" if row_key is None else column,
                    "number": number,
                    "text": text,
                    "decimals": item.get(DECIMALS.get((name, column), "")),
                    "title": item["sheet"],
                    "cell": cells.get(column),
                }


def upgrade() -> None:
    op.create_table(
        "sheet_value",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("sheet", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("row", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("column", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("number", MONEY, nullable=True),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("decimals", sa.Integer(), nullable=True),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("cell", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submission.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    values = _sheet_value_table()
    for chunk in _chunks(_values_of_old_tables()):
        op.get_bind().execute(sa.insert(values), chunk)
    # made after the copy: one sort instead of index upkeep on every inserted row
    op.create_index("ix_sheet_value_submission", "sheet_value", ["submission_id", "sheet", "row", "column"])
    for name in (*GRIDS, *LISTS):
        op.drop_index(f"ix_{name}_submission_id", table_name=name)
        op.drop_table(name)
    op.drop_table(EVALUATION[0])


def _recreate_old_tables() -> dict[str, sa.Table]:
    """The v1 tables as revision 0001 made them."""
    common = (
        sa.Column("sheet", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
    )

    def create(name: str, *columns: sa.Column[Any], unique_submission: bool = False) -> sa.Table:
        made = op.create_table(
            name,
            sa.Column("submission_id", sa.Integer(), nullable=False),
            *columns,
            *(sa.Column(c.name, c.type, nullable=c.nullable) for c in common),
            sa.ForeignKeyConstraint(["submission_id"], ["submission.id"]),
            sa.PrimaryKeyConstraint("id"),
            *((sa.UniqueConstraint("submission_id"),) if unique_submission else ()),
        )
        if not unique_submission:
            op.create_index(f"ix_{name}_submission_id", name, ["submission_id"])
        return made

    def text(name: str, length: int) -> sa.Column[Any]:
        return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=True)

    def money(name: str) -> sa.Column[Any]:
        return sa.Column(name, MONEY, nullable=True)

    tables = {
        name: create(
            name,
            sa.Column("line", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
            sa.Column("column", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
            money("amount"),
            text("cell", 12),
        )
        for name in GRIDS
    }
    lengths = {"name": 500, "source": 200, "note": 1000, "level1": 100, "level2": 100, "nature": 10, "unit": 40}
    lengths |= {"analysis": 2000, "target_text": 200, "result_text": 200, "grade": 10}
    for name, (_, columns) in LISTS.items():
        typed = [money(c) if kind == "number" else text(c, lengths[c]) for c, kind in columns.items()]
        typed += [sa.Column(c, sa.Integer(), nullable=True) for (t, _), c in DECIMALS.items() if t == name]
        typed += [text(c, lengths[c]) for (t, _), c in TEXTS.items() if t == name]
        flags = [sa.Column("is_total", sa.Boolean(), nullable=False)] if name == "project" else []
        tables[name] = create(
            name, sa.Column("row", sa.Integer(), nullable=False), *flags, *typed, sa.Column("cells", sa.JSON())
        )
    evaluation_table, _, fields = EVALUATION
    tables[evaluation_table] = create(
        evaluation_table,
        *(money(c) if kind == "number" else text(c, lengths[c]) for c, kind in fields.items()),
        sa.Column("cells", sa.JSON()),
        unique_submission=True,
    )
    return tables


def downgrade() -> None:
    tables = _recreate_old_tables()
    bind = op.get_bind()
    values = _old_table("sheet_value")
    by_item: dict[tuple[str, int, str], dict[str, Any]] = {}
    sheets = {sheet: name for name, sheet in GRIDS.items()}
    list_sheets = {sheet: name for name, (sheet, _) in LISTS.items()}
    evaluation_table, evaluation_sheet, _ = EVALUATION
    for value in bind.execute(sa.select(values).order_by(values.c.id)).mappings():
        sheet = value["sheet"]
        if sheet in sheets:
            row = {"submission_id": value["submission_id"], "line": value["row"], "column": value["column"]}
            row |= {"amount": value["number"], "sheet": value["title"], "cell": value["cell"]}
            bind.execute(sa.insert(tables[sheets[sheet]]), [row])
            continue
        name = list_sheets.get(sheet) or (evaluation_table if sheet == evaluation_sheet else None)
        if name is None:
            continue  # a sheet format v1 had no table for
        key = (name, value["submission_id"], "" if name == evaluation_table else value["row"])
        column = value["row"] if name == evaluation_table else value["column"]
        item = by_item.setdefault(key, {"submission_id": value["submission_id"], "sheet": value["title"], "cells": {}})
        if name != evaluation_table:  # the 合计 row's number is in its cell (A1: the digits)
            total_row = int("".join(ch for ch in value["cell"] or "0" if ch.isdigit()) or 0)
            item["row"] = total_row if value["row"] == "total" else int(value["row"])
        if name == "project":
            item["is_total"] = value["row"] == "total"
        kind = (LISTS[name][1] if name in LISTS else EVALUATION[2]).get(column)
        if kind is None:
            continue  # a column format v1's table did not have
        item[column] = value["number"] if kind == "number" else value["text"]
        if (name, column) in DECIMALS:
            item[DECIMALS[(name, column)]] = value["decimals"]
        if (name, column) in TEXTS:
            item[TEXTS[(name, column)]] = value["text"]
        if value["cell"]:
            item["cells"][column] = value["cell"]
    for (name, _, _), item in by_item.items():
        columns = {c.name for c in tables[name].columns}
        bind.execute(sa.insert(tables[name]), [{k: v for k, v in item.items() if k in columns}])
    op.drop_index("ix_sheet_value_submission", table_name="sheet_value")
    op.drop_table("sheet_value")
