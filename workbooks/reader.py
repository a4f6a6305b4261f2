"""Reading a submission workbook into typed records, as the template file lays it out (spec §1).

The reader finds sheets by name or alias, header rows by label, columns by header, rows by label;
it parses every value with `workbooks.values`, evaluates uncached formulas, and records each
value's A1 cell. What it cannot read becomes a finding, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from checks.findings import Finding
from checks.identity import sha256_of
from checks.labels import normalise_label
from checks.messages import render
from checks.records import CODE, NAME, TOTAL_ROW, ListRow, Located, ReadSubmission, parent_code
from checks.template import (
    CodeSpec,
    FieldSpec,
    LabelSpec,
    SheetSpec,
    Template,
    TemplateSet,
    as_set,
    default_template,
)
from config.settings import DEFAULT_READER_LIMITS, ReaderLimits
from workbooks.formulas import DividedByZero, FormulaError, FormulaOutOfRange, evaluate, references
from workbooks.grid import RawCell, SheetGrid, UnreadableWorkbook, WorkbookGrid, a1, check_regular_file, open_grid
from workbooks.table_layout import Region, TableHeader, find_table_header, table_regions, title_rows
from workbooks.values import (
    CellValueError,
    clean_text,
    exact,
    is_not_filled,
    is_number,
    parse_amount,
    parse_date,
    parse_measure,
    parse_number,
    parse_rate,
    parse_text,
    parse_unit,
    parse_year,
)

NOTE_PREFIXES = ("注:", "注：", "说明:", "说明：", "备注:", "填表说明")
TITLE_BLOCK_ROWS = 4  # the title, the year or table number, 部门：… and 金额单位：…
YEAR_IN_TITLE = re.compile(r"((?:19|20)\d{2})\s*年")


_NOTE_STARTS = frozenset(prefix[0] for prefix in NOTE_PREFIXES)


def is_note(text: str) -> bool:
    """A note row (`注：…`, `说明：…`), however it is spaced; `text` as `text_at` gives it (NFKC, stripped)."""
    if not text or (text[0] not in _NOTE_STARTS and not text[0].isspace()):
        return False  # most label cells, at once: a code, a name, a row label
    return "".join(clean_text(text).split()).startswith(NOTE_PREFIXES)


@lru_cache(maxsize=1 << 16)
def blank_at(row: int, col: int) -> Located:
    """A blank cell where a value is read: one object for every file, since Located is frozen and most cells of
    a code table are blank, the same ones file after file (no amount to parse, no label to make for a finding)."""
    return Located(None, a1(row, col))


def read_submission(
    path: Path, templates: Template | TemplateSet | None = None, limits: ReaderLimits | None = None
) -> ReadSubmission:
    """The typed records of one file; an unreadable file gives a ReadSubmission with `unreadable` set. Among
    several templates, the one whose sheets the workbook holds reads it (the first, where none is likelier)."""
    candidates = as_set(templates or default_template())
    template = candidates.default
    limits = limits or DEFAULT_READER_LIMITS
    try:
        check_regular_file(path, limits)  # before hashing: a FIFO or a link to /dev/zero is never read
        sha256 = sha256_of(path)
    except UnreadableWorkbook as exc:
        return ReadSubmission(file=str(path), sha256="", template=template.name, unreadable=str(exc))
    except OSError as exc:
        return ReadSubmission(
            file=str(path), sha256="", template=template.name, unreadable=f"文件无法打开：{exc.strerror}"
        )
    submission = ReadSubmission(file=str(path), sha256=sha256, template=template.name)
    try:
        grid = open_grid(path, limits)
    except UnreadableWorkbook as exc:
        submission.unreadable = str(exc)
        return submission
    readers = [_WorkbookReader(grid, candidate, submission) for candidate in candidates.templates]
    chosen = choose_reader(readers)
    submission.template = chosen.template.name
    chosen.read()
    return submission


def choose_reader(readers: list[_WorkbookReader]) -> _WorkbookReader:
    """The reader of the template of which the workbook holds the most sheets; the first on a tie (none found:
    the default). The one chosen reads on with the sheets it found."""
    if len(readers) == 1:
        return readers[0]
    scores = [len(reader.found()) for reader in readers]
    return readers[scores.index(max(scores))]


@dataclass
class _WorkbookReader:
    grid: WorkbookGrid
    template: Template
    submission: ReadSubmission
    _evaluated: dict[tuple[str, int, int], Decimal | None] = field(default_factory=dict)
    _failed: dict[tuple[str, int, int], FormulaError] = field(default_factory=dict)  # formula cell → why not
    _stale: dict[str, dict[str, tuple[Any, Decimal | None]]] = field(default_factory=dict)  # sheet → cell → values
    _title_texts: dict[int, dict[str, list[int]]] = field(default_factory=dict)  # sheet → text → rows
    _labels: dict[tuple[int, int, int], str] = field(default_factory=dict)  # (sheet, row, column) → label
    _found: dict[str, tuple[SheetGrid, Region]] | None = None

    # --- findings -------------------------------------------------------------------------------

    def report(self, rule: str, sheet: str | None, cells: tuple[str, ...] = (), **fields: Any) -> None:
        spec = self.template.reading[rule]
        self.submission.findings.append(
            Finding(
                rule=rule,
                severity=spec.severity,
                message=render(spec.message, sheet=sheet, **fields),
                sheet=sheet,
                cells=cells,
                actual=None if fields.get("value") is None else str(fields["value"]),
            )
        )

    def report_problem(self, problem: CellValueError, sheet: str, cell: str, label: str) -> None:
        """A value that does not read as its column's type; the parser's own fields (its `unit`) win."""
        fields = {"label": label, "unit": self.submission.unit, **problem.fields}
        self.report(problem.rule, sheet, (cell,), **fields)

    # --- cells ----------------------------------------------------------------------------------

    def value_at(self, sheet: SheetGrid, row: int, col: int) -> Any:
        """The value of a cell (merged ranges and formulas resolved).

        A formula with a cached value is evaluated too: where it computes to another number than the one
        cached (XlsxWriter caches 0 for every formula) the computed one counts, and the sheet gets a
        `format/stale-formula` warning; where it cannot be evaluated, the cached value counts. A formula
        without a cached value that cannot be evaluated is a finding here, and FormulaError for the caller.
        """
        raw = sheet.get(row, col)
        if raw is None:
            return None
        if raw.formula is None:
            return raw.value
        anchor_row, anchor_col = sheet.anchor(row, col)
        try:
            computed = self.formula_value(sheet.title, anchor_row, anchor_col, raw)
        except FormulaError as problem:
            if raw.cached:
                return raw.value
            if isinstance(problem, DividedByZero) and not self.refers_to_anything_filled(sheet.title, raw.formula):
                return None  # a row not filled in yet (a blank template's 执行率 = D/C)
            self.report_formula(problem, sheet.title, a1(anchor_row, anchor_col), raw.formula)
            raise
        if raw.cached and not self.agrees(raw.value, computed):
            self._stale.setdefault(sheet.title, {})[a1(anchor_row, anchor_col)] = (raw.value, computed)
        return computed

    @staticmethod
    def agrees(cached: Any, computed: Decimal | None) -> bool:
        """Whether a cached value is the computed one, as far as a spreadsheet's binary arithmetic tells them apart;
        a cached text or truth value is not compared (the formula did not compute it as budgetflow does)."""
        if not is_number(cached):
            return True
        number = exact(cached)
        if computed is None or not number.is_finite():
            return computed is None and number.is_zero()
        return abs(number - computed) <= max(abs(computed), Decimal(1)) * Decimal("1e-12")

    def refers_to_anything_filled(self, title: str, formula: str) -> bool:
        """Whether any cell the formula refers to, directly or through other formulas, holds a value; a formula
        of constants alone (`=0/0`) divides what was written, so it counts as filled."""
        try:
            if not references(formula, title):
                return True
        except FormulaError:
            return True
        pending, seen = [(title, formula)], set()
        while pending:
            current_title, current = pending.pop()
            try:
                cells = references(current, current_title)
            except FormulaError:
                return True
            for sheet_title, row, col in cells:
                sheet = self.sheet_named(sheet_title)
                held = sheet.get(row, col) if sheet is not None else None
                if held is None or (sheet_title, row, col) in seen:
                    continue
                seen.add((sheet_title, row, col))
                if held.formula is not None:
                    pending.append((sheet_title, held.formula))
                elif held.value not in (None, ""):
                    return True
        return False

    def report_formula(self, problem: FormulaError, sheet: str, cell: str, formula: str) -> None:
        if isinstance(problem, DividedByZero):
            self.report("format/division-by-zero", sheet, (cell,), formula=formula)
        elif isinstance(problem, FormulaOutOfRange):
            self.report("format/out-of-range", sheet, (cell,), label=f"{cell}（公式 {formula}）", value="计算结果")
        else:
            self.report("format/formula", sheet, (cell,), formula=formula, reason=str(problem))

    def formula_value(self, title: str, row: int, col: int, raw: RawCell) -> Decimal | None:
        """The value of a formula computed from the workbook; the formulas it refers to are evaluated first.

        Dependencies are ordered with an explicit stack, not by recursion, so a long chain of
        formulas (each adding to the cell below it) cannot exhaust Python's stack; a cycle is
        a FormulaError ("循环引用") for every formula on it.
        """
        key = (title, row, col)
        if key not in self._evaluated and key not in self._failed:
            for cell in self.dependency_order(key, raw):
                formula = self.formula_at(cell)
                try:
                    self._evaluated[cell] = evaluate(formula or "", cell[0], self.referenced_value)
                except FormulaError as exc:
                    self._failed[cell] = exc
        if key in self._failed:
            raise self._failed[key]
        return self._evaluated[key]

    def dependency_order(self, start: tuple[str, int, int], raw: RawCell) -> list[tuple[str, int, int]]:
        """Uncached formula cells reachable from `start` (itself included), each after those it uses."""
        order: list[tuple[str, int, int]] = []
        state: dict[tuple[str, int, int], bool] = {start: False}  # False: on the stack; True: done
        stack = [(start, iter(self.formula_dependencies(start, raw.formula or "")))]
        while stack:
            key, pending = stack[-1]
            following = next(pending, None)
            if following is None:
                stack.pop()
                state[key] = True
                order.append(key)
                continue
            if following in self._evaluated or following in self._failed or state.get(following):
                continue
            if following in state:  # on the stack: a circular reference
                for cycle_key, _ in stack[next(i for i, (k, _) in enumerate(stack) if k == following) :]:
                    self._failed[cycle_key] = FormulaError("循环引用")
                continue
            state[following] = False
            stack.append((following, iter(self.formula_dependencies(following, self.formula_at(following) or ""))))
        return [key for key in order if key not in self._failed]

    def formula_dependencies(self, key: tuple[str, int, int], formula: str) -> list[tuple[str, int, int]]:
        """The uncached formula cells (merged ranges resolved) a formula refers to."""
        try:
            cells = references(formula, key[0])
        except FormulaError:
            return []  # evaluating it reports the error
        found: dict[tuple[str, int, int], None] = {}
        for title, row, col in cells:
            sheet = self.sheet_named(title)
            if sheet is None:
                continue
            anchor = sheet.anchor(row, col)
            raw = sheet.cells.get(anchor)
            if raw is not None and raw.formula is not None:
                found[(sheet.title, *anchor)] = None
        return list(found)

    def formula_at(self, key: tuple[str, int, int]) -> str | None:
        sheet = self.sheet_named(key[0])
        raw = sheet.cells.get((key[1], key[2])) if sheet is not None else None
        return raw.formula if raw is not None else None

    def sheet_named(self, title: str) -> SheetGrid | None:
        """A sheet by the title a formula uses; like a spreadsheet, case does not matter."""
        sheet = self.grid.sheet(title)
        if sheet is None:
            sheet = next((s for s in self.grid.sheets if s.title.casefold() == title.casefold()), None)
        return sheet

    def referenced_value(self, title: str, row: int, col: int) -> Decimal | None:
        sheet = self.sheet_named(title)
        if sheet is None:
            raise FormulaError(f"引用了不存在的工作表 {title}")
        raw = sheet.get(row, col)
        if raw is None:
            return None
        if raw.formula is not None:
            try:
                return self.formula_value(sheet.title, *sheet.anchor(row, col), raw)
            except FormulaError:
                if not raw.cached:
                    raise
        try:
            return (
                parse_amount(raw.value, self.submission.unit) if isinstance(raw.value, str) else parse_number(raw.value)
            )
        except CellValueError:
            return None  # like a spreadsheet, SUM passes over text

    def text_at(self, sheet: SheetGrid, row: int, col: int) -> str:
        """A cell's text as written (a label); a formula's cached text counts, an uncached formula is no text."""
        raw = sheet.get(row, col)
        if raw is None or (raw.formula is not None and not raw.cached):
            return ""
        return clean_text(raw.value)

    def label_at(self, sheet: SheetGrid, row: int, col: int) -> str:
        """A cell's text normalised as labels are compared; kept, since finding a titled table's header reads the
        same header cells for each table and block."""
        key = (id(sheet), row, col)
        label = self._labels.get(key)
        if label is None:
            label = self._labels[key] = normalise_label(self.text_at(sheet, row, col))
        return label

    # --- workbook -------------------------------------------------------------------------------

    def found(self) -> dict[str, tuple[SheetGrid, Region]]:
        """The template's sheets in the workbook, found once."""
        if self._found is None:
            self._found = self.find_sheets()
        return self._found

    def read(self) -> None:
        found = dict(self.found())
        identity = self.template.cover_sheet
        if self.template.sheets[identity].kind == "title":
            titled = [(key, located) for key, located in found.items() if self.template.sheets[key].titled]
            if titled:  # the title block above the tables says who submits, and its unit governs every amount
                found[identity] = titled[0][1]
                self.read_title_block(identity, [located for _, located in titled])
        elif identity in found:  # the unit on the cover governs every amount, so it is read first
            self.read_keyvalue(identity, found[identity][0])
        for key, spec in self.template.sheets.items():
            if key not in found:
                if spec.required:
                    self.report("required/sheet", None, label=spec.title)
                continue
            sheet, region = found[key]
            self.submission.sheets[key] = sheet.title
            if key == identity:
                continue
            if spec.kind == "keyvalue":
                self.read_keyvalue(key, sheet)
            elif spec.kind == "codes":
                self.read_codes(key, spec, sheet, region)
            elif spec.kind == "grid" and spec.titled:
                self.read_titled_grid(key, spec, sheet, region)
            elif spec.kind == "grid":
                self.read_grid(key, spec, sheet)
            elif spec.kind == "list":
                self.read_list(key, spec, sheet)
        for title, stale in self._stale.items():
            cell, (cached, computed) = next(iter(stale.items()))
            self.report(
                "format/stale-formula",
                title,
                tuple(stale),
                count=len(stale),
                cell=cell,
                cached=cached,
                computed=f"{computed:f}" if computed is not None else "空",
            )

    def find_sheets(self) -> dict[str, tuple[SheetGrid, Region]]:
        """Each sheet of the template that the workbook has, and its rows: a sheet of that name, or for a titled
        table the rows from its title (or number) in any sheet to the next table's."""
        by_name: dict[str, SheetGrid] = {}
        for sheet in self.grid.sheets:
            by_name.setdefault(normalise_label(sheet.title), sheet)
        found: dict[str, tuple[SheetGrid, Region]] = {}
        by_title: dict[str, tuple[SheetGrid, int]] = {}
        for key, spec in self.template.sheets.items():
            match = next((by_name[name] for name in spec.names() if name in by_name), None)
            if match is not None:
                found[key] = (match, Region(1, match.max_row))
            elif spec.titled:
                start = self.title_row(spec)
                if start is not None:
                    by_title[key] = start
        for sheet in {id(sheet): sheet for sheet, _ in by_title.values()}.values():
            starts = {key: row for key, (held, row) in by_title.items() if held is sheet}
            # the table a sheet is named after starts at its top, and ends where a table found by title starts
            starts |= {key: 1 for key, (held, _) in found.items() if held is sheet}
            for key, region in table_regions(sheet, starts).items():
                found[key] = (sheet, region)
        return found

    def title_row(self, spec: SheetSpec) -> tuple[SheetGrid, int] | None:
        """The first sheet and row whose text is the table's title or number."""
        names = spec.names()
        for sheet in self.grid.sheets:
            texts = self._title_texts.get(id(sheet))
            if texts is None:
                texts = self._title_texts[id(sheet)] = title_rows(sheet, self.label_at)
            rows = [row for name in names for row in texts.get(name, ())]
            if rows:
                return sheet, min(rows)
        return None

    # --- key/value sheets (in v1: 封面, 自评结果) ---------------------------------------------------

    def read_keyvalue(self, key: str, sheet: SheetGrid) -> None:
        """Labels in columns A–D (several on a row allowed), each with the next non-empty cell to its right."""
        spec = self.template.sheets[key]
        labels = {name: field_key for field_key, f in spec.fields.items() for name in f.spellings()}
        target = self.submission.fields.setdefault(key, {})
        for row in sheet.rows():
            col = 1
            while col <= min(spec.label_columns, sheet.max_col):
                field_key = None if sheet.is_merged_follower(row, col) else self.label_key(sheet, row, col, labels)
                if field_key is None and not sheet.is_merged_follower(row, col):
                    self.read_inline_pair(sheet, row, col, labels, spec, target)
                if field_key is None or field_key in target:
                    col += 1
                    continue
                located, value_col = self.keyvalue_value(sheet, row, col, spec.fields[field_key], labels)
                target[field_key] = located
                col = (value_col or col) + 1
        if key == self.template.cover_sheet:
            self.submission.cover = target
            unit = target.get("unit")
            if unit is not None and isinstance(unit.value, str):
                self.submission.unit = unit.value

    def read_inline_pair(
        self, sheet: SheetGrid, row: int, col: int, labels: dict[str, str], spec: SheetSpec, target: dict[str, Located]
    ) -> None:
        """A label and its value in one cell: `金额单位：元`."""
        label, colon, value = self.text_at(sheet, row, col).partition(":")
        field_key = labels.get(normalise_label(label)) if colon else None
        if field_key is None or field_key in target or not value.strip():
            return
        cell = a1(row, col)
        target[field_key] = Located(self.parse_field(spec.fields[field_key], value.strip(), sheet.title, cell), cell)

    def label_key(self, sheet: SheetGrid, row: int, col: int, labels: dict[str, str]) -> str | None:
        return labels.get(normalise_label(self.text_at(sheet, row, col)))

    def keyvalue_value(
        self, sheet: SheetGrid, row: int, label_col: int, spec: FieldSpec, labels: dict[str, str]
    ) -> tuple[Located, int | None]:
        """The field's value and the column it was found in (None when the field is blank)."""
        label_anchor = sheet.anchor(row, label_col)
        for col in range(label_col + 1, sheet.max_col + 1):
            if sheet.anchor(row, col) == label_anchor:
                continue  # still inside the label's own merged range
            if not sheet.is_merged_follower(row, col) and self.label_key(sheet, row, col, labels) is not None:
                break  # the next label on the row: this field is blank
            try:
                raw = self.value_at(sheet, row, col)
            except FormulaError:
                return Located(None, a1(*sheet.anchor(row, col))), col
            if is_not_filled(raw):
                continue
            cell = a1(*sheet.anchor(row, col))
            return Located(self.parse_field(spec, raw, sheet.title, cell), cell), col
        # Nothing to the right: point at the cell where the value belongs.
        return Located(None, a1(row, label_col + 1)), None

    def parse_field(self, spec: FieldSpec, raw: Any, sheet: str, cell: str) -> Any:
        try:
            if spec.type == "year":
                return parse_year(raw)
            if spec.type == "date":
                return parse_date(raw)
            if spec.type == "unit":
                return parse_unit(raw)
            if spec.type == "number":
                return parse_number(raw)
            if spec.type == "amount":
                return parse_amount(raw, self.submission.unit)
            return parse_text(raw)
        except CellValueError as problem:
            self.report_problem(problem, sheet, cell, label=spec.label)
            return None

    # --- header rows ----------------------------------------------------------------------------

    def find_header(self, spec: SheetSpec, sheet: SheetGrid) -> tuple[int, dict[str, int]] | None:
        """The header row and column of each declared column found on it (spec §1, Locating cells)."""
        label_names = {normalise_label(spec.label_header)}
        for row in range(1, min(self.template.header_search_rows, sheet.max_row) + 1):
            texts = {col: normalise_label(self.text_at(sheet, row, col)) for col in range(1, sheet.max_col + 1)}
            label_col = next((c for c, t in texts.items() if t in label_names), None)
            if label_col is None:
                continue
            columns: dict[str, int] = {}
            for key, column in spec.columns.items():
                names = column.spellings()
                col = next((c for c, t in texts.items() if t in names and c not in columns.values()), None)
                if col is not None:
                    columns[key] = col
            amount_found = any(k for k in columns if columns[k] != label_col)
            if amount_found:
                return row, {"__label__": label_col, **columns}
        return None

    # --- grid sheets (in v1: 收支总表, 三公经费) --------------------------------------------------

    def locate_columns(self, key: str, spec: SheetSpec, sheet: SheetGrid) -> tuple[int, int, dict[str, int]] | None:
        """(header row, label column, column of each declared column), or None after reporting it missing."""
        header = self.find_header(spec, sheet)
        explanations = self.template.explanations
        if header is None and explanations is not None and key == explanations.sheet:
            return None  # a 情况说明 written as prose, as most are: read by people, not as explanations of warnings
        if header is None:
            self.report("required/header", sheet.title, label=spec.label_header, rows=self.template.header_search_rows)
            return None
        header_row, columns = header
        label_col = columns.pop("__label__")
        self.submission.column_letters[key] = {k: a1(1, c)[:-1] for k, c in columns.items()}
        return header_row, label_col, columns

    def read_grid(self, key: str, spec: SheetSpec, sheet: SheetGrid) -> None:
        located = self.locate_columns(key, spec, sheet)
        if located is None:
            return
        header_row, label_col, columns = located
        labels = {name: row_key for row_key, r in spec.rows.items() for name in r.spellings()}
        target = self.submission.grids.setdefault(key, {})
        seen: dict[str, int] = {}
        unknown: list[tuple[int, str]] = []
        for row in range(header_row + 1, sheet.max_row + 1):
            text = self.text_at(sheet, row, label_col)
            if not text or is_note(text):
                continue
            row_key = labels.get(normalise_label(text))
            if row_key is None:
                unknown.append((row, text))
                continue
            if row_key in seen:
                continue  # a repeated label: the first one counts
            seen[row_key] = row
            for column_key, col in columns.items():
                cell = a1(row, col)
                target[(row_key, column_key)] = Located(
                    self.amount(sheet, row, col, f"{spec.rows[row_key].label}（{spec.columns[column_key].label}）"),
                    cell,
                )
        if seen:
            first, last = min(seen.values()), max(seen.values())
            for row, text in unknown:
                if first < row < last:
                    self.report("format/unknown-row", sheet.title, (a1(row, label_col),), row=row, value=text)
        for row_key, row_spec in spec.rows.items():
            if row_spec.required and row_key not in seen:
                self.report("required/row", sheet.title, label=row_spec.label)

    def amount(self, sheet: SheetGrid, row: int, col: int, label: str) -> Decimal | None:
        """The amount of a cell, None for one that holds none; a value that is no amount is a finding."""
        raw = sheet.get(row, col)
        return None if raw is None else self.amount_of(raw, sheet, row, col, label)

    def amount_of(self, raw: RawCell, sheet: SheetGrid, row: int, col: int, label: str) -> Decimal | None:
        """`amount` of a cell already looked up (a code table's rows look up each of their cells once)."""
        try:
            value = raw.value if raw.formula is None else self.value_at(sheet, row, col)
        except FormulaError:
            return None
        try:
            return parse_amount(value, self.submission.unit)
        except CellValueError as problem:
            self.report_problem(problem, sheet.title, a1(row, col), label=label)
            return None

    # --- list sheets (in v1: 项目支出, 绩效指标) --------------------------------------------------

    @staticmethod
    def holds_content(sheet: SheetGrid, row: int, col: int) -> bool:
        """Whether the cell itself (not a merged range above it) holds anything."""
        raw = sheet.cells.get((row, col))
        return raw is not None and (raw.formula is not None or clean_text(raw.value) != "")

    def read_list(self, key: str, spec: SheetSpec, sheet: SheetGrid) -> None:
        located = self.locate_columns(key, spec, sheet)
        if located is None:
            return
        header_row, _, columns = located
        for column_key, column in spec.columns.items():
            if column.required and column_key not in columns:
                self.report("required/column", sheet.title, label=column.label)
        name_key = spec.label_column_key()
        total_label = normalise_label(spec.total_label or "")
        rows: list[ListRow] = []
        previous: dict[str, Located] = {}

        def filled(row: int) -> bool:
            return any(self.holds_content(sheet, row, col) for col in columns.values())

        def texts_of(row: int) -> dict[str, str]:
            return {k: self.text_at(sheet, row, c) for k, c in columns.items() if not sheet.is_merged_follower(row, c)}

        def is_total_text(texts: dict[str, str]) -> bool:
            return total_label != "" and any(normalise_label(t) == total_label for t in texts.values())

        def total_row(row: int) -> bool:
            return is_total_text(texts_of(row))

        row = header_row
        while row < sheet.max_row:
            row += 1
            if not filled(row):
                # The first blank row ends the list — unless only blank rows stand between it and the
                # 合计 row, as in a template with more rows than projects.
                following = next((r for r in range(row + 1, sheet.max_row + 1) if filled(r)), None)
                if following is None or not total_row(following):
                    break
                row = following
            texts = texts_of(row)
            first_text = next((t for t in texts.values() if t), "")
            if is_note(first_text):
                break
            is_total = is_total_text(texts)
            values = {
                column_key: self.list_value(sheet, row, col, spec.columns[column_key])
                for column_key, col in columns.items()
            }
            if is_total:
                values.pop(name_key, None)
            for column_key, column in spec.columns.items():
                if (
                    column.fill_down
                    and column_key in values
                    and values[column_key].value is None
                    and column_key in previous
                ):
                    values[column_key] = previous[column_key]
            previous = values
            rows.append(ListRow(row=row, values=values, is_total=is_total))
            if is_total:
                break
        self.canonical_values(spec, rows)
        self.submission.lists[key] = rows

    def list_value(self, sheet: SheetGrid, row: int, col: int, spec: FieldSpec) -> Located:
        cell = a1(*sheet.anchor(row, col))
        try:
            raw = self.value_at(sheet, row, col)
        except FormulaError:
            return Located(None, cell)
        if spec.type == "rate":
            try:
                rate = parse_rate(raw, sheet.number_format(row, col), self.template.tolerances.ambiguous_rate_max)
            except CellValueError as problem:
                self.report_problem(problem, sheet.title, cell, label=spec.label)
                return Located(None, cell)
            if rate is None:
                return Located(None, cell)
            if rate.ambiguous:
                self.report(
                    "format/rate-ambiguous",
                    sheet.title,
                    (cell,),
                    label=spec.label,
                    value=f"{rate.percent:f}",
                    percent=f"{rate.percent * 100:f}",
                )
            return Located(rate.percent, cell, rate.decimals, ambiguous=rate.ambiguous)
        if spec.type == "measure":
            try:
                number, decimals, text = parse_measure(raw, sheet.number_format(row, col))
            except CellValueError as problem:
                self.report_problem(problem, sheet.title, cell, label=spec.label)
                return Located(None, cell)
            return Located(number, cell, decimals, text or None)
        return Located(self.parse_field(spec, raw, sheet.title, cell), cell)

    # --- titled tables (the national final-account tables) -------------------------------------------

    def read_title_block(self, key: str, tables: list[tuple[SheetGrid, Region]]) -> None:
        """The fields of the title block above the tables (`部门：…`, `金额单位：万元`, the year of `2023年度…`),
        the first table that gives each one counting; a table that declares another unit is a finding, since
        its amounts would be read in the first one's."""
        spec = self.template.sheets[key]
        labels = {name: field_key for field_key, f in spec.fields.items() for name in f.spellings()}
        target = self.submission.fields.setdefault(key, {})
        years = [field_key for field_key, f in spec.fields.items() if f.type == "year"]
        units = [field_key for field_key, f in spec.fields.items() if f.type == "unit"]
        blocks = {(id(sheet), region.first): (sheet, region) for sheet, region in tables}  # blocks share one
        for sheet, region in blocks.values():
            own: dict[str, Located] = {}
            for row in range(region.first, min(region.first + TITLE_BLOCK_ROWS, region.last + 1)):
                for col in range(1, sheet.max_col + 1):
                    if sheet.is_merged_follower(row, col):
                        continue
                    self.read_inline_pair(sheet, row, col, labels, spec, own)
                    year = YEAR_IN_TITLE.search(self.text_at(sheet, row, col))
                    for field_key in years:
                        if year is not None and field_key not in own:
                            cell = a1(row, col)
                            own[field_key] = Located(
                                self.parse_field(spec.fields[field_key], year.group(1), sheet.title, cell),
                                cell,
                            )
            for field_key in units:
                first, this = target.get(field_key), own.get(field_key)
                if first is not None and first.value is None:
                    del target[field_key]  # a unit that did not read (its finding is made) sets no unit for the rest
                    first = None
                if first is not None and this is not None and this.value is not None and this.value != first.value:
                    cells = (this.cell,) if this.cell else ()
                    self.report("format/mixed-unit", sheet.title, cells, value=this.value, unit=first.value)
            target.update({field_key: located for field_key, located in own.items() if field_key not in target})
        self.submission.cover = target
        unit = target.get("unit")
        if unit is not None and isinstance(unit.value, str):
            self.submission.unit = unit.value

    def titled_header(
        self, key: str, spec: SheetSpec, sheet: SheetGrid, region: Region, wanted: list[set[str]]
    ) -> TableHeader | None:
        """The header of a titled table, or None after reporting it missing."""
        header = find_table_header(
            sheet,
            region,
            {normalise_label(spec.label_header)},
            spec.block,
            self.template.header_search_rows,
            self.label_at,
            wanted,
            spec.names(),
        )
        if header is None:
            self.report("required/header", sheet.title, label=spec.label_header, rows=self.template.header_search_rows)
        return header

    def header_columns(
        self, key: str, header: TableHeader, specs: Mapping[str, LabelSpec], sheet: SheetGrid
    ) -> dict[str, int]:
        """The column of each declared column found in the header; a required one missing is a finding."""
        columns: dict[str, int] = {}
        for column_key, column in specs.items():
            col = header.find(column.spellings(), columns.values())
            if col is not None:
                columns[column_key] = col
            elif column.required:
                self.report("required/column", sheet.title, label=column.label)
        self.submission.column_letters[key] = {k: a1(1, c)[:-1] for k, c in columns.items()}
        return columns

    def row_keys(self, rows: Mapping[str, LabelSpec]) -> dict[str, list[str]]:
        """Normalised label → the keys of the rows it names, in template order (a label may name several rows, each
        below the row its `after` names)."""
        keys: dict[str, list[str]] = {}
        for row_key, row_spec in rows.items():
            for name in row_spec.spellings():
                keys.setdefault(name, []).append(row_key)
        return keys

    @staticmethod
    def row_key_of(
        text: str, keys: dict[str, list[str]], rows: Mapping[str, LabelSpec], seen: dict[str, int]
    ) -> str | None:
        """The key of the row a label names here: the first of its rows not read yet whose `after` row was read."""
        named = keys.get(normalise_label(text))
        if named is None:
            return None  # most rows of a code table: a code or a name, not a row the template names
        candidates = [key for key in named if key not in seen]
        below = [key for key in candidates if rows[key].after is not None and rows[key].after in seen]
        # below the row it comes after, a repeated label is that row's part even where the first one is missing
        return next(iter(below), None) or next((key for key in candidates if rows[key].after is None), None)

    def read_titled_grid(self, key: str, spec: SheetSpec, sheet: SheetGrid, region: Region) -> None:
        """A grid table under a title block: labelled rows × columns of one block, or transposed (表7: the rows
        are header columns and the columns row labels)."""
        across, down = (spec.rows, spec.columns) if spec.transposed else (spec.columns, spec.rows)
        header = self.titled_header(key, spec, sheet, region, [s.spellings() for s in across.values()])
        if header is None:
            return
        columns = self.header_columns(key, header, across if spec.transposed else spec.columns, sheet)
        keys = self.row_keys(down)
        target = self.submission.grids.setdefault(key, {})
        seen: dict[str, int] = {}
        unknown: list[tuple[int, str]] = []
        for row in range(header.bottom + 1, region.last + 1):
            text = self.text_at(sheet, row, header.label_col)
            if not text or is_note(text):
                continue
            row_key = self.row_key_of(text, keys, down, seen)
            if row_key is None:
                unknown.append((row, text))
                continue
            seen[row_key] = row
            for column_key, col in columns.items():
                grid_key = (column_key, row_key) if spec.transposed else (row_key, column_key)
                raw = sheet.get(row, col)
                if raw is None:
                    target[grid_key] = blank_at(row, col)
                    continue
                label = f"{spec.label_of(grid_key[0])}（{spec.label_of(grid_key[1])}）"
                target[grid_key] = Located(self.amount_of(raw, sheet, row, col, label), a1(row, col))
        self.report_unknown_rows(sheet, header.label_col, seen, unknown)
        for row_key, row_spec in down.items():
            if row_spec.required and row_key not in seen:
                self.report("required/row", sheet.title, label=row_spec.label)

    def report_unknown_rows(
        self, sheet: SheetGrid, label_col: int, seen: dict[str, int], unknown: list[tuple[int, str]]
    ) -> None:
        """Rows between the first and the last known row whose label the template does not know."""
        if seen:
            first, last = min(seen.values()), max(seen.values())
            for row, text in unknown:
                if first < row < last:
                    self.report("format/unknown-row", sheet.title, (a1(row, label_col),), row=row, value=text)

    def read_codes(self, key: str, spec: SheetSpec, sheet: SheetGrid, region: Region) -> None:
        """A table whose rows are keyed by a classification code (in one column or split over 类/款/项 columns),
        besides the rows the template names (合计); an empty one with its note (本单位…无…) is complete."""
        codes = spec.codes or CodeSpec()
        header = self.titled_header(key, spec, sheet, region, [s.spellings() for s in spec.columns.values()])
        if header is None:
            return
        columns = self.header_columns(key, header, spec.columns, sheet)
        code_cols = [
            col
            for name in (codes.split or (codes.column or spec.label_header or "",))
            if (col := header.find({normalise_label(name)}, besides_label=False)) is not None
        ]
        name_col = header.find({normalise_label(codes.name)}, code_cols)
        label_cols = [*code_cols[:1], *([name_col] if name_col is not None else [])]
        keys = self.row_keys(spec.rows)
        rows: list[ListRow] = []
        seen: dict[str, int] = {}
        noted = False
        # the labels of each amount column, for the findings of its cells; the cells looked up once a row
        amount_columns = [(column_key, col, spec.columns[column_key].label) for column_key, col in columns.items()]
        cells = sheet.resolved()
        for row in range(header.bottom + 1, region.last + 1):
            texts = [self.text_at(sheet, row, col) for col in label_cols]
            if any(map(is_note, texts)):
                noted = noted or any(spec.empty_note and spec.empty_note in text for text in texts)
                continue
            named = None
            for text in texts:
                if (named := self.row_key_of(text, keys, spec.rows, seen)) is not None:
                    break
            code = self.code_at(cells, row, code_cols, codes)
            row_key = named or code
            if row_key is None:
                if any(texts) or any(self.holds_content(sheet, row, col) for col in columns.values()):
                    self.report(
                        "format/unknown-row", sheet.title, (a1(row, header.label_col),), row=row, value="".join(texts)
                    )
                continue
            if row_key in seen:
                self.report("format/duplicate-row", sheet.title, (a1(row, header.label_col),), row=row, value=row_key)
                continue
            seen[row_key] = row
            values = {
                column_key: blank_at(row, col)
                if (raw := cells.get((row, col))) is None  # most cells of a code table
                else Located(self.amount_of(raw, sheet, row, col, f"{row_key} {label}"), a1(row, col))
                for column_key, col, label in amount_columns
            }
            if code is not None and named is None:
                values[CODE] = Located(code, a1(row, code_cols[0]))
            if name_col is not None and (name := texts[-1]):  # the name column is the last label column
                values[NAME] = Located(name, a1(row, name_col))
            rows.append(ListRow(row, values, is_total=row_key == TOTAL_ROW, key=row_key))
        self.submission.lists[key] = rows
        if noted and not any(item.key != TOTAL_ROW or any(v.value for v in item.values.values()) for item in rows):
            return  # published empty with its note: complete
        self.report_orphans(sheet, rows, codes)
        for row_key, row_spec in spec.rows.items():
            if row_spec.required and row_key not in seen:
                self.report("required/row", sheet.title, label=row_spec.label)

    @staticmethod
    def code_at(cells: Mapping[tuple[int, int], RawCell], row: int, cols: list[int], codes: CodeSpec) -> str | None:
        """A row's classification code: its digits, joined from the split columns (`206` `01` `01` → `2060101`),
        or None when the row has no code of a known length. `cells`: the sheet's, merged ranges resolved."""
        parts = []
        for position, col in enumerate(cols):
            raw = cells.get((row, col))
            value = raw.value if raw is not None else None
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # a code saved as a number by a program that knew no better
            text = "".join(clean_text(value).split()) if value is not None else ""
            if isinstance(value, int) and position > 0:
                text = text.zfill(2)  # 款 and 项 saved as numbers lose their leading zero
            if not text:
                break
            parts.append(text)
        code = "".join(parts)
        return code if code.isdigit() and len(code) in codes.lengths else None

    def report_orphans(self, sheet: SheetGrid, rows: list[ListRow], codes: CodeSpec) -> None:
        """A code row whose parent (its code cut to the level above) is not in the table."""
        present = {item.key for item in rows}
        for item in rows:
            parent = parent_code(item.key or "", codes.lengths)
            if parent is not None and parent not in present:
                cell = item.values[CODE].cell if CODE in item.values else None
                self.report("format/orphan-code", sheet.title, (cell,) if cell else (), value=item.key, parent=parent)

    @staticmethod
    def canonical_values(spec: SheetSpec, rows: list[ListRow]) -> None:
        """Values the template says mean one thing (服务对象满意度指标 for 满意度指标) replaced by its name."""
        for column, names in spec.value_aliases.items():
            canonical = {normalise_label(alias): name for name, aliases in names.items() for alias in aliases}
            for item in rows:
                located = item.values.get(column)
                if located is not None and isinstance(located.value, str):
                    name = canonical.get(normalise_label(located.value))
                    if name is not None:
                        item.values[column] = Located(name, located.cell, text=located.value)


def read_submissions(
    paths: list[Path], templates: Template | TemplateSet | None = None, limits: ReaderLimits | None = None
) -> list[ReadSubmission]:
    """Every file read, in order; one file's failure never stops the others."""
    return [read_submission(path, templates, limits) for path in paths]
