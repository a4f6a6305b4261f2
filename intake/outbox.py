"""The outbox: every alert is a database row first, then sent; never lost, never doubled.

`queue_*` insert alerts with a unique `dedupe_key` (one per submission version, one reminder per bureau
and year), so however often a flow runs, an alert is queued once. `deliver_pending` sends what is due,
one row at a time: sent rows are marked `sent`; a failed send stays `pending` with its error and a next
attempt that backs off exponentially. Without an SMTP host, alerts are written as `.eml` files.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from alerts.mail import OutgoingMail, build_message, send, write_eml
from checks.addresses import valid_address
from checks.findings import NEEDS_RESUBMISSION, STATUS_TEXT, FileReport, Severity, Status
from config.settings import SmtpSettings
from models import bulk
from models.database import session_scope
from models.tables import Alert, AlertKind, AlertStatus, Bureau, Submission, utcnow
from reports.html import grouped_by_sheet, render

MAX_BACKOFF = dt.timedelta(hours=6)
NAME_IN_HEADER = 60  # characters of a bureau or file name in a subject or attachment name


@dataclass(frozen=True, slots=True)
class QueuedSubmission:
    """What an alert about a loaded submission needs."""

    submission: Submission
    report: FileReport
    workbook: Path | None  # the annotated copy, attached
    page: Path | None = None


def _insert_once(engine: Engine, alerts: Sequence[Alert]) -> list[int]:
    """Insert alerts whose dedupe key is new; returns the ids of the new ones."""
    if not alerts:
        return []
    rows = [a.model_dump(exclude={"id"}) | {"recipients": list(a.recipients)} for a in alerts]
    statement = bulk.insert_ignoring_conflicts(engine, Alert, ["dedupe_key"]).returning(Alert.id)
    with session_scope(engine) as session:
        return [row.id for row in session.execute(statement, rows).all()]


def _clip(text: str, limit: int = NAME_IN_HEADER) -> str:
    """Bureau-supplied text short enough for a header (the subject column holds 300, headers are cut at 200)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _recipients(*groups: Sequence[str | None]) -> list[str]:
    seen: dict[str, None] = {}
    for group in groups:
        for address in group:
            if address and valid_address(address.strip()):
                seen.setdefault(address.strip(), None)
    return list(seen)


def submission_alert(item: QueuedSubmission, operators: Sequence[str]) -> Alert | None:
    """The alert for a failed or unreadable submission; None when it passed (with or without warnings)."""
    submission, report = item.submission, item.report
    if submission.status not in NEEDS_RESUBMISSION:
        return None
    unreadable = submission.status == Status.UNREADABLE
    # The bureau hears of its own failed checks; an unreadable file has no cover to say who sent it.
    bureau_address = [] if unreadable else [submission.email]
    recipients = _recipients(bureau_address, operators)
    who = submission.bureau_name or submission.bureau_code or submission.file_name
    year = f"{submission.fiscal_year} 年度" if submission.fiscal_year else ""
    subject = f"【报送校验{STATUS_TEXT[submission.status]}】{_clip(who)} {year}（{_clip(submission.file_name)}）"
    errors = [f for f in report.findings if f.severity is Severity.ERROR]
    context = {
        "who": who,
        "year": year,
        "file": submission.file_name,
        "version": submission.version,
        "status_text": STATUS_TEXT[submission.status],
        "errors": len(errors),
        "warnings": report.warnings,
        "groups": grouped_by_sheet(report.findings),
        "bureau_reached": bool(_recipients(bureau_address)),
        "unreadable": unreadable,
    }
    return Alert(
        dedupe_key=f"submission:{submission.id}",
        kind=AlertKind(submission.status),
        submission_id=submission.id,
        bureau_code=submission.bureau_code,
        fiscal_year=submission.fiscal_year,
        recipients=recipients,
        subject=subject,
        body_text=render("alert.txt.j2", **context),
        body_html=render("alert.html.j2", **context),
        attachment_path=str(item.workbook) if item.workbook else None,
        attachment_name=f"{_clip(who)}{year}校验结果{item.workbook.suffix}" if item.workbook else None,
    )


def submission_alerts(
    loaded: Sequence[tuple[Submission, FileReport]],
    operators: Sequence[str],
    attachment_of: Callable[[Submission, FileReport], Path | None],
) -> list[Alert]:
    """The alerts of the failed and unreadable submissions among `loaded` that have someone to tell, each with
    the annotated workbook that will be written for it attached (`attachment_of`)."""
    items = (QueuedSubmission(submission, report, attachment_of(submission, report)) for submission, report in loaded)
    return [a for a in (submission_alert(item, operators) for item in items) if a is not None and a.recipients]


def queue_reminders(
    engine: Engine, fiscal_year: int, due_on: dt.date, missing: Sequence[Bureau], operators: Sequence[str]
) -> int:
    """One reminder per registered bureau that has not submitted by the deadline."""
    alerts = []
    for bureau in missing:
        recipients = _recipients([bureau.registry_email or bureau.email], operators)
        if not recipients:
            continue
        context = {"name": bureau.name, "code": bureau.code, "year": fiscal_year, "due_on": due_on}
        alerts.append(
            Alert(
                dedupe_key=f"reminder:{bureau.code}:{fiscal_year}",
                kind=AlertKind.REMINDER,
                bureau_code=bureau.code,
                fiscal_year=fiscal_year,
                recipients=recipients,
                subject=f"【报送提醒】{_clip(bureau.name)} {fiscal_year} 年度报表尚未报送（截止 {due_on:%Y-%m-%d}）",
                body_text=render("reminder.txt.j2", **context),
                body_html=render("reminder.html.j2", **context),
            )
        )
    return len(_insert_once(engine, alerts))


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    sent: int
    failed: int
    pending: int
    unavailable: bool = False  # the mail server did not answer, or the time for mail ran out: the rest waits
    # Each alert not sent, or sent without some recipients, and why: for the run's log, not part of the counts.
    problems: tuple[str, ...] = field(default=(), compare=False)

    def then(self, later: DeliveryResult) -> DeliveryResult:
        """Two deliveries of one run together: what each sent or failed, and what the later left pending."""
        return DeliveryResult(
            self.sent + later.sent,
            self.failed + later.failed,
            later.pending,
            self.unavailable or later.unavailable,
            self.problems + later.problems,
        )


