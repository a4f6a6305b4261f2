"""The period report's last year beside this year, its roll-up by 主管部门, and `budgetflow report --by parent`.

Every test that reads a database runs against a real SQLite file and a real PostgreSQL database (the
`migrated_database_url` fixture), with real workbooks loaded through the intake's own functions
(`intake.pipeline` and `models.store`, in the order the intake flow calls them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from budgetflow.cli import app
from checks.period import Amounts, BureauLine, PeriodReport, change, parent_lines
from checks.template import templates_for, with_bundled
from config.settings import Settings
from flows.period_report import parents_markdown
from intake import pipeline
from models.database import engine_for, upgrade
from models.reporting import import_registry, parse_registry
from models.reporting import period_report as read_period
from models.store import LoadOutcome, finish_run, start_run
from reports.period import html_page, write_workbook
from tests.test_store import settings_for
from workbooks.samples import BureauFigures, clean_figures, seed_figures, warnings_figures
from workbooks.samples import write_workbook as write_book

D = Decimal
SEED, EDUCATION, HEALTH, CIVIL = "430981-013", "430981-021", "430981-035", "430981-071"
runner = CliRunner()


@dataclass
class County:
    """A data directory and a migrated database that workbooks are loaded into as the intake loads them."""

    settings: Settings
    engine: Engine
    delivered: int = 0  # files dropped so far: each gets a name of its own, as a bureau's new version would

    def load(self, *figures: BureauFigures) -> list[LoadOutcome]:
        """The workbooks dropped into the inbox, then start_run → receive → read_and_check → load_all →
        finish_run; read here, file by file (no worker processes for a handful of files)."""
        for each in figures:
            self.delivered += 1
            write_book(each, self.settings.inbox_dir / f"{each.year}-{each.code}-{self.delivered}.xlsx")
        run_id = start_run(self.engine, str(self.settings.inbox_dir), None)
        received = pipeline.receive(self.settings.inbox_dir, self.settings, self.engine, run_id)
        batch = pipeline.read_and_check(received.claimed, self.settings, isolated=False)
        outcomes = pipeline.load_all(self.engine, run_id, batch.items, self.settings)
        finish_run(self.engine, run_id, received.files_seen, outcomes)
        return outcomes

    def register(self, tmp_path: Path, registry: str) -> None:
        path = tmp_path / "bureaus.yaml"
        path.write_text(registry, encoding="utf-8")
        import_registry(self.engine, *parse_registry(path))

    def report(self, year: int) -> PeriodReport:
        return read_period(self.engine, year, with_bundled(templates_for(self.settings.template)))


@pytest.fixture
def county(tmp_path: Path, migrated_database_url: str) -> Iterator[County]:
    upgrade(migrated_database_url)
    engine = engine_for(migrated_database_url)
    yield County(settings_for(tmp_path / "var", migrated_database_url), engine)
    engine.dispose()


def with_totals(figures: BureauFigures, income: str, three_public_actual: str) -> BureauFigures:
    """The figures with another income total (全年执行数) and 三公 actual: the report reads those two cells."""
    before, budget, _ = figures.summary["inc_total"]
    tp_budget, _ = figures.three_public["total"]
    return replace(
        figures,
        summary={**figures.summary, "inc_total": (before, budget, D(income))},
        three_public={**figures.three_public, "total": (tp_budget, D(three_public_actual))},
    )


def line_of(report: PeriodReport, code: str) -> BureauLine:
    return next(line for line in report.lines if line.code == code)


def health_unit(year: int = 2023, parent: str = "沅江市教育局") -> BureauFigures:
    return replace(warnings_figures(), year=year, parent=parent)


# --- last year beside this year ---------------------------------------------------------------------


def test_each_amount_stands_beside_the_current_version_of_last_year_and_its_change_in_percent(
    county: County, tmp_path: Path
) -> None:
    last_year = replace(clean_figures(), year=2022)
    county.load(with_totals(last_year, "40000.00", "30.00"))
    county.load(with_totals(last_year, "50000.00", "20.00"))  # version 2 of 2022: the current one
    county.load(clean_figures(), seed_figures())  # 2023: 56831.15 and 23.55; the seed bureau's first year

    report = county.report(2023)

    education, seed = line_of(report, EDUCATION), line_of(report, SEED)
    assert education.income_total == D("56831.15") and education.three_public_actual == D("23.55")
    assert education.last_year is not None
    assert education.last_year_of("income_total") == D("50000.00")
    assert education.last_year_of("three_public_actual") == D("20.00")
    assert education.last_year_of("expense_total") == D("56331.15")  # the cell the template names, as this year
    assert education.change("income_total") == D("13.66")  # 6831.15 ÷ 50000
    assert education.change("three_public_actual") == D("17.75")  # 3.55 ÷ 20
    assert education.change("expense_total") == D("0.00")
    for value in (education.last_year_of("income_total"), education.change("income_total")):
        assert isinstance(value, Decimal)
    # a bureau without a version last year: no figure and no change, not 0
    assert seed.income_total == D("11658.78")
    assert seed.last_year is None
    assert seed.last_year_of("income_total") is None and seed.change("income_total") is None
    # the county: this year's total against the bureaus' last year (the seed then added nothing)
    assert report.last_year_total("income_total") == D("50000.00")
    assert report.total_change("income_total") == D("36.98")  # (56831.15 + 11658.78 − 50000) ÷ 50000
    assert county.report(2022).last_year_total("income_total") is None  # nobody submitted 2021

    path = write_workbook(report, tmp_path / "period.xlsx")
    summary = openpyxl.load_workbook(path)["汇总"]
    headers = {str(cell.value): cell.column for cell in summary[4] if cell.value is not None}
    rows = {summary.cell(row, 1).value: row for row in range(5, 5 + len(report.lines))}
    assert headers["上年收入合计"] == headers["收入合计"] + 1 and headers["收入增减(%)"] == headers["收入合计"] + 2
    education_row = [
        summary.cell(rows[EDUCATION], headers[h]).value for h in ("收入合计", "上年收入合计", "收入增减(%)")
    ]
    assert education_row == [56831.15, 50000.0, 13.66]
    assert summary.cell(rows[EDUCATION], headers["三公决算增减(%)"]).value == 17.75
    assert summary.cell(rows[EDUCATION], headers["上年收入合计"]).number_format == "#,##0.00"
    assert summary.cell(rows[EDUCATION], headers["收入增减(%)"]).number_format == "0.00"
    assert [summary.cell(rows[SEED], headers[h]).value for h in ("上年收入合计", "收入增减(%)")] == [None, None]
    total = 5 + len(report.lines)
    assert summary.cell(total, headers["上年收入合计"]).value == 50000.0
    assert summary.cell(total, headers["收入增减(%)"]).value == 36.98
    page = html_page(report)
    assert "<th>上年收入合计</th><th>收入增减(%)</th>" in page
    assert '<td class="num">56,831.15</td><td class="num">50,000.00</td><td class="num">+13.66</td>' in page


def test_the_change_is_a_percent_of_last_years_size_and_none_without_both_years_or_from_zero() -> None:
    assert change(D("90"), D("120")) == D("-25.00")
    assert change(D("-50"), D("-100")) == D("50.00")  # a deficit that halves is up
    assert change(D("10"), D("0")) is None
    assert change(None, D("10")) is None and change(D("10"), None) is None


# --- the roll-up by 主管部门 -------------------------------------------------------------------------

REGISTRY = f"""\
bureaus:
  - {{code: {EDUCATION}, name: 沅江市教育局}}
  - {{code: {SEED}, name: 沅江市科学技术和工业信息化局}}
  - {{code: {HEALTH}, name: 沅江市卫生健康局}}
  - {{code: {CIVIL}, name: 沅江市民政局, parent: "{EDUCATION}"}}
