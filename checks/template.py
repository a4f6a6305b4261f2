"""The template file: which sheets, labels and columns a workbook has, and which rules apply.

The layout and the rule catalogue are data (`checks/templates/*.yaml`); this module only gives
them types and normalises their labels once, so lookups while reading are plain dict hits.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from checks.findings import Finding, RuleKind, Severity
from checks.labels import normalise_label
from checks.messages import render

DEFAULT_TEMPLATE = "spec-v1"

FieldType = Literal["text", "year", "unit", "date", "number", "amount", "rate", "measure"]
# The types whose values the checks compute with (float columns of the typed tables). A measure may also be text
# (e.g. "≥95%"), which is kept beside it.
NUMERIC_TYPES: frozenset[FieldType] = frozenset({"number", "amount", "rate", "measure"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelSpec(_Strict):
    label: str
    aliases: tuple[str, ...] = ()
    required: bool = False
    after: str | None = (
        None  # a row whose label repeats: the first one below this row of the sheet (表4's 年初 sources)
    )

    def spellings(self) -> set[str]:
        """Every normalised spelling that names this item."""
        return {normalise_label(text) for text in (self.label, *self.aliases)}


class FieldSpec(LabelSpec):
    type: FieldType = "text"
    fill_down: bool = False


class CodeSpec(_Strict):
    """How a code-row table keys its rows: by a classification code, in one column or split over several."""

    column: str | None = None  # the header of the one code column (科目编码), when the code is not split
    split: tuple[str, ...] = ()  # the headers of the columns it is split over (类, 款, 项), in order
    name: str = "科目名称"  # the header of the column naming each row
    lengths: tuple[int, ...] = (3, 5, 7)  # digits of a code at each level (类, 款, 项); a parent is its code cut short


SheetKind = Literal["keyvalue", "grid", "list", "codes", "title"]
KEY_LENGTH = 40  # sheet, row and column keys, as the database's long table of values holds them
FIELD_SHEETS = ("keyvalue", "title")  # the kinds whose values are fields, not rows × columns
RESERVED_CODE_COLUMNS = frozenset({"code", "name", "key", "level", "parent", "row", "sheet", "submission", "is_total"})


class SheetSpec(_Strict):
    title: str
    aliases: tuple[str, ...] = ()
    # keyvalue: labels and values (封面); grid: labelled rows × columns; list: item rows; codes: rows keyed by a
    # classification code, with a parent each; title: the fields of the title block above the tables (部门：…)
    kind: SheetKind
    required: bool = True
    # where the table is: by sheet name (title, aliases, numbers), and with `titled` also by its title or number
    # in the first rows of a table, so that several tables may share one sheet
    numbers: tuple[str, ...] = ()  # the table's number: 公开01表, 表1, 附表1
    titled: bool = False
    block: int = 1  # which of the blocks side by side under one header (the n-th label_header of the header row)
    transposed: bool = False  # grid: its rows are header columns and its columns row labels (表7)
    codes: CodeSpec | None = None
    empty_note: str | None = None  # a note holding this text makes a table without rows complete (本单位…无…)
    # keyvalue sheets
    label_columns: int = 4
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    # grid and list sheets
    label_header: str | None = None
    columns: dict[str, FieldSpec] = Field(default_factory=dict)
    rows: dict[str, LabelSpec] = Field(default_factory=dict)
    total_label: str | None = None
    value_aliases: dict[str, dict[str, tuple[str, ...]]] = Field(default_factory=dict)  # column → name → aliases

    def numeric_keys(self) -> tuple[str, ...]:
        """The keys of this sheet's fields or columns that hold numbers, as their types say."""
        return tuple(key for key, spec in {**self.fields, **self.columns}.items() if spec.type in NUMERIC_TYPES)

    def names(self) -> set[str]:
        return {normalise_label(text) for text in (self.title, *self.aliases, *self.numbers)}

    def label_of(self, key: str) -> str:
        for group in (self.fields, self.columns, self.rows):
            if key in group:
                return group[key].label
        return key

    def label_column_key(self) -> str:
        """The key of the column whose header is `label_header` (list sheets)."""
        wanted = normalise_label(self.label_header or "")
        for key, spec in self.columns.items():
            if wanted in spec.spellings():
                return key
        raise ValueError(f"sheet {self.title}: no column is labelled {self.label_header}")


class Tolerances(_Strict):
    sum_per_term: float = 0.005
    ceiling: float = 0.005
    rate_half_units: float = 0.5
    score: float = 0.01
    ambiguous_rate_max: float = 1.5


