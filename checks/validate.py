"""Validating a batch of submissions: pandera runs the catalogue, failures become findings."""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

import pandera.pandas as pa

from checks.findings import FileReport, Finding
from checks.records import ReadSubmission
from checks.rules import Rule, build_rules
from checks.tables import Batch, build_batch, schema_of
from checks.template import Template, default_template, unreadable_finding


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


def validate_batch(submissions: list[ReadSubmission], template: Template | None = None) -> list[FileReport]:
    """One report per submission, in order: reader findings, then every failed catalogue rule."""
    template = template or default_template()
    batch = build_batch(submissions, template)
    rules = build_rules(template)
    found: dict[int, list[tuple[int, Finding]]] = defaultdict(list)
    for table_key, table in batch.tables.items():
        if table.values.empty:
            continue
        schema, by_name = _schema_for(table_key, rules, batch, template)
        for check, index in _failures(schema, batch, table_key):
            if check not in by_name:
                raise SchemaDefect(f"typed table {table_key} failed {check} at row {index}")
            rule, variant = by_name[check]
            position = int(table.value(index, "submission"))
            found[position].extend((rule.position, f) for f in rule.explain(batch, variant, index))

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
            ordered = sorted(found.get(position, []), key=lambda item: item[0])
            report = submission.report([*submission.findings, *(f for _, f in ordered)])
        reports.append(report)
    return reports
