"""The statements whose SQL differs between SQLite and PostgreSQL, decided here and nowhere else: inserts that
meet a unique key, row locks, and many rows written at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, Engine, Table, func, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.selectable import GenerativeSelect
from sqlmodel import Session

from models.types import ExactDecimal, money_binder, money_value

Selected = TypeVar("Selected", bound=GenerativeSelect)


def _postgres(bind: Engine | Connection | Session) -> bool:
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    return engine.dialect.name == "postgresql"


def insert_ignoring_conflicts(bind: Engine | Session, table: Any, index_elements: Sequence[str] | None = None) -> Any:
    """INSERT … ON CONFLICT DO NOTHING: a row whose unique key is taken already is left out, without an error."""
    dialect = postgresql if _postgres(bind) else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=index_elements)


def upsert(
    bind: Engine | Session,
    table: Any,
    index_elements: Sequence[str],
    changed: Sequence[str],
    *,
    kept_when_blank: Sequence[str] = (),
) -> Any:
    """INSERT … ON CONFLICT (index_elements) DO UPDATE of the `changed` columns, for one row or many; a column of
    `kept_when_blank` keeps its stored value where the new row has none."""
    dialect = postgresql if _postgres(bind) else sqlite
    statement = dialect.insert(table)
    values = {name: statement.excluded[name] for name in changed}
    for name in kept_when_blank:
        values[name] = func.coalesce(statement.excluded[name], statement.table.c[name])
    return statement.on_conflict_do_update(index_elements=list(index_elements), set_=values)


def locking(bind: Engine | Session, statement: Selected, *, skip_locked: bool = False) -> Selected:
    """The rows selected, locked until the transaction ends. SQLite needs no row lock: it lets one transaction
    write at a time, and budgetflow's sessions begin as writers (see `models.database`)."""
    return statement.with_for_update(skip_locked=skip_locked) if _postgres(bind) else statement


def insert_many(session: Session, table: Any, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """The rows (each the values of `columns`, in order) in one go: COPY on PostgreSQL, one executemany on SQLite.

    Not the ORM's bulk insert: it groups rows by which values are None and sends each group as its own
    statement (10,000 statements for 1000 files). Nor a Core insert: it makes each row's parameters in
    Python, a lookup and a type processor call per value (~5 µs a row, the largest cost of loading). Here
    each column's processor, the same one SQLAlchemy would call, is found once per batch, and only the
    columns that have one (money, JSON) are touched.
    """
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    names = list(columns)
    table_columns = table.__table__.columns
    if any(column.default is not None and column.key not in names for column in table_columns):
        # a Python-side default to fill in: SQLAlchemy does it
        session.execute(insert(table.__table__), [dict(zip(names, row, strict=True)) for row in rows])
        return
    if _postgres(connection):
        _copy_rows(connection, table.__table__, names, _bound(rows, names, table_columns, dialect))
        return
    compiled = insert(table.__table__).compile(dialect=dialect, column_keys=names, for_executemany=True)
    order = list(compiled.positiontup or ())  # SQLite's parameters, in the statement's column order
    if order != names:
        positions = [names.index(name) for name in order]
        rows = [tuple(row[position] for position in positions) for row in rows]
    connection.exec_driver_sql(compiled.string, _bound(rows, order, table_columns, dialect))


def _bound(rows: Sequence[Sequence[Any]], names: list[str], columns: Any, dialect: Dialect) -> list[tuple[Any, ...]]:
    """Each row as the driver takes it, through each column's own bind processor; money's directly, without
    SQLAlchemy's wrapper around it (a third of the client's time for 500 values a file)."""
    processors = [
        (position, process)
        for position, name in enumerate(names)
        if (process := _processor(columns[name].type, dialect)) is not None
    ]
    # money as a driver that knows NUMERIC takes it is only checked: the row need not be made again
    checked = [position for position, process in processors if process is money_value]
    converted = [(position, process) for position, process in processors if process is not money_value]
    for position in checked:
        for row in rows:
            money_value(row[position])
    if not converted:
        return [tuple(row) for row in rows]
    # every table loaded so far has one column to convert (money on SQLite, a finding's cells), so its rows are
    # made once; a table with more makes them again for each
    (position, process), *others = converted
    bound = _converted(rows, position, process)
    for position, process in others:
        bound = _converted(bound, position, process)
    return bound


def _converted(rows: Sequence[Sequence[Any]], position: int, process: Any) -> list[tuple[Any, ...]]:
    """The rows with the value at `position` converted, each row made once (its slices and unpacking run in C:
    0.24 ms for 500 values, where changing a list and making it a tuple again cost 0.40)."""
    after = position + 1
    return [(*row[:position], process(row[position]), *row[after:]) for row in rows]


def _processor(column_type: Any, dialect: Dialect) -> Any:
    if isinstance(column_type, ExactDecimal):
        return money_binder(dialect)
    return column_type.dialect_impl(dialect).bind_processor(dialect)


def _copy_rows(connection: Connection, table: Table, names: list[str], values: list[tuple[Any, ...]]) -> None:
    """PostgreSQL takes the rows by COPY, in the session's transaction: an INSERT per row costs the server a
    parse, a plan and an execution each, and on a small machine the server's CPU is the intake's CPU."""
    dialect = connection.dialect
    preparer = dialect.identifier_preparer
    statement = f"COPY {preparer.format_table(table)} ({', '.join(preparer.quote(name) for name in names)}) FROM STDIN"
    driver = connection.connection.driver_connection
    assert driver is not None
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in values:
                copy.write_row(row)
    except dialect.loaded_dbapi.Error as exc:  # as SQLAlchemy raises it for its own statements
        invalidated = dialect.is_disconnect(exc, driver, None)
        if invalidated:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            statement, None, exc, dialect.loaded_dbapi.Error, connection_invalidated=invalidated, dialect=dialect
        ) from exc
