"""The `budgetflow` command line."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from checks.findings import STATUS_TEXT, FileReport, Finding, Severity, Status

if TYPE_CHECKING:
    from decimal import Decimal

    from sqlalchemy import Engine

    from checks.template import TemplateSet
    from config.settings import Settings
    from intake.checking import CheckedFile
    from intake.pipeline import IntakeSummary
    from models.tables import Submission

# Each command imports what it uses when it runs: `--help` or `submissions` must not wait for Prefect,
# pandas or the reader (bench/cli.py measures them).


def _no_python_type(argument: object, ctx: object) -> None:
    return None


# Typer prints each argument's Python type after its name in help (`FILE_OR_DIR <list[Path]>`); the name and
# its help say what to give, and the type says nothing to an operator (options show their metavar instead).
typer.core.TyperArgument.display_type_rich = _no_python_type  # type: ignore[method-assign,assignment]

app = typer.Typer(
    help="budgetflow: check and load the workbooks that departments submit.",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
)
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
BATCH_SIZE = 500
STATUS_STYLE = {Status.PASSED: "green", Status.WARNINGS: "yellow", Status.FAILED: "red", Status.UNREADABLE: "magenta"}


def make_console(*, stderr: bool = False) -> Console:
    """A console as wide as the terminal, or 160 columns when piped (tables of Chinese text wrap badly at 80)."""
    console = Console(stderr=stderr, highlight=False)
    return (
        console
        if console.is_terminal or "COLUMNS" in os.environ
        else Console(stderr=stderr, width=160, highlight=False)
    )


def plain(value: object) -> Text:
    """Text of a bureau, a file or a workbook, for a table cell: printed as it is, never read as markup (`[/]`)."""
    return Text("" if value is None else str(value))


def read_settings(**overrides: Any) -> Settings:
    """The environment's settings, with the command's options on top: read here, once per command, and passed
    down (nothing below reads the environment)."""
    from config.settings import Settings

    return Settings(**{key: value for key, value in overrides.items() if value is not None})


def _template_usable(settings: Settings) -> None:
    """Refuse, before any work, a template file that names what it does not have: each problem with its line."""
    from checks.template import TemplateError, templates_for

    try:
        templates_for(settings.template)
    except TemplateError as exc:
        typer.echo(f"模板无法使用：\n{exc}", err=True)
        raise typer.Exit(2) from exc


def _settings(*, announce: bool = True) -> Settings:
    """The settings of this command, read once; the data folder (and its parents) made if it is new, and named
    on standard error, so that a command started elsewhere never silently works on another folder."""
    settings = read_settings()
    folder = settings.prepare_data_dir()
    if announce:
        make_console(stderr=True).print(
            f"数据目录：{escape(str(folder))}；数据库：{escape(settings.database_shown())}", soft_wrap=True
        )
    return settings


def _expand(paths: list[Path]) -> list[Path]:
    """Files as given; a directory stands for the workbooks directly inside it, by name."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith((".", "~$"))))
        else:
            files.append(path)
    return files


def _batches(files: list[Path], size: int) -> Iterator[list[Path]]:
    for start in range(0, len(files), size):
        yield files[start : start + size]


