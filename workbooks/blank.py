"""A blank submission workbook for bureaus to fill, laid out by the template file (spec §2).

Everything comes from the template: sheet titles, labels, column headers and row labels from its
`sheets:`, and from its `rules:` the total formulas (each `sum` rule over a grid sheet's rows, each
`sum … over: rows` and `rate` rule of a list sheet's 合计 row) and the choice lists of the data
validations (`format` rules with `choices` or `range`, the `grade` rule's grades). So the blank
template asks for exactly what the reader looks for, and a filled-in copy validates.

Input cells are unlocked (and shaded); labels, headers and the total formulas are locked, and every
sheet is protected **without a password** (审阅 → 撤销工作表保护 lifts it), so a bureau cannot type over
a total or rename a sheet by accident but is never locked out. openpyxl stores formulas without
computed values; a spreadsheet program computes them on opening, and budgetflow's reader evaluates
these (SUM and arithmetic only, `workbooks/formulas.py`) when a file arrives unsaved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import get_column_letter
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from checks.template import FieldSpec, RuleSpec, SheetSpec, Template, default_template
from workbooks.samples import workbook_bytes

# Blank item rows of a list sheet (项目支出, 绩效指标) before its 合计 row, if it has one.
BLANK_ROWS: dict[str, int] = {"projects": 20, "indicators": 30}
DEFAULT_BLANK_ROWS = 20

AMOUNT_FORMAT = "#,##0.00"
NUMBER_FORMAT = "0.00"
RATE_FORMAT = "0.00%"
DATE_FORMAT = "yyyy-mm-dd"
TEXT_FORMAT = "@"  # codes such as 430981-013 and the 指标性质 “=” stay text
UNIT_CHOICES = ("万元", "元")  # what the reader accepts for 金额单位; the first is the default
DEFAULT_YEAR_RANGE = (2000, 2100)

INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")
TOTAL_FILL = PatternFill("solid", fgColor="E7E6E6")
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
BOLD = Font(bold=True)
UNLOCKED = Protection(locked=False)
LOCKED = Protection(locked=True)


def write_blank_template(fiscal_year: int, target: Path, template: Template | None = None) -> Path:
    """Writes the blank workbook for `fiscal_year` to `target` (same bytes every time); returns `target`."""
    book = build_blank_template(fiscal_year, template)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(workbook_bytes(book))
    return target


def build_blank_template(fiscal_year: int, template: Template | None = None) -> Workbook:
    """The blank workbook: one sheet per sheet of the template, in the template's order."""
    template = template or default_template()
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for key, spec in template.sheets.items():
        sheet = book.create_sheet(spec.title)
        if spec.kind == "keyvalue":
            _KeyValueSheet(sheet, key, spec, template, fiscal_year).write()
        elif spec.kind == "grid":
            _GridSheet(sheet, key, spec, template).write()
        else:
            _ListSheet(sheet, key, spec, template).write()
        _protect(sheet, rows_editable=spec.kind == "list")
    book.security = WorkbookProtection(lockStructure=True)  # sheet names are what the reader looks for
    return book


# --- what the rules say --------------------------------------------------------------------------


def _rules(template: Template, kind: str, table: str) -> list[RuleSpec]:
    return [rule for rule in template.rules if rule.kind == kind and rule.table == table]


def _format_rule(template: Template, table: str, column: str, param: str) -> Any:
    """A parameter (`choices`, `range`) of the table's `format` rule on `column`, if any."""
    for rule in _rules(template, "format", table):
        if rule.param("column") == column and rule.param(param) is not None:
            return rule.param(param)
    return None


def _choices(template: Template, table: str, column: str) -> tuple[str, ...] | None:
    choices = _format_rule(template, table, column, "choices")
    if choices is not None:
        return tuple(str(choice) for choice in choices)
    if column == "grade":  # the grade rule reads the `grade` field (checks/rules.py GradeRule)
        for rule in _rules(template, "grade", table):
            grades = rule.param("grades") or {}
            return tuple(str(grade) for grade, _ in sorted(grades.items(), key=lambda item: -float(item[1])))
    return None


