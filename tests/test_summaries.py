"""What a run tells the operator, as plain functions of its summary (intake/summaries.py), without Prefect."""

from __future__ import annotations

import datetime as dt

from checks.findings import Finding, Severity, Status
from checks.period import BureauLine, PeriodReport
from intake.archive import SkippedEntry
from intake.pipeline import IntakeSummary
from intake.summaries import (
    file_line,
    needs_attention,
    period_status_rows,
    state_message,
    submission_key,
    submissions_to_publish,
)
from models.store import LoadOutcome, Outcome

ERROR = Finding(
    "sum/income", Severity.ERROR, "本年收入合计 1245.61 与各项收入之和 1160.21 不符", "收支总表", ("B10", "B2")
)
WARNING = Finding("ceiling/expense", Severity.WARNING, "超过全年预算数", "收支总表", ("D18",))


def outcome(number: int, status: str, outcome: str = "loaded", *findings: Finding) -> LoadOutcome:
    errors = sum(f.severity == Severity.ERROR for f in findings)
    return LoadOutcome(
        number, f"{number}.xlsx", Outcome(outcome), number, f"430981-{number:03d}", 2023, 1, Status(status), errors,
        len(findings) - errors, findings, sha256=f"{number:064x}",
    )  # fmt: skip


def summary_of(*outcomes: LoadOutcome) -> IntakeSummary:
    summary = IntakeSummary(7, None, "/srv/inbox", len(outcomes))
    summary.outcomes = list(outcomes)
    return summary


def test_the_state_message_counts_statuses_of_what_was_loaded_and_names_duplicates_and_skipped_entries() -> None:
    summary = summary_of(
        outcome(1, "passed"), outcome(2, "failed", "loaded", ERROR), outcome(3, "unreadable"),
        outcome(4, "warnings", "loaded", WARNING), outcome(5, "failed", "duplicate", ERROR),
    )  # fmt: skip
    summary.skipped = [SkippedEntry(".~lock.x.xlsx#", "Office 锁文件")]

    assert state_message(summary) == (
        "4 份：通过 1，有警告 1，未通过 1，无法读取 1；重复 1 份（此前已入库）；未处理的收件箱条目 1 个"
    )
    assert needs_attention(summary)
    assert not needs_attention(summary_of(outcome(1, "passed"), outcome(2, "failed", "duplicate", ERROR)))
    assert state_message(summary_of()) == "本次没有新的报表"


def test_a_file_line_names_the_bureau_version_status_and_first_error_with_its_cell() -> None:
    summary = summary_of(outcome(13, "failed", "loaded", WARNING, ERROR))
    summary.bureau_names = {"430981-013": "科工信局"}

    line = file_line(summary, summary.outcomes[0])

    assert line == (
        "13.xlsx：科工信局（430981-013） 2023 年度 第 1 版，未通过；错误 1，警告 1，"
        "首个问题：收支总表!B10 本年收入合计 1245.61 与各项收入之和 1160.21 不符"
    )  # the first error, though a warning comes first


def test_past_the_limit_the_submissions_that_need_attention_get_their_artifacts_first() -> None:
    summary = summary_of(
        outcome(1, "passed"), outcome(2, "warnings"), outcome(3, "failed"), outcome(4, "unreadable"),
        outcome(5, "failed", "duplicate"),
    )  # fmt: skip

    assert [o.receipt_id for o in submissions_to_publish(summary, 2)] == [4, 3]
    assert [o.receipt_id for o in submissions_to_publish(summary, 100)] == [4, 3, 2, 1]


def test_artifact_keys_are_made_of_lowercase_letters_digits_and_dashes() -> None:
    assert submission_key("430981-013", 2023, "ab" * 32) == "submission-430981-013-2023"
    assert submission_key("ABC_12 3", None, "ab" * 32) == "submission-abc-12-3-na"
    assert submission_key(None, 2023, "ab" * 32) == "submission-unknown-abababababab"


def test_the_period_status_says_not_yet_submitted_before_the_deadline_and_not_submitted_after() -> None:
    lines = [BureauLine("430981-013", "科工信局", "failed", 2, errors=1, submitted_at=dt.datetime(2024, 3, 1, 2, 0)),
             BureauLine("430981-071", "民政局")]  # fmt: skip
    report = PeriodReport(2023, lines, dt.date(2024, 3, 31))

    before = period_status_rows(report, dt.date(2024, 3, 31))
    after = period_status_rows(report, dt.date(2024, 4, 1))

    assert [row["状态"] for row in before] == ["未通过", "尚未报送（截止 2024-03-31）"]
    assert [row["状态"] for row in after] == ["未通过", "未报送"]
    assert (after[0]["当前版本"], after[0]["错误"], after[1]["错误"]) == (2, 1, "")
    assert str(after[0]["报送时间"]).startswith("2024-03-01")