def progress_bar(console: Console, *, disable: bool = False) -> Progress:
    """The progress display of long command-line work; it vanishes when done."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    return Progress(*columns, console=console, transient=True, disable=disable)


def validate_files(
    files: list[Path], settings: Settings, console: Console, *, history_from: str | None = None
) -> list[FileReport]:
    """Read and check files in batches, each file within the reader's limits of time and memory, in worker
    processes (a file that crashes one is its own finding); a progress bar on the terminal for long runs. With a
    database (`history_from`), each file is also checked against its bureau's previous year there."""
    from checks.template import templates_for
    from intake.checking import CheckJob, check_files
    from intake.isolation import IsolatedPool

    templates, limits = templates_for(settings.template), settings.limits
    reports: list[FileReport] = []
    progress = progress_bar(console, disable=len(files) < 20 or not console.is_terminal)
    workers = min(settings.read_workers or os.cpu_count() or 1, -(-len(files) // 50))
    pool = IsolatedPool(workers, limits)
    try:
        with progress:
            task = progress.add_task("校验中", total=len(files))
            for batch in _batches(files, BATCH_SIZE):
                jobs = [CheckJob(str(path), str(path)) for path in batch]
                with_rows = history_from is not None  # the files' values, in 万元 as the database keeps them
                checked = check_files(jobs, templates, limits, pool, parts=pool.workers, with_rows=with_rows)
                if history_from is not None:
                    _with_history(checked, history_from, templates)
                reports += [result.report for result in checked]
                for result in checked:
                    if result.problem is not None:
                        make_console(stderr=True).print(Text(result.problem))
                progress.advance(task, len(batch))
    finally:
        pool.close()
    return reports


def _with_history(checked: Sequence[CheckedFile], url: str, templates: TemplateSet) -> None:
    """Each checked file's `history/…` findings against the bureau's current version of the year before in the
    database at `url` (a file that names no bureau by code is matched to the registry by its name)."""
    from sqlmodel import Session

    from checks.attribution import bureau_by_name
    from models.cross_checks import history_of_file
    from models.database import engine_for, upgrade
    from models.reporting import registered_names
    from models.tables import SheetValue

    upgrade(url)
    engine = engine_for(url)
    try:
        registry = registered_names(engine)
        with Session(engine) as session:
            for result in checked:
                report, read = result.report, result.read
                name = read.cover.get("bureau_name")
                code = read.bureau_code or (bureau_by_name(str(name.value), registry) if name else None)
                if report.unreadable or code is None or read.fiscal_year is None:
                    continue
                template = templates.get(read.template)
                values = result.rows[SheetValue].as_dicts() if SheetValue in result.rows else []
                report.findings += history_of_file(session, template, values, code, read.fiscal_year)
                report.bureau_code = report.bureau_code or code
    finally:
        engine.dispose()


def print_reports(reports: list[FileReport], console: Console) -> None:
    """Per file: status, then its findings grouped by sheet."""
    for report in reports:
        style = STATUS_STYLE[report.status]
        who = " ".join(str(x) for x in (report.bureau_code, report.fiscal_year) if x is not None)
        console.print(
            f"[bold]{escape(report.file)}[/bold]  {escape(who)}  "
            f"[{style}]{STATUS_TEXT[report.status]}（{report.status}）[/{style}]"
            f"  错误 {report.errors}  警告 {report.warnings}"
        )
        if not report.findings:
            continue
        table = Table(show_header=True, header_style="bold", expand=False, pad_edge=False)
        for column in ("工作表", "单元格", "规则", "级别", "说明"):
            table.add_column(column, overflow="fold")
        by_sheet: dict[str, list[Finding]] = {}
        for finding in report.findings:  # sheets in the order their first finding came
            by_sheet.setdefault(finding.sheet or "", []).append(finding)
        for sheet, findings in by_sheet.items():
            for i, finding in enumerate(findings):
                table.add_row(
                    plain(sheet if i == 0 else ""),
                    plain(", ".join(finding.cells)),
                    plain(finding.rule),
                    severity_markup(finding),
                    plain(finding.shown_message),
                )
        console.print(table)
    counts = {status: sum(r.status is status for r in reports) for status in Status}
    console.print(
        f"共 {len(reports)} 个文件："
        + "，".join(f"[{STATUS_STYLE[s]}]{STATUS_TEXT[s]} {n}[/{STATUS_STYLE[s]}]" for s, n in counts.items())
    )


@app.command()
def validate(
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE_OR_DIR", help="workbooks, or directories of workbooks", exists=True)
    ],
    as_json: Annotated[bool, typer.Option("--json", help="print the spec §3 JSON instead of a table")] = False,
    template: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="template name or YAML path (default: auto, each workbook read with the bundled template it fits)",
        ),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="a budgetflow database (SQLAlchemy URL): also check each file against its bureau's previous year",
        ),
    ] = None,
) -> None:
    """Check workbooks; exit 0 when all pass (warnings allowed), 1 when any failed or is unreadable."""
    settings = read_settings(template=template)
    _template_usable(settings)
    expanded = _expand(files)
    if not expanded:
        typer.echo("没有要校验的文件", err=True)
        raise typer.Exit(2)
    console = make_console(stderr=as_json)
    reports = validate_files(expanded, settings, console, history_from=database)
    if as_json:
        documents = [r.to_dict() for r in reports]
        payload = documents[0] if len(documents) == 1 else documents
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
    else:
        print_reports(reports, console)
    bad = any(r.status in (Status.FAILED, Status.UNREADABLE) for r in reports)
    raise typer.Exit(1 if bad else 0)


