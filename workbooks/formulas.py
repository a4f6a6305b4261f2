"""Evaluating the formulas a program wrote without cached values (spec §1, Formulas).

Only arithmetic over cells of the same workbook is evaluated: `+ - * /`, unary minus,
parentheses, numeric constants, cell references (optionally sheet-qualified, `$` allowed),
ranges, and SUM. Anything else raises `FormulaError`, which the reader reports as `format/formula`.

Everything is bounded, as a spreadsheet bounds it: a formula of at most 8192 characters and 64 levels
of nesting (Excel's own limits; deeper is `FormulaError`, never a Python stack overflow), numbers of at
most 30 digits, and results below `MAX_MAGNITUDE` (`FormulaOutOfRange` beyond). Arithmetic is exact
decimal arithmetic to 34 digits; a result is rounded to the 15 significant digits a spreadsheet keeps.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Context, Decimal, DivisionByZero, InvalidOperation, Overflow, localcontext

from openpyxl.utils.cell import column_index_from_string

from workbooks.values import MAX_MAGNITUDE, spreadsheet_rounded

CellLookup = Callable[[str, int, int], Decimal | None]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)
      | (?P<ref>(?:(?:'(?:[^']|'')+'|[^\s!'(),+\-*/:=]+)!)?\$?[A-Za-z]{1,3}\$?\d+(?::\$?[A-Za-z]{1,3}\$?\d+)?)
      | (?P<func>[A-Za-z][A-Za-z0-9.]*)\s*\(
      | (?P<op>[-+*/(),])
    )""",
    re.VERBOSE,
)
_CELL = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d+)")
MAX_RANGE_CELLS = 10_000
MAX_FORMULA_CHARS = 8192  # Excel's limit on a formula's length
MAX_NESTING = 64  # Excel's limit on nested functions; parentheses count too
MAX_NUMBER_DIGITS = 30
# Intermediate results may exceed MAX_MAGNITUDE (1E20 / 1E10); anything near Decimal's own limits is refused.
_ARITHMETIC = Context(prec=34, Emax=60, Emin=-60, traps=[InvalidOperation, DivisionByZero, Overflow])


class FormulaError(Exception):
    """The formula is outside what budgetflow evaluates."""


class DividedByZero(FormulaError):
    """The formula divides by zero (a spreadsheet shows #DIV/0!)."""


class FormulaOutOfRange(FormulaError):
    """The formula's result (or a number in it) is beyond what an amount, a rate or a score can be."""


