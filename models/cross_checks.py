"""The checks between submissions (checks.history) against the database, inside the loading transaction.

When submissions load, each new current version is checked against the same bureau's current version of the
previous year and, for a 主管部门, against its units' current versions; and the stored current versions that
depend on it are checked again: next year's version of the same bureau (its carry-over may now join, or no
longer), and the parent's consolidated workbook of the same year. Their `history/…` and `consolidation/…`
findings are made anew, explained where the bureau's 情况说明 or an operator explained them, and their status
follows. A handful of statements for a whole batch, and none for a batch with nothing to compare.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Select, delete, select, update
from sqlmodel import Session, col

from checks.findings import Finding, Severity, Status, status_of_counts
from checks.history import (
    Compared,
    Explanation,
    Figures,
    bureau_explanations,
    compared_sheets,
    consolidation_findings,
    explained,
    figures_of,
    history_findings,
)
from checks.messages import MESSAGE_CHARACTERS, clip
from checks.period import parent_key
from checks.template import Template, TemplateSet
from models import bulk
from models.rows import TableRows, finding_of, finding_record, storable_year
from models.tables import Bureau, FindingRecord, SheetValue, Submission, utcnow
from models.tables import Explanation as ExplanationRow

NAME_CHARACTERS = 150  # who explained a warning, and the time after it, fit the finding's column of 200
VersionKey = tuple[str | None, int | None]  # (bureau code, fiscal year)
CROSS_RULES = (col(FindingRecord.rule).like("history/%")) | (col(FindingRecord.rule).like("consolidation/%"))


@dataclass(frozen=True, slots=True)
class Recheck:
    """A stored current version whose findings between submissions changed because another one loaded (none
    appeared or went where only their wording changed: they name last year's newer file)."""

    submission_id: int
    bureau_code: str | None
    fiscal_year: int | None
    version: int | None
    file_name: str
    status: Status
    previous_status: Status
    appeared: tuple[Finding, ...] = ()
    gone: tuple[Finding, ...] = ()


@dataclass(slots=True)
class CrossChecked:
    """The findings between submissions of every submission checked (new ones and those checked again), its status
    and counts with them, and what changed for the stored ones."""

    findings: dict[int, list[Finding]] = field(default_factory=dict)
    counts: dict[int, tuple[Status, int, int]] = field(default_factory=dict)  # id → (status, errors, warnings)
    rechecks: list[Recheck] = field(default_factory=list)


def cross_check(session: Session, new_ids: Sequence[int], templates: TemplateSet) -> CrossChecked:
    """Check the new submissions and the stored ones that depend on them (see the module), write their findings
    between submissions and their status; nothing at all where nothing compares."""
    if not new_ids:
        return CrossChecked()
    new = _current(session, select(Submission).where(col(Submission.id).in_(new_ids)))
    if not new:
        return CrossChecked()
    bureaus = _bureaus_around(session, {s.bureau_code for s in new if s.bureau_code})
    affected = {s.id: s for s in new if s.id is not None}
    for dependent in _locked(session, [d for d in _dependents(session, new, bureaus) if d.id not in affected]):
        if dependent.id is not None:
            affected[dependent.id] = dependent
    previous = _previous_years(session, list(affected.values()))
    units = _units_of(session, list(affected.values()), bureaus)
    if not previous and not units:
        return CrossChecked()  # nothing compares: no finding between submissions can stand or go
    compared_ids = {s.id for s in previous.values()} | {u.id for group in units.values() for u in group}
    sheets = {sheet for t in templates.templates for sheet in compared_sheets(t)}
    sheets |= {t.explanations.sheet for t in templates.templates if t.explanations is not None}
    values = _values(session, {*affected, *(i for i in compared_ids if i is not None)}, sheets)
    operator = _operator_explanations(session, list(affected))
    checked = CrossChecked()
    for submission_id, submission in affected.items():
        template = templates.get(submission.template)
        this = figures_of(values.get(submission_id, []))
        found: list[Finding] = []
        if template.name != submission.template:
            checked.findings[submission_id] = found  # read with a template no longer at hand: its keys are unknown
            continue
        last = previous.get(submission_id)
        if last is not None and last.template == submission.template:  # another template's keys are not these
            found += history_findings(template, this, _compared(last, values))
        own_units = units.get(submission_id, [])
        if own_units and all(u.template == submission.template for u in own_units):  # else the sum is short
            found += consolidation_findings(template, this, [_compared(u, values) for u in own_units])
        explanations = _explanations_of(template, values.get(submission_id, []), operator.get(submission_id, []))
        checked.findings[submission_id] = explained(found, explanations)
    _write(session, checked, affected, new_ids)
    return checked


def _locked(session: Session, stored: list[Submission]) -> list[Submission]:
    """The stored versions to check again, their rows locked in id order until the load commits, so that two loads
    that both touch one (two units of a parent) rewrite its findings one after the other; those a concurrent load
    has meanwhile replaced as current are left to it."""
    if not stored:
        return []
    ids = sorted(s.id for s in stored if s.id is not None)
    statement = select(col(Submission.id), col(Submission.is_current)).where(col(Submission.id).in_(ids))
    still = {
        i for i, current in session.execute(bulk.locking(session, statement.order_by(col(Submission.id)))) if current
    }
    return [s for s in stored if s.id in still]


def _current(session: Session, statement: Select[Submission]) -> list[Submission]:
    """The readable current versions among the statement's submissions, with a bureau and a year."""
    rows = session.execute(statement).scalars()
    return [
        s
        for s in rows
        if s.is_current and s.bureau_code and s.fiscal_year is not None and s.status != Status.UNREADABLE
    ]


@dataclass(frozen=True, slots=True)
class _Bureaus:
    """The bureaus around the new submissions': each one's parent's code, and each parent's units."""

    parent_of: dict[str, str]  # unit code → parent bureau code
    units_of: dict[str, list[str]]  # parent code → unit codes


def _bureaus_around(session: Session, codes: set[str]) -> _Bureaus:
    """The parents of the batch's bureaus and the units of every one of them: three look-ups by name or code, so
    that a batch reads the few bureaus it concerns, not every bureau with a 主管部门."""
    if not codes:
        return _Bureaus({}, {})
    own = list(session.execute(select(Bureau).where(col(Bureau.code).in_(sorted(codes)))).scalars())
    named = sorted({b.parent for b in own if b.parent})  # a unit names its parent by its name or its code
    parents = (
        list(session.execute(select(Bureau).where(col(Bureau.code).in_(named) | col(Bureau.name).in_(named))).scalars())
        if named
        else []
    )
    heads = {b.code: b for b in [*own, *parents]}  # every bureau that may have units here
    code_of = {parent_key(b.name): code for code, b in heads.items()} | {parent_key(code): code for code in heads}
    names = sorted({text for b in heads.values() for text in (b.name, b.code)})
    units = session.execute(select(Bureau).where(col(Bureau.parent).in_(names))).scalars()
    parent_of: dict[str, str] = {}
    units_of: dict[str, list[str]] = defaultdict(list)
    for bureau in {b.code: b for b in [*own, *units]}.values():
        parent = code_of.get(parent_key(bureau.parent)) if bureau.parent else None
        if parent is not None and parent != bureau.code:
            parent_of[bureau.code] = parent
            units_of[parent].append(bureau.code)
    return _Bureaus(parent_of, dict(units_of))


def _dependents(session: Session, new: list[Submission], bureaus: _Bureaus) -> list[Submission]:
    """The stored current versions a new one changes the comparison of: the same bureau's next year, and its
    parent's consolidated workbook of the same year."""
    wanted: set[VersionKey] = {(s.bureau_code, (s.fiscal_year or 0) + 1) for s in new}
    wanted |= {(bureaus.parent_of[s.bureau_code], s.fiscal_year) for s in new if s.bureau_code in bureaus.parent_of}
    return _current_of(session, wanted)


def _current_of(session: Session, keys: set[VersionKey]) -> list[Submission]:
    codes = sorted({code for code, _ in keys if code})
    if not codes:
        return []
    statement = select(Submission).where(col(Submission.bureau_code).in_(codes), col(Submission.is_current).is_(True))
    return [s for s in _current(session, statement) if (s.bureau_code, s.fiscal_year) in keys]


def _previous_years(session: Session, submissions: list[Submission]) -> dict[int, Submission]:
    """Each submission's bureau's current version of the previous year, by the submission's id."""
    found = {(s.bureau_code, s.fiscal_year): s for s in _current_of(session, _year_before(submissions))}
    return {
        s.id: found[(s.bureau_code, (s.fiscal_year or 0) - 1)]
        for s in submissions
        if s.id is not None and (s.bureau_code, (s.fiscal_year or 0) - 1) in found
    }


def _year_before(submissions: Iterable[Submission]) -> set[VersionKey]:
    return {(s.bureau_code, (s.fiscal_year or 0) - 1) for s in submissions}


def _units_of(session: Session, submissions: list[Submission], bureaus: _Bureaus) -> dict[int, list[Submission]]:
    """The current versions of each parent's units for the parent's year, by the parent's submission id: only once
    every unit has one, since a sum short of a unit that has not submitted yet would always differ."""
    parents = [s for s in submissions if s.bureau_code in bureaus.units_of]
    wanted: set[VersionKey] = {(unit, s.fiscal_year) for s in parents for unit in bureaus.units_of[s.bureau_code or ""]}
    found = {(s.bureau_code, s.fiscal_year): s for s in _current_of(session, wanted)}
    grouped: dict[int, list[Submission]] = {}
    for parent in parents:
        keys = [(unit, parent.fiscal_year) for unit in sorted(bureaus.units_of[parent.bureau_code or ""])]
        if parent.id is not None and all(key in found for key in keys):
            grouped[parent.id] = [found[key] for key in keys]
    return grouped


def _values(session: Session, ids: set[int], sheets: set[str]) -> dict[int, list[dict[str, object]]]:
    """The long table's values of the given submissions on the given sheets, by submission."""
    found: dict[int, list[dict[str, object]]] = defaultdict(list)
    if not ids or not sheets:
        return found
    rows = session.execute(
        select(
            col(SheetValue.submission_id),
            col(SheetValue.sheet),
            col(SheetValue.row),
            col(SheetValue.column),
            col(SheetValue.number),
            col(SheetValue.text),
            col(SheetValue.cell),
            col(SheetValue.title),
        ).where(col(SheetValue.submission_id).in_(sorted(ids)), col(SheetValue.sheet).in_(sorted(sheets)))
    )
    for row in rows:
        found[row.submission_id].append(dict(row._mapping))
    return found


def _compared(submission: Submission, values: dict[int, list[dict[str, object]]]) -> Compared:
    figures: Figures = figures_of(values.get(submission.id or 0, []))
    bureau = submission.bureau_name or submission.bureau_code or ""
    return Compared(bureau, submission.fiscal_year, submission.file_name, submission.version, figures)


def _operator_explanations(session: Session, ids: list[int]) -> dict[int, list[Explanation]]:
    found: dict[int, list[Explanation]] = defaultdict(list)
    rows = session.execute(select(ExplanationRow).where(col(ExplanationRow.submission_id).in_(ids))).scalars()
    for row in rows:
        found[row.submission_id].append(operator_explanation(row))
    return found


def operator_explanation(row: ExplanationRow) -> Explanation:
    when = row.explained_at.strftime("%Y-%m-%d %H:%M")  # the finding's `explained_by` column holds 200
    return Explanation(row.reason, f"{clip(row.explained_by, NAME_CHARACTERS)}，{when}", rule=row.rule, cell=row.cell)


def _explanations_of(
    template: Template, values: list[dict[str, object]], operator: list[Explanation]
) -> list[Explanation]:
    """The operator's explanations first (they are the later word), then the bureau's own 情况说明."""
    texts = ((str(v["sheet"]), str(v["row"]), str(v["column"]), v["text"]) for v in values)
    return [*operator, *bureau_explanations(template, texts)]


def _write(session: Session, checked: CrossChecked, affected: dict[int, Submission], new_ids: Sequence[int]) -> None:
    """Replace the findings between submissions of every checked submission, and set its status and counts."""
    ids = sorted(checked.findings)
    old: dict[int, list[Finding]] = defaultdict(list)
    for record in session.execute(
        select(FindingRecord).where(col(FindingRecord.submission_id).in_(ids), CROSS_RULES)
    ).scalars():
        old[record.submission_id].append(finding_of(record))
    own: dict[int, list[tuple[str, str | None]]] = defaultdict(list)  # the rest of its findings: what they weigh
    last_position: dict[int, int] = {}
    for submission_id, severity, explanation, position in session.execute(
        select(
            col(FindingRecord.submission_id),
            col(FindingRecord.severity),
            col(FindingRecord.explanation),
            col(FindingRecord.position),
        ).where(col(FindingRecord.submission_id).in_(ids), ~CROSS_RULES)
    ):
        own[submission_id].append((severity, explanation))
        last_position[submission_id] = max(last_position.get(submission_id, -1), position)
    if old:
        session.execute(delete(FindingRecord).where(col(FindingRecord.submission_id).in_(sorted(old)), CROSS_RULES))
    rows = [
        {"submission_id": submission_id, "position": last_position.get(submission_id, -1) + offset, **finding_record(f)}
        for submission_id in ids
        for offset, f in enumerate(checked.findings[submission_id], 1)
    ]
    if rows:
        added = TableRows.of_dicts(rows)
        bulk.insert_many(session, FindingRecord, added.columns, added.values)
    fresh = set(new_ids)
    updates = []
    for submission_id in ids:
        submission, found = affected[submission_id], checked.findings[submission_id]
        errors = sum(s == Severity.ERROR for s, _ in own[submission_id]) + sum(
            f.severity is Severity.ERROR for f in found
        )
        warnings = sum(s == Severity.WARNING and e is None for s, e in own[submission_id])
        warnings += sum(f.severity is Severity.WARNING and f.counts for f in found)
        status = status_of_counts(errors, warnings)
        checked.counts[submission_id] = (status, errors, warnings)
        before = Status(submission.status)
        changed = _signature(old[submission_id]) != _signature(found)
        # the same finding naming last year's newer file: no news for the operator, but its page says it anew
        reworded = [f.message for f in old[submission_id]] != [f.message for f in found]
        if submission_id not in fresh and (changed or reworded):
            appeared = [f for f in found if _same(f) not in _signature(old[submission_id])]
            gone = [f for f in old[submission_id] if _same(f) not in _signature(found)]
            checked.rechecks.append(
                Recheck(
                    submission_id,
                    submission.bureau_code,
                    submission.fiscal_year,
                    submission.version,
                    submission.file_name,
                    status,
                    before,
                    tuple(appeared),
                    tuple(gone),
                )
            )
        if submission_id in fresh or changed or reworded or status != before:
            values: dict[str, object] = {"id": submission_id, "status": str(status)}
            values |= {"error_count": errors, "warning_count": warnings}
            if submission_id not in fresh:
                values["outputs_at"] = None  # its page and annotated copy are written again with the new findings
            updates.append(values)
    if updates:
        session.execute(update(Submission), updates)  # bulk update by primary key


def _same(finding: Finding) -> tuple[str, tuple[str, ...], str | None, str | None]:
    """What makes a finding between submissions the same one: its rule, its cells and the two values compared."""
    return finding.rule, finding.cells, finding.expected, finding.actual


def _signature(findings: Iterable[Finding]) -> set[tuple[str, tuple[str, ...], str | None, str | None]]:
    return {_same(f) for f in findings}


# --- an operator's explanation --------------------------------------------------------------------


class NotExplainable(ValueError):
    """The finding named cannot be explained: there is none such, or it is an error (corrected, never explained)."""


def explain_warning(session: Session, submission_id: int, rule: str, cell: str, reason: str, by: str) -> list[Finding]:
    """Record an operator's reason why the submission's `rule` warning at `cell` stands, mark it 已说明 and set the
    submission's status and counts without it; the findings it explained. Its outputs are to be written again."""
    wanted = Explanation(reason, by, rule=rule, cell=_plain_reference(cell))
    # the submission's row first: a load checking it again at the same time rewrites its findings after this
    session.execute(bulk.locking(session, select(col(Submission.id)).where(col(Submission.id) == submission_id)))
    records = session.execute(
        select(FindingRecord).where(col(FindingRecord.submission_id) == submission_id, col(FindingRecord.rule) == rule)
    ).scalars()
    named = [r for r in records if wanted.covers(finding_of(r))]
    if not named:
        raise NotExplainable(f"提交 #{submission_id} 没有规则 {rule} 在单元格 {cell} 的问题")
    if any(r.severity == Severity.ERROR for r in named):
        raise NotExplainable(f"{rule} 在 {cell} 是错误：错误须更正后重新报送，不能以说明代替")
    reason, by = clip(reason, MESSAGE_CHARACTERS), clip(by, NAME_CHARACTERS)
    row = {"submission_id": submission_id, "rule": rule, "cell": wanted.cell, "reason": reason, "explained_by": by}
    changed = ["reason", "explained_by", "explained_at"]  # a second explanation of the same finding is the word
    statement = bulk.upsert(session, ExplanationRow, ["submission_id", "rule", "cell"], changed)
    session.execute(statement, [row | {"explained_at": utcnow()}])
    stored = session.execute(
        select(ExplanationRow).where(
            col(ExplanationRow.submission_id) == submission_id,
            col(ExplanationRow.rule) == rule,
            col(ExplanationRow.cell) == wanted.cell,
        )
    ).scalar_one()
    explanation = operator_explanation(stored)
    for record_ in named:
        record_.explanation, record_.explained_by = explanation.reason, explanation.by
    session.flush()
    counts = session.execute(
        select(col(FindingRecord.severity), col(FindingRecord.explanation)).where(
            col(FindingRecord.submission_id) == submission_id
        )
    ).all()
    errors = sum(severity == Severity.ERROR for severity, _ in counts)
    warnings = sum(severity == Severity.WARNING and explained_ is None for severity, explained_ in counts)
    status = status_of_counts(errors, warnings)
    session.execute(
        update(Submission)
        .where(col(Submission.id) == submission_id)
        .values(status=str(status), error_count=errors, warning_count=warnings, outputs_at=None)
    )
    return [finding_of(r) for r in named]


def _plain_reference(cell: str) -> str:
    """A cell as the operator typed it (`c12`, `$C$12`, `收支总表!C12`) as a finding's cells name it (`C12`)."""
    return cell.rsplit("!", 1)[-1].replace("$", "").strip().upper()


def history_of_file(
    session: Session, template: Template, values: Sequence[dict[str, object]], bureau_code: str, fiscal_year: int
) -> list[Finding]:
    """A file not loaded (`budgetflow validate`) against the bureau's current version of the previous year: its
    `history/…` findings, explained where its own 情况说明 explains them. `values` are its long-table rows."""
    if storable_year(fiscal_year - 1) is None:
        return []  # a wild year (its own format/fiscal-year finding) has no year before in the database
    [*found] = _current_of(session, {(bureau_code, fiscal_year - 1)})
    if not found or found[0].template != template.name:
        return []
    last = found[0]
    stored = _values(session, {last.id or 0}, compared_sheets(template))
    findings = history_findings(template, figures_of(values), _compared(last, stored))
    texts = ((str(v["sheet"]), str(v["row"]), str(v["column"]), v["text"]) for v in values)
    return explained(findings, bureau_explanations(template, texts))