class RuleSpec(BaseModel):
    """One rule of the catalogue; parameters beyond the common ones belong to its kind."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str
    kind: RuleKind
    table: str
    severity: Severity
    title: str
    message: str
    severity_by_column: dict[str, Severity] = Field(default_factory=dict)

    def param(self, name: str, default: Any = None) -> Any:
        return (self.model_extra or {}).get(name, default)

    def require(self, name: str) -> Any:
        value = self.param(name)
        if value is None:
            raise ValueError(f"rule {self.id} ({self.kind}) needs the parameter {name!r}")
        return value


class ReadingRule(_Strict):
    severity: Severity
    title: str
    message: str


# What each rule kind's parameters name, so that a template naming a row, column or sheet that does not exist is
# refused when it is loaded rather than found silent at the first workbook: a `row` or `column` key of the rule's
# sheet (a keyvalue sheet's fields are its columns), a `cell` (`row.column` on a grid sheet, a column on a list
# sheet), another `sheet`, a cell of that `other` sheet, or `data` that names nothing.
ParameterRole = Literal["row", "column", "cell", "sheet", "other", "any-cell", "data"]
RULE_PARAMETERS: dict[str, dict[str, ParameterRole]] = {
    "required": {"columns": "column"},
    "format": {"column": "column", "pattern": "data", "choices": "data", "range": "data"},
    "sum": {
        "over": "data",
        "total": "row",
        "parts": "row",
        "columns": "column",
        "only_when_parts_filled": "data",
        "group_column": "column",
        "group_totals": "data",
        "column": "column",
    },
    "ceiling": {
        "rows": "row",
        "value_column": "column",
        "limit_column": "column",
        "value": "cell",
        "limit": "cell",
        "lower": "data",
    },
    "rate": {"stated": "column", "numerator": "column", "denominator": "column"},
    "balance": {"left": "row", "right": "row", "columns": "column", "across": "data"},
    "cross-sheet": {"column": "column", "other_table": "sheet", "other": "other"},
    "score": {"method": "data", "points": "data"},
    "grade": {"grades": "data"},
    "hierarchy": {"columns": "column"},
    "cross-table": {
        "left": "any-cell",
        "right": "any-cell",
        "relation": "data",
        "match": "data",
        "column": "column",
        "other_table": "sheet",
        "other_column": "other",
        "level": "data",
    },
}
# A sum or balance across one row's columns (over: across, across: true) names columns where it otherwise names rows.
ACROSS_PARAMETERS: dict[str, dict[str, ParameterRole]] = {
    "sum": {"total": "column", "parts": "column", "rows": "row"},
    "balance": {"left": "column", "right": "column", "rows": "row"},
}
CODE = re.compile(r"^\d{3,9}$")  # a classification code names a row of a code-row table
LIST_PARAMETERS = ("parts", "columns", "rows", "left", "right", "choices")  # whose value is a list, even of one
_COMMON_RULE_FIELDS = frozenset(RuleSpec.model_fields)

ANY_ROW = "*"  # in a between-submissions cell: every row the two submissions both hold (a code table's codes)


class CarryOver(_Strict):
    """This year's opening balance (年初结转和结余) and the cell of last year's closing one (年末) it must equal."""

    this: str  # sheet.row.column of this year's submission
    last: str  # sheet.row.column of last year's


class HistorySpec(_Strict):
    """The checks against the same bureau's current version of the previous year (`history/…`, checks.history)."""

    carry_over: tuple[CarryOver, ...] = ()
    carry_over_severity: Severity = Severity.ERROR
    change: tuple[str, ...] = ()  # amounts that should not move more than `change_share` without a reason
    change_share: float = Field(default=0.30, gt=0)
    change_severity: Severity = Severity.WARNING


class ConsolidationSpec(_Strict):
    """A 主管部门's own workbook against the sum of its units' current versions (`consolidation/units`)."""

    cells: tuple[str, ...] = ()
    severity: Severity = Severity.ERROR


class ExplanationSheet(_Strict):
    """Where a bureau explains its warnings (情况说明): a list sheet, a row per explanation."""

    sheet: str
    reference: str  # the column naming what is explained: a rule id (history/change) or a cell (C12, 收支总表!C12)
    reason: str  # the column of the explanation itself


Path_ = tuple[str | int, ...]  # where in the template document: keys and list positions
_PROBLEMS_LATER = "problems reported by the loader"


