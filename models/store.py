"""Loading submissions into the database exactly once, and reading them back.

Exactly once rests on the database, not on locks of our own: a receipt's `claim_key` is unique (a
delivery is taken by one run), a submission's `sha256` is unique (the same bytes load once), and
`(bureau, year, version)` is unique (versions never collide).

A batch of submissions loads in one transaction — their rows, typed rows, findings and the
receipts' new states, or nothing — with a handful of bulk statements whatever its size. When the
batch collides with a concurrent run (a receipt it finished, a version it took), the transaction
is rolled back and each submission loads in its own transaction instead, where the same unique
keys decide. Either way no submission is ever half loaded.

Both ways plan the versions alike (`checks.versions`, against what the transaction reads of the stored ones)
and write the plan alike (`_write_planned`); they differ only in what they lock first. The typed rows come
from `models.rows`, the statements that differ by database from `models.bulk`, and reading submissions back
is `models.queries`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session, col

from checks.findings import NEEDS_RESUBMISSION, FileReport, Finding, Status
from checks.history import is_cross_finding
from checks.records import ReadSubmission
from checks.template import TemplateSet, default_templates
from checks.versions import Arrival, StoredVersions, VersionKey, VersionPlan, plan_versions
from models import bulk
from models.cross_checks import CrossChecked, Recheck, cross_check
from models.database import session_scope
from models.queries import report_in
from models.rows import TypedRows, clipped, storable_year
from models.tables import Alert, Bureau, IntakeRun, Receipt, ReceiptState, Submission, utcnow

LOAD_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Delivery:
    """A file to record: archived, hashed, named as it arrived."""

    claim_key: str
    sha256: str
    file_name: str
    size: int
    archive_path: str


@dataclass(frozen=True, slots=True)
class ClaimedReceipt:
    id: int
    sha256: str
    file_name: str
    size: int
    archive_path: str
    received_at: dt.datetime
    attempts: int = 0  # earlier runs that took it up and did not finish it


class Outcome(StrEnum):
    """What became of one receipt."""

    LOADED = "loaded"
    DUPLICATE = "duplicate"  # the same bytes as an earlier submission
    SKIPPED = "skipped"  # another run loaded it meanwhile


@dataclass(frozen=True, slots=True)
class LoadOutcome:
    """What became of one receipt, and of the submission it is."""

    receipt_id: int
    file_name: str
    outcome: Outcome
    submission_id: int | None
    bureau_code: str | None
    fiscal_year: int | None
    version: int | None
    status: Status
    errors: int
    warnings: int
    findings: tuple[Finding, ...] = ()
    alert_id: int | None = None  # the alert queued with it, in the same transaction
    sha256: str = ""  # of the file's bytes
    rechecks: tuple[Recheck, ...] = ()  # stored versions whose findings between submissions it changed


# An alert for every loaded submission that needs one (failed, unreadable), made as the submission is loaded so
# that the outbox row and the submission are committed together: a crash in between cannot lose an alert.
AlertsFor = Callable[[Sequence[tuple["Submission", FileReport]]], list[Alert]]


def _no_alerts(loaded: Sequence[tuple[Submission, FileReport]]) -> list[Alert]:
    return []


# --- runs -----------------------------------------------------------------------------------------


def start_run(engine: Engine, inbox: str, flow_run_id: str | None) -> int:
    with session_scope(engine) as session:
        run = IntakeRun(inbox=inbox, flow_run_id=flow_run_id)
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id


def finish_run(engine: Engine, run_id: int, files_seen: int, outcomes: Sequence[LoadOutcome]) -> None:
    loaded = [o for o in outcomes if o.outcome is Outcome.LOADED]
    with session_scope(engine) as session:
        session.execute(
            update(IntakeRun)
            .where(col(IntakeRun.id) == run_id)
            .values(
                finished_at=utcnow(),
                files_seen=files_seen,
                received=sum(o.outcome is not Outcome.SKIPPED for o in outcomes),
                loaded=len(loaded),
                duplicates=sum(o.outcome is Outcome.DUPLICATE for o in outcomes),
                passed=sum(o.status == Status.PASSED for o in loaded),
                warnings=sum(o.status == Status.WARNINGS for o in loaded),
                failed=sum(o.status == Status.FAILED for o in loaded),
                unreadable=sum(o.status == Status.UNREADABLE for o in loaded),
            )
        )


# --- receipts -------------------------------------------------------------------------------------


def record_receipts(engine: Engine, run_id: int, deliveries: Sequence[Delivery]) -> list[ClaimedReceipt]:
    """Record each delivery once; returns the ones this run claimed (a concurrent run claims the rest)."""
    if not deliveries:
        return []
    rows = [
        {
            "claim_key": d.claim_key,
            "sha256": d.sha256,
            "file_name": d.file_name,
            "size": d.size,
            "received_at": utcnow(),
            "state": ReceiptState.RECEIVED,
            "run_id": run_id,
        }
        for d in deliveries
    ]
    paths = {d.claim_key: d.archive_path for d in deliveries}
    statement = bulk.insert_ignoring_conflicts(engine, Receipt).returning(
        Receipt.id, Receipt.claim_key, Receipt.sha256, Receipt.file_name, Receipt.size, Receipt.received_at
    )
    with session_scope(engine) as session:
        claimed = session.execute(statement, rows).all()  # only the rows this run inserted come back
    return sorted(
        (ClaimedReceipt(r.id, r.sha256, r.file_name, r.size, paths[r.claim_key], r.received_at) for r in claimed),
        key=lambda receipt: receipt.id,
    )


def pending_receipts(engine: Engine, run_id: int, archive_path_of: Any) -> list[ClaimedReceipt]:
    """Receipts of earlier runs that were archived but never loaded (the run died or the database was down)."""
    with Session(engine) as session:
        rows = session.execute(
            select(Receipt)
            .where(col(Receipt.state) == ReceiptState.RECEIVED, col(Receipt.run_id) != run_id)
            .order_by(col(Receipt.id))
        ).scalars()
        return [
            ClaimedReceipt(
                r.id or 0, r.sha256, r.file_name, r.size, str(archive_path_of(r.sha256)), r.received_at, r.attempts
            )
            for r in rows
        ]


def count_attempts(engine: Engine, receipt_ids: Sequence[int]) -> None:
    """One more run has taken these receipts up (it may die on them too)."""
    if receipt_ids:
        with session_scope(engine) as session:
            session.execute(
                update(Receipt).where(col(Receipt.id).in_(receipt_ids)).values(attempts=col(Receipt.attempts) + 1)
            )


# --- loading --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadItem:
    """One submission to load: its receipt, what was read (the cover at least), its report and its typed rows."""

    receipt: ClaimedReceipt
    read: ReadSubmission
    report: FileReport
    rows: TypedRows
    problem: str | None = None  # what went wrong inside budgetflow or an engine with this file, for the operator

    def __reduce__(self) -> tuple[Any, ...]:
        return (LoadItem, (self.receipt, self.read, self.report, self.rows, self.problem))  # see records.Located


class _Collision(Exception):
    """The batch met a concurrent run's work: load it one submission at a time."""


