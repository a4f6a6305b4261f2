"""The `intake` flow and the commands around it, run for real: a temporary Prefect server, SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)
from prefect.client.schemas.objects import FlowRun, TaskRun
from sqlalchemy import inspect, select, text
from sqlmodel import Session, col
from typer.testing import CliRunner

from budgetflow.cli import app
from config.settings import Settings
from flows.intake import IntakeFailed, intake
from intake.pipeline import IntakeSummary
from intake.summaries import NEEDS_ATTENTION
from models.database import engine_for, upgrade
from models.store import LoadOutcome
from models.tables import IntakeRun, Receipt, Submission
from workbooks.samples import UNREADABLE_SAMPLE, BureauFigures, seed_figures, write_workbook

on_harness = pytest.mark.usefixtures("prefect_server")  # the session's one temporary Prefect server

SEED, CLEAN = "430981-013", "430981-021"
SEED_FILE, CLEAN_FILE, CORRECTED_FILE = "2023-科工信局.xlsx", "2023-教育局.xlsx", "2023-科工信局-更正.xlsx"
BUREAUS = (SEED, CLEAN, "430981-035", "430981-047", "430981-052")
BATCH_SIZE = 2  # six sample files: three batches
ONCE_TASKS = (
    "prepare_database",
    "open_run",
    "receive_files",
    "write_missing_outputs",
    "close_run",
    "name_bureaus",
    "publish_artifacts",
)
BATCH_TASKS = ("read_workbooks", "load_submissions", "write_reports")  # reading checks; loading queues the alerts
SUBFLOWS = ("period_report",)  # once per fiscal year loaded: the sample inbox holds 2023 only
CLOSED_DATABASE = "postgresql+psycopg://budgetflow:s3cret-word@127.0.0.1:1/budgetflow"
CLOSED_DATABASE_SHOWN = "postgresql+psycopg://budgetflow:***@127.0.0.1:1/budgetflow"
DROP_CONNECTION_ON_INSERT = """
CREATE FUNCTION drop_connection() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_terminate_backend(pg_backend_pid());
    RETURN NEW;
END $$;
CREATE TRIGGER drop_connection BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION drop_connection();
"""

REPOSITORY = Path(__file__).resolve().parents[1]

runner = CliRunner()


# --- helpers --------------------------------------------------------------------------------------


def fill_inbox(sample_inbox: Path, inbox: Path) -> Path:
    """A fresh copy of the sample inbox, as a bureau delivers it (new files, so new modification times)."""
    inbox.mkdir(parents=True, exist_ok=True)
    for path in sample_inbox.iterdir():
        shutil.copy(path, inbox / path.name)
    return inbox


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def archived(data_dir: Path) -> set[str]:
    """The names of the archive's files (each one its sha256)."""
    archive = data_dir / "archive"
    return {p.name for p in archive.rglob("*") if p.is_file()} if archive.exists() else set()


def run_intake(inbox: Path, **options: Any) -> Any:
    """The real flow, in small batches; the data directory and database come from the environment."""
    return intake(inbox=str(inbox), batch_size=BATCH_SIZE, **options)


def by_file(summary: IntakeSummary) -> dict[str, LoadOutcome]:
    return {o.file_name: o for o in summary.outcomes}


def submissions() -> list[Submission]:
    with Session(engine_for(Settings().database_url_value())) as session:
        return list(session.execute(select(Submission).order_by(col(Submission.id))).scalars())


def intake_runs() -> list[IntakeRun]:
    with Session(engine_for(Settings().database_url_value())) as session:
        return list(session.execute(select(IntakeRun).order_by(col(IntakeRun.id))).scalars())


def receipt_states() -> list[str]:
    with Session(engine_for(Settings().database_url_value())) as session:
        return list(session.execute(select(col(Receipt.state)).order_by(col(Receipt.id))).scalars())


def flow_run_of(flow_run_id: str | uuid.UUID, settle_seconds: float = 20) -> tuple[FlowRun, str, list[TaskRun]]:
    """The flow run as the Prefect server recorded it, the name of its flow, and its task runs.

    A task run's states reach the server as events, which it records a moment after the flow has
    returned: the task runs are read again until no more appear and each has a final state (or
    `settle_seconds` pass)."""
    deadline = time.monotonic() + settle_seconds
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(uuid.UUID(str(flow_run_id)))
        flow = client.read_flow(flow_run.flow_id)
        seen = -1
        while True:
            task_runs = client.read_task_runs(
                task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[flow_run.id]))
            )
            settled = len(task_runs) == seen and all(t.state is not None and t.state.is_final() for t in task_runs)
            if settled or time.monotonic() > deadline:
                return flow_run, flow.name, task_runs
            seen = len(task_runs)
            time.sleep(0.2)


