"""The two engines behind `workbooks.grid.open_grid` read the same workbook the same way.

calamine reads values fast; openpyxl reads everything. The fast path must give exactly the grid the
openpyxl path gives — values with their Python types, number formats, merged ranges, extents — and
must step aside (returning None) for every workbook it would read differently.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bench.generate import VARIANTS, generate
from config.settings import ReaderLimits
from workbooks.cells import WorkbookGrid
from workbooks.ooxml import _read_with_calamine, _read_with_openpyxl
from workbooks.package import _check_archive
from workbooks.samples import MESSY, SAMPLE_FILES, build_workbook, clean_figures, workbook_bytes

LIMITS = ReaderLimits()


def snapshot(grid: WorkbookGrid) -> list[Any]:
    for sheet in grid.sheets:
        sheet.load_formats()
    return [
        (
            sheet.title,
            sheet.max_row,
            sheet.max_col,
            sorted(sheet.merged),
            {key: (type(c.value).__name__, c.value, c.number_format, c.formula) for key, c in sheet.cells.items()},
        )
        for sheet in grid.sheets
    ]


def both_engines(path: Path) -> tuple[WorkbookGrid | None, WorkbookGrid]:
    with zipfile.ZipFile(path) as archive:
        parts = _check_archive(path, archive, LIMITS)
    return _read_with_calamine(path, parts, LIMITS), _read_with_openpyxl(path, parts, LIMITS)


def saved(book: openpyxl.Workbook, path: Path) -> Path:
    book.save(path)
    return path


def patched(path: Path, part: str, change: Any) -> Path:
    """The workbook with one part's XML rewritten by `change(bytes) -> bytes`."""
    source = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            target.writestr(info, change(data) if info.filename == part else data)
    return path


def every_kind_of_value(path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "数值"
    rows: list[tuple[Any, str]] = [
        (3200, "General"),
        (3200.0, "#,##0.00"),
        (650.2, "0.00"),
        (-12.345, "0.000"),
        (0.9753, "0.00%"),
        (0.98, "0%"),
        (97.53, '0.00"%"'),
        (1e20, "General"),
        (12345678901234567890, "General"),
        (dt.datetime(2024, 3, 15), "yyyy-mm-dd"),
        (dt.datetime(2024, 3, 15, 10, 30), "yyyy-mm-dd h:mm:ss"),
        (dt.date(2024, 3, 31), 'yyyy"年"m"月"d"日"'),
        (True, "General"),
        ("  带空格的文字 ", "@"),
        ("1,234.50", "General"),
        ("＝全角等号开头的文字", "General"),
    ]
    for row, (value, number_format) in enumerate(rows, start=3):  # data starts below two empty rows
        sheet.cell(row, 3, value).number_format = number_format  # and two empty columns
    sheet.merge_cells("E3:G4")
    sheet["E3"] = "合并"
    sheet.cell(40, 20, "远处的单元格")
    second = book.create_sheet("项目 (2)")
    second["A1"] = "只有一格"
    book.create_sheet("空表")
    hidden = book.create_sheet("隐藏")
    hidden.sheet_state = "hidden"
    hidden["B2"] = 1.5
    return saved(book, path)


@pytest.mark.parametrize("name", [*SAMPLE_FILES])
def test_every_sample_workbook_reads_the_same_through_calamine_and_openpyxl(name: str, tmp_path: Path) -> None:
    figures, layout = SAMPLE_FILES[name]
    path = tmp_path / name
    path.write_bytes(workbook_bytes(build_workbook(figures(), layout)))

    fast, full = both_engines(path)

    assert fast is not None
    assert snapshot(fast) == snapshot(full)


def test_every_benchmark_variant_that_calamine_takes_reads_the_same_as_with_openpyxl(tmp_path: Path) -> None:
    taken = set()
    for path in generate(50, tmp_path):
        if not zipfile.is_zipfile(path):
            continue  # the unreadable share
        fast, full = both_engines(path)
        if fast is not None:
            taken.add(path.stem.split("-", 1)[1])
            assert snapshot(fast) == snapshot(full), path.name
    assert taken == {v.name for v in VARIANTS} - {"unreadable"}


def test_numbers_percentages_dates_texts_merges_and_hidden_or_empty_sheets_read_the_same(tmp_path: Path) -> None:
    path = every_kind_of_value(tmp_path / "values.xlsx")

    fast, full = both_engines(path)

    assert fast is not None
    assert snapshot(fast) == snapshot(full)
    cells = fast.sheets[0].cells
    assert cells[(3, 3)].value == 3200 and isinstance(cells[(3, 3)].value, int)
    assert (cells[(7, 3)].value, cells[(7, 3)].number_format) == (0.9753, "0.00%")
    assert cells[(14, 3)].value == dt.datetime(2024, 3, 31)
    assert [s.title for s in fast.sheets] == ["数值", "项目 (2)", "空表", "隐藏"]


def test_a_plain_formula_without_a_cached_value_is_read_with_its_text_by_both_engines(tmp_path: Path) -> None:
    path = tmp_path / "messy.xlsx"
    path.write_bytes(workbook_bytes(build_workbook(clean_figures(), MESSY)))

    fast, full = both_engines(path)

    assert fast is not None
    assert any(c.formula for sheet in full.sheets for c in sheet.cells.values())
    assert snapshot(fast) == snapshot(full)


@pytest.mark.parametrize(
    ("cell", "fast_reads_it", "why"),
    [
        (b'<c r="A2"><f t="shared" ref="A2:A3" si="0">A1*2</f><v></v></c>', True, "a shared formula's master"),
        (b'<c r="A2"><f t="array" ref="A2">SUM(A1:A1*2)</f></c>', False, "an array formula"),
        (b'<c r="A2" t="n" s="0"><f>A1*2</f></c>', True, "attributes in another order"),
    ],
)
def test_a_formula_without_a_cached_value_is_read_with_its_text_by_calamine_or_goes_to_openpyxl(
    tmp_path: Path, cell: bytes, fast_reads_it: bool, why: str
) -> None:
    book = openpyxl.Workbook()
    assert book.active is not None
    book.active["A1"] = 1
    book.active["A2"] = 2
    path = patched(
        saved(book, tmp_path / "formula.xlsx"),
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b'<c r="A2" t="n"><v>2</v></c>', cell),
    )

    fast, full = both_engines(path)

    assert full.sheets[0].cells[(2, 1)].formula is not None
    if fast_reads_it:
        assert fast is not None, why
        assert fast.sheets[0].cells[(2, 1)] == full.sheets[0].cells[(2, 1)], why
    else:
        assert fast is None, why


