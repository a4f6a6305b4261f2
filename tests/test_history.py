"""Checks between submissions: carry-over and change against the bureau's previous year, explanations by the bureau
and by an operator, and consolidation of a 主管部门's units; pure functions first, then real intakes on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from budgetflow.cli import app
from checks.findings import Finding, Severity, Status
from checks.history import (
    CARRY_OVER,
    CHANGE,
    CONSOLIDATION,
    Compared,
    Explanation,
    Figure,
    explained,
    history_findings,
    reference_of,
)
from checks.template import TemplateError, default_templates, load_template
from models.cross_checks import NotExplainable, explain_warning
from models.database import session_scope
from models.queries import report_of
from models.reporting import RegistryEntry, import_registry, parse_registry, period_report
from models.store import LoadOutcome
from models.tables import Alert, FindingRecord, Submission
from models.tables import Explanation as ExplanationRow
from reports.html import grouped_by_sheet, render
from tests.support import check_one
from tests.test_store import Intake, intake, reading_workers  # noqa: F401  (fixtures)
from workbooks.national_samples import national_seed_figures, write_national_xls, write_national_xlsx
from workbooks.samples import BureauFigures, clean_figures, write_workbook

D = Decimal
V1 = load_template("spec-v1")
NATIONAL = load_template("national-2023")
CLEAN_CODE = "430981-021"


def _figure(number: str, cell: str = "D21", title: str = "收支总表") -> Figure:
    return Figure(D(number), cell, title)


def _last(figures: dict[tuple[str, str, str], Figure]) -> Compared:
    return Compared("沅江市教育局", 2022, "教育局2022.xlsx", 2, figures)


# --- pure ------------------------------------------------------------------------------------------


def test_a_carry_over_that_does_not_join_is_an_error_on_this_years_cell_naming_last_years_value_and_file() -> None:
    this = {("summary", "carry_in", "actual"): _figure("300.00", "D21")}
    last = _last({("summary", "carry_out", "actual"): _figure("500.00", "D22")})
    [finding] = history_findings(V1, this, last)
    assert (finding.rule, finding.severity, finding.sheet, finding.cells) == (CARRY_OVER, "error", "收支总表", ("D21",))
    assert (finding.expected, finding.actual) == ("500", "300")
    assert "2022 年度，第 2 版，文件 教育局2022.xlsx" in finding.message and "500.00" in finding.message


def test_carry_over_compares_only_what_both_years_filled_within_the_tolerance() -> None:
    this = {("summary", "carry_in", "actual"): _figure("500.004")}
    last = _last(
        {("summary", "carry_out", "actual"): _figure("500.00"), ("summary", "carry_out", "budget_full"): _figure("9")}
    )
    assert history_findings(V1, this, last) == []


def test_a_national_code_table_carries_over_row_by_row() -> None:
    this = {("t8", "2120801", "carry_in"): _figure("10", "C9", "公开08表"), ("t8", "total", "carry_in"): _figure("10")}
    last = _last(
        {("t8", "2120801", "carry_out"): _figure("12", "H9", "公开08表"), ("t8", "total", "carry_out"): _figure("10")}
    )
    [finding] = history_findings(NATIONAL, this, last)
    assert (finding.rule, finding.sheet, finding.cells, finding.expected) == (CARRY_OVER, "公开08表", ("C9",), "12")


def test_an_amount_that_moved_more_than_the_share_is_a_warning_giving_both_years() -> None:
    this = {
        ("three_public", "reception", "actual"): _figure("12.00", "C8", "三公经费"),
        ("three_public", "total", "actual"): _figure("29.20", "C9", "三公经费"),
    }
    last = _last(
        {
            ("three_public", "reception", "actual"): _figure("6.35"),
            ("three_public", "total", "actual"): _figure("23.55"),
        }
    )
    [finding] = history_findings(V1, this, last)
    assert (finding.rule, finding.severity, finding.cells) == (CHANGE, "warning", ("C8",))
    assert "+89.0%" in finding.message and "6.35" in finding.message and "12.00" in finding.message


def test_a_change_from_nothing_has_no_share_and_is_not_a_finding() -> None:
    this = {("summary", "inc_total", "actual"): _figure("100")}
    assert history_findings(V1, this, _last({("summary", "inc_total", "actual"): _figure("0")})) == []


def test_a_bureau_reference_names_a_rule_or_a_cell_with_or_without_its_sheet() -> None:
    assert reference_of("history/change", "新增接待任务", "单位") == Explanation(
        "新增接待任务", "单位", rule="history/change"
    )
    assert reference_of(" 三公经费!$c$8 ", "x", "单位") == Explanation("x", "单位", cell="C8", sheet="三公经费")
    assert reference_of("C8", "", "单位") is None  # no reason given: nothing explained
    assert reference_of("见附件", "x", "单位") is None


def test_an_explanation_marks_warnings_only_and_an_explained_warning_no_longer_counts() -> None:
    warning = Finding(CHANGE, Severity.WARNING, "变动超过", "三公经费", ("C8",))
    error = Finding(CARRY_OVER, Severity.ERROR, "不一致", "收支总表", ("D21",))
    marked = explained(
        [warning, error], [Explanation("新增接待任务", "单位情况说明", cell="C8"), Explanation("x", "y")]
    )
    assert [(f.rule, f.explanation) for f in marked] == [(CHANGE, "新增接待任务"), (CARRY_OVER, None)]
    assert marked[0].severity_text == "已说明" and not marked[0].counts
    with pytest.raises(ValueError, match="never explained"):
        error.explained("不改了", "经办人")


def test_a_template_whose_history_names_an_unknown_cell_is_refused_with_its_line(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[1] / "checks/templates/spec-v1.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    change = "    - summary.exp_total.actual\n    - three_public.total.actual"
    assert change in text
    broken.write_text(text.replace(change, "    - summary.nope.actual\n    - three_public.total.actual", 1), "utf-8")
    with pytest.raises(TemplateError, match=r"line \d+.*unknown row 'nope'"):
        load_template(broken)


# --- a real intake ---------------------------------------------------------------------------------


@pytest.fixture
def loaded(intake: Intake) -> Intake:  # noqa: F811  (the fixture imported above)
    """A data folder and a migrated database (SQLite, PostgreSQL) that real intakes load into."""
    return intake


def _year(year: int, **summary: tuple[Decimal | None, Decimal | None, Decimal | None]) -> BureauFigures:
    figures = clean_figures()
    return replace(figures, year=year, summary={**figures.summary, **summary})


LAST_YEAR = _year(2022, carry_out=(None, None, D("500.00")))
THIS_YEAR = _year(
    2023,
    carry_in=(None, None, D("300.00")),
    carry_out=(None, None, D("800.00")),  # 56831.15 + 300 = 56331.15 + 800: the year itself balances
)


def _history(loaded: Intake, submission_id: int | None) -> list[tuple[str, str, tuple[str, ...], str | None]]:
    return [
        (r.rule, r.severity, tuple(r.cells), r.explanation)
        for r in loaded.rows_of(FindingRecord, submission_id)
        if r.rule.startswith(("history/", "consolidation/"))
    ]


def test_intake_checks_this_year_against_last_years_current_version_and_a_new_version_of_last_year_rechecks_it(
    loaded: Intake,
) -> None:
    loaded.deliver("教育局2022.xlsx", LAST_YEAR)
    [last] = loaded.run()
    loaded.deliver("教育局2023.xlsx", THIS_YEAR)
    [this] = loaded.run()
    assert (last.status, this.status) == ("passed", "failed")
    assert [(f.rule, f.cells, f.expected) for f in this.findings] == [(CARRY_OVER, ("D19",), "500")]
    assert _history(loaded, this.submission_id) == [(CARRY_OVER, "error", ("D19",), None)]

    # last year again, its 年末 now 300: this year's current version is checked again and its error goes
    loaded.deliver("教育局2022-更正.xlsx", _year(2022, carry_out=(None, None, D("300.00"))))
    [corrected] = loaded.run()
    [recheck] = corrected.rechecks
    assert (recheck.submission_id, recheck.previous_status, recheck.status) == (this.submission_id, "failed", "passed")
    assert [f.rule for f in recheck.gone] == [CARRY_OVER] and recheck.appeared == ()
    with Session(loaded.engine) as session:
        again = session.get_one(Submission, this.submission_id)
        assert (again.status, again.error_count, again.outputs_at) == ("passed", 0, None)  # its page is due again
    assert _history(loaded, this.submission_id) == []


def test_this_year_first_then_last_year_the_carry_over_finding_appears_on_this_years_version(loaded: Intake) -> None:
    loaded.deliver("教育局2023.xlsx", THIS_YEAR)
    [this] = loaded.run()
    assert this.status == "passed"
    loaded.deliver("教育局2022.xlsx", LAST_YEAR)
    [last] = loaded.run()
    [recheck] = last.rechecks
    assert (recheck.submission_id, recheck.status, [f.rule for f in recheck.appeared]) == (
        this.submission_id,
        "failed",
        [CARRY_OVER],
    )
    assert _history(loaded, this.submission_id) == [(CARRY_OVER, "error", ("D19",), None)]
    # the bureau hears that its 2023 version no longer joins, once, as of any failed submission
    [alert] = loaded.rows_of(Alert, this.submission_id)
    assert alert.kind == "failed" and "history/carry-over" not in alert.body_text and "D19" in alert.body_text
    assert last.alert_id is None  # 2022 itself passed


def _with_notes(path: Path, *rows: tuple[str, str]) -> Path:
    """The bureau's 情况说明 sheet added to its workbook, as a clerk would add it."""
    book = openpyxl.load_workbook(path)
    sheet = book.create_sheet("情况说明")
    sheet.append(["规则或单元格", "说明"])
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path


