"""Sample submissions in the national format: the nine public tables of the departmental final accounts.

`national_seed_figures()` holds the seed department's 2023 figures (沅江市科学技术和工业信息化局, report
`shared/seed/000_be10a066d638351f.txt`) laid out as 部门决算公开表 表1–表9, format `national-2023`
(`shared/spec/national-final-accounts.md`). The totals are the report's; every split the report does not
give (by functional classification 类/款/项, by economic classification, the carry-over) is synthetic, and
chosen so that every check of the spec's §3 holds. `national_planted_errors()` gives copies with one
planted error each.

The writers lay the tables out as the final-accounts software exports them: a title block (title, 公开0N表,
部门：…, 金额单位：万元), a header of two or three rows with merged cells, a 栏次 row, then the data. One
layout model (`_Grid`) is built per table and handed to openpyxl (.xlsx) or xlwt (BIFF8 .xls), so that
both files show the same cells and merges.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlwt
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from workbooks.samples import seed_figures, workbook_bytes

D = Decimal
Amount = Decimal | None  # None: the cell is blank, as the export leaves an amount it has none for
Amounts = tuple[Amount, ...]

FORMAT = "national-2023"

# --- the classifications -----------------------------------------------------------------------

# 2023 功能分类 类 in the order the export lists them in 表1 and 表4 (every class, used or not).
CLASSES: tuple[tuple[str, str], ...] = (
    ("201", "一般公共服务支出"),
    ("202", "外交支出"),
    ("203", "国防支出"),
    ("204", "公共安全支出"),
    ("205", "教育支出"),
    ("206", "科学技术支出"),
    ("207", "文化旅游体育与传媒支出"),
    ("208", "社会保障和就业支出"),
    ("210", "卫生健康支出"),
    ("211", "节能环保支出"),
    ("212", "城乡社区支出"),
    ("213", "农林水支出"),
    ("214", "交通运输支出"),
    ("215", "资源勘探工业信息等支出"),
    ("216", "商业服务业等支出"),
    ("217", "金融支出"),
    ("219", "援助其他地区支出"),
    ("220", "自然资源海洋气象等支出"),
    ("221", "住房保障支出"),
    ("222", "粮油物资储备支出"),
    ("223", "国有资本经营预算支出"),
    ("224", "灾害防治及应急管理支出"),
    ("229", "其他支出"),
)

# The 款 and 项 of the functional classification the seed uses, with their real names.
FUNCTIONAL_NAMES: dict[str, str] = {
    **dict(CLASSES),
    "20601": "科学技术管理事务",
    "2060101": "行政运行",
    "20604": "技术研究与开发",
    "2060404": "科技成果转化与扩散",
    "20699": "其他科学技术支出",
    "2069999": "其他科学技术支出",
    "20805": "行政事业单位养老支出",
    "2080501": "行政单位离退休",
    "2080505": "机关事业单位基本养老保险缴费支出",
    "2080506": "机关事业单位职业年金缴费支出",
    "21011": "行政事业单位医疗",
    "2101101": "行政单位医疗",
    "21208": "国有土地使用权出让收入安排的支出",
    "2120803": "城市建设支出",
    "21213": "城市基础设施配套费安排的支出",
    "2121301": "城市公共设施",
    "21505": "工业和信息产业监管",
    "2150501": "行政运行",
    "2150502": "一般行政管理事务",
    "2150599": "其他工业和信息产业监管支出",
    "21508": "支持中小企业发展和管理支出",
    "2150805": "中小企业发展专项",
    "2150899": "其他支持中小企业发展和管理支出",
    "21599": "其他资源勘探工业信息等支出",
    "2159904": "技术改造支出",
    "2159999": "其他资源勘探工业信息等支出",
    "22102": "住房改革支出",
    "2210201": "住房公积金",
    "22301": "解决历史遗留问题及改革成本支出",
    "2230105": "国有企业退休人员社会化管理补助支出",
}

# 经济分类 (部门预算支出经济分类) of 表6: 301 and 303 are 人员经费, 302 and 310 公用经费.
ECONOMIC_NAMES: dict[str, str] = {
    "301": "工资福利支出",
    "30101": "基本工资",
    "30102": "津贴补贴",
    "30103": "奖金",
    "30108": "机关事业单位基本养老保险缴费",
    "30109": "职业年金缴费",
    "30110": "职工基本医疗保险缴费",
    "30112": "其他社会保障缴费",
    "30113": "住房公积金",
    "30199": "其他工资福利支出",
    "303": "对个人和家庭的补助",
    "30302": "退休费",
    "30305": "生活补助",
    "30399": "其他对个人和家庭的补助",
    "302": "商品和服务支出",
    "30201": "办公费",
    "30202": "印刷费",
    "30205": "水费",
    "30206": "电费",
    "30207": "邮电费",
    "30211": "差旅费",
    "30213": "维修（护）费",
    "30215": "会议费",
    "30216": "培训费",
    "30217": "公务接待费",
    "30228": "工会经费",
    "30229": "福利费",
    "30239": "其他交通费用",
    "30299": "其他商品和服务支出",
    "310": "资本性支出",
    "31002": "办公设备购置",
}

# --- the figures -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeRow:
    """A row keyed by a classification code: 类 3 digits, 款 5, 项 7 (表6: economic 类 3, 款 5)."""

    code: str
    name: str
    amounts: Amounts  # in the order of the table's columns


@dataclass(frozen=True)
class CodeTable:
    """表2, 表3, 表5, 表8, 表9: a 合计 row, then 类/款/项 rows in table order."""

    columns: tuple[str, ...]  # keys of COLUMN_LABELS
    total: Amounts
    rows: tuple[CodeRow, ...]

    def amount(self, code: str | None, column: str) -> Decimal:
        """The amount of a row (None: the 合计 row) in a column; a blank cell counts as 0."""
        amounts = self.total if code is None else self.row(code).amounts
        return amounts[self.columns.index(column)] or D(0)

    def row(self, code: str) -> CodeRow:
        return next(row for row in self.rows if row.code == code)


@dataclass(frozen=True)
class SummaryTable:
    """表1 收入支出决算总表: income (keys of TABLE1_INCOME and TABLE1_INCOME_TAIL), expenditure per 类,
    and the expenditure tail (keys of TABLE1_EXPENDITURE_TAIL); one amount each."""

    income: dict[str, Amount]
    classes: tuple[CodeRow, ...]
    expenditure: dict[str, Amount]


@dataclass(frozen=True)
class GrantSummaryTable:
    """表4 财政拨款收入支出决算总表: income (one amount; keys of TABLE4_INCOME and TABLE4_INCOME_TAIL),
    expenditure per 类 and the tail (keys of TABLE4_EXPENDITURE_TAIL) in the columns of TABLE4_COLUMNS."""

    income: dict[str, Amount]
    classes: tuple[CodeRow, ...]
    expenditure: dict[str, Amounts]


@dataclass(frozen=True)
class BasicTable:
    """表6 一般公共预算财政拨款基本支出决算表: economic-classification rows of 人员经费 and 公用经费."""

    personnel: tuple[CodeRow, ...]
    public: tuple[CodeRow, ...]
    personnel_total: Decimal
    public_total: Decimal


@dataclass(frozen=True)
class ThreePublicTable:
    """表7 "三公" 经费: 预算数 and 决算数 by item (keys of THREE_PUBLIC_ITEMS)."""

    budget: dict[str, Decimal]
    actual: dict[str, Decimal]


@dataclass(frozen=True)
class NationalFigures:
    """One department's nine public tables, in 万元."""

    department: str
    code: str
    email: str
    year: int
    table1: SummaryTable
    table2: CodeTable
    table3: CodeTable
    table4: GrantSummaryTable
    table5: CodeTable
    table6: BasicTable
    table7: ThreePublicTable
    table8: CodeTable
    table9: CodeTable
    unit: str = "万元"