def test_an_error_value_goes_to_openpyxl_which_reads_it_as_its_text(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    assert book.active is not None
    book.active["A1"] = 1
    path = patched(
        saved(book, tmp_path / "error.xlsx"),
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b'<c r="A1" t="n"><v>1</v></c>', b'<c r="A1" t="e"><f>1/0</f><v>#DIV/0!</v></c>'),
    )

    fast, full = both_engines(path)

    assert fast is None
    assert full.sheets[0].cells[(1, 1)].value == "#DIV/0!"


def test_cells_without_positions_go_to_openpyxl(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    assert book.active is not None
    book.active.append(["单位名称", "沅江市教育局"])
    path = patched(
        saved(book, tmp_path / "unpositioned.xlsx"),
        "xl/worksheets/sheet1.xml",
        lambda xml: re.sub(rb'<c r="[A-Z]+[0-9]+"', b"<c", xml),
    )

    fast, full = both_engines(path)

    assert fast is None
    assert [c.value for c in full.sheets[0].cells.values()] == ["单位名称", "沅江市教育局"]


def test_a_cell_beyond_the_read_limits_goes_to_openpyxl_which_stops_at_the_limits(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet["A1"] = "单位名称"
    sheet.cell(LIMITS.max_rows + 5, LIMITS.max_columns + 5, "far away")  # calamine would fill the square between
    path = saved(book, tmp_path / "far.xlsx")

    fast, full = both_engines(path)

    assert fast is None
    assert list(full.sheets[0].cells) == [(1, 1)]


def test_a_malformed_styles_part_goes_to_openpyxl_which_says_what_is_wrong(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    assert book.active is not None
    book.active["A1"] = 0.5
    book.active["A1"].number_format = "0.00%"
    path = patched(
        saved(book, tmp_path / "styles.xlsx"),
        "xl/styles.xml",
        lambda xml: re.sub(rb'numFmtId="10"', b'numFmtId="ten"', xml, count=1),
    )

    with zipfile.ZipFile(path) as archive:
        assert _read_with_calamine(path, _check_archive(path, archive, LIMITS), LIMITS) is None


def test_the_styles_of_workbooks_from_one_template_are_parsed_once_and_a_huge_styles_part_is_never_kept() -> None:
    from workbooks import ooxml as grid
    from workbooks.package import Package

    styles = workbook_bytes(build_workbook(clean_figures()))
    with zipfile.ZipFile(io.BytesIO(styles)) as archive:
        part = archive.read("xl/styles.xml")
    grid._formats_of_styles.cache_clear()

    first = grid._style_formats(Package({"xl/styles.xml": part}), "xl/styles.xml")
    again = grid._style_formats(Package({"xl/styles.xml": bytes(part)}), "xl/styles.xml")  # equal bytes, another file
    assert again == first and "0.00%" in first.values()
    assert grid._formats_of_styles.cache_info().hits == 1

    padded = part.replace(b"</styleSheet>", b"<!--" + b" " * grid.CACHED_PART_BYTES + b"--></styleSheet>")
    assert grid._style_formats(Package({"xl/styles.xml": padded}), "xl/styles.xml") == first
    assert grid._formats_of_styles.cache_info().currsize == 1  # the padded part was parsed but not kept