def _year_range(template: Template, table: str = "cover", column: str = "fiscal_year") -> tuple[int, int]:
    bounds = _format_rule(template, table, column, "range")
    return (int(bounds[0]), int(bounds[1])) if bounds else DEFAULT_YEAR_RANGE


def _sum_formula(letter: str, rows: list[int]) -> str:
    """`=SUM(B2:B9)` for three or more consecutive rows, else `=B11+B14+…`."""
    if len(rows) > 2 and rows == list(range(rows[0], rows[0] + len(rows))):
        return f"=SUM({letter}{rows[0]}:{letter}{rows[-1]})"
    return "=" + "+".join(f"{letter}{row}" for row in rows)


# --- cells ---------------------------------------------------------------------------------------


def _cell(sheet: Worksheet, row: int, col: int) -> Cell:
    """A cell to write (the template merges none)."""
    cell = sheet.cell(row, col)
    assert isinstance(cell, Cell)
    return cell


def _label(cell: Cell, text: str, *, header: bool = False, bold: bool = True) -> None:
    cell.value = text
    cell.font = BOLD if bold or header else Font()
    cell.protection = LOCKED
    if header:
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _input(cell: Cell, number_format: str = "General") -> None:
    cell.protection = UNLOCKED
    cell.fill = INPUT_FILL
    cell.number_format = number_format


def _total(cell: Cell, formula: str, number_format: str) -> None:
    cell.value = formula
    cell.protection = LOCKED
    cell.fill = TOTAL_FILL
    cell.font = BOLD
    cell.number_format = number_format


def _protect(sheet: Worksheet, *, rows_editable: bool) -> None:
    """Sheet protection without a password; columns and rows may be resized, list rows inserted."""
    protection = sheet.protection
    protection.sheet = True
    protection.formatColumns = False  # False: allowed
    protection.formatRows = False
    if rows_editable:
        protection.insertRows = False
        protection.deleteRows = False


class _Validations:
    """The data validations of one sheet, one per kind, each gathering the ranges it applies to."""

    def __init__(self, sheet: Worksheet) -> None:
        self.sheet = sheet
        self.made: dict[tuple[Any, ...], DataValidation] = {}

    def _get(self, key: tuple[Any, ...], make: Any) -> DataValidation:
        if key not in self.made:
            validation: DataValidation = make()
            validation.showErrorMessage = True
            validation.showInputMessage = True
            validation.errorStyle = "stop"
            self.sheet.add_data_validation(validation)
            self.made[key] = validation
        return self.made[key]

    def non_negative(self, ref: str) -> None:
        self._get(
            ("decimal",),
            lambda: DataValidation(
                type="decimal",
                operator="greaterThanOrEqual",
                formula1="0",
                allow_blank=True,
                errorTitle="数值无效",
                error="请填写不小于 0 的数字（不要带单位或文字）。",
            ),
        ).add(ref)

    def rate(self, ref: str) -> None:
        self._get(
            ("rate",),
            lambda: DataValidation(
                type="decimal",
                operator="greaterThanOrEqual",
                formula1="0",
                allow_blank=True,
                errorTitle="比率无效",
                error="请填写不小于 0 的百分比，如 97.5%。",
                promptTitle="执行率",
                prompt="填写百分比，如 97.5%。",
            ),
        ).add(ref)

    def choice(self, ref: str, choices: tuple[str, ...], label: str) -> None:
        shown = "、".join(choices)
        self._get(
            ("list", choices),
            lambda: DataValidation(
                type="list",
                formula1='"' + ",".join(choices) + '"',
                allow_blank=True,
                errorTitle=f"{label}无效",
                error=f"{label}应为 {shown} 之一，请从下拉列表中选择。",
                promptTitle=label,
                prompt=f"从下拉列表中选择：{shown}",
            ),
        ).add(ref)

    def year(self, ref: str, low: int, high: int) -> None:
        self._get(
            ("year", low, high),
            lambda: DataValidation(
                type="whole",
                operator="between",
                formula1=str(low),
                formula2=str(high),
                allow_blank=True,
                errorTitle="年度无效",
                error=f"年度应为 {low}–{high} 之间的四位整数，如 2023。",
            ),
        ).add(ref)