SAMPLE_FORMATS = ("spec-v1", "national-2023")


@app.command()
def samples(
    directory: Annotated[
        Path | None, typer.Argument(metavar="DIR", help="where to write them (default: $BUDGETFLOW_DATA_DIR/inbox)")
    ] = None,
    sample_format: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="spec-v1: the seed bureau and five others (one unreadable); national-2023: the seed department's "
            "nine 部门决算公开表 as .xls and .xlsx, and copies with one planted error each",
        ),
    ] = "spec-v1",
) -> None:
    """Write the sample workbooks of a format."""
    if sample_format not in SAMPLE_FORMATS:
        typer.echo(f"未知的格式 {sample_format}（可选：{'、'.join(SAMPLE_FORMATS)}）", err=True)
        raise typer.Exit(2)
    target = directory or _settings(announce=False).inbox_dir
    if sample_format == "national-2023":
        from workbooks.national_samples import write_national_samples

        written = write_national_samples(target)
    else:
        from workbooks.samples import write_samples

        written = write_samples(target)
    for path in written:
        typer.echo(path)


@app.command()
def run(
    inbox: Annotated[
        Path | None, typer.Option(metavar="DIR", help="inbox folder (default: $BUDGETFLOW_DATA_DIR/inbox)")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(metavar="N", help="files per batch (default: $BUDGETFLOW_BATCH_SIZE)")
    ] = None,
) -> None:
    """Run the intake flow once: archive, check and load everything new in the inbox."""
    if inbox is not None and not inbox.is_dir():
        what = "不是文件夹" if inbox.exists() else "不存在"
        typer.echo(f"收件箱 {inbox} {what}（--inbox 应指向放置报表文件的文件夹）", err=True)
        raise typer.Exit(2)
    settings = _settings()
    _template_usable(settings)
    ui_url = _use_prefect(settings)
    from budgetflow.prefect_env import command_line_flow_runs
    from flows.intake import intake
    from intake import progress as run_progress

    console = make_console()
    bar = progress_bar(console)
    stages = {
        "read": bar.add_task("读取", total=0, visible=False),
        "load": bar.add_task("入库", total=0, visible=False),
    }

    def show(stage: str, done: int, total: int | None) -> None:
        if total is not None:
            bar.update(stages[stage], total=total, visible=True)
        bar.advance(stages[stage], done)

    run_progress.attach(show)
    try:
        with bar, command_line_flow_runs():
            summary = intake(inbox=str(inbox) if inbox else None, batch_size=batch_size)
    except Exception as exc:  # the flow run has failed (and Prefect recorded why); say it plainly
        console.print(Text(f"入库运行失败：{exc}", style="red"))
        raise typer.Exit(1) from exc
    finally:
        run_progress.attach(None)
    print_summary(summary, console, mail_as_files=settings.smtp.host is None)
    if ui_url is not None:
        console.print(Text(f"运行记录在本地 Prefect 界面：{ui_url}（budgetflow server stop 停止它）"), soft_wrap=True)


def severity_markup(finding: Finding) -> str:
    """错误 in red, 警告 in yellow, 已说明 (an explained warning) in green."""
    colour = "red" if finding.severity is Severity.ERROR else "yellow" if finding.counts else "green"
    return f"[{colour}]{finding.severity_text}[/{colour}]"


