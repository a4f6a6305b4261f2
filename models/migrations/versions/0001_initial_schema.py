"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 05:31:34.436955
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bureau",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("parent", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
        sa.Column("first_seen", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_seen", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "intake_run",
        sa.Column("flow_run_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("inbox", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("files_seen", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("loaded", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("unreadable", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("intake_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_intake_run_flow_run_id"), ["flow_run_id"], unique=False)

    op.create_table(
        "submission",
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("bureau_code", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("fiscal_year", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("file_name", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("archive_path", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("warning_count", sa.Integer(), nullable=False),
        sa.Column("template", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True),
        sa.Column("bureau_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("contact", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
        sa.Column("submitted_on", sa.Date(), nullable=True),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("processed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["bureau_code"],
            ["bureau.code"],
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["intake_run.id"],
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["submission.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("bureau_code", "fiscal_year", "version", name="uq_submission_version"),
        sa.UniqueConstraint("sha256"),
    )
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.create_index("ix_submission_bureau_year", ["bureau_code", "fiscal_year"], unique=False)
        batch_op.create_index(batch_op.f("ix_submission_is_current"), ["is_current"], unique=False)
        batch_op.create_index(batch_op.f("ix_submission_status"), ["status"], unique=False)

    op.create_table(
        "finding",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("rule", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("severity", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("sheet", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("expected", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("actual", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cells", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submission.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_finding_rule"), ["rule"], unique=False)
        batch_op.create_index(batch_op.f("ix_finding_submission_id"), ["submission_id"], unique=False)

    op.create_table(
        "indicator",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("level1", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("level2", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("nature", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("target", models.types.ExactDecimal(precision=28, scale=10), nullable=True),
        sa.Column("target_text", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("result", models.types.ExactDecimal(precision=28, scale=10), nullable=True),
        sa.Column("result_text", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("weight", models.types.ExactDecimal(precision=28, scale=10), nullable=True),
        sa.Column("score", models.types.ExactDecimal(precision=28, scale=10), nullable=True),
        sa.Column("analysis", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("numerator", models.types.ExactDecimal(precision=28, scale=10), nullable=True),
        sa.Column("denominator", models.types.ExactDecimal(precision=28, scale=10), nullable=True),
        sa.Column("sheet", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cells", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submission.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("indicator", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_indicator_submission_id"), ["submission_id"], unique=False)

    op.create_table(
        "project",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("is_total", sa.Boolean(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("budget_initial", models.types.ExactDecimal(precision=28, scale=10), nullable=True),
        sa.Column("budget_full", models.types.ExactDecimal(precision=28, scale=10), nullable=True),
        sa.Column("actual", models.types.ExactDecimal(precision=28, scale=10), nullable=True),
        sa.Column("rate", models.types.ExactDecimal(precision=28, scale=10), nullable=True),
        sa.Column("rate_decimals", sa.Integer(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("sheet", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cells", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submission.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_submission_id"), ["submission_id"], unique=False)

    op.create_table(
        "receipt",
        sa.Column("claim_key", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("file_name", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("submission_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["intake_run.id"],
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submission.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("claim_key"),
    )
    with op.batch_alter_table("receipt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_receipt_sha256"), ["sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_receipt_state"), ["state"], unique=False)

    op.create_table(
        "self_evaluation",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("execution_score", models.types.ExactDecimal(precision=28, scale=10), nullable=True),
        sa.Column("total", models.types.ExactDecimal(precision=28, scale=10), nullable=True),
        sa.Column("grade", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("sheet", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cells", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submission.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id"),
    )
    op.create_table(
        "summary_line",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("line", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("column", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("amount", models.types.ExactDecimal(precision=28, scale=10), nullable=True),
        sa.Column("sheet", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("cell", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submission.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("summary_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_summary_line_submission_id"), ["submission_id"], unique=False)

    op.create_table(
        "three_public_line",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("line", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("column", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("amount", models.types.ExactDecimal(precision=28, scale=10), nullable=True),
        sa.Column("sheet", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("cell", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submission.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("three_public_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_three_public_line_submission_id"), ["submission_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("three_public_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_three_public_line_submission_id"))

    op.drop_table("three_public_line")
    with op.batch_alter_table("summary_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_summary_line_submission_id"))

    op.drop_table("summary_line")
    op.drop_table("self_evaluation")
    with op.batch_alter_table("receipt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receipt_state"))
        batch_op.drop_index(batch_op.f("ix_receipt_sha256"))

    op.drop_table("receipt")
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_submission_id"))

    op.drop_table("project")
    with op.batch_alter_table("indicator", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_indicator_submission_id"))

    op.drop_table("indicator")
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_finding_submission_id"))
        batch_op.drop_index(batch_op.f("ix_finding_rule"))

    op.drop_table("finding")
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_submission_status"))
        batch_op.drop_index(batch_op.f("ix_submission_is_current"))
        batch_op.drop_index("ix_submission_bureau_year")

    op.drop_table("submission")
    with op.batch_alter_table("intake_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intake_run_flow_run_id"))

    op.drop_table("intake_run")
    op.drop_table("bureau")
