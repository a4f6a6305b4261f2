"""Sample submissions: the seed bureau's 2023 workbook and other bureaus, written with openpyxl.

`seed_figures()` holds the figures of the department report the project was born from
(`shared/seed/000_be10a066d638351f.txt`, 沅江市科学技术和工业信息化局); splits the report does not give
are synthetic and marked so. A `Layout` says how to write figures: the plain spec-v1 layout, or a
messy one (title rows, moved columns, shuffled rows and sheets, prefixed labels, text amounts, 元,
merged cells, uncached formulas) that must read the same.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from checks.template import Template, default_template

D = Decimal
Amounts = tuple[Decimal | None, ...]
FIXED_ZIP_TIME = (2024, 1, 1, 0, 0, 0)
_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*<")


@dataclass
class Project:
    name: str
    budget_initial: Decimal
    budget_full: Decimal
    actual: Decimal
    rate: str  # as stated, in percent: "98.38"
    source: str = "本级财政拨款"


@dataclass
class Indicator:
    level1: str
    level2: str
    name: str
    nature: str
    target: Decimal | str
    result: Decimal | str
    unit: str
    weight: Decimal
    score: Decimal
    analysis: str = "无"
    numerator: Decimal | None = None
    denominator: Decimal | None = None


@dataclass
class BureauFigures:
    """Everything one bureau submits, in 万元."""

    name: str
    code: str
    email: str
    year: int = 2023
    parent: str = "沅江市人民政府"
    contact: str = "李明"
    phone: str = "0737-2721234"
    submitted_on: str = "2024-03-15"
    summary: dict[str, Amounts] = field(default_factory=dict)  # 年初预算数, 全年预算数, 全年执行数
    three_public: dict[str, Amounts] = field(default_factory=dict)  # 预算数, 决算数
    projects: list[Project] = field(default_factory=list)
    project_total_rate: str | None = None
    indicators: list[Indicator] = field(default_factory=list)
    result: tuple[Decimal, Decimal, str] | None = None  # 预算执行率得分, 总分, 自评等级


@dataclass(frozen=True)
class Layout:
    """How figures are laid out in the workbook; the default is the plain spec-v1 layout."""

    unit: str = "万元"
    title_rows: int = 0
    leading_columns: int = 0  # columns before the label column (序号 …)
    extra_column: bool = False  # a 栏次 column between labels and amounts
    shuffle: bool = False  # rows, amount columns and sheets in another order
    messy_labels: bool = False  # prefixes, full-width characters, spaces, aliases
    amount_style: str = "number"  # number | text | fullwidth
    merged_levels: bool = False
    formula_totals: frozenset[str] = frozenset()  # summary/三公 row keys written as SUM formulas
    rate_style: str = "percent-format"  # percent-format | text | bare
    extra_sheet: bool = False


MESSY = Layout(
    title_rows=2,
    leading_columns=1,
    extra_column=True,
    shuffle=True,
    messy_labels=True,
    amount_style="text",
    merged_levels=True,
    formula_totals=frozenset({"exp_total", "exp_basic", "total"}),
    rate_style="text",
    extra_sheet=True,
)


def seed_figures() -> BureauFigures:
    """沅江市科学技术和工业信息化局, 2023: the figures of the seed report."""
    none = None
    return BureauFigures(
        name="沅江市科学技术和工业信息化局",
        code="430981-013",
        email="kgxj@yuanjiang.example.cn",
        summary={
            # 全年预算数 = 全年执行数: the report gives no adjusted budget (synthetic).
            "inc_general": (D("1160.21"), D("2439.23"), D("2439.23")),
            "inc_fund": (D("0"), D("118"), D("118")),
            "inc_soe": (D("0"), D("8"), D("8")),
            "inc_higher": (none, none, none),
            "inc_service": (none, none, none),
            "inc_business": (none, none, none),
            "inc_affiliate": (none, none, none),
            "inc_other": (D("0"), D("9093.55"), D("9093.55")),
            "inc_total": (D("1245.61"), D("11658.78"), D("11658.78")),
            "exp_basic": (D("699.94"), D("901.11"), D("901.11")),
            "exp_personnel": (D("651.94"), D("781.88"), D("781.88")),
            "exp_public": (D("48"), D("119.23"), D("119.23")),
            "exp_project": (D("460.27"), D("10757.67"), D("10757.67")),
            "exp_higher": (none, none, none),
            "exp_business": (none, none, none),
            "exp_affiliate": (none, none, none),
            "exp_total": (D("1160.21"), D("11658.78"), D("11658.78")),
            "carry_in": (none, none, none),
            "carry_out": (none, none, none),
        },
        three_public={
            "abroad": (D("0"), D("0")),
            "vehicle": (D("0"), D("0")),
            "vehicle_purchase": (D("0"), D("0")),
            "vehicle_running": (D("0"), D("0")),
            "reception": (D("12"), D("11.84")),
            "total": (D("12"), D("11.84")),
        },
        # Six projects of the report; 年初 totals 533.67 and 全年预算 460.27 as reported, split synthetic.
        projects=[
            Project("税收增量评价费", D("100.00"), D("80.00"), D("80.00"), "100.00"),
            Project("制造强省项目绩效管理", D("60.00"), D("50.00"), D("48.50"), "97.00"),
            Project("推进新型工业化考核费", D("120.00"), D("100.00"), D("100.00"), "100.00"),
            Project("科技三项费", D("150.00"), D("140.27"), D("138.00"), "98.38"),
            Project("企业改制及中小微企业创新创业大赛", D("53.67"), D("50.00"), D("49.00"), "98.00"),
            Project("破零倍增", D("50.00"), D("40.00"), D("40.00"), "100.00"),
        ],
        project_total_rate="98.96",
        indicators=[
            Indicator("产出指标", "数量指标", "新增规模以上工业企业", "≥", D(20), D(21), "家", D(10), D(10)),
            Indicator(
                "产出指标",
                "数量指标",
                "新增省级专精特新中小企业",
                "≥",
                D(10),
                D(9),
                "家",
                D(10),
                D(9),
                "部分企业未达申报条件；加强梯度培育",
            ),
            Indicator("产出指标", "数量指标", "新增高新技术企业", "≥", D(15), D(16), "家", D(10), D(10)),
            Indicator("产出指标", "数量指标", "新、改建5G基站", "≥", D(100), D(118), "个", D(5), D(5)),
            Indicator(
                "产出指标",
                "质量指标",
                "企业问题解决率",
                "≥",
                D(95),
                D("97.5"),
                "%",
                D(10),
                D(10),
                numerator=D(79),
                denominator=D(81),
            ),
            Indicator("产出指标", "时效指标", "研发费用归集指导企业", "≥", D(150), D(154), "家", D(5), D(5)),
            Indicator("效益指标", "经济效益指标", "规上工业增加值增速", "≥", D(6), D("6.1"), "%", D(10), D(10)),
            Indicator("效益指标", "经济效益指标", "工业技改投资增幅", "≥", D(20), D("54.7"), "%", D(10), D(10)),
            Indicator("效益指标", "社会效益指标", "招聘会实际入职人数", "≥", D(400), D(500), "人", D(10), D(10)),
            Indicator("满意度指标", "服务对象满意度指标", "企业满意度", "≥", D(90), D(95), "%", D(10), D(10)),
        ],
        result=(D(10), D(99), "优"),
    )


def clean_figures() -> BureauFigures:
    """沅江市教育局: consistent everywhere; passes."""
    figures = seed_figures()
    return replace(
        figures,
        name="沅江市教育局",
        code="430981-021",
        email="jyj@yuanjiang.example.cn",
        contact="王芳",
        summary={
            **figures.summary,
            "inc_general": (D("52340.50"), D("55210.80"), D("55210.80")),
            "inc_fund": (D("0"), D("1200"), D("1200")),
            "inc_soe": (D("0"), D("0"), D("0")),
            "inc_other": (D("310.00"), D("420.35"), D("420.35")),
            "inc_total": (D("52650.50"), D("56831.15"), D("56831.15")),
            "exp_basic": (D("41200.30"), D("42310.45"), D("42310.45")),
            "exp_personnel": (D("38950.10"), D("39880.25"), D("39880.25")),
            "exp_public": (D("2250.20"), D("2430.20"), D("2430.20")),
            "exp_project": (D("11450.20"), D("14520.70"), D("14020.70")),
            "exp_total": (D("52650.50"), D("56831.15"), D("56331.15")),
            "carry_out": (None, None, D("500.00")),
        },
        three_public={
            "abroad": (D("0"), D("0")),
            "vehicle": (D("18.5"), D("17.2")),
            "vehicle_purchase": (D("0"), D("0")),
            "vehicle_running": (D("18.5"), D("17.2")),
            "reception": (D("8"), D("6.35")),
            "total": (D("26.5"), D("23.55")),
        },
        projects=[
            Project("义务教育学生营养改善计划", D("3200.00"), D("3350.00"), D("3350.00"), "100.00"),
            Project("农村教师周转宿舍建设", D("1800.00"), D("2100.00"), D("1995.00"), "95.00"),
            Project("学前教育资助", D("650.20"), D("700.70"), D("700.70"), "100.00"),
        ],
        project_total_rate="98.29",
        result=(D("9.91"), D("98.91"), "优"),
    )


def warnings_figures() -> BureauFigures:
    """沅江市卫生健康局: only warnings — over-spent budget total, a deducted indicator score."""
    figures = clean_figures()
    summary = dict(figures.summary)
    summary["exp_project"] = (D("11450.20"), D("14520.70"), D("14720.70"))
    summary["exp_total"] = (D("52650.50"), D("56831.15"), D("57031.15"))
    summary["carry_in"] = (None, None, D("200.00"))
    summary["carry_out"] = (None, None, None)
    indicators = list(figures.indicators)
    indicators[2] = replace(indicators[2], score=D(8), analysis="部分企业认定材料迟报，酌情扣分")
    return replace(
        figures,
        name="沅江市卫生健康局",
        code="430981-035",
        email="wjj@yuanjiang.example.cn",
        summary=summary,
        indicators=indicators,
        result=(D(10), D(97), "优"),
    )


def errors_figures() -> BureauFigures:
    """沅江市农业农村局: several errors planted in a seed-like workbook."""
    figures = seed_figures()
    summary = dict(figures.summary)
    summary["inc_total"] = (D("1160.21"), D("11658.78"), D("11658.78"))
    summary["exp_basic"] = (D("699.94"), D("901.11"), D("911.11"))  # no longer personnel + public
    summary["exp_total"] = (D("1160.21"), D("11658.78"), D("11668.78"))
    three_public = dict(figures.three_public)
    three_public["reception"] = (D("12"), D("13.50"))  # over its budget
    three_public["total"] = (D("12"), D("13.50"))
    projects = list(figures.projects)
    projects[0] = replace(projects[0], actual=D("86.00"), rate="107.50")  # over its budget
    indicators = list(figures.indicators)
    indicators[4] = replace(indicators[4], result=D("97.6"))  # 79/81 = 97.53
    indicators[0] = replace(indicators[0], score=D(12))  # above its weight of 10
    return replace(
        figures,
        name="沅江市农业农村局",
        code="430981-047",
        email="nyj@yuanjiang.example.cn",
        summary=summary,
        three_public=three_public,
        projects=projects,
        project_total_rate="100.27",
        indicators=indicators,
        result=(D(10), D(85), "优"),  # 85 is 良, and not 10 + Σ 得分
    )


def yuan_figures() -> BureauFigures:
    """沅江市交通运输局: consistent figures, submitted in 元 as messy text."""
    figures = clean_figures()
    return replace(figures, name="沅江市交通运输局", code="430981-052", email="jtj@yuanjiang.example.cn")


# --- writing -----------------------------------------------------------------------------------

_FULLWIDTH = str.maketrans("0123456789.,", "０１２３４５６７８９．，")
_MESSY_LABELS = {
    "inc_general": "一、一般公共预算财政拨款收入",
    "inc_fund": "二、 政府性基金预算拨款",
    "inc_total": "收 入 合 计",
    "exp_personnel": "　其中：人员经费 ",
    "exp_public": "（二）日常公用经费",
    "exp_total": "支出合计",
    "abroad": "1、因公出国(境)费用",
    "reception": "３．公务接待费",
}
_MESSY_HEADERS = {"actual": "决算数", "budget_full": "调整后预算数"}


def _amount_cell(value: Decimal | None, layout: Layout) -> Any:
    if value is None:
        return None
    scaled = value * 10000 if layout.unit == "元" else value
    if layout.amount_style == "number":
        return float(scaled)
    text = f"{scaled:,.2f}"
    if layout.amount_style == "fullwidth":
        return text.translate(_FULLWIDTH)
    return f"{text}{layout.unit}"


def _label(key: str, label: str, layout: Layout) -> str:
    if layout.messy_labels and key in _MESSY_LABELS:
        return _MESSY_LABELS[key]
    return label


def _order(items: list[Any], layout: Layout, salt: int) -> list[Any]:
    if not layout.shuffle:
        return items
    shuffled = list(items)
    random.Random(salt).shuffle(shuffled)
    return shuffled


def _title(sheet: Worksheet, text: str, layout: Layout, width: int) -> int:
    """Writes the layout's title rows; returns the first row after them."""
    for row in range(1, layout.title_rows + 1):
        sheet.cell(row, 1, text if row == 1 else f"金额单位：{layout.unit}")
        if row == 1 and width > 1:
            sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    return layout.title_rows + 1


