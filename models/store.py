"""Loading submissions into the database exactly once, and reading them back.

Exactly once rests on the database, not on locks of our own: a receipt's `claim_key` is unique (a
delivery is taken by one run), a submission's `sha256` is unique (the same bytes load once), and
`(bureau, year, version)` is unique (versions never collide).

A batch of submissions loads in one transaction — their rows, typed rows, findings and the
receipts' new states, or nothing — with a handful of bulk statements whatever its size. When the
batch collides with a concurrent run (a receipt it finished, a version it took), the transaction
is rolled back and each submission loads in its own transaction instead, where the same unique
keys decide. Either way no submission is ever half loaded.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Table, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session, col

from checks.findings import FileReport, Finding, Severity
from checks.records import ListRow, Located
from checks.records import Submission as ReadSubmission
from models.database import session_scope
from models.tables import (
    Alert,
    Bureau,
    FindingRecord,
    Indicator,
    IntakeRun,
    Project,
    Receipt,
    SelfEvaluation,
    Submission,
    SummaryLine,
    ThreePublicLine,
    utcnow,
)

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


@dataclass(frozen=True, slots=True)
class LoadOutcome:
    """What became of one receipt: `loaded`, `duplicate` (same bytes as an earlier submission) or
    `skipped` (another run loaded it meanwhile)."""

    receipt_id: int
    file_name: str
    outcome: str
    submission_id: int | None
    bureau_code: str | None
    fiscal_year: int | None
    version: int | None
    status: str
    errors: int
    warnings: int
    findings: tuple[Finding, ...] = ()
    alert_id: int | None = None  # the alert queued with it, in the same transaction
    sha256: str = ""  # of the file's bytes


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
    loaded = [o for o in outcomes if o.outcome == "loaded"]
    with session_scope(engine) as session:
        session.execute(
            update(IntakeRun)
            .where(col(IntakeRun.id) == run_id)
            .values(
                finished_at=utcnow(),
                files_seen=files_seen,
                received=sum(o.outcome != "skipped" for o in outcomes),
                loaded=len(loaded),
                duplicates=sum(o.outcome == "duplicate" for o in outcomes),
                passed=sum(o.status == "passed" for o in loaded),
                warnings=sum(o.status == "warnings" for o in loaded),
                failed=sum(o.status == "failed" for o in loaded),
                unreadable=sum(o.status == "unreadable" for o in loaded),
            )
        )


# --- receipts -------------------------------------------------------------------------------------


def _insert_ignoring_conflicts(engine: Engine, table: Any, index_elements: list[str] | None = None) -> Any:
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=index_elements)


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
            "state": "received",
            "run_id": run_id,
        }
        for d in deliveries
    ]
    paths = {d.claim_key: d.archive_path for d in deliveries}
    statement = _insert_ignoring_conflicts(engine, Receipt).returning(
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
            .where(col(Receipt.state) == "received", col(Receipt.run_id) != run_id)
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


# The typed rows and findings of one submission, by table, without their submission id (it is given when
# the submission is loaded). Made where the workbook was read, so that a batch travels back to the loading
# process as plain rows rather than as the reader's objects, which cost that process 0.6 ms a file to unpickle.
TypedRows = dict[Any, list[dict[str, Any]]]


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
    engine: Engine, run_id: int, items: Sequence[LoadItem], alerts_for: AlertsFor = _no_alerts
) -> list[LoadOutcome]:
    """Load a batch in one transaction, with its alerts; if it collides with a concurrent run, each submission
    in its own."""
    if not items:
        return []
    try:
        with session_scope(engine) as session:
            return _load_batch(session, engine, run_id, items, alerts_for)
    except OperationalError:
        raise  # the database is down: the task retries the whole batch
    except (_Collision, DBAPIError):
        # A concurrent run's work, or one submission the database refuses: one at a time, so that the
        # others still load and the refused one fails alone.
        return [load(engine, run_id, item, alerts_for) for item in items]


def _queue_alerts(
    session: Session, engine: Engine, alerts_for: AlertsFor, loaded: Sequence[tuple[Submission, FileReport]]
) -> dict[int, int]:
    """Insert the alerts of the loaded submissions that need one (once per dedupe key); submission id → alert id."""
    needing = [(submission, report) for submission, report in loaded if submission.status in ("failed", "unreadable")]
    alerts = alerts_for(needing) if needing else []
    if not alerts:
        return {}
    rows = [a.model_dump(exclude={"id"}) | {"recipients": list(a.recipients)} for a in alerts]
    statement = _insert_ignoring_conflicts(engine, Alert, ["dedupe_key"]).returning(Alert.id, Alert.submission_id)
    return {row.submission_id: row.id for row in session.execute(statement, rows).all()}


def _load_batch(
    session: Session, engine: Engine, run_id: int, items: Sequence[LoadItem], alerts_for: AlertsFor
) -> list[LoadOutcome]:
    postgres = engine.dialect.name == "postgresql"
    receipt_ids = sorted(item.receipt.id for item in items)
    locked = select(col(Receipt.id), col(Receipt.state)).where(col(Receipt.id).in_(receipt_ids))
    states = dict(session.execute(locked.with_for_update() if postgres else locked).all())
    if any(states.get(receipt_id) != "received" for receipt_id in receipt_ids):
        raise _Collision  # another run finished some of these receipts meanwhile

    shas = list({item.receipt.sha256 for item in items})
    earlier = {
        row.sha256: row for row in session.execute(select(Submission).where(col(Submission.sha256).in_(shas))).scalars()
    }
    _upsert_bureaus(session, engine, items)

    # Versions: after the newest stored one of each (bureau, year), in the order of the batch; the
    # batch's last submission of a (bureau, year) becomes its current version.
    keys = {
        (code, year)
        for item in items
        if (code := _bureau_code(item)) is not None and (year := _fiscal_year(item.read)) is not None
    }
    codes = sorted({code for code, _ in keys})
    newest: dict[tuple[str, int], int] = {}
    current: dict[tuple[str, int], int] = {}
    if codes:
        for code, year, version in session.execute(
            select(col(Submission.bureau_code), col(Submission.fiscal_year), func.max(Submission.version))
            .where(col(Submission.bureau_code).in_(codes))
            .group_by(col(Submission.bureau_code), col(Submission.fiscal_year))
        ):
            if code is not None and year is not None:
                newest[(code, year)] = version or 0
        for submission_id, code, year in session.execute(
            select(col(Submission.id), col(Submission.bureau_code), col(Submission.fiscal_year)).where(
                col(Submission.bureau_code).in_(codes), col(Submission.is_current).is_(True)
            )
        ):
            if (code, year) in keys and submission_id is not None:
                current[(code, year)] = submission_id

    planned: list[dict[str, Any]] = []
    plan_of: list[int | None] = []  # per item: its position in `planned`, or None when it is a duplicate
    duplicate_of: dict[int, int] = {}  # item position → planned position of the same bytes in this batch
    first_with_sha: dict[str, int] = {}
    last_of_key: dict[tuple[str, int], int] = {}
    for position, item in enumerate(items):
        sha = item.receipt.sha256
        if sha in earlier:
            plan_of.append(None)
            continue
        if sha in first_with_sha:
            duplicate_of[position] = first_with_sha[sha]
            plan_of.append(None)
            continue
        code, year = _bureau_code(item), _fiscal_year(item.read)
        version = None
        if code is not None and year is not None:
            version = newest.get((code, year), 0) + 1
            newest[(code, year)] = version
            last_of_key[(code, year)] = len(planned)
        first_with_sha[sha] = len(planned)
        plan_of.append(len(planned))
        planned.append(
            _submission_values(item, run_id, code, year, version, current.get((code, year)) if code and year else None)
        )
    for index in last_of_key.values():
        planned[index]["is_current"] = True

    replaced = [submission_id for key, submission_id in current.items() if key in last_of_key]
    if replaced:
        session.execute(update(Submission).where(col(Submission.id).in_(replaced)).values(is_current=False))
    ids: list[int] = []
    if planned:
        inserted = session.execute(
            insert(Submission).returning(col(Submission.id), sort_by_parameter_order=True), planned
        )
        ids = [row[0] for row in inserted]
        # Within the batch, a later version supersedes the batch's earlier one.
        previous_in_batch: dict[tuple[str, int], int] = {}
        supersedes = []
        for index, values in enumerate(planned):
            key = (values["bureau_code"], values["fiscal_year"])
            if values["version"] is not None and key in previous_in_batch:
                supersedes.append({"id": ids[index], "supersedes_id": ids[previous_in_batch[key]]})
            if values["version"] is not None:
                previous_in_batch[key] = index
        if supersedes:
            session.execute(update(Submission), supersedes)  # bulk update by primary key
    _insert_rows(
        session,
        [(ids[planned_at], item) for item, planned_at in zip(items, plan_of, strict=True) if planned_at is not None],
    )
    alert_of = _queue_alerts(
        session,
        engine,
        alerts_for,
        [
            (Submission(**planned[planned_at], id=ids[planned_at]), item.report)
            for item, planned_at in zip(items, plan_of, strict=True)
            if planned_at is not None and planned[planned_at]["status"] in ("failed", "unreadable")
        ],
    )

    outcomes: list[LoadOutcome] = []
    receipt_updates = []
    for position, item in enumerate(items):
        planned_at = plan_of[position]
        if planned_at is not None:
            outcome = _planned_outcome(item, "loaded", ids[planned_at], planned[planned_at], item.report.findings)
            outcome = replace(outcome, alert_id=alert_of.get(ids[planned_at]))
        elif position in duplicate_of:
            target = duplicate_of[position]
            outcome = _planned_outcome(item, "duplicate", ids[target], planned[target])
        else:
            outcome = _outcome(item.receipt, "duplicate", earlier[item.receipt.sha256])
        outcomes.append(outcome)
        receipt_updates.append(
            {"id": item.receipt.id, "state": outcome.outcome, "submission_id": outcome.submission_id}
        )
    session.execute(update(Receipt), receipt_updates)  # bulk update by primary key
    return outcomes


def _usable_code(code: str | None) -> str | None:
    """The cover's bureau code if the bureau table can hold it (a bad one is already a finding)."""
    return code if code and len(code) <= 20 else None