"""


def test_the_units_of_a_parent_named_by_name_or_code_are_counted_and_their_amounts_summed_both_years(
    county: County, tmp_path: Path
) -> None:
    county.register(tmp_path, REGISTRY)  # 民政局's 主管部门 by code; it never submits
    county.load(health_unit(2022))  # last year: the health unit only
    # this year two units name the education bureau on their covers, one with a space in it
    county.load(replace(seed_figures(), parent="沅江市 教育局"), health_unit(), clean_figures())

    parents = {parent.label: parent for parent in county.report(2023).by_parent}

    assert set(parents) == {"沅江市教育局", "沅江市人民政府"}
    education = parents["沅江市教育局"]
    assert (education.code, education.name) == (EDUCATION, "沅江市教育局")  # a registered bureau: named
    assert (education.units, education.submitted) == (3, 2)  # seed and health submitted; 民政局 not
    assert education.this_year.of("income_total") == D("11658.78") + D("56831.15")
    assert education.this_year.of("expense_total") == D("11658.78") + D("57031.15")
    assert education.this_year.of("three_public_actual") == D("11.84") + D("23.55")
    assert education.last_year.of("income_total") == D("56831.15")  # the health unit's 2022
    assert education.change("income_total") == D("20.51")  # 11658.78 ÷ 56831.15
    assert isinstance(education.this_year.of("income_total"), Decimal)
    government = parents["沅江市人民政府"]  # the education bureau's own 主管部门, not registered: as written
    assert (government.code, government.name, government.units, government.submitted) == (None, None, 1, 1)
    assert government.this_year.of("income_total") == D("56831.15")
    assert government.last_year == Amounts()  # none of its units submitted last year

    path = write_workbook(county.report(2023), tmp_path / "period.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames[:2] == ["汇总", "按主管部门汇总"]
    rolled = book["按主管部门汇总"]
    headers = [cell.value for cell in rolled[1]]
    assert headers[:7] == ["主管部门", "主管部门编码", "单位数", "已报送", "收入合计", "上年收入合计", "收入增减(%)"]
    rows = {row[0]: row for row in rolled.iter_rows(min_row=2, values_only=True)}
    assert rows["沅江市教育局"][:7] == ("沅江市教育局", EDUCATION, 3, 2, 68489.93, 56831.15, 20.51)
    assert rows["沅江市人民政府"][:6] == ("沅江市人民政府", None, 1, 1, 56831.15, None)
    page = html_page(county.report(2023))
    assert "<h2>按主管部门汇总</h2>" in page and "68,489.93" in page
    markdown = parents_markdown(county.report(2023))
    assert markdown[0] == "## 按主管部门汇总"
    assert "| 沅江市教育局 | 3 | 2 | 68,489.93 | 56,831.15 | +20.51 |" in "\n".join(markdown)


def test_a_registry_entry_gives_its_parent_and_one_without_keeps_the_bureaus_own(tmp_path: Path) -> None:
    csv_file = tmp_path / "bureaus.csv"
    csv_file.write_text(
        f"code,name,email,parent\n{HEALTH},沅江市卫生健康局,,沅江市  人民政府\n{CIVIL},沅江市民政局,,\n",
        encoding="utf-8",
    )

    entries, _ = parse_registry(csv_file)

    assert [(entry.code, entry.parent) for entry in entries] == [(HEALTH, "沅江市 人民政府"), (CIVIL, None)]


def test_units_without_a_parent_come_last_and_a_code_is_matched_before_a_name() -> None:
    lines = [
        BureauLine("100", "甲局", "passed", 1, income_total=D("1.10"), parent="200"),
        BureauLine("200", "乙局", "passed", 1, income_total=D("2.20")),
        BureauLine("300", "200", income_total=None, parent=" 2 0 0 "),  # named like 乙局's code: still 乙局's unit
    ]

    parents = parent_lines(lines)

    assert [(p.label, p.code, p.units, p.submitted) for p in parents] == [
        ("乙局", "200", 2, 1),
        ("（未填主管部门）", None, 1, 1),
    ]
    assert parents[0].this_year.of("income_total") == D("1.10")
    assert parents[1].parent is None and parents[1].this_year.of("income_total") == D("2.20")


# --- budgetflow report --by parent -------------------------------------------------------------------


@pytest.fixture
def cli_county(county: County, migrated_database_url: str, monkeypatch: pytest.MonkeyPatch) -> County:
    """The command line pointed at the county's data folder and database, as an operator's environment would."""
    monkeypatch.setenv("BUDGETFLOW_DATA_DIR", str(county.settings.data_dir))
    monkeypatch.setenv("BUDGETFLOW_DATABASE_URL", migrated_database_url)
    monkeypatch.setenv("COLUMNS", "240")
    return county


def test_budgetflow_report_by_parent_prints_the_roll_up_from_the_database_as_a_table_and_as_json(
    cli_county: County, tmp_path: Path
) -> None:
    cli_county.register(tmp_path, REGISTRY)
    cli_county.load(health_unit(2022))
    cli_county.load(replace(seed_figures(), parent="沅江市教育局"), health_unit(), clean_figures())

    table = runner.invoke(app, ["report", "--year", "2023", "--by", "parent"])
    as_json = runner.invoke(app, ["report", "--year", "2023", "--by", "parent", "--json"])

    assert table.exit_code == 0, table.output
    assert "2023 年度按主管部门汇总" in table.stdout
    education_row = next(line for line in table.stdout.splitlines() if "沅江市教育局" in line)
    cells = [cell.strip() for cell in education_row.strip("│ ").split("│")]
    assert cells[:7] == ["沅江市教育局", EDUCATION, "3", "2", "68,489.93", "56,831.15", "+20.51"]
    assert not (cli_county.settings.reports_dir / "period").exists()  # printed, not written: no flow ran
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    assert (document["fiscal_year"], document["previous_year"]) == (2023, 2022)
    education = next(parent for parent in document["parents"] if parent["code"] == EDUCATION)
    assert education == {
        "parent": "沅江市教育局",
        "code": EDUCATION,
        "name": "沅江市教育局",
        "units": 3,
        "submitted": 2,
        "this_year": {
            "income_total": "68489.93",
            "expense_total": "68689.93",
            "budget_total": education["this_year"]["budget_total"],
            "three_public_budget": str(D("12") + D("26.5")),  # as the database gives the scale
            "three_public_actual": "35.39",
        },
        "last_year": education["last_year"] | {"income_total": "56831.15", "three_public_actual": "23.55"},
        "change_percent": education["change_percent"] | {"income_total": "20.51"},
    }


@pytest.mark.parametrize(
    ("options", "says"),
    [(["--json"], "--json 只用于 --by parent"), (["--by", "parent", "--out", "x"], "去掉 --out")],
)
def test_budgetflow_report_refuses_json_without_by_and_a_folder_with_it(
    options: list[str], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUDGETFLOW_DATA_DIR", str(tmp_path / "var"))

    result = runner.invoke(app, ["report", "--year", "2023", *options])

    assert result.exit_code == 2
    assert says in result.stderr


def test_the_county_totals_count_a_parents_units_and_not_its_consolidated_workbook_again() -> None:
    from checks.period import BureauLine, PeriodReport

    parent = BureauLine("P", "沅江市教育系统", status="passed", version=1, income_total=Decimal("300"))
    units = [
        BureauLine(
            "U1", "沅江市教育局", status="passed", version=1, income_total=Decimal("100"), parent="沅江市教育系统"
        ),
        BureauLine("U2", "沅江市第一中学", status="passed", version=1, income_total=Decimal("200"), parent="P"),
    ]
    other = BureauLine("X", "沅江市卫生健康局", status="passed", version=1, income_total=Decimal("50"))
    report = PeriodReport(2023, [parent, *units, other])
    assert report.consolidating == {"P"}
    assert report.total("income_total") == Decimal("350")  # 100 + 200 + 50, not the 300 again
    alone = PeriodReport(2023, [parent, BureauLine("U1", "沅江市教育局", parent="P"), other])
    assert alone.total("income_total") == Decimal("350")  # no unit has submitted: the parent's own figures count