@dataclass(frozen=True)
class PlantedError:
    """A copy of the seed figures with one planted error: the check it breaks and where it sits."""

    name: str
    check: str  # the check id (as tests/test_national_samples.py names them) that this error breaks
    where: str
    figures: NationalFigures


TITLES: dict[int, str] = {
    1: "收入支出决算总表",
    2: "收入决算表",
    3: "支出决算表",
    4: "财政拨款收入支出决算总表",
    5: "一般公共预算财政拨款支出决算表",
    6: "一般公共预算财政拨款基本支出决算表",
    7: "一般公共预算财政拨款“三公”经费支出决算表",
    8: "政府性基金预算财政拨款收入支出决算表",
    9: "国有资本经营预算财政拨款支出决算表",
}
TABLES = tuple(TITLES)

TABLE1_INCOME: tuple[tuple[str, str], ...] = (
    ("general", "一、一般公共预算财政拨款收入"),
    ("fund", "二、政府性基金预算财政拨款收入"),
    ("soe", "三、国有资本经营预算财政拨款收入"),
    ("higher", "四、上级补助收入"),
    ("service", "五、事业收入"),
    ("business", "六、经营收入"),
    ("affiliate", "七、附属单位上缴收入"),
    ("other", "八、其他收入"),
)
TABLE1_INCOME_TAIL: tuple[tuple[str, str], ...] = (
    ("total", "本年收入合计"),
    ("use_balance", "使用非财政拨款结余"),
    ("carry_in", "年初结转和结余"),
    ("grand_total", "总计"),
)
TABLE1_EXPENDITURE_TAIL: tuple[tuple[str, str], ...] = (
    ("total", "本年支出合计"),
    ("distribution", "结余分配"),
    ("carry_out", "年末结转和结余"),
    ("grand_total", "总计"),
)
TABLE4_INCOME: tuple[tuple[str, str], ...] = (
    ("general", "一、一般公共预算财政拨款"),
    ("fund", "二、政府性基金预算财政拨款"),
    ("soe", "三、国有资本经营预算财政拨款"),
)
TABLE4_INCOME_TAIL: tuple[tuple[str, str], ...] = (
    ("total", "本年收入合计"),
    ("carry_in", "年初财政拨款结转和结余"),
    ("carry_in_general", "一般公共预算财政拨款"),
    ("carry_in_fund", "政府性基金预算财政拨款"),
    ("carry_in_soe", "国有资本经营预算财政拨款"),
    ("grand_total", "总计"),
)
# Beside the income tail, row for row; None: a blank row (beside the three 年初 sources).
TABLE4_EXPENDITURE_TAIL: tuple[tuple[str, str] | None, ...] = (
    ("total", "本年支出合计"),
    ("carry_out", "年末财政拨款结转和结余"),
    None,
    None,
    None,
    ("grand_total", "总计"),
)
TABLE4_COLUMNS = ("total", "general", "fund", "soe")
THREE_PUBLIC_ITEMS = ("total", "abroad", "vehicle", "vehicle_purchase", "vehicle_running", "reception")

TABLE2_COLUMNS = ("total", "appropriation", "higher", "service", "business", "affiliate", "other")
TABLE3_COLUMNS = ("total", "basic", "project", "to_higher", "business", "to_affiliates")
TABLE5_COLUMNS = ("total", "basic", "project")
TABLE8_COLUMNS = ("carry_in", "income", "total", "basic", "project", "carry_out")
TABLE9_COLUMNS = ("total", "basic", "project")

EMPTY_NOTES: dict[int, str] = {
    8: "注：本单位{year}年度无政府性基金预算财政拨款收入、支出及结转结余。",
    9: "注：本单位{year}年度无国有资本经营预算财政拨款支出。",
}
FOOTNOTES: dict[int, str] = {
    1: "注：本表反映部门本年度的总收支和年末结转结余情况。",
    2: "注：本表反映部门本年度取得的各项收入情况。",
    3: "注：本表反映部门本年度各项支出情况。",
    4: (
        "注：本表反映部门本年度一般公共预算财政拨款、政府性基金预算财政拨款和国有资本经营预算财政拨款的"
        "总收支和年末结转结余情况。"
    ),
    5: "注：本表反映部门本年度一般公共预算财政拨款支出情况。",
    6: "注：本表反映部门本年度一般公共预算财政拨款基本支出明细情况。",
    7: "注：本表反映部门本年度“三公”经费支出预决算情况。",
    8: "注：本表反映部门本年度政府性基金预算财政拨款收入、支出及结转和结余情况。",
    9: "注：本表反映部门本年度国有资本经营预算财政拨款支出情况。",
}


def _amounts(values: Sequence[str], width: int) -> Amounts:
    """Amounts from their text ('' blank), padded with blanks to the table's width."""
    if len(values) > width:
        raise ValueError(f"{len(values)} amounts for {width} columns")
    return tuple(D(v) if v else None for v in values) + (None,) * (width - len(values))


def _code_table(columns: tuple[str, ...], total: Sequence[str], *rows: tuple[str, ...]) -> CodeTable:
    return CodeTable(
        columns=columns,
        total=_amounts(total, len(columns)),
        rows=tuple(CodeRow(code, FUNCTIONAL_NAMES[code], _amounts(values, len(columns))) for code, *values in rows),
    )


