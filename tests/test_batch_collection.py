"""The garbage collector during a run's batches: tuned in the run's process and its workers, put back after."""

from __future__ import annotations

import gc
from collections.abc import Sequence

from config.settings import ReaderLimits
from intake.isolation import BATCH_COLLECTION_THRESHOLDS, IsolatedPool, WorkerLost, batch_collection


def collector_state(part: Sequence[int]) -> list[tuple[tuple[int, int, int], int]]:
    return [(gc.get_threshold(), gc.get_freeze_count()) for _ in part]


def never_lost(job: int, why: WorkerLost) -> tuple[tuple[int, int, int], int]:
    raise AssertionError(f"job {job} lost: {why}")


def test_a_batch_runs_with_the_objects_before_it_frozen_and_the_collector_is_put_back_after() -> None:
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with batch_collection():
        assert gc.get_threshold() == BATCH_COLLECTION_THRESHOLDS
        frozen = gc.get_freeze_count()
        assert frozen > 1000  # the modules, the test session
        made_during = [[index] for index in range(100)]
        gc.collect()
        assert gc.get_freeze_count() == frozen  # the batch's own objects are collected as ever
        del made_during
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0  # unfrozen: cyclic garbage among them is collected again


def test_a_pool_worker_checks_its_batches_with_the_collector_tuned() -> None:
    pool = IsolatedPool(1, ReaderLimits())
    try:
        states = pool.map(collector_state, [[1, 2]], lost=never_lost)
    finally:
        pool.close()
    for thresholds, frozen in states:
        assert thresholds == BATCH_COLLECTION_THRESHOLDS
        assert frozen > 1000  # what it was forked with
    assert gc.get_threshold() != BATCH_COLLECTION_THRESHOLDS  # and this process is left as it was