# --- sheets --------------------------------------------------------------------------------------


class _KeyValueSheet:
    """封面, 自评结果: each field's label in column A, its input cell in column B."""

    def __init__(self, sheet: Worksheet, key: str, spec: SheetSpec, template: Template, fiscal_year: int) -> None:
        self.sheet, self.key, self.spec, self.template = sheet, key, spec, template
        self.fiscal_year = fiscal_year
        self.validations = _Validations(sheet)

    def write(self) -> None:
        for row, (field_key, field) in enumerate(self.spec.fields.items(), start=1):
            _label(_cell(self.sheet, row, 1), field.label)
            self.input_cell(_cell(self.sheet, row, 2), field_key, field)
        self.sheet.column_dimensions["A"].width = 18
        self.sheet.column_dimensions["B"].width = 40

    def input_cell(self, cell: Cell, field_key: str, field: FieldSpec) -> None:
        ref = cell.coordinate
        choices = _choices(self.template, self.key, field_key)
        if field.type == "year":
            low, high = _year_range(self.template, self.key, field_key)
            if not low <= self.fiscal_year <= high:
                raise ValueError(f"年度 {self.fiscal_year} 不在 {low}–{high} 之间")
            _input(cell, "0")
            cell.value = self.fiscal_year
            self.validations.year(ref, low, high)
        elif field.type == "unit":
            _input(cell, TEXT_FORMAT)
            cell.value = UNIT_CHOICES[0]
            self.validations.choice(ref, UNIT_CHOICES, field.label)
        elif field.type == "date":
            _input(cell, DATE_FORMAT)
        elif choices is not None:
            _input(cell, TEXT_FORMAT)
            self.validations.choice(ref, choices, field.label)
        elif field.type in ("number", "amount"):
            _input(cell, AMOUNT_FORMAT if field.type == "amount" else NUMBER_FORMAT)
            self.validations.non_negative(ref)
        elif field.type == "rate":
            _input(cell, RATE_FORMAT)
            self.validations.rate(ref)
        else:
            _input(cell, TEXT_FORMAT)


class _GridSheet:
    """收支总表, 三公经费: header 项目 + amount columns; a row per row label; totals as formulas."""

    def __init__(self, sheet: Worksheet, key: str, spec: SheetSpec, template: Template) -> None:
        self.sheet, self.key, self.spec, self.template = sheet, key, spec, template

    def formulas(self, row_of: dict[str, int], col_of: dict[str, int]) -> dict[tuple[str, str], str]:
        """(row key, column key) → formula, from each `sum` rule of this sheet (the first rule wins)."""
        formulas: dict[tuple[str, str], str] = {}
        for rule in _rules(self.template, "sum", self.key):
            total, parts = rule.param("total"), rule.param("parts")
            if total not in row_of or not parts or rule.param("over", "columns") != "columns":
                continue
            rows = [row_of[part] for part in parts if part in row_of]
            for column in rule.param("columns") or list(col_of):
                if column in col_of and rows:
                    formulas.setdefault((total, column), _sum_formula(get_column_letter(col_of[column]), rows))
        return formulas

    def write(self) -> None:
        sheet = self.sheet
        _label(_cell(sheet, 1, 1), self.spec.label_header or "项目", header=True)
        col_of = {column: 2 + i for i, column in enumerate(self.spec.columns)}
        for column, col in col_of.items():
            _label(_cell(sheet, 1, col), self.spec.columns[column].label, header=True)
        row_of = {row_key: 2 + i for i, row_key in enumerate(self.spec.rows)}
        formulas = self.formulas(row_of, col_of)
        for row_key, row in row_of.items():
            is_total = any((row_key, column) in formulas for column in col_of)
            _label(_cell(sheet, row, 1), self.spec.rows[row_key].label, bold=is_total)
            for column, col in col_of.items():
                formula = formulas.get((row_key, column))
                if formula is None:
                    _input(_cell(sheet, row, col), AMOUNT_FORMAT)
                else:
                    _total(_cell(sheet, row, col), formula, AMOUNT_FORMAT)
        last_row, last_col = 1 + len(row_of), 1 + len(col_of)
        _Validations(sheet).non_negative(f"B2:{get_column_letter(last_col)}{last_row}")
        note = sheet.cell(last_row + 2, 1, "注：灰色单元格为合计公式，自动计算；金额单位与封面一致。")
        note.protection = LOCKED
        sheet.freeze_panes = "B2"
        sheet.column_dimensions["A"].width = 36
        for col in col_of.values():
            sheet.column_dimensions[get_column_letter(col)].width = 16


