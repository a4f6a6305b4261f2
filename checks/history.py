"""Checks between submissions: a bureau against its own previous year (`history/…`), a 主管部门's own workbook
against the sum of its units' (`consolidation/…`), and the explanations that make a warning 已说明.

Pure functions over figures, the amounts of the long table of values (万元) with their cells: the database
adapter (`models.cross_checks`) and `budgetflow validate` give them, and tests can too without a database.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from checks.findings import Finding, Severity
from checks.template import ANY_ROW, Template, split_cell

CROSS_FAMILIES = ("history", "consolidation")  # findings that depend on other submissions: made anew on each change
CARRY_OVER, CHANGE, CONSOLIDATION = "history/carry-over", "history/change", "consolidation/units"
BUREAU_EXPLAINS = "单位情况说明"  # who explained a warning in the workbook's own 情况说明 sheet
_CELL = re.compile(r"^(?:(?P<sheet>.+)!)?\$?(?P<col>[A-Za-z]{1,3})\$?(?P<row>[0-9]{1,7})$")
_CENT = Decimal("0.01")

CellKey = tuple[str, str, str]  # (sheet, row, column) of the long table of values


@dataclass(frozen=True, slots=True)
class Figure:
    """An amount of a submission (万元), with the A1 cell and the sheet title it was read from."""

    number: Decimal
    cell: str | None
    title: str


Figures = dict[CellKey, Figure]


@dataclass(frozen=True, slots=True)
class Compared:
    """Another submission a check compares with: whose it is, which file, and its figures."""

    bureau: str  # its code, or its name where known
    fiscal_year: int | None
    file_name: str
    version: int | None
    figures: Figures


def is_cross_finding(rule: str) -> bool:
    return rule.split("/", 1)[0] in CROSS_FAMILIES


def figures_of(rows: Iterable[Mapping[str, object]]) -> Figures:
    """The figures among rows of the long table of values (`sheet`, `row`, `column`, `number`, `cell`, `title`)."""
    found: Figures = {}
    for row in rows:
        number = row["number"]
        if isinstance(number, Decimal):
            key = (str(row["sheet"]), str(row["row"]), str(row["column"]))
            found[key] = Figure(number, _text_or_none(row["cell"]), str(row["title"] or ""))
    return found


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def compared_sheets(template: Template) -> set[str]:
    """The sheets whose values the checks between submissions read."""
    cells = [*template.history.change, *template.consolidation.cells]
    cells += [place for pair in template.history.carry_over for place in (pair.this, pair.last)]
    return {split_cell(place)[0] for place in cells}


def _matching(place: str, this: Figures, other: Figures) -> list[tuple[CellKey, CellKey]]:
    """(this key, other key) of a template cell; a row `*` stands for every row both hold."""
    return _pairs(place, place, this, other)


def _pairs(this_place: str, other_place: str, this: Figures, other: Figures) -> list[tuple[CellKey, CellKey]]:
    this_sheet, this_row, this_column = split_cell(this_place)
    other_sheet, other_row, other_column = split_cell(other_place)
    if this_row != ANY_ROW:
        return [((this_sheet, this_row, this_column), (other_sheet, other_row, other_column))]
    rows = [row for sheet, row, column in this if sheet == this_sheet and column == this_column]
    return [((this_sheet, row, this_column), (other_sheet, row, other_column)) for row in rows]


def _label(template: Template, key: CellKey) -> str:
    sheet_key, row, column = key
    sheet = template.sheets.get(sheet_key)
    if sheet is None:
        return f"{row} {column}"
    row_label = sheet.label_of(row) if row in sheet.rows else row  # a code table's row is its code
    return f"{sheet.title}“{row_label}”（{sheet.label_of(column)}）"


def _where(compared: Compared) -> str:
    version = f"第 {compared.version} 版，" if compared.version else ""
    return f"{compared.fiscal_year} 年度，{version}文件 {compared.file_name}"


def _exact(number: Decimal) -> str:
    """An amount as exact text without trailing zeros, whatever the database gave back (500, 500.00)."""
    return format(number.normalize(), "f")


def _amount(number: Decimal) -> str:
    return f"{number.quantize(_CENT, rounding=ROUND_HALF_UP):,}"


def _finding(rule: str, severity: Severity, message: str, on: Figure, expected: Decimal) -> Finding:
    """A finding on the figure that is to be corrected or explained, with the amount it was compared with."""
    cells = (on.cell,) if on.cell else ()
    return Finding(
        rule, severity, message, on.title or None, cells, expected=_exact(expected), actual=_exact(on.number)
    )


def history_findings(
    template: Template, this: Figures, last: Compared, tolerance: float | None = None
) -> list[Finding]:
    """This year's figures against last year's current version of the same bureau: the carry-over that must join
    (an error on this year's cell), and the amounts that moved more than the template's share (a warning)."""
    spec = template.history
    allowed = Decimal(str(template.tolerances.ceiling if tolerance is None else tolerance))
    found: list[Finding] = []
    for pair in spec.carry_over:
        for this_key, last_key in _pairs(pair.this, pair.last, this, last.figures):
            now, before = this.get(this_key), last.figures.get(last_key)
            if now is None or before is None or abs(now.number - before.number) <= allowed:
                continue  # a column filled in one year only is no carry-over to compare
            message = (
                f"{_label(template, this_key)} {_amount(now.number)} 万元，与上年（{_where(last)}）"
                f"{_label(template, last_key)} {_amount(before.number)} 万元不一致，两年账目无法衔接"
            )
            found.append(_finding(CARRY_OVER, spec.carry_over_severity, message, now, before.number))
    share = Decimal(str(spec.change_share))
    for place in spec.change:
        for this_key, last_key in _matching(place, this, last.figures):
            now, before = this.get(this_key), last.figures.get(last_key)
            if now is None or before is None or before.number == 0:
                continue  # from nothing, a change has no share
            moved = (now.number - before.number) / abs(before.number)
            if abs(moved) <= share:
                continue
            percent = (moved * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
            message = (
                f"{_label(template, this_key)} {_amount(now.number)} 万元，上年（{_where(last)}）"
                f"{_amount(before.number)} 万元，变动 {percent:+}%，超过 {share * 100:g}%，请说明原因"
            )
            found.append(_finding(CHANGE, spec.change_severity, message, now, before.number))
    return found


def consolidation_findings(template: Template, parent: Figures, units: Sequence[Compared]) -> list[Finding]:
    """A 主管部门's own (consolidated) figures against the sum of its units' current versions."""
    spec = template.consolidation
    if not units:
        return []
    allowed = Decimal(str(template.tolerances.sum_per_term)) * len(units)
    found: list[Finding] = []
    for place in spec.cells:
        key = split_cell(place)
        own = parent.get(key)
        given = [unit.figures[key].number for unit in units if key in unit.figures]
        if own is None or not given:
            continue  # nothing to compare: the parent's cell is blank, or no unit filled it
        total = sum(given, Decimal(0))
        if abs(own.number - total) <= allowed:
            continue
        names = "、".join(unit.bureau for unit in units)
        message = (
            f"{_label(template, key)} 合并数 {_amount(own.number)} 万元，与所属 {len(units)} 个单位"
            f"（{names}）本年现行版本合计 {_amount(total)} 万元不一致，相差 {_amount(own.number - total)} 万元"
        )
        found.append(_finding(CONSOLIDATION, spec.severity, message, own, total))
    return found


# --- explanations ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why warnings stand: those of `rule` (any rule where None) at `cell` (any cell where None) on `sheet`."""

    reason: str
    by: str
    rule: str | None = None
    cell: str | None = None
    sheet: str | None = None

    def covers(self, finding: Finding) -> bool:
        if self.rule is not None and self.rule != finding.rule:
            return False
        if self.sheet is not None and self.sheet != finding.sheet:
            return False
        return self.cell is None or any(_plain_cell(cell) == self.cell for cell in finding.cells)


def _plain_cell(cell: str) -> str:
    return cell.split(":", 1)[0].replace("$", "").upper()


def reference_of(text: str, reason: str, by: str) -> Explanation | None:
    """What a bureau's 情况说明 row names: a rule id (`history/change`) or a cell (`C12`, `收支总表!C12`)."""
    reference = unicodedata.normalize("NFKC", text).strip()  # full-width Ｃ６ and ！ as typed by an IME
    if not reference or not reason.strip():
        return None
    if "/" in reference and "!" not in reference:
        return Explanation(reason.strip(), by, rule=reference.lower())  # rule ids are lower case
    match = _CELL.match(reference)
    if match is None:
        return None
    sheet = (match["sheet"] or "").strip().strip("'") or None
    return Explanation(reason.strip(), by, cell=f"{match['col']}{match['row']}".upper(), sheet=sheet)


def bureau_explanations(template: Template, values: Iterable[tuple[str, str, str, object]]) -> list[Explanation]:
    """The explanations of the template's 情况说明 sheet among a submission's values (sheet, row, column, value)."""
    spec = template.explanations
    if spec is None:
        return []
    rows: dict[str, dict[str, str]] = {}
    for sheet, row, column, value in values:
        if sheet == spec.sheet and column in (spec.reference, spec.reason) and value is not None:
            rows.setdefault(row, {})[column] = str(value)
    found = []
    for row, texts in rows.items():
        by = f"{BUREAU_EXPLAINS}（第 {row} 行）" if row.isdigit() else BUREAU_EXPLAINS
        explanation = reference_of(texts.get(spec.reference, ""), texts.get(spec.reason, ""), by)
        if explanation is not None:
            found.append(explanation)
    return found


def explained(findings: Sequence[Finding], explanations: Sequence[Explanation]) -> list[Finding]:
    """The findings with every warning an explanation covers marked 已说明 (the first that covers it); errors are
    corrected, never explained, whatever an explanation names."""
    if not explanations:
        return list(findings)
    marked = []
    for finding in findings:
        if finding.severity is Severity.WARNING and finding.explanation is None:
            cover = next((e for e in explanations if e.covers(finding)), None)
            if cover is not None:
                finding = finding.explained(cover.reason, cover.by)
        marked.append(finding)
    return marked
