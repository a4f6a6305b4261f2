"""The national final-account tables (部门决算公开表, template `national-2023`): read as departments publish them,
checked within and between tables, chosen by what the workbook holds, and taken in by the whole intake."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from budgetflow.cli import app
from checks.findings import FileReport
from checks.records import ReadSubmission
from checks.template import default_templates, load_template
from checks.validate import validate_batch
from intake import pipeline
from models.reporting import RegistryEntry, import_registry, period_report
from models.rows import typed_rows
from models.tables import SheetValue
from tests.test_store import SEED_CODE, Intake, intake, reading_workers  # noqa: F401  (fixtures)
from workbooks.grid import open_grid
from workbooks.national_samples import (
    national_planted_errors,
    national_seed_figures,
    write_national_separate,
    write_national_stacked,
    write_national_xls,
    write_national_xlsx,
)
from workbooks.reader import read_submission
from workbooks.samples import seed_figures, write_workbook

D = Decimal
NATIONAL = load_template("national-2023")
DEPARTMENT = "沅江市科学技术和工业信息化局"
# Each planted copy's one broken check (spec §4), and the cell a finding of it must name first.
PLANTED = {
    "item-not-summing": ("hierarchy/t5", "公开05表", "E25"),
    "expenditure-total-off": ("cross-table/t3-t1-expense", "公开03表", "C7"),
    "fund-balance": ("balance/t8-row", "公开08表", "H7"),
    "reception-over-budget": ("ceiling/three-public", "公开07表", "G8"),
}


def _checked(path: Path) -> tuple[ReadSubmission, FileReport]:
    read = read_submission(path, default_templates())
    [report] = validate_batch([read], default_templates())
    return read, report


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("national")
    figures = national_seed_figures()
    write_national_xlsx(figures, directory / "seed.xlsx")
    write_national_xls(figures, directory / "seed.xls")
    write_national_stacked(figures, directory / "stacked.xlsx")
    write_national_stacked(figures, directory / "stacked.xls")
    for name, planted in national_planted_errors().items():
        write_national_xls(planted.figures, directory / f"{name}.xls")
        write_national_xlsx(planted.figures, directory / f"{name}.xlsx")
    return directory


@pytest.mark.parametrize("name", ["seed.xls", "seed.xlsx", "stacked.xlsx", "stacked.xls"])
def test_the_seed_departments_nine_tables_read_and_pass_in_every_layout(written: Path, name: str) -> None:
    read, report = _checked(written / name)

    assert read.template == report.template == "national-2023"
    assert report.findings == []
    assert {key: located.value for key, located in read.cover.items()} == {
        "bureau_name": DEPARTMENT,
        "unit": "万元",
        "fiscal_year": 2023,
    }
    assert read.grids["t1_income"][("inc_total", "amount")].value == D("11658.78")
    assert read.grids["t1_expense"][("215", "amount")].value == D("9801.35")  # 十四、资源勘探工业信息等支出
    assert read.grids["t4_income"][("carry_in_fund", "amount")].value == D("6.5")  # the 2nd 政府性基金 row
    assert read.grids["t7"][("reception", "actual")].value == D("11.84")
    t5 = {item.row_key: item for item in read.lists["t5"]}
    assert t5["2150501"].value("basic") == D("452.63")  # 215 | 05 | 01 in three columns
    assert t5["total"].value("total") == D("2439.23")
    t6 = {item.row_key: item.value("amount") for item in read.lists["t6_public"]}
    assert (t6["total"], t6["30217"]) == (D("119.23"), D("11.84"))
    assert {item.row_key for item in read.lists["t9"]} == {"total", "223", "22301", "2230105"}


def test_each_cell_is_named_where_it_stands(written: Path) -> None:
    read, _ = _checked(written / "seed.xlsx")
    sheet = openpyxl.load_workbook(written / "seed.xlsx")["公开03表"]
    for item in read.lists["t3"]:
        for column, located in item.values.items():
            if located.cell and isinstance(located.value, Decimal):
                assert D(str(sheet[located.cell].value)) == located.value, (item.row_key, column)
    assert read.grids["t1_expense"][("215", "amount")].cell == "F20"


@pytest.mark.parametrize("suffix", [".xls", ".xlsx"])
@pytest.mark.parametrize("name", sorted(PLANTED))
def test_each_planted_error_is_found_by_its_check_alone_and_names_its_cell(
    written: Path, name: str, suffix: str
) -> None:
    rule, sheet, cell = PLANTED[name]

    _, report = _checked(written / f"{name}{suffix}")

    # the 10 added to a 项 of 表3 is carried up to its 类 too, so 表3's 类 row no longer meets 表1's either
    also = {"cross-table/t3-t1-classes"} if rule == "cross-table/t3-t1-expense" else set()
    assert {finding.rule for finding in report.findings} == {rule, *also}
    first = next(f for f in report.findings if f.rule == rule)
    assert (first.sheet, first.cells[0]) == (sheet, cell)
    assert report.status == ("warnings" if rule.startswith("ceiling/") else "failed")


def test_the_findings_say_what_is_wrong_with_both_amounts(written: Path) -> None:
    _, report = _checked(written / "expenditure-total-off.xlsx")
    [total] = [f for f in report.findings if f.rule == "cross-table/t3-t1-expense"]
    assert total.message == "本年支出合计 11668.78 与表1 本年支出合计 11658.78（公开01表!F30）不符，相差 10.00"
    [by_class] = [f for f in report.findings if f.rule == "cross-table/t3-t1-classes"]
    assert "215 资源勘探工业信息等支出" in by_class.message and "公开01表!F20" in by_class.message

    _, report = _checked(written / "item-not-summing.xls")
    [first, *_] = report.findings
    assert first.message == "“21505 工业和信息产业监管”合计 993.30 与其 3 个下级科目之和 998.30 不符，相差 5.00"
    assert first.cells == ("E25", "E26:E28")


def test_an_empty_table_with_its_note_is_complete_but_must_agree_with_table_4(tmp_path: Path) -> None:
    path = write_national_xlsx(national_seed_figures(), tmp_path / "empty.xlsx", empty_tables={8, 9})

    read, report = _checked(path)

    assert read.lists["t8"] == read.lists["t9"] == []
    assert not [f for f in report.findings if f.rule.startswith("required/")]
    # the note says the department had no government-fund or state-capital money, but 表4 spends 118 and 8
    assert sorted((f.rule, f.expected, f.actual) for f in report.findings) == [
        ("cross-table/t4-t8", "0.00", "118.00"),
        ("cross-table/t4-t9", "0.00", "8.00"),
    ]


def test_codes_saved_as_numbers_are_read_as_codes(written: Path, tmp_path: Path) -> None:
    book = openpyxl.load_workbook(written / "seed.xlsx")
    book["公开02表"]["A8"].value = 206  # 类 206 as a number
    book["公开05表"]["B10"].value = 1  # 款 01 as a number, its leading zero lost
    path = tmp_path / "numbers.xlsx"
    book.save(path)

    read, report = _checked(path)

    assert report.findings == []
    assert "206" in {item.row_key for item in read.lists["t2"]}
    assert "20601" in {item.row_key for item in read.lists["t5"]}


def test_a_child_without_its_parent_row_is_a_warning(written: Path, tmp_path: Path) -> None:
    book = openpyxl.load_workbook(written / "seed.xlsx")
    sheet = book["公开09表"]
    sheet.delete_rows(9)  # 22301, between 223 and 2230105
    path = tmp_path / "orphan.xlsx"
    book.save(path)

    _, report = _checked(path)

    [orphan] = [f for f in report.findings if f.rule == "format/orphan-code"]
    assert (orphan.severity, orphan.sheet, orphan.cells) == ("warning", "公开09表", ("A9",))
    assert "2230105" in orphan.message and "22301" in orphan.message


def test_a_workbook_of_each_format_is_read_with_its_own_template(written: Path, tmp_path: Path) -> None:
    v1 = write_workbook(seed_figures(), tmp_path / "v1.xlsx")
    reads = [read_submission(path, default_templates()) for path in (v1, written / "seed.xls")]

    reports = validate_batch(reads, default_templates())

    assert [r.template for r in reports] == ["spec-v1", "national-2023"]
    assert [f.rule for f in reports[0].findings][:1] == ["sum/income"]  # the seed report's own mismatch
    assert reports[1].findings == []


def test_validate_says_which_template_it_picked(written: Path) -> None:
    result = CliRunner().invoke(app, ["validate", "--json", str(written / "seed.xls")])

    document = json.loads(result.stdout)
    assert (result.exit_code, document["template"], document["status"]) == (0, "national-2023", "passed")
    assert document["fiscal_year"] == 2023


def _bundle(path: Path, members: list[Path], names: list[str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        for member, name in zip(members, names or [m.name for m in members], strict=True):
            bundle.write(member, name)
        bundle.writestr("__MACOSX/._公开01表.xls", b"resource fork")  # what a Mac's archiver adds
    return path


@pytest.mark.parametrize("suffix", [".xls", ".xlsx"])
def test_nine_workbooks_sent_together_in_one_zip_are_one_submission(tmp_path: Path, suffix: str) -> None:
    members = write_national_separate(national_seed_figures(), tmp_path / "tables", suffix)
    assert len(members) == 9

    read, report = _checked(_bundle(tmp_path / "2023-决算公开表.zip", members))

    assert (read.template, report.status, report.findings) == ("national-2023", "passed", [])
    assert read.sheets["t8"] == "公开08表" and read.cover["bureau_name"].value == DEPARTMENT


def test_one_table_alone_lacks_the_others(tmp_path: Path) -> None:
    [first, *_] = write_national_separate(national_seed_figures(), tmp_path)

    read, report = _checked(first)

    assert read.template == "national-2023"
    assert {f.rule for f in report.findings} >= {"required/sheet"}


def test_a_bundle_names_the_member_it_cannot_read_and_keeps_clashing_sheets_apart(tmp_path: Path) -> None:
    members = write_national_separate(national_seed_figures(), tmp_path / "tables", ".xls")
    broken = tmp_path / "公开09表.xls"
    broken.write_bytes(b"not a workbook at all, just text\n")
    wrong = _bundle(tmp_path / "wrong.zip", [*members[:8], broken])
    _, report = _checked(wrong)
    assert report.status == "unreadable"
    assert "压缩包内的 公开09表.xls" in report.findings[0].message

    twice = _bundle(tmp_path / "twice.zip", [members[0], members[0]], ["公开01表.xls", "再报/公开01表.xls"])
    assert [sheet.title for sheet in open_grid(twice).sheets] == ["公开01表", "公开01表-公开01表"]


def test_a_zip_inside_a_bundle_is_not_opened(tmp_path: Path) -> None:
    members = write_national_separate(national_seed_figures(), tmp_path / "tables", ".xls")
    inner = _bundle(tmp_path / "inner.zip", members)
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as bundle:
        bundle.write(inner, "公开表.xlsx")  # a bundle in a workbook's clothing

    _, report = _checked(outer)

    assert report.status == "unreadable" and "压缩包内的 公开表.xlsx" in report.findings[0].message


def test_the_samples_command_writes_the_national_tables(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["samples", "--format", "national-2023", str(tmp_path)])

    assert result.exit_code == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert "national-seed.xls" in written and "national-seed.xlsx" in written
    assert (tmp_path / "national-seed.xls").read_bytes()[:8] == bytes.fromhex("D0CF11E0A1B11AE1")  # BIFF8 in OLE2
    assert len(written) == 10
    refused = CliRunner().invoke(app, ["samples", "--format", "national-2024", str(tmp_path)])
    assert refused.exit_code == 2


@pytest.fixture
def registered(intake: Intake) -> Iterator[Intake]:  # noqa: F811  (the fixture imported above)
    import_registry(intake.engine, [RegistryEntry(SEED_CODE, DEPARTMENT, "kgxj@example.cn")], {})
    yield intake


def test_the_intake_loads_national_tables_as_the_registered_bureau_named_in_them(
    registered: Intake, written: Path
) -> None:
    registered.deliver_bytes("2023-决算公开表.xls", (written / "seed.xls").read_bytes())
    registered.run()
    registered.deliver_bytes("2023-决算公开表-改.xlsx", (written / "fund-balance.xlsx").read_bytes())
    registered.run()

    first, second = registered.submissions()
    assert (first.file_name, second.file_name) == ("2023-决算公开表.xls", "2023-决算公开表-改.xlsx")
    assert (first.template, first.bureau_code, first.fiscal_year, first.version) == (
        "national-2023",
        SEED_CODE,
        2023,
        1,
    )
    assert (second.version, second.is_current, second.status) == (2, True, "failed")
    assert second.email == "kgxj@example.cn"  # the registry's address: the failure alert reaches the bureau
    values = registered.values_of(first.id, "t3")
    assert values[("2150501", "basic")].number == D("452.63")
    assert (values[("2150501", "name")].text, values[("2150501", "basic")].cell) == ("行政运行", "D30")
    assert values[("total", "total")].number == D("11658.78")
    t7 = registered.values_of(first.id, "t7")
    assert (t7[("reception", "actual")].number, t7[("reception", "actual")].title) == (D("11.84"), "公开07表")
    assert registered.count(SheetValue) > 400


def test_its_outputs_and_period_report_come_from_the_national_tables(registered: Intake, written: Path) -> None:
    registered.deliver_bytes("2023-决算公开表.xls", (written / "fund-balance.xls").read_bytes())
    registered.run()

    [done] = pipeline.repair_outputs(registered.settings, registered.engine)
    report = period_report(registered.engine, 2023, default_templates())

    assert done.problem is None and done.outputs.workbook is not None
    assert done.outputs.workbook.suffix == ".xlsx"  # an .xls submission's annotated copy
    copy = openpyxl.load_workbook(done.outputs.workbook)
    assert copy["公开08表"]["H7"].comment is not None
    assert "年末结转和结余" in done.outputs.page.read_text(encoding="utf-8")
    [line] = report.lines
    assert (line.code, line.status, line.version) == (SEED_CODE, "failed", 1)
    assert (line.income_total, line.expense_total) == (D("11658.78"), D("11658.78"))
    assert (line.three_public_budget, line.three_public_actual) == (D(12), D("11.84"))
    assert line.budget_total is None and line.self_total is None  # the national tables have no such figures


def test_the_intake_takes_a_zip_of_the_nine_tables_as_one_submission(registered: Intake, tmp_path: Path) -> None:
    members = write_national_separate(national_seed_figures(), tmp_path / "tables", ".xls")
    registered.deliver_bytes("2023-科工信局-决算公开表.zip", _bundle(tmp_path / "b.zip", members).read_bytes())

    [outcome] = registered.run()

    [submission] = registered.submissions()
    assert (outcome.outcome, submission.template, submission.status) == ("loaded", "national-2023", "passed")
    assert (submission.bureau_code, submission.fiscal_year, submission.version) == (SEED_CODE, 2023, 1)
    assert registered.values_of(submission.id, "t9")[("2230105", "total")].number == D(8)


def test_a_table_in_another_unit_than_the_others_is_an_error(written: Path, tmp_path: Path) -> None:
    book = openpyxl.load_workbook(written / "seed.xlsx")
    book["公开07表"]["G3"].value = "金额单位：元"
    path = tmp_path / "yuan.xlsx"
    book.save(path)

    _, report = _checked(path)

    [mixed] = [f for f in report.findings if f.rule == "format/mixed-unit"]
    assert (mixed.severity, mixed.sheet, mixed.cells) == ("error", "公开07表", ("G3",))
    assert "元" in mixed.message and "万元" in mixed.message


def test_a_national_workbook_in_yuan_is_kept_in_wan_yuan_whatever_the_table(written: Path, tmp_path: Path) -> None:
    book = openpyxl.load_workbook(written / "seed.xlsx")
    for sheet in book.worksheets:  # every table says 单位：元 (the short form), and its amounts are in 元
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith("金额单位"):
                    cell.value = "单位：元"
                elif isinstance(cell.value, int | float) and cell.row > 6 and cell.data_type == "n":
                    cell.value = round(cell.value * 10000, 2)
    path = tmp_path / "yuan.xlsx"
    book.save(path)
    read, report = _checked(path)
    assert (read.unit, read.cover["bureau_name"].value, report.findings) == ("元", DEPARTMENT, [])

    rows = typed_rows(read, report.findings, default_templates())[SheetValue].as_dicts()

    stored = {(r["sheet"], r["row"], r["column"]): r["number"] for r in rows}
    assert stored[("t3", "2150501", "basic")] == D("452.63")  # a code table's amount, in 万元
    assert stored[("t1_income", "inc_total", "amount")] == D("11658.78")
    assert ("t3", "2150501", "code") not in stored  # the code is the row key


def test_a_table_named_by_its_sheet_ends_where_the_next_table_on_it_starts(written: Path, tmp_path: Path) -> None:
    stacked = openpyxl.load_workbook(written / "stacked.xlsx")
    stacked.worksheets[0].title = "公开01表"  # the stacked sheet named after its first table
    path = tmp_path / "named.xlsx"
    stacked.save(path)

    read, report = _checked(path)

    assert report.findings == []
    assert {item.row_key for item in read.lists["t9"]} == {"total", "223", "22301", "2230105"}


def test_a_bundle_passes_over_lock_files_and_documents_beside_the_tables(tmp_path: Path) -> None:
    members = write_national_separate(national_seed_figures(), tmp_path / "tables", ".xls")
    notes = tmp_path / "说明.pdf"
    notes.write_bytes(b"%PDF-1.4 notes")
    lock = tmp_path / "lock"
    lock.write_bytes(b"\x00owner")
    names = [m.name for m in members] + ["说明.pdf", "~$公开01表.xls"]
    path = _bundle(tmp_path / "with-notes.zip", [*members, notes, lock], names)

    _, report = _checked(path)

    assert (report.status, report.findings) == ("passed", [])