def load_batch(
    engine: Engine,
    run_id: int,
    items: Sequence[LoadItem],
    alerts_for: AlertsFor = _no_alerts,
    templates: TemplateSet | None = None,
) -> list[LoadOutcome]:
    """Load a batch in one transaction, with its alerts; if it collides with a concurrent run, each submission
    in its own."""
    if not items:
        return []
    try:
        with session_scope(engine) as session:
            return _load_batch(session, run_id, items, alerts_for, templates or default_templates())
    except OperationalError:
        raise  # the database is down: the task retries the whole batch
    except (_Collision, DBAPIError):
        # A concurrent run's work, or one submission the database refuses: one at a time, so that the
        # others still load and the refused one fails alone.
        return [load(engine, run_id, item, alerts_for, templates) for item in items]


def load(
    engine: Engine,
    run_id: int,
    item: LoadItem,
    alerts_for: AlertsFor = _no_alerts,
    templates: TemplateSet | None = None,
) -> LoadOutcome:
    """Load one submission in one transaction, with its alert; retried when a concurrent run took the same version."""
    for attempt in range(LOAD_ATTEMPTS):
        try:
            with session_scope(engine) as session:
                return _load_one(session, run_id, item, alerts_for, templates or default_templates())
        except IntegrityError:
            if attempt == LOAD_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _load_batch(
    session: Session, run_id: int, items: Sequence[LoadItem], alerts_for: AlertsFor, templates: TemplateSet
) -> list[LoadOutcome]:
    receipt_ids = sorted(item.receipt.id for item in items)
    locked = bulk.locking(session, select(col(Receipt.id), col(Receipt.state)).where(col(Receipt.id).in_(receipt_ids)))
    states = dict(session.execute(locked).all())
    if any(states.get(receipt_id) != ReceiptState.RECEIVED for receipt_id in receipt_ids):
        raise _Collision  # another run finished some of these receipts meanwhile
    # Every bureau of the batch's covers, the last cover of each winning; in code order, so that concurrent
    # batches lock bureau rows in the same order (the upsert locks them on PostgreSQL).
    latest = {code: _bureau_values(item.read, code) for item in items if (code := _bureau_code(item)) is not None}
    if latest:
        session.execute(_bureau_upsert(session), [latest[code] for code in sorted(latest)])
    return _write_planned(session, run_id, items, alerts_for, templates)