def print_summary(summary: IntakeSummary, console: Console, *, mail_as_files: bool) -> None:
    from intake.summaries import OUTCOME_TEXT, bureau_name_of, recheck_lines
    from models.store import Outcome

    title = f"入库运行 #{summary.run_id}（{summary.inbox}）"
    table = Table(title=plain(title), header_style="bold")
    for column in ("文件", "单位", "单位编码", "年度", "版本", "结果", "状态", "错误", "警告"):
        table.add_column(column, overflow="fold")
    for o in summary.outcomes:
        status = Status(o.status)
        style = STATUS_STYLE[status]
        table.add_row(
            plain(o.file_name),
            plain(bureau_name_of(summary, o)),
            plain(o.bureau_code),
            str(o.fiscal_year or ""),
            str(o.version or ""),
            OUTCOME_TEXT.get(o.outcome, o.outcome),
            f"[{style}]{STATUS_TEXT[status]}[/{style}]",
            str(o.errors),
            str(o.warnings),
        )
    console.print(table if summary.outcomes else Text(f"{title}：收件箱里没有新文件"), soft_wrap=True)
    for o in summary.outcomes:
        if o.findings:
            who = o.bureau_code or bureau_name_of(summary, o) or "单位不明"
            console.print(f"[bold]{escape(o.file_name)}[/bold]（{escape(who)}）：")
        for f in o.findings:
            where = f"{f.sheet}!{f.cells[0]}" if f.sheet and f.cells else (f.sheet or "")
            console.print(f"  {severity_markup(f)} {escape(f.rule)} {escape(where)} {escape(f.shown_message)}")
    for line in recheck_lines(summary):
        console.print(f"[yellow]重新校验[/yellow] {escape(line)}")
    for entry in summary.skipped:
        console.print(f"[yellow]未处理[/yellow] {escape(entry.name)}：{escape(entry.reason)}")
    print_outputs(summary, console, mail_as_files=mail_as_files)
    # the statuses of the rows above, duplicates included: a second run of the same files shows theirs
    statuses = "，".join(f"{STATUS_TEXT[s]} {sum(o.status == s for o in summary.outcomes)}" for s in Status)
    loaded, duplicates = summary.count(Outcome.LOADED), summary.count(Outcome.DUPLICATE)
    console.print(f"收件箱 {summary.files_seen} 个文件；入库 {loaded}，重复 {duplicates}；" + statuses)


def print_outputs(summary: IntakeSummary, console: Console, *, mail_as_files: bool) -> None:
    """Where the run's outputs are (`mail_as_files`: no SMTP server is set, alerts are .eml files)."""
    if summary.outputs:
        console.print(
            Text(f"标注工作簿和网页（{len(summary.outputs)} 个）：{summary.outputs[0].parent}"), soft_wrap=True
        )
    for path in summary.period_reports:
        console.print(Text(f"期间汇总报告：{path}"), soft_wrap=True)
    delivery = summary.delivery
    if delivery is not None and (delivery.sent or delivery.failed or delivery.pending):
        where = f"，.eml 文件在 {summary.outbox}" if mail_as_files else ""
        counts = f"新增 {summary.alerts_queued}，已发出 {delivery.sent}，待重试 {delivery.pending}"
        later = "（邮件服务器未响应或本次发送时间已用完，其余下次再发）" if delivery.unavailable else ""
        console.print(Text(f"提醒邮件：{counts}{later}{where}"), soft_wrap=True)


def _use_prefect(settings: Settings) -> str | None:
    """Prefect set up for a command that runs a flow: the UI address of the data folder's own server when the
    command uses it; a local server that cannot start is said plainly."""
    from budgetflow.local_server import LocalServerFailed
    from budgetflow.prefect_env import configure_prefect

    def starting() -> None:
        make_console(stderr=True).print(
            "正在启动本地 Prefect 服务器（后台常驻，首次约 10 秒；之后的命令直接使用它）…", soft_wrap=True
        )

    try:
        return configure_prefect(settings, on_start=starting)
    except LocalServerFailed as exc:
        make_console(stderr=True).print(Text(str(exc), style="red"))
        raise typer.Exit(1) from exc


def _engine(settings: Settings | None = None, *, announce: bool = True) -> Engine:
    """The database of the command's settings (read here unless the command has them already), migrated."""
    from models.database import engine_for, upgrade

    settings = settings or _settings(announce=announce)
    url = settings.database_url_value()
    upgrade(url)
    return engine_for(url)


