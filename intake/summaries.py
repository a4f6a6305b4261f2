"""What an intake run tells its operator through Prefect: the final state's name and message, a log line per
file, and the artifacts (the run's table and summary, a page per submission, the year's status).

Plain functions of an `IntakeSummary`, so that they are tested without Prefect; `flows/` only publishes them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable

from checks.findings import NEEDS_RESUBMISSION, STATUS_TEXT, Finding, Severity, Status, explained_count
from checks.period import PeriodReport
from intake.pipeline import IntakeSummary
from models.store import LoadOutcome, Outcome
from reports.html import grouped_by_sheet
from reports.period import MISSING

OUTCOME_TEXT = {Outcome.LOADED: "已入库", Outcome.DUPLICATE: "重复（未再入库）", Outcome.SKIPPED: "已由其他运行入库"}
# The name of a Completed state whose run loaded a failed or unreadable submission: the runs list shows it
# beside the plain "Completed" of clean runs.
NEEDS_ATTENTION = "需要处理"
NOTHING_NEW = "本次没有新的报表"
NOT_YET_SUBMITTED = "尚未报送"


# --- the run's final state and log -----------------------------------------------------------------


def _loaded(summary: IntakeSummary) -> list[LoadOutcome]:
    return [o for o in summary.outcomes if o.outcome is Outcome.LOADED]


def needs_attention(summary: IntakeSummary) -> bool:
    """Whether the run loaded a submission that failed its checks or could not be read."""
    return any(o.status in NEEDS_RESUBMISSION for o in _loaded(summary))


def state_message(summary: IntakeSummary) -> str:
    """`6 份：通过 2，有警告 1，未通过 2，无法读取 1`, with the files seen before and the entries left."""
    loaded = _loaded(summary)
    counts = Counter(o.status for o in loaded)
    if loaded:
        parts = [
            f"{len(loaded)} 份：通过 {counts[Status.PASSED]}，有警告 {counts[Status.WARNINGS]}，"
            f"未通过 {counts[Status.FAILED]}，无法读取 {counts[Status.UNREADABLE]}"
        ]
    else:
        parts = [NOTHING_NEW]
    earlier = len(summary.outcomes) - len(loaded)
    if earlier:
        parts.append(f"重复 {earlier} 份（此前已入库）")
    if summary.skipped:
        parts.append(f"未处理的收件箱条目 {len(summary.skipped)} 个")
    return "；".join(parts)


def recheck_lines(summary: IntakeSummary) -> list[str]:
    """A line per stored version this run checked again (a new version of its year before, or of a unit of
    its 主管部门, loaded): which findings between submissions appeared and which went, and its status now."""
    lines = []
    for outcome in summary.outcomes:
        for recheck in outcome.rechecks:
            if not recheck.appeared and not recheck.gone:
                continue  # reworded only (its page is written again): nothing for the operator to act on
            who = recheck.bureau_code or recheck.file_name
            changes = [f"新增 {f.rule}（{', '.join(f.cells)}）" for f in recheck.appeared]
            changes += [f"消除 {f.rule}（{', '.join(f.cells)}）" for f in recheck.gone]
            status = STATUS_TEXT[recheck.previous_status]
            if recheck.status != recheck.previous_status:
                status += f" → {STATUS_TEXT[recheck.status]}"
            lines.append(
                f"因 {outcome.file_name} 重新校验 {who} {recheck.fiscal_year or ''} 年度第 {recheck.version or '-'} 版"
                f"（提交 #{recheck.submission_id}）：{'，'.join(changes)}；状态 {status}"
            )
    return lines


def first_finding(findings: Iterable[Finding]) -> Finding | None:
    """The finding to read first: the first error, else the first warning that stands."""
    listed = list(findings)
    fallback = next((f for f in listed if f.counts), listed[0] if listed else None)  # an explained one last
    return next((f for f in listed if f.severity == Severity.ERROR), fallback)


def finding_text(finding: Finding | None) -> str:
    """`收支总表!B10 本年收入合计…` — where to look, then what is wrong."""
    if finding is None:
        return ""
    where = f"{finding.sheet}!{finding.cells[0]} " if finding.sheet and finding.cells else ""
    return f"{where}{finding.message}"


def bureau_name_of(summary: IntakeSummary, outcome: LoadOutcome) -> str:
    """The bureau's name for a table cell: the registry's or the cover's, else the one its file name names."""
    if outcome.bureau_code is None:
        return summary.named_by_file.get(outcome.file_name, "")
    return summary.bureau_names.get(outcome.bureau_code, "")


