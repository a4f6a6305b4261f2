"""Whose file is it, when the workbook itself cannot say: a file that could not be read has no cover.

The file's name often tells: bureaus name their files after themselves and the year (`2023-水利局.xlsx`,
`430981-060 决算.xls`). A file is matched to a registered bureau only when that can be told: the bureau's
code in the name, or its name, whole or without the county's prefix (沅江市水利局 → 水利局), and only
one bureau so named. Anything less sure stays 单位不明.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePath

# the administrative division a registered name starts with: 沅江市, 益阳市赫山区, 湖南省 …
_DIVISION = re.compile(r"^(?:.{1,8}?(?:省|自治区))?(?:.{1,8}?(?:市|州|盟))?(?:.{1,8}?(?:县|区|旗))?")
_YEAR = re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)")
SHORTEST_NAME = 3  # "局" or "水利" alone say too little


def short_name(name: str) -> str:
    """The name without the division it starts with (沅江市水利局 → 水利局), or the whole name."""
    rest = name[_DIVISION.match(name).end() :]  # type: ignore[union-attr]  # the pattern matches "" at least
    return rest if len(rest) >= SHORTEST_NAME else name


def bureau_of_file(file_name: str, bureaus: Iterable[tuple[str, str]]) -> str | None:
    """The code of the one bureau (code, name) that the file's name names, else None."""
    stem = PurePath(file_name).stem
    candidates = list(bureaus)
    by_code = [code for code, _ in candidates if code and code in stem]
    if len(by_code) == 1:
        return by_code[0]
    named: dict[str, int] = {}  # code → the length of the longest of its names found in the file name
    for code, name in candidates:
        found = [len(n) for n in {name, short_name(name)} if len(n) >= SHORTEST_NAME and n in stem]
        if found:
            named[code] = max(found)
    if not named:
        return None
    longest = max(named.values())
    best = [code for code, length in named.items() if length == longest]
    return best[0] if len(best) == 1 else None


def named_by_file(file_name: str, bureaus: Iterable[tuple[str, str]]) -> str | None:
    """`沅江市水利局（据文件名）`: the name of the one bureau that the file's name names, said to come from it."""
    registry = dict(bureaus)
    code = bureau_of_file(file_name, registry.items())
    return None if code is None else f"{registry[code]}（据文件名）"


def year_of_file(file_name: str) -> int | None:
    """The one year the file's name gives (2023), else None."""
    years = set(_YEAR.findall(PurePath(file_name).stem))
    return int(years.pop()) if len(years) == 1 else None


def bureau_by_name(name: str, bureaus: Iterable[tuple[str, str]]) -> str | None:
    """The code of the one registered bureau (code, name) that a workbook's own 部门：/单位名称 names: its whole name,
    or the same name without the county's prefix on either side (水利局 for 沅江市水利局); None when none or several."""
    wanted = "".join(name.split())
    whole = [code for code, registered in bureaus if "".join(registered.split()) == wanted]
    if len(whole) == 1:
        return whole[0]
    short = [code for code, registered in bureaus if short_name("".join(registered.split())) == short_name(wanted)]
    return short[0] if len(short) == 1 and not whole else None