def _economic(*rows: tuple[str, str]) -> tuple[CodeRow, ...]:
    return tuple(CodeRow(code, ECONOMIC_NAMES[code], (D(value),)) for code, value in rows)


def national_seed_figures() -> NationalFigures:
    """沅江市科学技术和工业信息化局, 2023, in the nine public tables.

    From the report: 表1's income sources and totals, 基本支出 901.11 (人员经费 781.88, 公用经费 119.23),
    项目支出 10757.67, the government-fund 118 (class 212) and state-capital 8 (class 223), and 表7.
    Synthetic: the split over 类/款/项 and over economic codes, and a government-fund carry-over of 6.50
    (年初 in 21208, 年末 in 21213; no other source carries anything over). All basic spending is paid from
    the general budget (so 表5 基本支出 = 表6 = 901.11); 项目支出 is general budget 1538.12, other income
    9093.55, government fund 118 and state capital 8.
    """
    seed = seed_figures()
    t = ""  # a blank cell
    table1 = SummaryTable(
        income={
            "general": D("2439.23"),
            "fund": D("118.00"),
            "soe": D("8.00"),
            "higher": None,
            "service": None,
            "business": None,
            "affiliate": None,
            "other": D("9093.55"),
            "total": D("11658.78"),
            "use_balance": None,
            "carry_in": D("6.50"),
            "grand_total": D("11665.28"),
        },
        classes=tuple(
            CodeRow(code, FUNCTIONAL_NAMES[code], (D(value),))
            for code, value in (
                ("206", "1450.27"),
                ("208", "192.17"),
                ("210", "36.85"),
                ("212", "118.00"),
                ("215", "9801.35"),
                ("221", "52.14"),
                ("223", "8.00"),
            )
        ),
        expenditure={
            "total": D("11658.78"),
            "distribution": None,
            "carry_out": D("6.50"),
            "grand_total": D("11665.28"),
        },
    )
    # 本年收入合计, 财政拨款收入, 上级补助收入, 事业收入, 经营收入, 附属单位上缴收入, 其他收入
    table2 = _code_table(
        TABLE2_COLUMNS,
        ("11658.78", "2565.23", t, t, t, t, "9093.55"),
        ("206", "1450.27", "580.27", t, t, t, t, "870.00"),
        ("20601", "167.32", "167.32"),
        ("2060101", "167.32", "167.32"),
        ("20604", "1156.40", "286.40", t, t, t, t, "870.00"),
        ("2060404", "1156.40", "286.40", t, t, t, t, "870.00"),
        ("20699", "126.55", "126.55"),
        ("2069999", "126.55", "126.55"),
        ("208", "192.17", "192.17"),
        ("20805", "192.17", "192.17"),
        ("2080501", "96.24", "96.24"),
        ("2080505", "68.52", "68.52"),
        ("2080506", "27.41", "27.41"),
        ("210", "36.85", "36.85"),
        ("21011", "36.85", "36.85"),
        ("2101101", "36.85", "36.85"),
        ("212", "118.00", "118.00"),
        ("21208", "100.00", "100.00"),
        ("2120803", "100.00", "100.00"),
        ("21213", "18.00", "18.00"),
        ("2121301", "18.00", "18.00"),
        ("215", "9801.35", "1577.80", t, t, t, t, "8223.55"),
        ("21505", "993.30", "993.30"),
        ("2150501", "452.63", "452.63"),
        ("2150502", "148.50", "148.50"),
        ("2150599", "392.17", "392.17"),
        ("21508", "5957.95", "584.50", t, t, t, t, "5373.45"),
        ("2150805", "3849.50", "584.50", t, t, t, t, "3265.00"),
        ("2150899", "2108.45", t, t, t, t, t, "2108.45"),
        ("21599", "2850.10", t, t, t, t, t, "2850.10"),
        ("2159904", "1650.10", t, t, t, t, t, "1650.10"),
        ("2159999", "1200.00", t, t, t, t, t, "1200.00"),
        ("221", "52.14", "52.14"),
        ("22102", "52.14", "52.14"),
        ("2210201", "52.14", "52.14"),
        ("223", "8.00", "8.00"),
        ("22301", "8.00", "8.00"),
        ("2230105", "8.00", "8.00"),
    )
    # 本年支出合计, 基本支出, 项目支出, 上缴上级支出, 经营支出, 对附属单位补助支出
    table3 = _code_table(
        TABLE3_COLUMNS,
        ("11658.78", "901.11", "10757.67"),
        ("206", "1450.27", "167.32", "1282.95"),
        ("20601", "167.32", "167.32"),
        ("2060101", "167.32", "167.32"),
        ("20604", "1156.40", t, "1156.40"),
        ("2060404", "1156.40", t, "1156.40"),
        ("20699", "126.55", t, "126.55"),
        ("2069999", "126.55", t, "126.55"),
        ("208", "192.17", "192.17"),
        ("20805", "192.17", "192.17"),
        ("2080501", "96.24", "96.24"),
        ("2080505", "68.52", "68.52"),
        ("2080506", "27.41", "27.41"),
        ("210", "36.85", "36.85"),
        ("21011", "36.85", "36.85"),
        ("2101101", "36.85", "36.85"),
        ("212", "118.00", t, "118.00"),
        ("21208", "106.50", t, "106.50"),
        ("2120803", "106.50", t, "106.50"),
        ("21213", "11.50", t, "11.50"),
        ("2121301", "11.50", t, "11.50"),
        ("215", "9801.35", "452.63", "9348.72"),
        ("21505", "993.30", "452.63", "540.67"),
        ("2150501", "452.63", "452.63"),
        ("2150502", "148.50", t, "148.50"),
        ("2150599", "392.17", t, "392.17"),
        ("21508", "5957.95", t, "5957.95"),
        ("2150805", "3849.50", t, "3849.50"),
        ("2150899", "2108.45", t, "2108.45"),
        ("21599", "2850.10", t, "2850.10"),
        ("2159904", "1650.10", t, "1650.10"),
        ("2159999", "1200.00", t, "1200.00"),
        ("221", "52.14", "52.14"),
        ("22102", "52.14", "52.14"),
        ("2210201", "52.14", "52.14"),
        ("223", "8.00", t, "8.00"),
        ("22301", "8.00", t, "8.00"),
        ("2230105", "8.00", t, "8.00"),
    )
    # 合计, 一般公共预算财政拨款, 政府性基金预算财政拨款, 国有资本经营预算财政拨款
    grant_classes = (
        ("206", "580.27", "580.27", t, t),
        ("208", "192.17", "192.17", t, t),
        ("210", "36.85", "36.85", t, t),
        ("212", "118.00", t, "118.00", t),
        ("215", "1577.80", "1577.80", t, t),
        ("221", "52.14", "52.14", t, t),
        ("223", "8.00", t, t, "8.00"),
    )
    table4 = GrantSummaryTable(
        income={
            "general": D("2439.23"),
            "fund": D("118.00"),
            "soe": D("8.00"),
            "total": D("2565.23"),
            "carry_in": D("6.50"),
            "carry_in_general": None,
            "carry_in_fund": D("6.50"),
            "carry_in_soe": None,
            "grand_total": D("2571.73"),
        },
        classes=tuple(CodeRow(code, FUNCTIONAL_NAMES[code], _amounts(values, 4)) for code, *values in grant_classes),
        expenditure={
            "total": _amounts(("2565.23", "2439.23", "118.00", "8.00"), 4),
            "carry_out": _amounts(("6.50", t, "6.50", t), 4),
            "grand_total": _amounts(("2571.73", "2439.23", "124.50", "8.00"), 4),
        },
    )
    # 合计, 基本支出, 项目支出
    table5 = _code_table(
        TABLE5_COLUMNS,
        ("2439.23", "901.11", "1538.12"),
        ("206", "580.27", "167.32", "412.95"),
        ("20601", "167.32", "167.32"),
        ("2060101", "167.32", "167.32"),
        ("20604", "286.40", t, "286.40"),
        ("2060404", "286.40", t, "286.40"),
        ("20699", "126.55", t, "126.55"),
        ("2069999", "126.55", t, "126.55"),
        ("208", "192.17", "192.17"),
        ("20805", "192.17", "192.17"),
        ("2080501", "96.24", "96.24"),
        ("2080505", "68.52", "68.52"),
        ("2080506", "27.41", "27.41"),
        ("210", "36.85", "36.85"),
        ("21011", "36.85", "36.85"),
        ("2101101", "36.85", "36.85"),
        ("215", "1577.80", "452.63", "1125.17"),
        ("21505", "993.30", "452.63", "540.67"),
        ("2150501", "452.63", "452.63"),
        ("2150502", "148.50", t, "148.50"),
        ("2150599", "392.17", t, "392.17"),
        ("21508", "584.50", t, "584.50"),
        ("2150805", "584.50", t, "584.50"),
        ("221", "52.14", "52.14"),
        ("22102", "52.14", "52.14"),
        ("2210201", "52.14", "52.14"),
    )
    table6 = BasicTable(
        personnel=_economic(
            ("301", "678.44"),
            ("30101", "198.36"),
            ("30102", "215.40"),
            ("30103", "64.20"),
            ("30108", "68.52"),
            ("30109", "27.41"),
            ("30110", "36.85"),
            ("30112", "3.26"),
            ("30113", "52.14"),
            ("30199", "12.30"),
            ("303", "103.44"),
            ("30302", "96.24"),
            ("30305", "4.80"),
            ("30399", "2.40"),
        ),
        public=_economic(
            ("302", "113.63"),
            ("30201", "21.35"),
            ("30202", "3.60"),
            ("30205", "1.20"),
            ("30206", "6.85"),
            ("30207", "4.10"),
            ("30211", "14.62"),
            ("30213", "5.30"),
            ("30215", "2.80"),
            ("30216", "3.50"),
            ("30217", "11.84"),
            ("30228", "9.46"),
            ("30229", "6.20"),
            ("30239", "16.80"),
            ("30299", "6.01"),
            ("310", "5.60"),
            ("31002", "5.60"),
        ),
        personnel_total=D("781.88"),
        public_total=D("119.23"),
    )
    zero = D("0.00")
    table7 = ThreePublicTable(
        budget={
            "total": D("12.00"),
            "abroad": zero,
            "vehicle": zero,
            "vehicle_purchase": zero,
            "vehicle_running": zero,
            "reception": D("12.00"),
        },
        actual={
            "total": D("11.84"),
            "abroad": zero,
            "vehicle": zero,
            "vehicle_purchase": zero,
            "vehicle_running": zero,
            "reception": D("11.84"),
        },
    )
    # 年初结转和结余, 本年收入, 本年支出 合计/基本支出/项目支出, 年末结转和结余
    table8 = _code_table(
        TABLE8_COLUMNS,
        ("6.50", "118.00", "118.00", t, "118.00", "6.50"),
        ("212", "6.50", "118.00", "118.00", t, "118.00", "6.50"),
        ("21208", "6.50", "100.00", "106.50", t, "106.50", t),
        ("2120803", "6.50", "100.00", "106.50", t, "106.50", t),
        ("21213", t, "18.00", "11.50", t, "11.50", "6.50"),
        ("2121301", t, "18.00", "11.50", t, "11.50", "6.50"),
    )
    # 本年支出 合计, 基本支出, 项目支出
    table9 = _code_table(
        TABLE9_COLUMNS,
        ("8.00", t, "8.00"),
        ("223", "8.00", t, "8.00"),
        ("22301", "8.00", t, "8.00"),
        ("2230105", "8.00", t, "8.00"),
    )
    return NationalFigures(
        department=seed.name,
        code=seed.code,
        email=seed.email,
        year=seed.year,
        table1=table1,
        table2=table2,
        table3=table3,
        table4=table4,
        table5=table5,
        table6=table6,
        table7=table7,
        table8=table8,
        table9=table9,
    )


