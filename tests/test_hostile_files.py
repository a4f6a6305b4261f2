"""Hostile workbooks of issue 11, run through the real command line: each gets one answer, in bounded time and size.

Every file is written by `tests.hostile` (the seed bureau's workbook changed in one way). Each test is one
defect of the issue: what failed on the old code (a traceback, a hang, a crash of the console's markup, a
10 MB message) and the answer it must get now. The assertions are on rules, cells, statuses and exit
codes; a message is checked only for the fragment that matters (the cell's text, an exact number).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner, Result

from budgetflow.cli import app
from reports.annotation import RESULT_SHEET
from tests import hostile
from tests.support import check_one

runner = CliRunner()
on_harness = pytest.mark.usefixtures("prefect_server")  # the session's one temporary Prefect server
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the file, not the database

REPOSITORY = Path(__file__).resolve().parents[1]
CONSOLE_SCRIPT = Path(sys.executable).with_name("budgetflow")
PROMPT_SECONDS = 10.0  # the bound is 60 s; a refusal that takes more than 10 s is a defect too
MB = 1024 * 1024
SEED_CODE = "430981-013"
EXCEL_CELL_CHARACTERS = 32_767
QUOTED_CHARACTERS = 200  # a bureau's text quoted in a finding: at most this, then "…"


# --- helpers --------------------------------------------------------------------------------------


def invoke(*args: str) -> Result:
    """The command line in this process; it must end by its own exit code, never by an exception."""
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stdout + result.stderr
    return result


def validate_json(path: Path) -> tuple[int, dict[str, Any], Result]:
    """`budgetflow validate --json` on one file: its exit code and its one JSON document."""
    result = invoke("validate", str(path), "--json")
    document = json.loads(result.stdout)  # one document: not an array, not a traceback
    assert isinstance(document, dict)
    return result.exit_code, document, result


def findings_at(document: dict[str, Any], sheet: str, cell: str) -> list[str]:
    """The rules of the findings whose first cell is this one."""
    return [f["rule"] for f in document["findings"] if f["sheet"] == sheet and f["cells"][:1] == [cell]]


def seed_findings(directory: Path) -> list[tuple[str, str, str | None, str | None]]:
    """The findings of the unchanged seed workbook (the baseline of every hostile file that is still read)."""
    path = directory / "seed" / hostile.SEED_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(hostile.seed_bytes())
    return check_one(path).flatten()


def flattened(document: dict[str, Any]) -> list[tuple[str, str, str | None, str | None]]:
    return [(f["rule"], f["severity"], f["sheet"], (f["cells"] or [None])[0]) for f in document["findings"]]


def reading_cost(path: Path) -> dict[str, Any]:
    """Seconds and peak resident memory (above reading the seed workbook) of reading one file, in a fresh process."""
    script = textwrap.dedent(
        """
        import json, resource, sys, time
        from pathlib import Path
        from workbooks.reader import read_submission

        seed, path = map(Path, sys.argv[1:])
        read_submission(seed)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        submission = read_submission(path)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"seconds": seconds, "grown": (after - before) * 1024, "unreadable": submission.unreadable}))
        """
    )
    seed = path.parent / "seed-for-baseline.xlsx"
    seed.write_bytes(hostile.seed_bytes())
    completed = subprocess.run(
        [sys.executable, "-c", script, str(seed), str(path)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    cost: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return cost


class Started:
    """A console-script process of its own session, so that it and its reading workers can be stopped together."""

    def __init__(self, *args: str) -> None:
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [str(CONSOLE_SCRIPT), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.seconds: float | None = None

    def poll(self) -> bool:
        """Whether it has ended (and when, noted the first time it is seen ended)."""
        if self.process.poll() is None:
            return False
        if self.seconds is None:
            self.seconds = time.monotonic() - self.started
        return True

    def finish(self) -> tuple[int | None, str, str, float | None]:
        """Exit code (None: still running, then killed with its workers), output, error, seconds it took."""
        if not self.poll():
            os.killpg(self.process.pid, signal.SIGKILL)  # this process's own group: it and its workers only
        out, err = self.process.communicate()
        return (self.process.returncode if self.seconds is not None else None), out, err, self.seconds


def finish_all(processes: dict[str, Started], seconds: float) -> dict[str, tuple[int | None, str, str, float | None]]:
    """Wait up to `seconds` for all of them together; each one's end (those still running are killed)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not all([p.poll() for p in processes.values()]):
        time.sleep(0.1)
    return {what: process.finish() for what, process in processes.items()}