@app.command("submissions")
def list_submissions(
    year: Annotated[int | None, typer.Option(metavar="YEAR", help="fiscal year")] = None,
    bureau: Annotated[str | None, typer.Option(metavar="CODE", help="bureau code")] = None,
    all_versions: Annotated[bool, typer.Option("--all-versions", help="superseded versions too")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List loaded submissions (current versions unless --all-versions)."""
    from models.queries import list_submissions as query

    rows = query(_engine(), year=year, bureau=bureau, all_versions=all_versions)
    documents = [
        {
            "id": s.id,
            "bureau_code": s.bureau_code,
            "bureau_name": s.bureau_name,
            "fiscal_year": s.fiscal_year,
            "version": s.version,
            "file": s.file_name,
            "sha256": s.sha256,
            "status": s.status,
            "current": s.is_current,
            "errors": s.error_count,
            "warnings": s.warning_count,
            "received_at": s.received_at.isoformat(),
        }
        for s in rows
    ]
    if as_json:
        sys.stdout.write(json.dumps(documents, ensure_ascii=False, indent=2) + "\n")
        return
    if not documents:
        asked = "，".join(x for x in (f"{year} 年度" if year else "", f"单位 {bureau}" if bureau else "") if x)
        make_console().print(f"没有已入库的报表{f'（{asked}）' if asked else ''}")
        return
    table = Table(header_style="bold")
    for column in ("编号", "单位编码", "单位名称", "年度", "版本", "当前", "状态", "错误", "警告", "文件", "sha256"):
        table.add_column(column, overflow="fold")
    for d in documents:
        status = Status(str(d["status"]))
        style = STATUS_STYLE[status]
        table.add_row(
            str(d["id"]),
            plain(d["bureau_code"]),
            plain(d["bureau_name"]),
            str(d["fiscal_year"] or ""),
            str(d["version"] or ""),
            "是" if d["current"] else "",
            f"[{style}]{STATUS_TEXT[status]}[/{style}]",
            str(d["errors"]),
            str(d["warnings"]),
            plain(d["file"]),
            str(d["sha256"])[:12],
        )
    make_console().print(table)


@app.command()
def show(
    submission: Annotated[
        str, typer.Argument(metavar="ID_OR_SHA256", help="submission id, or the start of its sha256")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="print the spec §3 JSON document instead of a table")] = False,
) -> None:
    """Show the findings of one loaded submission, those against other submissions included."""
    from models.queries import report_of

    engine = _engine(announce=not as_json)
    found = _submission_or_exit(engine, submission)
    if as_json:  # the spec §3 document, as `validate --json` gives it, with the findings as they stand now
        sys.stdout.write(json.dumps(report_of(engine, found).to_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    console = make_console()
    console.print(
        Text(
            f"提交 #{found.id}  {found.bureau_name or ''} {found.fiscal_year or ''} 第 {found.version or '-'} 版"
            f"{'（当前）' if found.is_current else ''}  收到 {found.received_at:%Y-%m-%d %H:%M}"
        )
    )
    print_reports([report_of(engine, found)], console)


def _submission_or_exit(engine: Engine, ident: str) -> Submission:
    from models.queries import find_submission

    found = find_submission(engine, ident)
    if found is None:
        typer.echo(f"没有找到提交 {ident}（用编号或 sha256 的前 6 位以上）", err=True)
        raise typer.Exit(2)
    return found


@app.command()
def explain(
    submission: Annotated[
        str, typer.Argument(metavar="ID_OR_SHA256", help="submission id, or the start of its sha256")
    ],
    rule: Annotated[str, typer.Argument(metavar="RULE", help="the warning's rule, e.g. history/change")],
    cell: Annotated[str, typer.Argument(metavar="CELL", help="the warning's cell, e.g. C12")],
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="why the figure stands (核实性审核)")],
    by: Annotated[
        str | None, typer.Option("--by", metavar="NAME", help="who explains it (default: the login name)")
    ] = None,
) -> None:
    """Explain a warning instead of having it fixed: it becomes 已说明 and no longer makes the status 有警告.
    Errors are corrected, never explained (exit 2). The submission's page and annotated copy are written again."""
    import getpass

    from intake.pipeline import repair_outputs
    from models.cross_checks import NotExplainable, explain_warning
    from models.database import session_scope

    if not reason.strip():
        typer.echo("说明不能为空（--reason）", err=True)
        raise typer.Exit(2)
    settings = _settings()
    engine = _engine(settings)
    found = _submission_or_exit(engine, submission)
    assert found.id is not None
    try:
        with session_scope(engine) as session:
            explained = explain_warning(session, found.id, rule, cell, reason.strip(), by or getpass.getuser())
    except NotExplainable as problem:
        typer.echo(str(problem), err=True)
        raise typer.Exit(2) from problem
    repair_outputs(settings, engine, None)  # its page and annotated copy, with the explanation
    console = make_console()
    for finding in explained:
        console.print(Text(f"已说明：{finding.rule} {', '.join(finding.cells)} {finding.message}"))
        console.print(Text(f"  说明：{finding.explanation}（{finding.explained_by}）"))
    refreshed = _submission_or_exit(engine, str(found.id))
    console.print(Text(f"提交 #{found.id} 现在的状态：{STATUS_TEXT[Status(refreshed.status)]}"))


class ReportGrouping(StrEnum):
    PARENT = "parent"  # 主管部门


@app.command()
def report(
    year: Annotated[int, typer.Option(metavar="YEAR", help="fiscal year")],
    out: Annotated[
        Path | None, typer.Option(metavar="DIR", help="folder (default: $BUDGETFLOW_DATA_DIR/reports/period)")
    ] = None,
    by: Annotated[
        ReportGrouping | None,
        typer.Option("--by", help="print the units of each 主管部门 summed, from the database, instead of writing"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="with --by: print JSON")] = False,
) -> None:
    """Write the county's period report for a fiscal year (xlsx and HTML, with charts), or print its roll-up."""
    if by is None and as_json:
        typer.echo("--json 只用于 --by parent", err=True)
        raise typer.Exit(2)
    if by is not None:
        if out is not None:
            typer.echo("--by parent 只打印汇总，不写文件：去掉 --out", err=True)
            raise typer.Exit(2)
        print_parents(year, as_json=as_json)
        return
    settings = _settings()
    _use_prefect(settings)
    from budgetflow.prefect_env import command_line_flow_runs
    from flows.period_report import period_report

    try:
        with command_line_flow_runs():
            paths = period_report(year, out_dir=str(out) if out else None)
    except Exception as exc:
        make_console().print(Text(f"汇总报告生成失败：{exc}", style="red"))
        raise typer.Exit(1) from exc
    for path in paths:
        typer.echo(path)


def print_parents(year: int, *, as_json: bool) -> None:
    """The period report's roll-up by 主管部门, read straight from the database: no Prefect flow run, no files."""
    from checks.period import AMOUNT_FIGURES, AMOUNT_TITLES, HEADLINE_FIGURES, LAST_YEAR
    from checks.template import templates_for, with_bundled
    from models.reporting import period_report

    settings = _settings(announce=not as_json)
    engine = _engine(settings)
    parents = period_report(engine, year, with_bundled(templates_for(settings.template))).by_parent

    def exact(value: Decimal | None) -> str | None:  # amounts as exact decimal strings: JSON numbers are floats
        return None if value is None else str(value)

    if as_json:
        document = {
            "fiscal_year": year,
            "previous_year": year - 1,
            "parents": [
                {
                    "parent": parent.parent, "code": parent.code, "name": parent.name, "units": parent.units,
                    "submitted": parent.submitted,
                    "this_year": {figure: exact(parent.this_year.of(figure)) for figure in AMOUNT_FIGURES},
                    "last_year": {figure: exact(parent.last_year.of(figure)) for figure in AMOUNT_FIGURES},
                    "change_percent": {figure: exact(parent.change(figure)) for figure in AMOUNT_FIGURES},
                }
                for parent in parents
            ],
        }  # fmt: skip
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
        return
    console = make_console()
    if not parents:
        console.print(f"{year} 年度没有登记或报送的单位")
        return

    def amount(value: Decimal | None) -> str:
        return "" if value is None else f"{value:,.2f}"

    table = Table(header_style="bold", title=f"{year} 年度按主管部门汇总（万元；上年为 {year - 1} 年度）")
    table.add_column("主管部门", overflow="fold", min_width=14)  # seven characters a line, not two
    table.add_column("编码", overflow="fold", min_width=10)
    for column in ("单位数", "已报送"):
        table.add_column(column, overflow="fold")
    for figure in HEADLINE_FIGURES:  # short headers, the amount's name once: a terminal is narrower than a sheet
        for header in (AMOUNT_TITLES[figure], LAST_YEAR, "增减(%)"):
            table.add_column(header, justify="right", overflow="fold")  # an amount folds rather than loses digits
    for parent in parents:
        cells: list[str | Text] = [plain(parent.label), plain(parent.code), str(parent.units), str(parent.submitted)]
        for figure in HEADLINE_FIGURES:
            change = parent.change(figure)
            cells += [
                amount(parent.this_year.of(figure)),
                amount(parent.last_year.of(figure)),
                "" if change is None else f"{change:+.2f}",
            ]
        table.add_row(*cells)
    console.print(table)


alerts = typer.Typer(help="The email outbox.", invoke_without_command=True)
app.add_typer(alerts, name="alerts")


@alerts.callback()
def alerts_list(
    context: typer.Context,
    pending: Annotated[bool, typer.Option("--pending", help="only alerts not yet sent")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List the alerts in the outbox."""
    if context.invoked_subcommand is not None:
        return
    from intake.outbox import list_alerts

    rows = list_alerts(_engine(announce=False), pending_only=pending)
    documents = [
        {
            "id": a.id, "kind": a.kind, "status": a.status, "bureau_code": a.bureau_code,
            "fiscal_year": a.fiscal_year, "submission_id": a.submission_id, "recipients": a.recipients,
            "subject": a.subject, "attempts": a.attempts, "last_error": a.last_error,
            "next_attempt_at": a.next_attempt_at.isoformat(), "sent_at": a.sent_at.isoformat() if a.sent_at else None,
            "delivered_as": a.delivered_as,
        }
        for a in rows
    ]  # fmt: skip
    if as_json:
        sys.stdout.write(json.dumps(documents, ensure_ascii=False, indent=2) + "\n")
        return
    if not rows:
        make_console().print("发件箱是空的" if not pending else "没有待发送的提醒")
        return
    from intake.outbox import KIND_TEXT
    from models.tables import AlertStatus

    table = Table(header_style="bold")
    for column in ("编号", "类型", "状态", "收件人", "主题", "尝试", "最近错误"):
        table.add_column(column, overflow="fold")
    for a in rows:
        sent = "已发送" if a.status == AlertStatus.SENT else "待发送"
        table.add_row(
            str(a.id),
            KIND_TEXT.get(a.kind, a.kind),
            sent,
            plain(", ".join(a.recipients)),
            plain(a.subject),
            str(a.attempts),
            plain(a.last_error),
        )
    make_console().print(table)


@alerts.command("retry")
def alerts_retry() -> None:
    """Send every pending alert now, without waiting for its next scheduled attempt."""
    settings = _settings(announce=False)
    _use_prefect(settings)
    from budgetflow.prefect_env import command_line_flow_runs
    from flows.notify import notify

    with command_line_flow_runs():
        _, result = notify(reminders=False, retry_now=True)
    typer.echo(f"已发出 {result.sent}，失败 {result.failed}，仍待发送 {result.pending}")
    raise typer.Exit(1 if result.failed else 0)


bureaus = typer.Typer(help="The registry of bureaus expected to submit.", no_args_is_help=True)
app.add_typer(bureaus, name="bureaus")


@bureaus.command("import")
def bureaus_import(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="YAML (bureaus and deadlines) or CSV (code,name,email[,parent])", exists=True
        ),
    ],
) -> None:
    """Register the bureaus expected to submit, and the deadline of each fiscal year."""
    from models.reporting import RegistryError, import_registry, parse_registry

    try:
        entries, deadlines = parse_registry(file)
    except (RegistryError, ValueError, KeyError, TypeError) as exc:
        typer.echo(f"登记表无法读取：{exc}", err=True)
        raise typer.Exit(2) from exc
    import_registry(_engine(announce=False), entries, deadlines)
    years = "，".join(f"{year} 年度截止 {due}" for year, due in sorted(deadlines.items()))
    typer.echo(f"已登记 {len(entries)} 个单位" + (f"；{years}" if years else ""))


@app.command()
def template(
    year: Annotated[int, typer.Option(metavar="YEAR", help="fiscal year printed on the cover")],
    out: Annotated[Path, typer.Option(metavar="FILE", help="the .xlsx file to write")],
) -> None:
    """Write a blank spec-v1 workbook for bureaus to fill (labels protected, inputs validated, totals as formulas)."""
    from checks.template import templates_for
    from workbooks.blank import write_blank_template

    try:
        typer.echo(write_blank_template(year, out, templates_for(read_settings().template).default))
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


@app.command()
def serve(
    intake_cron: Annotated[str, typer.Option(metavar="CRON", help="schedule of intake")] = "*/15 * * * *",
    report_cron: Annotated[str, typer.Option(metavar="CRON", help="schedule of the period report")] = "30 6 * * *",
    notify_cron: Annotated[
        str, typer.Option(metavar="CRON", help="schedule of reminders and alert delivery")
    ] = "0 9 * * *",
    fiscal_year: Annotated[
        int | None, typer.Option(metavar="YEAR", help="year of the period report (default: the one being filed)")
    ] = None,
    dask_address: Annotated[
        str | None,
        typer.Option(metavar="ADDRESS", help="read intake's batches on this Dask scheduler, e.g. tcp://10.0.0.5:8786"),
    ] = None,
) -> None:
    """Single-machine mode: run the three schedules in this process (Prefect `serve`) until stopped.

    Runs against PREFECT_API_URL (start `prefect server start` first to watch them in the UI).
    """

    if not os.environ.get("PREFECT_API_URL"):
        typer.echo(
            "budgetflow serve 需要一个常驻的 Prefect 服务器：先运行 `prefect server start`，"
            "再设置 PREFECT_API_URL=http://127.0.0.1:4200/api（见 deploy/README.md）",
            err=True,
        )
        raise typer.Exit(2)
    from budgetflow.prefect_env import configure_prefect

    configure_prefect(read_settings(), quiet=False, local=False)
    from prefect import serve as serve_deployments
    from prefect.deployments.runner import RunnerDeployment

    from flows.intake import intake
    from flows.notify import notify
    from flows.period_report import period_report

    # Without --fiscal-year each run reports the year being filed on its own date, not the year serve started in.
    report_parameters = {"fiscal_year": fiscal_year} if fiscal_year else {}
    deployments = [
        intake.to_deployment(
            name="intake", cron=intake_cron, parameters={"dask_address": dask_address}, tags=["budgetflow"]
        ),
        period_report.to_deployment(
            name="period-report", cron=report_cron, parameters=report_parameters, tags=["budgetflow"]
        ),
        notify.to_deployment(name="notify", cron=notify_cron, tags=["budgetflow"]),
    ]
    # Called outside an event loop, to_deployment returns the deployment itself, not a coroutine.
    serve_deployments(*[d for d in deployments if isinstance(d, RunnerDeployment)])


server = typer.Typer(
    help="The data folder's own Prefect server, which commands use when PREFECT_API_URL is unset.",
    invoke_without_command=True,
)
app.add_typer(server, name="server")


def _prefect_home(settings: Settings) -> Path:
    from budgetflow.prefect_env import prefect_home

    return prefect_home(settings)


@server.callback()
def server_status(context: typer.Context) -> None:
    """Say whether the data folder's Prefect server is running, and where its UI is."""
    if context.invoked_subcommand is not None:
        return
    from budgetflow import local_server

    found = local_server.running(_prefect_home(read_settings()))
    typer.echo(f"本地 Prefect 服务器运行中：{found.ui_url}" if found else "本地 Prefect 服务器未运行")


@server.command("start")
def server_start() -> None:
    """Start it now (commands that run flows start it themselves), and print the UI's address."""
    from budgetflow import local_server

    settings = read_settings()
    try:
        found = local_server.ensure_running(_prefect_home(settings), settings.local_server_idle_minutes)
    except local_server.LocalServerFailed as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"本地 Prefect 服务器运行中：{found.ui_url}")


@server.command("stop")
def server_stop() -> None:
    """Stop it, and the warm command process (the next commands start them again)."""
    from budgetflow import command_server, local_server

    stopped = local_server.stop(_prefect_home(read_settings()))
    typer.echo("本地 Prefect 服务器已停止" if stopped else "本地 Prefect 服务器未运行")
    if command_server.stop_all():
        typer.echo("常驻命令进程已停止")


db = typer.Typer(help="Database administration.", no_args_is_help=True)
app.add_typer(db, name="db")


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the newest version."""
    from sqlalchemy.engine import make_url

    from models.database import upgrade

    url = read_settings().database_url_value()
    upgrade(url)
    typer.echo(f"数据库已是最新结构：{make_url(url).render_as_string(hide_password=True)}")


def run_command() -> int:
    """The command of `sys.argv`, then what must be done before the process may leave without Python's
    teardown of its modules; its exit code. The console script (budgetflow.launcher) runs it here or in a
    child of the warm command process, and leaves with `os._exit`.

    After a flow run the interpreter holds some two thousand modules (Prefect, pandas, SQLAlchemy), and
    tearing them down took 0.9 s after the work was done. Everything that must reach the disk, the terminal or
    the Prefect server is finished first: the exit handlers run (Prefect's log and event workers drain in
    theirs), and the output is flushed. Tests call `app` itself, in their own process, and never come here.
    """
    try:
        app()
        code = 0
    except SystemExit as finished:
        code = finished.code if isinstance(finished.code, int) else (0 if finished.code is None else 1)
        if isinstance(finished.code, str):
            print(finished.code, file=sys.stderr)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`| head`) has nothing more to take
            stream.flush()
    return code


if __name__ == "__main__":  # pragma: no cover
    os._exit(run_command())
