"""The template file: which sheets, labels and columns a workbook has, and which rules apply.

The layout and the rule catalogue are data (`checks/templates/*.yaml`); this module only gives
them types and normalises their labels once, so lookups while reading are plain dict hits.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from checks.findings import Finding, Severity
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

    def spellings(self) -> set[str]:
        """Every normalised spelling that names this item."""
        return {normalise_label(text) for text in (self.label, *self.aliases)}


class FieldSpec(LabelSpec):
    type: FieldType = "text"
    fill_down: bool = False


class SheetSpec(_Strict):
    title: str
    aliases: tuple[str, ...] = ()
    kind: Literal["keyvalue", "grid", "list"]
    required: bool = True
    # keyvalue sheets
    label_columns: int = 4
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    # grid and list sheets
    label_header: str | None = None
    columns: dict[str, FieldSpec] = Field(default_factory=dict)
    rows: dict[str, LabelSpec] = Field(default_factory=dict)
    total_label: str | None = None
    level1_aliases: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    def numeric_keys(self) -> tuple[str, ...]:
        """The keys of this sheet's fields or columns that hold numbers, as their types say."""
        return tuple(key for key, spec in {**self.fields, **self.columns}.items() if spec.type in NUMERIC_TYPES)

    def names(self) -> set[str]:
        return {normalise_label(text) for text in (self.title, *self.aliases)}

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
    kind: Literal["required", "format", "sum", "ceiling", "rate", "balance", "cross-sheet", "score", "grade"]
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


class Template(_Strict):
    name: str
    title: str
    tolerances: Tolerances = Tolerances()
    header_search_rows: int = 15
    sheets: dict[str, SheetSpec]
    rules: tuple[RuleSpec, ...]
    reading: dict[str, ReadingRule]

    @model_validator(mode="after")
    def _rules_name_known_tables(self) -> Template:
        for rule in self.rules:
            if rule.table not in self.sheets:
                raise ValueError(f"rule {rule.id} names unknown table {rule.table!r}")
            if rule.id.split("/", 1)[0] != rule.kind:
                raise ValueError(f"rule {rule.id} has kind {rule.kind}: its id must start with that family")
        return self


def _bundled_text(name: str) -> str:
    return resources.files("checks").joinpath("templates", f"{name}.yaml").read_text(encoding="utf-8")


def load_template(source: str | Path = DEFAULT_TEMPLATE) -> Template:
    """A template by bundled name (`spec-v1`) or by path to a YAML file.

    Reading findings the file does not word itself (a province's file written before budgetflow knew them)
    take the bundled wording: the reader may raise any of them.
    """
    if isinstance(source, Path) or source.endswith((".yaml", ".yml")):
        text = Path(source).read_text(encoding="utf-8")
    else:
        text = _bundled_text(source)
    document = yaml.safe_load(text)
    if isinstance(document, dict) and source != DEFAULT_TEMPLATE:
        bundled = yaml.safe_load(_bundled_text(DEFAULT_TEMPLATE))["reading"]
        document["reading"] = {**bundled, **(document.get("reading") or {})}
    return Template.model_validate(document)


def unreadable_finding(reason: str, template: Template) -> Finding:
    """The one finding of a file that could not be read or checked, in the template's words."""
    spec = template.reading["format/unreadable"]
    return Finding(rule="format/unreadable", severity=spec.severity, message=render(spec.message, reason=reason))


@cache
def default_template() -> Template:
    return load_template(DEFAULT_TEMPLATE)
