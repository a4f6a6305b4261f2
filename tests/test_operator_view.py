"""What an operator sees of the runs in the Prefect UI (issue 12): the final state's name and message, the run's log,
a page of findings per submission, and the year's status. Real flow runs on the session's Prefect server, read
back through the Prefect client as the UI reads them."""

from __future__ import annotations

import datetime as dt
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.client.schemas.objects import Log, State
from prefect.logging.handlers import APILogWorker
from sqlalchemy import text
from typer.testing import CliRunner

from budgetflow.cli import app
from flows.notify import notify
from flows.period_report import period_report
from intake.summaries import NEEDS_ATTENTION
from models.database import engine_for
from tests.test_alerts import MailServer, free_port
from tests.test_artifacts_and_period import (
    CLEAN,
    FAILING,
    MISSING,
    SEED,
    SEED_FILE,
    SEED_NAME,
    artifacts_of_run,
    flow_run_id,
    markdown_of,
    register_sample_bureaus,
    run_intake,
    subflow_run,
    table_rows,
    the_artifact,
)
from tests.test_intake_flow import CLOSED_DATABASE, fill_inbox
from workbooks.samples import UNREADABLE_SAMPLE

on_harness = pytest.mark.usefixtures("prefect_server")
on_sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

SAMPLE_MESSAGE = "6 份：通过 2，有警告 1，未通过 2，无法读取 1"


def final_state(run: uuid.UUID) -> State:
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run).state
    assert state is not None
    return state


def run_logs(run: uuid.UUID, expected: int) -> list[Log]:
    """The run's log lines on the server, once at least `expected` of them have arrived (they are sent in batches)."""
    APILogWorker.drain_all(timeout=10)
    deadline = time.monotonic() + 20
    while True:
        with get_client(sync_client=True) as client:
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run])))
        if len(logs) >= expected or time.monotonic() > deadline:
            return logs
        time.sleep(0.5)


def lines_about(logs: list[Log], file_name: str) -> list[Log]:
    return [log for log in logs if log.message.startswith(f"{file_name}：")]


# --- the final state -------------------------------------------------------------------------------


@on_harness
@on_sqlite
def test_a_run_with_failed_and_unreadable_submissions_ends_in_a_named_completed_state_that_counts_them(
    sample_inbox: Path, data_dir: Path, tmp_path: Path
) -> None:
    summary = run_intake(fill_inbox(sample_inbox, tmp_path / "inbox"))

    state = final_state(flow_run_id(summary))
    assert state.is_completed() and state.name == NEEDS_ATTENTION
    assert state.message == SAMPLE_MESSAGE