# 2023 as 2022 but for 公务接待费: 12 spent of 12 against 6.35 (+89 %; the 三公 total +24 %, within the share)
RECEPTION_MOVED = replace(
    LAST_YEAR,
    year=2023,
    three_public={**LAST_YEAR.three_public, "reception": (D("12"), D("12.00")), "total": (D("30.5"), D("29.20"))},
)


def test_a_change_warning_explained_in_the_bureaus_notes_is_explained_and_the_status_stays_passed(
    loaded: Intake,
) -> None:
    loaded.deliver("教育局2022.xlsx", LAST_YEAR)
    loaded.run()
    loaded.deliver("教育局2023.xlsx", RECEPTION_MOVED)
    [warned] = loaded.run()
    assert (warned.status, [f.rule for f in warned.findings]) == ("warnings", [CHANGE])

    path = loaded.deliver("教育局2023-说明.xlsx", RECEPTION_MOVED)
    _with_notes(path, ("三公经费!C6", "本年承办全省现场会，接待任务增加"))
    [outcome] = loaded.run()
    assert outcome.status == "passed"
    [finding] = outcome.findings
    assert (finding.rule, finding.explanation) == (CHANGE, "本年承办全省现场会，接待任务增加")
    assert finding.explained_by is not None and finding.explained_by.startswith("单位情况说明")
    assert _history(loaded, outcome.submission_id) == [(CHANGE, "warning", ("C6",), "本年承办全省现场会，接待任务增加")]