def _load_one(
    session: Session, run_id: int, item: LoadItem, alerts_for: AlertsFor, templates: TemplateSet
) -> LoadOutcome:
    receipt = item.receipt
    row = session.execute(
        bulk.locking(session, select(Receipt).where(col(Receipt.id) == receipt.id))
    ).scalar_one_or_none()
    if row is None or row.state != ReceiptState.RECEIVED:  # another run finished this receipt meanwhile
        existing = session.get(Submission, row.submission_id) if row and row.submission_id else None
        if existing is None:
            raise LookupError(f"receipt {receipt.id} is gone")
        return _outcome(receipt, Outcome.SKIPPED, existing)
    code = _bureau_code(item)
    if code is not None:
        # The bureau's row, locked: its versions are numbered one load at a time.
        session.execute(_bureau_upsert(session), [_bureau_values(item.read, code)])
        session.execute(bulk.locking(session, select(col(Bureau.code)).where(col(Bureau.code) == code)))
    [outcome] = _write_planned(session, run_id, [item], alerts_for, templates)
    return outcome


def _write_planned(
    session: Session, run_id: int, items: Sequence[LoadItem], alerts_for: AlertsFor, templates: TemplateSet
) -> list[LoadOutcome]:
    """Plan the items' versions against what is stored, and write the plan: the new submissions with their typed
    rows, their checks against other submissions (and the stored ones' that depend on them) and alerts, the
    versions they replace as current, and every receipt's new state."""
    shas = list({item.receipt.sha256 for item in items})
    earlier = {
        row.sha256: row for row in session.execute(select(Submission).where(col(Submission.sha256).in_(shas))).scalars()
    }
    arrivals = [Arrival(item.receipt.sha256, _version_key(item)) for item in items]
    plan = plan_versions(arrivals, earlier, _stored_versions(session, {a.key for a in arrivals if a.key}))
    if plan.no_longer_current:
        # Before the inserts: one current version of a (bureau, year) at a time, also inside this transaction.
        session.execute(
            update(Submission).where(col(Submission.id).in_(plan.no_longer_current)).values(is_current=False)
        )
    planned = [
        _submission_values(items[new.arrival], run_id, new.version, new.supersedes_stored, new.is_current)
        for new in plan.new
    ]
    ids = _insert_submissions(session, plan, planned)
    _insert_rows(session, [(ids[index], items[new.arrival]) for index, new in enumerate(plan.new)])
    checked = cross_check(session, ids, templates)
    for index, new in enumerate(plan.new):
        _with_cross_findings(items[new.arrival].report, planned[index], checked, ids[index])
    to_alert = [
        (Submission(**values, id=ids[index]), items[new.arrival].report)
        for index, (new, values) in enumerate(zip(plan.new, planned, strict=True))
        if values["status"] in NEEDS_RESUBMISSION
    ]
    # a stored version that fails now that another loaded (its carry-over no longer joins) is told too, once
    to_alert += [
        (session.get_one(Submission, recheck.submission_id), report_in(session, recheck.submission_id))
        for recheck in checked.rechecks
        if recheck.status in NEEDS_RESUBMISSION and recheck.previous_status not in NEEDS_RESUBMISSION
    ]
    alert_of = _queue_alerts(session, alerts_for, to_alert)
    rechecks_of = _rechecks_by_cause(checked.rechecks, plan, ids, items)
    outcomes = [
        _planned_outcome(position, item, plan, planned, ids, earlier, alert_of, rechecks_of.get(position, ()))
        for position, item in enumerate(items)
    ]
    session.execute(  # bulk update by primary key
        update(Receipt),
        [
            {"id": item.receipt.id, "state": ReceiptState(outcome.outcome), "submission_id": outcome.submission_id}
            for item, outcome in zip(items, outcomes, strict=True)
        ],
    )
    return outcomes


