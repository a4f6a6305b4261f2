"""The county's year at a glance, as the database gives it and the period report shows it (the read model)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

# The report figures that are amounts (万元): each is set beside last year's and summed by 主管部门. The score
# (self_total) and the grade are no amounts: a sum or a change of them says nothing.
AMOUNT_FIGURES = ("income_total", "expense_total", "budget_total", "three_public_budget", "three_public_actual")
# What a summary too narrow for all of them shows (the artifact's markdown, the command line's table).
HEADLINE_FIGURES = ("income_total", "expense_total", "three_public_actual")
AMOUNT_TITLES = {
    "income_total": "收入合计", "expense_total": "支出合计", "budget_total": "全年预算数",
    "three_public_budget": "三公预算数", "three_public_actual": "三公决算数",
}  # fmt: skip
CHANGE_TITLES = {
    "income_total": "收入增减(%)", "expense_total": "支出增减(%)", "budget_total": "预算增减(%)",
    "three_public_budget": "三公预算增减(%)", "three_public_actual": "三公决算增减(%)",
}  # fmt: skip
LAST_YEAR = "上年"


def compared_headers(figure: str) -> list[str]:
    """An amount's columns, wherever it is shown: this year's, last year's beside it, and the change in percent."""
    return [AMOUNT_TITLES[figure], LAST_YEAR + AMOUNT_TITLES[figure], CHANGE_TITLES[figure]]


@dataclass(frozen=True, slots=True)
class Amounts:
    """The amount figures of one version, or the sums over several bureaus; None where none was given."""

    income_total: Decimal | None = None
    expense_total: Decimal | None = None
    budget_total: Decimal | None = None
    three_public_budget: Decimal | None = None
    three_public_actual: Decimal | None = None

    def of(self, figure: str) -> Decimal | None:
        value: Decimal | None = getattr(self, figure)
        return value

    @classmethod
    def summed(cls, many: Iterable[Amounts]) -> Amounts:
        """Each figure summed over the versions that gave it (None where none did: no figure is not 0)."""
        given = list(many)
        sums: dict[str, Decimal | None] = {}
        for figure in AMOUNT_FIGURES:
            values = [value for amounts in given if (value := amounts.of(figure)) is not None]
            sums[figure] = sum(values, Decimal(0)) if values else None
        return cls(**sums)


@dataclass(frozen=True, slots=True)
class BureauLine:
    """One bureau's row of the period report; amounts in 万元, None where not submitted or not filled."""

    code: str
    name: str
    status: str | None = None  # None: not submitted
    version: int | None = None
    income_total: Decimal | None = None
    expense_total: Decimal | None = None
    budget_total: Decimal | None = None
    three_public_budget: Decimal | None = None
    three_public_actual: Decimal | None = None
    self_total: Decimal | None = None
    grade: str | None = None  # as the bureau stated it
    errors: int = 0
    warnings: int = 0  # the warnings that stand
    explained: int = 0  # warnings explained (已说明): they stand with their reason and no longer count
    submitted_at: dt.datetime | None = None  # when the current version was received (UTC)
    grade_by_total: str | None = None  # as the template's bounds give it for the total (the grade rule's)
    parent: str | None = None  # 主管部门, as the bureau table has it (the cover's or the registry's)
    last_year: Amounts | None = None  # the current version of the year before; None: it has none

    @property
    def amounts(self) -> Amounts:
        return Amounts(
            self.income_total, self.expense_total, self.budget_total, self.three_public_budget, self.three_public_actual
        )

    def last_year_of(self, figure: str) -> Decimal | None:
        return None if self.last_year is None else self.last_year.of(figure)

    def change(self, figure: str) -> Decimal | None:
        """This year's amount against last year's, in percent (+12.50: up an eighth); None without both."""
        return change(self.amounts.of(figure), self.last_year_of(figure))

    @property
    def execution_rate(self) -> Decimal | None:
        """全年执行数 ÷ 全年预算数 of the expenditure total, in percent."""
        return _percent(self.expense_total, self.budget_total)

    @property
    def three_public_use(self) -> Decimal | None:
        return _percent(self.three_public_actual, self.three_public_budget)

    @property
    def has_figures(self) -> bool:
        """Whether the current version gave any figure the charts draw (not so: not submitted, unreadable)."""
        amounts = (self.expense_total, self.budget_total, self.three_public_budget, self.three_public_actual)
        return any(amount is not None for amount in amounts)

    @property
    def needs_attention(self) -> bool:
        return self.status in (None, "failed", "unreadable")


def change(now: Decimal | None, before: Decimal | None) -> Decimal | None:
    """The change from `before` to `now` in percent of `before`'s size (a deficit that shrinks is up)."""
    if now is None or before is None or before == 0:
        return None
    return _percent(now - before, abs(before))


