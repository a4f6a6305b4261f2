"""The store: migrations, exact figures, exactly-once loading, crashes, outages and concurrent runs.

Every test runs against a real SQLite file and a real PostgreSQL database (the `database_url`
fixture), with real workbooks in a real inbox, through the plain functions of `intake.pipeline`
and `models.store` in the order the intake flow calls them. Crashes and concurrent runs happen in
separate OS processes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import SecretStr
from sqlalchemy import Engine, delete, func, inspect, text, update
from sqlalchemy import select as sa_select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session, SQLModel, col, select

from checks.findings import FileReport
from checks.identity import sha256_of
from checks.template import default_template
from config.settings import Settings
from intake import pipeline
from intake.archive import Discovery, archive_files, archive_path_for, discover
from intake.isolation import IsolatedPool
from models import bulk
from models.database import NEWEST_REVISION, alembic_config, compared_in_schema, engine_for, upgrade
from models.queries import find_submission, list_submissions, report_of
from models.rows import SHEET_VALUE_COLUMNS, typed_rows
from models.store import LoadOutcome, finish_run, load, start_run
from models.tables import Bureau, FindingRecord, IntakeRun, Receipt, SheetValue, Submission
from tests.support import check_one
from workbooks.reader import read_submission
from workbooks.samples import (
    UNREADABLE_BYTES,
    BureauFigures,
    Layout,
    build_workbook,
    clean_figures,
    errors_figures,
    seed_figures,
    workbook_bytes,
    write_samples,
    write_workbook,
)
from workbooks.values import parse_amount, parse_number

D = Decimal
ROOT = Path(__file__).resolve().parents[1]
SEED_CODE = "430981-013"
CLEAN_CODE = "430981-021"
YUAN = Layout(unit="元", amount_style="text")
TYPED_TABLES = (SheetValue, FindingRecord)


# --- an intake against one database -----------------------------------------------------------


@dataclass
class Intake:
    """A data directory (inbox, archive) and a migrated database, run as the intake flow runs them."""

    url: str
    settings: Settings
    engine: Engine
    pool: IsolatedPool | None = None  # the reading workers, shared as a run's batches share them

    @property
    def inbox(self) -> Path:
        return self.settings.inbox_dir

    def deliver(self, name: str, figures: BureauFigures | None = None, layout: Layout = Layout()) -> Path:
        """A workbook dropped into the inbox (the seed bureau's unless other figures are given)."""
        return write_workbook(figures or seed_figures(), self.inbox / name, layout)

    def deliver_bytes(self, name: str, data: bytes) -> Path:
        self.inbox.mkdir(parents=True, exist_ok=True)
        path = self.inbox / name
        path.write_bytes(data)
        return path

    def run(self) -> list[LoadOutcome]:
        """start_run → receive → leftovers → read_and_check → load_all → finish_run."""
        return run_intake(self.settings, self.engine, self.pool)

    def count(self, table: Any) -> int:
        with Session(self.engine) as session:
            return session.exec(select(func.count()).select_from(table)).one()

    def submissions(self) -> list[Submission]:
        with Session(self.engine) as session:
            return list(session.exec(select(Submission).order_by(col(Submission.id))))

    def receipts(self) -> list[Receipt]:
        with Session(self.engine) as session:
            return list(session.exec(select(Receipt).order_by(col(Receipt.id))))

    def submission_of(self, path_or_sha: Path | str) -> Submission | None:
        sha256 = sha256_of(path_or_sha) if isinstance(path_or_sha, Path) else path_or_sha
        with Session(self.engine) as session:
            return session.exec(select(Submission).where(Submission.sha256 == sha256)).one_or_none()

    def rows_of(self, table: Any, submission_id: int | None) -> list[Any]:
        with Session(self.engine) as session:
            statement = select(table).where(table.submission_id == submission_id).order_by(col(table.id))
            return list(session.exec(statement))

    def values_of(self, submission_id: int | None, sheet: str) -> dict[tuple[str, str], SheetValue]:
        """One sheet's values in the long table, by (row key, column key)."""
        return {(v.row, v.column): v for v in self.rows_of(SheetValue, submission_id) if v.sheet == sheet}


def settings_for(data_dir: Path, url: str) -> Settings:
    # The files are written whole before each intake: waiting for them to settle (2 s by default; the settling
    # itself is tested in test_intake_isolation) would only make each test 2 s longer.
    return Settings(data_dir=data_dir, database_url=SecretStr(url), read_workers=1, inbox_settle_seconds=0)


def run_intake(settings: Settings, engine: Engine, pool: IsolatedPool | None = None) -> list[LoadOutcome]:
    run_id = start_run(engine, str(settings.inbox_dir), None)
    received = pipeline.receive(settings.inbox_dir, settings, engine, run_id)
    earlier, _ = pipeline.leftovers(settings, engine, run_id)
    batch = pipeline.read_and_check(received.claimed + earlier, settings, pool)
    outcomes = pipeline.load_all(engine, run_id, batch.items, settings)
    finish_run(engine, run_id, received.files_seen, outcomes)
    return outcomes


@pytest.fixture(scope="module")
def reading_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IsolatedPool]:
    """One worker process for the module's intakes, as a run's batches share theirs: each test's intake would
    otherwise start its own and pay its first use of pandera and the template (~1 s a test)."""
    with pipeline.worker_pool(settings_for(tmp_path_factory.mktemp("workers"), "sqlite://")) as pool:
        yield pool


@pytest.fixture
def intake(tmp_path: Path, migrated_database_url: str, reading_workers: IsolatedPool) -> Iterator[Intake]:
    upgrade(migrated_database_url)  # what every run does first (a database at the newest revision: nothing)
    engine = engine_for(migrated_database_url)
    yield Intake(migrated_database_url, settings_for(tmp_path / "var", migrated_database_url), engine, reading_workers)
    engine.dispose()


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


# --- migrations -----------------------------------------------------------------------------------


def _schema(engine: Engine) -> dict[str, Any]:
    inspector = inspect(engine)
    return {
        table: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            sorted((i["name"] or "", tuple(i["column_names"]), i["unique"]) for i in inspector.get_indexes(table)),
            sorted(str(u["column_names"]) for u in inspector.get_unique_constraints(table)),
        )
        for table in sorted(inspector.get_table_names())
    }


