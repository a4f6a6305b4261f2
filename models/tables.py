"""The database tables (SQLModel), `XBase` / `X(table=True)` families as in SQLModel's docs.

Money is `ExactDecimal` (NUMERIC; decimal text on SQLite), in 万元. Every typed row keeps the sheet
and A1 cells it was read from. Submissions are never updated in place except for `is_current`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import ExactDecimal


class ReceiptState(StrEnum):
    RECEIVED = "received"  # taken from the inbox, not finished yet
    LOADED = "loaded"
    DUPLICATE = "duplicate"  # the same bytes as an earlier submission


class AlertKind(StrEnum):
    FAILED = "failed"
    UNREADABLE = "unreadable"
    REMINDER = "reminder"


class AlertStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def money(**kwargs: Any) -> Any:
    return Field(default=None, sa_type=ExactDecimal, **kwargs)


class BureauBase(SQLModel):
    code: str = Field(primary_key=True, max_length=20)
    name: str = Field(max_length=200)
    parent: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254)


class Bureau(BureauBase, table=True):
    __tablename__ = "bureau"
    first_seen: dt.datetime = Field(default_factory=utcnow)
    last_seen: dt.datetime = Field(default_factory=utcnow)
    registered: bool = Field(default=False, description="in the registry of bureaus expected to submit")
    registry_email: str | None = Field(default=None, max_length=254, description="where reminders go")


class Deadline(SQLModel, table=True):
    """The date by which every registered bureau must have submitted a fiscal year."""

    __tablename__ = "deadline"
    fiscal_year: int = Field(primary_key=True)
    due_on: dt.date


class AlertBase(SQLModel):
    """An email in the outbox: written here first, then sent; retried with backoff until it goes out."""

    dedupe_key: str = Field(max_length=200, unique=True)  # one alert per submission version or reminder
    kind: str = Field(max_length=20)  # an AlertKind
    submission_id: int | None = Field(default=None, foreign_key="submission.id")
    bureau_code: str | None = Field(default=None, max_length=20)
    fiscal_year: int | None = None
    subject: str = Field(max_length=300)
    body_text: str
    body_html: str
    attachment_path: str | None = Field(default=None, max_length=1000)
    attachment_name: str | None = Field(default=None, max_length=300)
    status: str = Field(default=AlertStatus.PENDING, max_length=20, index=True)  # an AlertStatus
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=1000)
    next_attempt_at: dt.datetime = Field(default_factory=utcnow)
    created_at: dt.datetime = Field(default_factory=utcnow)
    sent_at: dt.datetime | None = None
    delivered_as: str | None = Field(default=None, max_length=1000, description="smtp, or the .eml file written")


class Alert(AlertBase, table=True):
    __tablename__ = "alert"
    id: int | None = Field(default=None, primary_key=True)
    recipients: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class IntakeRunBase(SQLModel):
    flow_run_id: str | None = Field(default=None, max_length=64, index=True)
    inbox: str = Field(max_length=1000)
    started_at: dt.datetime = Field(default_factory=utcnow)
    finished_at: dt.datetime | None = None
    files_seen: int = 0
    received: int = 0
    loaded: int = 0
    duplicates: int = 0
    passed: int = 0
    warnings: int = 0
    failed: int = 0
    unreadable: int = 0


class IntakeRun(IntakeRunBase, table=True):
    __tablename__ = "intake_run"
    id: int | None = Field(default=None, primary_key=True)


class ReceiptBase(SQLModel):
    """One file taken from the inbox. `claim_key` makes taking it exactly-once across concurrent runs."""

    claim_key: str = Field(max_length=160, unique=True)
    sha256: str = Field(max_length=64, index=True)
    file_name: str = Field(max_length=500)
    size: int
    received_at: dt.datetime = Field(default_factory=utcnow)
    state: str = Field(default=ReceiptState.RECEIVED, max_length=20, index=True)  # a ReceiptState
    attempts: int = Field(default=0, description="later runs that took this receipt up again, unfinished")


class Receipt(ReceiptBase, table=True):
    __tablename__ = "receipt"
    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = Field(default=None, foreign_key="intake_run.id")
    submission_id: int | None = Field(default=None, foreign_key="submission.id")


class SubmissionBase(SQLModel):
    sha256: str = Field(max_length=64, unique=True)
    bureau_code: str | None = Field(default=None, foreign_key="bureau.code", max_length=20)
    fiscal_year: int | None = None
    version: int | None = None
    file_name: str = Field(max_length=500)
    size: int
    archive_path: str = Field(max_length=1000)
    status: str = Field(max_length=20, index=True)  # passed, warnings, failed, unreadable
    is_current: bool = Field(default=False, index=True)
    error_count: int = 0
    warning_count: int = 0
    template: str = Field(max_length=100)
    unit: str | None = Field(default=None, max_length=4)
    bureau_name: str | None = Field(default=None, max_length=200)
    contact: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=254)
    submitted_on: dt.date | None = None
    received_at: dt.datetime = Field(default_factory=utcnow)
    processed_at: dt.datetime = Field(default_factory=utcnow)
    outputs_at: dt.datetime | None = Field(default=None, description="when its page (and annotated copy) were written")


class Submission(SubmissionBase, table=True):
    __tablename__ = "submission"
    __table_args__ = (
        UniqueConstraint("bureau_code", "fiscal_year", "version", name="uq_submission_version"),
        Index("ix_submission_bureau_year", "bureau_code", "fiscal_year"),
    )
    id: int | None = Field(default=None, primary_key=True)
    supersedes_id: int | None = Field(default=None, foreign_key="submission.id")
    run_id: int | None = Field(default=None, foreign_key="intake_run.id")


class ExplanationBase(SQLModel):
    """An operator's reason why a warning of a submission stands (`budgetflow explain`): who gave it, and when."""

    submission_id: int = Field(foreign_key="submission.id", index=True)
    rule: str = Field(max_length=60)
    cell: str = Field(max_length=40)
    reason: str
    explained_by: str = Field(max_length=200)
    explained_at: dt.datetime = Field(default_factory=utcnow)