def _write_cover(book: Workbook, figures: BureauFigures, layout: Layout) -> None:
    sheet = book.create_sheet("基本信息" if layout.messy_labels else "封面")
    rows = [
        ("单位名称", figures.name),
        ("单位编码", figures.code),
        ("主管部门", figures.parent),
        ("预算年度" if layout.messy_labels else "年度", f"{figures.year}年度" if layout.messy_labels else figures.year),
        ("金额单位", layout.unit),
        ("填报人", figures.contact),
        ("联系电话", figures.phone),
        ("电子邮箱", figures.email),
        ("填报日期", figures.submitted_on),
    ]
    first = _title(sheet, f"{figures.year}年度部门决算及绩效自评表", layout, 4)
    label_col = 2 if layout.messy_labels else 1
    for offset, (label, value) in enumerate(rows):
        row = first + offset
        sheet.cell(row, label_col, f" {label}：" if layout.messy_labels else label)
        # Messy: the value sits two cells to the right, past a blank one.
        sheet.cell(row, label_col + (2 if layout.messy_labels else 1), value)


def _grid_sheet(
    book: Workbook,
    title: str,
    header: list[tuple[str, str]],
    rows: list[tuple[str, str, Amounts]],
    layout: Layout,
    template_rows: dict[str, Any],
    salt: int,
) -> None:
    sheet = book.create_sheet(title)
    columns = _order(header, layout, salt)
    label_col = 1 + layout.leading_columns
    first_amount = label_col + 1 + (1 if layout.extra_column else 0)
    header_row = _title(sheet, f"{title}", layout, first_amount + len(columns) - 1)
    if layout.leading_columns:
        sheet.cell(header_row, 1, "序号")
    sheet.cell(header_row, label_col, "项目")
    if layout.extra_column:
        sheet.cell(header_row, label_col + 1, "栏次")
    for i, (key, label) in enumerate(columns):
        shown = _MESSY_HEADERS.get(key, label) if layout.messy_labels else label
        sheet.cell(header_row, first_amount + i, shown)
    ordered = _order(rows, layout, salt + 1)
    row_of = {key: header_row + 1 + i for i, (key, _, _) in enumerate(ordered)}
    for key, label, amounts in ordered:
        row = row_of[key]
        if layout.leading_columns:
            sheet.cell(row, 1, list(row_of).index(key) + 1)
        sheet.cell(row, label_col, _label(key, label, layout))
        if layout.extra_column:
            sheet.cell(row, label_col + 1, list(row_of).index(key) + 1)
        by_column = dict(zip([k for k, _ in header], amounts, strict=True))
        for i, (column_key, _) in enumerate(columns):
            col = first_amount + i
            value = by_column[column_key]
            parts = template_rows.get(key)
            if key in layout.formula_totals and parts and value is not None:
                letter = get_column_letter(col)
                sheet.cell(row, col, "=" + "+".join(f"{letter}{row_of[p]}" for p in parts if p in row_of))
            else:
                sheet.cell(row, col, _amount_cell(value, layout))
                if layout.amount_style == "number" and value is not None:
                    sheet.cell(row, col).number_format = "#,##0.00"
    if layout.title_rows:
        sheet.cell(max(row_of.values()) + 2, label_col, "注：本表金额单位与封面一致。")