def test_migrations_create_every_table_on_an_empty_database_and_a_second_upgrade_changes_nothing(
    database_url: str,
) -> None:
    engine = engine_for(database_url)
    assert inspect(engine).get_table_names() == []

    upgrade(database_url)

    assert set(inspect(engine).get_table_names()) == {*SQLModel.metadata.tables, "alembic_version"}
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    assert head == NEWEST_REVISION  # the shortcut that spares the small commands Alembic knows the newest one
    with engine.connect() as connection:
        include = compared_in_schema(connection.dialect.name)
        migration = MigrationContext.configure(connection, opts={"compare_type": True, "include_object": include})
        assert migration.get_current_revision() == head
        assert compare_metadata(migration, SQLModel.metadata) == []  # the migrations build exactly the models
    schema = _schema(engine)
    with Session(engine) as session, session.begin():
        session.add(Bureau(code=SEED_CODE, name="沅江市科学技术和工业信息化局"))

    upgrade(database_url)

    assert _schema(engine) == schema
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head
    with Session(engine) as session:
        assert [b.code for b in session.exec(select(Bureau))] == [SEED_CODE]
    engine.dispose()


def _submission_with_one_value(engine: Engine) -> int:
    with Session(engine) as session, session.begin():
        submission = Submission(
            sha256="0" * 64, file_name="x.xlsx", size=1, archive_path="x", status="passed", template="x"
        )
        session.add(submission)
        session.flush()
        assert submission.id is not None
        bulk.insert_many(session, SheetValue, [*SHEET_VALUE_COLUMNS, "submission_id"], [_value(submission.id)])
        return submission.id


def _value(submission_id: int) -> tuple[Any, ...]:
    return ("summary", "income", "budget", Decimal("1.5"), None, None, "收支总表", "B5", submission_id)


def test_a_value_always_names_a_submission_that_is_there(migrated_database_url: str) -> None:
    """The rule of `sheet_value`'s link to `submission` holds on both databases: by a foreign key on SQLite, by
    the triggers of revision 0007 on PostgreSQL (checked once a statement: COPY, INSERT, UPDATE, DELETE)."""
    engine = engine_for(migrated_database_url)
    submission_id = _submission_with_one_value(engine)
    missing = submission_id + 1000
    refused: list[str] = []

    def attempt(name: str, change: Any) -> None:
        with Session(engine) as session:
            try:
                with session.begin():
                    change(session)
            except IntegrityError:
                refused.append(name)

    attempt(
        "bulk",
        lambda session: bulk.insert_many(
            session, SheetValue, [*SHEET_VALUE_COLUMNS, "submission_id"], [_value(submission_id), _value(missing)]
        ),
    )
    attempt(
        "insert",
        lambda session: session.add(
            SheetValue(**dict(zip([*SHEET_VALUE_COLUMNS, "submission_id"], _value(missing), strict=True)))
        ),
    )
    attempt("update", lambda session: session.execute(update(SheetValue).values(submission_id=missing)))
    attempt("delete", lambda session: session.execute(delete(Submission).where(col(Submission.id) == submission_id)))
    attempt("renumber", lambda session: session.execute(update(Submission).values(id=missing)))

    assert refused == ["bulk", "insert", "update", "delete", "renumber"]
    with Session(engine) as session:  # nothing of the refused statements stayed
        assert session.exec(select(SheetValue.submission_id)).all() == [submission_id]
        assert session.exec(select(Submission.id)).all() == [submission_id]
    with Session(engine) as session, session.begin():  # the rule holds links, not values: these go through
        bulk.insert_many(session, SheetValue, [*SHEET_VALUE_COLUMNS, "submission_id"], [_value(submission_id)] * 2)
        session.execute(update(SheetValue).values(number=Decimal("2")))
        session.execute(update(Submission).values(status="warnings"))
    with Session(engine) as session, session.begin():
        session.execute(delete(SheetValue))
        session.execute(delete(Submission))
    engine.dispose()


# --- exact figures, cells and findings ------------------------------------------------------------


def _grid(intake: Intake, sheet: str, submission_id: int | None) -> dict[tuple[str, str], Decimal]:
    values = intake.values_of(submission_id, sheet).items()
    return {key: value.number for key, value in values if value.number is not None}


def _items(intake: Intake, sheet: str, submission_id: int | None) -> dict[str, dict[str, SheetValue]]:
    """A list sheet's rows in the long table: row key (its sheet row, or `total`) → column → value."""
    rows: dict[str, dict[str, SheetValue]] = {}
    for (row, column), value in intake.values_of(submission_id, sheet).items():
        rows.setdefault(row, {})[column] = value
    return rows


def _expected_grid(figures: dict[str, tuple[Decimal | None, ...]], sheet_key: str) -> dict[tuple[str, str], Decimal]:
    columns = list(default_template().sheets[sheet_key].columns)
    return {
        (line, column): amount
        for line, amounts in figures.items()
        for column, amount in zip(columns, amounts, strict=True)
        if amount is not None
    }


@pytest.mark.parametrize("layout", [Layout(), YUAN], ids=["wan-yuan-numbers", "yuan-text"])
def test_every_seed_figure_is_stored_as_the_exact_decimal_of_the_report(intake: Intake, layout: Layout) -> None:
    intake.deliver("2023-科工信局.xlsx", layout=layout)

    [outcome] = intake.run()

    [submission] = intake.submissions()
    assert submission.id == outcome.submission_id
    assert (submission.bureau_code, submission.fiscal_year, submission.unit) == (SEED_CODE, 2023, layout.unit)
    figures = seed_figures()
    summary = _grid(intake, "summary", submission.id)
    assert summary == _expected_grid(figures.summary, "summary")
    # The report's own figures, as exact decimal text (no float noise, no padding to the column's scale).
    assert str(summary[("inc_total", "budget_initial")]) == "1245.61"
    assert str(summary[("inc_general", "budget_initial")]) == "1160.21"
    assert summary[("exp_project", "actual")] == D("10757.67")
    three_public = _grid(intake, "three_public", submission.id)
    assert three_public == _expected_grid(figures.three_public, "three_public")
    assert str(three_public[("reception", "actual")]) == "11.84"

    projects = _items(intake, "projects", submission.id)
    total = projects.pop("total")
    items = list(projects.values())
    assert [(p["name"].text, *(p[k].number for k in ("budget_initial", "budget_full", "actual"))) for p in items] == [
        (p.name, p.budget_initial, p.budget_full, p.actual) for p in figures.projects
    ]
    assert sum((p["budget_initial"].number or D(0) for p in items), D(0)) == total["budget_initial"].number
    assert str(total["budget_initial"].number) == "533.67"
    assert (items[3]["rate"].number, items[3]["rate"].decimals) == (D("98.38"), 2)

    [indicator] = [
        i for i in _items(intake, "indicators", submission.id).values() if i["name"].text == "企业问题解决率"
    ]
    assert [indicator[k].number for k in ("target", "result", "numerator", "denominator")] == [
        D(95),
        D("97.5"),
        D(79),
        D(81),
    ]
    assert (str(indicator["result"].number), indicator["result"].decimals) == ("97.5", 1)
    evaluation = intake.values_of(submission.id, "result")
    assert (evaluation[("execution_score", "")].number, evaluation[("total", "")].number) == (D(10), D(99))
    assert evaluation[("grade", "")].text == "优"
    cover = intake.values_of(submission.id, "cover")
    assert cover[("bureau_code", "")].text == SEED_CODE
    assert cover[("fiscal_year", "")].number == 2023