def bureau_of(summary: IntakeSummary, outcome: LoadOutcome) -> str:
    """`科工信局（430981-013）`, or what is known of the bureau."""
    name = bureau_name_of(summary, outcome)
    if outcome.bureau_code is None:
        return name or "（单位不明）"
    return f"{name}（{outcome.bureau_code}）" if name else outcome.bureau_code


def file_line(summary: IntakeSummary, outcome: LoadOutcome) -> str:
    """The log line of one file: its name, bureau, version, status and first finding with its cell."""
    year = f" {outcome.fiscal_year} 年度" if outcome.fiscal_year else ""
    version = f" 第 {outcome.version} 版" if outcome.version else ""
    status = STATUS_TEXT.get(outcome.status, outcome.status)
    line = f"{outcome.file_name}：{bureau_of(summary, outcome)}{year}{version}，{status}"
    if outcome.outcome is not Outcome.LOADED:
        line += f"，{OUTCOME_TEXT.get(outcome.outcome, outcome.outcome)}"
    first = first_finding(outcome.findings)
    if first is not None:
        line += f"；错误 {outcome.errors}，警告 {outcome.warnings}，首个问题：{finding_text(first)}"
    return line


def closing_line(summary: IntakeSummary) -> str:
    """The run's last log line: its counts and where its outputs went."""
    line = f"入库运行 #{summary.run_id} 结束：{state_message(summary)}"
    if summary.outputs:
        line += f"；标注工作簿和网页 {len(summary.outputs)} 个，在 {summary.outputs[0].parent}"
    if summary.period_reports:
        line += f"；期间汇总报告 {', '.join(str(p) for p in summary.period_reports)}"
    if summary.alerts_queued:
        line += f"；新增提醒邮件 {summary.alerts_queued} 封"
    return line


# --- artifacts --------------------------------------------------------------------------------------


def markdown_text(text: str) -> str:
    """Bureau-supplied text inside a markdown table cell or list item: no pipes, no markup, no line breaks."""
    one_line = " ".join(text.splitlines())[:200]  # \r, \r\n and \n all end a markdown line (and a table row)
    return "".join("\\" + c if c in "\\`*_[]<>|#" else c for c in one_line)


def artifact_table(summary: IntakeSummary) -> list[dict[str, object]]:
    """One row per file, for the Prefect UI: who sent it, what became of it, what to fix first, and where its
    page and annotated workbook are on the server."""
    rows: list[dict[str, object]] = []
    for o in summary.outcomes:
        written = summary.written.get(o.submission_id or -1) if o.outcome is Outcome.LOADED else None
        rows.append(
            {
                "文件": o.file_name,
                "单位": bureau_name_of(summary, o),
                "单位编码": o.bureau_code or "",
                "年度": o.fiscal_year or "",
                "版本": o.version or "",
                "结果": OUTCOME_TEXT.get(o.outcome, o.outcome),
                "状态": STATUS_TEXT.get(o.status, o.status),
                "错误": o.errors,
                "警告": o.warnings,
                "首个问题": finding_text(first_finding(o.findings)),
                "网页": str(written.page) if written else "",
                "标注工作簿": str(written.workbook) if written and written.workbook else "",
            }
        )
    return rows