@pytest.fixture
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """A console wide enough that no path or message is wrapped; Prefect as `configure_prefect` sets it."""
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.setenv("PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY", "false")
    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING"))


def run_intake_of(path: Path, inbox: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """`budgetflow run` on an inbox that holds this one file (operators alerted of failures); its output."""
    inbox.mkdir(parents=True, exist_ok=True)
    path.rename(inbox / path.name)
    monkeypatch.setenv("BUDGETFLOW_OPERATORS", "ops@example.org")
    result = invoke("run", "--inbox", str(inbox))
    assert result.exit_code == 0, result.output
    return result.stdout


def only_submission() -> dict[str, Any]:
    result = invoke("submissions", "--json")
    [document] = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


def outputs_of(data_dir: Path) -> Iterator[Path]:
    """The annotated copies and HTML pages an intake wrote (not the period report)."""
    for path in sorted((data_dir / "reports").rglob("*")):
        if path.is_file() and path.suffix in (".html", ".xlsx", ".xlsm") and "period" not in path.parts:
            yield path


# --- 1: deep formulas -----------------------------------------------------------------------------


@pytest.mark.parametrize("build", [hostile.nested_parentheses, hostile.nested_sums], ids=["parentheses", "sums"])
def test_a_formula_nested_too_deep_is_a_formula_finding_on_its_cell_and_the_file_fails(
    tmp_path: Path, build: hostile.HostileFile
) -> None:
    code, document, _ = validate_json(build(tmp_path))

    assert code == 1
    assert document["status"] == "failed"
    assert (document["bureau_code"], document["fiscal_year"]) == (SEED_CODE, 2023)
    assert findings_at(document, hostile.SUMMARY, "C10") == ["format/formula"]
    formula = next(f for f in document["findings"] if f["rule"] == "format/formula")
    assert (formula["severity"], formula["cells"]) == ("error", ["C10"])
    # A total that cannot be computed is not also a wrong sum: the rest are the seed's own findings.
    assert [f for f in flattened(document) if f[0] != "format/formula"] == seed_findings(tmp_path)


# --- 2: huge amounts ------------------------------------------------------------------------------


def test_amounts_beyond_the_range_are_out_of_range_findings_naming_each_cell(tmp_path: Path) -> None:
    code, document, _ = validate_json(hostile.huge_amounts(tmp_path))

    assert code == 1 and document["status"] == "failed"
    for kind, cell in hostile.HUGE_AMOUNTS.items():
        assert findings_at(document, hostile.SUMMARY, cell) == ["format/out-of-range"], kind
    out_of_range = [f for f in document["findings"] if f["rule"] == "format/out-of-range"]
    assert {f["cells"][0] for f in out_of_range} == set(hostile.HUGE_AMOUNTS.values())
    assert all(f["severity"] == "error" and f["sheet"] == hostile.SUMMARY for f in out_of_range)
    text = next(f for f in out_of_range if f["cells"] == ["D2"])
    assert hostile.FORTY_DIGITS in text["message"]  # the 40 digits typed as text are quoted as typed


def test_a_sum_finding_states_a_thirteen_digit_amount_with_exact_decimals(tmp_path: Path) -> None:
    # In floats, 1234567890123.45 + 0.01 + 0.01 + 0.13 is 1234567890123.5999; exactly it is 1234567890123.60.
    book = hostile.seed_workbook()
    summary = hostile.sheet(book, hostile.SUMMARY)
    summary["C2"], summary["C3"], summary["C4"], summary["C9"] = 1234567890123.45, 0.01, 0.01, 0.13
    summary["C10"] = 1234567890123.45  # 本年收入合计 (全年预算数), 0.15 short of its parts
    path = hostile.save(book, tmp_path / "exact-decimals.xlsx")

    code, document, _ = validate_json(path)

    assert code == 1
    assert not [f for f in document["findings"] if f["rule"] == "format/out-of-range"]  # within 10 万亿
    [wrong] = [f for f in document["findings"] if f["rule"] == "sum/income" and f["cells"][0] == "C10"]
    assert (wrong["expected"], wrong["actual"]) == ("1234567890123.60", "1234567890123.45")
    numbers = re.findall(r"\d+(?:\.\d+)?", wrong["message"])
    assert {"1234567890123.45", "1234567890123.60", "0.15"} <= set(numbers)
    assert all(len(n.partition(".")[2]) <= 2 for n in numbers), numbers  # no float noise (…5999, …0000364)


def test_a_rate_over_a_denormal_budget_is_a_rate_finding_with_the_rate_written_out(tmp_path: Path) -> None:
    # 执行数 ÷ 2.2E-308 is about 1E+313 %: a float overflows to infinity, and the decimal needs 300 digits.
    book = hostile.seed_workbook()
    projects = hostile.sheet(book, hostile.PROJECTS)
    projects["D2"], projects["F3"] = 2.2250738585072014e-308, 2.2250738585072014e-308
    path = hostile.save(book, tmp_path / "denormal-budget.xlsx")

    code, document, _ = validate_json(path)

    assert code == 1 and document["status"] == "failed"
    [over] = [f for f in document["findings"] if f["rule"] == "rate/project-execution" and f["cells"][0] == "F2"]
    assert over["expected"] == "Infinity" and over["severity"] == "error"
    [tiny] = [f for f in document["findings"] if f["rule"] == "rate/project-execution" and f["cells"][0] == "F3"]
    assert len(tiny["actual"].partition(".")[2]) <= 15  # a spreadsheet keeps no more decimals than that


# --- 3: a huge year -------------------------------------------------------------------------------


def test_a_cover_year_of_ten_to_the_thirty_is_a_format_finding_on_the_cover_year_cell(tmp_path: Path) -> None:
    code, document, _ = validate_json(hostile.huge_year(tmp_path))

    assert code == 1 and document["status"] == "failed"
    assert document["fiscal_year"] is None
    rules = findings_at(document, hostile.COVER, "B4")
    assert [rule for rule in rules if rule.startswith("format/")], rules


# --- 4: formula results that overflow -------------------------------------------------------------


def test_formula_results_beyond_decimal_are_format_findings_naming_their_cells(tmp_path: Path) -> None:
    code, document, _ = validate_json(hostile.huge_formula_results(tmp_path))

    assert code == 1 and document["status"] == "failed"
    for key, (cell, formula) in hostile.HUGE_FORMULAS.items():
        rules = findings_at(document, hostile.SUMMARY, cell)
        assert len(rules) == 1 and rules[0] in ("format/out-of-range", "format/formula"), (key, formula, rules)
    assert all(len(f["message"]) < 2000 for f in document["findings"])  # the 5000-digit literal is not copied


# --- 5: division by zero --------------------------------------------------------------------------


def test_a_formula_that_divides_by_zero_is_a_division_by_zero_finding_naming_its_cell(tmp_path: Path) -> None:
    code, document, _ = validate_json(hostile.division_by_zero(tmp_path))

    assert code == 1 and document["status"] == "failed"
    for sheet, cell in ((hostile.PROJECTS, "F3"), (hostile.PROJECTS, "F4"), (hostile.PROJECTS, "F5")):
        assert findings_at(document, sheet, cell) == ["format/division-by-zero"], cell
    assert "format/division-by-zero" in findings_at(document, hostile.SUMMARY, "D14")
    assert all(f["severity"] == "error" for f in document["findings"] if f["rule"] == "format/division-by-zero")


# --- 6: many sheets over one large part -----------------------------------------------------------


@pytest.mark.parametrize(("sheets", "part_bytes"), [(190, 1_000_000), (184, 529_000)], ids=["190x1MB", "184x529KB"])
def test_sheets_sharing_one_large_part_are_refused_quickly_and_within_bounded_memory(
    tmp_path: Path, sheets: int, part_bytes: int
) -> None:
    path = hostile.shared_part_sheets(tmp_path, sheets, part_bytes)

    started = time.perf_counter()
    code, document, _ = validate_json(path)
    seconds = time.perf_counter() - started

    assert seconds < PROMPT_SECONDS
    assert (code, document["status"]) == (1, "unreadable")
    assert [(f["rule"], f["sheet"]) for f in document["findings"]] == [("format/unreadable", None)]
    cost = reading_cost(path)
    assert cost["unreadable"]
    assert cost["seconds"] < PROMPT_SECONDS
    assert cost["grown"] < 100 * MB, cost  # parsing every sheet would inflate sheets × part_bytes of XML


# --- 7: inbox entries that are not plain files ----------------------------------------------------


def test_a_symlink_to_dev_zero_and_a_fifo_are_refused_promptly_as_not_regular_files(tmp_path: Path) -> None:
    entries = hostile.special_inbox_entries(tmp_path / "inbox")
    started = {
        "symlink": Started("validate", str(entries["symlink to /dev/zero"]), "--json"),
        "fifo": Started("validate", str(entries["FIFO"]), "--json"),
        "directory": Started("validate", str(tmp_path / "inbox"), "--json"),
    }
    finished = finish_all(started, PROMPT_SECONDS + 5)  # a fresh interpreter imports budgetflow first

    stopped = {what: (code, seconds and round(seconds, 1)) for what, (code, _, _, seconds) in finished.items()}
    assert stopped["symlink"][0] == 1 and stopped["fifo"][0] == 1, f"exit codes (None: still running): {stopped}"
    for what, fragment in (("symlink", "符号链接"), ("fifo", "不是普通文件")):
        _, out, err, _ = finished[what]
        assert "Traceback" not in out + err
        document = json.loads(out)
        assert document["status"] == "unreadable"
        [finding] = document["findings"]
        assert (finding["rule"], finding["sheet"]) == ("format/unreadable", None)
        assert fragment in finding["message"], finding["message"]
    # A directory stands for the regular files in it: neither never-ending entry is read, nor hidden nor lock files.
    code, out, err, _ = finished["directory"]
    assert code == 1, f"directory: exit codes (None: still running): {stopped}"
    assert "Traceback" not in out + err
    parsed = json.loads(out)
    documents = parsed if isinstance(parsed, list) else [parsed]
    names = {Path(d["file"]).name: d["status"] for d in documents}
    assert not {".hidden.xlsx", "~$x.xlsx", "sub-folder"} & set(names)
    for name in ("dev-zero.xlsx", "fifo.xlsx"):
        assert names.get(name, "unreadable") == "unreadable", names


def test_a_directory_argument_stands_for_the_workbooks_inside_it(tmp_path: Path) -> None:
    entries = hostile.special_inbox_entries(tmp_path / "inbox")

    result = invoke("validate", str(entries["sub-folder"]), "--json")

    document = json.loads(result.stdout)
    assert result.exit_code == 1
    assert (Path(document["file"]).name, document["status"]) == (hostile.SEED_NAME, "failed")


# --- 8: Rich markup in the bureau's text ----------------------------------------------------------


@pytest.mark.usefixtures("wide_console")
def test_validate_prints_bureau_text_that_looks_like_console_markup_literally(tmp_path: Path) -> None:
    path = hostile.rich_markup(tmp_path)

    result = invoke("validate", str(path))

    assert result.exit_code == 1
    assert "MarkupError" not in result.output
    assert str(path) in result.stdout  # …/rich-[/]-markup.xlsx
    assert f"{SEED_CODE}[/]" in result.stdout
    assert "[red]x[/red]" in result.stdout  # the project's name, quoted by rate/project-execution
    assert "format/bureau-code" in result.stdout and "未通过" in result.stdout


@on_harness
@sqlite_only
@pytest.mark.usefixtures("wide_console")
def test_run_show_and_alerts_print_bureau_text_that_looks_like_console_markup_literally(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = run_intake_of(hostile.rich_markup(tmp_path / "written"), tmp_path / "inbox", monkeypatch)
    assert "]-markup.xlsx" in out and f"{SEED_CODE}[/]" in out and "MarkupError" not in out
    submission = only_submission()
    assert submission["bureau_name"] == "[/bold]沅江市科学技术和工业信息化局[/]"

    shown = invoke("show", str(submission["id"]))

    assert shown.exit_code == 0, shown.output
    assert "[/bold]沅江市科学技术和工业信息化局[/]" in shown.stdout
    assert f"{SEED_CODE}[/]" in shown.stdout and "[red]x[/red]" in shown.stdout
    assert "]-markup.xlsx" in shown.stdout

    listed = invoke("alerts")

    assert listed.exit_code == 0, listed.output
    assert "[/bold]沅江市科学技术和工业信息化局[/]" in listed.stdout  # in the alert's subject
    assert "ops@example.org" in listed.stdout


# --- 9: a 10 MB cell quoted back ------------------------------------------------------------------


def test_a_ten_megabyte_cell_is_quoted_in_findings_only_as_a_short_excerpt(tmp_path: Path) -> None:
    code, document, result = validate_json(hostile.huge_texts(tmp_path))

    assert code == 1
    for finding in document["findings"]:
        assert len(finding["message"]) < 2000, (finding["rule"], len(finding["message"]))
        for field in ("expected", "actual"):
            value = finding[field] or ""
            assert len(value) <= QUOTED_CHARACTERS + 1, (finding["rule"], field, len(value))
    assert "format/bureau-code" in findings_at(document, hostile.COVER, "B2")
    quoted = next(f for f in document["findings"] if f["rule"] == "format/bureau-code")
    assert "…" in quoted["message"]
    assert "rate/project-execution" in findings_at(document, hostile.PROJECTS, "F2")
    assert len(document["bureau_code"] or "") <= QUOTED_CHARACTERS + 1, len(document["bureau_code"] or "")
    assert len(result.stdout.encode()) < 200 * 1024, f"the JSON document is {len(result.stdout.encode())} bytes"


@on_harness
@sqlite_only
@pytest.mark.usefixtures("wide_console")
def test_the_annotated_copy_and_page_of_a_ten_megabyte_cell_stay_small(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "written").mkdir()
    path = hostile.huge_texts(tmp_path / "written")
    size = path.stat().st_size

    out = run_intake_of(path, tmp_path / "inbox", monkeypatch)

    written = list(outputs_of(data_dir))
    pages = [p for p in written if p.suffix == ".html"]
    copies = [p for p in written if p.suffix != ".html"]
    assert len(pages) == 1 and len(copies) == 1, written
    with zipfile.ZipFile(copies[0]) as archive:  # cell comments are parts of their own: bounded too
        comments = {i.filename: i.file_size for i in archive.infolist() if "comment" in i.filename.lower()}
    book = load_workbook(copies[0], read_only=True)
    try:
        results = book[RESULT_SHEET]
        longest = max(len(str(v)) for row in results.iter_rows(values_only=True) for v in row if v is not None)
    finally:
        book.close()
    measured = {  # what, its size, and the most it may be
        "run output (characters)": (len(out), 200 * 1024),
        "HTML page (bytes)": (pages[0].stat().st_size, 2 * MB),
        "annotated copy beyond the input (bytes)": (copies[0].stat().st_size - size, 2 * MB),
        "largest comment part (bytes)": (max(comments.values(), default=0), 2 * MB),
        f"longest {RESULT_SHEET} cell (characters)": (longest, EXCEL_CELL_CHARACTERS + 1),
    }
    assert not {what: value for what, (value, limit) in measured.items() if value >= limit}


# --- 10: the reader's time limit ------------------------------------------------------------------


def slow_formulas(directory: Path, ranges: int = 300) -> Path:
    """收支总表 C10 is `=SUM(E1:N1000, E1:N1000, …)`: `ranges` ranges of 10,000 (empty) cells, no cached value.

    A legal formula of 2.7 KB that budgetflow evaluates cell by cell: about 33 ms a range, so ten seconds
    and more to read a file of 20 KB.
    """
    book = hostile.seed_workbook()
    hostile.sheet(book, hostile.SUMMARY)["C10"] = "=SUM(" + ",".join(["E1:N1000"] * ranges) + ")"
    return hostile.save(book, directory / "slow-formulas.xlsx")


def test_a_file_that_takes_longer_than_the_reader_may_is_refused_as_taking_too_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = slow_formulas(tmp_path)
    monkeypatch.setenv("BUDGETFLOW_MAX_SECONDS", "2")

    started = time.perf_counter()
    code, document, result = validate_json(path)
    seconds = time.perf_counter() - started

    assert seconds < PROMPT_SECONDS
    assert (code, document["status"]) == (1, "unreadable")
    [finding] = document["findings"]
    assert (finding["rule"], finding["sheet"]) == ("format/unreadable", None)
    assert "超过 2 秒" in finding["message"], finding["message"]
    assert "Traceback" not in result.stderr