def test_a_read_batch_comes_back_as_covers_and_typed_rows_the_same_as_the_full_reading_makes(intake: Intake) -> None:
    intake.deliver("2023-科工信局.xlsx")
    intake.deliver("2023-农业农村局.xlsx", errors_figures(), YUAN)
    run_id = start_run(intake.engine, str(intake.inbox), None)
    receipts = pipeline.receive(intake.inbox, intake.settings, intake.engine, run_id).claimed

    items = pipeline.read_and_check(receipts, intake.settings).items

    for item in items:
        full = read_submission(Path(item.receipt.archive_path))
        assert (item.read.grids, item.read.lists, item.read.fields) == ({}, {}, {})
        assert (item.read.cover, item.read.sheets, item.read.unit) == (full.cover, full.sheets, full.unit)
        assert item.rows[SheetValue] and item.rows[FindingRecord]
        assert item.rows == typed_rows(full, item.report.findings, default_template())


def test_amounts_in_yuan_with_fen_land_in_wan_yuan_exactly(intake: Intake) -> None:
    figures = seed_figures()
    projects = list(figures.projects)
    projects[1] = replace(projects[1], actual=D("48.501234"))  # 485,012.34 元
    intake.deliver("元.xlsx", replace(figures, projects=projects), YUAN)

    [outcome] = intake.run()

    stored = list(_items(intake, "projects", outcome.submission_id).values())
    assert str(stored[1]["actual"].number) == "48.501234"
    assert str(stored[-1]["actual"].number) == str(sum((p.actual for p in projects), D(0)))


def _cell_value(book: Any, sheet: str, cell: str, unit: str, *, amount: bool = True) -> Decimal | None:
    raw = book[sheet][cell].value
    if not amount:
        return parse_number(raw)
    value = parse_amount(raw, unit)
    return value / 10000 if value is not None and unit == "元" else value


@pytest.mark.parametrize(
    "layout",
    [Layout(), Layout(unit="元", amount_style="text", title_rows=2, leading_columns=1, shuffle=True)],
    ids=["plain", "moved-cells-in-yuan"],
)
def test_each_typed_row_keeps_the_sheet_and_cell_that_hold_its_value(intake: Intake, layout: Layout) -> None:
    path = intake.deliver("book.xlsx", layout=layout)
    book = openpyxl.load_workbook(path)  # read before the intake takes the file out of the inbox

    [outcome] = intake.run()

    sid = outcome.submission_id
    checked = 0
    for sheet in ("summary", "three_public"):
        for line in intake.values_of(sid, sheet).values():
            assert line.title in ("收支总表", "三公经费") and line.cell
            assert _cell_value(book, line.title, line.cell, layout.unit) == line.number, (line.row, line.column)
            checked += 1
    for row_key, project in _items(intake, "projects", sid).items():
        for key in ("budget_initial", "budget_full", "actual"):
            value = project[key]
            assert value.title == "项目支出" and value.cell
            assert _cell_value(book, value.title, value.cell, layout.unit) == value.number
            checked += 1
        if row_key != "total":
            assert book["项目支出"][str(project["name"].cell)].value == project["name"].text
    for indicator in _items(intake, "indicators", sid).values():
        for key in ("result", "weight", "score"):
            value = indicator[key]
            assert value.title == "绩效指标" and value.cell
            assert _cell_value(book, value.title, value.cell, "", amount=False) == value.number
            checked += 1
    grade = intake.values_of(sid, "result")[("grade", "")]
    assert book[grade.title][str(grade.cell)].value == grade.text == "优"
    assert checked > 80


def test_the_seed_findings_are_stored_with_rule_severity_sheet_cells_and_values(intake: Intake) -> None:
    path = intake.deliver("2023-科工信局.xlsx")
    expected = check_one(path)

    [outcome] = intake.run()

    records = intake.rows_of(FindingRecord, outcome.submission_id)
    assert [(r.rule, r.severity, r.sheet, r.cells[0], r.expected, r.actual) for r in records] == [
        ("sum/income", "error", "收支总表", "B10", "1160.21", "1245.61"),
        ("balance/income-expense", "warning", "收支总表", records[1].cells[0], "1160.21", "1245.61"),
    ]
    assert [(r.position, r.message, tuple(r.cells)) for r in records] == [
        (i, f.message, f.cells) for i, f in enumerate(expected.findings)
    ]
    assert set(records[0].cells[1:]) == {"B2", "B3", "B4", "B9"}
    [submission] = intake.submissions()
    assert (submission.status, submission.error_count, submission.warning_count) == ("failed", 1, 1)
    assert (outcome.outcome, outcome.status, outcome.errors, outcome.warnings) == ("loaded", "failed", 1, 1)


def test_a_finding_quoting_a_long_cell_text_is_stored_and_the_submission_loads(intake: Intake) -> None:
    path = intake.deliver("long.xlsx")
    book = openpyxl.load_workbook(path)
    book["收支总表"]["B2"] = "见附件说明" * 80  # 400 characters where an amount belongs
    book.save(path)

    [outcome] = intake.run()

    assert outcome.outcome == "loaded"
    [record] = [r for r in intake.rows_of(FindingRecord, outcome.submission_id) if r.rule == "format/amount"]
    assert record.cells == ["B2"] and record.actual is not None
    assert record.actual.startswith("见附件说明") and len(record.actual) <= 200
    assert "见附件说明" in record.message


