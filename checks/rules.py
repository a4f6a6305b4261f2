"""Rule kinds: the code behind the rule catalogue of the template file.

Each kind turns one catalogue entry into vectorised pandera checks over a batch's typed tables
(`checks`), and turns the rows pandera reports as failing into findings (`explain`). A kind may
split into variants — one per amount column, say — each its own named pandera check.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pandera.pandas as pa

from checks.findings import Finding, Severity, format_number
from checks.labels import normalise_label
from checks.messages import render
from checks.records import WAN
from checks.tables import Batch, Table, grid_column
from checks.template import RuleSpec, SheetSpec, Template

EPSILON = 1e-9


class Money(Decimal):
    """An amount in the submission's declared unit: messages show it in that unit, with `元` when so
    declared; a finding's `expected`/`actual` give it in 万元, the unit the database keeps.

    Exact: a float from the typed tables is taken as its shortest repr (the decimal the reader read, for
    every amount within the reader's bounds), and sums are made of those decimals, never of floats."""

    def __new__(cls, value: Decimal | float | int | str = 0) -> Money:
        if isinstance(value, float):  # numpy's float64 too, whose own repr is `np.float64(…)`
            value = float.__repr__(value)
        return super().__new__(cls, value)


def exact_sum(values: Any) -> Decimal:
    """The sum of the filled values of a column as exact decimals (float addition adds binary noise)."""
    return sum((Money(float(value)) for value in values if pd.notna(value)), Decimal(0))


def _message_text(value: Any, unit: str) -> Any:
    if isinstance(value, Money):
        return format_number(value) + (" 元" if unit == "元" else "")
    return value


def _record_text(value: Any, unit: str) -> str | None:
    if isinstance(value, Money):
        return format_number(value / WAN if unit == "元" else Decimal(value))
    return None if value is None else str(value)


def plain_text(value: float) -> str:
    """A count or score as written: 79, 97.5, 9.25."""
    return format_number(value, min_decimals=0)


class Rule(ABC):
    """One catalogue entry bound to its kind."""

    kinds: ClassVar[dict[str, type[Rule]]] = {}
    kind: ClassVar[str]

    def __init__(self, spec: RuleSpec, template: Template, position: int) -> None:
        self.spec = spec
        self.template = template
        self.position = position
        self.sheet_spec: SheetSpec = template.sheets[spec.table]
        self.tolerances = template.tolerances

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Rule.kinds[cls.kind] = cls

    # --- the pandera side -------------------------------------------------------------------------

    def variants(self) -> list[str]:
        return [""]

    def check_name(self, variant: str) -> str:
        return f"{self.position}:{self.spec.id}" + (f"[{variant}]" if variant else "")

    def dataframe_checks(self, batch: Batch) -> list[pa.Check]:
        """Row-wise checks over the whole table: True where the rule holds or does not apply."""
        return [
            pa.Check(self._check_function(batch, variant), name=self.check_name(variant), ignore_na=False)
            for variant in self.variants()
        ]

    def column_checks(self) -> dict[str, list[pa.Check]]:
        return {}

    def _check_function(self, batch: Batch, variant: str) -> Callable[[pd.DataFrame], pd.Series]:
        def check(frame: pd.DataFrame) -> pd.Series:
            holds = self.holds(batch, variant)
            return holds | frame["sheet"].isna()

        return check

    def holds(self, batch: Batch, variant: str) -> pd.Series:
        raise NotImplementedError(f"{self.kind} rules check columns, not rows")

    @abstractmethod
    def explain(self, batch: Batch, variant: str, index: Any) -> list[Finding]:
        """The findings for one failing row of the rule's table."""

    # --- building findings ------------------------------------------------------------------------

    @property
    def table_key(self) -> str:
        return self.spec.table

    def table(self, batch: Batch) -> Table:
        return batch[self.table_key]

    def severity(self, variant: str) -> Severity:
        return self.spec.severity_by_column.get(variant, self.spec.severity)

    def finding(
        self,
        table: Table,
        index: Any,
        variant: str,
        cells: list[str | None],
        *,
        expected: Any = None,
        actual: Any = None,
        **fields: Any,
    ) -> Finding:
        """A finding at `index`; Money values are shown in the declared unit and recorded in 万元."""
        unit = self.unit_of(table, index)
        shown = {name: _message_text(value, unit) for name, value in fields.items()}
        return Finding(
            rule=self.spec.id,
            severity=self.severity(variant),
            message=render(
                self.spec.message, expected=_message_text(expected, unit), actual=_message_text(actual, unit), **shown
            ),
            sheet=table.value(index, "sheet"),
            cells=tuple(dict.fromkeys(c for c in cells if c)),
            expected=_record_text(expected, unit),
            actual=_record_text(actual, unit),
        )

    def mismatch(
        self,
        table: Table,
        index: Any,
        column: str,
        cells: list[str | None],
        stated: Decimal | float,
        computed: Decimal | float,
        **fields: Any,
    ) -> Finding:
        """A stated amount of `column` that differs from the computed one."""
        return self.finding(
            table,
            index,
            column,
            cells,
            expected=Money(computed),
            actual=Money(stated),
            difference=Money(abs(Money(stated) - Money(computed))),
            column_label=self.column_label(column),
            **fields,
        )

    @staticmethod
    def unit_of(table: Table, index: Any) -> str:
        return table.units.get(int(table.value(index, "submission")), "万元")

    def column_label(self, key: str) -> str:
        spec = self.sheet_spec.columns.get(key)
        return spec.label if spec else key

    def row_label(self, key: str) -> str:
        spec = self.sheet_spec.rows.get(key)
        return spec.label if spec else self.sheet_spec.label_of(key)

    def is_amount(self, key: str) -> bool:
        spec = self.sheet_spec.columns.get(key)
        return self.sheet_spec.kind == "grid" or (spec is not None and spec.type == "amount")

    def number_text(self, key: str, value: float) -> Any:
        return Money(value) if self.is_amount(key) else plain_text(value)

    def item_rows(self, table: Table) -> pd.Series:
        values = table.values
        return ~values["is_total"] if "is_total" in values.columns else pd.Series(True, index=values.index)

    def item_name(self, table: Table, index: Any) -> str:
        name = table.value(index, "name") if "name" in table.values.columns else None
        if isinstance(name, str):
            return name
        return f"第 {table.value(index, 'row')} 行" if "row" in table.values.columns else ""


def sum_tolerance(per_term: float, terms: pd.Series | np.ndarray | int) -> Any:
    return per_term * (np.maximum(terms, 1) + 1) + EPSILON


class RequiredRule(Rule):
    """Listed columns must be filled (item rows of list sheets; every row of key/value sheets)."""

    kind = "required"

    def variants(self) -> list[str]:
        return list(self.spec.require("columns"))

    def holds(self, batch: Batch, variant: str) -> pd.Series:
        table = self.table(batch)
        return table.values[variant].notna() | ~self.item_rows(table)

    def explain(self, batch: Batch, variant: str, index: Any) -> list[Finding]:
        table = self.table(batch)
        row = table.value(index, "row") if "row" in table.values.columns else None
        return [
            self.finding(
                table, index, variant, [table.cell(index, variant)], label=self.column_label_any(variant), row=row
            )
        ]

    def column_label_any(self, key: str) -> str:
        return self.sheet_spec.label_of(key)


class FormatRule(Rule):
    """A column's values must match a pattern, be one of a list, or lie in a range (nulls pass)."""

    kind = "format"

    def column_checks(self) -> dict[str, list[pa.Check]]:
        column = self.spec.require("column")
        pattern, choices = self.spec.param("pattern"), self.spec.param("choices")
        if pattern:
            compiled = re.compile(pattern)

            def holds(values: pd.Series) -> pd.Series:
                return values.map(lambda value: bool(compiled.fullmatch(str(value))))
        elif choices:

            def holds(values: pd.Series) -> pd.Series:
                return values.isin(list(choices))
        else:
            low, high = self.spec.require("range")

            def holds(values: pd.Series) -> pd.Series:
                return values.between(low, high)

        check = pa.Check(holds, name=self.check_name(""))  # nulls pass: `required` rules speak for them
        return {column: [check]}

    def dataframe_checks(self, batch: Batch) -> list[pa.Check]:
        return []

    def explain(self, batch: Batch, variant: str, index: Any) -> list[Finding]:
        table = self.table(batch)
        column = self.spec.require("column")
        value = table.value(index, column)
        return [
            self.finding(
                table,
                index,
                variant,
                [table.cell(index, column)],
                actual=str(value),
                value=value,
                label=self.sheet_spec.label_of(column),
            )
        ]


class SumRule(Rule):
    """A total equals the sum of its parts: across rows of a grid sheet (`parts`), down a list
    sheet's column to its 合计 row (`over: rows`), or per group of a list sheet (`over: groups`)."""

    kind = "sum"

    @property
    def over(self) -> str:
        return str(self.spec.param("over", "columns"))

    def variants(self) -> list[str]:
        if self.over == "groups":
            return list(self.spec.require("group_totals"))
        if self.over == "across":
            return across_variants(self)
        return list(self.spec.require("columns"))

    def holds(self, batch: Batch, variant: str) -> pd.Series:
        table = self.table(batch)
        if self.over == "rows":
            return self._rows_hold(table, variant)
        if self.over == "groups":
            return self._group_holds(table, variant)
        if self.over == "across":
            total_columns, part_columns = across_columns(
                self, variant, [self.spec.require("total")], self.spec.require("parts")
            )
            return sides_hold(table.values, total_columns, part_columns, self.tolerances.sum_per_term)
        values = table.values
        total_column = grid_column(self.spec.require("total"), variant)
        part_columns = [grid_column(p, variant) for p in self.spec.require("parts")]
        cells, _, difference = two_sides(values, [total_column], part_columns)
        filled = (~np.isnan(cells[1:])).sum(axis=0)  # the parts filled
        holds = np.isnan(cells[0]) | (difference <= sum_tolerance(self.tolerances.sum_per_term, filled))
        if self.spec.param("only_when_parts_filled"):
            holds |= filled == 0
        return pd.Series(holds, index=values.index)

    def explain(self, batch: Batch, variant: str, index: Any) -> list[Finding]:
        table = self.table(batch)
        if self.over == "rows":
            return self._explain_rows(table, variant, index)
        if self.over == "groups":
            return self._explain_group(table, variant, index)
        if self.over == "across":
            total, parts = across_columns(self, variant, [self.spec.require("total")], self.spec.require("parts"))
            return [explain_sides(self, table, variant, index, total, parts)]
        total_column = grid_column(self.spec.require("total"), variant)
        part_columns = [grid_column(p, variant) for p in self.spec.require("parts")]
        stated = Money(float(table.value(index, total_column)))
        computed = exact_sum(table.values.loc[index, part_columns])
        cells = [table.cell(index, total_column)] + [
            table.cell(index, c) for c in part_columns if pd.notna(table.value(index, c))
        ]
        return [
            self.mismatch(
                table, index, variant, cells, stated, computed, total_label=self.row_label(self.spec.require("total"))
            )
        ]

    # over: rows — a 合计 row against the items above it
    def _rows_hold(self, table: Table, column: str) -> pd.Series:
        values = table.values
        items = values[~values["is_total"]]
        sums = items.groupby("submission")[column].sum(min_count=1)
        counts = items.groupby("submission")[column].count()
        expected = values["submission"].map(sums)
        terms = values["submission"].map(counts).fillna(0)
        difference = (values[column] - expected.fillna(0)).abs()
        fails = (
            values["is_total"]
            & values[column].notna()
            & (difference > sum_tolerance(self.tolerances.sum_per_term, terms))
        )
        return ~fails

    def _explain_rows(self, table: Table, column: str, index: Any) -> list[Finding]:
        values = table.values
        submission = table.value(index, "submission")
        items = values[(values["submission"] == submission) & ~values["is_total"]]
        computed = exact_sum(items[column])
        stated = Money(float(table.value(index, column)))
        cells = [table.cell(index, column), _range(table, items.index, column)]
        return [self.mismatch(table, index, column, cells, stated, computed)]

    # over: groups — Σ of a column per group (or over all items) against a fixed total
    def _group_members(self, values: pd.DataFrame, group: str) -> pd.Series:
        items = ~values["is_total"]
        if group == "all":
            return items
        return items & (values[self.spec.require("group_column")] == group)

    def _group_holds(self, table: Table, group: str) -> pd.Series:
        values = table.values
        column = self.spec.param("column", "weight")
        expected = float(self.spec.require("group_totals")[group])
        members = self._group_members(values, group)
        sums = values[column].where(members).groupby(values["submission"]).sum()
        difference = (values["submission"].map(sums).fillna(0) - expected).abs()
        first_item = ~values["is_total"] & ~values["submission"].duplicated()
        return ~(first_item & (difference > self.tolerances.score + EPSILON))

    def _explain_group(self, table: Table, group: str, index: Any) -> list[Finding]:
        values = table.values
        column = self.spec.param("column", "weight")
        members = self._group_members(values, group) & (values["submission"] == table.value(index, "submission"))
        computed = float(values.loc[members, column].sum())
        expected = float(self.spec.require("group_totals")[group])
        cells = [table.cell(i, column) for i in values.index[members]] or [table.cell(index, column)]
        return [
            self.finding(
                table,
                index,
                group,
                cells,
                expected=plain_text(expected),
                actual=plain_text(computed),
                group=group if group != "all" else "全部指标",
            )
        ]


def _range(table: Table, indexes: pd.Index, column: str) -> str | None:
    cells = [table.cell(i, column) for i in indexes]
    cells = [c for c in cells if c]
    if not cells:
        return None
    return cells[0] if len(cells) == 1 else f"{cells[0]}:{cells[-1]}"


class CeilingRule(Rule):
    """A value stays at or under a limit (and at or over `lower`, when given)."""

    kind = "ceiling"

    def variants(self) -> list[str]:
        return list(self.spec.param("rows") or [""])

    def columns(self, variant: str) -> tuple[str, str]:
        if variant:
            return (
                grid_column(variant, self.spec.require("value_column")),
                grid_column(variant, self.spec.require("limit_column")),
            )
        value, limit = self.spec.require("value"), self.spec.require("limit")
        return value.replace(".", "__"), limit.replace(".", "__")

    def holds(self, batch: Batch, variant: str) -> pd.Series:
        table = self.table(batch)
        value_column, limit_column = self.columns(variant)
        value, limit = table.values[value_column], table.values[limit_column]
        holds = value.isna() | limit.isna() | (value <= limit + self.tolerances.ceiling + EPSILON)
        lower = self.spec.param("lower")
        if lower is not None:
            holds &= value.isna() | (value >= float(lower) - EPSILON)
        return holds | ~self.item_rows(table)

    def explain(self, batch: Batch, variant: str, index: Any) -> list[Finding]:
        table = self.table(batch)
        value_column, limit_column = self.columns(variant)
        value = float(table.value(index, value_column))
        limit = float(table.value(index, limit_column))
        key = value_column.split("__")[0]
        label = (
            self.row_label(variant)
            if variant
            else (self.item_name(table, index) if self.sheet_spec.kind == "list" else self.row_label(key))
        )
        as_text: Callable[[float], Any] = (
            Money if self.sheet_spec.kind == "grid" or self.is_amount(value_column) else plain_text
        )
        return [
            self.finding(
                table,
                index,
                variant,
                [table.cell(index, value_column), table.cell(index, limit_column)],
                expected=as_text(limit),
                actual=as_text(value),
                difference=as_text(abs(value - limit)),
                label=label,
            )
        ]


class RateRule(Rule):
    """A stated percentage equals numerator ÷ denominator within half a unit of its last decimal."""

    kind = "rate"

    def computed(self, values: pd.DataFrame) -> pd.Series:
        denominator = values[self.spec.require("denominator")]
        return 100 * values[self.spec.require("numerator")] / denominator.where(denominator != 0)

    def decimals_column(self) -> str:
        return f"{self.spec.require('stated')}_decimals"

    def holds(self, batch: Batch, variant: str) -> pd.Series:
        values = self.table(batch).values
        stated = values[self.spec.require("stated")]
        computed = self.computed(values)
        decimals = values[self.decimals_column()].astype("float").fillna(2)
        tolerance = self.tolerances.rate_half_units * np.power(10.0, -decimals) + EPSILON
        holds = stated.isna() | computed.isna() | ((stated - computed).abs() <= tolerance)
        ambiguous = self.ambiguous_column()
        if ambiguous in values:
            # A bare 0.97 may be a fraction (pandas drops the % format): it holds when, read as 97 with
            # two decimals fewer, it matches; the reader's ambiguity warning still asks for a % sign.
            fraction_tolerance = self.tolerances.rate_half_units * np.power(10.0, 2 - decimals) + EPSILON
            as_fraction = (100 * stated - computed).abs() <= fraction_tolerance
            holds |= values[ambiguous].fillna(False).astype(bool) & as_fraction
        return holds

    def ambiguous_column(self) -> str:
        return f"{self.spec.require('stated')}_ambiguous"

    def explain(self, batch: Batch, variant: str, index: Any) -> list[Finding]:
        table = self.table(batch)
        values = table.values
        stated_column = self.spec.require("stated")
        numerator_key, denominator_key = self.spec.require("numerator"), self.spec.require("denominator")
        decimals = table.value(index, self.decimals_column())
        decimals = int(decimals) if pd.notna(decimals) else 2
        computed = float(self.computed(values.loc[[index]]).iloc[0])
        expected = format_number(computed, min_decimals=decimals, max_decimals=decimals)
        actual = format_number(float(table.value(index, stated_column)), min_decimals=decimals, max_decimals=decimals)
        return [
            self.finding(
                table,
                index,
                variant,
                [
                    table.cell(index, stated_column),
                    table.cell(index, numerator_key),
                    table.cell(index, denominator_key),
                ],
                expected=expected,
                actual=actual,
                label=self.item_name(table, index),
                numerator=self.number_text(numerator_key, float(table.value(index, numerator_key))),
                denominator=self.number_text(denominator_key, float(table.value(index, denominator_key))),
            )
        ]


class BalanceRule(Rule):
    """Σ left = Σ right on a grid sheet, per amount column, where both leading terms are filled."""

    kind = "balance"

    def variants(self) -> list[str]:
        return across_variants(self) if self.spec.param("across") else list(self.spec.require("columns"))

    def sides(self, variant: str) -> tuple[list[str], list[str]]:
        return (
            [grid_column(k, variant) for k in self.spec.require("left")],
            [grid_column(k, variant) for k in self.spec.require("right")],
        )

    def holds(self, batch: Batch, variant: str) -> pd.Series:
        values = self.table(batch).values
        if self.spec.param("across"):
            left, right = across_columns(self, variant, self.spec.require("left"), self.spec.require("right"))
            return sides_hold(values, left, right, self.tolerances.sum_per_term)
        left, right = self.sides(variant)
        cells, terms, difference = two_sides(values, left, right)
        applies = ~np.isnan(cells[0]) & ~np.isnan(cells[len(left)])
        holds = ~applies | (difference <= sum_tolerance(self.tolerances.sum_per_term, terms))
        return pd.Series(holds, index=values.index)

    def explain(self, batch: Batch, variant: str, index: Any) -> list[Finding]:
        table = self.table(batch)
        if self.spec.param("across"):
            left, right = across_columns(self, variant, self.spec.require("left"), self.spec.require("right"))
            return [explain_sides(self, table, variant, index, left, right)]
        left, right = self.sides(variant)
        row = table.values.loc[index]
        left_sum, right_sum = float(row[left].astype(float).sum()), float(row[right].astype(float).sum())
        cells = [table.cell(index, left[0]), table.cell(index, right[0])] + [
            table.cell(index, c) for c in left[1:] + right[1:] if pd.notna(row[c])
        ]
        return [self.mismatch(table, index, variant, cells, left_sum, right_sum)]


def by_submission(values: pd.DataFrame, column: str) -> pd.Series:
    """One column of a one-row-per-submission table, indexed by submission (without copying the whole table,
    as `set_index` does: the summary table is hundreds of columns wide)."""
    return pd.Series(values[column].to_numpy(), index=values["submission"].to_numpy(), name=column)


class CrossSheetRule(Rule):
    """Σ of a list sheet's column stays at or under one cell of another sheet."""

    kind = "cross-sheet"

    def other(self, batch: Batch) -> tuple[Table, str]:
        return batch[self.spec.require("other_table")], self.spec.require("other").replace(".", "__")

    def sums(self, values: pd.DataFrame) -> pd.Series:
        column = self.spec.require("column")
        return values.loc[~values["is_total"], column].groupby(values["submission"]).sum(min_count=1)

    def anchor_rows(self, values: pd.DataFrame) -> pd.Series:
        """The row a finding attaches to: the 合计 row, or else the last item row."""
        totals = values["is_total"]
        has_total = totals.groupby(values["submission"]).transform("any")
        last = ~values["submission"].duplicated(keep="last")
        return (totals & has_total) | (last & ~has_total)

    def holds(self, batch: Batch, variant: str) -> pd.Series:
        values = self.table(batch).values
        other_table, other_column = self.other(batch)
        limits = by_submission(other_table.values, other_column)
        limit = values["submission"].map(limits)
        total = values["submission"].map(self.sums(values))
        fails = (
            self.anchor_rows(values)
            & total.notna()
            & limit.notna()
            & (total > limit + self.tolerances.ceiling + EPSILON)
        )
        return ~fails

    def explain(self, batch: Batch, variant: str, index: Any) -> list[Finding]:
        table = self.table(batch)
        values = table.values
        column = self.spec.require("column")
        submission = table.value(index, "submission")
        other_table, other_column = self.other(batch)
        other_index = other_table.values.index[other_table.values["submission"] == submission][0]
        limit = float(other_table.value(other_index, other_column))
        items = values[(values["submission"] == submission) & ~values["is_total"]]
        total = float(items[column].sum())
        first = table.cell(index, column) if table.value(index, "is_total") else _range(table, items.index, column)
        return [
            self.finding(
                table,
                index,
                variant,
                [first],
                expected=Money(limit),
                actual=Money(total),
                difference=Money(total - limit),
                other_sheet=other_table.value(other_index, "sheet"),
                other_cell=other_table.cell(other_index, other_column),
            )
        ]


# --- per row, across columns: a row's total column against its part columns (sum), or two sides (balance) -----


def across_variants(rule: Rule) -> list[str]:
    """A grid sheet's rows the rule checks (each a variant), or one variant for every row of a code-row table."""
    if rule.sheet_spec.kind == "grid":
        return list(rule.spec.param("rows") or rule.sheet_spec.rows)
    return [""]


def across_columns(rule: Rule, variant: str, left: list[str], right: list[str]) -> tuple[list[str], list[str]]:
    """The typed table's columns of the two sides on one row: `{row}__{column}` on a grid sheet."""
    if rule.sheet_spec.kind == "grid":
        return [grid_column(variant, c) for c in left], [grid_column(variant, c) for c in right]
    return list(left), list(right)


def sides_hold(values: pd.DataFrame, left: list[str], right: list[str], per_term: float) -> pd.Series:
    """Σ left = Σ right on each row, blanks counting as 0, where any of the cells is filled."""
    _, terms, difference = two_sides(values, left, right)
    return pd.Series((terms == 0) | (difference <= sum_tolerance(per_term, terms)), index=values.index)


def two_sides(values: pd.DataFrame, left: list[str], right: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """On each row: the cells of both sides (one array row a column, left's first), how many are filled, and
    |Σ left − Σ right| with blanks as 0.

    In numpy on the columns' own arrays: a rule holds on every row of a batch at once, but pandas' column
    selections and row sums cost ~50 µs each whatever the rows, and a national batch runs hundreds of them."""
    cells = np.array([values[column].to_numpy(dtype=np.float64, na_value=np.nan) for column in left + right])
    terms = (~np.isnan(cells)).sum(axis=0)
    difference = np.abs(np.nansum(cells[: len(left)], axis=0) - np.nansum(cells[len(left) :], axis=0))
    return cells, terms, difference


def explain_sides(rule: Rule, table: Table, variant: str, index: Any, left: list[str], right: list[str]) -> Finding:
    row = table.values.loc[index]
    stated = sum((Money(float(row[c])) for c in left if pd.notna(row[c])), Decimal(0))
    computed = sum((Money(float(row[c])) for c in right if pd.notna(row[c])), Decimal(0))
    cells = [table.cell(index, left[0])] + [table.cell(index, c) for c in left[1:] + right if pd.notna(row[c])]
    first = rule.spec.require("total") if rule.spec.kind == "sum" else rule.spec.require("left")[0]
    return rule.mismatch(
        table,
        index,
        variant,
        cells,
        stated,
        computed,
        label=row_name(rule, table, index, variant),
        total_label=rule.column_label(first),
    )


def row_name(rule: Rule, table: Table, index: Any, variant: str = "") -> str:
    """How a finding names a row: a grid row's label, a code row's code and name (2060101 行政运行)."""
    if rule.sheet_spec.kind == "grid":
        return rule.row_label(variant)
    key = str(table.value(index, "key"))
    if key in rule.sheet_spec.rows:
        return rule.sheet_spec.rows[key].label
    name = table.value(index, "name")
    return f"{key} {name}" if isinstance(name, str) else key


class HierarchyRule(Rule):
    """On a code-row table, every row with children equals their sum, per column: 类 = Σ 款, 款 = Σ 项, and the 合计
    row = Σ 类 (the reader gives each row its parent from its code; a child without one is its own finding)."""

    kind = "hierarchy"

    def __init__(self, spec: RuleSpec, template: Template, position: int) -> None:
        super().__init__(spec, template, position)
        self._children: tuple[pd.DataFrame, tuple[pd.DataFrame, np.ndarray]] | None = None

    def variants(self) -> list[str]:
        return list(self.spec.param("columns") or self.sheet_spec.columns)

    def children(self, values: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """Σ of the children of each row in every column, and how many there are (NaN and 0 where it has none).
        Grouped once for all columns: the table is the same for each column's check of a batch."""
        if self._children is not None and self._children[0] is values:
            return self._children[1]
        columns = self.variants()
        grouped = values[columns].fillna(0).groupby([values["submission"], values["parent"]])
        rows = pd.MultiIndex.from_arrays([values["submission"], values["key"]])
        found = grouped.sum().reindex(rows), grouped.size().reindex(rows).fillna(0).to_numpy()
        self._children = (values, found)
        return found

    def holds(self, batch: Batch, variant: str) -> pd.Series:
        values = self.table(batch).values
        sums, terms = self.children(values)
        expected = sums[variant].to_numpy()
        difference = np.abs(values[variant].fillna(0).to_numpy() - expected)
        return pd.Series(
            np.isnan(expected) | (difference <= sum_tolerance(self.tolerances.sum_per_term, terms)), index=values.index
        )

    def explain(self, batch: Batch, variant: str, index: Any) -> list[Finding]:
        table = self.table(batch)
        values = table.values
        key, submission = table.value(index, "key"), table.value(index, "submission")
        children = values.index[(values["submission"] == submission) & (values["parent"] == key)]
        stated = table.value(index, variant)
        computed = exact_sum(values.loc[children, variant])
        cells = [table.cell(index, variant), _range(table, children, variant)]
        return [
            self.mismatch(
                table,
                index,
                variant,
                cells,
                Money(float(stated)) if pd.notna(stated) else Decimal(0),
                computed,
                label=row_name(self, table, index),
                children=len(children),
            )
        ]


@dataclass(frozen=True, slots=True)
class CellRef:
    """One cell of any sheet, as rules name it: `sheet.row.column` (a grid's or a code-row table's row key)."""

    sheet: str
    row: str
    column: str

    @classmethod
    def parse(cls, text: str) -> CellRef:
        sheet, _, rest = text.partition(".")
        row, _, column = rest.rpartition(".")
        return cls(sheet, row, column)

    def frame_rows(self, batch: Batch, template: Template) -> tuple[Table, pd.Series]:
        """The typed table holding this cell, and each submission's row of it (indexed by submission)."""
        table = batch[self.sheet]
        values = table.values
        if template.sheets[self.sheet].kind == "codes":
            rows = values.index[values["key"] == self.row]
            return table, pd.Series(rows, index=values.loc[rows, "submission"].to_numpy())
        return table, pd.Series(values.index, index=values["submission"].to_numpy())

    def column_of(self, template: Template) -> str:
        kind = template.sheets[self.sheet].kind
        return grid_column(self.row, self.column) if kind == "grid" else self.column

    def values(self, batch: Batch, template: Template) -> pd.Series:
        """The cell's value in every submission that has its sheet (NaN where the cell is blank or the row absent)."""
        table, rows = self.frame_rows(batch, template)
        column = self.column_of(template)
        # a submission with the sheet but not the row (a table published empty with its note) has it blank
        having = [position for position, read in enumerate(batch.submissions) if self.sheet in read.sheets]
        present = pd.Series(np.nan, index=having, dtype=float)
        found = pd.Series(table.values.loc[rows.to_numpy(), column].to_numpy(dtype=float), index=rows.index)
        return found.combine_first(present)


class CrossTableRule(Rule):
    """Cells of different tables agree (表间): Σ `left` = Σ `right` (or ≤, `relation: le`), each a `sheet.row.column`
    cell; or each row of a code-row table at `level` equals the row of `other_table` with the same code or name."""

    kind = "cross-table"

    def sides(self) -> tuple[list[CellRef], list[CellRef]]:
        return [CellRef.parse(c) for c in self.spec.require("left")], [
            CellRef.parse(c) for c in self.spec.require("right")
        ]

    def holds(self, batch: Batch, variant: str) -> pd.Series:
        values = self.table(batch).values
        if self.spec.param("match"):
            stated, other = self.matched(batch)
            applies = stated.notna() | other.notna()
            return ~applies | self.agrees(stated.fillna(0), other.fillna(0), 2)
        left, right = self.sides()
        _, anchors = left[0].frame_rows(batch, self.template)
        left_sum, right_sum, terms = self.sums(batch, left, right)
        submissions = values["submission"]
        at_anchor = pd.Series(values.index.isin(anchors.to_numpy()), index=values.index)
        agrees = self.agrees(submissions.map(left_sum), submissions.map(right_sum), submissions.map(terms).fillna(0))
        applies = at_anchor & submissions.map(terms).fillna(0).gt(0) & submissions.isin(right_sum.index)
        return ~applies | agrees

    def agrees(self, stated: pd.Series, other: pd.Series, terms: Any) -> pd.Series:
        if self.spec.param("relation", "eq") == "le":
            return stated.fillna(0) <= other.fillna(0) + self.tolerances.ceiling + EPSILON
        return (stated.fillna(0) - other.fillna(0)).abs() <= sum_tolerance(self.tolerances.sum_per_term, terms)

    def sums(self, batch: Batch, left: list[CellRef], right: list[CellRef]) -> tuple[pd.Series, pd.Series, pd.Series]:
        """Σ of each side per submission that has every side's sheet, and how many cells are filled."""
        every = [c.values(batch, self.template) for c in (*left, *right)]
        both = every[0].index
        for values in every[1:]:
            both = both.intersection(values.index)
        left_values = pd.concat([values.loc[both] for values in every[: len(left)]], axis=1)
        right_values = pd.concat([values.loc[both] for values in every[len(left) :]], axis=1)
        terms = left_values.notna().sum(axis=1) + right_values.notna().sum(axis=1)
        return left_values.sum(axis=1), right_values.sum(axis=1), terms

    def other_row(self, key: str, name: Any) -> str | None:
        """The row of `other_table` a code row meets: the same key (`match: code`) or a label naming it (`name`)."""
        other = self.template.sheets[self.spec.require("other_table")]
        if self.spec.require("match") == "code":
            return key if key in other.rows else None
        wanted = normalise_label(name) if isinstance(name, str) else ""
        return self.named_rows.get(wanted)

    @cached_property
    def named_rows(self) -> dict[str, str]:
        """Each spelling of the other table's row labels → the first row it names."""
        other = self.template.sheets[self.spec.require("other_table")]
        named: dict[str, str] = {}
        for row_key, row in other.rows.items():
            for spelling in row.spellings():
                named.setdefault(spelling, row_key)  # the first row a spelling names, as the template lists them
        return named

    def matched(self, batch: Batch) -> tuple[pd.Series, pd.Series]:
        """Each row's value and the value of the other table's row it meets; NaN on both where it meets none, or
        where the submission lacks the other table, so that it is not compared."""
        table = self.table(batch)
        values = table.values
        level = int(self.spec.param("level", 1))
        other_table = batch[self.spec.require("other_table")]
        other_column = self.spec.require("other_column")
        # the other table's row of each submission that has it (a grid table: one row a submission)
        other_rows = dict(zip(other_table.values["submission"], other_table.values.index, strict=True))
        compared: list[int] = []
        met: list[Any] = []
        for index in values.index[(values["level"] == level) & values["submission"].isin(list(other_rows))]:
            row_key = self.other_row(str(table.value(index, "key")), table.value(index, "name"))
            if row_key is None:
                continue  # a class the other table does not list: nothing to compare it with
            compared.append(index)
            met.append(
                other_table.value(other_rows[table.value(index, "submission")], grid_column(row_key, other_column))
            )
        other = pd.Series(np.nan, index=values.index)
        other.loc[compared] = pd.Series(met, index=compared, dtype=float)
        stated = values[self.spec.require("column")].where(values.index.isin(compared))
        return stated, other

    def explain(self, batch: Batch, variant: str, index: Any) -> list[Finding]:
        table = self.table(batch)
        submission = table.value(index, "submission")
        if self.spec.param("match"):
            # only this row's pair: `matched` over the whole batch again for each failing row cost most of a
            # national batch's checking
            row_key = self.other_row(str(table.value(index, "key")), table.value(index, "name"))
            other_table = batch[self.spec.require("other_table")]
            other_rows = other_table.values.index[other_table.values["submission"] == submission]
            other_cell, other_value = None, np.nan
            if row_key is not None and len(other_rows):
                other_column = grid_column(row_key, self.spec.require("other_column"))
                other_cell = other_table.cell(other_rows[0], other_column)
                other_value = other_table.value(other_rows[0], other_column)
            column = self.spec.require("column")
            return [
                self.crossing(
                    batch,
                    table,
                    index,
                    [table.cell(index, column)],
                    (table.value(index, column), other_value),
                    (other_table.key, other_cell),
                    label=row_name(self, table, index),
                )
            ]
        left, right = self.sides()
        left_sum, right_sum, _ = self.sums(batch, left, right)
        cells = []
        for ref in left:
            if ref.sheet == self.spec.table:
                ref_table, rows = ref.frame_rows(batch, self.template)
                if submission in rows.index:
                    cells.append(ref_table.cell(rows[submission], ref.column_of(self.template)))
        other_table, rows = right[0].frame_rows(batch, self.template)
        other_index = rows[submission] if submission in rows.index else None
        other_cell = (
            other_table.cell(other_index, right[0].column_of(self.template)) if other_index is not None else None
        )
        return [
            self.crossing(
                batch,
                table,
                index,
                cells,
                (left_sum[submission], right_sum[submission]),
                (right[0].sheet, other_cell),
            )
        ]

    def crossing(
        self,
        batch: Batch,
        table: Table,
        index: Any,
        cells: list[str | None],
        amounts: tuple[float, float],
        other_place: tuple[str, str | None],
        **fields: Any,
    ) -> Finding:
        """A finding of the two sides' amounts (stated, other), naming the other table's sheet and cell."""
        stated, other = amounts
        other_key, other_cell = other_place
        read = batch.submissions[int(table.value(index, "submission"))]
        other_sheet = read.sheets.get(other_key, other_key)  # its title in the file
        stated_money = Money(0.0 if pd.isna(stated) else float(stated))
        other_money = Money(0.0 if pd.isna(other) else float(other))
        return self.finding(
            table,
            index,
            "",
            cells,
            expected=other_money,
            actual=stated_money,
            difference=Money(abs(stated_money - other_money)),
            other=f"{other_sheet}!{other_cell}" if other_cell else other_sheet,
            **fields,
        )


class ScoreRule(Rule):
    """A stated score equals the one the national rules compute (`method`: indicator, execution, total)."""

    kind = "score"
    _expected: tuple[Batch, pd.Series] | None = None

    def expected(self, batch: Batch) -> pd.Series:
        """The computed score of every row; computed once per batch (each failing row's finding asks again)."""
        if self._expected is None or self._expected[0] is not batch:
            self._expected = (batch, self._compute_expected(batch))
        return self._expected[1]

    def _compute_expected(self, batch: Batch) -> pd.Series:
        values = self.table(batch).values
        method = self.spec.require("method")
        if method == "indicator":
            return self._indicator_expected(values)
        if method == "execution":
            actual, budget = self._execution_inputs(batch)
            ratio = (actual / budget.where(budget > 0)).clip(upper=1.0)
            return float(self.spec.param("points", 10)) * ratio
        if method == "total":
            indicators = batch["indicators"].values
            items = indicators[~indicators["is_total"]]
            scores = items["score"].groupby(items["submission"]).sum()
            return values["execution_score"] + values["submission"].map(scores).fillna(0)
        raise ValueError(f"rule {self.spec.id}: unknown score method {method!r}")

    def _indicator_expected(self, values: pd.DataFrame) -> pd.Series:
        target, result, weight, nature = values["target"], values["result"], values["weight"], values["nature"]
        met = np.select(
            [nature == "≥", nature == "≤", nature == "="],
            [result >= target - EPSILON, result <= target + EPSILON, (result - target).abs() <= EPSILON],
            default=False,
        )
        larger = pd.concat([result, target], axis=1).max(axis=1)
        ratio = np.select(
            [nature == "≥", nature == "≤", nature == "="],
            [
                result / target.where(target != 0),
                target / result.where(result != 0),
                np.minimum(result, target) / larger.where(larger != 0),
            ],
            default=np.nan,
        )
        expected = pd.Series(np.where(met, weight, weight * np.clip(ratio, 0, 1)), index=values.index)
        return expected.where(nature.isin(["≥", "≤", "="]) & target.notna() & result.notna() & weight.notna())

    def _execution_inputs(self, batch: Batch) -> tuple[pd.Series, pd.Series]:
        values = self.table(batch).values
        summary = batch["summary"].values
        actual = values["submission"].map(by_submission(summary, grid_column("exp_total", "actual")))
        budget = values["submission"].map(by_submission(summary, grid_column("exp_total", "budget_full")))
        return actual, budget

    def stated_column(self) -> str:
        return {"indicator": "score", "execution": "execution_score", "total": "total"}[self.spec.require("method")]

    def holds(self, batch: Batch, variant: str) -> pd.Series:
        values = self.table(batch).values
        stated = values[self.stated_column()]
        expected = self.expected(batch)
        holds = stated.isna() | expected.isna() | ((stated - expected).abs() <= self.tolerances.score + EPSILON)
        return holds | ~self.item_rows(self.table(batch))

    def explain(self, batch: Batch, variant: str, index: Any) -> list[Finding]:
        table = self.table(batch)
        stated_column = self.stated_column()
        expected = float(self.expected(batch).loc[index])
        fields: dict[str, Any] = {}
        cells = [table.cell(index, stated_column)]
        method = self.spec.require("method")
        if method == "indicator":
            fields = {
                "label": self.item_name(table, index),
                "target": plain_text(table.value(index, "target")),
                "result": plain_text(table.value(index, "result")),
            }
            cells += [table.cell(index, "target"), table.cell(index, "result"), table.cell(index, "weight")]
        elif method == "execution":
            actual, budget = self._execution_inputs(batch)
            fields = {"numerator": Money(actual.loc[index]), "denominator": Money(budget.loc[index])}
        else:
            cells.append(table.cell(index, "execution_score"))
        return [
            self.finding(
                table,
                index,
                variant,
                cells,
                expected=plain_text(round(expected, 2)),
                actual=plain_text(table.value(index, stated_column)),
                **fields,
            )
        ]


GRADE_ALIASES = {"优秀": "优", "良好": "良", "中等": "中", "较差": "差"}


class GradeRule(Rule):
    """The grade follows the total: the first grade whose lower bound the total reaches."""

    kind = "grade"

    def expected(self, total: pd.Series) -> pd.Series:
        grades = sorted(self.spec.require("grades").items(), key=lambda item: -item[1])
        conditions = [total >= bound - EPSILON for _, bound in grades]
        return pd.Series(np.select(conditions, [g for g, _ in grades], default=grades[-1][0]), index=total.index)

    def holds(self, batch: Batch, variant: str) -> pd.Series:
        values = self.table(batch).values
        stated = values["grade"].map(lambda g: GRADE_ALIASES.get(g, g) if isinstance(g, str) else g)
        return stated.isna() | values["total"].isna() | (stated == self.expected(values["total"]))

    def explain(self, batch: Batch, variant: str, index: Any) -> list[Finding]:
        table = self.table(batch)
        total = table.values["total"].loc[[index]]
        return [
            self.finding(
                table,
                index,
                variant,
                [table.cell(index, "grade"), table.cell(index, "total")],
                expected=str(self.expected(total).iloc[0]),
                actual=str(table.value(index, "grade")),
                total=plain_text(float(total.iloc[0])),
            )
        ]


def build_rules(template: Template) -> list[Rule]:
    """Every catalogue entry bound to its kind."""
    return [Rule.kinds[spec.kind](spec, template, position) for position, spec in enumerate(template.rules)]
