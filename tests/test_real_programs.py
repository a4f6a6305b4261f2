"""Files written by real spreadsheet programs and libraries are read as Excel would show them (issue 11, part 5).

- LibreOffice 7.4's `.xls` (BIFF8) and `.ods` copies of the samples (tests/fixtures/libreoffice) are read, checked,
  annotated and loaded like the `.xlsx` they were made from.
- Strict Open XML, XlsxWriter's formulas cached as 0, pandas' `to_excel` without % formats, a workbook part found
  through the package relationships, backslash member names, and an OLE file that carries a theme zip.

There is no `.xlsb` test: no program that writes `.xlsb` is available offline (LibreOffice cannot write it).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.cell.cell import Cell
from sqlalchemy import select
from sqlmodel import Session, col
from xlrd import compdoc

from checks.findings import FileReport, Finding, Severity, Status
from checks.records import ReadSubmission
from config.settings import DEFAULT_READER_LIMITS, Settings
from flows.intake import intake
from models.database import engine_for
from models.tables import FindingRecord, SheetValue
from models.tables import Submission as StoredSubmission
from reports.annotation import ERROR_RGB, RESULT_SHEET, WARNING_RGB, cells_of
from reports.outputs import output_stem, write_submission_outputs
from tests import hostile
from tests.support import check_one
from workbooks.legacy import _read_number_formats, _scanned_number_formats, _xlrd_number_formats
from workbooks.national_samples import national_seed_figures, write_national_xls
from workbooks.reader import read_submission
from workbooks.samples import MESSY, SAMPLE_FILES, Layout, build_workbook, errors_figures, seed_figures, workbook_bytes

REPOSITORY = Path(__file__).resolve().parents[1]
LIBREOFFICE = hostile.LIBREOFFICE_XLS
SAMPLES = tuple(name.removesuffix(".xlsx") for name in SAMPLE_FILES)  # the five real workbooks of the inbox
COPIES = ("xls", "ods")
FAILING_SAMPLE = "2023-农业农村局"  # the sample with the most findings (errors and warnings)
SEED_SAMPLE = "2023-科工信局"
SEED_FINDINGS = ["sum/income", "balance/income-expense"]  # the seed report's own 年初预算数 income total is off
CFB_MEMORY_LIMIT = 2 * 1024**3  # a reading process needs ~250 MB of address space


# --- helpers --------------------------------------------------------------------------------------


def findings_of(report: FileReport) -> list[dict[str, Any]]:
    """Every finding as the §3 document states it: rule, severity, sheet, cells, message, expected, actual."""
    return [finding.to_dict() for finding in report.findings]


def outcome(path: Path) -> tuple[Status, list[dict[str, Any]]]:
    report = check_one(path)
    return report.status, findings_of(report)


def located(values: Mapping[Any, Any]) -> dict[Any, tuple[Any, ...]]:
    return {key: (item.value, item.cell, item.decimals, item.text, item.ambiguous) for key, item in values.items()}


def typed_figures(submission: ReadSubmission) -> dict[str, Any]:
    """What the reader produced: each typed value with the cell it came from, the sheets and columns it found."""
    return {
        "unit": submission.unit,
        "sheets": submission.sheets,
        "column_letters": submission.column_letters,
        "cover": located(submission.cover),
        "summary": located(submission.grids["summary"]),
        "three_public": located(submission.grids["three_public"]),
        "projects": [(item.row, item.is_total, located(item.values)) for item in submission.lists["projects"]],
        "indicators": [(item.row, item.is_total, located(item.values)) for item in submission.lists["indicators"]],
        "result": located(submission.fields["result"]),
    }


def sample_xlsx(sample_inbox: Path, name: str) -> Path:
    return sample_inbox / f"{name}.xlsx"


def libreoffice_copy(name: str, suffix: str) -> Path:
    return LIBREOFFICE / f"{name}.{suffix}"


def as_strict(data: bytes) -> bytes:
    """An openpyxl-written .xlsx as Strict Open XML, rewritten as `hostile.strict_open_xml` rewrites the seed."""
    parts = hostile.zip_parts(data)
    for name, part in parts.items():
        if name == "[Content_Types].xml":
            continue
        for transitional, strict in hostile.STRICT_NAMES:
            part = part.replace(transitional, strict)
        parts[name] = part
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(b"<workbook ", b'<workbook conformance="strict" ', 1)
    return hostile.zip_bytes(parts)


def rules_of(findings: list[dict[str, Any]]) -> list[str]:
    return [finding["rule"] for finding in findings]


# --- LibreOffice .xls and .ods: read and checked like the .xlsx -------------------------------------


def test_there_is_a_libreoffice_xls_and_ods_copy_of_every_real_sample_workbook() -> None:
    assert sorted(path.name for path in LIBREOFFICE.iterdir()) == sorted(
        f"{name}.{suffix}" for name in SAMPLES for suffix in COPIES
    )
    for name in SAMPLES:
        assert libreoffice_copy(name, "xls").read_bytes().startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")  # OLE
        assert libreoffice_copy(name, "ods").read_bytes()[30:77] == b"mimetypeapplication/vnd.oasis.opendocument.spre"


def _workbook_stream(data: bytes) -> bytes:
    memory, start, length = compdoc.CompDoc(data, logfile=io.StringIO()).locate_named_stream("Workbook")
    assert memory is not None
    return bytes(memory[start : start + length])


def test_an_xls_copys_number_formats_read_from_its_own_records_are_the_ones_xlrd_reads(tmp_path: Path) -> None:
    """`.xls` number formats come from the FORMAT, XF and cell records alone, not from xlrd's parse of every
    record: the same formats for LibreOffice's copies and the national final-accounts software's tables (xlwt),
    and xlrd's reading again for whatever the scan does not read (a cut or damaged stream)."""
    limits = DEFAULT_READER_LIMITS
    books = [libreoffice_copy(name, "xls").read_bytes() for name in SAMPLES]
    books.append(write_national_xls(national_seed_figures(), tmp_path / "national.xls").read_bytes())
    found: list[dict[str, dict[tuple[int, int], str]]] = []
    for data in books:
        scanned = _scanned_number_formats(_workbook_stream(data), limits)
        assert scanned is not None
        assert scanned == _xlrd_number_formats(data, limits)
        assert _read_number_formats(data, limits) == scanned
        found.append(scanned)
    codes = [Counter(code for sheet in book.values() for code in sheet.values()) for book in found]
    assert codes[-1]["#,##0.00"] > 800  # the national tables' amounts: there were formats to find
    assert codes[SAMPLES.index("2023-科工信局")]["0.00%"] > 0  # and rates

    stream = _workbook_stream(books[-1])
    for cut in (0, 3, 100, len(stream) // 3, len(stream) // 2, len(stream) * 2 // 3):  # no answer, no exception
        assert _scanned_number_formats(stream[:cut], limits) is None
    biff5 = stream[:4] + b"\x00\x05" + stream[6:]  # another BIFF version: left to xlrd
    assert _scanned_number_formats(biff5, limits) is None
    small = _scanned_number_formats(stream, limits.model_copy(update={"max_rows": 10, "max_columns": 3}))
    assert small is not None
    assert {cell for sheet in small.values() for cell in sheet} == {
        cell for sheet in found[-1].values() for cell in sheet if cell[0] <= 10 and cell[1] <= 3
    }


def test_the_samples_their_libreoffice_copies_were_made_from_are_the_samples_budgetflow_writes(
    sample_inbox: Path,
) -> None:
    for name in SAMPLES:
        assert (REPOSITORY / "samples" / "inbox" / f"{name}.xlsx").read_bytes() == sample_xlsx(
            sample_inbox, name
        ).read_bytes()


@pytest.mark.parametrize("suffix", COPIES)
@pytest.mark.parametrize("name", SAMPLES)
def test_a_libreoffice_copy_gets_the_status_and_findings_of_the_xlsx_it_was_made_from(
    sample_inbox: Path, name: str, suffix: str
) -> None:
    expected_status, expected_findings = outcome(sample_xlsx(sample_inbox, name))

    status, findings = outcome(libreoffice_copy(name, suffix))

    assert status == expected_status
    assert findings == expected_findings


def test_the_samples_compared_with_their_copies_pass_warn_and_fail(sample_inbox: Path) -> None:
    """The comparison above covers every status a readable file can have, and findings of both severities."""
    statuses = {name: check_one(sample_xlsx(sample_inbox, name)).status for name in SAMPLES}
    assert set(statuses.values()) == {Status.PASSED, Status.WARNINGS, Status.FAILED}
    failing = check_one(sample_xlsx(sample_inbox, FAILING_SAMPLE))
    assert failing.errors > 0 and failing.warnings > 0


@pytest.mark.parametrize("suffix", COPIES)
@pytest.mark.parametrize("name", SAMPLES)
def test_a_libreoffice_copy_is_read_to_the_typed_figures_and_cells_of_the_xlsx(
    sample_inbox: Path, name: str, suffix: str
) -> None:
    expected = typed_figures(read_submission(sample_xlsx(sample_inbox, name)))

    figures = typed_figures(read_submission(libreoffice_copy(name, suffix)))

    assert figures["summary"] and figures["projects"] and figures["indicators"]  # something was read
    for part, values in expected.items():
        assert figures[part] == values, part


# --- the annotated copy of an .xls or .ods ----------------------------------------------------------


def marked_cells(findings: list[Finding]) -> dict[tuple[str, str], bool]:
    """(sheet, cell) of every cell a finding names → whether an error names it."""
    marks: dict[tuple[str, str], bool] = {}
    for finding in findings:
        if finding.sheet is None:
            continue
        for reference in finding.cells:
            for cell in cells_of(reference):
                key = (finding.sheet, cell)
                marks[key] = marks.get(key, False) or finding.severity is Severity.ERROR
    return marks


@pytest.mark.parametrize("suffix", COPIES)
def test_the_annotated_copy_of_an_xls_or_ods_is_an_xlsx_whose_first_sheet_says_the_original_was_converted(
    sample_inbox: Path, tmp_path: Path, suffix: str
) -> None:
    original = libreoffice_copy(FAILING_SAMPLE, suffix)
    report = check_one(original)
    archived = tmp_path / "archive" / report.sha256  # the archive keeps each file under its sha256, no extension
    archived.parent.mkdir()
    shutil.copy(original, archived)

    outputs = write_submission_outputs(
        tmp_path / "out", "000001_430981-047_2023_v1", report, archived, bureau_name="沅江市农业农村局", version=1
    )

    assert outputs.workbook is not None
    assert outputs.workbook.suffix == ".xlsx"
    book = openpyxl.load_workbook(outputs.workbook)
    first = book.worksheets[0]
    assert first.title == RESULT_SHEET
    text = "\n".join(str(value) for row in first.iter_rows(values_only=True) for value in row if value is not None)
    assert "转换" in text
    for finding in report.findings:
        assert finding.message in text
    # The other sheets are the original's, with its values where it has them.
    xlsx = openpyxl.load_workbook(sample_xlsx(sample_inbox, FAILING_SAMPLE))
    assert book.sheetnames[1:] == xlsx.sheetnames
    for sheet in xlsx.worksheets:
        copied = book[sheet.title]
        for row in sheet.iter_rows():
            for cell in row:
                assert copied[cell.coordinate].value == cell.value, (sheet.title, cell.coordinate)
                if cell.value is not None:
                    assert copied[cell.coordinate].number_format == cell.number_format, (sheet.title, cell.coordinate)
        assert copied.max_row == sheet.max_row and copied.max_column == sheet.max_column
    # Every cell a finding names is filled (red for an error, amber for a warning) and carries the rule.
    marks = marked_cells(report.findings)
    assert marks
    for (title, coordinate), error in marks.items():
        cell = book[title][coordinate]
        assert isinstance(cell, Cell)
        assert cell.fill.fgColor.rgb == (ERROR_RGB if error else WARNING_RGB), (title, coordinate)
        assert cell.comment is not None, (title, coordinate)
        for finding in report.findings:
            if finding.sheet == title and any(coordinate in cells_of(ref) for ref in finding.cells):
                assert finding.rule in cell.comment.text


# --- Strict Open XML ------------------------------------------------------------------------------


def test_the_strict_copy_of_the_seed_workbook_gets_the_findings_and_figures_of_the_transitional_seed(
    tmp_path: Path,
) -> None:
    transitional = tmp_path / "transitional.xlsx"
    transitional.write_bytes(hostile.seed_bytes())
    strict = hostile.strict_open_xml(tmp_path)
    assert as_strict(hostile.seed_bytes()) == strict.read_bytes()  # the helper below makes the same files

    assert outcome(strict) == outcome(transitional)
    assert rules_of(outcome(strict)[1]) == SEED_FINDINGS
    assert typed_figures(read_submission(strict)) == typed_figures(read_submission(transitional))


STRICT_CASES: dict[str, tuple[Any, Layout]] = {
    "planted errors": (errors_figures, Layout()),
    "planted errors, messy layout with formulas and merged cells": (errors_figures, MESSY),
    "seed, messy layout": (seed_figures, MESSY),
    **{f"sample {name}": SAMPLE_FILES[name] for name in SAMPLE_FILES},
}


@pytest.mark.parametrize("case", list(STRICT_CASES))
def test_a_strict_open_xml_workbook_gets_the_same_findings_as_its_transitional_twin(tmp_path: Path, case: str) -> None:
    figures, layout = STRICT_CASES[case]
    data = workbook_bytes(build_workbook(figures(), layout))
    transitional = tmp_path / "transitional.xlsx"
    transitional.write_bytes(data)
    strict = tmp_path / "strict.xlsx"
    strict.write_bytes(as_strict(data))
    workbook_part = hostile.zip_parts(strict.read_bytes())["xl/workbook.xml"]
    assert b'conformance="strict"' in workbook_part and hostile.STRICT_NAMES[0][0] not in workbook_part

    assert outcome(strict) == outcome(transitional)
    assert typed_figures(read_submission(strict)) == typed_figures(read_submission(transitional))


def test_the_strict_twin_of_a_workbook_with_planted_errors_fails_with_those_errors(tmp_path: Path) -> None:
    strict = tmp_path / "strict-errors.xlsx"
    strict.write_bytes(as_strict(workbook_bytes(build_workbook(errors_figures()))))

    status, findings = outcome(strict)

    assert status == Status.FAILED
    assert {"sum/basic", "ceiling/three-public", "ceiling/project", "rate/indicator", "ceiling/score"} <= set(
        rules_of(findings)
    )


# --- XlsxWriter: every formula cached as 0 --------------------------------------------------------

# The formula cells whose result is not 0: 收支总表 本年收入合计 (row 10), 基本支出 (11), 本年支出合计 (18);
# 三公经费 合计 (row 7; 公务用车 is 0, as cached); 项目支出 合计 (row 8).
STALE_CELLS = {
    "收支总表": {"B10", "C10", "D10", "B11", "C11", "D11", "B18", "C18", "D18"},
    "三公经费": {"B7", "C7"},
    "项目支出": {"C8", "D8", "E8"},
}


def test_an_xlsxwriter_workbook_whose_formulas_are_cached_as_0_gets_no_error_and_a_stale_formula_warning_per_sheet(
    tmp_path: Path,
) -> None:
    path = hostile.xlsxwriter_formulas(tmp_path)

    report = check_one(path)

    assert report.errors == 0, findings_of(report)
    assert report.status == Status.WARNINGS
    assert {f.rule for f in report.findings} == {"format/stale-formula"}
    assert {f.sheet: set(f.cells) for f in report.findings} == STALE_CELLS
    for finding in report.findings:
        assert finding.severity is Severity.WARNING
        assert f"{len(finding.cells)} 个公式单元格" in finding.message
        assert f"如 {finding.cells[0]} 保存 0" in finding.message


def test_every_formula_cell_of_the_xlsxwriter_workbook_is_cached_as_0_and_those_computing_0_are_not_stale(
    tmp_path: Path,
) -> None:
    path = hostile.xlsxwriter_formulas(tmp_path)
    formulas = openpyxl.load_workbook(path)
    cached = openpyxl.load_workbook(path, data_only=True)
    formula_cells = {
        sheet.title: {c.coordinate for row in sheet.iter_rows() for c in row if c.data_type == "f"}
        for sheet in formulas.worksheets
    }
    for title, cells in formula_cells.items():
        for cell in cells:
            assert cached[title][cell].value == 0, (title, cell)
    stale = {f.sheet: set(f.cells) for f in check_one(path).findings}
    assert {title: cells for title, cells in formula_cells.items() if cells} == {
        **STALE_CELLS,
        "三公经费": STALE_CELLS["三公经费"] | {"B3", "C3"},  # 公务用车 = 购置 + 运行 = 0 + 0: cached right
    }
    assert stale == STALE_CELLS


def test_the_totals_of_the_xlsxwriter_workbook_are_read_at_their_computed_values_the_seed_figures(
    tmp_path: Path,
) -> None:
    figures = seed_figures()
    read = read_submission(hostile.xlsxwriter_formulas(tmp_path))

    summary_columns = ("budget_initial", "budget_full", "actual")
    expected_summary = {
        (row, column): amount
        for row, amounts in figures.summary.items()
        for column, amount in zip(summary_columns, amounts, strict=True)
    }
    # The seed report states 本年收入合计 年初预算数 1245.61, not the sum of its parts; the formula computes the sum.
    expected_summary[("inc_total", "budget_initial")] = Decimal("1160.21")
    assert {key: item.value for key, item in read.grids["summary"].items()} == expected_summary
    expected_three = {
        (row, column): amount
        for row, amounts in figures.three_public.items()
        for column, amount in zip(("budget", "actual"), amounts, strict=True)
    }
    assert {key: item.value for key, item in read.grids["three_public"].items()} == expected_three
    [total] = [item for item in read.lists["projects"] if item.is_total]
    for column in summary_columns:
        assert total.value(column) == sum((getattr(p, column) for p in figures.projects), Decimal(0)), column
        assert total.value(column) != 0


def unevaluable_seed(tmp_path: Path, sum_total: bool) -> Path:
    """The seed written by XlsxWriter with 收支总表 B2 (一般公共预算财政拨款收入, 年初预算数, 1160.21) a VLOOKUP
    that budgetflow does not evaluate, cached right; `sum_total`: B10 (本年收入合计) also `=SUM(B2:B9)`, cached 0."""
    book = hostile.seed_workbook()
    summary = hostile.sheet(book, hostile.SUMMARY)
    summary["B2"] = "=VLOOKUP(1,H2:I3,2,0)"
    if sum_total:
        summary["B10"] = "=SUM(B2:B9)"
    return hostile.with_xlsxwriter(
        book, tmp_path / f"vlookup-{sum_total}.xlsx", {(hostile.SUMMARY, "B2"): 1160.21, (hostile.SUMMARY, "B10"): 0}
    )


def test_a_formula_budgetflow_cannot_evaluate_keeps_its_cached_value_with_no_stale_warning_and_no_error(
    tmp_path: Path,
) -> None:
    seed = tmp_path / "seed.xlsx"
    seed.write_bytes(hostile.seed_bytes())
    path = unevaluable_seed(tmp_path, sum_total=False)

    read = read_submission(path)

    assert read.grids["summary"][("inc_general", "budget_initial")].value == Decimal("1160.21")
    assert outcome(path) == outcome(seed)  # the seed's own two findings, nothing about B2
    assert rules_of(outcome(path)[1]) == SEED_FINDINGS


def test_a_total_over_a_formula_budgetflow_cannot_evaluate_is_computed_from_its_cached_value_and_only_it_is_stale(
    tmp_path: Path,
) -> None:
    path = unevaluable_seed(tmp_path, sum_total=True)

    report = check_one(path)
    read = read_submission(path)

    assert read.grids["summary"][("inc_total", "budget_initial")].value == Decimal("1160.21")  # 1160.21 + 0 + 0 + 0
    assert report.status == Status.WARNINGS, findings_of(report)
    [stale] = report.findings  # the computed total is the sum of its parts: sum/income and the balance hold
    assert (stale.rule, stale.sheet, stale.cells) == ("format/stale-formula", hostile.SUMMARY, ("B10",))
    assert "计算得 1160.21" in stale.message


# --- pandas: rates without their % format ---------------------------------------------------------

RATE_CELLS = [f"F{row}" for row in range(2, 9)]  # 项目支出 执行率 of the six projects and 合计


@pytest.mark.parametrize("write", [hostile.pandas_workbook, hostile.fraction_rates], ids=["pandas", "General"])
def test_fraction_rates_without_a_percent_format_get_the_ambiguity_warning_only_and_no_rate_error(
    tmp_path: Path, write: Any
) -> None:
    seed = tmp_path / "seed" / "seed.xlsx"
    seed.parent.mkdir()
    seed.write_bytes(hostile.seed_bytes())
    path = write(tmp_path)

    status, findings = outcome(path)

    ambiguous = [f for f in findings if f["rule"] == "format/rate-ambiguous"]
    assert [(f["sheet"], f["cells"], f["severity"]) for f in ambiguous] == [
        (hostile.PROJECTS, [cell], "warning") for cell in RATE_CELLS
    ]
    assert "0.97" in ambiguous[1]["message"] and "97" in ambiguous[1]["message"]  # 制造强省项目绩效管理, 97.00%
    assert not [f for f in findings if f["rule"].startswith("rate/")]
    assert [f for f in findings if f["rule"] != "format/rate-ambiguous"] == outcome(seed)[1]
    assert status == outcome(seed)[0]


def test_a_pandas_workbook_is_read_to_the_seed_figures_with_the_rates_as_stated_fractions(tmp_path: Path) -> None:
    seed = tmp_path / "seed.xlsx"
    seed.write_bytes(hostile.seed_bytes())
    expected, read = read_submission(seed), read_submission(hostile.pandas_workbook(tmp_path))

    assert {k: v.value for k, v in read.grids["summary"].items()} == {
        k: v.value for k, v in expected.grids["summary"].items()
    }
    assert [item.value("actual") for item in read.lists["projects"]] == [
        item.value("actual") for item in expected.lists["projects"]
    ]
    rates = [item.values["rate"] for item in read.lists["projects"]]
    assert all(rate.ambiguous for rate in rates)
    assert rates[1].value == Decimal("0.97")


def test_a_fraction_rate_that_matches_neither_as_a_fraction_nor_as_percent_points_is_still_a_rate_error(
    tmp_path: Path,
) -> None:
    book = hostile.seed_workbook()
    projects = hostile.sheet(book, hostile.PROJECTS)
    for cell in RATE_CELLS:
        projects[cell].number_format = "General"
    hostile.misstate_first_rate(book)  # 税收增量评价费 0.5, where 80 ÷ 80 is 100%
    path = hostile.save(book, tmp_path / "half-rate.xlsx")

    status, findings = outcome(path)

    assert status == Status.FAILED
    [rate] = [f for f in findings if f["rule"] == "rate/project-execution"]
    assert (rate["sheet"], rate["cells"][0], rate["severity"]) == (hostile.PROJECTS, "F2", "error")
    assert "税收增量评价费" in rate["message"]


# --- packages laid out otherwise ------------------------------------------------------------------


def test_a_workbook_part_found_through_the_package_relationships_gives_the_seed_findings(tmp_path: Path) -> None:
    seed = tmp_path / "seed.xlsx"
    seed.write_bytes(hostile.seed_bytes())
    path = hostile.moved_workbook_part(tmp_path)
    assert "xl/workbook.xml" not in hostile.zip_parts(path.read_bytes())

    assert outcome(path) == outcome(seed)
    assert typed_figures(read_submission(path)) == typed_figures(read_submission(seed))


def test_a_package_whose_member_names_use_backslashes_gives_the_seed_findings(tmp_path: Path) -> None:
    seed = tmp_path / "seed.xlsx"
    seed.write_bytes(hostile.seed_bytes())
    path = hostile.backslash_names(tmp_path)
    assert "xl\\workbook.xml" in hostile.zip_parts(path.read_bytes())

    assert outcome(path) == outcome(seed)
    assert typed_figures(read_submission(path)) == typed_figures(read_submission(seed))


# --- an .xls that carries a theme zip -------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_a_real_xls_carrying_a_theme_zip_and_renamed_xlsx_is_read_as_the_xls_it_is(
    sample_inbox: Path, tmp_path: Path, name: str
) -> None:
    path = tmp_path / f"{name}.xlsx"
    path.write_bytes(libreoffice_copy(name, "xls").read_bytes() + hostile.theme_zip())

    assert outcome(path) == outcome(sample_xlsx(sample_inbox, name))


