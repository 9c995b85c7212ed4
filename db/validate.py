"""Make every backend refuse what PostgreSQL refuses, before it reaches the database.

PostgreSQL rejects NUL characters in text and JSON, and strings longer than a VARCHAR's length; SQLite
stores both silently. So the same bad input (a voter id of 500 characters, a bank row with "\\u0000")
was stored on one backend and a traceback on the other. A `before_flush` hook checks every new or
changed ORM object and raises `InvalidValue` (a one-line user error) on both.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Engine, String, event, inspect
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert, Update

from core.errors import UserError


class InvalidValue(UserError, ValueError):
    """A value no database backend may store (NUL character, string longer than its column)."""


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    return False


def _check_value(where: str, column_type: Any, value: Any) -> None:
    if value is None:
        return
    if isinstance(column_type, (String, JSON)) and _has_nul(value):
        raise InvalidValue(f"{where}: contains a NUL character (\\x00), which databases cannot store")
    length = getattr(column_type, "length", None)
    if isinstance(value, str) and length is not None and len(value) > length:
        raise InvalidValue(f"{where}: {len(value)} characters, longer than its limit of {length}")


def check_object(obj: Any) -> None:
    """Raise InvalidValue when a column value of the mapped `obj` would fail on PostgreSQL."""
    mapper = inspect(obj).mapper
    for attr in mapper.column_attrs:
        column = attr.columns[0]
        _check_value(f"{mapper.local_table.name}.{column.name}", column.type, getattr(obj, attr.key, None))


def check_rows(table: Any, rows: list[dict[str, Any]]) -> None:
    """Raise InvalidValue when a row of a Core INSERT/UPDATE into `table` would fail on PostgreSQL."""
    for row in rows:
        for key, value in row.items():
            column = table.c.get(key) if isinstance(key, str) else None
            if column is not None:
                _check_value(f"{table.name}.{column.name}", column.type, value)


@event.listens_for(Session, "before_flush")
def _check_flush(session: Session, _context: Any, _instances: Any) -> None:
    for obj in (*session.new, *session.dirty):
        check_object(obj)


@event.listens_for(Engine, "before_execute")
def _check_statement(_conn: Any, statement: Any, multiparams: Any, params: Any, _options: Any) -> None:
    # Core inserts (INSERT ... ON CONFLICT DO NOTHING of item results, answers) bypass the ORM hook.
    if not isinstance(statement, (Insert, Update)) or not hasattr(statement.table, "c"):
        return
    rows = [p for p in (*(multiparams or ()), params) if isinstance(p, dict)]
    rows += [
        p for group in (multiparams or ()) if isinstance(group, (list, tuple)) for p in group if isinstance(p, dict)
    ]
    check_rows(statement.table, rows)
