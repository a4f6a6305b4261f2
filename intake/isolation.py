"""Work on one file at a time that no file can turn into a failed batch: limits, and worker processes that may die.

Reading and checking a workbook runs our code and three engines (calamine, openpyxl, pandas) over
bytes a stranger wrote. Each file is therefore read

- inside `file_limits`: past `max_seconds` it is stopped (an alarm, in the main thread of a process),
  and in a worker process it may not grow the process by more than `max_memory_bytes` (its address
  space limit, so that an allocation fails with `MemoryError`, or the engine aborts, instead of the
  machine swapping);
- in a worker process of an `IsolatedPool`, whose death (a crash inside an engine, the memory limit
  hit inside Rust, a kill) costs only the work in flight: the file the worker was on is run again on
  its own, in a worker of its own, and is recorded as one that could not be processed if that one
  dies too; the other files of its part are run again as a part. A worker that shows no progress for
  `max_seconds` (a hang inside native code, where the alarm cannot reach) is killed by the parent.

Work functions call `beat(job)` as they start each file, in memory the parent reads: that is how it
knows which file a dead worker was on, and what "progress" means.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any, TypeVar

from config.settings import ReaderLimits

J = TypeVar("J")
R = TypeVar("R")

KILL_GRACE_SECONDS = 5.0  # past max_seconds, for the in-process alarm to stop the file first
WATCH_INTERVAL_SECONDS = 0.5

try:
    import resource
except ImportError:  # pragma: no cover - not on Linux
    resource = None  # type: ignore[assignment]


class FileTookTooLong(BaseException):
    """Raised by the alarm inside the work on one file. A BaseException, so that an engine's own
    `except Exception` cannot turn it into some other error and carry on."""


@dataclass(frozen=True, slots=True)
class WorkerLost:
    """The work on one job could not finish even on its own: its worker died, or was killed for showing no
    progress (`timed_out`)."""

    timed_out: bool


# --- the garbage collector, for work on batches of files ---------------------------------------------

# Collect the youngest objects every 20,000 allocations (Python's default: 700), and the older generations as
# rarely in proportion. A batch's files each make thousands of objects, almost all of them kept until the
# batch is checked: at the defaults the collector examines them again and again without finding garbage.
BATCH_COLLECTION_THRESHOLDS = (20_000, 20, 20)


def _tune_collection() -> None:
    gc.freeze()  # what exists now (modules, the template, Prefect's and SQLAlchemy's state) is not the batch's
    gc.set_threshold(*BATCH_COLLECTION_THRESHOLDS)


@contextlib.contextmanager
def batch_collection() -> Iterator[None]:
    """The garbage collector tuned for a run's batches, and put back as it was when they are done.

    Reading and checking a batch, or loading one, makes millions of small objects that live until the batch
    is done. At Python's default thresholds a full collection examines every object in the process, the
    imported libraries' included, each time the kept objects have grown by a quarter: a quarter of the
    CPU that reading and checking a national workbook costs, a fifth of a v1 workbook's (measured, 250 files).
    Frozen objects are never examined (nor written to: a forked worker shares their pages with its parent);
    cyclic garbage among them waits until they are unfrozen, here on leaving.
    """
    thresholds = gc.get_threshold()
    _tune_collection()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


# --- inside a worker process ------------------------------------------------------------------------

CHECKING = -1  # the job index of a part's last phase, which works on all its jobs at once
_IDLE = -2


@dataclass(frozen=True, slots=True)
class _Progress:
    """What each worker of a pool is doing, in memory the parent and the workers share: one slot a worker."""

    part: Any  # the part it works on (-1: none)
    job: Any  # the job of that part it started last (CHECKING, or _IDLE)
    since: Any  # when it started that job (seconds since the epoch; 0: nothing to watch)
    pid: Any  # the worker's process id
    slots: Any  # how many workers have taken a slot

    @classmethod
    def shared(cls, workers: int, context: Any) -> _Progress:
        return cls(
            context.Array("i", [-1] * workers, lock=False),
            context.Array("i", [_IDLE] * workers, lock=False),
            context.Array("d", workers, lock=False),
            context.Array("q", workers, lock=False),
            context.Value("i", 0),
        )

    def in_flight(self) -> dict[int, int]:
        """part → the job each worker was on (read after the workers died: the memory outlives them)."""
        return {part: job for part, job in zip(self.part, self.job, strict=True) if part >= 0}


_progress: _Progress | None = None
_slot = -1


def _start_worker(progress: _Progress) -> None:
    global _progress, _slot
    with progress.slots.get_lock():
        _slot = progress.slots.value % len(progress.pid)
        progress.slots.value += 1
    progress.pid[_slot] = os.getpid()
    _progress = progress
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a worker told to stop stops, whatever the parent set
    _tune_collection()  # a worker does nothing but batches, for as long as it lives
    _die_with_parent()


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the run's process dies (SIGKILL, the OOM killer): an orphaned worker
    would otherwise wait for work for ever, holding the run's terminal or log pipes open."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the worker ends when it next finds the parent gone
        return
    if os.getppid() == 1:  # the parent died before the request was made
        os._exit(1)


def beat(job: int) -> None:
    """Tell the parent that this worker starts job `job` of its part (CHECKING: all of them); no-op outside a
    pool's worker."""
    if _progress is not None:
        _progress.job[_slot] = job
        _progress.since[_slot] = time.time()


