"""The typed tables' own invariants: what pandera refuses before any rule runs."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pytest

from checks.tables import GridTable


def grid(**amounts: list[float | None]) -> pd.DataFrame:
    size = len(next(iter(amounts.values())))
    return pd.DataFrame({"submission": list(range(size)), "sheet": ["收支总表"] * size, **amounts})


def failing_rows(frame: pd.DataFrame) -> list[object]:
    try:
        GridTable.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        return list(dict.fromkeys(errors.failure_cases["index"]))  # as checks.validate reads them
    return []


def test_a_grid_table_holds_amounts_that_are_blank_or_not_below_zero() -> None:
    frame = grid(income__amount=[1.5, None, 0.0], total__amount=[2.0, 3.0, None])
    assert failing_rows(frame) == []


def test_a_negative_amount_fails_its_row_whichever_column_holds_it() -> None:
    frame = grid(income__amount=[1.5, -0.01, 0.0], total__amount=[2.0, 3.0, -7.0])
    assert failing_rows(frame) == [1, 2]


@pytest.mark.parametrize("column", [["1.5", "2"], [True, False]])
def test_an_amount_column_that_is_not_float_fails_the_table(column: list[object]) -> None:
    frame = grid(income__amount=[1.5, 2.0], total__amount=column)  # type: ignore[arg-type]
    assert failing_rows(frame) == [None]  # the whole table: a defect of building it, not of a row
