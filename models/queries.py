"""Reading loaded submissions back: listings, one submission by id or hash, its findings, and the bookkeeping of
the outputs written for it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, select, update
from sqlmodel import Session, col

from checks.findings import FileReport, Status
from models.database import session_scope
from models.rows import finding_of
from models.tables import FindingRecord, Submission, utcnow


def list_submissions(
    engine: Engine, *, year: int | None = None, bureau: str | None = None, all_versions: bool = False
) -> list[Submission]:
    """Submissions by bureau, year and version; only current ones (and unattributed files) unless asked."""
    statement = select(Submission)
    if year is not None:
        statement = statement.where(col(Submission.fiscal_year) == year)
    if bureau is not None:
        statement = statement.where(col(Submission.bureau_code) == bureau)
    if not all_versions:
        statement = statement.where(col(Submission.is_current).is_(True) | col(Submission.version).is_(None))
    statement = statement.order_by(
        col(Submission.bureau_code).is_(None),
        col(Submission.bureau_code),
        col(Submission.fiscal_year),
        col(Submission.version),
        col(Submission.id),
    )
    with Session(engine) as session:
        return list(session.execute(statement).scalars())


def without_outputs(engine: Engine) -> list[Submission]:
    """Loaded submissions whose page (and annotated copy) were never written: their run died before it."""
    with Session(engine) as session:
        return list(
            session.execute(
                select(Submission).where(col(Submission.outputs_at).is_(None)).order_by(col(Submission.id))
            ).scalars()
        )


def outputs_written(engine: Engine, submission_ids: Sequence[int]) -> None:
    if submission_ids:
        with session_scope(engine) as session:
            session.execute(
                update(Submission).where(col(Submission.id).in_(submission_ids)).values(outputs_at=utcnow())
            )


def find_submission(engine: Engine, ident: str) -> Submission | None:
    """A submission by id, or by a unique prefix of its sha256 (at least 6 characters)."""
    with Session(engine) as session:
        if ident.isdigit() and len(ident) < 12:
            found = session.get(Submission, int(ident))
            if found is not None:
                return found
        if len(ident) < 6:
            return None
        matches = list(
            session.execute(
                select(Submission).where(col(Submission.sha256).startswith(ident.lower())).limit(2)
            ).scalars()
        )
        return matches[0] if len(matches) == 1 else None


def report_of(engine: Engine, submission: Submission) -> FileReport:
    """The submission's findings as the checks gave them (those between submissions as they stand now)."""
    with Session(engine) as session:
        return _report(session, submission)


def report_in(session: Session, submission_id: int) -> FileReport:
    """`report_of` inside a transaction under way (it sees the transaction's own rows)."""
    return _report(session, session.get_one(Submission, submission_id))


def _report(session: Session, submission: Submission) -> FileReport:
    records = session.execute(
        select(FindingRecord)
        .where(col(FindingRecord.submission_id) == submission.id)
        .order_by(col(FindingRecord.position))
    ).scalars()
    return FileReport(
        file=submission.file_name,
        sha256=submission.sha256,
        findings=[finding_of(r) for r in records],
        unreadable=submission.status == Status.UNREADABLE,
        bureau_code=submission.bureau_code,
        fiscal_year=submission.fiscal_year,
        template=submission.template,
    )
