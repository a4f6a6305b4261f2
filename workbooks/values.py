"""Turning what a clerk typed into a cell into exact values (spec §1, Amounts and Percentages).

Every parser takes the raw cell value and returns an exact `Decimal` (or None for "not filled"),
or raises `CellValueError` naming the reading rule that failed and the words for its message.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation, localcontext
from functools import lru_cache
from typing import Any, TypeGuard

# Every number a sheet holds stays below this (10 万亿): no department's figure comes near it, a float keeps
# cents exactly up to it, and the database's NUMERIC holds it in 元 or 万元 with room to spare. Beyond it
# is a `format/out-of-range` finding naming the cell, never an overflow somewhere later.
MAX_YEAR_NUMBER = 10**15  # fits the typed tables' Int64 and is shown without an exponent
MAX_MAGNITUDE = Decimal(10) ** 13
_SPREADSHEET = Context(prec=15)  # the significant digits a spreadsheet keeps and shows

NOT_FILLED = frozenset({"", "-", "—", "－", "–", "/", "--", "——"})
UNITS = ("万元", "元")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_PERCENT_FORMAT = re.compile(r"(?:0|#)(?:\.(0+))?\s*%")
_FIXED_FORMAT = re.compile(r"^[#,]*0(?:\.(0+))?$")
_YEAR = re.compile(r"^(\d{4})(?:年度?)?$")
_DATE_TEXT = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_COMPARATOR = re.compile(r"^(?:[≥≤=<>]|>=|<=)")


class CellValueError(Exception):
    """A cell's content does not read as its column's type; `rule` is a reading rule id."""

    def __init__(self, rule: str, **fields: Any) -> None:
        super().__init__(rule)
        self.rule = rule
        self.fields = fields


@dataclass(frozen=True, slots=True)
class Rate:
    """A percentage in percent points, and how many decimals the submitter wrote."""

    percent: Decimal
    decimals: int
    ambiguous: bool = False


def clean_text(value: object) -> str:
    """NFKC and surrounding white space removed; None becomes ''."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return _clean_short(text) if len(text) <= _SHORT_TEXT else _clean(text)


def _clean(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


_SHORT_TEXT = 64  # labels, names and codes; a long text (a cell may hold 32,767 characters) is not kept
# the same few thousand labels, names and codes, workbook after workbook: each cleaned once per process
_clean_short = lru_cache(maxsize=1 << 14)(_clean)


def is_not_filled(value: object) -> bool:
    return value is None or (isinstance(value, str) and clean_text(value) in NOT_FILLED)


MAX_DECIMALS = 15  # a spreadsheet keeps 15 significant digits: more decimals (2.2E-308) were never typed


def decimals_of(number: Decimal) -> int:
    """The decimals written, as rates and indicator values are compared and shown at that precision."""
    exponent = number.as_tuple().exponent
    return min(MAX_DECIMALS, max(0, -exponent)) if isinstance(exponent, int) else 0


def plain(number: Decimal) -> Decimal:
    """The same number without an exponent above zero (`1E+2` → `100`), and no negative zero."""
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        with localcontext(Context(prec=max(28, number.adjusted() + 1))):  # 1E+308 too, before it is refused
            number = number.quantize(Decimal(1))
    return number + 0 if number.is_zero() else number


def spreadsheet_rounded(number: Decimal) -> Decimal:
    """A computed number as a spreadsheet keeps it: 15 significant digits (79/81 → 0.975308641975309)."""
    return plain(_SPREADSHEET.plus(number)) if number.is_finite() else number


def _in_range(number: Decimal, value: object) -> Decimal:
    """The number, or a `format/out-of-range` problem for the cell that holds it."""
    if abs(number) >= MAX_MAGNITUDE:
        raise CellValueError("format/out-of-range", value=_shown(value))
    return number


def _shown(value: object) -> str:
    return clean_text(value) if isinstance(value, str) else str(value)


def exact(value: int | float | Decimal) -> Decimal:
    """The decimal a spreadsheet shows for a stored number (1160.21, not 1160.2100000000000364).

    A spreadsheet keeps 15 significant digits and shows a float's noise (`0.1 + 0.2`) as `0.3`;
    so does this. A Decimal (a formula evaluated by budgetflow) is kept as it is.
    """
    kind = value.__class__
    if kind is int:
        return Decimal(value)
    if kind is bool:
        raise TypeError("a boolean is not a number")
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, int):
        return Decimal(value)
    if value != value or value in (float("inf"), float("-inf")):
        return Decimal("NaN")
    shown = format(value, ".15g")  # `g` drops trailing zeros itself: what is left is the number as shown
    if "e" not in shown and value != 0:  # most amounts; an exponent or a negative zero needs `plain`
        return Decimal(shown)
    return plain(Decimal(shown).normalize())


def is_number(value: object) -> TypeGuard[int | float | Decimal]:
    """A stored number (int, float, or an evaluated formula's Decimal), not a boolean."""
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _text_number(text: str) -> Decimal | None:
    text = text.replace(",", "").replace(" ", "")
    if not _NUMBER.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def parse_amount(value: object, unit: str) -> Decimal | None:
    """An amount in the declared unit, or None when not filled."""
    kind = value.__class__
    if kind is int or kind is float:  # the commonest by far, looked at first: reading calls this for every amount
        return _valid_amount(exact(value), value)  # type: ignore[arg-type]  # exact's number is plain already
    if is_not_filled(value):
        return None
    if kind is bool:
        raise CellValueError("format/amount", value=str(value))
    if is_number(value):
        number = exact(value)
    else:
        text = clean_text(value)
        found_unit = next((u for u in UNITS if text.endswith(u)), None)
        if found_unit is not None:
            text = text[: -len(found_unit)].strip()
        parsed = _text_number(text)
        if parsed is not None and found_unit not in (None, unit):
            raise CellValueError("format/unit", value=clean_text(value), found=found_unit, unit=unit)
        if parsed is None:
            raise CellValueError("format/amount", value=clean_text(value))
        number = parsed
    return plain(_valid_amount(number, value))