def test_hostile_xls_with_theme_zip_uses_the_first_libreoffice_xls_and_is_read_like_it(
    sample_inbox: Path, tmp_path: Path
) -> None:
    path = hostile.xls_with_theme_zip(tmp_path)
    first = sorted(LIBREOFFICE.glob("*.xls"))[0]

    assert path.name == "xls-theme-zip.xlsx"
    assert outcome(path) == outcome(sample_xlsx(sample_inbox, first.stem))


def check_in_a_bounded_process(path: Path) -> dict[str, Any]:
    """`check_one(path).to_dict()`, computed in a child process limited to 2 GB of address space and 120 s, so that
    a reader that allocates without bound fails this test rather than the test run (or the machine)."""
    child = (
        "import json, resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({CFB_MEMORY_LIMIT}, {CFB_MEMORY_LIMIT}))\n"
        "from pathlib import Path\n"
        "from tests.support import check_one\n"
        "print(json.dumps(check_one(Path(sys.argv[1])).to_dict(), ensure_ascii=False))\n"
    )
    environment = {**os.environ, "RUST_BACKTRACE": "0"}
    done = subprocess.run(
        [sys.executable, "-c", child, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPOSITORY,
        env=environment,
    )
    assert done.returncode == 0, (
        f"reading {path.name} ended the process (exit {done.returncode}) within {CFB_MEMORY_LIMIT // 1024**3} GB: "
        + done.stderr.strip()[-600:]
    )
    document: dict[str, Any] = json.loads(done.stdout)
    return document


@pytest.mark.parametrize(
    ("file_name", "theme"), [("cfb-stub-theme-zip.xlsx", True), ("cfb-stub.xls", False)], ids=["with-theme", "alone"]
)
def test_an_ole_file_that_is_no_readable_xls_is_unreadable_as_an_xls_not_as_a_zip_without_a_workbook(
    tmp_path: Path, file_name: str, theme: bool
) -> None:
    path = tmp_path / file_name
    path.write_bytes(hostile.cfb_stub() + (hostile.theme_zip() if theme else b""))

    document = check_in_a_bounded_process(path)

    assert document["status"] == "unreadable"
    [finding] = document["findings"]
    assert (finding["rule"], finding["severity"]) == ("format/unreadable", "error")
    message = finding["message"]
    assert "ZIP" not in message.upper() and "xl/workbook.xml" not in message
    assert ".xls" in message
    assert "OLE" in message or "复合文档" in message


# --- an intake run --------------------------------------------------------------------------------


def stored_rows(session: Session, submission_id: int) -> dict[str, Any]:
    """What a loaded submission's typed rows and findings hold, without their ids."""

    def rows(table: Any, *columns: str) -> list[tuple[Any, ...]]:
        found = session.execute(select(table).where(table.submission_id == submission_id)).scalars()
        return sorted(tuple(getattr(row, name) for name in columns) for row in found)

    return {
        "values": rows(SheetValue, "sheet", "row", "column", "number", "text", "decimals", "title", "cell"),
        "findings": [
            (f.rule, f.severity, f.sheet, f.cells, f.message, f.expected, f.actual)
            for f in session.execute(
                select(FindingRecord)
                .where(col(FindingRecord.submission_id) == submission_id)
                .order_by(col(FindingRecord.position))
            ).scalars()
        ],
    }


@pytest.mark.usefixtures("prefect_server")
def test_libreoffice_xls_and_ods_copies_go_through_an_intake_run_and_load_with_the_xlsx_status_and_rows(
    sample_inbox: Path, data_dir: Path, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in SAMPLES:
        shutil.copy(sample_xlsx(sample_inbox, name), inbox)
        for suffix in COPIES:
            shutil.copy(libreoffice_copy(name, suffix), inbox)

    summary = intake(inbox=str(inbox), batch_size=5)

    outcomes = {o.file_name: o for o in summary.outcomes}
    assert sorted(outcomes) == sorted(p.name for p in [*LIBREOFFICE.iterdir(), *map(Path, SAMPLE_FILES)])
    assert {o.outcome for o in outcomes.values()} == {"loaded"}
    with Session(engine_for(Settings().database_url_value())) as session:
        stored = {s.file_name: s for s in session.execute(select(StoredSubmission)).scalars()}
        for name in SAMPLES:
            xlsx = stored[f"{name}.xlsx"]
            assert xlsx.id is not None
            expected_rows = stored_rows(session, xlsx.id)
            sheets = {value[0] for value in expected_rows["values"]}
            assert {"summary", "projects"} <= sheets
            for suffix in COPIES:
                copy, loaded = stored[f"{name}.{suffix}"], outcomes[f"{name}.{suffix}"]
                assert copy.id is not None
                assert (loaded.status, loaded.bureau_code, loaded.fiscal_year) == (
                    outcomes[f"{name}.xlsx"].status,
                    xlsx.bureau_code,
                    xlsx.fiscal_year,
                ), (name, suffix)
                assert (copy.status, copy.error_count, copy.warning_count, copy.unit, copy.bureau_name) == (
                    xlsx.status,
                    xlsx.error_count,
                    xlsx.warning_count,
                    xlsx.unit,
                    xlsx.bureau_name,
                ), (name, suffix)
                assert stored_rows(session, copy.id) == expected_rows, (name, suffix)
                # A copy with findings gets an annotated .xlsx that says it was converted.
                stem = output_stem(copy.id, copy.bureau_code, copy.fiscal_year, copy.version)
                annotated = data_dir / "reports" / "submissions" / f"{stem}.xlsx"
                assert annotated.exists() == (copy.status != "passed"), (name, suffix)
                if annotated.exists():
                    first = openpyxl.load_workbook(annotated).worksheets[0]
                    assert any("转换" in str(value) for row in first.iter_rows(values_only=True) for value in row)
