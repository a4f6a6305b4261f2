"""What an intake run leaves in the Prefect UI, the `period_report` flow, and the report, bureaus and run commands.

Real flow runs on the session's temporary Prefect server, real databases; artifacts are read back through the
Prefect client, by flow run and key, as the UI reads them.
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactCollectionFilter,
    ArtifactCollectionFilterKey,
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
)
from prefect.client.schemas.objects import Artifact
from prefect.client.schemas.sorting import ArtifactSort
from sqlalchemy import select
from sqlmodel import Session, col
from typer.testing import CliRunner

import flows.period_report as period_flow
from budgetflow.cli import app
from config.settings import Settings
from flows.intake import intake
from flows.period_report import period_report
from intake.pipeline import IntakeSummary
from intake.summaries import markdown_text
from models.database import engine_for, upgrade
from models.reporting import import_registry, parse_registry
from models.tables import Bureau, Deadline
from reports.period import HEADERS
from tests.test_intake_flow import CLOSED_DATABASE, CLOSED_DATABASE_SHOWN, fill_inbox, seed_corrected
from workbooks.samples import UNREADABLE_SAMPLE, seed_figures, write_workbook

on_harness = pytest.mark.usefixtures("prefect_server")  # the session's one temporary Prefect server
on_sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # what is tested is not the database

REPOSITORY = Path(__file__).resolve().parents[1]
REGISTRY = REPOSITORY / "samples" / "bureaus.yaml"
SEED, CLEAN, FAILING, MISSING = "430981-013", "430981-021", "430981-047", "430981-071"
SEED_FILE, CLEAN_FILE, CORRECTED_FILE = "2023-科工信局.xlsx", "2023-教育局.xlsx", "2023-科工信局-更正.xlsx"
PASSING_FILES = ("2023-教育局.xlsx", "2023-交通运输局.xlsx", "2023-卫生健康局.xlsx")  # passed, passed, warnings
TABLE_COLUMNS = [
    "文件",
    "单位",
    "单位编码",
    "年度",
    "版本",
    "结果",
    "状态",
    "错误",
    "警告",
    "首个问题",
    "网页",
    "标注工作簿",
]
PROBLEMS_HEADER = "| 文件 | 单位 | 状态 | 错误 | 首个问题 |"
SEED_NAME = "沅江市科学技术和工业信息化局"  # as the seed's cover names it
ALARM = "## ⚠ 本次入库有 2 份未通过校验、1 份无法读取"
CALM = "## ✓ 本次入库的报表均通过校验（可能有警告）"
NOTHING_NEW = "## 本次没有新的报表"
MARKUP = "`*_[]<>|#"
BATCH_SIZE = 2

runner = CliRunner()


# --- helpers --------------------------------------------------------------------------------------


def run_intake(inbox: Path, **options: Any) -> Any:
    return intake(inbox=str(inbox), batch_size=BATCH_SIZE, **options)


def flow_run_id(summary: IntakeSummary) -> uuid.UUID:
    assert summary.flow_run_id is not None
    return uuid.UUID(summary.flow_run_id)


def artifacts(key: str, *flow_run_ids: uuid.UUID) -> list[Artifact]:
    """The artifacts under a key that the given flow runs created, oldest first."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=list(flow_run_ids))
            ),
            sort=ArtifactSort.CREATED_DESC,
        )
    return found[::-1]


def latest_artifact_id(key: str) -> uuid.UUID:
    """What the UI shows first under a key: the newest version."""
    with get_client(sync_client=True) as client:
        [collection] = client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=[key]))
        )
    return collection.latest_id


def artifacts_of_run(run: uuid.UUID) -> list[Artifact]:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run])))


def the_artifact(key: str, run: uuid.UUID) -> Artifact:
    [artifact] = artifacts(key, run)
    return artifact


def table_rows(artifact: Artifact) -> list[dict[str, Any]]:
    assert artifact.type == "table" and isinstance(artifact.data, str)  # the rows, as JSON text
    rows: list[dict[str, Any]] = json.loads(artifact.data)
    return rows