class Template(_Strict):
    name: str
    title: str
    tolerances: Tolerances = Tolerances()
    header_search_rows: int = 15
    cover_sheet: str = "cover"  # the key/value sheet whose fields say who submits (bureau, code, year, unit …)
    sheets: dict[str, SheetSpec]
    rules: tuple[RuleSpec, ...]
    reading: dict[str, ReadingRule]
    report: dict[ReportFigure, str] = Field(default_factory=dict)
    history: HistorySpec = HistorySpec()
    consolidation: ConsolidationSpec = ConsolidationSpec()
    explanations: ExplanationSheet | None = None

    def figure_cells(self) -> dict[str, FigureCell]:
        """Each period-report figure as the (sheet, row, column) that holds it in the long table of values."""
        return {figure: split_cell(place) for figure, place in self.report.items()}

    @cached_property
    def amount_keys(self) -> frozenset[tuple[str, str]]:
        """(sheet, column or field) of every value that is an amount, in the declared unit: every value of a grid
        or code-row sheet (keyed by its column), and the fields and columns of type `amount`."""
        found: set[tuple[str, str]] = set()
        for key, spec in self.sheets.items():
            if spec.kind in ("grid", "codes"):  # every value of these is an amount, whatever the column's type
                found |= {(key, column) for column in spec.columns}
            found |= {(key, name) for name, item in {**spec.fields, **spec.columns}.items() if item.type == "amount"}
        return frozenset(found)

    @model_validator(mode="after")
    def _rules_name_what_exists(self, info: ValidationInfo) -> Template:
        if not (info.context or {}).get(_PROBLEMS_LATER):  # load_template reports them with their lines
            for _, problem in self.problems():
                raise ValueError(problem)
        return self

    def problems(self) -> Iterator[tuple[Path_, str]]:
        """Every sheet or rule that names a sheet, row, column or parameter the template does not have, with where."""
        cover = self.sheets.get(self.cover_sheet)
        if cover is None or cover.kind not in FIELD_SHEETS:
            yield (
                ("cover_sheet",),
                f"cover_sheet {self.cover_sheet!r} is not a keyvalue or title sheet of this template",
            )
        elif cover.kind == "title" and not any(sheet.titled for sheet in self.sheets.values()):
            yield ("cover_sheet",), "a title cover_sheet reads the title block of titled sheets, and none is titled"
        for key, sheet in self.sheets.items():
            for name in (key, *sheet.rows, *sheet.columns, *sheet.fields):
                if len(name) > KEY_LENGTH:  # the long table's key columns hold this much
                    yield ("sheets", key), f"sheet {key}: the key {name!r} is longer than {KEY_LENGTH} characters"
            for column in sheet.value_aliases:
                if column not in sheet.columns:
                    yield (
                        ("sheets", key, "value_aliases", column),
                        f"sheet {key}: value_aliases names unknown column {column!r}",
                    )
            if sheet.kind in FIELD_SHEETS and (sheet.columns or sheet.rows):
                yield (
                    ("sheets", key, "kind"),
                    f"sheet {key} is a {sheet.kind} sheet: it has fields, not rows or columns",
                )
            elif sheet.kind not in FIELD_SHEETS and sheet.fields:
                yield ("sheets", key, "fields"), f"sheet {key} is a {sheet.kind} sheet: it has columns, not fields"
            for row_key, row_spec in sheet.rows.items():
                if row_spec.after is not None and row_spec.after not in sheet.rows:
                    said = f"sheet {key}: row {row_key} comes after unknown row {row_spec.after!r}"
                    yield ("sheets", key, "rows", row_key, "after"), said
            if sheet.block < 1:
                yield ("sheets", key, "block"), f"sheet {key}: block counts from 1 (the leftmost block)"
            if sheet.transposed and sheet.kind != "grid":
                yield ("sheets", key, "transposed"), f"sheet {key}: only a grid sheet can be transposed"
            if sheet.codes is not None and sheet.kind != "codes":
                yield ("sheets", key, "codes"), f"sheet {key}: only a codes sheet has codes"
            if sheet.kind == "codes" and sheet.codes is None:
                yield (
                    ("sheets", key, "kind"),
                    f"sheet {key} is a codes sheet: it needs `codes` (its code column or columns)",
                )
            if sheet.kind == "codes" and set(sheet.columns) & RESERVED_CODE_COLUMNS:
                reserved = ", ".join(sorted(RESERVED_CODE_COLUMNS))
                yield ("sheets", key, "columns"), f"sheet {key}: a codes sheet's columns may not be named {reserved}"
            if sheet.kind not in FIELD_SHEETS and not sheet.label_header:
                yield ("sheets", key), f"sheet {key} ({sheet.kind}) needs label_header, the header of its label column"
            elif sheet.kind == "list" and not any(
                normalise_label(sheet.label_header) in column.spellings() for column in sheet.columns.values()
            ):
                yield ("sheets", key, "label_header"), f"sheet {key}: label_header names none of its columns"
        for figure, (sheet_key, row, column) in self.figure_cells().items():
            problem = self._unknown_figure_cell(sheet_key, row, column)
            if problem is not None:
                yield ("report", figure), f"report figure {figure}: {problem}"
        yield from self._between_submissions_problems()
        for position, rule in enumerate(self.rules):
            at: Path_ = ("rules", position)
            if rule.table not in self.sheets:
                yield (*at, "table"), f"rule {rule.id} names unknown sheet {rule.table!r}"
                continue
            if rule.id.split("/", 1)[0] != rule.kind:
                yield (*at, "id"), f"rule {rule.id} has kind {rule.kind}: its id must start with that family"
            roles = RULE_PARAMETERS[rule.kind]
            if rule.param("over") == "across" or rule.param("across"):
                roles = {**roles, **ACROSS_PARAMETERS.get(rule.kind, {})}
            yield from self._shape_problems(rule, at)
            for name, value in (rule.model_extra or {}).items():
                role = roles.get(name)
                if role is None:
                    known = ", ".join(sorted(roles)) or "none"
                    yield (*at, name), f"rule {rule.id}: a {rule.kind} rule has no parameter {name!r} (known: {known})"
                    continue
                for index, named in _names(value, role):
                    problem = self._unknown_name(rule, role, named)
                    if problem is not None:
                        yield (*at, name, *index), f"rule {rule.id}: {name} names {problem}"

    def _shape_problems(self, rule: RuleSpec, at: Path_) -> Iterator[tuple[Path_, str]]:
        """A rule whose parameters have the wrong shape, or whose kind cannot check its sheet."""
        for name in LIST_PARAMETERS:
            if rule.param(name) is not None and not isinstance(rule.param(name), list | tuple):
                yield (*at, name), f"rule {rule.id}: {name} is a list: [{rule.param(name)}]"
        kind = self.sheets[rule.table].kind
        if (rule.kind == "hierarchy" or (rule.kind == "cross-table" and rule.param("match"))) and kind != "codes":
            yield (*at, "table"), f"rule {rule.id}: a {rule.kind} rule checks a codes sheet, and {rule.table} is {kind}"
        left = rule.param("left")
        if (
            rule.kind == "cross-table"
            and isinstance(left, list)
            and left
            and not str(left[0]).startswith(f"{rule.table}.")
        ):
            yield (
                (*at, "left", 0),
                f"rule {rule.id}: its first left cell is on its own sheet {rule.table} (the finding's)",
            )
        if rule.kind == "cross-table" and not rule.param("match") and not (left and rule.param("right")):
            yield at, f"rule {rule.id}: a cross-table rule compares left and right cells, or matches rows (match:)"

    def _between_submissions_problems(self) -> Iterator[tuple[Path_, str]]:
        """History and consolidation cells that name what the template lacks; an explanation sheet that is none."""
        named: list[tuple[Path_, str]] = []
        for index, pair in enumerate(self.history.carry_over):
            named += [
                (("history", "carry_over", index, "this"), pair.this),
                (("history", "carry_over", index, "last"), pair.last),
            ]
        named += [(("history", "change", index), cell) for index, cell in enumerate(self.history.change)]
        named += [(("consolidation", "cells", index), cell) for index, cell in enumerate(self.consolidation.cells)]
        for at, cell in named:
            sheet_key, row, column = split_cell(cell)
            sheet = self.sheets.get(sheet_key)
            if row != ANY_ROW:
                problem = self._unknown_figure_cell(sheet_key, row, column)
            elif sheet is None:
                problem = f"unknown sheet {sheet_key!r}"
            else:  # every row: only the column is named
                problem = None if column in sheet.columns else f"unknown column {column!r}"
            if problem is None and (sheet_key, column or row) not in self.amount_keys:
                problem = f"{cell} is not an amount"
            if problem is not None:
                yield at, f"{at[0]} cell {cell}: {problem}"
        for pair_index, pair in enumerate(self.history.carry_over):
            if (split_cell(pair.this)[1] == ANY_ROW) != (split_cell(pair.last)[1] == ANY_ROW):
                said = f"history carry_over {pair.this} = {pair.last}: both cells name every row (*), or neither"
                yield ("history", "carry_over", pair_index), said
        explanations = self.explanations
        if explanations is not None:
            sheet = self.sheets.get(explanations.sheet)
            if sheet is None or sheet.kind != "list":
                yield (
                    ("explanations", "sheet"),
                    f"explanations: {explanations.sheet!r} is not a list sheet of this template",
                )
            else:
                for name in ("reference", "reason"):
                    if getattr(explanations, name) not in sheet.columns:
                        said = f"explanations: {name} names unknown column {getattr(explanations, name)!r}"
                        yield ("explanations", name), said

    def _unknown_figure_cell(self, sheet_key: str, row: str, column: str) -> str | None:
        sheet = self.sheets.get(sheet_key)
        if sheet is None:
            return f"unknown sheet {sheet_key!r}"
        if sheet.kind in FIELD_SHEETS:
            return None if row in sheet.fields and not column else f"{sheet_key} has no field {row!r}"
        if sheet.kind == "list" and row != "total":
            return f"a list sheet's figure is a column of its 合计 row: {sheet_key}.total.<column>"
        if sheet.kind == "grid" and row not in sheet.rows:
            return f"unknown row {row!r} of sheet {sheet_key}"
        return None if column in sheet.columns else f"unknown column {column!r} of sheet {sheet_key}"

    def _unknown_name(self, rule: RuleSpec, role: ParameterRole, named: str) -> str | None:
        sheet = self.sheets[rule.table]
        if role == "sheet":
            return None if named in self.sheets else f"unknown sheet {named!r}"
        if role == "other":
            other_key = str(rule.param("other_table"))
            other = self.sheets.get(other_key)
            return None if other is None else _unknown_cell(other_key, other, named)
        if role == "any-cell":
            other_key, _, cell = named.partition(".")
            other = self.sheets.get(other_key)
            return f"unknown sheet {other_key!r}" if other is None else _unknown_cell(other_key, other, cell)
        if role == "cell":
            return _unknown_cell(rule.table, sheet, named)
        if role == "row":
            known = named in sheet.rows or (sheet.kind == "codes" and CODE.match(named) is not None)
            return None if known else f"unknown row {named!r} of sheet {rule.table}"
        known = named in sheet.fields or named in sheet.columns
        return None if known else f"unknown column {named!r} of sheet {rule.table}"


