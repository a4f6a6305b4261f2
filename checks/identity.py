"""A submission is known by the SHA-256 of its bytes: its name in the archive, its key in the database, the
identity the reader reports. One definition, so that the three always agree."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