def _with_amounts(table: CodeTable, changes: dict[str | None, dict[str, str]]) -> CodeTable:
    """The table with new amounts in some cells: row code (None: the 合计 row) → column → amount."""

    def changed(code: str | None, amounts: Amounts) -> Amounts:
        values = list(amounts)
        for column, value in changes.get(code, {}).items():
            values[table.columns.index(column)] = D(value)
        return tuple(values)

    return replace(
        table,
        total=changed(None, table.total),
        rows=tuple(replace(row, amounts=changed(row.code, row.amounts)) for row in table.rows),
    )


def national_planted_errors() -> dict[str, PlantedError]:
    """Copies of the seed figures with one planted error each (spec §4), by name.

    The export's software sums 款, 类 and 合计 rows from the 项 rows a clerk types, so an error typed into
    a 项 travels up to the rows the software sums; where it does, the copy carries it there too, so that
    each copy breaks one check and no other.
    """
    seed = national_seed_figures()
    t3, t5, t8 = seed.table3, seed.table5, seed.table8
    reception = {**seed.table7.actual, "reception": D("12.50"), "total": D("12.50")}
    planted = [
        PlantedError(
            "item-not-summing",
            "hierarchy/table-5",
            "表5 项 2150599 其他工业和信息产业监管支出: 合计 and 项目支出 397.17 (were 392.17), so the 项 of "
            "款 21505 sum to 合计 998.30 and 项目支出 545.67 against the 款's 993.30 and 540.67",
            replace(seed, table5=_with_amounts(t5, {"2150599": {"total": "397.17", "project": "397.17"}})),
        ),
        PlantedError(
            "expenditure-total-off",
            "cross/table-3-table-1",
            "表3 合计 本年支出合计 11668.78 against 表1 本年支出合计 11658.78 (10 more): 基本支出 of 项 2150501 "
            "行政运行 462.63 (was 452.63), summed into 款 21505, 类 215 (9811.35 against 表1's 9801.35) and 合计",
            replace(
                seed,
                table3=_with_amounts(
                    t3,
                    {
                        "2150501": {"total": "462.63", "basic": "462.63"},
                        "21505": {"total": "1003.30", "basic": "462.63"},
                        "215": {"total": "9811.35", "basic": "462.63"},
                        None: {"total": "11668.78", "basic": "911.11"},
                    },
                ),
            ),
        ),
        PlantedError(
            "fund-balance",
            "balance/table-8",
            "表8 项 2121301 城市公共设施: 年末结转和结余 8.50 where 年初 0 + 本年收入 18.00 − 本年支出 11.50 = 6.50; "
            "summed into 款 21213, 类 212 and 合计 (年末 8.50, against 6.50 + 118.00 − 118.00)",
            replace(
                seed,
                table8=_with_amounts(t8, {code: {"carry_out": "8.50"} for code in ("2121301", "21213", "212", None)}),
            ),
        ),
        PlantedError(
            "reception-over-budget",
            "ceiling/three-public",
            "表7 决算数 公务接待费 12.50 (and 合计 12.50) over 预算数 12.00",
            replace(seed, table7=replace(seed.table7, actual=reception)),
        ),
    ]
    return {error.name: error for error in planted}