def _names(value: Any, role: ParameterRole) -> Iterator[tuple[Path_, str]]:
    """The names a parameter's value holds, each with its position in a list."""
    if role == "data":
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield (index,), str(item)
    else:
        yield (), str(value)


def _unknown_cell(key: str, sheet: SheetSpec, cell: str) -> str | None:
    """What a `row.column` (grid) or `column` (list) cell names that the sheet lacks, or None."""
    row, dot, column = cell.rpartition(".")
    if dot and row not in sheet.rows and not (sheet.kind == "codes" and CODE.match(row)):
        return f"unknown row {row!r} of sheet {key}"
    if column not in sheet.columns and column not in sheet.fields:
        return f"unknown column {column!r} of sheet {key}"
    return None


# The headline figures of the period report, each a cell of the template's sheets: `sheet.row.column` on a grid
# sheet, `sheet.field` on a key/value sheet, `sheet.total.column` for the 合计 row of a list sheet.
ReportFigure = Literal[
    "income_total", "expense_total", "budget_total", "three_public_budget", "three_public_actual", "self_total", "grade"
]
FigureCell = tuple[str, str, str]  # (sheet, row, column) in the long table of values


def split_cell(place: str) -> FigureCell:
    """`sheet.row.column` (or `sheet.field`) as the (sheet, row, column) keys of the long table of values."""
    sheet, _, rest = place.partition(".")
    row, _, column = rest.partition(".")
    return sheet, row, column


