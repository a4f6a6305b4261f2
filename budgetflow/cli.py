"""The `budgetflow` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from budgetflow.settings import ReaderLimits, Settings
from checks.findings import FileReport, Finding, Severity, Status
from checks.template import load_template
from checks.validate import validate_batch
from workbooks.reader import read_submission

app = typer.Typer(help="budgetflow: check and load the workbooks that departments submit.", no_args_is_help=True)
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
BATCH_SIZE = 500
STATUS_STYLE = {Status.PASSED: "green", Status.WARNINGS: "yellow", Status.FAILED: "red", Status.UNREADABLE: "magenta"}
STATUS_TEXT = {Status.PASSED: "通过", Status.WARNINGS: "有警告", Status.FAILED: "未通过", Status.UNREADABLE: "无法读取"}


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


def validate_files(files: list[Path], settings: Settings, console: Console) -> list[FileReport]:
    """Read and check files in batches, with a progress bar on the terminal for long runs."""
    template = load_template(settings.template)
    limits = ReaderLimits()
    reports: list[FileReport] = []
    progress = Progress(
        TextColumn("校验中"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=len(files) < 20 or not console.is_terminal,
    )
    with progress:
        task = progress.add_task("validate", total=len(files))
        for batch in _batches(files, BATCH_SIZE):
            submissions = []
            for path in batch:
                submissions.append(read_submission(path, template, limits))
                progress.advance(task)
            reports.extend(validate_batch(submissions, template))
    return reports


def print_reports(reports: list[FileReport], console: Console) -> None:
    """Per file: status, then its findings grouped by sheet."""
    for report in reports:
        style = STATUS_STYLE[report.status]
        who = " ".join(str(x) for x in (report.bureau_code, report.fiscal_year) if x is not None)
        console.print(
            f"[bold]{report.file}[/bold]  {who}  [{style}]{STATUS_TEXT[report.status]}（{report.status}）[/{style}]"
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
                level = "[red]错误[/red]" if finding.severity is Severity.ERROR else "[yellow]警告[/yellow]"
                table.add_row(sheet if i == 0 else "", ", ".join(finding.cells), finding.rule, level, finding.message)
        console.print(table)
    counts = {status: sum(r.status is status for r in reports) for status in Status}
    console.print(
        f"共 {len(reports)} 个文件："
        + "，".join(f"[{STATUS_STYLE[s]}]{STATUS_TEXT[s]} {n}[/{STATUS_STYLE[s]}]" for s, n in counts.items())
    )


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="workbooks, or directories of workbooks", exists=True)],
    as_json: Annotated[bool, typer.Option("--json", help="print the spec §3 JSON instead of a table")] = False,
    template: Annotated[str | None, typer.Option(help="template name or YAML path (default: spec-v1)")] = None,
) -> None:
    """Check workbooks; exit 0 when all pass (warnings allowed), 1 when any failed or is unreadable."""
    settings = Settings() if template is None else Settings(template=template)
    expanded = _expand(files)
    if not expanded:
        typer.echo("没有要校验的文件", err=True)
        raise typer.Exit(2)
    console = Console(stderr=as_json)
    reports = validate_files(expanded, settings, console)
    if as_json:
        documents = [r.to_dict() for r in reports]
        payload = documents[0] if len(documents) == 1 else documents
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
    else:
        print_reports(reports, console)
    bad = any(r.status in (Status.FAILED, Status.UNREADABLE) for r in reports)
    raise typer.Exit(1 if bad else 0)


@app.command()
def samples(
    directory: Annotated[Path, typer.Argument(help="where to write the sample inbox")] = Path("samples/inbox"),
) -> None:
    """Write the sample workbooks: the seed bureau and five others (one of them unreadable)."""
    from workbooks.samples import write_samples

    for path in write_samples(directory):
        typer.echo(path)


if __name__ == "__main__":  # pragma: no cover
    app()
