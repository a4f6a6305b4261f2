"""One file never stops the intake, and nothing is lost between its steps: real flow runs on a Prefect server,
SQLite and PostgreSQL, real worker processes that raise and die, and runs killed between loading and reporting."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from config.settings import Settings
from flows.intake import intake
from intake import checking
from intake.archive import HIDDEN, LOCK_FILE, NOT_A_FILE, STILL_WRITING, SYMLINK, archive_path_for, discover
from intake.checking import FAILED, WORKER_DIED, check_files
from intake.pipeline import ARCHIVE_MISSING, IntakeSummary
from intake.summaries import artifact_markdown
from models.database import engine_for
from models.tables import Alert, Receipt, Submission
from workbooks.reader import read_submission as read_submission_as_is
from workbooks.samples import seed_figures, write_workbook

on_harness = pytest.mark.usefixtures("prefect_server")

RAISES, KILLS = "2023-读取出错.xlsx", "2023-进程崩溃.xlsx"
SAMPLE_FILES = 6
FAILED_STATUSES = ("failed", "unreadable")


def fill_inbox(sample_inbox: Path, inbox: Path) -> Path:
    inbox.mkdir(parents=True, exist_ok=True)
    for path in sample_inbox.iterdir():
        shutil.copy(path, inbox / path.name)
    return inbox


def run_intake(inbox: Path, **options: Any) -> IntakeSummary:
    summary = intake(inbox=str(inbox), batch_size=2, **options)
    assert isinstance(summary, IntakeSummary)
    return summary


def submissions() -> list[Submission]:
    with Session(engine_for(Settings().database_url_value())) as session:
        return list(session.execute(select(Submission).order_by(col(Submission.id))).scalars())


def alerts() -> list[Alert]:
    with Session(engine_for(Settings().database_url_value())) as session:
        return list(session.execute(select(Alert).order_by(col(Alert.id))).scalars())


def receipts() -> list[Receipt]:
    with Session(engine_for(Settings().database_url_value())) as session:
        return list(session.execute(select(Receipt).order_by(col(Receipt.id))).scalars())


@pytest.fixture
def faulty_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading RAISES raises inside budgetflow; reading KILLS kills the worker process that reads it.

    Patched before the run starts its worker processes, which are forked from this one and so read with it.
    The archive copy is named by its sha256, so the files are told apart by their content."""
    real = read_submission_as_is

    def read_submission(path: Path, *args: Any, **kwargs: Any) -> Any:
        delivered_as = _DELIVERED.get(path.name)
        if delivered_as == RAISES:
            raise RuntimeError("a bug in budgetflow's reader")
        if delivered_as == KILLS:
            os.kill(os.getpid(), signal.SIGSEGV)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(checking, "read_submission", read_submission)


_DELIVERED: dict[str, str] = {}  # sha256 of a planted file → the name it arrives under


def plant_faulty_files(inbox: Path) -> None:
    """Two valid workbooks of their own (distinct contents), under the faults' file names."""
    for name, contact in ((RAISES, "王芳"), (KILLS, "张伟")):
        path = write_workbook(replace(seed_figures(), contact=contact), inbox / name)
        _DELIVERED[hashlib.sha256(path.read_bytes()).hexdigest()] = name


# --- per-file isolation -----------------------------------------------------------------------------


