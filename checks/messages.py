"""Filling message templates from the template file without ever failing on a missing field."""

from __future__ import annotations

import string
from typing import Any


class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


_FORMATTER = string.Formatter()


def render(template: str, **fields: Any) -> str:
    """`template` with `{name}` fields filled; an unknown field shows as `?`, never an exception."""
    try:
        return _FORMATTER.vformat(template, (), _Lenient(fields))
    except (ValueError, IndexError, AttributeError):
        return template