# --- the layout model --------------------------------------------------------------------------

Value = str | Decimal | None


@dataclass(frozen=True)
class _Style:
    horizontal: str = "left"  # left | center | right
    bold: bool = False
    size: int = 10
    border: bool = True
    number_format: str = "General"
    wrap: bool = False


_STYLES: dict[str, _Style] = {
    "title": _Style("center", bold=True, size=16, border=False),
    "number": _Style("right", border=False),  # 公开0N表
    "department": _Style("left", border=False),
    "unit": _Style("right", border=False),
    "header": _Style("center", bold=True, wrap=True),
    "label": _Style("left"),
    "line": _Style("center"),  # 行次 and 栏次 numbers: text, as the export writes them
    "code": _Style("left", number_format="@"),  # codes are text: 206, 20601, 2060101, never numbers
    "amount": _Style("right", number_format="#,##0.00"),
    "note": _Style("left", border=False),
}
_WIDTHS = {"code": 10.0, "split": 6.0, "name": 34.0, "label": 34.0, "line": 6.0, "amount": 15.0}


@dataclass
class _Grid:
    """A table's cells (0-based row, column → value, style name), merged ranges and column widths."""

    width: int
    cells: dict[tuple[int, int], tuple[Value, str]] = field(default_factory=dict)
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)  # first row, col, last row, col
    widths: dict[int, float] = field(default_factory=dict)
    height: int = 0

    def put(self, row: int, col: int, value: Value, style: str) -> None:
        if not 0 <= col < self.width:
            raise ValueError(f"column {col} outside a table {self.width} wide")
        self.cells[row, col] = (value, style)
        self.height = max(self.height, row + 1)

    def merge(self, row: int, col: int, last_row: int, last_col: int, value: Value, style: str) -> None:
        self.put(row, col, value, style)
        for r in range(row, last_row + 1):
            for c in range(col, last_col + 1):
                if (r, c) != (row, col):
                    self.cells.pop((r, c), None)  # only the top-left cell of a merged range holds anything
        self.merges.append((row, col, last_row, last_col))

    def amount(self, row: int, col: int, value: Amount) -> None:
        self.put(row, col, value, "amount")

    def covered(self) -> set[tuple[int, int]]:
        """The cells of merged ranges other than their top-left ones."""
        return {
            (r, c)
            for first_row, first_col, last_row, last_col in self.merges
            for r in range(first_row, last_row + 1)
            for c in range(first_col, last_col + 1)
            if (r, c) != (first_row, first_col)
        }


def _title_block(grid: _Grid, table: int, figures: NationalFigures) -> int:
    """Title (merged across the table), the year and 公开0N表 below it, 部门 and 金额单位; returns the header's row."""
    grid.merge(0, 0, 0, grid.width - 1, TITLES[table], "title")
    grid.put(1, 0, f"{figures.year}年度", "department")
    grid.put(1, grid.width - 1, f"公开{table:02d}表", "number")
    grid.put(2, 0, f"部门：{figures.department}", "department")
    grid.put(2, grid.width - 1, f"金额单位：{figures.unit}", "unit")
    return 3


def _chinese_ordinal(n: int) -> str:
    digits = "一二三四五六七八九"
    if n < 10:
        return digits[n - 1]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else digits[tens - 1]) + "十" + (digits[ones - 1] if ones else "")


def _class_amounts(classes: tuple[CodeRow, ...], width: int) -> list[tuple[str, Amounts]]:
    """Every 类 of CLASSES with its label (一、一般公共服务支出 …) and amounts, blank where unused."""
    known = {code for code, _ in CLASSES}
    unknown = [row.code for row in classes if row.code not in known]
    if unknown:
        raise ValueError(f"classes not in the export's list: {unknown}")
    by_code = {row.code: row.amounts for row in classes}
    return [
        (f"{_chinese_ordinal(i)}、{name}", by_code.get(code, (None,) * width))
        for i, (code, name) in enumerate(CLASSES, start=1)
    ]