class TemplateError(ValueError):
    """A template file that cannot be used; the message names the file and the line to fix."""


def _bundled_text(name: str) -> str:
    return resources.files("checks").joinpath("templates", f"{name}.yaml").read_text(encoding="utf-8")


def load_template(source: str | Path = DEFAULT_TEMPLATE) -> Template:
    """A template by bundled name (`spec-v1`) or by path to a YAML file.

    Reading findings the file does not word itself (a province's file written before budgetflow knew them)
    take the bundled wording: the reader may raise any of them.
    """
    if isinstance(source, Path) or source.endswith((".yaml", ".yml")):
        origin = str(source)
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateError(f"template {origin} cannot be read: {exc}") from exc
    else:
        origin = f"template {source}"
        try:
            text = _bundled_text(source)
        except FileNotFoundError as exc:
            raise TemplateError(
                f"{origin} is not bundled (give a name such as {DEFAULT_TEMPLATE}, or a .yaml path)"
            ) from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise TemplateError(f"{origin}{where}: not YAML: {getattr(exc, 'problem', None) or exc}") from exc
    if not isinstance(document, dict):
        raise TemplateError(f"{origin}: a template is a mapping of name, title, sheets, rules …")
    # `x-…` keys hold what YAML anchors repeat elsewhere in the file (a classification's rows, say); not a setting
    document = {key: value for key, value in document.items() if not str(key).startswith("x-")}
    if source != DEFAULT_TEMPLATE:
        bundled = yaml.safe_load(_bundled_text(DEFAULT_TEMPLATE))["reading"]
        document["reading"] = {**bundled, **(document.get("reading") or {})}
    try:
        template = Template.model_validate(document, context={_PROBLEMS_LATER: True})
    except ValidationError as exc:
        found = [
            (error["loc"], ".".join(str(part) for part in error["loc"]) + f": {error['msg']}") for error in exc.errors()
        ]
        raise TemplateError(_listed(origin, root, found)) from exc
    problems = list(template.problems())
    if problems:
        raise TemplateError(_listed(origin, root, problems))
    return template