def artifact_markdown(summary: IntakeSummary) -> str:
    """The run at a glance: a headline that says when submissions failed, counts, and where outputs are."""
    loaded = _loaded(summary)
    failed = [o for o in loaded if o.status is Status.FAILED]
    unreadable = [o for o in loaded if o.status is Status.UNREADABLE]
    if failed or unreadable:
        headline = f"## ⚠ 本次入库有 {len(failed)} 份未通过校验、{len(unreadable)} 份无法读取"
    elif loaded:
        headline = "## ✓ 本次入库的报表均通过校验（可能有警告）"
    else:
        headline = f"## {NOTHING_NEW}"
    lines = [
        f"# 入库运行 #{summary.run_id}",
        "",
        headline,
        "",
        f"- 收件箱：{markdown_text(summary.inbox)}，{summary.files_seen} 个文件",
        f"- 入库 {len(loaded)}，重复 {summary.count(Outcome.DUPLICATE)}；通过 {summary.status_count(Status.PASSED)}，"
        f"有警告 {summary.status_count(Status.WARNINGS)}，未通过 {len(failed)}，无法读取 {len(unreadable)}",
        f"- 新增提醒邮件 {summary.alerts_queued} 封",
    ]
    problems = [o for o in loaded if o.status in NEEDS_RESUBMISSION]
    if problems:
        lines += ["", "| 文件 | 单位 | 状态 | 错误 | 首个问题 |", "|---|---|---|---|---|"]
        for o in problems:
            cells = [
                markdown_text(o.file_name),
                markdown_text(bureau_of(summary, o)),
                STATUS_TEXT[o.status],
                str(o.errors),
                markdown_text(finding_text(first_finding(o.findings))),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    rechecked = recheck_lines(summary)
    if rechecked:
        lines += ["", f"### 重新校验的已入库报表 {len(rechecked)} 份", ""]
        lines += [f"- {markdown_text(line)}" for line in rechecked]
    if summary.skipped:
        lines += ["", f"### 未处理的收件箱条目 {len(summary.skipped)} 个", "", "| 条目 | 原因 |", "|---|---|"]
        lines += [f"| {markdown_text(entry.name)} | {markdown_text(entry.reason)} |" for entry in summary.skipped]
    if summary.problems:
        lines += ["", f"### 运行中的问题 {len(summary.problems)} 个（详见运行日志）", ""]
        lines += [f"- {markdown_text(problem)}" for problem in summary.problems]
    if summary.outputs:
        folder = markdown_text(str(summary.outputs[0].parent))
        lines += ["", f"- 标注工作簿和网页 {len(summary.outputs)} 个，在 {folder}"]
    if summary.unpublished:
        lines.append(
            f"- 另有 {summary.unpublished} 份报送未单独生成校验结果页（每次运行最多 {summary.published_limit} 份，"
            "需处理的优先）：见上述文件夹中的网页"
        )
    lines += [f"- 期间汇总报告：{markdown_text(str(path))}" for path in summary.period_reports]
    return "\n".join(lines)


def failure_markdown(inbox: str, reason: str, summary: IntakeSummary | None) -> str:
    """The summary of a run that could not finish: what failed, and what it had done by then."""
    lines = [
        "# 入库运行失败",
        "",
        "## ✗ 本次运行未能完成，请查看运行日志",
        "",
        f"- 收件箱：{markdown_text(inbox)}",
        f"- 原因：{markdown_text(reason)}",
    ]
    if summary is not None and summary.outcomes:
        lines.append(f"- 失败前已入库 {summary.count(Outcome.LOADED)} 份，重复 {summary.count(Outcome.DUPLICATE)} 份")
    return "\n".join(lines)


ATTENTION_ORDER = {Status.UNREADABLE: 0, Status.FAILED: 1, Status.WARNINGS: 2, Status.PASSED: 3}


def submissions_to_publish(summary: IntakeSummary, limit: int) -> list[LoadOutcome]:
    """The loaded submissions that get an artifact of their own: all of them, or, past `limit`, those that
    need attention first (unreadable, failed, with warnings), in the order they were loaded."""
    loaded = _loaded(summary)
    return sorted(loaded, key=lambda o: ATTENTION_ORDER.get(o.status, 4))[:limit]


def submission_key(bureau_code: str | None, fiscal_year: int | None, sha256: str) -> str:
    """An artifact key of one bureau's year (`submission-430981-013-2023`): each version is a new version of it.
    Keys allow lowercase letters, digits and dashes; a file without a code is keyed by its own bytes."""
    if not bureau_code:
        return f"submission-unknown-{sha256[:12]}"
    code = re.sub(r"[^a-z0-9]+", "-", bureau_code.lower()).strip("-") or "x"
    return f"submission-{code}-{fiscal_year or 'na'}"


def submission_markdown(summary: IntakeSummary, outcome: LoadOutcome) -> str:
    """One submission's findings grouped by sheet, readable in the UI without the server's disk."""
    lines = [
        f"# {markdown_text(bureau_of(summary, outcome))} {outcome.fiscal_year or ''} 年度 第 {outcome.version or 0} 版",
        "",
        f"- 状态：**{STATUS_TEXT.get(outcome.status, outcome.status)}**"
        f"（错误 {outcome.errors}，警告 {outcome.warnings}"
        + (f"，已说明 {explained}" if (explained := explained_count(outcome.findings)) else "")
        + "）",
        f"- 文件：{markdown_text(outcome.file_name)}（入库运行 #{summary.run_id}）",
    ]
    written = summary.written.get(outcome.submission_id or -1)
    if written is not None:
        lines.append(f"- 网页：{markdown_text(str(written.page))}")
        if written.workbook is not None:
            lines.append(f"- 标注工作簿：{markdown_text(str(written.workbook))}")
    by_sheet = grouped_by_sheet(list(outcome.findings))
    if not by_sheet:
        lines += ["", "没有发现问题。"]
    for sheet_or_none, findings in by_sheet:
        sheet = sheet_or_none or "（整个文件）"
        lines += [
            "",
            f"## {markdown_text(sheet)}（{len(findings)} 个）",
            "",
            "| 单元格 | 级别 | 规则 | 说明 |",
            "|---|---|---|---|",
        ]
        for finding in findings:
            cells = [
                markdown_text(", ".join(finding.cells)),
                finding.severity_text,
                markdown_text(finding.rule),
                markdown_text(finding.shown_message),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def period_status_rows(report: PeriodReport, today: dt.date) -> list[dict[str, object]]:
    """The year's status, a row per bureau: what it has submitted, or that it has not (未报送 once the deadline
    has passed)."""
    late = report.deadline is not None and today > report.deadline
    waiting = MISSING if late or report.deadline is None else f"{NOT_YET_SUBMITTED}（截止 {report.deadline}）"
    return [
        {
            "单位": line.name,
            "单位编码": line.code,
            "当前版本": line.version or "",
            "状态": waiting if line.status is None else STATUS_TEXT.get(line.status, line.status),
            "错误": line.errors if line.status is not None else "",
            "警告": line.warnings if line.status is not None else "",
            "已说明": line.explained if line.status is not None else "",
            "报送时间": _local(line.submitted_at),
        }
        for line in report.lines
    ]


def _local(moment: dt.datetime | None) -> str:
    """A stored UTC time as the server's clock shows it."""
    if moment is None:
        return ""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return f"{aware.astimezone():%Y-%m-%d %H:%M}"


def period_status_description(report: PeriodReport, today: dt.date) -> str:
    rows = period_status_rows(report, today)
    missing = sum(str(row["状态"]).startswith((MISSING, NOT_YET_SUBMITTED)) for row in rows)
    deadline = f"，截止日期 {report.deadline}" if report.deadline else ""
    return f"{report.fiscal_year} 年度报送情况：单位 {len(rows)} 个，未报送 {missing} 个{deadline}（{today} 更新）"