def test_an_operator_explains_a_warning_with_who_and_when_and_cannot_explain_an_error(loaded: Intake) -> None:
    loaded.deliver("教育局2022.xlsx", LAST_YEAR)
    loaded.run()
    loaded.deliver("教育局2023.xlsx", RECEPTION_MOVED)
    [warned] = loaded.run()
    assert warned.submission_id is not None
    with session_scope(loaded.engine) as session:
        [finding] = explain_warning(session, warned.submission_id, CHANGE, "$c$6", "会议接待增加，已核实", "张科长")
    assert (
        finding.explanation == "会议接待增加，已核实"
        and finding.explained_by
        and finding.explained_by.startswith("张科长，")
    )
    with Session(loaded.engine) as session:
        stored = session.get_one(Submission, warned.submission_id)
        assert (stored.status, stored.warning_count, stored.outputs_at) == ("passed", 0, None)
        [row] = session.exec(select(ExplanationRow)).all()
        assert (row.rule, row.cell, row.explained_by) == (CHANGE, "C6", "张科长")
    report = report_of(loaded.engine, stored)
    assert report.status is Status.PASSED and report.explained == 1

    # a later version of last year checks this year again: the explanation still holds for the same finding
    loaded.deliver("教育局2022-2.xlsx", replace(LAST_YEAR, contact="赵六"))
    [again] = loaded.run()
    [reworded] = again.rechecks  # the same finding, explained as before, now naming the newer file of 2022
    assert (reworded.appeared, reworded.gone, reworded.status) == ((), (), "passed")
    assert _history(loaded, warned.submission_id) == [(CHANGE, "warning", ("C6",), "会议接待增加，已核实")]

    loaded.deliver("教育局2023-错.xlsx", THIS_YEAR)
    [failed] = loaded.run()
    assert failed.submission_id is not None
    with session_scope(loaded.engine) as session, pytest.raises(NotExplainable, match="错误须更正"):
        explain_warning(session, failed.submission_id, CARRY_OVER, "D19", "不改", "张科长")
    with session_scope(loaded.engine) as session, pytest.raises(NotExplainable, match="没有规则"):
        explain_warning(session, failed.submission_id, CHANGE, "Z99", "x", "张科长")