def _tokens(formula: str) -> list[tuple[str, str]]:
    text = formula.lstrip("=").strip()
    if len(text) > MAX_FORMULA_CHARS:
        raise FormulaError(f"公式超过 {MAX_FORMULA_CHARS} 个字符")
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            if text[position:].strip() == "":
                break
            raise FormulaError(f"无法解析：{text[position : position + 20]}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], sheet: str, lookup: CellLookup) -> None:
        self.tokens = tokens
        self.position = 0
        self.sheet = sheet
        self.lookup = lookup
        self.depth = 0

    def peek(self, ahead: int = 0) -> tuple[str, str] | None:
        position = self.position + ahead
        return self.tokens[position] if position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FormulaError("公式不完整")
        self.position += 1
        return token

    def expect(self, op: str) -> None:
        if self.take() != ("op", op):
            raise FormulaError(f"缺少“{op}”")

    def expression(self) -> Decimal:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise FormulaError(f"公式嵌套超过 {MAX_NESTING} 层")
        try:
            return self._sum_of_terms()
        finally:
            self.depth -= 1

    def _sum_of_terms(self) -> Decimal:
        value = self.term()
        while (token := self.peek()) in (("op", "+"), ("op", "-")):
            self.take()
            right = self.term()
            value = value + right if token == ("op", "+") else value - right
        return value

    def term(self) -> Decimal:
        value = self.unary()
        while (token := self.peek()) in (("op", "*"), ("op", "/")):
            self.take()
            right = self.unary()
            if token == ("op", "/") and right.is_zero():
                raise DividedByZero("除数为零")
            value = value * right if token == ("op", "*") else value / right
        return value

    def unary(self) -> Decimal:
        negative = False
        while self.peek() in (("op", "-"), ("op", "+")):  # a loop: `-----1` needs no stack
            negative ^= self.take() == ("op", "-")
        value = self.atom()
        return -value if negative else value

    def atom(self) -> Decimal:
        kind, text = self.take()
        if kind == "number":
            if len(text) > MAX_NUMBER_DIGITS:
                raise FormulaOutOfRange(f"数字 {text[:20]}… 位数过多")
            return Decimal(text)
        if kind == "ref":
            cells = self.cells(text)
            if len(cells) != 1:
                raise FormulaError(f"区域 {text} 只能用在 SUM 中")
            return self.lookup(*cells[0]) or Decimal(0)
        if kind == "func":
            if text.upper() != "SUM":
                raise FormulaError(f"不支持函数 {text}")
            return self.sum_arguments()
        if (kind, text) == ("op", "("):
            value = self.expression()
            self.expect(")")
            return value
        raise FormulaError(f"意外的“{text}”")

    def sum_arguments(self) -> Decimal:
        total = Decimal(0)
        if self.peek() == ("op", ")"):
            self.take()
            return total
        while True:
            token = self.peek()
            if token is not None and token[0] == "ref" and self.peek(1) in (("op", ","), ("op", ")")):
                self.take()  # a reference or range on its own: every cell of it, empty ones as 0
                for cell in self.cells(token[1]):
                    total += self.lookup(*cell) or Decimal(0)
            else:
                total += self.expression()  # SUM(C5+C6, 2*C7)
            separator = self.take()
            if separator == ("op", ")"):
                return total
            if separator != ("op", ","):
                raise FormulaError("SUM 参数有误")

    def cells(self, ref: str) -> list[tuple[str, int, int]]:
        return _cells(ref, self.sheet)


def _cells(ref: str, sheet: str) -> list[tuple[str, int, int]]:
    """(sheet, row, column) of every cell a reference or range names; `sheet` unless qualified."""
    if "!" in ref:
        sheet_part, ref = ref.rsplit("!", 1)
        sheet = sheet_part[1:-1].replace("''", "'") if sheet_part.startswith("'") else sheet_part
    corners = [_CELL.fullmatch(part) for part in ref.split(":")]
    if any(corner is None for corner in corners):
        raise FormulaError(f"无法识别的引用 {ref}")
    points = [(int(c.group(2)), column_index_from_string(c.group(1).upper())) for c in corners if c]
    (row1, col1), (row2, col2) = points[0], points[-1]
    rows = range(min(row1, row2), max(row1, row2) + 1)
    cols = range(min(col1, col2), max(col1, col2) + 1)
    if len(rows) * len(cols) > MAX_RANGE_CELLS:
        raise FormulaError(f"区域 {ref} 过大")
    return [(sheet, row, col) for row in rows for col in cols]


def references(formula: str, sheet: str) -> list[tuple[str, int, int]]:
    """Every cell the formula refers to, ranges expanded, in order (for evaluating dependencies first).

    Raises FormulaError when the formula cannot be read; `evaluate` would raise it too.
    """
    return [cell for kind, text in _tokens(formula) if kind == "ref" for cell in _cells(text, sheet)]


def evaluate(formula: str, sheet: str, lookup: CellLookup) -> Decimal:
    """The value of an arithmetic/SUM formula on `sheet`, as a spreadsheet keeps it (15 significant digits);
    lookup gives referenced cells' values."""
    parser = _Parser(_tokens(formula), sheet, lookup)
    try:
        with localcontext(_ARITHMETIC):
            value = parser.expression()
    except (Overflow, InvalidOperation) as exc:
        raise FormulaOutOfRange("计算结果超出范围") from exc
    if parser.peek() is not None:
        raise FormulaError(f"无法解析：{parser.peek()}")
    if value.is_finite() and abs(value) >= MAX_MAGNITUDE:
        raise FormulaOutOfRange("计算结果超出范围")
    return spreadsheet_rounded(value)