def _bureau_code(item: LoadItem) -> str | None:
    return None if item.report.status == "unreadable" else _usable_code(item.read.bureau_code)


def _bureau_upsert(engine: Engine) -> Any:
    """INSERT … ON CONFLICT (code) DO UPDATE of a bureau's cover fields, for one or many rows."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(Bureau)
    changed = {k: statement.excluded[k] for k in ("name", "parent", "email", "last_seen")}
    return statement.on_conflict_do_update(index_elements=["code"], set_=changed)


def _upsert_bureaus(session: Session, engine: Engine, items: Sequence[LoadItem]) -> None:
    """Every bureau of the batch's covers, the last cover of each winning; in code order, so that
    concurrent batches lock bureau rows in the same order."""
    latest = {code: _bureau_values(item.read, code) for item in items if (code := _bureau_code(item)) is not None}
    if latest:
        session.execute(_bureau_upsert(engine), [latest[c] for c in sorted(latest)])


def _bureau_values(read: ReadSubmission, code: str) -> dict[str, Any]:
    cover = {key: located.value for key, located in read.cover.items()}
    return {
        "code": code,
        "name": _text(cover.get("bureau_name"), 200) or code,
        "parent": _text(cover.get("parent"), 200),
        "email": _text(cover.get("email"), 254),
        "first_seen": utcnow(),
        "last_seen": utcnow(),
    }


def _submission_values(
    item: LoadItem, run_id: int, code: str | None, year: int | None, version: int | None, previous: int | None
) -> dict[str, Any]:
    receipt, read, report = item.receipt, item.read, item.report
    cover = {key: located.value for key, located in read.cover.items()}
    submitted_on = cover.get("submitted_on")
    return {
        "sha256": receipt.sha256,
        "bureau_code": code,
        "fiscal_year": year,
        "version": version,
        "file_name": receipt.file_name,
        "size": receipt.size,
        "archive_path": receipt.archive_path,
        "status": str(report.status),
        "is_current": False,
        "error_count": report.errors,
        "warning_count": report.warnings,
        "template": read.template,
        "unit": read.unit if report.status != "unreadable" else None,
        "bureau_name": _text(cover.get("bureau_name"), 200),
        "contact": _text(cover.get("contact"), 100),
        "phone": _text(cover.get("phone"), 100),
        "email": _text(cover.get("email"), 254),
        "submitted_on": submitted_on if isinstance(submitted_on, dt.date) else None,
        "received_at": receipt.received_at,
        "supersedes_id": previous,
        "run_id": run_id,
    }


def _planned_outcome(
    item: LoadItem, outcome: str, submission_id: int, values: dict[str, Any], findings: Sequence[Finding] = ()
) -> LoadOutcome:
    return LoadOutcome(
        item.receipt.id,
        item.receipt.file_name,
        outcome,
        submission_id,
        values["bureau_code"],
        values["fiscal_year"],
        values["version"],
        values["status"],
        values["error_count"],
        values["warning_count"],
        tuple(findings),
        sha256=item.receipt.sha256,
    )


def load(engine: Engine, run_id: int, item: LoadItem, alerts_for: AlertsFor = _no_alerts) -> LoadOutcome:
    """Load one submission in one transaction, with its alert; retried when a concurrent run took the same version."""
    for attempt in range(LOAD_ATTEMPTS):
        try:
            with session_scope(engine) as session:
                return _load(session, engine, run_id, item, alerts_for)
        except IntegrityError:
            if attempt == LOAD_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _lock_receipt(session: Session, engine: Engine, receipt_id: int) -> Receipt | None:
    statement = select(Receipt).where(col(Receipt.id) == receipt_id)
    if engine.dialect.name == "postgresql":
        statement = statement.with_for_update()
    return session.execute(statement).scalar_one_or_none()


def _outcome(
    receipt: ClaimedReceipt, outcome: str, submission: Submission, findings: Sequence[Finding] = ()
) -> LoadOutcome:
    return LoadOutcome(
        receipt.id,
        receipt.file_name,
        outcome,
        submission.id,
        submission.bureau_code,
        submission.fiscal_year,
        submission.version,
        submission.status,
        submission.error_count,
        submission.warning_count,
        tuple(findings),
        sha256=receipt.sha256,
    )


def _load(session: Session, engine: Engine, run_id: int, item: LoadItem, alerts_for: AlertsFor) -> LoadOutcome:
    receipt, read, report = item.receipt, item.read, item.report
    row = _lock_receipt(session, engine, receipt.id)
    if row is None or row.state != "received":  # another run finished this receipt meanwhile
        existing = session.get(Submission, row.submission_id) if row and row.submission_id else None
        if existing is None:
            raise LookupError(f"receipt {receipt.id} is gone")
        return _outcome(receipt, "skipped", existing)
    earlier = session.execute(select(Submission).where(col(Submission.sha256) == receipt.sha256)).scalar_one_or_none()
    if earlier is not None:
        row.state, row.submission_id = "duplicate", earlier.id
        return _outcome(receipt, "duplicate", earlier)

    bureau_code = _bureau(session, engine, read) if report.status != "unreadable" else None
    fiscal_year = _fiscal_year(read)
    version, previous = _next_version(session, bureau_code, fiscal_year)
    values = _submission_values(item, run_id, bureau_code, fiscal_year, version, previous.id if previous else None)
    submission = Submission(**{**values, "is_current": version is not None})
    if previous is not None:
        previous.is_current = False
        session.add(previous)
        session.flush()  # one current version at a time, also inside this transaction
    session.add(submission)
    session.flush()
    assert submission.id is not None
    _insert_rows(session, [(submission.id, item)])
    alert_of = _queue_alerts(session, engine, alerts_for, [(submission, report)])
    row.state, row.submission_id = "loaded", submission.id
    return replace(_outcome(receipt, "loaded", submission, report.findings), alert_id=alert_of.get(submission.id))


def _text(value: Any, limit: int) -> str | None:
    return str(value)[:limit] if value not in (None, "") else None


def _fiscal_year(read: ReadSubmission) -> int | None:
    """The cover's year, if an INTEGER column holds it (a wild year is already a format/fiscal-year finding)."""
    year = read.fiscal_year
    return year if year is not None and -(2**31) <= year < 2**31 else None


