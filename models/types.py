"""Column types: money stays an exact decimal in every database."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine


class ExactDecimal(TypeDecorator[Decimal]):
    """NUMERIC of any precision where the database has it; decimal text in SQLite, whose NUMERIC is a float.

    No fixed precision or scale: a fixed one would round digits past its scale and refuse whatever
    overflows it (an account number typed into an amount cell), failing the submission's whole load."""

    impl = Numeric(28, 10)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        return money_binder(dialect)(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        number = Decimal(value).normalize()
        exponent = number.as_tuple().exponent
        # Give back the digits as submitted, without padding or exponent (100, not 100.00 or 1E+2).
        return number.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else number


def money_value(value: Decimal | None) -> Decimal | None:
    """A money value as a driver that knows NUMERIC takes it; a float or an int is refused, not rounded."""
    if value is not None and value.__class__ is not Decimal and not isinstance(value, Decimal):
        raise TypeError(f"money must be a Decimal, not {type(value).__name__}")
    return value


def money_parameter(value: Decimal | None) -> str | None:
    """A money value as SQLite keeps it: its exact decimal text."""
    checked = money_value(value)
    return None if checked is None else format(checked, "f")


def money_binder(dialect: Dialect) -> Callable[[Decimal | None], Any]:
    """How a money value is bound for the dialect's driver (`models.bulk` calls it without SQLAlchemy's wrapper)."""
    return money_parameter if dialect.name == "sqlite" else money_value