PARENT = replace(
    clean_figures(), name="沅江市教育系统", code="430981-020", email="jyxt@yuanjiang.example.cn", parent=""
)


def _unit(name: str, code: str) -> BureauFigures:
    return replace(clean_figures(), name=name, code=code, parent="沅江市教育系统")


def test_a_parents_own_workbook_is_compared_with_the_sum_of_its_units_once_every_unit_has_submitted(
    loaded: Intake, tmp_path: Path
) -> None:
    registry = tmp_path / "bureaus.yaml"
    registry.write_text(
        "bureaus:\n"
        "  - {code: 430981-020, name: 沅江市教育系统, email: jyxt@yuanjiang.example.cn}\n"
        "  - {code: 430981-021, name: 沅江市教育局, email: a@yuanjiang.example.cn, parent: 沅江市教育系统}\n"
        "  - {code: 430981-022, name: 沅江市第一中学, email: b@yuanjiang.example.cn, parent: 沅江市教育系统}\n",
        encoding="utf-8",
    )
    import_registry(loaded.engine, *parse_registry(registry))
    loaded.deliver("系统合并.xlsx", PARENT)
    loaded.deliver("教育局.xlsx", _unit("沅江市教育局", "430981-021"))
    outcomes = loaded.run()
    parent = next(o for o in outcomes if o.bureau_code == "430981-020")
    assert _history(loaded, parent.submission_id) == []  # 第一中学 has not submitted: no sum to compare yet

    loaded.deliver("一中.xlsx", _unit("沅江市第一中学", "430981-022"))
    [unit] = loaded.run()
    [recheck] = unit.rechecks
    assert (recheck.submission_id, recheck.status) == (parent.submission_id, "failed")
    found = [(f.rule, f.cells, f.expected, f.actual) for f in recheck.appeared]
    assert found[0] == (CONSOLIDATION, ("D10",), "113662.3", "56831.15")  # 本年收入合计: twice one unit's
    with Session(loaded.engine) as session:
        stored = session.get_one(Submission, parent.submission_id)
    message = report_of(loaded.engine, stored).findings[-1].message
    assert "沅江市教育局" in message and "沅江市第一中学" in message


def _two_years(loaded: Intake, this_year: BureauFigures, monkeypatch: pytest.MonkeyPatch) -> list[LoadOutcome]:
    """2022 loaded, then `this_year` (2023); the command line pointed at the same data folder and database."""
    loaded.deliver("教育局2022.xlsx", LAST_YEAR)
    loaded.run()
    loaded.deliver("教育局2023.xlsx", this_year)
    outcomes = loaded.run()
    monkeypatch.setenv("BUDGETFLOW_DATA_DIR", str(loaded.settings.data_dir))
    monkeypatch.setenv("BUDGETFLOW_DATABASE_URL", loaded.url)
    return outcomes