def _bureau(session: Session, engine: Engine, read: ReadSubmission) -> str | None:
    """Upsert the bureau of the cover and lock it, so its versions are numbered one load at a time."""
    code = _usable_code(read.bureau_code)
    if code is None:
        return None
    session.execute(_bureau_upsert(engine), [_bureau_values(read, code)])
    if engine.dialect.name == "postgresql":
        session.execute(select(col(Bureau.code)).where(col(Bureau.code) == code).with_for_update())
    return code


def _next_version(
    session: Session, bureau_code: str | None, fiscal_year: int | None
) -> tuple[int | None, Submission | None]:
    if bureau_code is None or fiscal_year is None:
        return None, None
    newest = session.execute(
        select(func.max(Submission.version)).where(
            col(Submission.bureau_code) == bureau_code, col(Submission.fiscal_year) == fiscal_year
        )
    ).scalar_one()
    previous = session.execute(
        select(Submission).where(
            col(Submission.bureau_code) == bureau_code,
            col(Submission.fiscal_year) == fiscal_year,
            col(Submission.is_current).is_(True),
        )
    ).scalar_one_or_none()
    return (newest or 0) + 1, previous


def _wan(read: ReadSubmission, located: Located | None) -> Decimal | None:
    value = located.value if located else None
    return read.to_wan(value) if isinstance(value, Decimal) else None


