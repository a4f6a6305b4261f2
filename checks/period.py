"""The county's year at a glance, as the database gives it and the period report shows it (the read model)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal


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
    warnings: int = 0
    submitted_at: dt.datetime | None = None  # when the current version was received (UTC)
    grade_by_total: str | None = None  # as the template's bounds give it for the total (the grade rule's)

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

    def total(self, attribute: str) -> Decimal:
        return sum((getattr(line, attribute) or Decimal(0) for line in self.lines), Decimal(0))

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
        both = [line for line in self.lines if getattr(line, part) is not None and getattr(line, whole) is not None]
        return _percent(
            sum((getattr(x, part) for x in both), Decimal(0)), sum((getattr(x, whole) for x in both), Decimal(0))
        )
