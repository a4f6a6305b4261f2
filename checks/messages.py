"""Filling message templates from the template file without ever failing on a missing field."""

from __future__ import annotations

import string
from typing import Any

# Text a bureau typed (a project's name, a cell's content) is quoted in findings, and findings are copied
# into pages, mails and the annotated workbook's cells: a 10 MB cell must not become a 10 MB message.
QUOTED_CHARACTERS = 200
MESSAGE_CHARACTERS = 2000
ELLIPSIS = "…"


class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


_FORMATTER = string.Formatter()


def clip(text: str, limit: int = QUOTED_CHARACTERS) -> str:
    """`text`, cut to `limit` characters with "…" when longer."""
    return text if len(text) <= limit else text[:limit] + ELLIPSIS


def _quoted(value: Any) -> Any:
    return clip(value) if isinstance(value, str) else value


def render(template: str, **fields: Any) -> str:
    """`template` with `{name}` fields filled, each text field capped; an unknown field shows as `?`, never an
    exception."""
    try:
        text = _FORMATTER.vformat(template, (), _Lenient({name: _quoted(value) for name, value in fields.items()}))
    except (ValueError, IndexError, AttributeError):
        text = template
    return clip(text, MESSAGE_CHARACTERS)
