"""The intake's steps as plain functions: the Prefect flow only calls them in order, in batches."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from budgetflow.settings import Settings
from checks.findings import FileReport
from checks.records import Submission
from checks.template import load_template
from checks.validate import validate_batch
from intake import progress
from intake.archive import archive_files, archive_path_for, discover, remove_from_inbox
from models.store import ClaimedReceipt, Delivery, LoadOutcome, load, pending_receipts, record_receipts
from workbooks.reader import read_submission

PARALLEL_READ_MINIMUM = 64  # below this, starting worker processes costs more than it saves


@dataclass(slots=True)
class IntakeSummary:
    run_id: int
    flow_run_id: str | None
    inbox: str
    files_seen: int = 0
    outcomes: list[LoadOutcome] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(o.outcome == outcome for o in self.outcomes)

    def status_count(self, status: str) -> int:
        return sum(o.status == status and o.outcome == "loaded" for o in self.outcomes)


def receive(inbox: Path, settings: Settings, engine: Engine, run_id: int) -> tuple[int, list[ClaimedReceipt]]:
    """Archive every inbox file, record it, then take it out of the inbox; returns (files seen, claimed)."""
    files = discover(inbox)
    archived = archive_files(files, settings.archive_dir)
    deliveries = [Delivery(a.claim_key, a.sha256, a.file_name, a.source.size, str(a.archive_path)) for a in archived]
    claimed = record_receipts(engine, run_id, deliveries)
    remove_from_inbox(archived)  # every one is now archived and recorded, by this run or a concurrent one
    return len(files), claimed


def leftovers(settings: Settings, engine: Engine, run_id: int) -> list[ClaimedReceipt]:
    """Files archived and recorded by earlier runs but never loaded."""
    return pending_receipts(engine, run_id, lambda sha256: archive_path_for(settings.archive_dir, sha256))


def _read_one(receipt: ClaimedReceipt, template_name: str) -> Submission:
    submission = read_submission(Path(receipt.archive_path), load_template(template_name))
    submission.file = receipt.file_name
    return submission


def read_all(receipts: Sequence[ClaimedReceipt], settings: Settings) -> list[Submission]:
    """Read every archived file; many files are read in worker processes."""
    workers = settings.read_workers or os.cpu_count() or 1
    if len(receipts) < PARALLEL_READ_MINIMUM or workers == 1:
        return [_read_one(r, settings.template) for r in receipts]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        chunk = max(1, len(receipts) // (workers * 4))
        return list(pool.map(_read_one, receipts, [settings.template] * len(receipts), chunksize=chunk))


def check_all(submissions: list[Submission], settings: Settings) -> list[FileReport]:
    return validate_batch(submissions, load_template(settings.template))


def load_all(
    engine: Engine,
    run_id: int,
    receipts: Sequence[ClaimedReceipt],
    submissions: Sequence[Submission],
    reports: Sequence[FileReport],
) -> list[LoadOutcome]:
    """Load each submission in its own transaction."""
    outcomes = []
    for receipt, submission, report in zip(receipts, submissions, reports, strict=True):
        outcomes.append(load(engine, run_id, receipt, submission, report))
        progress.advance("load")
    return outcomes


def batches(items: Sequence[ClaimedReceipt], size: int) -> list[list[ClaimedReceipt]]:
    return [list(items[start : start + size]) for start in range(0, len(items), size)]