def in_worker() -> bool:
    return _progress is not None


def _run_part(function: Callable[..., list[R]], part_id: int, part: Sequence[J], *shared: Any) -> list[R]:
    assert _progress is not None
    _progress.part[_slot] = part_id
    try:
        results = function(part, *shared)
        if len(results) != len(part):
            raise AssertionError(f"{function.__name__} gave {len(results)} results for {len(part)} jobs")
        return results
    finally:
        _progress.part[_slot], _progress.job[_slot], _progress.since[_slot] = -1, _IDLE, 0.0


_STATM = Path("/proc/self/statm")


def _address_space() -> int:
    return int(_STATM.read_text(encoding="ascii").split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _alarm(signum: int, frame: object) -> None:
    raise FileTookTooLong


@contextlib.contextmanager
def file_limits(limits: ReaderLimits) -> Iterator[None]:
    """The time and memory a single file may take (see the module's docstring); where they cannot be set
    (a thread other than the main one; for memory, a process that is not a pool's worker) it runs without."""
    timed = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    bounded = in_worker() and resource is not None and _STATM.exists()
    previous_handler: Any = None
    previous_limit: tuple[int, int] | None = None
    if bounded:
        previous_limit = resource.getrlimit(resource.RLIMIT_AS)
        wanted, hard = _address_space() + limits.max_memory_bytes, previous_limit[1]
        resource.setrlimit(resource.RLIMIT_AS, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard))
    if timed:
        previous_handler = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, limits.max_seconds)
    try:
        yield
    finally:
        if timed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous_handler)
        if previous_limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, previous_limit)


# --- in the parent ----------------------------------------------------------------------------------