_SUMMARY_PARTS = {
    "inc_total": [
        "inc_general",
        "inc_fund",
        "inc_soe",
        "inc_higher",
        "inc_service",
        "inc_business",
        "inc_affiliate",
        "inc_other",
    ],
    "exp_total": ["exp_basic", "exp_project", "exp_higher", "exp_business", "exp_affiliate"],
    "exp_basic": ["exp_personnel", "exp_public"],
}
_THREE_PUBLIC_PARTS = {"total": ["abroad", "vehicle", "reception"], "vehicle": ["vehicle_purchase", "vehicle_running"]}


def _rate_cell(sheet: Worksheet, row: int, col: int, rate: str, layout: Layout) -> None:
    if layout.rate_style == "text":
        sheet.cell(row, col, f"{rate}%")
    elif layout.rate_style == "bare":
        sheet.cell(row, col, float(rate))
    else:
        decimals = len(rate.split(".")[1]) if "." in rate else 0
        sheet.cell(row, col, float(D(rate) / 100))
        sheet.cell(row, col).number_format = "0" + ("." + "0" * decimals if decimals else "") + "%"


def _write_projects(book: Workbook, figures: BureauFigures, layout: Layout) -> None:
    sheet = book.create_sheet("项目支出明细" if layout.messy_labels else "项目支出")
    header = ["项目名称", "资金来源", "年初预算数", "全年预算数", "全年执行数", "执行率", "备注"]
    if layout.shuffle:
        header = ["项目名称", "全年执行数", "年初预算数", "全年预算数", "执行率", "资金来源", "备注"]
    offset = layout.leading_columns
    header_row = _title(sheet, "项目支出情况表", layout, len(header) + offset)
    if offset:
        sheet.cell(header_row, 1, "序号")
    for i, text in enumerate(header):
        sheet.cell(header_row, offset + 1 + i, text)
    col = {text: offset + 1 + i for i, text in enumerate(header)}

    def write(row: int, name: str, amounts: tuple[Decimal, Decimal, Decimal], rate: str | None, source: str) -> None:
        sheet.cell(row, col["项目名称"], name)
        sheet.cell(row, col["资金来源"], source)
        for label, value in zip(("年初预算数", "全年预算数", "全年执行数"), amounts, strict=True):
            sheet.cell(row, col[label], _amount_cell(value, layout))
            if layout.amount_style == "number":
                sheet.cell(row, col[label]).number_format = "#,##0.00"
        if rate is not None:
            _rate_cell(sheet, row, col["执行率"], rate, layout)

    for i, project in enumerate(figures.projects):
        row = header_row + 1 + i
        if offset:
            sheet.cell(row, 1, i + 1)
        write(
            row,
            project.name,
            (project.budget_initial, project.budget_full, project.actual),
            project.rate,
            project.source,
        )
    totals = tuple(
        sum((getattr(p, k) for p in figures.projects), D(0)) for k in ("budget_initial", "budget_full", "actual")
    )
    write(header_row + 1 + len(figures.projects), "合计", totals, figures.project_total_rate, "")  # type: ignore[arg-type]