@on_harness
@on_sqlite
def test_a_run_that_cannot_reach_its_database_fails_once_with_a_true_message_about_the_files(
    sample_inbox: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUDGETFLOW_DATABASE_URL", CLOSED_DATABASE)
    monkeypatch.setenv("BUDGETFLOW_DB_RETRIES", "0")
    inbox = fill_inbox(sample_inbox, tmp_path / "inbox")

    state = run_intake(inbox, return_state=True)

    recorded = final_state(state.state_details.flow_run_id)
    message = recorded.message or ""
    assert recorded.is_failed() and recorded.name == "Failed"
    assert message.count("数据库无法连接") == 1, message  # said once
    assert "仍在收件箱中" in message and "已归档" not in message, message  # nothing was archived
    assert len(list(inbox.iterdir())) == 6  # and indeed the files are still there


# --- the run's log ---------------------------------------------------------------------------------


@on_harness
@on_sqlite
def test_the_run_log_has_a_line_per_file_with_bureau_version_status_and_first_finding_and_a_closing_line(
    sample_inbox: Path, data_dir: Path, tmp_path: Path
) -> None:
    summary = run_intake(fill_inbox(sample_inbox, tmp_path / "inbox"))

    logs = run_logs(flow_run_id(summary), expected=8)

    [seed] = lines_about(logs, SEED_FILE)
    assert seed.level == 20  # INFO
    assert f"{SEED_NAME}（{SEED}） 2023 年度 第 1 版，未通过" in seed.message
    assert "首个问题：收支总表!B10 " in seed.message
    [unreadable] = lines_about(logs, UNREADABLE_SAMPLE)
    assert unreadable.level == 30 and "无法读取" in unreadable.message  # WARNING
    assert all(len(lines_about(logs, path.name)) == 1 for path in sample_inbox.iterdir())
    [closing] = [log for log in logs if log.message.startswith(f"入库运行 #{summary.run_id} 结束：")]
    assert SAMPLE_MESSAGE in closing.message
    assert str(data_dir / "reports" / "submissions") in closing.message


@on_harness
@on_sqlite
def test_budgetflow_run_keeps_the_terminal_quiet_while_the_server_gets_the_info_lines(
    sample_inbox: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    inbox = fill_inbox(sample_inbox, tmp_path / "inbox")

    result = CliRunner().invoke(app, ["run", "--inbox", str(inbox)])

    assert result.exit_code == 0, result.output
    assert "| INFO" not in result.output and "首个问题" not in result.output
    with engine_for(database_url).connect() as connection:
        [run] = connection.execute(text("SELECT flow_run_id FROM intake_run")).scalars().all()
    logs = run_logs(uuid.UUID(run), expected=8)
    assert len(lines_about(logs, SEED_FILE)) == 1


@on_harness
@on_sqlite
def test_retried_database_tasks_and_refused_mail_recipients_are_in_the_run_log(
    sample_inbox: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    monkeypatch.setenv("BUDGETFLOW_DATABASE_URL", CLOSED_DATABASE)
    monkeypatch.setenv("BUDGETFLOW_DB_RETRIES", "1")
    monkeypatch.setenv("BUDGETFLOW_DB_RETRY_DELAY_SECONDS", "0.1")
    down = run_intake(fill_inbox(sample_inbox, tmp_path / "down"), return_state=True).state_details.flow_run_id
    assert down is not None
    retried = [log for log in run_logs(down, expected=3) if "Retry 1/1 will start" in log.message]
    assert retried and "数据库无法连接" in retried[0].message

    monkeypatch.setenv("BUDGETFLOW_DATABASE_URL", database_url)  # the database is back
    server = RefusingMailServer(free_port())
    for name, value in (("HOST", "127.0.0.1"), ("PORT", str(server.port)), ("SECURITY", "none")):
        monkeypatch.setenv(f"BUDGETFLOW_SMTP_{name}", value)
    monkeypatch.setenv("BUDGETFLOW_OPERATORS", f"ok@czj.example.cn, {REFUSED}")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(sample_inbox / SEED_FILE, inbox / SEED_FILE)
    server.start()
    try:
        summary = run_intake(inbox)
    finally:
        server.stop()

    warnings = [log for log in run_logs(flow_run_id(summary), expected=3) if log.level == 30]
    assert any(REFUSED in log.message and "被拒收" in log.message for log in warnings), [w.message for w in warnings]


REFUSED = "nobody@czj.example.cn"


class RefusingMailServer(MailServer):
    """A mail server that refuses one recipient (550) and takes the others."""

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook)
        self, server: object, session: object, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address == REFUSED:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


# --- artifacts ------------------------------------------------------------------------------------


@on_harness
@on_sqlite
def test_each_submission_gets_a_markdown_artifact_keyed_by_bureau_and_year_with_its_findings_by_sheet(
    sample_inbox: Path, data_dir: Path, tmp_path: Path
) -> None:
    summary = run_intake(fill_inbox(sample_inbox, tmp_path / "inbox"))
    run = flow_run_id(summary)

    page = markdown_of(the_artifact(f"submission-{SEED}-2023", run))

    lines = page.splitlines()
    assert lines[0] == f"# {SEED_NAME}（{SEED}） 2023 年度 第 1 版"
    assert "- 状态：**未通过**（错误 1，警告 1）" in lines
    sheet_headings = [line for line in lines if line.startswith("## ")]
    assert "## 收支总表（1 个）" in sheet_headings or any(h.startswith("## 收支总表") for h in sheet_headings)
    assert any(line.startswith("| B10") and "sum/income" in line and "错误" in line for line in lines)
    clean = markdown_of(the_artifact(f"submission-{CLEAN}-2023", run))
    assert "没有发现问题。" in clean.splitlines()
    keys = {a.key for a in artifacts_of_run(run) if a.key and a.key.startswith("submission-")}
    assert len(keys) == 6 and any(key.startswith("submission-unknown-") for key in keys)


@on_harness
@on_sqlite
def test_the_period_status_artifact_lists_every_registered_bureau_and_is_refreshed_by_each_kind_of_run(
    sample_inbox: Path, data_dir: Path, tmp_path: Path, database_url: str
) -> None:
    register_sample_bureaus(database_url)  # the 2023 deadline, 2024-03-31, has passed
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(sample_inbox / SEED_FILE, inbox / SEED_FILE)

    summary = run_intake(inbox)

    status = the_artifact("period-status-2023", subflow_run(flow_run_id(summary)))
    rows = {row["单位编码"]: row for row in table_rows(status)}
    assert rows[SEED]["单位"] == SEED_NAME and rows[SEED]["状态"] == "未通过" and rows[SEED]["当前版本"] == 1
    assert (rows[SEED]["错误"], rows[SEED]["警告"]) == (1, 1) and rows[SEED]["报送时间"].startswith("20")
    assert rows[MISSING]["状态"] == "未报送" and rows[FAILING]["状态"] == "未报送"
    assert rows[MISSING]["当前版本"] == "" and rows[MISSING]["报送时间"] == ""
    assert "未报送" in (status.description or "")

    report_run = period_report(2023, return_state=True).state_details.flow_run_id
    notify_run = notify(reminders=False, return_state=True).state_details.flow_run_id
    assert report_run is not None and notify_run is not None
    empty = tmp_path / "empty"
    empty.mkdir()
    idle_run = flow_run_id(run_intake(empty))

    assert table_rows(the_artifact("period-status-2023", report_run)) == table_rows(status)
    filing_year = dt.date.today().year - 1  # notify and an idle intake refresh the year being filed
    for run in (notify_run, idle_run):
        assert [a.key for a in artifacts_of_run(run) if a.key and a.key.startswith("period-status-")] == [
            f"period-status-{filing_year}"
        ]


@on_harness
@on_sqlite
def test_the_period_report_year_defaults_to_the_year_being_filed(data_dir: Path) -> None:
    paths = period_report()

    assert {path.name for path in paths} == {
        f"{dt.date.today().year - 1}-period-report.xlsx",
        f"{dt.date.today().year - 1}-period-report.html",
    }