def _valid_amount(number: Decimal, value: object) -> Decimal:
    """The number, or the problem that makes the cell's value no amount."""
    if not number.is_finite():
        raise CellValueError("format/amount", value=str(value))
    _in_range(number, value)
    if number < 0:
        raise CellValueError("format/negative", value=str(number))
    return number


def parse_number(value: object) -> Decimal | None:
    """A plain number (score, weight, count), or None when not filled."""
    if is_not_filled(value):
        return None
    if isinstance(value, bool):
        raise CellValueError("format/number", value=str(value))
    if is_number(value):
        number = exact(value)
        if not number.is_finite():
            raise CellValueError("format/number", value=str(value))
        return _in_range(number, value)
    parsed = _text_number(clean_text(value))
    if parsed is None:
        raise CellValueError("format/number", value=clean_text(value))
    return _in_range(parsed, value)


def _format_decimals(number_format: str, pattern: re.Pattern[str]) -> int | None:
    match = pattern.search(number_format or "")
    if match is None:
        return None
    return min(MAX_DECIMALS, len(match.group(1) or ""))


def parse_rate(value: object, number_format: str, ambiguous_max: float) -> Rate | None:
    """A rate in any of the three forms of spec §1, or None when not filled."""
    if is_not_filled(value):
        return None
    if isinstance(value, bool):
        raise CellValueError("format/rate", value=str(value))
    if is_number(value):
        number = exact(value)
        if not number.is_finite():
            raise CellValueError("format/rate", value=str(value))
        _in_range(number, value)
        percent_decimals = _format_decimals(number_format, _PERCENT_FORMAT)
        if percent_decimals is not None:
            return Rate(plain((number * 100).normalize()), percent_decimals)
        fixed = _format_decimals(number_format, _FIXED_FORMAT)
        decimals = fixed if fixed is not None else decimals_of(number)
        return Rate(number, decimals, ambiguous=0 < number <= Decimal(str(ambiguous_max)))
    text = clean_text(value).replace(" ", "")
    if text.endswith("%"):
        parsed = _text_number(text[:-1])
        if parsed is None:
            raise CellValueError("format/rate", value=clean_text(value))
        return Rate(_in_range(parsed, value), decimals_of(parsed))
    parsed = _text_number(text)
    if parsed is None:
        raise CellValueError("format/rate", value=clean_text(value))
    _in_range(parsed, value)
    return Rate(parsed, decimals_of(parsed), ambiguous=0 < parsed <= Decimal(str(ambiguous_max)))


def parse_measure(value: object, number_format: str) -> tuple[Decimal | None, int | None, str]:
    """An indicator value: (number or None, decimals written, text as written).

    Targets may be qualitative (`好`, `按期完成`) or carry a comparator (`≥95%`); those stay text.
    """
    if is_not_filled(value):
        return None, None, ""
    if is_number(value):
        number = exact(value)
        if not number.is_finite():
            return None, None, str(value)
        _in_range(number, value)
        percent_decimals = _format_decimals(number_format, _PERCENT_FORMAT)
        if percent_decimals is not None:
            percent = plain((number * 100).normalize())
            return percent, percent_decimals, f"{percent:.{percent_decimals}f}%"  # as the cell shows it
        fixed = _format_decimals(number_format, _FIXED_FORMAT)
        return number, (fixed if fixed is not None else decimals_of(number)), f"{number:f}"
    text = clean_text(value)
    stripped = _COMPARATOR.sub("", text.replace(" ", "")).removesuffix("%")
    parsed = _text_number(stripped)
    if parsed is None:
        return None, None, text
    return _in_range(parsed, value), decimals_of(parsed), text


def parse_year(value: object) -> int | None:
    """A year (a whole number, or `2023`, `2023年`, `2023年度`); anything else is `format/year`.

    A whole number that is no plausible year (a telephone number) is still a number, for the
    `format/fiscal-year` rule to name; one beyond any integer column (10^30) is `format/year` here."""
    if is_not_filled(value):
        return None
    if is_number(value) and float(value).is_integer() and abs(float(value)) < MAX_YEAR_NUMBER:
        return int(value)
    match = _YEAR.match(clean_text(value).replace(" ", ""))
    if match is None:
        raise CellValueError("format/year", value=_shown(value))
    return int(match.group(1))


def parse_date(value: object) -> dt.date | None:
    if is_not_filled(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    match = _DATE_TEXT.match(clean_text(value).replace(" ", ""))
    if match is None:
        raise CellValueError("format/date", value=clean_text(value))
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError as exc:
        raise CellValueError("format/date", value=clean_text(value)) from exc


def parse_unit(value: object) -> str:
    if is_not_filled(value):
        return "万元"
    text = clean_text(value).replace(" ", "")
    if text not in UNITS:
        raise CellValueError("format/declared-unit", value=text)
    return text


def parse_text(value: object) -> str | None:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a code typed as a number keeps no ".0"
    text = str(value).strip() if value is not None else ""
    return text or None