def _write_indicators(book: Workbook, figures: BureauFigures, layout: Layout) -> None:
    sheet = book.create_sheet("绩效指标")
    header = [
        "一级指标",
        "二级指标",
        "三级指标",
        "指标性质",
        "年度指标值",
        "实际完成值",
        "度量单位",
        "分值",
        "得分",
        "偏差原因分析及改进措施",
        "分子",
        "分母",
    ]
    header_row = _title(sheet, "部门整体支出绩效指标完成情况表", layout, len(header))
    for i, text in enumerate(header):
        sheet.cell(header_row, 1 + i, text)
    col = {text: 1 + i for i, text in enumerate(header)}
    previous: Indicator | None = None
    group_start = header_row + 1
    for i, item in enumerate(figures.indicators):
        row = header_row + 1 + i
        same_level1 = previous is not None and previous.level1 == item.level1
        if layout.merged_levels and previous is not None and not same_level1 and row - 1 > group_start:
            sheet.merge_cells(start_row=group_start, start_column=1, end_row=row - 1, end_column=1)
        if not (layout.merged_levels and same_level1):
            sheet.cell(row, col["一级指标"], item.level1)
            group_start = row
        if not (layout.merged_levels and previous is not None and previous.level2 == item.level2 and same_level1):
            sheet.cell(row, col["二级指标"], item.level2)
        values = indicator_cells(item)
        del values["一级指标"], values["二级指标"]  # written above, merged or once per group
        for label, value in values.items():
            sheet.cell(row, col[label], value)
        previous = item
    last = header_row + len(figures.indicators)
    if layout.merged_levels and last > group_start:
        sheet.merge_cells(start_row=group_start, start_column=1, end_row=last, end_column=1)