def _two_block_header(grid: _Grid, top: int, split: int, left: str, right: str, right_amounts: Sequence[str]) -> int:
    """收入 | 支出 over 项目, 行次, amount columns, then the 栏次 row; returns the first data row."""
    grid.merge(top, 0, top, split - 1, left, "header")
    grid.merge(top, split, top, grid.width - 1, right, "header")
    for col, label in enumerate(("项目", "行次", "金额", "项目", "行次", *right_amounts)):
        grid.put(top + 1, col, label, "header")
    grid.put(top + 2, 0, "栏次", "header")
    grid.put(top + 2, 1, None, "header")
    grid.put(top + 2, 2, "1", "line")
    grid.put(top + 2, split, "栏次", "header")
    grid.put(top + 2, split + 1, None, "header")
    for i in range(grid.width - split - 2):
        grid.put(top + 2, split + 2 + i, str(2 + i), "line")
    grid.widths.update({0: _WIDTHS["label"], 1: _WIDTHS["line"], 2: _WIDTHS["amount"]})
    grid.widths.update({split: _WIDTHS["label"], split + 1: _WIDTHS["line"]})
    grid.widths.update({c: _WIDTHS["amount"] for c in range(split + 2, grid.width)})
    return top + 3


def _two_block_rows(
    grid: _Grid,
    first: int,
    split: int,
    left: Sequence[tuple[str, Amount] | None],
    right: Sequence[tuple[str, Amounts] | None],
) -> int:
    """Rows of the two blocks side by side, each with its own 行次 (numbered on, blank rows too)."""
    for i, (income, expenditure) in enumerate(zip(left, right, strict=True)):
        row = first + i
        grid.put(row, 0, income[0] if income else None, "label")
        grid.put(row, 1, str(1 + i), "line")
        grid.amount(row, 2, income[1] if income else None)
        grid.put(row, split, expenditure[0] if expenditure else None, "label")
        grid.put(row, split + 1, str(len(left) + 1 + i), "line")
        for c in range(grid.width - split - 2):
            grid.amount(row, split + 2 + c, expenditure[1][c] if expenditure else None)
    return first + len(left)


def _pad(items: list[Any], length: int) -> list[Any]:
    return items + [None] * (length - len(items))


def _table1(figures: NationalFigures) -> _Grid:
    t1 = figures.table1
    grid = _Grid(width=6)
    first = _two_block_header(grid, _title_block(grid, 1, figures), 3, "收入", "支出", ["金额"])
    classes = _class_amounts(t1.classes, 1)
    body = max(len(TABLE1_INCOME), len(classes))
    left = _pad([(label, t1.income[key]) for key, label in TABLE1_INCOME], body)
    left += [(label, t1.income[key]) for key, label in TABLE1_INCOME_TAIL]
    right = _pad(list(classes), body)
    right += [(label, (t1.expenditure[key],)) for key, label in TABLE1_EXPENDITURE_TAIL]
    end = _two_block_rows(grid, first, 3, left, right)
    grid.put(end, 0, FOOTNOTES[1], "note")
    return grid


def _table4(figures: NationalFigures) -> _Grid:
    t4 = figures.table4
    grid = _Grid(width=9)
    right_amounts = ["合计", "一般公共预算财政拨款", "政府性基金预算财政拨款", "国有资本经营预算财政拨款"]
    first = _two_block_header(grid, _title_block(grid, 4, figures), 3, "收入", "支出", right_amounts)
    classes = _class_amounts(t4.classes, len(TABLE4_COLUMNS))
    body = max(len(TABLE4_INCOME), len(classes))
    left = _pad([(label, t4.income[key]) for key, label in TABLE4_INCOME], body)
    left += [(label, t4.income[key]) for key, label in TABLE4_INCOME_TAIL]
    right = _pad(list(classes), body)
    right += [(item[1], t4.expenditure[item[0]]) if item else None for item in TABLE4_EXPENDITURE_TAIL]
    end = _two_block_rows(grid, first, 3, left, right)
    grid.put(end, 0, FOOTNOTES[4], "note")
    return grid


# A header column: a leaf (label) or a group (label over leaves).
Header = str | tuple[str, tuple[str, ...]]

_CODE_HEADERS: dict[int, tuple[Header, ...]] = {
    2: ("本年收入合计", "财政拨款收入", "上级补助收入", "事业收入", "经营收入", "附属单位上缴收入", "其他收入"),
    3: ("本年支出合计", "基本支出", "项目支出", "上缴上级支出", "经营支出", "对附属单位补助支出"),
    5: (("本年支出", ("合计", "基本支出", "项目支出")),),
    8: ("年初结转和结余", "本年收入", ("本年支出", ("合计", "基本支出", "项目支出")), "年末结转和结余"),
    9: (("本年支出", ("合计", "基本支出", "项目支出")),),
}
# Table 5 splits its codes over 类 | 款 | 项 columns; the others keep them in one 科目编码 column.
_SPLIT_CODES = {5}


def _code_grid(table: int, data: CodeTable, figures: NationalFigures, empty: bool) -> _Grid:
    split = table in _SPLIT_CODES
    headers = _CODE_HEADERS[table]
    leaves = [leaf for header in headers for leaf in ((header,) if isinstance(header, str) else header[1])]
    if len(leaves) != len(data.columns):
        raise ValueError(f"表{table}: {len(data.columns)} columns of figures for {len(leaves)} headers")
    labels = 4 if split else 2  # 类 款 项 科目名称 | 科目编码 科目名称
    grid = _Grid(width=labels + len(leaves))
    top = _title_block(grid, table, figures)
    depth = 3 if split else 2
    last = top + depth - 1
    grid.merge(top, 0, top, labels - 1, "项目", "header")
    if split:
        grid.merge(top + 1, 0, top + 1, 2, "科目编码", "header")
        grid.merge(top + 1, 3, last, 3, "科目名称", "header")
        for col, part in enumerate(("类", "款", "项")):
            grid.put(last, col, part, "header")
    else:
        grid.put(last, 0, "科目编码", "header")
        grid.put(last, 1, "科目名称", "header")
    col = labels
    for header in headers:
        if isinstance(header, str):
            grid.merge(top, col, last, col, header, "header")
            col += 1
        else:
            group, parts = header
            grid.merge(top, col, top, col + len(parts) - 1, group, "header")
            for part in parts:
                grid.merge(top + 1, col, last, col, part, "header")
                col += 1
    line = last + 1
    grid.merge(line, 0, line, labels - 1, "栏次", "header")
    for i in range(len(leaves)):
        grid.put(line, labels + i, str(1 + i), "line")
    grid.widths.update({c: _WIDTHS["split"] for c in range(3)} if split else {0: _WIDTHS["code"]})
    grid.widths.update({labels - 1: _WIDTHS["name"]})
    grid.widths.update({c: _WIDTHS["amount"] for c in range(labels, grid.width)})
    if empty:
        grid.put(line + 1, 0, EMPTY_NOTES[table].format(year=figures.year), "note")
        return grid
    row = line + 1
    grid.merge(row, 0, row, labels - 1, "合计", "label")
    for i, value in enumerate(data.total):
        grid.amount(row, labels + i, value)
    for code_row in data.rows:
        row += 1
        if split:
            code = code_row.code
            for c, part in enumerate((code[:3], code[3:5], code[5:7])):
                grid.put(row, c, part or None, "code")
        else:
            grid.put(row, 0, code_row.code, "code")
        grid.put(row, labels - 1, code_row.name, "label")
        for i, value in enumerate(code_row.amounts):
            grid.amount(row, labels + i, value)
    grid.put(row + 1, 0, FOOTNOTES[table], "note")
    return grid