class Explanation(ExplanationBase, table=True):
    __tablename__ = "explanation"
    __table_args__ = (UniqueConstraint("submission_id", "rule", "cell", name="uq_explanation_finding"),)
    id: int | None = Field(default=None, primary_key=True)


class SheetValueBase(SQLModel):
    """One typed value of a submission, keyed by its template's sheet, row and column keys.

    Every sheet of every template lands here, whatever its shape: a grid sheet's (row, column) amounts, a list
    sheet's item rows (keyed by their sheet row number, the 合计 row by `total`), a key/value sheet's fields
    (column ""). Amounts are in 万元; a rate's or a measure's number with the decimals it was written with, a
    measure's text beside it; text values (names, grades, dates as ISO text) in `text`.
    """

    # the link to its submission: a foreign key on SQLite; on PostgreSQL triggers that check each statement's
    # values at once (revision 0007), since the key's check of each value was half of loading's server CPU
    submission_id: int = Field(foreign_key="submission.id")
    sheet: str = Field(max_length=40)
    row: str = Field(max_length=40)
    column: str = Field(max_length=40)
    number: Decimal | None = money()
    text: str | None = Field(default=None, max_length=2000)
    decimals: int | None = None
    title: str = Field(max_length=100, description="the sheet's title in the file")
    cell: str | None = Field(default=None, max_length=12)


class SheetValue(SheetValueBase, table=True):
    __tablename__ = "sheet_value"
    # one submission's values (the period report and the checks between submissions filter its few cells among
    # them); one index on the submission alone: every value loaded updates each index there is, and one over
    # (submission, sheet, row, column) cost the load a third more on PostgreSQL (revision 0006)
    __table_args__ = (Index("ix_sheet_value_submission_id", "submission_id"),)
    id: int | None = Field(default=None, primary_key=True)


class FindingRecordBase(SQLModel):
    submission_id: int = Field(foreign_key="submission.id", index=True)
    position: int
    rule: str = Field(max_length=60, index=True)
    severity: str = Field(max_length=10)
    sheet: str | None = Field(default=None, max_length=100)
    message: str
    expected: str | None = Field(default=None, max_length=100)
    actual: str | None = Field(default=None, max_length=200)
    explanation: str | None = Field(default=None, description="why the warning stands: 已说明, it no longer counts")
    explained_by: str | None = Field(default=None, max_length=200)


class FindingRecord(FindingRecordBase, table=True):
    __tablename__ = "finding"
    id: int | None = Field(default=None, primary_key=True)
    cells: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