def indicator_cells(item: Indicator) -> dict[str, Any]:
    """An indicator's values by the header of their 绩效指标 column, as a clerk types them."""
    return {
        "一级指标": item.level1,
        "二级指标": item.level2,
        "三级指标": item.name,
        "指标性质": item.nature,
        "年度指标值": _plain(item.target),
        "实际完成值": _plain(item.result),
        "度量单位": item.unit,
        "分值": _plain(item.weight),
        "得分": _plain(item.score),
        "偏差原因分析及改进措施": item.analysis,
        "分子": _plain(item.numerator),
        "分母": _plain(item.denominator),
    }


def _plain(value: Decimal | str | None) -> Any:
    if value is None or isinstance(value, str):
        return value
    return int(value) if value == value.to_integral_value() else float(value)


def _write_result(book: Workbook, figures: BureauFigures, layout: Layout) -> None:
    if figures.result is None:
        return
    sheet = book.create_sheet("自评结果")
    execution, total, grade = figures.result
    for row, (label, value) in enumerate(
        (("预算执行率得分", _plain(execution)), ("总分", _plain(total)), ("自评等级", grade)),
        start=1 + layout.title_rows,
    ):
        sheet.cell(row, 1, label)
        sheet.cell(row, 2, value)


def build_workbook(figures: BureauFigures, layout: Layout = Layout(), template: Template | None = None) -> Workbook:
    template = template or default_template()
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    summary_spec, three_spec = template.sheets["summary"], template.sheets["three_public"]
    writers: list[Callable[[], None]] = [
        lambda: _write_cover(book, figures, layout),
        lambda: _grid_sheet(
            book,
            "收入支出决算总表" if layout.messy_labels else "收支总表",
            [(k, c.label) for k, c in summary_spec.columns.items()],
            [(k, r.label, figures.summary[k]) for k, r in summary_spec.rows.items() if k in figures.summary],
            layout,
            _SUMMARY_PARTS,
            salt=7,
        ),
        lambda: _grid_sheet(
            book,
            "三公经费",
            [(k, c.label) for k, c in three_spec.columns.items()],
            [(k, r.label, figures.three_public[k]) for k, r in three_spec.rows.items() if k in figures.three_public],
            layout,
            _THREE_PUBLIC_PARTS,
            salt=11,
        ),
        lambda: _write_projects(book, figures, layout),
        lambda: _write_indicators(book, figures, layout),
        lambda: _write_result(book, figures, layout),
    ]
    for write in _order(writers, layout, 3):
        write()
    if layout.extra_sheet:
        book.create_sheet("填表说明", 0).cell(1, 1, "本工作簿按财政局下发格式填报。")
    return book


