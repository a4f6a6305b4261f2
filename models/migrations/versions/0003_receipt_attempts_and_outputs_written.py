"""receipt attempts and outputs written

A receipt counts the runs that took it up again without finishing it, so that one file cannot hold
up every later run; a submission records when its page and annotated copy were written, so that a
run can write those a crash left unwritten.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("receipt") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("submission") as batch:
        batch.add_column(sa.Column("outputs_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    # Submissions loaded before this revision had their outputs written in the run that loaded them.
    op.execute("UPDATE submission SET outputs_at = processed_at")


def downgrade() -> None:
    with op.batch_alter_table("submission") as batch:
        batch.drop_column("outputs_at")
    with op.batch_alter_table("receipt") as batch:
        batch.drop_column("attempts")
