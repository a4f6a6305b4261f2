"""Progress of a run, for a display that the command line may attach (the flow itself never draws)."""

from __future__ import annotations

from collections.abc import Callable

Reporter = Callable[[str, int, int | None], None]  # stage, items done, new total (or None)


def _silent(stage: str, done: int, total: int | None) -> None:
    """No display attached."""


_reporter: Reporter = _silent


def attach(reporter: Reporter | None) -> None:
    """Send progress to `reporter` (None detaches it)."""
    global _reporter
    _reporter = reporter or _silent


def advance(stage: str, done: int = 1) -> None:
    _reporter(stage, done, None)


def expect(stage: str, total: int) -> None:
    _reporter(stage, 0, total)