def workbook_bytes(book: Workbook) -> bytes:
    """The workbook as .xlsx bytes that are the same every time (fixed zip and document timestamps)."""
    book.properties.created = dt.datetime(2024, 1, 1)
    buffer = io.BytesIO()
    book.save(buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, FIXED_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            data = source.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps the time of saving
                data = _MODIFIED.sub(b"\\g<1>2024-01-01T00:00:00Z<", data)
            target.writestr(fixed, data)
    return out.getvalue()


def write_workbook(figures: BureauFigures, path: Path, layout: Layout = Layout()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(workbook_bytes(build_workbook(figures, layout)))
    return path


UNREADABLE_BYTES = "单位名称,沅江市水利局\n年度,2023\n项目,年初预算数\n".encode()

SAMPLE_FILES: dict[str, tuple[Callable[[], BureauFigures], Layout]] = {
    "2023-科工信局.xlsx": (seed_figures, Layout()),
    "2023-教育局.xlsx": (clean_figures, Layout()),
    "2023-卫生健康局.xlsx": (warnings_figures, Layout(rate_style="text")),
    "2023-农业农村局.xlsx": (errors_figures, Layout()),
    "2023-交通运输局.xlsx": (yuan_figures, Layout(unit="元", amount_style="text", rate_style="text", title_rows=1)),
}
UNREADABLE_SAMPLE = "2023-水利局.xlsx"


def write_samples(directory: Path) -> list[Path]:
    """The sample inbox: five bureaus' workbooks and one file that is not a workbook (a renamed CSV)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [write_workbook(figures(), directory / name, layout) for name, (figures, layout) in SAMPLE_FILES.items()]
    unreadable = directory / UNREADABLE_SAMPLE
    unreadable.write_bytes(UNREADABLE_BYTES)
    return [*paths, unreadable]