@on_harness
@pytest.mark.usefixtures("faulty_reader")
def test_a_file_that_raises_and_one_that_kills_its_worker_are_each_recorded_and_the_good_files_are_loaded(
    sample_inbox: Path,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("BUDGETFLOW_READ_WORKERS", "2")
    inbox = fill_inbox(sample_inbox, tmp_path / "inbox")
    plant_faulty_files(inbox)

    state = intake(inbox=str(inbox), batch_size=20, return_state=True)

    assert state.is_completed()
    summary = state.result()
    assert isinstance(summary, IntakeSummary)
    outcomes = {o.file_name: o for o in summary.outcomes}
    assert len(outcomes) == SAMPLE_FILES + 2 and {o.outcome for o in outcomes.values()} == {"loaded"}
    assert (outcomes[RAISES].status, outcomes[KILLS].status) == ("unreadable", "unreadable")
    assert FAILED in outcomes[RAISES].findings[0].message
    assert WORKER_DIED in outcomes[KILLS].findings[0].message
    good = {name: o.status for name, o in outcomes.items() if name not in (RAISES, KILLS)}
    assert good == {
        "2023-交通运输局.xlsx": "passed",
        "2023-农业农村局.xlsx": "failed",
        "2023-卫生健康局.xlsx": "warnings",
        "2023-教育局.xlsx": "passed",
        "2023-水利局.xlsx": "unreadable",
        "2023-科工信局.xlsx": "failed",
    }
    # the operator is told what happened, with the exception; the bureau's finding carries no traceback
    assert f"{RAISES}: reading failed" in summary.problems
    assert "RuntimeError: a bug in budgetflow's reader" in caplog.text  # the run's log has the traceback
    assert any(KILLS in p for p in summary.problems)
    assert all("Traceback" not in f.message for o in outcomes.values() for f in o.findings)
    assert [r.state for r in receipts()] == ["loaded"] * (SAMPLE_FILES + 2)

    nothing_new = run_intake(inbox)
    assert (nothing_new.outcomes, nothing_new.problems, nothing_new.skipped) == ([], [], [])


# --- nothing lost between loading and reporting --------------------------------------------------------


def assert_every_failed_submission_has_one_alert_and_every_submission_its_page(data_dir: Path) -> None:
    loaded = submissions()
    assert len(loaded) == SAMPLE_FILES
    per_submission: dict[int | None, int] = {}
    for alert in alerts():
        per_submission[alert.submission_id] = per_submission.get(alert.submission_id, 0) + 1
    failed = [s.id for s in loaded if s.status in FAILED_STATUSES]
    assert failed and {i: per_submission.get(i, 0) for i in failed} == dict.fromkeys(failed, 1)
    assert set(per_submission) <= set(failed)
    pages = {p.name for p in (data_dir / "reports" / "submissions").glob("*.html")}
    for submission in loaded:
        assert submission.outputs_at is not None, submission.file_name
        assert any(name.startswith(f"{submission.id:06d}_") for name in pages), submission.file_name


@on_harness
def test_a_run_that_fails_between_loading_and_reporting_is_repaired_by_the_next_run(
    sample_inbox: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from intake import pipeline

    monkeypatch.setenv("BUDGETFLOW_OPERATORS", "finance@example.cn")
    inbox = fill_inbox(sample_inbox, tmp_path / "inbox")
    real_write = pipeline.write_outputs

    def outage(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("the disk or the database went away")

    monkeypatch.setattr(pipeline, "write_outputs", outage)
    state = intake(inbox=str(inbox), batch_size=2, return_state=True)
    assert state.is_failed()
    loaded_before = submissions()
    assert loaded_before and all(s.outputs_at is None for s in loaded_before)
    queued = {a.submission_id for a in alerts()}
    assert queued == {s.id for s in loaded_before if s.status in FAILED_STATUSES}  # queued with the load

    monkeypatch.setattr(pipeline, "write_outputs", real_write)
    run_intake(inbox)
    run_intake(inbox)

    assert_every_failed_submission_has_one_alert_and_every_submission_its_page(data_dir)


KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    from intake import pipeline

    def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer or a power cut would, between load and reports

    pipeline.write_outputs = killed
    from flows.intake import intake
    intake(inbox=sys.argv[1], batch_size=2)
    """
)


@on_harness
@pytest.mark.parametrize("kill_after", [0, 1])  # the first run dies at its first, or its second, batch's reports
def test_a_run_killed_between_loading_and_reporting_leaves_one_alert_per_failed_submission_and_every_page(
    sample_inbox: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kill_after: int
) -> None:
    from prefect.settings import PREFECT_API_URL

    monkeypatch.setenv("BUDGETFLOW_OPERATORS", "finance@example.cn")
    inbox = fill_inbox(sample_inbox, tmp_path / "inbox")
    script = KILLED_RUN
    if kill_after:
        script = script.replace(
            "pipeline.write_outputs = killed",
            "real = pipeline.write_outputs\ncalls = []\n"
            "def once(*a, **k):\n    calls.append(1)\n    return real(*a, **k) if len(calls) == 1 else killed()\n"
            "pipeline.write_outputs = once",
        )
    environment = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    died = subprocess.run(
        [sys.executable, "-c", script, str(inbox)], env=environment, capture_output=True, timeout=300, check=False
    )
    assert died.returncode == -signal.SIGKILL, died.stderr.decode()[-2000:]
    assert submissions() and any(s.outputs_at is None for s in submissions())

    run_intake(inbox)
    run_intake(inbox)

    assert_every_failed_submission_has_one_alert_and_every_submission_its_page(data_dir)
    assert [r.state for r in receipts()] == ["loaded"] * SAMPLE_FILES


# --- receipts that cannot be finished ---------------------------------------------------------------------


@on_harness
def test_a_receipt_whose_archive_copy_is_missing_stays_a_receipt_with_a_warning_and_is_loaded_once_it_is_back(
    sample_inbox: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from intake import pipeline

    inbox = fill_inbox(sample_inbox, tmp_path / "inbox")
    real_load = pipeline.load_all
    monkeypatch.setattr(pipeline, "load_all", _refuse_to_load)
    assert intake(inbox=str(inbox), batch_size=20, return_state=True).is_failed()
    monkeypatch.setattr(pipeline, "load_all", real_load)
    [receipt, *_] = receipts()
    archived = archive_path_for(Settings().archive_dir, receipt.sha256)
    hidden = archived.with_name("elsewhere")
    archived.rename(hidden)  # a second data folder on the same database has this copy, not this one

    summary = run_intake(inbox)

    assert len(summary.outcomes) == SAMPLE_FILES - 1
    assert [(e.name, e.reason) for e in summary.skipped] == [(receipt.file_name, ARCHIVE_MISSING.format(path=archived))]
    assert receipt.sha256 not in {s.sha256 for s in submissions()}
    assert receipt.file_name in artifact_markdown(summary)

    hidden.rename(archived)
    back = run_intake(inbox)
    assert [o.file_name for o in back.outcomes] == [receipt.file_name] and back.skipped == []


def _refuse_to_load(*args: Any, **kwargs: Any) -> Any:
    raise ConnectionError("the database went away after the files were recorded")


@on_harness
def test_a_receipt_that_runs_keep_dying_on_is_recorded_as_unreadable_after_three_attempts(
    sample_inbox: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from intake import pipeline

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(sample_inbox / "2023-教育局.xlsx", inbox)

    def dies(*args: Any, **kwargs: Any) -> Any:
        raise SystemExit("the run dies while reading this file")  # as a kill would, but inside this process

    monkeypatch.setattr(pipeline, "check_files", dies)
    for _ in range(3):  # the first run, then two that take it up again
        with pytest.raises(BaseException):  # noqa: B017 (the run's own death, whatever Prefect makes of it)
            intake(inbox=str(inbox))
    monkeypatch.setattr(pipeline, "check_files", check_files)

    summary = run_intake(inbox)

    [outcome] = summary.outcomes
    assert (outcome.file_name, outcome.status) == ("2023-教育局.xlsx", "unreadable")
    assert "3" in outcome.findings[0].message
    assert run_intake(inbox).outcomes == []


# --- the inbox ----------------------------------------------------------------------------------------------


def test_every_inbox_entry_that_is_not_taken_is_named_with_its_reason(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "2023-good.xlsx").write_bytes(b"PK")
    (inbox / ".hidden.xlsx").write_bytes(b"PK")
    (inbox / "~$2023-good.xlsx").write_bytes(b"lock")
    (inbox / "link.xlsx").symlink_to("/dev/zero")
    (inbox / "folder").mkdir()
    os.mkfifo(inbox / "pipe.xlsx")

    found = discover(inbox)

    assert [f.path.name for f in found.files] == ["2023-good.xlsx"]
    assert {(e.name, e.reason) for e in found.skipped} == {
        (".hidden.xlsx", HIDDEN),
        ("~$2023-good.xlsx", LOCK_FILE),
        ("link.xlsx", SYMLINK),
        ("folder", "文件夹，未处理；请把其中的文件直接放入收件箱"),
        ("pipe.xlsx", NOT_A_FILE),
    }


def test_a_file_still_being_written_is_left_in_the_inbox_for_the_next_run(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    settled = inbox / "settled.xlsx"
    settled.write_bytes(b"old")
    os.utime(settled, (time.time() - 60, time.time() - 60))
    growing = inbox / "copying.xlsx"
    growing.write_bytes(b"x")
    stop = threading.Event()

    def keep_writing() -> None:
        with growing.open("ab") as handle:
            while not stop.is_set():
                handle.write(b"x" * 1024)
                handle.flush()
                time.sleep(0.05)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        found = discover(inbox, settle_seconds=0.5)
    finally:
        stop.set()
        writer.join()

    assert [f.path.name for f in found.files] == ["settled.xlsx"]
    assert [(e.name, e.reason) for e in found.skipped] == [("copying.xlsx", STILL_WRITING)]
    assert growing.exists()


@on_harness
def test_a_run_names_the_skipped_entries_in_its_summary_and_takes_the_settled_files(
    sample_inbox: Path, data_dir: Path, tmp_path: Path
) -> None:
    inbox = fill_inbox(sample_inbox, tmp_path / "inbox")
    (inbox / ".~lock.2023-教育局.xlsx#").write_text("someone has it open")
    (inbox / "zero.xlsx").symlink_to("/dev/zero")
    os.mkfifo(inbox / "fifo.xlsx")

    started = time.monotonic()
    summary = run_intake(inbox)

    assert time.monotonic() - started < 60
    assert len(summary.outcomes) == SAMPLE_FILES
    assert {e.name for e in summary.skipped} == {".~lock.2023-教育局.xlsx#", "zero.xlsx", "fifo.xlsx"}
    markdown = artifact_markdown(summary)
    assert all(name in markdown.replace("\\", "") for name in ("zero.xlsx", "fifo.xlsx"))
    assert sorted(p.name for p in inbox.iterdir()) == [".~lock.2023-教育局.xlsx#", "fifo.xlsx", "zero.xlsx"]


# --- mail -----------------------------------------------------------------------------------------------------


@pytest.fixture
def silent_mail_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A server on loopback that accepts connections and never says a word (no SMTP greeting)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
                held.append(connection)
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = int(listener.getsockname()[1])
    monkeypatch.setenv("BUDGETFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("BUDGETFLOW_SMTP_PORT", str(port))
    monkeypatch.setenv("BUDGETFLOW_SMTP_SECURITY", "none")
    monkeypatch.setenv("BUDGETFLOW_SMTP_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("BUDGETFLOW_SMTP_BUDGET_SECONDS", "3")
    monkeypatch.setenv("BUDGETFLOW_OPERATORS", "finance@example.cn")
    try:
        yield port
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


@on_harness
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.usefixtures("silent_mail_server")
def test_a_mail_server_that_never_answers_costs_a_run_its_mail_budget_and_the_alerts_stay_pending(
    sample_inbox: Path, data_dir: Path, tmp_path: Path
) -> None:
    inbox = fill_inbox(sample_inbox, tmp_path / "inbox")
    for copy in range(8):  # more failed submissions than the budget has time for
        figures = replace(seed_figures(), code=f"430981-9{copy:02d}", email=f"unit{copy}@example.cn")
        write_workbook(figures, inbox / f"2023-单位{copy}.xlsx")

    started = time.monotonic()
    summary = run_intake(inbox)
    seconds = time.monotonic() - started

    queued = alerts()
    assert len(queued) >= 8
    assert summary.mail_unavailable
    assert all(a.status == "pending" for a in queued)
    assert seconds < 45, seconds  # 20 s an alert before: minutes for these