class _ListSheet:
    """项目支出, 绩效指标: the header, blank input rows and, when a rule sums the rows, a 合计 row."""

    def __init__(self, sheet: Worksheet, key: str, spec: SheetSpec, template: Template) -> None:
        self.sheet, self.key, self.spec, self.template = sheet, key, spec, template
        self.validations = _Validations(sheet)

    def write(self) -> None:
        sheet = self.sheet
        col_of = {column: 1 + i for i, column in enumerate(self.spec.columns)}
        for column, col in col_of.items():
            _label(_cell(sheet, 1, col), self.spec.columns[column].label, header=True)
            sheet.column_dimensions[get_column_letter(col)].width = max(
                12, 2 * len(self.spec.columns[column].label) + 4
            )
        first, last = 2, 1 + BLANK_ROWS.get(self.key, DEFAULT_BLANK_ROWS)
        for column, col in col_of.items():
            self.input_column(column, col, first, last)
        total_row = last + 1
        if self.write_total_row(total_row, col_of, first, last):
            note_row = total_row + 2
            text = (
                f"注：灰色单元格为合计公式，自动计算。超过 {last - first + 1} 行时，请在第 {first + 1}–{last} 行之间"
                f"插入行，“{self.spec.total_label}”行的公式随之扩展。"
            )
            sheet.cell(note_row, 1, text).protection = LOCKED
        sheet.freeze_panes = "A2"
        sheet.row_dimensions[1].height = 30

    def input_column(self, column: str, col: int, first: int, last: int) -> None:
        field = self.spec.columns[column]
        letter = get_column_letter(col)
        ref = f"{letter}{first}:{letter}{last}"
        choices = _choices(self.template, self.key, column)
        number_format = {
            "amount": AMOUNT_FORMAT,
            "rate": RATE_FORMAT,
            "date": DATE_FORMAT,
            "number": "General",
            "measure": "General",
        }.get(field.type, TEXT_FORMAT)
        for row in range(first, last + 1):
            _input(_cell(self.sheet, row, col), number_format)
        if choices is not None:
            self.validations.choice(ref, choices, field.label)
        elif field.type in ("amount", "number"):
            self.validations.non_negative(ref)
        elif field.type == "rate":
            self.validations.rate(ref)

    def write_total_row(self, row: int, col_of: dict[str, int], first: int, last: int) -> bool:
        """The 合计 row: SUM of the item rows for each column a `sum … over: rows` rule checks, and each
        `rate` rule's stated rate as numerator ÷ denominator of the totals. False when no rule asks for it."""
        summed = [
            column
            for rule in _rules(self.template, "sum", self.key)
            if rule.param("over") == "rows"
            for column in rule.param("columns") or []
            if column in col_of
        ]
        if not summed or not self.spec.total_label:
            return False
        _label(_cell(self.sheet, row, col_of[self.spec.label_column_key()]), self.spec.total_label)
        for column in col_of:
            self.sheet.cell(row, col_of[column]).protection = LOCKED
            self.sheet.cell(row, col_of[column]).fill = TOTAL_FILL
        for column in dict.fromkeys(summed):
            letter = get_column_letter(col_of[column])
            _total(_cell(self.sheet, row, col_of[column]), f"=SUM({letter}{first}:{letter}{last})", AMOUNT_FORMAT)
        for rule in _rules(self.template, "rate", self.key):
            stated, numerator, denominator = rule.param("stated"), rule.param("numerator"), rule.param("denominator")
            if stated in col_of and numerator in summed and denominator in summed:
                formula = f"={get_column_letter(col_of[numerator])}{row}/{get_column_letter(col_of[denominator])}{row}"
                _total(_cell(self.sheet, row, col_of[stated]), formula, RATE_FORMAT)
        return True