def _cells(values: dict[str, Located]) -> dict[str, str]:
    return {key: located.cell for key, located in values.items() if located.cell}


def _insert_rows(session: Session, submissions: Sequence[tuple[int, LoadItem]]) -> None:
    """Every typed row and finding of the given (id, item), one bulk insert per table."""
    rows: TypedRows = defaultdict(list)
    for submission_id, item in submissions:
        for table, table_rows in item.rows.items():
            rows[table] += [{**row, "submission_id": submission_id} for row in table_rows]
    for table, table_rows in rows.items():
        _insert_many(session, table, table_rows)


def typed_rows(read: ReadSubmission, findings: Sequence[Finding]) -> TypedRows:
    """Every typed row and finding of one submission, by table (see `TypedRows`)."""
    rows: TypedRows = {}
    for table, grid, sheet_key in (
        (SummaryLine, read.summary, "summary"),
        (ThreePublicLine, read.three_public, "three_public"),
    ):
        rows[table] = [
            {
                "line": line,
                "column": column,
                "amount": _wan(read, located),
                "sheet": read.sheets.get(sheet_key, ""),
                "cell": located.cell,
            }
            for (line, column), located in grid.items()
        ]
    rows[Project] = [_project(read, item) for item in read.projects]
    rows[Indicator] = [_indicator(read, item) for item in read.indicators]
    if read.result and "result" in read.sheets:
        rows[SelfEvaluation] = [
            {
                "execution_score": _number(read.result.get("execution_score")),
                "total": _number(read.result.get("total")),
                "grade": _text(read.result["grade"].value if "grade" in read.result else None, 10),
                "sheet": read.sheets["result"],
                "cells": _cells(read.result),
            }
        ]
    rows[FindingRecord] = [
        {
            "position": position,
            "rule": f.rule,
            "severity": str(f.severity),
            "sheet": f.sheet,
            "cells": list(f.cells),
            "message": f.message,
            "expected": f.expected if f.expected is None else f.expected[:100],
            "actual": f.actual if f.actual is None else f.actual[:200],  # it may quote a whole cell's text
        }
        for position, f in enumerate(findings)
    ]
    return {table: table_rows for table, table_rows in rows.items() if table_rows}