def test_figures_out_of_any_amounts_range_are_findings_tiny_ones_are_stored_exactly_and_the_batch_still_loads(
    intake: Intake,
) -> None:
    path = intake.deliver("0-单位.xlsx")  # first in the batch
    book = openpyxl.load_workbook(path)
    book["收支总表"]["B3"] = "6222021234567890123"  # a bank card number where an amount belongs
    book["收支总表"]["C4"] = "0.000000000001"
    book["封面"]["B4"] = 73727212345  # a telephone number where the year belongs
    book.save(path)
    sha256 = sha256_of(path)
    intake.deliver("2023-教育局.xlsx", clean_figures())

    outcomes = intake.run()

    assert [(o.outcome, o.bureau_code) for o in outcomes] == [("loaded", SEED_CODE), ("loaded", CLEAN_CODE)]
    wild = intake.submission_of(sha256)
    assert wild is not None
    amounts = {line.cell: line.number for line in intake.values_of(wild.id, "summary").values()}
    assert amounts.get("B3") is None and amounts["C4"] == D("0.000000000001")
    assert (wild.fiscal_year, wild.version, wild.status) == (None, None, "failed")
    findings = [(r.rule, r.cells[0] if r.cells else None) for r in intake.rows_of(FindingRecord, wild.id)]
    assert ("format/out-of-range", "B3") in findings and "format/fiscal-year" in [rule for rule, _ in findings]


# --- exactly once ---------------------------------------------------------------------------------


def test_the_same_bytes_submitted_again_are_recorded_as_a_duplicate_and_not_loaded_twice(intake: Intake) -> None:
    first_path = intake.deliver("2023-科工信局.xlsx")
    data = first_path.read_bytes()
    [first] = intake.run()
    rows = {table.__name__: intake.count(table) for table in TYPED_TABLES}

    intake.deliver_bytes("2023-科工信局.xlsx", data)  # the same file sent again
    intake.deliver_bytes("科工信局-重发.xlsx", data)  # and under another name
    again = intake.run()

    assert [o.outcome for o in again] == ["duplicate", "duplicate"]
    assert {o.submission_id for o in again} == {first.submission_id}
    assert len(intake.submissions()) == 1
    assert {table.__name__: intake.count(table) for table in TYPED_TABLES} == rows
    receipts = intake.receipts()
    assert [(r.state, r.submission_id) for r in receipts] == [
        ("loaded", first.submission_id),
        ("duplicate", first.submission_id),
        ("duplicate", first.submission_id),
    ]
    with Session(intake.engine) as session:
        runs = list(session.exec(select(IntakeRun).order_by(col(IntakeRun.id))))
    assert [(r.received, r.loaded, r.duplicates, r.failed) for r in runs] == [(1, 1, 0, 1), (2, 0, 2, 0)]
    assert list(intake.inbox.iterdir()) == []


def test_the_same_bytes_twice_in_one_inbox_load_once(intake: Intake) -> None:
    data = intake.deliver("a.xlsx").read_bytes()
    intake.deliver_bytes("b.xlsx", data)

    outcomes = intake.run()

    assert [o.outcome for o in outcomes] == ["loaded", "duplicate"]
    assert len(intake.submissions()) == 1
    filled = sum(amount is not None for amounts in seed_figures().summary.values() for amount in amounts)
    assert len(intake.values_of(intake.submissions()[0].id, "summary")) == filled  # every filled cell, once
    assert len(intake.submissions()) == 1