def parent_key(text: str | None) -> str:
    """A 主管部门 as it is compared: without any whitespace (covers write 沅江市 人民政府, full-width spaces)."""
    return "".join((text or "").split())


@dataclass(frozen=True, slots=True)
class ParentLine:
    """One 主管部门's units summed: `parent` its name, as the report has it where it is itself a bureau of the
    report (then `code` and `name` are its own), else as its units write it; None: the units that name none."""

    parent: str | None
    code: str | None
    name: str | None
    units: int
    submitted: int  # units with a current version this year
    this_year: Amounts
    last_year: Amounts

    @property
    def label(self) -> str:
        return self.name or self.parent or "（未填主管部门）"

    def change(self, figure: str) -> Decimal | None:
        return change(self.this_year.of(figure), self.last_year.of(figure))


def parent_lines(lines: list[BureauLine]) -> list[ParentLine]:
    """The units of each 主管部门, by its name or code as the units give it (whitespace aside), in the order of
    the parents' labels; the units without one last."""
    bureaus: dict[str, BureauLine] = {}
    for line in lines:
        bureaus.setdefault(parent_key(line.name), line)
    bureaus.update({parent_key(line.code): line for line in lines})  # a code wins over a name that reads the same
    # A parent that is a bureau of the report gathers its units whether they name it by code or by name (its code
    # is the key); another is its text as written. The two cannot meet: a text that is a bureau's code is that one.
    units: dict[str, list[BureauLine]] = {}
    parents: dict[str, BureauLine] = {}
    for line in lines:
        key = parent_key(line.parent)
        own = bureaus.get(key) if key else None
        if own is not None:
            key = parent_key(own.code)
            parents[key] = own
        units.setdefault(key, []).append(line)
    result = []
    for key, members in units.items():
        own = parents.get(key)
        result.append(
            ParentLine(
                parent=own.name if own else " ".join((members[0].parent or "").split()) or None,
                code=own.code if own else None,
                name=own.name if own else None,
                units=len(members),
                submitted=sum(1 for line in members if line.version is not None),
                this_year=Amounts.summed(line.amounts for line in members),
                last_year=Amounts.summed(line.last_year for line in members if line.last_year is not None),
            )
        )
    return sorted(result, key=lambda line: (line.parent is None, line.label))


def _percent(part: Decimal | None, whole: Decimal | None) -> Decimal | None:
    if part is None or whole is None or whole == 0:
        return None
    return (part / whole * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)  # 四舍五入, as the bureau rounds


@dataclass(slots=True)
class PeriodReport:
    fiscal_year: int
    lines: list[BureauLine]
    deadline: dt.date | None = None
    generated_at: dt.datetime = field(default_factory=dt.datetime.now)

    @property
    def consolidating(self) -> frozenset[str]:
        """The codes of the bureaus whose own workbook consolidates units of the report that have submitted: the
        county's totals count those units, not the 主管部门's sum of them a second time."""
        return frozenset(p.code for p in parent_lines(self.lines) if p.code is not None and p.submitted)

    def _counted(self) -> list[BureauLine]:
        consolidating = self.consolidating
        return [line for line in self.lines if line.code not in consolidating]

    def total(self, attribute: str) -> Decimal:
        """The county's total of a figure (a 主管部门 whose units submitted counted through them)."""
        return sum((getattr(line, attribute) or Decimal(0) for line in self._counted()), Decimal(0))

    def last_year_total(self, figure: str) -> Decimal | None:
        """Last year's amounts of the bureaus in the report (one without a version then adds nothing); None where
        none of them had one."""
        counted = self._counted()
        if all(line.last_year is None for line in counted):
            return None
        return sum((line.last_year_of(figure) or Decimal(0) for line in counted), Decimal(0))

    def total_change(self, figure: str) -> Decimal | None:
        """The county total against last year's, as the two totals shown give it."""
        return change(self.total(figure), self.last_year_total(figure))

    @property
    def by_parent(self) -> list[ParentLine]:
        return parent_lines(self.lines)

    @property
    def attention(self) -> list[BureauLine]:
        return [line for line in self.lines if line.needs_attention]

    @property
    def county_execution_rate(self) -> Decimal | None:
        return self._county_rate("expense_total", "budget_total")

    @property
    def county_three_public_use(self) -> Decimal | None:
        return self._county_rate("three_public_actual", "three_public_budget")

    def _county_rate(self, part: str, whole: str) -> Decimal | None:
        """Over the bureaus that gave both figures: one with a budget and no spending would skew it."""
        counted = self._counted()
        both = [line for line in counted if getattr(line, part) is not None and getattr(line, whole) is not None]
        return _percent(
            sum((getattr(x, part) for x in both), Decimal(0)), sum((getattr(x, whole) for x in both), Decimal(0))
        )