def markdown_of(artifact: Artifact) -> str:
    assert artifact.type == "markdown" and isinstance(artifact.data, str)
    return artifact.data


def subflow_run(parent: uuid.UUID) -> uuid.UUID:
    with get_client(sync_client=True) as client:
        [child] = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent]))
        )
    return child.id


def cells_of(row: str) -> list[str]:
    """A markdown table row's cells, split at unescaped pipes as GFM does (a backslash takes the next character)."""
    cells, current, characters = [], "", iter(row.strip())
    for character in characters:
        if character == "\\":
            current += character + next(characters, "")
        elif character == "|":
            cells.append(current)
            current = ""
        else:
            current += character
    cells.append(current)
    assert cells[0] == "" and cells[-1] == "", row  # a row starts and ends with a pipe
    return [cell.strip() for cell in cells[1:-1]]


def rendered(text: str) -> tuple[str, str]:
    """What a markdown renderer shows of escaped text, and the markup characters left unescaped in it."""
    shown, bare, characters = "", "", iter(text)
    for character in characters:
        if character == "\\":
            shown += next(characters, "")
        else:
            shown += character
            bare += character if character in MARKUP else ""
    return shown, bare


def problem_rows(markdown: str) -> list[list[str]]:
    """The cells of each row of the summary's table of failed and unreadable files."""
    lines = markdown.splitlines()
    start = lines.index(PROBLEMS_HEADER) + 2  # after the header and its |---| line
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(cells_of(line))
    return rows


def registered_bureaus() -> dict[str, str]:
    with Session(engine_for(Settings().database_url_value())) as session:
        rows = session.execute(select(Bureau).where(col(Bureau.registered).is_(True))).scalars()
        return {b.code: b.name for b in rows}


def deadlines() -> dict[int, str]:
    with Session(engine_for(Settings().database_url_value())) as session:
        return {d.fiscal_year: d.due_on.isoformat() for d in session.execute(select(Deadline)).scalars()}


def register_sample_bureaus(database_url: str) -> None:
    upgrade(database_url)
    import_registry(engine_for(database_url), *parse_registry(REGISTRY))


def sheet_rows(path: Path, sheet: str, first_row: int) -> list[tuple[Any, ...]]:
    book = load_workbook(path, read_only=True)
    rows = [row for row in book[sheet].iter_rows(min_row=first_row, values_only=True) if any(row)]
    book.close()
    return rows