def _with_cross_findings(report: FileReport, values: dict[str, Any], checked: CrossChecked, submission_id: int) -> None:
    """A new submission's report and row values with its findings between submissions (checks.history)."""
    if submission_id not in checked.findings:
        return
    # replacing those an attempt of this batch that was rolled back gave it (the batch then loads one by one)
    report.findings = [f for f in report.findings if not is_cross_finding(f.rule)] + checked.findings[submission_id]
    status, errors, warnings = checked.counts[submission_id]
    values.update(status=str(status), error_count=errors, warning_count=warnings)


def _rechecks_by_cause(
    rechecks: Sequence[Recheck], plan: VersionPlan, ids: list[int], items: Sequence[LoadItem]
) -> dict[int, tuple[Recheck, ...]]:
    """Each recheck under the batch position of the new version that caused it: the same bureau's year before,
    or one of the parent's units (the first such file of the batch; the batch's first file otherwise)."""
    caused: dict[int, list[Recheck]] = defaultdict(list)
    keys = {(items[new.arrival].read.bureau_code, items[new.arrival].read.fiscal_year): new.arrival for new in plan.new}
    for recheck in rechecks:
        position = keys.get((recheck.bureau_code, (recheck.fiscal_year or 0) - 1))
        caused[position if position is not None else min(keys.values(), default=0)].append(recheck)
    return {position: tuple(found) for position, found in caused.items()}


def _stored_versions(session: Session, keys: set[VersionKey]) -> dict[VersionKey, StoredVersions]:
    """The newest and the current stored version of each (bureau, year)."""
    codes = sorted({code for code, _ in keys})
    if not codes:
        return {}
    newest: dict[VersionKey, int] = {}
    for code, year, version in session.execute(
        select(col(Submission.bureau_code), col(Submission.fiscal_year), func.max(Submission.version))
        .where(col(Submission.bureau_code).in_(codes))
        .group_by(col(Submission.bureau_code), col(Submission.fiscal_year))
    ):
        if (code, year) in keys:
            newest[(code, year)] = version or 0
    current: dict[VersionKey, int] = {}
    for submission_id, code, year in session.execute(
        select(col(Submission.id), col(Submission.bureau_code), col(Submission.fiscal_year)).where(
            col(Submission.bureau_code).in_(codes), col(Submission.is_current).is_(True)
        )
    ):
        if (code, year) in keys and submission_id is not None:
            current[(code, year)] = submission_id
    return {key: StoredVersions(newest.get(key, 0), current.get(key)) for key in newest.keys() | current.keys()}


def _insert_submissions(session: Session, plan: VersionPlan, planned: list[dict[str, Any]]) -> list[int]:
    """The new submissions' rows in one statement; their ids, in the plan's order."""
    if not planned:
        return []
    inserted = session.execute(insert(Submission).returning(col(Submission.id), sort_by_parameter_order=True), planned)
    ids = [row[0] for row in inserted]
    # A later version of the batch supersedes the batch's earlier one, known only now by its id.
    supersedes = [
        {"id": ids[index], "supersedes_id": ids[new.supersedes_new]}
        for index, new in enumerate(plan.new)
        if new.supersedes_new is not None
    ]
    if supersedes:
        session.execute(update(Submission), supersedes)  # bulk update by primary key
    return ids


def _planned_outcome(
    position: int,
    item: LoadItem,
    plan: VersionPlan,
    planned: list[dict[str, Any]],
    ids: list[int],
    earlier: dict[str, Submission],
    alert_of: dict[int, int],
    rechecks: tuple[Recheck, ...] = (),
) -> LoadOutcome:
    if position in plan.repeats_stored:
        return _outcome(item.receipt, Outcome.DUPLICATE, earlier[item.receipt.sha256])
    index = plan.new_of[position]
    values = planned[index]
    repeated = plan.new[index].arrival != position  # the same bytes as a file earlier in the batch
    # From the row's values, not a Submission made of them: that cost ~0.1 ms a file, a tenth of the loading.
    return LoadOutcome(
        item.receipt.id,
        item.receipt.file_name,
        Outcome.DUPLICATE if repeated else Outcome.LOADED,
        ids[index],
        values["bureau_code"],
        values["fiscal_year"],
        values["version"],
        Status(values["status"]),
        values["error_count"],
        values["warning_count"],
        () if repeated else tuple(item.report.findings),
        None if repeated else alert_of.get(ids[index]),
        item.receipt.sha256,
        rechecks,
    )