def _table6(figures: NationalFigures) -> _Grid:
    t6 = figures.table6
    grid = _Grid(width=6)
    top = _title_block(grid, 6, figures)
    grid.merge(top, 0, top, 2, "人员经费", "header")
    grid.merge(top, 3, top, 5, "公用经费", "header")
    for col, label in enumerate(("科目编码", "科目名称", "决算数") * 2):
        grid.put(top + 1, col, label, "header")
    grid.merge(top + 2, 0, top + 2, 1, "栏次", "header")
    grid.put(top + 2, 2, "1", "line")
    grid.merge(top + 2, 3, top + 2, 4, "栏次", "header")
    grid.put(top + 2, 5, "2", "line")
    first = top + 3
    body = max(len(t6.personnel), len(t6.public))
    for offset, rows in ((0, t6.personnel), (3, t6.public)):
        for i in range(body):
            row = rows[i] if i < len(rows) else None
            grid.put(first + i, offset, row.code if row else None, "code")
            grid.put(first + i, offset + 1, row.name if row else None, "label")
            grid.amount(first + i, offset + 2, row.amounts[0] if row else None)
    total = first + body  # the export puts the two 合计 at the foot of their blocks
    grid.merge(total, 0, total, 1, "人员经费合计", "label")
    grid.amount(total, 2, t6.personnel_total)
    grid.merge(total, 3, total, 4, "公用经费合计", "label")
    grid.amount(total, 5, t6.public_total)
    grid.put(total + 1, 0, FOOTNOTES[6], "note")
    grid.widths.update({0: _WIDTHS["code"], 1: 24.0, 2: _WIDTHS["amount"], 3: _WIDTHS["code"], 4: 24.0})
    grid.widths.update({5: _WIDTHS["amount"]})
    return grid


def _table7(figures: NationalFigures) -> _Grid:
    t7 = figures.table7
    grid = _Grid(width=7)
    top = _title_block(grid, 7, figures)
    grid.merge(top, 0, top + 1, 0, "项目", "header")
    grid.merge(top, 1, top + 1, 1, "合计", "header")
    grid.merge(top, 2, top + 1, 2, "因公出国（境）费", "header")
    grid.merge(top, 3, top, 5, "公务用车购置及运行费", "header")
    grid.merge(top, 6, top + 1, 6, "公务接待费", "header")
    for col, label in enumerate(("小计", "公务用车购置费", "公务用车运行费"), start=3):
        grid.put(top + 1, col, label, "header")
    grid.put(top + 2, 0, "栏次", "header")
    for i in range(6):
        grid.put(top + 2, 1 + i, str(1 + i), "line")
    for row, (label, amounts) in enumerate((("预算数", t7.budget), ("决算数", t7.actual)), start=top + 3):
        grid.put(row, 0, label, "label")
        for col, key in enumerate(THREE_PUBLIC_ITEMS, start=1):
            grid.amount(row, col, amounts[key])
    grid.put(top + 5, 0, FOOTNOTES[7], "note")
    grid.widths.update({0: 12.0, **{c: _WIDTHS["amount"] for c in range(1, 7)}})
    return grid


def _grid(table: int, figures: NationalFigures, empty_tables: frozenset[int]) -> _Grid:
    empty = table in empty_tables
    if table == 1:
        return _table1(figures)
    if table == 4:
        return _table4(figures)
    if table == 6:
        return _table6(figures)
    if table == 7:
        return _table7(figures)
    data = {2: figures.table2, 3: figures.table3, 5: figures.table5, 8: figures.table8, 9: figures.table9}[table]
    return _code_grid(table, data, figures, empty)


def _empty(empty_tables: Collection[int]) -> frozenset[int]:
    """The tables to write empty with their note; only 表8 and 表9 have one (a department without such money)."""
    chosen = frozenset(empty_tables)
    if not chosen <= EMPTY_NOTES.keys():
        raise ValueError(f"only tables {sorted(EMPTY_NOTES)} can be written empty, not {sorted(chosen)}")
    return chosen


def _grids(figures: NationalFigures, empty_tables: Collection[int]) -> list[tuple[int, _Grid]]:
    empty = _empty(empty_tables)
    return [(table, _grid(table, figures, empty)) for table in TABLES]


def sheet_name(table: int) -> str:
    return f"公开{table:02d}表"


STACKED_SHEET = "部门决算公开表"
_STACK_GAP = 2  # blank rows between two tables on one sheet


# --- .xlsx (openpyxl) --------------------------------------------------------------------------

_THIN = Side(style="thin")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


def _fill_xlsx(sheet: Worksheet, grid: _Grid, top: int = 0) -> None:
    for (row, col), (value, style_name) in grid.cells.items():
        style = _STYLES[style_name]
        cell = sheet.cell(top + row + 1, col + 1)
        # Amounts as numbers (openpyxl has no Decimal cells); text stays text, codes included.
        cell.value = float(value) if isinstance(value, Decimal) else value
        cell.font = Font(name="宋体", size=style.size, bold=style.bold)
        cell.alignment = Alignment(horizontal=style.horizontal, vertical="center", wrap_text=style.wrap)
        if style.border:
            cell.border = _BOX
        cell.number_format = style.number_format
    for first_row, first_col, last_row, last_col in grid.merges:
        sheet.merge_cells(
            start_row=top + first_row + 1,
            start_column=first_col + 1,
            end_row=top + last_row + 1,
            end_column=last_col + 1,
        )
    sheet.row_dimensions[top + 1].height = 30


def _widths_xlsx(sheet: Worksheet, grids: Iterable[_Grid]) -> None:
    widths: dict[int, float] = {}
    for grid in grids:
        for col, width in grid.widths.items():
            widths[col] = max(width, widths.get(col, 0.0))
    for col, width in sorted(widths.items()):
        sheet.column_dimensions[get_column_letter(col + 1)].width = width


