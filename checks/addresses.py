"""Email addresses as the bureau registry and the alerts accept them."""

from __future__ import annotations

import re

ADDRESS = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


def valid_address(address: str | None) -> bool:
    """A single plain address: no display name, no line breaks, no second recipient smuggled in."""
    return bool(address) and ADDRESS.fullmatch(address or "") is not None