def _queue_alerts(
    session: Session, alerts_for: AlertsFor, loaded: Sequence[tuple[Submission, FileReport]]
) -> dict[int, int]:
    """Insert the alerts of the loaded submissions that need one (once per dedupe key); submission id → alert id."""
    alerts = alerts_for(loaded) if loaded else []
    if not alerts:
        return {}
    rows = [a.model_dump(exclude={"id"}) | {"recipients": list(a.recipients)} for a in alerts]
    statement = bulk.insert_ignoring_conflicts(session, Alert, ["dedupe_key"]).returning(Alert.id, Alert.submission_id)
    return {row.submission_id: row.id for row in session.execute(statement, rows).all()}


def _insert_rows(session: Session, submissions: Sequence[tuple[int, LoadItem]]) -> None:
    """Every typed row and finding of the given (id, item), one bulk insert per table."""
    tables: dict[Any, tuple[tuple[str, ...], list[tuple[Any, ...]]]] = {}
    for submission_id, item in submissions:
        for table, table_rows in item.rows.items():
            columns, rows = tables.setdefault(table, (("submission_id", *table_rows.columns), []))
            if columns[1:] != table_rows.columns:
                raise ValueError(f"rows of {table.__name__} with other columns: {table_rows.columns}")
            rows += [(submission_id, *row) for row in table_rows.values]
    for table, (columns, rows) in tables.items():
        bulk.insert_many(session, table, columns, rows)


def _outcome(
    receipt: ClaimedReceipt, outcome: Outcome, submission: Submission, findings: Sequence[Finding] = ()
) -> LoadOutcome:
    return LoadOutcome(
        receipt.id,
        receipt.file_name,
        outcome,
        submission.id,
        submission.bureau_code,
        submission.fiscal_year,
        submission.version,
        Status(submission.status),
        submission.error_count,
        submission.warning_count,
        tuple(findings),
        sha256=receipt.sha256,
    )


def _bureau_code(item: LoadItem) -> str | None:
    """The cover's bureau code if the bureau table can hold it (a bad one is already a finding)."""
    code = item.read.bureau_code
    return code if item.report.status is not Status.UNREADABLE and code and len(code) <= 20 else None


def _fiscal_year(read: ReadSubmission) -> int | None:
    return storable_year(read.fiscal_year)


def _version_key(item: LoadItem) -> VersionKey | None:
    code, year = _bureau_code(item), _fiscal_year(item.read)
    return (code, year) if code is not None and year is not None else None


def _bureau_upsert(session: Session) -> Any:
    """INSERT … ON CONFLICT (code) DO UPDATE of a bureau's cover fields, for one or many rows. A cover that leaves
    主管部门 blank keeps the one the registry (or an earlier cover) gave: units roll up and consolidate by it."""
    changed = ["name", "parent", "email", "last_seen"]
    return bulk.upsert(session, Bureau, ["code"], changed, kept_when_blank=["parent"])


def _bureau_values(read: ReadSubmission, code: str) -> dict[str, Any]:
    cover = {key: located.value for key, located in read.cover.items()}
    return {
        "code": code,
        "name": clipped(cover.get("bureau_name"), 200) or code,
        "parent": clipped(cover.get("parent"), 200),
        "email": clipped(cover.get("email"), 254),
        "first_seen": utcnow(),
        "last_seen": utcnow(),
    }


def _submission_values(
    item: LoadItem, run_id: int, version: int | None, supersedes: int | None, is_current: bool
) -> dict[str, Any]:
    receipt, read, report = item.receipt, item.read, item.report
    cover = {key: located.value for key, located in read.cover.items()}
    submitted_on = cover.get("submitted_on")
    return {
        "sha256": receipt.sha256,
        "bureau_code": _bureau_code(item),
        "fiscal_year": _fiscal_year(read),
        "version": version,
        "file_name": receipt.file_name,
        "size": receipt.size,
        "archive_path": receipt.archive_path,
        "status": str(report.status),
        "is_current": is_current,
        "error_count": report.errors,
        "warning_count": report.warnings,
        "template": read.template,
        "unit": read.unit if report.status is not Status.UNREADABLE else None,
        "bureau_name": clipped(cover.get("bureau_name"), 200),
        "contact": clipped(cover.get("contact"), 100),
        "phone": clipped(cover.get("phone"), 100),
        "email": clipped(cover.get("email"), 254),
        "submitted_on": submitted_on if isinstance(submitted_on, dt.date) else None,
        "received_at": receipt.received_at,
        "supersedes_id": supersedes,
        "run_id": run_id,
    }
