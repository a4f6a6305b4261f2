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
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from checks.addresses import valid_address
from checks.attribution import bureau_of_file, year_of_file
from checks.findings import Status
from checks.period import AMOUNT_FIGURES, Amounts, BureauLine, PeriodReport
from checks.template import FigureCell, TemplateSet
from models import bulk
from models.database import session_scope
from models.tables import (
    Bureau,
    Deadline,
    FindingRecord,
    SheetValue,
    Submission,
    utcnow,
)


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    code: str
    name: str
    email: str | None
    parent: str | None = None  # 主管部门: its name or code


class RegistryError(ValueError):
    """The registry file cannot be read; the message names the file and the line."""


def parse_registry(path: Path) -> tuple[list[RegistryEntry], dict[int, dt.date]]:
    """Bureaus (code, name, email, optional parent) and deadlines from a YAML file, or bureaus from a CSV file."""
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
        parent = " ".join(str(row.get("parent") or "").split()) or None
        if len(code) > 20 or len(name) > 200 or len(parent or "") > 200:
            raise RegistryError(
                f"{path} 第 {number} 条：单位编码最长 20 个字符，单位名称和主管部门（parent）最长 200 个字符"
            )
        if email is not None and not valid_address(email):
            raise RegistryError(f"{path} 第 {number} 条：电子邮箱“{email}”不是有效地址")
        entries.append(RegistryEntry(code, name, email, parent))
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
            "parent": entry.parent,
            "email": entry.email,
            "registry_email": entry.email,
            "registered": True,
            "first_seen": utcnow(),
            "last_seen": utcnow(),
        }
        for entry in entries
    }
    with session_scope(engine) as session:
        if bureaus:
            # a bureau seen before keeps its cover's e-mail and first sighting, and its cover's 主管部门 where the
            # registry names none
            changed = ["name", "parent", "registry_email", "registered"]
            statement = bulk.upsert(session, Bureau, ["code"], changed, kept_when_blank=["parent"])
            session.execute(statement, list(bureaus.values()))
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


Figures = dict[int, dict[str, Decimal | str | None]]  # submission id → figure → its value


def _figures(session: Session, current: Any, templates: dict[str, dict[str, FigureCell]], default: str) -> Figures:
    """Every current submission's headline figures, each from the cell its own template names for it (a template
    no longer at hand: the default template's cells)."""
    wanted = {cell for cells in templates.values() for cell in cells.values()}
    rows = session.execute(
        select(
            col(SheetValue.submission_id),
            col(Submission.template),
            col(SheetValue.sheet),
            col(SheetValue.row),
            col(SheetValue.column),
            col(SheetValue.number),
            col(SheetValue.text),
        )
        .join(current, current.c.id == col(SheetValue.submission_id))
        .join(Submission, col(Submission.id) == col(SheetValue.submission_id))
        .where(
            col(SheetValue.sheet).in_({sheet for sheet, _, _ in wanted}),
            col(SheetValue.row).in_({row for _, row, _ in wanted}),
            col(SheetValue.column).in_({column for _, _, column in wanted}),
        )
    ).all()
    by_cell = {name: {cell: figure for figure, cell in cells.items()} for name, cells in templates.items()}
    figures: Figures = {}
    for submission_id, template, sheet, row, column, number, text in rows:
        figure = by_cell.get(template, by_cell[default]).get((sheet, row, column))
        if figure is not None:
            figures.setdefault(submission_id, {})[figure] = number if number is not None else text
    return figures


def _amount(value: Decimal | str | None) -> Decimal | None:
    return value if isinstance(value, Decimal) else None


def _text(value: Decimal | str | None) -> str | None:
    return value if isinstance(value, str) else None


def _amounts(figure: dict[str, Decimal | str | None]) -> Amounts:
    return Amounts(**{name: _amount(figure.get(name)) for name in AMOUNT_FIGURES})


def _current_of_year(fiscal_year: int) -> tuple[Any, Any]:
    """The conditions that select the current versions of a fiscal year."""
    return col(Submission.fiscal_year) == fiscal_year, col(Submission.is_current).is_(True)


def _ids_of(conditions: tuple[Any, Any]) -> Any:
    """The ids of the submissions the conditions select, as a subquery to join by."""
    return select(col(Submission.id).label("id")).where(*conditions).subquery()


def _last_year(
    session: Session, fiscal_year: int, figure_cells: dict[str, dict[str, FigureCell]], default: str
) -> dict[str, Amounts]:
    """Bureau code → the amounts of its current version of the year before, read as this year's are."""
    of_year = _current_of_year(fiscal_year - 1)
    current = dict(session.execute(select(col(Submission.id), col(Submission.bureau_code)).where(*of_year)).all())
    figures = _figures(session, _ids_of(of_year), figure_cells, default) if current else {}
    return {code: _amounts(figures.get(submission_id, {})) for submission_id, code in current.items() if code}


def period_report(engine: Engine, fiscal_year: int, templates: TemplateSet) -> PeriodReport:
    """Every registered bureau, and every bureau that submitted for the year, with its current version and its
    current version of the year before; its figures are the cells its template names (the first template for a
    submission of a template not given)."""
    figure_cells = {template.name: template.figure_cells() for template in reversed(templates.templates)}
    with Session(engine) as session:
        of_year = _current_of_year(fiscal_year)
        current = {s.bureau_code: s for s in session.execute(select(Submission).where(*of_year)).scalars()}
        current_ids = _ids_of(of_year)
        figures = _figures(session, current_ids, figure_cells, templates.default.name)
        last_year = _last_year(session, fiscal_year, figure_cells, templates.default.name)
        explained = dict(
            session.execute(
                select(col(FindingRecord.submission_id), func.count())
                .where(col(FindingRecord.submission_id).in_(select(current_ids.c.id)))
                .where(col(FindingRecord.explanation).is_not(None))
                .group_by(col(FindingRecord.submission_id))
            ).all()
        )
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
                    BureauLine(bureau.code, bureau.name, parent=bureau.parent, last_year=last_year.get(bureau.code))
                    if found is None
                    else BureauLine(
                        bureau.code,
                        bureau.name,
                        status=found.status,
                        errors=found.error_count,
                        submitted_at=found.received_at,
                        parent=bureau.parent,
                        last_year=last_year.get(bureau.code),
                    )
                )
                continue
            figure = figures.get(submission.id, {})
            total, grade = _amount(figure.get("self_total")), _text(figure.get("grade"))
            lines.append(
                BureauLine(
                    code=bureau.code,
                    name=submission.bureau_name or bureau.name,
                    status=submission.status,
                    version=submission.version,
                    income_total=_amount(figure.get("income_total")),
                    expense_total=_amount(figure.get("expense_total")),
                    budget_total=_amount(figure.get("budget_total")),
                    three_public_budget=_amount(figure.get("three_public_budget")),
                    three_public_actual=_amount(figure.get("three_public_actual")),
                    self_total=total,
                    grade=grade,
                    grade_by_total=grade_findings.get(submission.id) or (grade if total is not None else None),
                    errors=submission.error_count,
                    warnings=submission.warning_count,
                    explained=explained.get(submission.id, 0),
                    submitted_at=submission.received_at,
                    parent=bureau.parent,
                    last_year=last_year.get(bureau.code),
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


def registry_emails(engine: Engine, codes: list[str]) -> dict[str, str]:
    """The registry's address of each of these bureaus that has one."""
    with Session(engine) as session:
        statement = select(col(Bureau.code), col(Bureau.registry_email)).where(col(Bureau.code).in_(codes))
        return {code: email for code, email in session.execute(statement).all() if email}


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