@pytest.fixture
def cli_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `configure_prefect` would set, set here so the session gets its environment back; a wide console;
    no mail server, so alerts are written as .eml files."""
    monkeypatch.setenv("PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY", "false")
    monkeypatch.setenv("COLUMNS", "240")
    monkeypatch.delenv("BUDGETFLOW_SMTP_HOST", raising=False)


# --- artifacts of the intake flow -----------------------------------------------------------------


@on_harness
@on_sqlite
def test_an_intake_run_publishes_a_table_with_one_row_per_file_and_a_summary_headlined_with_the_failures(
    sample_inbox: Path, data_dir: Path, tmp_path: Path
) -> None:
    summary = run_intake(fill_inbox(sample_inbox, tmp_path / "inbox"))
    run = flow_run_id(summary)

    table, overview = the_artifact("intake-results", run), the_artifact("intake-summary", run)

    rows = table_rows(table)
    assert [list(row) for row in rows] == [TABLE_COLUMNS] * 6
    by_file = {row["文件"]: row for row in rows}
    assert set(by_file) == {p.name for p in sample_inbox.iterdir()}
    seed = by_file[SEED_FILE]
    assert {key: seed[key] for key in TABLE_COLUMNS[:9]} == {
        "文件": SEED_FILE, "单位": SEED_NAME, "单位编码": SEED, "年度": 2023, "版本": 1, "结果": "已入库",
        "状态": "未通过", "错误": 1, "警告": 1,
    }  # fmt: skip
    assert seed["首个问题"].startswith("收支总表!B10 年初预算数：本年收入合计 1245.61")
    assert Path(seed["网页"]).is_file() and seed["网页"].endswith(".html")
    assert Path(seed["标注工作簿"]).is_file() and seed["标注工作簿"].endswith(".xlsx")
    clean = by_file[CLEAN_FILE]
    assert (clean["单位"], clean["状态"], clean["首个问题"], clean["标注工作簿"]) == ("沅江市教育局", "通过", "", "")
    assert Path(clean["网页"]).is_file()  # a clean submission has a page, and no annotated copy
    assert (by_file[UNREADABLE_SAMPLE]["单位编码"], by_file[UNREADABLE_SAMPLE]["状态"]) == ("", "无法读取")
    assert by_file[UNREADABLE_SAMPLE]["首个问题"].startswith("文件是文本")
    assert table.description == f"入库运行 #{summary.run_id}：每个文件的结果"

    markdown = markdown_of(overview)
    lines = markdown.splitlines()
    assert lines[0] == f"# 入库运行 #{summary.run_id}"
    assert ALARM in lines and CALM not in markdown
    assert "- 入库 6，重复 0；通过 2，有警告 1，未通过 2，无法读取 1" in lines
    problems = {row[0]: row for row in problem_rows(markdown)}
    assert set(problems) == {SEED_FILE, "2023-农业农村局.xlsx", UNREADABLE_SAMPLE}
    assert problems[SEED_FILE][1:4] == [f"{SEED_NAME}（{SEED}）", "未通过", "1"]
    assert problems[SEED_FILE][4].startswith("收支总表!B10 年初预算数：本年收入合计 1245.61")
    for path in summary.period_reports:
        assert f"- 期间汇总报告：{markdown_text(str(path))}" in lines
    # both published by the run's publish_artifacts task
    assert table.task_run_id is not None and table.task_run_id == overview.task_run_id


@on_harness
@on_sqlite
def test_a_run_in_which_every_submission_passes_has_a_calm_headline_and_no_table_of_problems(
    sample_inbox: Path, data_dir: Path, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in PASSING_FILES:
        shutil.copy(sample_inbox / name, inbox / name)

    summary = run_intake(inbox)

    markdown = markdown_of(the_artifact("intake-summary", flow_run_id(summary)))
    assert CALM in markdown.splitlines()
    assert "⚠" not in markdown and PROBLEMS_HEADER not in markdown
    assert "- 入库 3，重复 0；通过 2，有警告 1，未通过 0，无法读取 0" in markdown.splitlines()
    assert len(table_rows(the_artifact("intake-results", flow_run_id(summary)))) == 3
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run_id(summary)).state
    assert state is not None and state.is_completed()
    assert (state.name, state.message) == ("Completed", "3 份：通过 2，有警告 1，未通过 0，无法读取 0")


@on_harness
@on_sqlite
def test_the_artifact_keys_are_stable_and_a_run_with_nothing_new_leaves_the_last_meaningful_summary_the_latest(
    sample_inbox: Path, data_dir: Path, tmp_path: Path
) -> None:
    first = flow_run_id(run_intake(fill_inbox(sample_inbox, tmp_path / "first")))
    inbox = tmp_path / "corrected"
    inbox.mkdir()
    write_workbook(seed_corrected(), inbox / CORRECTED_FILE)
    second = flow_run_id(run_intake(inbox))

    again = flow_run_id(run_intake(fill_inbox(sample_inbox, tmp_path / "again")))  # the same six files: duplicates
    empty = tmp_path / "empty"
    empty.mkdir()
    idle = flow_run_id(run_intake(empty))

    for key in ("intake-results", "intake-summary"):
        history = artifacts(key, first, second, again, idle)
        assert [a.flow_run_id for a in history] == [first, second]  # one version per meaningful run
        assert latest_artifact_id(key) == history[1].id
    assert ALARM in markdown_of(the_artifact("intake-summary", first)).splitlines()  # the earlier version is kept
    for run, what in ((again, "- 入库 0，重复 6；通过 0，有警告 0，未通过 0，无法读取 0"), (idle, "- 收件箱")):
        [own] = [a for a in artifacts_of_run(run) if a.type == "markdown" and a.key is None]
        assert NOTHING_NEW in markdown_of(own).splitlines() and any(
            line.startswith(what) for line in markdown_of(own).splitlines()
        )
    with get_client(sync_client=True) as client:
        states = {run: client.read_flow_run(run).state for run in (again, idle)}
    said = {run: (state.name, state.message) if state else None for run, state in states.items()}
    assert said == {
        again: ("Completed", "本次没有新的报表；重复 6 份（此前已入库）"),
        idle: ("Completed", "本次没有新的报表"),
    }


@on_harness
@on_sqlite
def test_a_run_against_a_database_that_refuses_connections_is_failed_in_prefect_with_the_reason(
    sample_inbox: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUDGETFLOW_DATABASE_URL", CLOSED_DATABASE)
    monkeypatch.setenv("BUDGETFLOW_DB_RETRIES", "0")

    state = run_intake(fill_inbox(sample_inbox, tmp_path / "inbox"), return_state=True)

    assert state.is_failed()
    run = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        recorded = client.read_flow_run(run)
    assert recorded.state is not None and recorded.state.is_failed()
    assert recorded.state_name == "Failed"
    assert f"数据库无法连接（{CLOSED_DATABASE_SHOWN}）" in (recorded.state.message or "")
    assert "s3cret-word" not in (recorded.state.message or "")
    # the run's summary says it failed, so the latest summary in the UI never looks green
    [summary] = artifacts("intake-summary", run)
    assert "✓" not in markdown_of(summary)
    assert markdown_of(summary).startswith("# 入库运行失败")
    assert "数据库无法连接" in markdown_of(summary) and "s3cret-word" not in markdown_of(summary)


@on_harness
@on_sqlite
def test_bureau_supplied_text_cannot_break_the_markdown_tables_or_inject_markup_into_the_artifacts(
    data_dir: Path, tmp_path: Path
) -> None:
    """A failing workbook whose file name and cover name carry pipes, emphasis, HTML and line breaks."""
    file_name = "2023-科工信局|**加粗**_斜_<script>alert(1)<\\script>`代码`[链接](x)\r\n# 标题.xlsx"  # no / in a name
    bureau_name = "沅江市<script>alert(1)</script>|**局**\n# 标题"
    inbox = tmp_path / "inbox"
    write_workbook(replace(seed_figures(), name=bureau_name), inbox / file_name)

    summary = run_intake(inbox)

    markdown = markdown_of(the_artifact("intake-summary", flow_run_id(summary)))
    [row] = problem_rows(markdown)  # one row: the line breaks did not start new ones
    assert len(row) == 5  # the pipe did not add a cell
    shown, bare = rendered(row[0])
    assert (shown, bare) == (" ".join(file_name.splitlines()), "")  # every markup character escaped
    assert rendered(row[1]) == (" ".join(bureau_name.splitlines()) + f"（{SEED}）", "")
    assert row[2:4] == ["未通过", "1"]
    page = markdown_of(the_artifact(f"submission-{SEED}-2023", flow_run_id(summary)))
    for text in (markdown, page):
        assert "<script>" not in text
        assert not any(line.startswith("# 标题") for line in text.splitlines())

    period = markdown_of(the_artifact("period-report-2023", subflow_run(flow_run_id(summary))))
    [attention] = [line for line in period.splitlines() if line.startswith(f"- {SEED} ")]
    assert attention.endswith("：未通过")
    shown, bare = rendered(attention.removeprefix(f"- {SEED} ").removesuffix("：未通过"))
    assert (shown, bare) == (" ".join(bureau_name.splitlines()), "")
    assert "<script>" not in period
    assert not any(line.startswith("# 标题") for line in period.splitlines())


# --- the period_report flow -----------------------------------------------------------------------


@on_harness
@pytest.mark.parametrize("workbook_beside_page", [False, True], ids=["one-process", "workbook-in-its-own-process"])
def test_the_period_report_flow_writes_xlsx_and_html_and_lists_bureaus_missing_or_whose_current_version_failed(
    sample_inbox: Path,
    data_dir: Path,
    tmp_path: Path,
    database_url: str,
    workbook_beside_page: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A province's report writes its workbook in another process while the page is written: the same files.
    monkeypatch.setattr(period_flow, "PARALLEL_WRITE_LINES", 0 if workbook_beside_page else 10**9)
    register_sample_bureaus(database_url)
    run_intake(fill_inbox(sample_inbox, tmp_path / "first"))
    run_intake(write_workbook(seed_corrected(), tmp_path / "second" / CORRECTED_FILE).parent)  # the seed now passes
    period_dir = data_dir / "reports" / "period"
    shutil.rmtree(period_dir)  # the intake runs wrote it too; this run must write it again

    state = period_report(2023, return_state=True)

    assert state.is_completed()
    paths = state.result()
    assert paths == [period_dir / "2023-period-report.xlsx", period_dir / "2023-period-report.html"]
    workbook, page = paths
    # every registered bureau, with its current version
    summary = {row[0]: row for row in sheet_rows(workbook, "汇总", first_row=5) if row[0]}
    assert set(summary) == set(registered_bureaus())
    assert summary[SEED][2:4] == ("通过", 2)
    assert summary[FAILING][2] == "未通过"
    score = HEADERS.index("自评总分")
    assert summary[FAILING][score : score + 3] == (85, "优", "良")  # stated 优, and what its total of 85 calls for
    assert summary[SEED][score + 1 : score + 3] == ("优", "优")
    assert summary[MISSING][2:4] == ("未报送", None)
    # needing attention: the bureau whose current version failed, the one that never submits, and the one whose
    # only file could not be read — its cover unknown, its name (2023-水利局.xlsx) says whose it is: 无法读取, not
    # 未报送 — and not the seed, whose failed version 1 was superseded
    attention = {row[0]: row[2] for row in sheet_rows(workbook, "需关注", first_row=2)}
    assert attention == {FAILING: "未通过", "430981-060": "无法读取", MISSING: "未报送"}
    html = page.read_text(encoding="utf-8")
    assert "报送截止日期：2024-03-31" in html
    assert f"{MISSING} 沅江市民政局：未报送" in html
    assert "430981-060 沅江市水利局：无法读取" in html
    assert f"{FAILING} 沅江市农业农村局：未通过（错误 9）" in html
    assert f"{SEED} 沅江市科学技术和工业信息化局：" not in html

    assert state.state_details.flow_run_id is not None
    markdown = markdown_of(the_artifact("period-report-2023", state.state_details.flow_run_id)).splitlines()
    assert markdown[0] == "# 2023 年度部门报送汇总"
    assert "- 单位 7 个，需关注 3 个" in markdown
    assert f"- {FAILING} 沅江市农业农村局：未通过" in markdown
    assert f"- {MISSING} 沅江市民政局：未报送" in markdown
    assert not any(line.startswith(f"- {SEED} ") for line in markdown)
    assert [f"- `{path}`" for path in paths] == [line for line in markdown if line.startswith("- `")]


# --- the command line -----------------------------------------------------------------------------


@on_harness
@on_sqlite
@pytest.mark.usefixtures("cli_environment")
def test_budgetflow_report_writes_both_files_into_the_folder_given_and_prints_their_paths(
    sample_inbox: Path, data_dir: Path, tmp_path: Path
) -> None:
    run_intake(fill_inbox(sample_inbox, tmp_path / "inbox"))
    out = tmp_path / "out" / "county"

    result = runner.invoke(app, ["report", "--year", "2023", "--out", str(out)])

    assert result.exit_code == 0, result.output
    written = [out / "2023-period-report.xlsx", out / "2023-period-report.html"]
    assert result.stdout.splitlines() == [str(path) for path in written]
    assert all(path.stat().st_size > 0 for path in written)
    codes = {row[0] for row in sheet_rows(written[0], "汇总", first_row=5) if row[0]}
    assert codes == {SEED, CLEAN, "430981-035", FAILING, "430981-052"}  # no registry: the bureaus that submitted


@pytest.mark.usefixtures("cli_environment")
def test_budgetflow_bureaus_import_registers_the_bureaus_and_deadline_of_the_yaml_and_the_bureaus_of_a_csv(
    data_dir: Path, tmp_path: Path
) -> None:
    csv_file = tmp_path / "more-bureaus.csv"
    csv_file.write_text(
        "code,name,email\n430981-080,沅江市文化旅游广电体育局,wlj@yuanjiang.example.cn\n430981-091,沅江市审计局,\n",
        encoding="utf-8",
    )

    from_yaml = runner.invoke(app, ["bureaus", "import", str(REGISTRY)])
    from_csv = runner.invoke(app, ["bureaus", "import", str(csv_file)])

    assert (from_yaml.exit_code, from_yaml.stdout.strip()) == (0, "已登记 7 个单位；2023 年度截止 2024-03-31")
    assert (from_csv.exit_code, from_csv.stdout.strip()) == (0, "已登记 2 个单位")
    bureaus = registered_bureaus()
    assert len(bureaus) == 9
    assert (bureaus[MISSING], bureaus["430981-080"], bureaus["430981-091"]) == (
        "沅江市民政局",
        "沅江市文化旅游广电体育局",
        "沅江市审计局",
    )
    assert deadlines() == {2023: "2024-03-31"}
    assert runner.invoke(app, ["bureaus", "import", str(REGISTRY)]).exit_code == 0  # again: nothing doubles
    assert len(registered_bureaus()) == 9


@on_sqlite
@pytest.mark.usefixtures("cli_environment")
@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("no-name-column.csv", "code,email\n430981-080,wlj@yuanjiang.example.cn\n", "name"),
        ("impossible-date.yaml", "deadlines:\n  2023: 2024-02-30\nbureaus: []\n", "day is out of range"),
        ("slashed-date.yaml", "deadlines:\n  2023: 2024/03/31\nbureaus: []\n", "应写作 2024-03-31"),
        ("broken.yaml", "bureaus:\n  - {code: 430981-080, name: [\n", ""),
        ("a-list.yaml", "- 430981-080\n", ""),
    ],
)
def test_budgetflow_bureaus_import_refuses_a_bad_file_with_exit_2_and_a_message_naming_the_file(
    data_dir: Path, tmp_path: Path, name: str, content: str, says: str
) -> None:
    bad = tmp_path / name
    bad.write_text(content, encoding="utf-8")

    result = runner.invoke(app, ["bureaus", "import", str(bad)])

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"登记表无法读取：{bad}")
    assert says in result.stderr
    assert result.stdout == ""
    upgrade(Settings().database_url_value())
    assert registered_bureaus() == {}


@on_harness
@on_sqlite
@pytest.mark.usefixtures("cli_environment")
def test_budgetflow_run_names_where_the_annotated_workbooks_pages_period_report_and_emails_are(
    sample_inbox: Path, data_dir: Path, tmp_path: Path
) -> None:
    inbox = fill_inbox(sample_inbox, tmp_path / "inbox")

    result = runner.invoke(app, ["run", "--inbox", str(inbox), "--batch-size", "2"])

    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    submissions, period, outbox = (
        data_dir / "reports" / "submissions",
        data_dir / "reports" / "period",
        data_dir / "outbox",
    )
    assert f"标注工作簿和网页（9 个）：{submissions}" in out  # three workbooks with findings, six pages
    assert f"期间汇总报告：{period / '2023-period-report.xlsx'}" in out
    assert f"期间汇总报告：{period / '2023-period-report.html'}" in out
    assert f"提醒邮件：新增 2，已发出 2，待重试 0，.eml 文件在 {outbox}" in out
    assert len(list(submissions.glob("*.xlsx"))) == 3 and len(list(submissions.glob("*.html"))) == 6
    assert (period / "2023-period-report.xlsx").exists() and (period / "2023-period-report.html").exists()
    assert len(list(outbox.glob("*.eml"))) == 2
