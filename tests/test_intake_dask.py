"""The `intake` flow reading on a Dask cluster: a real LocalCluster of two worker processes, SQLite, Prefect."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from distributed import Client, LocalCluster, get_task_stream
from sqlalchemy import select
from sqlmodel import Session, col

from flows.intake import intake
from intake.pipeline import IntakeSummary
from models.database import engine_for
from models.tables import Submission

BATCH_SIZE = 2  # six sample files: three batches, so three read tasks on the cluster


@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[str]:
    """A Dask cluster of two single-threaded worker processes (they import the project from the same venv)."""
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)  # type: ignore[no-untyped-call]
    with cluster:
        yield cluster.scheduler_address


def run_intake(
    sample_inbox: Path, directory: Path, monkeypatch: pytest.MonkeyPatch, dask_address: str | None = None
) -> IntakeSummary:
    """One intake run over a fresh copy of the sample inbox, into a SQLite database of its own."""
    inbox = directory / "inbox"
    inbox.mkdir(parents=True)
    for path in sample_inbox.iterdir():
        shutil.copy(path, inbox / path.name)
    monkeypatch.setenv("BUDGETFLOW_DATABASE_URL", f"sqlite:///{directory / 'budgetflow.db'}")
    summary: IntakeSummary = intake(
        inbox=str(inbox), batch_size=BATCH_SIZE, data_dir=str(directory / "var"), dask_address=dask_address
    )
    assert list(inbox.iterdir()) == []
    return summary


def results(summary: IntakeSummary) -> list[tuple[Any, ...]]:
    """What a run found per file, in the order it loaded them."""
    return [
        (o.file_name, o.outcome, o.bureau_code, o.fiscal_year, o.version, o.status, o.errors, o.warnings,
         sorted((f.rule, f.sheet, tuple(f.cells)) for f in o.findings))
        for o in summary.outcomes
    ]  # fmt: skip


def stored(directory: Path) -> list[tuple[Any, ...]]:
    with Session(engine_for(f"sqlite:///{directory / 'budgetflow.db'}")) as session:
        rows = session.execute(select(Submission).order_by(col(Submission.file_name))).scalars()
        return [(s.file_name, s.sha256, s.bureau_code, s.fiscal_year, s.version, s.status, s.is_current) for s in rows]


@pytest.mark.usefixtures("prefect_server")
def test_reading_on_a_dask_cluster_loads_the_same_submissions_with_the_same_findings_as_the_default_run(
    sample_inbox: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dask_scheduler: str
) -> None:
    monkeypatch.setenv("BUDGETFLOW_DB_RETRY_DELAY_SECONDS", "0.2")
    default = run_intake(sample_inbox, tmp_path / "default", monkeypatch)

    client = Client(dask_scheduler)  # type: ignore[no-untyped-call]
    with client, get_task_stream(client=client) as stream:
        workers = set(client.scheduler_info()["workers"])
        on_dask = run_intake(sample_inbox, tmp_path / "dask", monkeypatch, dask_address=dask_scheduler)

    assert len(default.outcomes) == 6
    assert results(on_dask) == results(default)
    assert stored(tmp_path / "dask") == stored(tmp_path / "default")
    assert on_dask.fiscal_years == [2023] and len(on_dask.period_reports) == 2
    # the three batches were read on the cluster's workers, one task each
    reads = [t for t in stream.data if "read_workbooks" in str(t["key"])]
    assert len(reads) == 3, stream.data
    assert {t["worker"] for t in reads} <= workers