def _listed(origin: str, root: yaml.Node | None, problems: list[tuple[Path_, str]]) -> str:
    """Every problem of a template file on a line of its own, each with the line to fix."""
    lines = [f"{origin}, line {_line_of(root, path)}: {problem}" for path, problem in problems]
    return "\n".join(lines)


def _line_of(root: yaml.Node | None, path: tuple[str | int, ...]) -> int:
    """The line (from 1) of the deepest node of the YAML document that `path` reaches."""
    node, line = root, 1
    for part in path:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if pair is None:
                break
            line = pair[0].start_mark.line + 1
            node = pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def unreadable_finding(reason: str, templates: Template | TemplateSet) -> Finding:
    """The one finding of a file that could not be read or checked, in the (default) template's words."""
    spec = as_set(templates).default.reading["format/unreadable"]
    return Finding(rule="format/unreadable", severity=spec.severity, message=render(spec.message, reason=reason))


@cache
def default_template() -> Template:
    return load_template(DEFAULT_TEMPLATE)


AUTO = "auto"  # the template setting that lets each workbook's contents choose among the bundled templates


@dataclass(frozen=True, slots=True)
class TemplateSet:
    """The templates a workbook may be read with, the first the default: one the operator chose, or every bundled
    one (`auto`), each workbook then read with the one whose sheets it holds."""

    templates: tuple[Template, ...]

    @property
    def default(self) -> Template:
        return self.templates[0]

    def get(self, name: str) -> Template:
        """The template of that name, or the default one (a submission read with a template no longer at hand)."""
        return next((t for t in self.templates if t.name == name), self.default)


def as_set(templates: Template | TemplateSet) -> TemplateSet:
    return templates if isinstance(templates, TemplateSet) else TemplateSet((templates,))


def templates_for(setting: str | Path) -> TemplateSet:
    """The templates of a template setting: `auto` for every bundled one (spec-v1 first), else the one it names."""
    if setting == AUTO:
        return default_templates()
    return TemplateSet((load_template(setting),))


@cache
def default_templates() -> TemplateSet:
    names = [DEFAULT_TEMPLATE, *(name for name in bundled_names() if name != DEFAULT_TEMPLATE)]
    return TemplateSet(tuple(load_template(name) for name in names))


def bundled_names() -> list[str]:
    """The names of the templates that come with budgetflow (`checks/templates/*.yaml`)."""
    folder = resources.files("checks").joinpath("templates")
    return sorted(entry.name.removesuffix(".yaml") for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def with_bundled(configured: TemplateSet) -> TemplateSet:
    """The configured templates first, then every bundled one of another name: the templates stored submissions
    may have been read with."""
    names = {template.name for template in configured.templates}
    others = (template for template in default_templates().templates if template.name not in names)
    return TemplateSet((*configured.templates, *others))