def subflow_runs(flow_run_id: uuid.UUID) -> list[FlowRun]:
    """The flow runs a flow run started as subflows."""
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id]))
        )


def task_counts(task_runs: list[TaskRun]) -> dict[str, int]:
    """Task runs per task, by task key (`<function>-<code hash>`)."""
    counts: dict[str, int] = {}
    for task_run in task_runs:
        task = task_run.task_key.rsplit("-", 1)[0]
        counts[task] = counts.get(task, 0) + 1
    return counts


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout


def seed_corrected() -> BureauFigures:
    """The seed bureau's figures with its 年初预算数 income total fixed (1245.61 → 1160.21)."""
    figures = seed_figures()
    _, full, actual = figures.summary["inc_total"]
    return replace(figures, summary={**figures.summary, "inc_total": (Decimal("1160.21"), full, actual)})


@pytest.fixture
def cli_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `configure_prefect` would set, set here so the session gets its environment back; a wide console."""
    monkeypatch.setenv("PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY", "false")
    monkeypatch.setenv("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    monkeypatch.setenv("COLUMNS", "200")


# --- the flow -------------------------------------------------------------------------------------


@on_harness
def test_the_intake_flow_loads_every_file_of_the_inbox_and_archives_each_under_its_sha256(
    sample_inbox: Path, data_dir: Path, tmp_path: Path
) -> None:
    inbox = fill_inbox(sample_inbox, tmp_path / "inbox")
    hashes = {p.name: digest(p) for p in inbox.iterdir()}

    summary = run_intake(inbox)

    outcomes = by_file(summary)
    assert summary.files_seen == 6
    assert set(outcomes) == set(hashes)
    assert {o.outcome for o in outcomes.values()} == {"loaded"}
    seed, clean, unreadable = outcomes[SEED_FILE], outcomes[CLEAN_FILE], outcomes[UNREADABLE_SAMPLE]
    assert (seed.bureau_code, seed.fiscal_year, seed.version, seed.status) == (SEED, 2023, 1, "failed")
    assert "sum/income" in [f.rule for f in seed.findings]
    assert (clean.bureau_code, clean.fiscal_year, clean.version, clean.status) == (CLEAN, 2023, 1, "passed")
    assert (unreadable.bureau_code, unreadable.version, unreadable.status) == (None, None, "unreadable")

    stored = {s.file_name: s for s in submissions()}
    assert {name: s.sha256 for name, s in stored.items()} == hashes
    assert (stored[SEED_FILE].bureau_code, stored[SEED_FILE].status, stored[SEED_FILE].is_current) == (
        SEED,
        "failed",
        True,
    )
    assert (stored[CLEAN_FILE].bureau_code, stored[CLEAN_FILE].status) == (CLEAN, "passed")
    assert stored[UNREADABLE_SAMPLE].status == "unreadable"
    assert receipt_states() == ["loaded"] * 6
    [run] = intake_runs()
    assert (run.id, run.files_seen, run.loaded, run.passed, run.failed, run.unreadable) == (
        summary.run_id,
        6,
        6,
        2,
        2,
        1,
    )
    assert run.finished_at is not None

    assert list(inbox.iterdir()) == []
    assert archived(data_dir) == set(hashes.values())
    for name, sha256 in hashes.items():
        assert (data_dir / "archive" / sha256[:2] / sha256).read_bytes() == (sample_inbox / name).read_bytes()


@on_harness
def test_the_flow_run_is_recorded_in_prefect_with_a_handful_of_task_runs_per_batch_and_one_period_report_subflow(
    sample_inbox: Path, data_dir: Path, tmp_path: Path
) -> None:
    summary = run_intake(fill_inbox(sample_inbox, tmp_path / "inbox"))

    [run] = intake_runs()
    assert summary.flow_run_id is not None
    assert run.flow_run_id == summary.flow_run_id
    flow_run, flow_name, task_runs = flow_run_of(summary.flow_run_id)
    assert flow_name == "intake"
    assert flow_run.state is not None and flow_run.state.is_completed()
    assert flow_run.parameters["batch_size"] == BATCH_SIZE
    assert {t.flow_run_id for t in task_runs} == {flow_run.id}
    assert all(t.state is not None and t.state.is_completed() for t in task_runs)
    # each task its own key (the database tasks are wrapped), the batch tasks once per batch of two, alerts sent
    # for each batch that queued any and once for earlier runs' alerts, and the period_report subflow as one
    # task run of the parent (its own tasks run in its own flow run)
    batches = [summary.outcomes[start : start + BATCH_SIZE] for start in range(0, 6, BATCH_SIZE)]
    alerting = sum(any(o.status in ("failed", "unreadable") for o in batch) for batch in batches)
    assert alerting >= 2  # the sample's failures are in more than one batch: each is sent with its batch
    assert task_counts(task_runs) == {
        **dict.fromkeys(ONCE_TASKS, 1),
        **dict.fromkeys(BATCH_TASKS, 3),
        **dict.fromkeys(SUBFLOWS, 1),
        "deliver_alerts": 1 + alerting,
    }
    [period] = subflow_runs(flow_run.id)
    assert (period.parameters["fiscal_year"], period.state_name) == (2023, "Completed")
    assert summary.period_reports == [
        data_dir / "reports" / "period" / "2023-period-report.xlsx",
        data_dir / "reports" / "period" / "2023-period-report.html",
    ]


@on_harness
def test_a_second_run_over_a_fresh_copy_of_the_same_files_reports_each_as_duplicate_and_loads_nothing(
    sample_inbox: Path, data_dir: Path, tmp_path: Path
) -> None:
    run_intake(fill_inbox(sample_inbox, tmp_path / "first"))
    before = [(s.id, s.sha256, s.version, s.is_current) for s in submissions()]

    again = run_intake(fill_inbox(sample_inbox, tmp_path / "second"))

    assert again.files_seen == 6
    assert sorted(o.file_name for o in again.outcomes) == sorted(p.name for p in sample_inbox.iterdir())
    assert {o.outcome for o in again.outcomes} == {"duplicate"}
    assert [(s.id, s.sha256, s.version, s.is_current) for s in submissions()] == before
    assert list((tmp_path / "second").iterdir()) == []
    assert len(archived(data_dir)) == 6


@on_harness
def test_a_changed_workbook_of_the_same_bureau_and_year_becomes_version_2_and_supersedes_version_1(
    sample_inbox: Path, data_dir: Path, tmp_path: Path
) -> None:
    run_intake(fill_inbox(sample_inbox, tmp_path / "first"))
    corrected = write_workbook(seed_corrected(), tmp_path / "second" / CORRECTED_FILE)

    summary = run_intake(corrected.parent)

    [outcome] = summary.outcomes
    assert (outcome.outcome, outcome.bureau_code, outcome.fiscal_year, outcome.version) == ("loaded", SEED, 2023, 2)
    assert "sum/income" not in [f.rule for f in outcome.findings]
    code, out = cli("submissions", "--all-versions", "--json", "--bureau", SEED)
    assert code == 0
    assert [(d["version"], d["current"], d["file"]) for d in json.loads(out)] == [
        (1, False, SEED_FILE),
        (2, True, CORRECTED_FILE),
    ]
    versions = {s.version: s for s in submissions() if s.bureau_code == SEED}
    assert versions[2].supersedes_id == versions[1].id


@on_harness
def test_a_database_that_refuses_connections_fails_the_flow_run_with_a_clear_message_and_loses_no_file(
    sample_inbox: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    inbox = fill_inbox(sample_inbox, tmp_path / "inbox")
    hashes = {digest(p) for p in inbox.iterdir()}
    monkeypatch.setenv("BUDGETFLOW_DATABASE_URL", CLOSED_DATABASE)
    monkeypatch.setenv("BUDGETFLOW_DB_RETRIES", "2")
    monkeypatch.setenv("BUDGETFLOW_DB_RETRY_DELAY_SECONDS", "0.05")

    state = run_intake(inbox, return_state=True)

    assert state.is_failed()
    with pytest.raises(IntakeFailed) as raised:
        state.result()
    message = str(raised.value)
    assert message.startswith(f"数据库无法连接（{CLOSED_DATABASE_SHOWN}）：")
    assert message.endswith(f"收件箱 {inbox} 中的文件未作处理，仍在收件箱中，下次运行时处理")
    assert "s3cret-word" not in message
    flow_run, _, task_runs = flow_run_of(state.state_details.flow_run_id)
    assert flow_run.state is not None and flow_run.state.is_failed()
    # Nothing ran after the database task that gave up, but the failure summary for the UI.
    assert task_counts(task_runs) == {"prepare_database": 1, "publish_failure": 1}
    [prepare] = [t for t in task_runs if t.task_key.startswith("prepare_database")]
    assert prepare.run_count == 3  # tried, retried twice
    assert {digest(p) for p in inbox.iterdir()} | archived(data_dir) == hashes

    monkeypatch.setenv("BUDGETFLOW_DATABASE_URL", database_url)
    summary = run_intake(inbox)

    assert sorted(o.outcome for o in summary.outcomes) == ["loaded"] * 6
    assert sorted(s.sha256 for s in submissions()) == sorted(hashes)
    assert list(inbox.iterdir()) == []


@on_harness
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("table", ["submission", "sheet_value"])  # an INSERT, and the typed values' COPY
def test_a_connection_dropped_while_loading_fails_the_run_and_the_next_run_loads_the_archived_files_once(
    sample_inbox: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str, table: str
) -> None:
    """The database goes away after the files were archived and recorded: they wait in the archive."""
    upgrade(database_url)
    engine = engine_for(database_url)
    with engine.begin() as connection:  # from now on, inserting into the table kills its own connection
        connection.execute(text(DROP_CONNECTION_ON_INSERT.format(table=table)))
    monkeypatch.setenv("BUDGETFLOW_DB_RETRIES", "1")
    inbox = fill_inbox(sample_inbox, tmp_path / "inbox")
    hashes = {digest(p) for p in inbox.iterdir()}

    state = run_intake(inbox, return_state=True)

    assert state.is_failed()
    with pytest.raises(IntakeFailed, match=r"^数据库无法连接（postgresql\+psycopg://postgres@127\.0\.0\.1") as raised:
        state.result()
    assert str(raised.value).endswith("；已归档的 6 个文件下次运行时继续处理")
    assert list(inbox.iterdir()) == []
    assert archived(data_dir) == hashes
    assert receipt_states() == ["received"] * 6
    assert submissions() == []

    with engine.begin() as connection:
        connection.execute(text(f"DROP TRIGGER drop_connection ON {table}"))
    summary = run_intake(inbox)

    assert summary.files_seen == 0
    assert sorted(o.outcome for o in summary.outcomes) == ["loaded"] * 6
    assert sorted(s.sha256 for s in submissions()) == sorted(hashes)
    assert receipt_states() == ["loaded"] * 6
    assert run_intake(inbox).outcomes == []


# --- the command line -----------------------------------------------------------------------------


@on_harness
@pytest.mark.usefixtures("cli_environment")
def test_budgetflow_run_prints_each_bureau_and_the_seed_finding_of_a_flow_run_on_the_harness_server(
    sample_inbox: Path, data_dir: Path, tmp_path: Path
) -> None:
    inbox = fill_inbox(sample_inbox, tmp_path / "inbox")

    code, out = cli("run", "--inbox", str(inbox), "--batch-size", "2")

    assert code == 0, out
    for bureau in BUREAUS:
        assert bureau in out
    seed_line = next(line for line in out.splitlines() if SEED_FILE in line and SEED in line)
    assert "未通过" in seed_line
    assert "sum/income 收支总表!B10" in out
    assert "收件箱 6 个文件；入库 6，重复 0；通过 2，有警告 1，未通过 2，无法读取 1" in out
    [run] = intake_runs()
    assert run.flow_run_id is not None
    flow_run, flow_name, task_runs = flow_run_of(run.flow_run_id)  # found on the harness server: it ran there
    assert flow_run.state is not None and flow_run.state.is_completed()
    assert (flow_name, flow_run.state_name) == ("intake", NEEDS_ATTENTION)  # two failed, one unreadable
    assert task_counts(task_runs)["load_submissions"] == 3
    assert list(inbox.iterdir()) == []


@on_harness
@pytest.mark.usefixtures("cli_environment")
def test_a_second_run_of_the_same_files_names_the_bureaus_and_counts_the_statuses_its_rows_show(
    sample_inbox: Path, data_dir: Path, tmp_path: Path
) -> None:
    cli("run", "--inbox", str(fill_inbox(sample_inbox, tmp_path / "first")))

    code, out = cli("run", "--inbox", str(fill_inbox(sample_inbox, tmp_path / "again")))
    _, empty = cli("run", "--inbox", str(tmp_path / "first"))  # emptied by the first run

    assert code == 0, out
    seed_line = next(line for line in out.splitlines() if SEED_FILE in line)
    assert "科学技术和工业信息化局" in seed_line and SEED in seed_line and "重复" in seed_line
    # the duplicates keep the statuses of what was loaded before, and the counts say the same as the rows
    assert "收件箱 6 个文件；入库 0，重复 6；通过 2，有警告 1，未通过 2，无法读取 1" in out
    assert "收件箱里没有新文件" in empty and "单位编码" not in empty  # said, not an empty table


@on_harness
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.usefixtures("cli_environment")
def test_budgetflow_run_says_plainly_that_the_database_is_down_and_exits_1(
    sample_inbox: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = fill_inbox(sample_inbox, tmp_path / "inbox")
    monkeypatch.setenv("BUDGETFLOW_DATABASE_URL", CLOSED_DATABASE)
    monkeypatch.setenv("BUDGETFLOW_DB_RETRIES", "0")

    code, out = cli("run", "--inbox", str(inbox))

    assert code == 1
    assert f"入库运行失败：数据库无法连接（{CLOSED_DATABASE_SHOWN}）" in out
    assert "s3cret-word" not in out and "Traceback" not in out
    assert len(list(inbox.iterdir())) == 6


@on_harness
@pytest.mark.usefixtures("cli_environment")
def test_budgetflow_submissions_lists_json_documents_filtered_by_year_bureau_and_version(
    sample_inbox: Path, data_dir: Path, tmp_path: Path
) -> None:
    run_intake(fill_inbox(sample_inbox, tmp_path / "first"))
    run_intake(write_workbook(seed_corrected(), tmp_path / "second" / CORRECTED_FILE).parent)

    code, out = cli("submissions", "--json")

    documents = json.loads(out)
    assert code == 0
    assert len(documents) == 6  # the current version of each of five bureaus, and the unreadable file
    keys = {"bureau_code", "fiscal_year", "version", "sha256", "status", "current", "errors", "warnings"}
    assert all(keys <= set(d) for d in documents)
    current = {d["bureau_code"]: (d["fiscal_year"], d["version"], d["status"], d["current"]) for d in documents}
    assert set(current) == {*BUREAUS, None}
    assert current[SEED] == (2023, 2, "passed", True)
    assert current[CLEAN] == (2023, 1, "passed", True)
    assert current[None] == (None, None, "unreadable", False)
    assert all(len(d["sha256"]) == 64 for d in documents)
    assert next(d for d in documents if d["bureau_code"] == "430981-047")["errors"] > 0

    def listed(*options: str) -> list[dict[str, Any]]:
        code, out = cli("submissions", "--json", *options)
        assert code == 0
        documents: list[dict[str, Any]] = json.loads(out)
        return documents

    assert [d["bureau_code"] for d in listed("--bureau", CLEAN)] == [CLEAN]
    assert sorted(d["bureau_code"] for d in listed("--year", "2023")) == sorted(BUREAUS)
    assert listed("--year", "2022") == []
    assert len(listed("--all-versions")) == 7
    assert [(d["version"], d["current"], d["status"]) for d in listed("--all-versions", "--bureau", SEED)] == [
        (1, False, "failed"),
        (2, True, "passed"),
    ]
    code, table = cli("submissions")
    assert code == 0 and SEED in table and "沅江市教育局" in table


@on_harness
@pytest.mark.usefixtures("cli_environment")
def test_budgetflow_show_prints_the_findings_of_a_submission_found_by_id_or_sha256_prefix(
    sample_inbox: Path, data_dir: Path, tmp_path: Path
) -> None:
    seed = by_file(run_intake(fill_inbox(sample_inbox, tmp_path / "inbox")))[SEED_FILE]
    sha256 = digest(sample_inbox / SEED_FILE)

    for ident in (str(seed.submission_id), sha256[:10]):
        code, out = cli("show", ident)
        assert code == 0
        assert f"提交 #{seed.submission_id}  沅江市科学技术和工业信息化局 2023 第 1 版（当前）" in out
        assert "sum/income" in out and "B10" in out and "未通过" in out
    assert runner.invoke(app, ["show", "999999"]).exit_code == 2


@pytest.mark.usefixtures("cli_environment")
def test_budgetflow_db_upgrade_creates_the_schema_in_an_empty_database(data_dir: Path, database_url: str) -> None:
    code, out = cli("db", "upgrade")

    assert code == 0
    assert "数据库已是最新结构" in out
    tables = set(inspect(engine_for(database_url)).get_table_names())
    assert {"bureau", "intake_run", "receipt", "submission", "finding"} <= tables
    assert cli("db", "upgrade")[0] == 0  # and again: nothing to do


# --- the demo, as a user runs it ------------------------------------------------------------------


@pytest.mark.slow
def test_the_demo_runs_end_to_end_with_the_console_script_and_the_data_folders_own_prefect_server(
    tmp_path: Path,
) -> None:
    """The README's first command from the repository root — `budgetflow samples && budgetflow bureaus import
    samples/bureaus.yaml && budgetflow run` — with no Prefect server (`run` starts one), then `budgetflow show 6`."""
    script = Path(sys.executable).with_name("budgetflow")
    data = tmp_path / "var"
    (tmp_path / "samples").mkdir()  # the repository's registry, at the path the README gives
    shutil.copy(REPOSITORY / "samples" / "bureaus.yaml", tmp_path / "samples" / "bureaus.yaml")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "BUDGETFLOW_"))}
    environment |= {"BUDGETFLOW_DATA_DIR": str(data), "PREFECT_HOME": str(tmp_path / "prefect"), "COLUMNS": "200"}

    def budgetflow(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(script), *args], capture_output=True, text=True, timeout=180, env=environment, cwd=tmp_path
        )

    samples = budgetflow("samples")
    assert samples.returncode == 0, samples.stderr
    assert len(list((data / "inbox").iterdir())) == 6
    registered = budgetflow("bureaus", "import", "samples/bureaus.yaml")
    assert registered.returncode == 0, registered.stderr
    assert "已登记 7 个单位；2023 年度截止 2024-03-31" in registered.stdout

    run = budgetflow("run")

    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    seed_line = next(line for line in run.stdout.splitlines() if SEED_FILE in line and SEED in line)
    assert "未通过" in seed_line
    assert "sum/income 收支总表!B10" in run.stdout
    with sqlite3.connect(data / "budgetflow.db") as connection:
        assert connection.execute("SELECT count(*) FROM submission").fetchone() == (6,)
    assert (
        tmp_path / "prefect" / "prefect.db"
    ).exists()  # the data folder's own server keeps its history there (PREFECT_HOME)
    assert list((data / "inbox").iterdir()) == []

    # where the outputs are: printed, and there
    submissions_dir, period_dir, outbox = data / "reports" / "submissions", data / "reports" / "period", data / "outbox"
    assert f"标注工作簿和网页（9 个）：{submissions_dir}" in run.stdout  # three workbooks, six pages
    # only workbooks with findings are annotated: not the two that pass, nor the unreadable file
    assert len(list(submissions_dir.glob("*.xlsx"))) == 3
    assert len(list(submissions_dir.glob("*.html"))) == 6
    # the unreadable file's page: named and titled after the bureau and year its file name gives, said so
    [unreadable_page] = submissions_dir.glob("*_430981-060_2023_v0.html")
    assert "<h1>沅江市水利局（据文件名） 2023 年度报送校验结果</h1>" in unreadable_page.read_text(encoding="utf-8")
    assert not list(submissions_dir.glob("*_unknown_*"))
    # and in the run's table, its findings' heading and its log line
    unreadable_row = next(line for line in run.stdout.splitlines() if "2023-水利局.xlsx" in line and "│" in line)
    assert "沅江市水利局（据文件名）" in unreadable_row and "无法读取" in unreadable_row
    assert "2023-水利局.xlsx（沅江市水利局（据文件名））：" in run.stdout
    assert "2023-水利局.xlsx：沅江市水利局（据文件名），无法读取" in run.stderr
    for period_report in (period_dir / "2023-period-report.xlsx", period_dir / "2023-period-report.html"):
        assert f"期间汇总报告：{period_report}" in run.stdout
        assert period_report.stat().st_size > 0
    assert "沅江市民政局" in (period_dir / "2023-period-report.html").read_text(encoding="utf-8")  # never submits
    # the two failed bureaus are told; the unreadable file names no bureau and there are no operators
    assert f"提醒邮件：新增 2，已发出 2，待重试 0，.eml 文件在 {outbox}" in run.stdout
    emails = sorted(outbox.glob("*.eml"))
    assert len(emails) == 2
    recipients = {
        line for eml in emails for line in eml.read_text(encoding="utf-8").splitlines() if line.startswith("To:")
    }
    assert recipients == {"To: kgxj@yuanjiang.example.cn", "To: nyj@yuanjiang.example.cn"}

    shown = budgetflow("show", "6")  # as the README suggests next: the seed bureau is the sixth file by name
    assert shown.returncode == 0, shown.stderr
    assert "沅江市科学技术和工业信息化局" in shown.stdout and "sum/income" in shown.stdout
