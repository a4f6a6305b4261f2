from __future__ import annotations

from pathlib import Path

import pytest

from workbooks.samples import write_samples


@pytest.fixture(scope="session")
def sample_inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample inbox, written once per test session."""
    directory = tmp_path_factory.mktemp("inbox")
    write_samples(directory)
    return directory
