"""Findings: the one record every stage uses to say what is wrong and which cell to fix.

Modelled on frictionless-py's error taxonomy: a stable rule slug (`family/name`), a severity,
location fields (sheet, cells) and a message for a bureau clerk, plus the expected and actual
values as exact text so machines can assert on them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal, localcontext
from enum import StrEnum
from typing import Any, Literal, get_args

from checks.messages import MESSAGE_CHARACTERS, QUOTED_CHARACTERS, clip


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Status(StrEnum):
    PASSED = "passed"
    WARNINGS = "warnings"
    FAILED = "failed"
    UNREADABLE = "unreadable"


# The statuses the bureau must send the workbook again for: each alerts the bureau and the operators.
NEEDS_RESUBMISSION = frozenset({Status.FAILED, Status.UNREADABLE})

# How a status reads to a bureau clerk, in every output (tables, HTML, mail, artifacts).
STATUS_TEXT: dict[str, str] = {
    Status.PASSED: "通过",
    Status.WARNINGS: "有警告",
    Status.FAILED: "未通过",
    Status.UNREADABLE: "无法读取",
}

# How a finding's severity reads to a bureau clerk, in every output; an explained warning reads 已说明.
SEVERITY_TEXT: dict[Severity, str] = {Severity.ERROR: "错误", Severity.WARNING: "警告"}
EXPLAINED_TEXT = "已说明"

# A rule's family is its kind: the part of its id before the slash (`sum/income`).
RuleKind = Literal[
    "required",
    "format",
    "sum",
    "ceiling",
    "rate",
    "balance",
    "cross-sheet",
    "score",
    "grade",
    "hierarchy",
    "cross-table",
    "history",  # against the same bureau's previous year, from the database (checks.history)
    "consolidation",  # a 主管部门's own workbook against the sum of its units' (checks.history)
]
RULE_FAMILIES = frozenset(get_args(RuleKind))


@dataclass(frozen=True, slots=True)
class Finding:
    """One failed check, located on a sheet; `cells[0]` is the cell to fix."""

    rule: str
    severity: Severity
    message: str
    sheet: str | None = None
    cells: tuple[str, ...] = ()
    expected: str | None = None
    actual: str | None = None
    # why a warning stands (核实性审核): the bureau's 情况说明 or an operator's reason; it then no longer counts
    explanation: str | None = None
    explained_by: str | None = None  # the bureau (its 情况说明 sheet) or the operator who explained it

    def __post_init__(self) -> None:
        family = self.rule.split("/", 1)[0]
        if family not in RULE_FAMILIES or "/" not in self.rule:
            raise ValueError(f"rule {self.rule!r} is not of the form family/name with a known family")
        # What the file said is copied into every output: bounded here, whatever built the finding.
        object.__setattr__(self, "message", clip(self.message, MESSAGE_CHARACTERS))
        if self.explanation is not None and self.severity is Severity.ERROR:
            raise ValueError(f"rule {self.rule}: an error is corrected, never explained")
        for name in ("expected", "actual", "sheet"):
            value = getattr(self, name)
            if value is not None and len(value) > QUOTED_CHARACTERS:
                object.__setattr__(self, name, clip(value))

    @property
    def cell(self) -> str | None:
        return self.cells[0] if self.cells else None

    @property
    def counts(self) -> bool:
        """Whether it weighs on the submission's status: every error, and a warning nobody explained."""
        return self.explanation is None

    @property
    def severity_text(self) -> str:
        """How it reads to a bureau clerk: 错误, 警告, or 已说明 for an explained warning."""
        return EXPLAINED_TEXT if self.explanation is not None else SEVERITY_TEXT[self.severity]

    @property
    def shown_message(self) -> str:
        """The message, and for an explained warning its explanation and who gave it."""
        if self.explanation is None:
            return self.message
        return f"{self.message}（{EXPLAINED_TEXT}：{self.explanation}——{self.explained_by or ''}）"

    def explained(self, reason: str, by: str) -> Finding:
        return replace(self, explanation=clip(reason, MESSAGE_CHARACTERS), explained_by=clip(by))

    def to_dict(self) -> dict[str, Any]:
        """The spec §3 finding; an explained warning also says why it stands and who said so."""
        document: dict[str, Any] = {
            "rule": self.rule,
            "severity": str(self.severity),
            "sheet": self.sheet,
            "cells": list(self.cells),
            "message": self.message,
            "expected": self.expected,
            "actual": self.actual,
        }
        if self.explanation is not None:
            document |= {"explanation": self.explanation, "explained_by": self.explained_by}
        return document


def explained_count(findings: Iterable[Finding]) -> int:
    """How many of the findings are explained warnings (已说明)."""
    return sum(f.explanation is not None for f in findings)


def status_of(findings: list[Finding], *, unreadable: bool = False) -> Status:
    if unreadable:
        return Status.UNREADABLE
    errors = sum(f.severity is Severity.ERROR for f in findings)
    return status_of_counts(errors, sum(f.severity is Severity.WARNING and f.counts for f in findings))


def status_of_counts(errors: int, warnings: int) -> Status:
    """A readable submission's status from its errors and the warnings that stand."""
    if errors:
        return Status.FAILED
    return Status.WARNINGS if warnings else Status.PASSED


@dataclass(slots=True)
class FileReport:
    """The outcome of checking one file: the §3 JSON document."""

    file: str
    sha256: str
    findings: list[Finding] = field(default_factory=list)
    unreadable: bool = False
    bureau_code: str | None = None
    fiscal_year: int | None = None
    template: str | None = None  # the template it was read with (`validate` picks one by what the workbook holds)

    def __post_init__(self) -> None:
        if self.bureau_code is not None:  # as the file states it, shown on pages and in mails: a code is short
            self.bureau_code = clip(self.bureau_code)

    @property
    def status(self) -> Status:
        return status_of(self.findings, unreadable=self.unreadable)

    @property
    def errors(self) -> int:
        return sum(f.severity is Severity.ERROR for f in self.findings)

    @property
    def warnings(self) -> int:
        """The warnings that stand: an explained one no longer counts."""
        return sum(f.severity is Severity.WARNING and f.counts for f in self.findings)

    @property
    def explained(self) -> int:
        return explained_count(self.findings)

    def flatten(self) -> list[tuple[str, str, str | None, str | None]]:
        """(rule, severity, sheet, first cell) of every finding, for terse assertions."""
        return [(f.rule, str(f.severity), f.sheet, f.cell) for f in self.findings]

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "sha256": self.sha256,
            "status": str(self.status),
            "bureau_code": self.bureau_code,
            "fiscal_year": self.fiscal_year,
            "template": self.template,
            "findings": [f.to_dict() for f in self.findings],
        }


def format_number(value: Decimal | float | int, *, min_decimals: int = 2, max_decimals: int = 6) -> str:
    """Plain decimal text for messages: at least two decimals, no exponent, no float noise."""
    number = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    if not number.is_finite():
        return str(number)
    with localcontext() as context:
        # Every digit of the rounded number, however large (a 30-digit amount typed by mistake, a rate over a
        # denominator of 1e-300), must fit the context, or rounding raises instead of reporting it.
        context.prec = max(80, number.adjusted() + max_decimals + 2)
        number = round(number, max_decimals).normalize()
        exponent = number.as_tuple().exponent
        decimals = max(min_decimals, -exponent if isinstance(exponent, int) else 0)
        return f"{number:.{decimals}f}"