def test_a_resent_copy_that_kept_its_name_and_modification_time_is_recorded_as_a_duplicate(intake: Intake) -> None:
    path = intake.deliver("2023-科工信局.xlsx")
    data, stat = path.read_bytes(), path.stat()
    [first] = intake.run()

    # What `cp -p`, `rsync -a` or unzipping the same attachment again delivers: same name, bytes and mtime.
    again = intake.deliver_bytes("2023-科工信局.xlsx", data)
    os.utime(again, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    [outcome] = intake.run()

    assert (outcome.outcome, outcome.submission_id) == ("duplicate", first.submission_id)
    assert [r.state for r in intake.receipts()] == ["loaded", "duplicate"]
    assert list(intake.inbox.iterdir()) == []


def _corrected_seed() -> BureauFigures:
    figures = seed_figures()
    return replace(figures, summary={**figures.summary, "inc_total": (D("1160.21"), D("11658.78"), D("11658.78"))})


def test_a_new_file_for_the_same_bureau_and_year_becomes_the_next_version_and_supersedes_the_last(
    intake: Intake,
) -> None:
    intake.deliver("v1.xlsx")
    [v1] = intake.run()
    intake.deliver("v2.xlsx", _corrected_seed())
    [v2] = intake.run()
    intake.deliver("v3.xlsx", replace(_corrected_seed(), contact="张三"))
    [v3] = intake.run()

    assert [(o.outcome, o.version) for o in (v1, v2, v3)] == [("loaded", 1), ("loaded", 2), ("loaded", 3)]
    first, second, third = intake.submissions()
    assert [(s.version, s.is_current, s.supersedes_id) for s in (first, second, third)] == [
        (1, False, None),
        (2, False, first.id),
        (3, True, second.id),
    ]
    assert (first.status, second.status) == ("failed", "passed")
    # History is kept: every version keeps its own rows and findings.
    assert _grid(intake, "summary", first.id)[("inc_total", "budget_initial")] == D("1245.61")
    assert _grid(intake, "summary", second.id)[("inc_total", "budget_initial")] == D("1160.21")
    assert [r.rule for r in intake.rows_of(FindingRecord, first.id)] == ["sum/income", "balance/income-expense"]
    assert [s.id for s in list_submissions(intake.engine, bureau=SEED_CODE)] == [third.id]
    assert [s.id for s in list_submissions(intake.engine, bureau=SEED_CODE, all_versions=True)] == [
        first.id,
        second.id,
        third.id,
    ]


def test_three_versions_arriving_in_one_batch_are_numbered_in_order_and_only_the_last_is_current(
    intake: Intake,
) -> None:
    intake.deliver("v0.xlsx")
    [v0] = intake.run()
    intake.deliver("v1.xlsx", _corrected_seed())
    intake.deliver("v2.xlsx", replace(_corrected_seed(), contact="张三"))
    intake.deliver("v3.xlsx", replace(_corrected_seed(), contact="李四"))

    outcomes = intake.run()  # one batch: one transaction

    assert [(o.file_name, o.outcome, o.version) for o in outcomes] == [
        ("v1.xlsx", "loaded", 2),
        ("v2.xlsx", "loaded", 3),
        ("v3.xlsx", "loaded", 4),
    ]
    stored = intake.submissions()
    assert [(s.version, s.is_current, s.supersedes_id) for s in stored] == [
        (1, False, None),
        (2, False, v0.submission_id),
        (3, False, stored[1].id),
        (4, True, stored[2].id),
    ]
    assert [s.contact for s in stored[2:]] == ["张三", "李四"]


def test_a_batch_stores_exactly_what_loading_its_submissions_one_at_a_time_stores(tmp_path: Path) -> None:
    def stored(directory: Path, load_one_at_a_time: bool) -> list[tuple[Any, ...]]:
        url = f"sqlite:///{directory / 'budgetflow.db'}"
        upgrade(url)
        engine = engine_for(url)
        settings = settings_for(directory, url)
        write_samples(settings.inbox_dir)
        run_id = start_run(engine, "inbox", None)
        receipts = pipeline.receive(settings.inbox_dir, settings, engine, run_id).claimed
        items = pipeline.read_and_check(receipts, settings).items
        if load_one_at_a_time:
            for item in items:
                load(engine, run_id, item)
        else:
            pipeline.load_all(engine, run_id, items, settings)
        rows: list[tuple[Any, ...]] = []
        with Session(engine) as session:
            for table in (Submission, Bureau, SheetValue):
                for row in session.exec(select(table)):
                    values = row.model_dump(
                        exclude={"id", "received_at", "processed_at", "first_seen", "last_seen", "archive_path"}
                    )
                    rows.append((table.__name__, sorted(values.items(), key=lambda kv: kv[0])))
            rows += [
                ("finding", f.submission_id, f.position, f.rule, f.message) for f in session.exec(select(FindingRecord))
            ]
            rows += [("receipt", r.file_name, r.state, r.submission_id) for r in session.exec(select(Receipt))]
        engine.dispose()
        return sorted(rows, key=repr)

    (tmp_path / "batch").mkdir()
    (tmp_path / "single").mkdir()
    assert stored(tmp_path / "batch", False) == stored(tmp_path / "single", True)


def test_another_year_of_the_same_bureau_starts_its_own_versions(intake: Intake) -> None:
    intake.deliver("2023.xlsx")
    intake.deliver("2024.xlsx", replace(seed_figures(), year=2024))

    intake.run()

    assert sorted((s.fiscal_year, s.version, s.is_current) for s in intake.submissions()) == [
        (2023, 1, True),
        (2024, 1, True),
    ]


def test_unreadable_and_failed_submissions_are_recorded_with_their_findings(intake: Intake) -> None:
    write_samples(intake.inbox)

    outcomes = intake.run()

    assert {o.outcome for o in outcomes} == {"loaded"}
    by_status = Counter(s.status for s in intake.submissions())
    assert by_status == {"passed": 2, "warnings": 1, "failed": 2, "unreadable": 1}
    unreadable = intake.submission_of(sha256_of_bytes(UNREADABLE_BYTES))
    assert unreadable is not None
    assert (unreadable.bureau_code, unreadable.version, unreadable.is_current, unreadable.unit) == (
        None,
        None,
        False,
        None,
    )
    assert [(r.rule, r.severity) for r in intake.rows_of(FindingRecord, unreadable.id)] == [
        ("format/unreadable", "error")
    ]
    assert intake.rows_of(SheetValue, unreadable.id) == []
    failed = next(s for s in intake.submissions() if s.bureau_code == "430981-047")
    records = intake.rows_of(FindingRecord, failed.id)
    assert (failed.status, failed.is_current, failed.version) == ("failed", True, 1)  # loaded, but flagged
    assert len(records) == failed.error_count + failed.warning_count == 11
    assert sum(r.severity == "error" for r in records) == failed.error_count == 9
    assert intake.values_of(failed.id, "summary") != {}
    assert all(r.state == "loaded" for r in intake.receipts())
    with Session(intake.engine) as session:
        [run] = session.exec(select(IntakeRun)).all()
    assert (run.files_seen, run.loaded, run.passed, run.warnings, run.failed, run.unreadable) == (6, 6, 2, 1, 2, 1)
    assert run.finished_at is not None


def sha256_of_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- one transaction per submission ---------------------------------------------------------------


def _refuse_findings(engine: Engine, rule: str) -> None:
    """A real database trigger that rejects one rule's findings: the load fails after its typed rows."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(
                text(
                    "CREATE FUNCTION refuse_finding() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'finding refused'; END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER refuse_finding BEFORE INSERT ON finding FOR EACH ROW "
                    f"WHEN (NEW.rule = '{rule}') EXECUTE FUNCTION refuse_finding()"
                )
            )
        else:
            connection.execute(
                text(
                    f"CREATE TRIGGER refuse_finding BEFORE INSERT ON finding WHEN NEW.rule = '{rule}' "
                    "BEGIN SELECT RAISE(ABORT, 'finding refused'); END"
                )
            )


def _allow_findings(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("DROP TRIGGER refuse_finding" + (" ON finding" if engine.dialect.name == "postgresql" else ""))
        )


def test_a_submission_whose_load_fails_midway_leaves_neither_rows_nor_findings_and_loads_next_run(
    intake: Intake,
) -> None:
    intake.deliver("2023-教育局.xlsx", clean_figures())  # passes: loads before the seed
    seed = intake.deliver("2023-科工信局.xlsx")
    seed_sha = sha256_of(seed)
    _refuse_findings(intake.engine, "sum/income")

    with pytest.raises(DBAPIError, match="finding refused"):
        intake.run()

    [clean] = intake.submissions()
    assert clean.bureau_code == CLEAN_CODE  # committed in its own transaction
    assert intake.submission_of(seed_sha) is None
    for table in (SheetValue, FindingRecord):
        with Session(intake.engine) as session:
            others = session.exec(select(func.count()).select_from(table).where(table.submission_id != clean.id))
            assert others.one() == 0, table.__name__
    with Session(intake.engine) as session:
        assert session.get(Bureau, SEED_CODE) is None  # the bureau upsert went with the rest
    assert [(r.sha256 == seed_sha, r.state) for r in intake.receipts()] == [(False, "loaded"), (True, "received")]
    assert archive_path_for(intake.settings.archive_dir, seed_sha).read_bytes() == seed_bytes()

    _allow_findings(intake.engine)
    [outcome] = intake.run()

    assert outcome.outcome == "loaded" and outcome.version == 1
    loaded = intake.submission_of(seed_sha)
    assert loaded is not None
    assert [r.rule for r in intake.rows_of(FindingRecord, loaded.id)] == ["sum/income", "balance/income-expense"]
    assert len(intake.submissions()) == 2
    assert [r.state for r in intake.receipts()] == ["loaded", "loaded"]


def seed_bytes() -> bytes:
    return workbook_bytes(build_workbook(seed_figures()))


# --- a process killed mid-load --------------------------------------------------------------------

KILLED_MID_LOAD = r"""
import os, signal, sys
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import func, select

import models.bulk as bulk
from config.settings import Settings
from intake import pipeline
from models.database import engine_for
from models.store import start_run
from models.tables import SheetValue, Submission

data_dir, url, marker = sys.argv[1:4]
settings = Settings(data_dir=Path(data_dir), database_url=SecretStr(url), read_workers=1)
insert_many = bulk.insert_many


def insert_then_die(session, table, columns, rows):
    insert_many(session, table, columns, rows)
    if table is SheetValue:
        session.flush()
        loaded = session.execute(select(func.count()).select_from(Submission)).scalar_one()
        lines = session.execute(select(func.count()).select_from(SheetValue)).scalar_one()
        Path(marker).write_text(f"{loaded} {lines}")
        os.kill(os.getpid(), signal.SIGKILL)


bulk.insert_many = insert_then_die
engine = engine_for(url)
run_id = start_run(engine, str(settings.inbox_dir), None)
claimed = pipeline.receive(settings.inbox_dir, settings, engine, run_id).claimed
pipeline.load_all(engine, run_id, pipeline.read_and_check(claimed, settings).items, settings)
sys.exit("the load was not interrupted")
"""


def test_a_process_killed_mid_load_leaves_no_trace_of_its_batch_and_a_rerun_loads_it_once(
    intake: Intake, tmp_path: Path
) -> None:
    clean = intake.deliver("2023-教育局.xlsx", clean_figures())
    seed = intake.deliver("2023-科工信局.xlsx")
    seed_sha = sha256_of(seed)
    shas = {sha256_of(clean), seed_sha}
    marker = tmp_path / "killed-after"

    child = subprocess.run(
        [sys.executable, "-c", KILLED_MID_LOAD, str(intake.settings.data_dir), intake.url, str(marker)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert child.returncode == -signal.SIGKILL, child.stderr
    loaded_before_kill, lines_before_kill = map(int, marker.read_text().split())
    assert (loaded_before_kill, lines_before_kill > 0) == (2, True)  # both rows and their lines were in, uncommitted
    assert intake.submissions() == []
    with Session(intake.engine) as session:
        for table in (SheetValue, FindingRecord, Bureau):
            assert session.exec(select(func.count()).select_from(table)).one() == 0, table.__name__
    assert {r.sha256: r.state for r in intake.receipts()} == dict.fromkeys(shas, "received")
    assert archive_path_for(intake.settings.archive_dir, seed_sha).read_bytes() == seed_bytes()
    assert list(intake.inbox.iterdir()) == []

    outcomes = intake.run()  # the inbox is empty; the killed run's receipts are leftovers

    assert sorted((o.outcome, o.bureau_code, o.version) for o in outcomes) == sorted(
        [("loaded", CLEAN_CODE, 1), ("loaded", SEED_CODE, 1)]
    )
    assert len(intake.submissions()) == 2
    with Session(intake.engine) as session:
        assert session.exec(select(func.count()).select_from(SheetValue)).one() == lines_before_kill
    assert [r.state for r in intake.receipts()] == ["loaded", "loaded"]
    with Session(intake.engine) as session:
        finished = [r.finished_at is not None for r in session.exec(select(IntakeRun).order_by(col(IntakeRun.id)))]
    assert finished == [False, True]  # the killed run never finished; the re-run did
    assert intake.run() == []  # and nothing is left for a third run


# --- a database that refuses connections ----------------------------------------------------------


def _unreachable(url: str, tmp_path: Path) -> str:
    """A database of the same kind that cannot be reached: a closed port, or a file that cannot be made."""
    if is_postgres(url):
        return "postgresql+psycopg://postgres@127.0.0.1:1/budgetflow"
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the database's directory should be")
    return f"sqlite:///{blocker / 'budgetflow.db'}"


def test_a_database_that_refuses_connections_fails_promptly_and_keeps_files_for_the_next_run(
    intake: Intake, tmp_path: Path
) -> None:
    down = _unreachable(intake.url, tmp_path)
    started = time.monotonic()
    with pytest.raises(OperationalError):
        upgrade(down)
    with pytest.raises(OperationalError):
        start_run(engine_for(down), str(intake.inbox), None)
    assert time.monotonic() - started < 10

    # The database went away after a run recorded its files but before it loaded them…
    intake.deliver("2023-教育局.xlsx", clean_figures())
    run_id = start_run(intake.engine, str(intake.inbox), None)
    recorded = pipeline.receive(intake.inbox, intake.settings, intake.engine, run_id).claimed
    items = pipeline.read_and_check(recorded, intake.settings).items
    with pytest.raises(OperationalError):
        pipeline.load_all(engine_for(down), run_id, items, intake.settings)
    # …and new files arrived while it was down: they are archived, but stay in the inbox unrecorded.
    seed = intake.deliver("2023-科工信局.xlsx")
    errors = intake.deliver("2023-农业农村局.xlsx", errors_figures())
    with pytest.raises(OperationalError):
        pipeline.receive(intake.inbox, intake.settings, engine_for(down), run_id)
    assert sorted(p.name for p in intake.inbox.iterdir()) == sorted([seed.name, errors.name])
    for path in (seed, errors):
        assert archive_path_for(intake.settings.archive_dir, sha256_of(path)).read_bytes() == path.read_bytes()
    assert time.monotonic() - started < 20

    outcomes = intake.run()  # the database is back

    assert sorted((o.outcome, o.bureau_code) for o in outcomes) == [
        ("loaded", "430981-013"),
        ("loaded", "430981-021"),
        ("loaded", "430981-047"),
    ]
    assert len(intake.submissions()) == len({r.sha256 for r in intake.receipts()}) == 3
    assert [r.state for r in intake.receipts()] == ["loaded"] * 3
    assert list(intake.inbox.iterdir()) == []
    assert intake.run() == []


# --- reading back ---------------------------------------------------------------------------------


def test_list_submissions_filters_by_year_bureau_and_versions(intake: Intake) -> None:
    write_samples(intake.inbox)
    intake.run()
    intake.deliver("v2.xlsx", _corrected_seed())
    intake.deliver("2024.xlsx", replace(seed_figures(), year=2024))
    intake.run()

    current = list_submissions(intake.engine)
    every = list_submissions(intake.engine, all_versions=True)

    assert [(s.bureau_code, s.fiscal_year, s.version) for s in current] == [
        (SEED_CODE, 2023, 2),
        (SEED_CODE, 2024, 1),
        (CLEAN_CODE, 2023, 1),
        ("430981-035", 2023, 1),
        ("430981-047", 2023, 1),
        ("430981-052", 2023, 1),
        (None, None, None),  # the unreadable file: unattributed, listed last
    ]
    assert len(every) == len(current) + 1
    assert [(s.fiscal_year, s.version) for s in every if s.bureau_code == SEED_CODE] == [
        (2023, 1),
        (2023, 2),
        (2024, 1),
    ]
    assert {s.fiscal_year for s in list_submissions(intake.engine, year=2024)} == {2024}
    assert [s.version for s in list_submissions(intake.engine, year=2023, bureau=SEED_CODE)] == [2]
    assert [s.version for s in list_submissions(intake.engine, year=2023, bureau=SEED_CODE, all_versions=True)] == [
        1,
        2,
    ]
    assert list_submissions(intake.engine, bureau="430981-999") == []


def test_find_submission_by_id_or_sha256_prefix_and_report_of_gives_back_its_findings(intake: Intake) -> None:
    path = intake.deliver("2023-科工信局.xlsx")
    expected = check_one(path)
    intake.deliver_bytes("2023-水利局.xlsx", UNREADABLE_BYTES)
    intake.run()
    seed = intake.submission_of(expected.sha256)
    unreadable = intake.submission_of(sha256_of_bytes(UNREADABLE_BYTES))
    assert seed is not None and unreadable is not None

    by_id = find_submission(intake.engine, str(seed.id))
    by_prefix = find_submission(intake.engine, seed.sha256[:8])
    by_upper_prefix = find_submission(intake.engine, seed.sha256[:12].upper())
    by_whole_hash = find_submission(intake.engine, seed.sha256)

    assert by_id is not None and by_prefix is not None and by_upper_prefix is not None and by_whole_hash is not None
    assert by_id.id == by_prefix.id == by_upper_prefix.id == by_whole_hash.id == seed.id
    assert find_submission(intake.engine, seed.sha256[:5]) is None  # too short to be a hash prefix
    assert find_submission(intake.engine, "999999") is None
    report = report_of(intake.engine, seed)
    assert isinstance(report, FileReport)
    assert report.findings == expected.findings
    assert (report.status, report.bureau_code, report.fiscal_year, report.sha256) == (
        "failed",
        SEED_CODE,
        2023,
        seed.sha256,
    )
    assert report.to_dict() == {**expected.to_dict(), "file": "2023-科工信局.xlsx"}
    gone = report_of(intake.engine, unreadable)
    assert (gone.status, [f.rule for f in gone.findings]) == ("unreadable", ["format/unreadable"])


def test_find_submission_refuses_an_ambiguous_sha256_prefix(intake: Intake) -> None:
    with Session(intake.engine) as session, session.begin():
        for sha256 in ("abcdef01" + "0" * 56, "abcdef02" + "0" * 56):
            session.add(
                Submission(
                    sha256=sha256, file_name="x.xlsx", size=1, archive_path="-", status="unreadable", template="spec-v1"
                )
            )

    assert find_submission(intake.engine, "abcdef") is None
    found = find_submission(intake.engine, "abcdef02")
    assert found is not None and found.sha256.startswith("abcdef02")


# --- two concurrent runs --------------------------------------------------------------------------

CONCURRENT_RUN = r"""
import json, sys, time
from pathlib import Path

from pydantic import SecretStr

from config.settings import Settings
from intake import pipeline
from models.database import engine_for
from models.store import finish_run, start_run

data_dir, url, ready, go = sys.argv[1:5]
settings = Settings(data_dir=Path(data_dir), database_url=SecretStr(url), read_workers=1, batch_size=10)
engine = engine_for(url)
with engine.connect():  # connected and imported before the start, so that both runs begin together
    pass
Path(ready).touch()
deadline = time.monotonic() + 60
while not Path(go).exists():
    if time.monotonic() > deadline:
        sys.exit("never told to start")
    time.sleep(0.002)
started = time.time()
run_id = start_run(engine, str(settings.inbox_dir), None)
received = pipeline.receive(settings.inbox_dir, settings, engine, run_id)
seen, claimed = received.files_seen, received.claimed
receipts = claimed + pipeline.leftovers(settings, engine, run_id)[0]
outcomes = []
for batch in pipeline.batches(receipts, settings.batch_size):  # in batches, as the flow does
    outcomes += pipeline.load_all(engine, run_id, pipeline.read_and_check(batch, settings).items, settings)
finish_run(engine, run_id, seen, outcomes)
print(json.dumps({
    "run": run_id, "seen": seen, "claimed": len(claimed), "started": started, "finished": time.time(),
    "outcomes": [[o.receipt_id, o.outcome, o.submission_id] for o in outcomes],
}))
"""

BUREAUS, VERSIONS = 9, 4  # versions 1–3 for 2023, version 1 for 2024


@pytest.fixture(scope="module")
def many_workbooks(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """40 files: 36 distinct workbooks of 9 bureaus, two distinct unreadable files, two byte-identical copies."""
    directory = tmp_path_factory.mktemp("many")
    bases = (seed_figures(), clean_figures())
    for bureau in range(BUREAUS):
        for version in range(VERSIONS):
            figures = replace(
                bases[bureau % 2],
                code=f"430981-2{bureau:02d}",
                name=f"沅江市第{bureau}测试局",
                contact=f"填报人{version}",
                year=2023 if version < VERSIONS - 1 else 2024,
            )
            write_workbook(figures, directory / f"{bureau:02d}-{version}.xlsx")
    (directory / "unreadable-1.xlsx").write_bytes(UNREADABLE_BYTES)
    (directory / "unreadable-2.xlsx").write_bytes(UNREADABLE_BYTES + "年度,2024\n".encode())
    for name in ("00-0", "05-2"):
        shutil.copyfile(directory / f"{name}.xlsx", directory / f"{name}-again.xlsx")
    return sorted(directory.iterdir())


def _start_together(intake: Intake, tmp_path: Path, runs: int) -> list[dict[str, Any]]:
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(runs)]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_RUN, str(intake.settings.data_dir), intake.url, str(flag), str(go)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for flag in ready
    ]
    try:
        deadline = time.monotonic() + 60
        while not all(flag.exists() for flag in ready):
            assert all(child.poll() is None for child in children), "a run died before the start"
            assert time.monotonic() < deadline, "the runs never got ready"
            time.sleep(0.01)
        go.touch()
        results = []
        for child in children:
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0, err
            results.append(json.loads(out))
        return results
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


@pytest.mark.slow  # processes racing over one database: the concurrency tier
def test_two_concurrent_runs_over_one_inbox_load_every_file_exactly_once(
    intake: Intake, tmp_path: Path, many_workbooks: list[Path]
) -> None:
    intake.inbox.mkdir(parents=True)
    for path in many_workbooks:
        shutil.copyfile(path, intake.inbox / path.name)
    hashes = {sha256_of(path) for path in many_workbooks}
    assert (len(many_workbooks), len(hashes)) == (40, 38)

    first, second = _start_together(intake, tmp_path, runs=2)

    assert first["started"] < second["finished"] and second["started"] < first["finished"]  # they overlapped
    assert first["seen"] + second["seen"] >= len(many_workbooks)
    assert first["claimed"] + second["claimed"] == len(many_workbooks)  # each delivery taken by one run
    # Every file loaded exactly once.
    submissions = intake.submissions()
    assert len(submissions) == len({s.sha256 for s in submissions}) == len(hashes)
    assert {s.sha256 for s in submissions} == hashes
    receipts = intake.receipts()
    assert len(receipts) == len(many_workbooks)
    assert Counter(r.state for r in receipts) == {"loaded": len(hashes), "duplicate": 2}
    assert len({r.submission_id for r in receipts if r.state == "loaded"}) == len(hashes)
    # No receipt loaded twice: each is finished by exactly one run; the other run, if it saw it, skipped it.
    finished = Counter(
        rid for result in (first, second) for rid, outcome, _ in result["outcomes"] if outcome != "skipped"
    )
    assert finished == Counter({r.id: 1 for r in receipts})
    loaded_by = {
        rid: sid for result in (first, second) for rid, outcome, sid in result["outcomes"] if outcome == "loaded"
    }
    assert loaded_by == {r.id: r.submission_id for r in receipts if r.state == "loaded"}
    # Typed rows and findings went in once per submission.
    with Session(intake.engine) as session:
        for key in (
            (col(SheetValue.submission_id), col(SheetValue.sheet), col(SheetValue.row), col(SheetValue.column)),
            (col(FindingRecord.submission_id), col(FindingRecord.position)),
        ):
            repeated = session.execute(sa_select(*key).group_by(*key).having(func.count() > 1)).all()
            assert repeated == [], key
        runs = list(session.exec(select(IntakeRun)))
    assert sum(r.loaded for r in runs) == len(hashes) and sum(r.duplicates for r in runs) == 2
    assert all(r.finished_at is not None for r in runs)
    readable = [s for s in submissions if s.status != "unreadable"]
    assert all(intake.values_of(s.id, "summary") for s in readable)
    # Versions are consecutive, each supersedes the one before, and one is current per bureau and year.
    versions: dict[tuple[str | None, int | None], list[Submission]] = defaultdict(list)
    for s in readable:
        versions[(s.bureau_code, s.fiscal_year)].append(s)
    assert sorted(Counter(len(group) for group in versions.values()).items()) == [(1, BUREAUS), (3, BUREAUS)]
    for group in versions.values():
        group.sort(key=lambda s: s.version or 0)
        assert [s.version for s in group] == list(range(1, len(group) + 1))
        assert [s.is_current for s in group] == [False] * (len(group) - 1) + [True]
        assert [s.supersedes_id for s in group] == [None, *(s.id for s in group[:-1])]
    assert [(s.version, s.is_current) for s in submissions if s.status == "unreadable"] == [(None, False)] * 2
    # The inbox is empty and the archive holds every file, with no half-written copies.
    assert list(intake.inbox.iterdir()) == []
    archive = intake.settings.archive_dir
    assert {p.name for p in archive.rglob("*") if p.is_file()} == hashes
    assert discover(intake.inbox) == Discovery()


def test_listing_the_inbox_skips_files_that_another_run_takes_away_meanwhile(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    stop = threading.Event()

    def deliver_and_take_away() -> None:
        for turn in itertools.count():
            if stop.is_set():
                return
            path = inbox / f"{turn % 50:02d}.xlsx"
            path.write_bytes(b"PK")
            path.unlink()

    other_run = threading.Thread(target=deliver_and_take_away)
    other_run.start()
    try:
        listings, deadline = 0, time.monotonic() + 0.5
        while time.monotonic() < deadline:
            assert all(found.path.parent == inbox for found in discover(inbox).files)
            listings += 1
    finally:
        stop.set()
        other_run.join()
    assert listings > 100


def test_copies_of_one_file_in_the_inbox_are_archived_side_by_side_into_one_whole_archive_file(
    tmp_path: Path,
) -> None:
    inbox, archive = tmp_path / "inbox", tmp_path / "archive"
    inbox.mkdir()
    data = os.urandom(3 << 20)  # large enough that the archiving threads overlap while copying it
    for index in range(12):
        (inbox / f"copy-{index:02d}.xlsx").write_bytes(data)

    archived, changed = archive_files(discover(inbox).files, archive)
    assert changed == []

    assert [a.file_name for a in archived] == [f"copy-{index:02d}.xlsx" for index in range(12)]
    sha256 = hashlib.sha256(data).hexdigest()
    assert {a.archive_path for a in archived} == {archive_path_for(archive, sha256)}
    assert archive_path_for(archive, sha256).read_bytes() == data
    assert [p.name for p in archive.rglob("*") if p.is_file()] == [sha256]  # no temporary copy left behind


def _worker_pids(part: list[int]) -> list[int]:
    return [os.getpid() for _ in part]


def _lost(job: int, why: object) -> int:
    raise AssertionError(f"job {job} lost its worker: {why}")


def test_the_batches_of_a_run_share_its_worker_processes_and_they_end_with_the_run(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, read_workers=2)
    parts = [list(range(start, start + 10)) for start in range(0, 40, 10)]
    with pipeline.worker_pool(settings) as pool:
        first = set(pool.map(_worker_pids, parts, lost=_lost))
        second = set(pool.map(_worker_pids, parts, lost=_lost))
    # The second batch started no processes of its own: both ran on the pool's two (which of them took the
    # first batch's parts depends on which started first, on a loaded machine sometimes one alone).
    assert len(first | second) <= 2
    assert os.getpid() not in first | second
    for pid in first | second:  # the workers ended with the run
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
