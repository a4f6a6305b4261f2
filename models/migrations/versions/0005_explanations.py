"""explained warnings

A warning can be explained instead of fixed (核实性审核): by the bureau in its workbook's 情况说明 sheet, or by an
operator (`budgetflow explain`), whose reasons are kept with who gave them and when. A finding records the
explanation it stands with; an explained warning no longer makes a submission 有警告.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("finding") as batch:
        batch.add_column(sa.Column("explanation", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch.add_column(sa.Column("explained_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
    op.create_table(
        "explanation",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("rule", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("cell", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("explained_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("explained_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submission.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id", "rule", "cell", name="uq_explanation_finding"),
    )
    with op.batch_alter_table("explanation") as batch:
        batch.create_index(batch.f("ix_explanation_submission_id"), ["submission_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("explanation") as batch:
        batch.drop_index(batch.f("ix_explanation_submission_id"))
    op.drop_table("explanation")
    with op.batch_alter_table("finding") as batch:
        batch.drop_column("explained_by")
        batch.drop_column("explanation")
