"""the long table of values indexed by submission alone

Every value loaded updates each index of `sheet_value`; the index over (submission, sheet, row, column) made
loading a national workbook (some 500 values) a third dearer on PostgreSQL than an index over the submission
alone, while its readers (the period report, the checks between submissions) take one submission's few hundred
values and keep the cells they name.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 04:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_sheet_value_submission", table_name="sheet_value")
    op.create_index("ix_sheet_value_submission_id", "sheet_value", ["submission_id"])


def downgrade() -> None:
    op.drop_index("ix_sheet_value_submission_id", table_name="sheet_value")
    op.create_index("ix_sheet_value_submission", "sheet_value", ["submission_id", "sheet", "row", "column"])