def test_show_json_prints_the_documents_findings_with_those_between_years(
    loaded: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    [this] = _two_years(loaded, THIS_YEAR, monkeypatch)
    shown = CliRunner().invoke(app, ["show", str(this.submission_id), "--json"])
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert (document["status"], document["bureau_code"], document["fiscal_year"]) == ("failed", CLEAN_CODE, 2023)
    assert [(f["rule"], f["cells"]) for f in document["findings"]] == [(CARRY_OVER, ["D19"])]


def test_validate_with_the_database_checks_a_file_against_last_year_and_explain_cli_refuses_an_error(
    loaded: Intake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    loaded.deliver("教育局2022.xlsx", LAST_YEAR)
    loaded.run()
    path = write_workbook(THIS_YEAR, tmp_path / "教育局2023.xlsx")
    without = CliRunner().invoke(app, ["validate", str(path), "--json"])
    assert json.loads(without.stdout)["status"] == "passed"
    checked = CliRunner().invoke(app, ["validate", str(path), "--json", "--database", loaded.url])
    assert checked.exit_code == 1, checked.output
    assert [(f["rule"], f["cells"]) for f in json.loads(checked.stdout)["findings"]] == [(CARRY_OVER, ["D19"])]

    loaded.deliver("教育局2023.xlsx", THIS_YEAR)
    [this] = loaded.run()
    monkeypatch.setenv("BUDGETFLOW_DATA_DIR", str(loaded.settings.data_dir))
    monkeypatch.setenv("BUDGETFLOW_DATABASE_URL", loaded.url)
    refused = CliRunner().invoke(app, ["explain", str(this.submission_id), CARRY_OVER, "D19", "--reason", "不改"])
    assert refused.exit_code == 2 and "错误须更正" in refused.output


def test_an_explanation_shows_on_the_page_the_annotated_copy_and_the_mail_once_the_operator_gives_it(
    loaded: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    [warned] = _two_years(loaded, RECEPTION_MOVED, monkeypatch)
    said = CliRunner().invoke(
        app, ["explain", str(warned.submission_id), CHANGE, "C6", "--reason", "承办全省现场会", "--by", "张科长"]
    )
    assert said.exit_code == 0, said.output
    assert "已说明" in said.output and "通过" in said.output

    folder = loaded.settings.reports_dir / "submissions"
    [page] = [p for p in folder.glob("*.html") if f"{warned.submission_id:06d}" in p.name or "2023" in p.name]
    html = page.read_text(encoding="utf-8")
    assert "已说明：承办全省现场会（张科长，" in html and "已说明 1" in html
    [copy] = [p for p in folder.glob("*.xlsx") if "2023" in p.name]
    book = openpyxl.load_workbook(copy)
    result = book.worksheets[0]
    rows = [[cell.value for cell in row] for row in result.iter_rows(min_row=4)]
    assert any(row[1] == "已说明" and "承办全省现场会" in str(row[5]) for row in rows)
    comment = book["三公经费"]["C6"].comment
    assert comment is not None and "[已说明] history/change" in comment.text

    with Session(loaded.engine) as session:
        stored = session.get_one(Submission, warned.submission_id)
    [line] = [line for line in period_report(loaded.engine, 2023, default_templates()).lines if line.code == CLEAN_CODE]
    assert (line.status, line.warnings, line.explained) == ("passed", 0, 1)
    groups = grouped_by_sheet(report_of(loaded.engine, stored).findings)
    mail = render(
        "alert.txt.j2",
        who="沅江市教育局",
        year=2023,
        file="教育局2023.xlsx",
        version=1,
        status_text="通过",
        groups=groups,
        unreadable=False,
        errors=0,
        warnings=0,
        bureau_reached=True,
    )
    assert "[已说明] C6" in mail and "承办全省现场会" in mail


def test_national_tables_carry_over_by_table_and_source_and_explain_a_change_in_their_notes(
    loaded: Intake, tmp_path: Path
) -> None:
    import_registry(loaded.engine, [RegistryEntry(NATIONAL_CODE, DEPARTMENT, "kgxj@example.cn")], {})
    seed = national_seed_figures()
    # 2022 closed with 5.00 carried over (the seed opens 2023 with 6.50), and spent 5.00 on 公务接待 (2023: 11.84)
    last_year = replace(
        seed,
        year=2022,
        table1=replace(seed.table1, expenditure={**seed.table1.expenditure, "carry_out": D("5.00")}),
        table7=replace(seed.table7, actual={**seed.table7.actual, "reception": D("5.00"), "total": D("5.00")}),
    )
    write_national_xls(last_year, tmp_path / "2022.xls")
    loaded.deliver_bytes("2022-决算公开表.xls", (tmp_path / "2022.xls").read_bytes())
    [last] = loaded.run()
    assert (last.bureau_code, last.fiscal_year) == (NATIONAL_CODE, 2022)

    write_national_xlsx(seed, tmp_path / "2023.xlsx")
    _with_notes(tmp_path / "2023.xlsx", ("history/change", "2023 年承办全省科技工作现场会，接待增加"))
    loaded.deliver_bytes("2023-决算公开表.xlsx", (tmp_path / "2023.xlsx").read_bytes())
    [this] = loaded.run()
    between = [(f.rule, f.severity, f.sheet, f.expected, f.explanation) for f in this.findings if "/" in f.rule]
    between = [found for found in between if found[0].startswith("history/")]
    assert between == [
        (CARRY_OVER, "error", "公开01表", "5", None),
        (CHANGE, "warning", "公开07表", "5", "2023 年承办全省科技工作现场会，接待增加"),
        (CHANGE, "warning", "公开07表", "5", "2023 年承办全省科技工作现场会，接待增加"),
    ]
    assert this.status == "failed" and this.warnings == 0  # the carry-over must be corrected; the change is explained
    # the bureau's mail lists both: the error to correct, and the change with its explanation (已说明)
    [alert] = loaded.rows_of(Alert, this.submission_id)
    assert "[错误]" in alert.body_text and "[已说明]" in alert.body_text and "接待增加" in alert.body_text


NATIONAL_CODE, DEPARTMENT = "430981-013", "沅江市科学技术和工业信息化局"


def test_the_runs_artifacts_say_which_findings_a_recheck_changed_and_show_an_explained_warning(loaded: Intake) -> None:
    from intake.pipeline import IntakeSummary
    from intake.summaries import artifact_markdown, recheck_lines, submission_markdown

    loaded.deliver("教育局2023.xlsx", THIS_YEAR)
    loaded.run()
    loaded.deliver("教育局2022.xlsx", LAST_YEAR)
    outcomes = loaded.run()
    summary = IntakeSummary(run_id=2, flow_run_id=None, inbox=str(loaded.inbox), outcomes=outcomes)
    [line] = recheck_lines(summary)
    assert "因 教育局2022.xlsx 重新校验 430981-021 2023 年度第 1 版" in line
    assert "新增 history/carry-over（D19）" in line and "状态 通过 → 未通过" in line
    assert "重新校验的已入库报表 1 份" in artifact_markdown(summary)

    loaded.deliver("教育局2023-说明.xlsx", RECEPTION_MOVED)
    path = loaded.inbox / "教育局2023-说明.xlsx"
    _with_notes(path, ("history/change", "接待任务增加"))
    [explained_outcome] = loaded.run()
    page = submission_markdown(summary, explained_outcome)
    assert "| C6 | 已说明 | history/change |" in page and "已说明：接待任务增加——单位情况说明" in page
    assert "已说明 1）" in page


def test_a_prose_note_sheet_is_left_to_people_and_a_full_width_reference_still_explains(tmp_path: Path) -> None:
    prose = _with_notes_text(
        write_workbook(clean_figures(), tmp_path / "prose.xlsx"), "我单位2023年度收支情况说明如下：……"
    )
    assert check_one(prose).flatten() == []  # no header of its own: not read, and nothing to fix
    assert reference_of("三公经费！Ｃ６", "x", "单位") == Explanation("x", "单位", cell="C6", sheet="三公经费")
    assert reference_of("History/Change", "x", "单位") == Explanation("x", "单位", rule="history/change")


def _with_notes_text(path: Path, text: str) -> Path:
    book = openpyxl.load_workbook(path)
    book.create_sheet("情况说明")["A1"] = text
    book.save(path)
    return path