def _insert_many(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """The rows (all with the same keys, as `typed_rows` makes them) in one go: COPY on PostgreSQL, one
    executemany on SQLite.

    Not the ORM's bulk insert: it groups rows by which values are None and sends each group as its own
    statement (10,000 statements for 1000 files). Nor a Core insert: it makes each row's parameters in
    Python, a lookup and a type processor call per value (~5 µs a row, the largest cost of loading). Here
    each column's processor, the same one SQLAlchemy would call, is found once per batch.
    """
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    keys = list(rows[0])
    columns = table.__table__.columns
    if any(column.default is not None and column.key not in rows[0] for column in columns):
        session.execute(insert(table.__table__), rows)  # a Python-side default to fill in: SQLAlchemy does it
        return
    if dialect.name == "postgresql":
        _copy_rows(connection, table.__table__, keys, _bound(rows, keys, columns, dialect))
        return
    compiled = insert(table.__table__).compile(dialect=dialect, column_keys=keys, for_executemany=True)
    names = list(compiled.positiontup or ())  # SQLite's parameters, in the statement's column order
    connection.exec_driver_sql(compiled.string, [tuple(row) for row in _bound(rows, names, columns, dialect)])


def _bound(rows: list[dict[str, Any]], names: list[str], columns: Any, dialect: Dialect) -> list[list[Any]]:
    """Each row's values of `names` as the driver takes them, through each column's own bind processor."""
    plan = [(name, columns[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in names]
    return [[row[name] if process is None else process(row[name]) for name, process in plan] for row in rows]


def _copy_rows(connection: Connection, table: Table, names: list[str], values: list[list[Any]]) -> None:
    """PostgreSQL takes the rows by COPY, in the session's transaction: an INSERT per row costs the server a
    parse, a plan and an execution each, and on a small machine the server's CPU is the intake's CPU."""
    dialect = connection.dialect
    preparer = dialect.identifier_preparer
    statement = f"COPY {preparer.format_table(table)} ({', '.join(preparer.quote(name) for name in names)}) FROM STDIN"
    driver = connection.connection.driver_connection
    assert driver is not None
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in values:
                copy.write_row(row)
    except dialect.loaded_dbapi.Error as exc:  # as SQLAlchemy raises it for its own statements
        invalidated = dialect.is_disconnect(exc, driver, None)
        if invalidated:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            statement, None, exc, dialect.loaded_dbapi.Error, connection_invalidated=invalidated, dialect=dialect
        ) from exc


def _number(located: Located | None) -> Decimal | None:
    value = located.value if located else None
    return value if isinstance(value, Decimal) else None


def _project(read: ReadSubmission, item: ListRow) -> dict[str, Any]:
    values = item.values
    rate = values.get("rate")
    return {
        "row": item.row,
        "is_total": item.is_total,
        "name": _text(item.value("name"), 500),
        "budget_initial": _wan(read, values.get("budget_initial")),
        "budget_full": _wan(read, values.get("budget_full")),
        "actual": _wan(read, values.get("actual")),
        "rate": _number(rate),
        "rate_decimals": rate.decimals if rate else None,
        "source": _text(item.value("source"), 200),
        "note": _text(item.value("note"), 1000),
        "sheet": read.sheets.get("projects", ""),
        "cells": _cells(values),
    }


def _indicator(read: ReadSubmission, item: ListRow) -> dict[str, Any]:
    values = item.values
    target, result = values.get("target"), values.get("result")
    return {
        "row": item.row,
        **{key: _text(item.value(key), limit) for key, limit in _INDICATOR_TEXT.items()},
        "target": _number(target),
        "target_text": _text(target.text if target else None, 200),
        "result": _number(result),
        "result_text": _text(result.text if result else None, 200),
        **{key: _number(values.get(key)) for key in ("weight", "score", "numerator", "denominator")},
        "sheet": read.sheets.get("indicators", ""),
        "cells": _cells(values),
    }


_INDICATOR_TEXT = {"level1": 100, "level2": 100, "name": 500, "nature": 10, "unit": 40, "analysis": 2000}


# --- reading back ---------------------------------------------------------------------------------


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
    """The submission's findings as the report validation gave."""
    with Session(engine) as session:
        records = session.execute(
            select(FindingRecord)
            .where(col(FindingRecord.submission_id) == submission.id)
            .order_by(col(FindingRecord.position))
        ).scalars()
        findings = [
            Finding(
                rule=r.rule,
                severity=Severity(r.severity),
                message=r.message,
                sheet=r.sheet,
                cells=tuple(r.cells),
                expected=r.expected,
                actual=r.actual,
            )
            for r in records
        ]
    return FileReport(
        file=submission.file_name,
        sha256=submission.sha256,
        findings=findings,
        unreadable=submission.status == "unreadable",
        bureau_code=submission.bureau_code,
        fiscal_year=submission.fiscal_year,
    )
