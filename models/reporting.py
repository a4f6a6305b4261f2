"""The bureau registry, deadlines, and what the reports read from the database."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from checks.addresses import valid_address
from checks.attribution import bureau_of_file, year_of_file
from checks.findings import Status
from checks.period import BureauLine, PeriodReport
from models import bulk
from models.database import session_scope
from models.tables import (
    Bureau,
    Deadline,
    FindingRecord,
    SelfEvaluation,
    Submission,
    SummaryLine,
    ThreePublicLine,
    utcnow,
)


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    code: str
    name: str
    email: str | None


class RegistryError(ValueError):
    """The registry file cannot be read; the message names the file and the line."""


def parse_registry(path: Path) -> tuple[list[RegistryEntry], dict[int, dt.date]]:
    """Bureaus (code, name, email) and deadlines from a YAML file, or bureaus from a CSV file."""
    try:
        return _parse_registry(path)
    except RegistryError:
        raise
    except (yaml.YAMLError, ValueError, TypeError, AttributeError) as exc:
        # YAML syntax, a date YAML reads but the calendar lacks (2024-02-30), not UTF-8, a list where a mapping is due
        raise RegistryError(f"{path}：{' '.join(str(exc).split())}") from exc


def _parse_registry(path: Path) -> tuple[list[RegistryEntry], dict[int, dt.date]]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        deadlines: dict[int, dt.date] = {}
    else:
        document = yaml.safe_load(text) or {}
        if not isinstance(document, dict):
            raise RegistryError(f"{path}: 应为含 bureaus 和 deadlines 的 YAML 映射")
        rows = document.get("bureaus") or []
        deadlines = {int(year): _date(path, due) for year, due in (document.get("deadlines") or {}).items()}
    entries = []
    for number, row in enumerate(rows, start=2 if path.suffix.lower() == ".csv" else 1):
        code = str(row.get("code") or "").strip()
        name = str(row.get("name") or "").strip()
        if not code or not name:
            raise RegistryError(f"{path} 第 {number} 条：单位编码（code）和单位名称（name）必填")
        email = str(row.get("email") or "").strip() or None
        if len(code) > 20 or len(name) > 200:
            raise RegistryError(f"{path} 第 {number} 条：单位编码最长 20 个字符，单位名称最长 200 个字符")
        if email is not None and not valid_address(email):
            raise RegistryError(f"{path} 第 {number} 条：电子邮箱“{email}”不是有效地址")
        entries.append(RegistryEntry(code, name, email))
    if not entries and not deadlines:
        raise RegistryError(f"{path}：没有任何单位（code, name, email）或截止日期")
    return entries, deadlines


def _date(path: Path, value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise RegistryError(f"{path}：截止日期 {value!r} 应写作 2024-03-31") from exc


def import_registry(engine: Engine, entries: list[RegistryEntry], deadlines: dict[int, dt.date]) -> None:
    """Upsert the registered bureaus and the deadlines (bureaus not listed stay as they are)."""
    bureaus = {  # by code, the last entry of a code winning: one statement may not update a row twice
        entry.code: {
            "code": entry.code,
            "name": entry.name,
            "email": entry.email,
            "registry_email": entry.email,
            "registered": True,
            "first_seen": utcnow(),
            "last_seen": utcnow(),
        }
        for entry in entries
    }
    with session_scope(engine) as session:
        if bureaus:  # a bureau seen before keeps its cover's e-mail and first sighting
            session.execute(
                bulk.upsert(session, Bureau, ["code"], ["name", "registry_email", "registered"]), list(bureaus.values())
            )
        if deadlines:
            session.execute(
                bulk.upsert(session, Deadline, ["fiscal_year"], ["due_on"]),
                [{"fiscal_year": year, "due_on": due} for year, due in deadlines.items()],
            )


def deadline_of(engine: Engine, fiscal_year: int) -> dt.date | None:
    with Session(engine) as session:
        found = session.get(Deadline, fiscal_year)
        return found.due_on if found else None


def deadlines_passed(engine: Engine, today: dt.date) -> list[tuple[int, dt.date]]:
    """(fiscal year, deadline) of every deadline before today."""
    with Session(engine) as session:
        rows = session.execute(select(Deadline).where(col(Deadline.due_on) < today).order_by(col(Deadline.fiscal_year)))
        return [(d.fiscal_year, d.due_on) for d in rows.scalars()]


def missing_bureaus(engine: Engine, fiscal_year: int) -> list[Bureau]:
    """Registered bureaus with no readable submission for the year."""
    with Session(engine) as session:
        submitted = select(col(Submission.bureau_code)).where(
            col(Submission.fiscal_year) == fiscal_year, col(Submission.bureau_code).is_not(None)
        )
        statement = (
            select(Bureau)
            .where(col(Bureau.registered).is_(True), col(Bureau.code).not_in(submitted))
            .order_by(col(Bureau.code))
        )
        return list(session.execute(statement).scalars())


SUMMARY_AMOUNTS = (("inc_total", "actual"), ("exp_total", "actual"), ("exp_total", "budget_full"))
THREE_PUBLIC_AMOUNTS = (("total", "budget"), ("total", "actual"))
Amounts = dict[int, dict[tuple[str, str], Decimal | None]]


def _amounts(session: Session, table: Any, current: Any, wanted: tuple[tuple[str, str], ...]) -> Amounts:
    """Submission id → (line, column) → amount, for the `wanted` cells of every current submission."""
    rows = session.execute(
        select(table.submission_id, table.line, table.column, table.amount)
        .join(current, current.c.id == table.submission_id)
        .where(table.line.in_({line for line, _ in wanted}), table.column.in_({column for _, column in wanted}))
    ).all()
    amounts: Amounts = {}
    for submission_id, line, column, amount in rows:
        amounts.setdefault(submission_id, {})[(line, column)] = amount
    return amounts


def period_report(engine: Engine, fiscal_year: int) -> PeriodReport:
    """Every registered bureau, and every bureau that submitted for the year, with its current version."""
    with Session(engine) as session:
        of_year = col(Submission.fiscal_year) == fiscal_year, col(Submission.is_current).is_(True)
        current = {s.bureau_code: s for s in session.execute(select(Submission).where(*of_year)).scalars()}
        current_ids = select(col(Submission.id).label("id")).where(*of_year).subquery()
        summaries = _amounts(session, SummaryLine, current_ids, SUMMARY_AMOUNTS)
        three_public = _amounts(session, ThreePublicLine, current_ids, THREE_PUBLIC_AMOUNTS)
        evaluations = {
            e.submission_id: e
            for e in session.execute(
                select(SelfEvaluation).join(current_ids, current_ids.c.id == col(SelfEvaluation.submission_id))
            ).scalars()
        }
        # the grade rule's finding gives the grade the total calls for, where the stated one is not it
        grade_findings: dict[int, str | None] = {
            submission_id: expected
            for submission_id, expected in session.execute(
                select(col(FindingRecord.submission_id), col(FindingRecord.expected))
                .join(current_ids, current_ids.c.id == col(FindingRecord.submission_id))
                .where(col(FindingRecord.rule).startswith("grade/"))
            ).all()
        }
        bureaus = sorted(
            session.execute(
                select(Bureau).where(col(Bureau.registered).is_(True) | col(Bureau.code).in_(list(current)))
            ).scalars(),
            key=lambda b: b.code,
        )
        unreadable = _unreadable_files_of(session, [b for b in bureaus if b.code not in current], fiscal_year)
        lines = []
        for bureau in bureaus:
            submission = current.get(bureau.code)
            if submission is None or submission.id is None:
                found = unreadable.get(bureau.code)
                lines.append(
                    BureauLine(bureau.code, bureau.name)
                    if found is None
                    else BureauLine(
                        bureau.code,
                        bureau.name,
                        status=found.status,
                        errors=found.error_count,
                        submitted_at=found.received_at,
                    )
                )
                continue
            summary = summaries.get(submission.id, {})
            three = three_public.get(submission.id, {})
            evaluation = evaluations.get(submission.id)
            lines.append(
                BureauLine(
                    code=bureau.code,
                    name=submission.bureau_name or bureau.name,
                    status=submission.status,
                    version=submission.version,
                    income_total=summary.get(("inc_total", "actual")),
                    expense_total=summary.get(("exp_total", "actual")),
                    budget_total=summary.get(("exp_total", "budget_full")),
                    three_public_budget=three.get(("total", "budget")),
                    three_public_actual=three.get(("total", "actual")),
                    self_total=evaluation.total if evaluation else None,
                    grade=evaluation.grade if evaluation else None,
                    grade_by_total=grade_findings.get(submission.id)
                    or (evaluation.grade if evaluation and evaluation.total is not None else None),
                    errors=submission.error_count,
                    warnings=submission.warning_count,
                    submitted_at=submission.received_at,
                )
            )
    return PeriodReport(fiscal_year, lines, deadline_of(engine, fiscal_year))


def _unreadable_files_of(session: Session, bureaus: list[Bureau], fiscal_year: int) -> dict[str, Submission]:
    """Bureau code → the latest file that could not be read and whose name says it is that bureau's for the year
    (its name's year, or none and received in the year after it, when that year is filed)."""
    if not bureaus:
        return {}
    files = session.execute(
        select(Submission)
        .where(col(Submission.status) == Status.UNREADABLE, col(Submission.bureau_code).is_(None))
        .where(col(Submission.received_at) >= dt.datetime(fiscal_year, 1, 1, tzinfo=dt.UTC))
        .order_by(col(Submission.received_at))
    ).scalars()
    named = [(b.code, b.name) for b in bureaus]
    found: dict[str, Submission] = {}
    for submission in files:
        year = year_of_file(submission.file_name)
        if year != fiscal_year and (year is not None or submission.received_at.year != fiscal_year + 1):
            continue
        code = bureau_of_file(submission.file_name, named)
        if code is not None:
            found[code] = submission  # the latest wins
    return found


def registered_names(engine: Engine) -> list[tuple[str, str]]:
    """(code, name) of every bureau in the registry."""
    with Session(engine) as session:
        statement = select(col(Bureau.code), col(Bureau.name)).where(col(Bureau.registered).is_(True))
        return [(code, name) for code, name in session.execute(statement).all()]


def bureau_names(engine: Engine, codes: list[str]) -> dict[str, str]:
    """The name of each bureau code: the registry's, else the cover of its latest submission."""
    with Session(engine) as session:
        found = {
            code: name
            for code, name in session.execute(
                select(col(Submission.bureau_code), col(Submission.bureau_name))
                .where(col(Submission.bureau_code).in_(codes), col(Submission.bureau_name).is_not(None))
                .order_by(col(Submission.id))
            )
        }
        registry = session.execute(select(col(Bureau.code), col(Bureau.name)).where(col(Bureau.code).in_(codes)))
        found.update({code: name for code, name in registry})
    return {code: name for code, name in found.items() if code is not None and name}


def submissions_by_id(engine: Engine, ids: list[int]) -> list[Submission]:
    with Session(engine) as session:
        return list(session.execute(select(Submission).where(col(Submission.id).in_(ids))).scalars())
