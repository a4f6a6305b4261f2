"""A template may have sheets of its own: they are read, checked by their rules, and kept in the long table."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import openpyxl
import yaml

from checks.template import load_template
from checks.validate import validate_batch
from models.rows import typed_rows
from models.tables import SheetValue
from workbooks.reader import read_submission
from workbooks.samples import build_workbook, seed_figures, workbook_bytes

BUNDLED = Path(__file__).parents[1] / "checks" / "templates" / "spec-v1.yaml"

ASSETS = {
    "title": "资产情况表",
    "kind": "grid",
    "label_header": "项目",
    "columns": {"opening": {"label": "年初数"}, "closing": {"label": "年末数"}},
    "rows": {
        "current": {"label": "流动资产", "required": True},
        "fixed": {"label": "固定资产", "required": True},
        "intangible": {"label": "无形资产"},
        "total": {"label": "资产合计", "required": True},
    },
}
ASSET_SUM = {
    "id": "sum/assets",
    "kind": "sum",
    "table": "assets",
    "total": "total",
    "parts": ["current", "fixed", "intangible"],
    "columns": ["opening", "closing"],
    "severity": "error",
    "title": "资产合计与各项资产之和不符",
    "message": "{column_label}：资产合计 {actual} 与各项资产之和 {expected} 不符，相差 {difference}",
}


def _province_template(tmp_path: Path) -> Path:
    document = yaml.safe_load(BUNDLED.read_text(encoding="utf-8"))
    document["name"] = "province-assets"
    document["sheets"]["assets"] = ASSETS
    document["rules"].append(ASSET_SUM)
    path = tmp_path / "province.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def _workbook_with_assets(path: Path, closing_total: int) -> Path:
    book = build_workbook(seed_figures())
    sheet = book.create_sheet("资产情况表")
    sheet.append(["项目", "年初数", "年末数"])
    for row in (
        ["流动资产", 100, 120],
        ["固定资产", 300, 280.5],
        ["无形资产", 5, 4.5],
        ["资产合计", 405, closing_total],
    ):
        sheet.append(row)
    path.write_bytes(workbook_bytes(book))
    return path


def test_a_sheet_of_the_templates_own_is_read_checked_and_its_finding_names_the_cell(tmp_path: Path) -> None:
    template = load_template(_province_template(tmp_path))
    good = _workbook_with_assets(tmp_path / "good.xlsx", 405)
    bad = _workbook_with_assets(tmp_path / "bad.xlsx", 415)

    reads = [read_submission(path, template) for path in (good, bad)]
    reports = validate_batch(reads, template)

    assert reads[0].grids["assets"][("fixed", "closing")].value == Decimal("280.5")
    assert reads[0].sheets["assets"] == "资产情况表"
    assert [f for f in reports[0].findings if f.rule == "sum/assets"] == []
    [finding] = [f for f in reports[1].findings if f.rule == "sum/assets"]
    assert (finding.sheet, finding.cells[0]) == ("资产情况表", "C5")
    assert "年末数" in finding.message and "405" in finding.message


def test_a_missing_sheet_of_the_templates_own_is_a_finding(tmp_path: Path) -> None:
    template = load_template(_province_template(tmp_path))
    path = tmp_path / "without.xlsx"
    path.write_bytes(workbook_bytes(build_workbook(seed_figures())))

    [report] = validate_batch([read_submission(path, template)], template)

    assert any(f.rule == "required/sheet" and "资产情况表" in f.message for f in report.findings)


def test_its_values_go_into_the_long_table_with_sheet_row_column_and_cell(tmp_path: Path) -> None:
    template = load_template(_province_template(tmp_path))
    read = read_submission(_workbook_with_assets(tmp_path / "good.xlsx", 405), template)
    [report] = validate_batch([read], template)

    rows = typed_rows(read, report.findings, template)[SheetValue].as_dicts()

    assets = {(r["row"], r["column"]): (r["number"], r["cell"], r["title"]) for r in rows if r["sheet"] == "assets"}
    assert assets[("fixed", "closing")] == (Decimal("280.5"), "C3", "资产情况表")
    assert len(assets) == 8
    assert openpyxl.load_workbook(tmp_path / "good.xlsx")["资产情况表"]["C3"].value == 280.5
