"""Validating a batch of submissions: pandera runs the catalogue, failures become findings."""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pandera.pandas as pa

from checks.findings import FileReport, Finding
from checks.history import bureau_explanations, explained
from checks.records import ReadSubmission
from checks.rules import Rule, build_rules
from checks.tables import Batch, build_batch, schema_of
from checks.template import Template, TemplateSet, as_set, default_template, unreadable_finding


class SchemaDefect(Exception):
    """A typed table broke its own schema: a defect in budgetflow, not in the submission."""


def _schema_for(
    table_key: str, rules: list[Rule], batch: Batch, template: Template
) -> tuple[pa.DataFrameSchema, dict[str, tuple[Rule, str]]]:
    schema = schema_of(template.sheets[table_key])
    by_name: dict[str, tuple[Rule, str]] = {}
    frame_checks: list[pa.Check] = []
    for rule in rules:
        if rule.table_key != table_key:
            continue
        for variant in rule.variants():
            by_name[rule.check_name(variant)] = (rule, variant)
        frame_checks.extend(rule.dataframe_checks(batch))
        for column, checks in rule.column_checks().items():
            schema = schema.update_column(column, checks=[*schema.columns[column].checks, *checks])
    with_rules = copy.copy(schema)
    with_rules.checks = [*schema.checks, *frame_checks]
    return with_rules, by_name


def _failures(schema: pa.DataFrameSchema, batch: Batch, table_key: str) -> list[tuple[str, Any]]:
    """(check name, row index) of every failing row, in order and without repeats."""
    try:
        schema.validate(batch[table_key].values, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        return list(dict.fromkeys(zip(cases["check"], cases["index"], strict=True)))
    return []


def _notes(submission: ReadSubmission, template: Template) -> Iterator[tuple[str, str, str, object]]:
    """The values of the submission's 情况说明 sheet (the template's explanations sheet), if it has one."""
    if template.explanations is None:
        return
    sheet = template.explanations.sheet
    for item in submission.lists.get(sheet, []):
        for column, located in item.values.items():
            yield sheet, item.row_key, column, located.value


def validate_batch(
    submissions: list[ReadSubmission], templates: Template | TemplateSet | None = None
) -> list[FileReport]:
    """One report per submission, in order: reader findings, then every failed catalogue rule of the template it
    was read with."""
    candidates = as_set(templates or default_template())
    by_template: dict[str, list[int]] = defaultdict(list)
    for position, submission in enumerate(submissions):
        by_template[candidates.get(submission.template).name].append(position)
    reports: list[FileReport | None] = [None] * len(submissions)
    for name, positions in by_template.items():
        checked = _validate_one_template([submissions[p] for p in positions], candidates.get(name))
        for position, report in zip(positions, checked, strict=True):
            reports[position] = report
    return [report for report in reports if report is not None]


def _validate_one_template(submissions: list[ReadSubmission], template: Template) -> list[FileReport]:
    batch = build_batch(submissions, template)
    rules = build_rules(template)
    found: dict[int, list[tuple[int, Any, Finding]]] = defaultdict(list)
    for table_key, table in batch.tables.items():
        if table.values.empty:
            continue
        schema, by_name = _schema_for(table_key, rules, batch, template)
        for check, index in _failures(schema, batch, table_key):
            if check not in by_name:
                raise SchemaDefect(f"typed table {table_key} failed {check} at row {index}")
            rule, variant = by_name[check]
            position = int(table.value(index, "submission"))
            found[position].extend((rule.position, index, f) for f in rule.explain(batch, variant, index))

    reports = []
    for position, submission in enumerate(submissions):
        if submission.unreadable is not None:
            report = FileReport(
                file=submission.file,
                sha256=submission.sha256,
                unreadable=True,
                findings=[unreadable_finding(submission.unreadable, template)],
            )
        else:
            # in catalogue order, and a rule's findings in the order of the rows they are on
            ordered = sorted(found.get(position, []), key=lambda item: (item[0], item[1]))
            findings = [*submission.findings, *(f for _, _, f in ordered)]
            report = submission.report(explained(findings, bureau_explanations(template, _notes(submission, template))))
        reports.append(report)
    return reports