def _new_book() -> Workbook:
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    return book


def _save_xlsx(book: Workbook, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(workbook_bytes(book))  # fixed zip and document timestamps: the same bytes every time
    return path


def write_national_xlsx(figures: NationalFigures, path: Path, empty_tables: Collection[int] = ()) -> Path:
    """One workbook of nine sheets, 公开01表 … 公开09表."""
    book = _new_book()
    for table, grid in _grids(figures, empty_tables):
        sheet = book.create_sheet(sheet_name(table))
        _fill_xlsx(sheet, grid)
        _widths_xlsx(sheet, [grid])
    return _save_xlsx(book, path)


# --- .xls (xlwt, BIFF8) ------------------------------------------------------------------------


def _xlwt_style(style: _Style) -> Any:
    horizontal = {"left": "left", "center": "centre", "right": "right"}[style.horizontal]
    parts = [
        f"font: name 宋体, height {style.size * 20}, bold {'on' if style.bold else 'off'}",
        f"align: horiz {horizontal}, vert centre, wrap {'on' if style.wrap else 'off'}",
    ]
    if style.border:
        parts.append("borders: left thin, right thin, top thin, bottom thin")
    return xlwt.easyxf("; ".join(parts), num_format_str=style.number_format)


def _fill_xls(sheet: Any, grid: _Grid, styles: dict[str, Any], top: int = 0) -> None:
    merged = {(r, c): (lr, lc) for r, c, lr, lc in grid.merges}
    covered = grid.covered()
    for (row, col), (value, style_name) in grid.cells.items():
        if (row, col) in covered:
            continue
        cell = float(value) if isinstance(value, Decimal) else value  # text stays text, codes included
        if (row, col) in merged:
            last_row, last_col = merged[row, col]
            sheet.write_merge(top + row, top + last_row, col, last_col, cell, styles[style_name])
        else:
            sheet.write(top + row, col, cell, styles[style_name])
    sheet.row(top).height_mismatch = True
    sheet.row(top).height = 20 * 30


def _widths_xls(sheet: Any, grids: Iterable[_Grid]) -> None:
    widths: dict[int, float] = {}
    for grid in grids:
        for col, width in grid.widths.items():
            widths[col] = max(width, widths.get(col, 0.0))
    for col, width in sorted(widths.items()):
        sheet.col(col).width = int(256 * width)


def _xls_book() -> tuple[Any, dict[str, Any]]:
    book = xlwt.Workbook(encoding="utf-8")
    return book, {name: _xlwt_style(style) for name, style in _STYLES.items()}


def _save_xls(book: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    book.save(buffer)  # xlwt stamps no time into the file: the same figures give the same bytes
    path.write_bytes(buffer.getvalue())
    return path


def write_national_xls(figures: NationalFigures, path: Path, empty_tables: Collection[int] = ()) -> Path:
    """One BIFF8 workbook of nine sheets, as the final-accounts software exports it."""
    book, styles = _xls_book()
    for table, grid in _grids(figures, empty_tables):
        sheet = book.add_sheet(sheet_name(table))
        _fill_xls(sheet, grid, styles)
        _widths_xls(sheet, [grid])
    return _save_xls(book, path)


# --- other arrangements ------------------------------------------------------------------------


def write_national_separate(
    figures: NationalFigures, directory: Path, suffix: str = ".xlsx", empty_tables: Collection[int] = ()
) -> list[Path]:
    """The nine tables as nine workbooks of one sheet each (公开01表.xlsx …), .xlsx or .xls by suffix."""
    paths: list[Path] = []
    for table, grid in _grids(figures, empty_tables):
        path = directory / f"{sheet_name(table)}{suffix}"
        if suffix == ".xls":
            book, styles = _xls_book()
            sheet = book.add_sheet(sheet_name(table))
            _fill_xls(sheet, grid, styles)
            _widths_xls(sheet, [grid])
            paths.append(_save_xls(book, path))
        elif suffix == ".xlsx":
            xlsx = _new_book()
            xlsx_sheet = xlsx.create_sheet(sheet_name(table))
            _fill_xlsx(xlsx_sheet, grid)
            _widths_xlsx(xlsx_sheet, [grid])
            paths.append(_save_xlsx(xlsx, path))
        else:
            raise ValueError(f"suffix {suffix!r}: .xlsx or .xls")
    return paths


def stacked_offsets(figures: NationalFigures, empty_tables: Collection[int] = ()) -> dict[int, int]:
    """The 0-based row at which each table's title sits on the stacked sheet."""
    offsets: dict[int, int] = {}
    top = 0
    for table, grid in _grids(figures, empty_tables):
        offsets[table] = top
        top += grid.height + _STACK_GAP
    return offsets


def write_national_stacked(figures: NationalFigures, path: Path, empty_tables: Collection[int] = ()) -> Path:
    """All nine tables on one sheet, one below another with two blank rows between, each with its title
    block; .xlsx or .xls by the path's suffix."""
    grids = _grids(figures, empty_tables)
    offsets = stacked_offsets(figures, empty_tables)
    if path.suffix == ".xls":
        book, styles = _xls_book()
        sheet = book.add_sheet(STACKED_SHEET)
        for table, grid in grids:
            _fill_xls(sheet, grid, styles, offsets[table])
        _widths_xls(sheet, [grid for _, grid in grids])
        return _save_xls(book, path)
    xlsx = _new_book()
    xlsx_sheet = xlsx.create_sheet(STACKED_SHEET)
    for table, grid in grids:
        _fill_xlsx(xlsx_sheet, grid, offsets[table])
    _widths_xlsx(xlsx_sheet, [grid for _, grid in grids])
    return _save_xlsx(xlsx, path)


def write_national_samples(directory: Path) -> list[Path]:
    """The seed department's nine tables as .xlsx and .xls (`national-seed.*`), and each planted-error copy as both
    (`national-error-<name>.*`), in the directory (an inbox, say)."""
    paths = [
        write_national_xlsx(national_seed_figures(), directory / "national-seed.xlsx"),
        write_national_xls(national_seed_figures(), directory / "national-seed.xls"),
    ]
    for name, planted in national_planted_errors().items():
        paths.append(write_national_xlsx(planted.figures, directory / f"national-error-{name}.xlsx"))
        paths.append(write_national_xls(planted.figures, directory / f"national-error-{name}.xls"))
    return paths
