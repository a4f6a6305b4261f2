"""Whose file is it when the workbook cannot say (issue 13): the bureau and year a file's name gives."""

from __future__ import annotations

import pytest

from checks.attribution import bureau_of_file, short_name, year_of_file

REGISTRY = [
    ("430981-013", "沅江市科学技术和工业信息化局"),
    ("430981-047", "沅江市农业农村局"),
    ("430981-060", "沅江市水利局"),
    ("430981-061", "沅江市水利局机关服务中心"),
    ("430902-060", "益阳市赫山区水利局"),
]


def test_a_registered_name_loses_the_division_it_starts_with() -> None:
    assert short_name("沅江市水利局") == "水利局"
    assert short_name("益阳市赫山区水利局") == "水利局"
    assert short_name("湖南省财政厅") == "财政厅"
    assert short_name("市局") == "市局"  # nothing sensible left: the whole name


@pytest.mark.parametrize(
    ("file_name", "code"),
    [
        ("430981-060 决算.xls", "430981-060"),  # the code says it
        ("2023-沅江市水利局.xlsx", "430981-060"),  # the whole name
        ("2023-农业农村局.xlsx", "430981-047"),  # the name without the county
        ("沅江市水利局机关服务中心2023.xlsx", "430981-061"),  # the longer name wins over the one inside it
        ("2023-水利局.xlsx", None),  # two bureaus are 水利局 without their division: not told
        ("2023-科工信局.xlsx", None),  # an abbreviation is not a name
        ("报表.xlsx", None),
    ],
)
def test_a_file_is_matched_to_a_bureau_only_when_its_name_tells_which(file_name: str, code: str | None) -> None:
    assert bureau_of_file(file_name, REGISTRY) == code


def test_without_the_other_county_the_short_name_is_enough() -> None:
    assert bureau_of_file("2023-水利局.xlsx", REGISTRY[:3]) == "430981-060"


@pytest.mark.parametrize(
    ("file_name", "year"),
    [("2023-水利局.xlsx", 2023), ("水利局2024年决算.xls", 2024), ("水利局.xlsx", None), ("2023-2024.xlsx", None),
     ("430981-060.xlsx", None)],
)  # fmt: skip
def test_the_year_is_the_one_the_name_gives(file_name: str, year: int | None) -> None:
    assert year_of_file(file_name) == year