class IsolatedPool:
    """Worker processes for the files of a run, started when first needed, replaced when one dies."""

    def __init__(self, workers: int, limits: ReaderLimits) -> None:
        self.workers = max(1, workers)
        self.limits = limits
        self._current: tuple[ProcessPoolExecutor, _Progress] | None = None
        self._lock = threading.Lock()  # a batch's writing and the next batch's reading ask from two threads

    @staticmethod
    def _start(workers: int) -> tuple[ProcessPoolExecutor, _Progress]:
        context = multiprocessing.get_context()
        progress = _Progress.shared(workers, context)
        return ProcessPoolExecutor(workers, context, initializer=_start_worker, initargs=(progress,)), progress

    def _executor(self) -> tuple[ProcessPoolExecutor, _Progress]:
        with self._lock:
            if self._current is None:
                self._current = self._start(self.workers)
            return self._current

    def _discard(self, executor: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._current is not None and self._current[0] is executor:
                self._current = None
        executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            current, self._current = self._current, None
        if current is not None:
            current[0].shutdown()

    def map(
        self,
        function: Callable[..., list[R]],
        parts: Sequence[Sequence[J]],
        *shared: Any,
        lost: Callable[[J, WorkerLost], R],
    ) -> list[R]:
        """`function(part, *shared)` (one result per job, in order) for every part, in the workers; every
        job's result, in order.

        When a worker dies, the job it was on is run again on its own, in a worker of its own, and gives
        `lost(job, why)` if that one dies too; the other jobs of its part run again as a part.
        """
        jobs = [job for part in parts for job in part]
        results: dict[int, R] = {}
        todo: list[list[int]] = []
        start = 0
        for part in parts:
            todo.append(list(range(start, start + len(part))))
            start += len(part)
        alone = _Alone(self.limits)
        try:
            for _ in range(len(jobs) + 2):  # each round settles at least one job, or every one
                if not todo:
                    break
                todo = self._round(function, jobs, todo, shared, results, alone, lost)
            for job_indexes in todo:  # pragma: no cover - a pool that dies before running anything, every time
                for index in job_indexes:
                    results[index] = lost(jobs[index], WorkerLost(timed_out=False))
        finally:
            alone.close()
        return [results[index] for index in range(len(jobs))]

    def _round(
        self,
        function: Callable[..., list[R]],
        jobs: list[J],
        todo: list[list[int]],
        shared: tuple[Any, ...],
        results: dict[int, R],
        alone: _Alone,
        lost: Callable[[J, WorkerLost], R],
    ) -> list[list[int]]:
        """Run the parts once; the parts to run again."""
        executor, progress = self._executor()
        futures = [
            executor.submit(_run_part, function, part_id, [jobs[i] for i in part], *shared)
            for part_id, part in enumerate(todo)
        ]
        _watch(progress, futures, self.limits)
        again: list[list[int]] = []
        broken = False
        in_flight: dict[int, int] = {}
        for part_id, (part, future) in enumerate(zip(todo, futures, strict=True)):
            try:
                results.update(zip(part, future.result(), strict=True))
                continue
            except BrokenProcessPool:
                if not broken:
                    broken, in_flight = True, progress.in_flight()
            job = in_flight.get(part_id, _IDLE)
            suspects = part if job == CHECKING else [part[job]] if 0 <= job < len(part) else []
            for index in suspects:
                results[index] = alone.run(function, jobs[index], shared, lost)
            rest = [index for index in part if index not in suspects]
            if rest:
                again.append(rest)
        if broken:
            self._discard(executor)
        return again


class _Alone:
    """One worker process in which suspect jobs run one at a time, started again after each death."""

    def __init__(self, limits: ReaderLimits) -> None:
        self.limits = limits
        self._current: tuple[ProcessPoolExecutor, _Progress] | None = None

    def run(
        self, function: Callable[..., list[R]], job: J, shared: tuple[Any, ...], lost: Callable[[J, WorkerLost], R]
    ) -> R:
        if self._current is None:
            self._current = IsolatedPool._start(1)
        executor, progress = self._current
        future = executor.submit(_run_part, function, 0, [job], *shared)
        killed = _watch(progress, [future], self.limits)
        try:
            (result,) = future.result()
            return result
        except BrokenProcessPool:
            self.close()
            return lost(job, WorkerLost(timed_out=killed))

    def close(self) -> None:
        if self._current is not None:
            self._current[0].shutdown(wait=False, cancel_futures=True)
            self._current = None


def _watch(progress: _Progress, futures: Sequence[Future[Any]], limits: ReaderLimits) -> bool:
    """Wait for the futures, killing every worker that shows no progress for too long; whether one was killed."""
    killed: set[int] = set()
    pending = set(futures)
    limit = limits.max_seconds + KILL_GRACE_SECONDS
    while pending:
        _, pending = wait(pending, timeout=WATCH_INTERVAL_SECONDS, return_when=FIRST_COMPLETED)
        now = time.time()
        for slot, since in enumerate(progress.since):
            if since and now - since > limit and slot not in killed:
                killed.add(slot)
                # The executor then fails the worker's work with BrokenProcessPool, as for any death.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(progress.pid[slot], signal.SIGKILL)
    return bool(killed)


def inline_map(function: Callable[..., list[R]], parts: Sequence[Sequence[J]], *shared: Any) -> list[R]:
    """`IsolatedPool.map` in this process (where no worker process may be started, such as a Dask worker)."""
    return [result for part, args in zip(parts, repeat(shared)) for result in function(part, *args)]