# Failures that say the server cannot be reached or will not talk to us at all: every other alert of this
# delivery would wait for the same timeout, so they are left for a later run instead.
SERVER_UNAVAILABLE = (
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    smtplib.SMTPConnectError,
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPAuthenticationError,
)


def _due(engine: Engine, now: dt.datetime, ignore_schedule: bool, only: Sequence[int] | None) -> list[int]:
    with Session(engine) as session:
        statement = select(col(Alert.id)).where(col(Alert.status) == AlertStatus.PENDING)
        if not ignore_schedule:
            statement = statement.where(col(Alert.next_attempt_at) <= now)
        if only is not None:
            statement = statement.where(col(Alert.id).in_(only))
        return [i for i in session.execute(statement.order_by(col(Alert.id))).scalars() if i is not None]


def deliver_pending(
    engine: Engine,
    smtp: SmtpSettings,
    outbox_dir: Path,
    *,
    retry_seconds: float = 60.0,
    now: dt.datetime | None = None,
    ignore_schedule: bool = False,
    only: Sequence[int] | None = None,
    deadline: float | None = None,
) -> DeliveryResult:
    """Send every pending alert that is due (of `only`, when given); each in its own transaction, locked
    while it is sent.

    Sending stops at `deadline` (a `time.monotonic()` value: the run's time for mail), and after a failure
    that says the server is unreachable; what is left stays pending, its attempts untouched.
    """
    now = now or utcnow()
    sent = failed = 0
    unavailable = False
    problems: list[str] = []
    for alert_id in _due(engine, now, ignore_schedule, only):
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            unavailable = True
            break
        with session_scope(engine) as session:
            unsent = select(Alert).where(col(Alert.id) == alert_id, col(Alert.status) == AlertStatus.PENDING)
            statement = bulk.locking(session, unsent, skip_locked=True)  # skipped: a concurrent run sends it
            alert = session.execute(statement).scalar_one_or_none()
            if alert is None:
                continue
            try:
                alert.delivered_as = _deliver(alert, smtp, outbox_dir, remaining)[:1000]
            except Exception as exc:  # the server is down or refused: keep it, try again later
                alert.attempts += 1
                alert.last_error = f"{type(exc).__name__}: {exc}"[:1000]
                problems.append(f"提醒 #{alert.id}（{'，'.join(alert.recipients)}）未发出：{alert.last_error}")
                backoff = dt.timedelta(seconds=retry_seconds * 2 ** (alert.attempts - 1))
                alert.next_attempt_at = now + min(backoff, MAX_BACKOFF)
                failed += 1
                unavailable = isinstance(exc, SERVER_UNAVAILABLE)
            else:
                if REFUSED in alert.delivered_as:
                    problems.append(f"提醒 #{alert.id} 已发出，但{alert.delivered_as.partition('；')[2]}")
                alert.status, alert.sent_at = AlertStatus.SENT, utcnow()
                alert.attempts += 1
                sent += 1
            session.add(alert)
        if unavailable:
            break
    with Session(engine) as session:
        pending = len(
            list(session.execute(select(col(Alert.id)).where(col(Alert.status) == AlertStatus.PENDING)).scalars())
        )
    return DeliveryResult(sent, failed, pending, unavailable, tuple(problems))


REFUSED = "被拒收"
# What each kind of alert is about, as operators read it in `budgetflow alerts` and in the .eml file names
# (a file named "-failed" read as a mail that failed to go out).
KIND_TEXT: dict[str, str] = {
    AlertKind.FAILED: "校验未通过",
    AlertKind.UNREADABLE: "无法读取",
    AlertKind.REMINDER: "催报",
}


def _deliver(alert: Alert, smtp: SmtpSettings, outbox_dir: Path, time_left: float | None) -> str:
    mail = OutgoingMail(
        recipients=tuple(alert.recipients),
        subject=alert.subject,
        body_text=alert.body_text,
        body_html=alert.body_html,
        attachment=Path(alert.attachment_path) if alert.attachment_path else None,
        attachment_name=alert.attachment_name,
    )
    message = build_message(mail, smtp)
    if smtp.host is None:
        return str(write_eml(message, outbox_dir, f"{alert.id:06d}-{KIND_TEXT.get(alert.kind, alert.kind)}"))
    refused = send(message, smtp, timeout=None if time_left is None else min(smtp.timeout_seconds, time_left))
    if refused:  # sent to the others; say who did not get it rather than retry and double their mail
        return f"smtp；{REFUSED}：" + "，".join(f"{address} ({code})" for address, (code, _) in refused.items())
    return "smtp"


def list_alerts(engine: Engine, *, pending_only: bool = False) -> list[Alert]:
    with Session(engine) as session:
        statement = select(Alert).order_by(col(Alert.id))
        if pending_only:
            statement = statement.where(col(Alert.status) == AlertStatus.PENDING)
        return list(session.execute(statement).scalars())
