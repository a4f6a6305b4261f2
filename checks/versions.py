"""Which submissions a batch of arrived files makes, and which version each one is: the rules of versioning,
apart from the database that keeps them.

- A file whose bytes are stored already, or came earlier in the same batch, is a duplicate of that submission.
- Every other file becomes a submission. One that names its bureau and year is the next version of that
  (bureau, year), after the newest stored one and the batch's earlier ones, and supersedes the version before it.
- The last version of each (bureau, year) is its current one; the one stored as current before it no longer is.

Both ways of loading (a whole batch in one transaction, or one file in its own) plan with `plan_versions`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

VersionKey = tuple[str, int]  # (bureau code, fiscal year)


@dataclass(frozen=True, slots=True)
class Arrival:
    sha256: str
    key: VersionKey | None  # None when the file names no usable bureau or year: it gets no version


@dataclass(frozen=True, slots=True)
class StoredVersions:
    """What the database holds for one (bureau, year)."""

    newest: int  # the highest version stored (0 when none is)
    current_id: int | None  # the submission stored as the current version


@dataclass(frozen=True, slots=True)
class NewSubmission:
    arrival: int  # position of its file among the arrivals
    version: int | None
    supersedes_stored: int | None  # the stored submission it supersedes
    supersedes_new: int | None  # or the batch's earlier new submission it supersedes (an index into `new`)
    is_current: bool


@dataclass(frozen=True, slots=True)
class VersionPlan:
    new: tuple[NewSubmission, ...]
    new_of: Mapping[int, int]  # arrival position → index into `new`: its own submission or the one it repeats
    repeats_stored: frozenset[int]  # arrival positions whose bytes are stored already
    no_longer_current: tuple[int, ...]  # stored submissions that a new version replaces as current


def plan_versions(
    arrivals: Sequence[Arrival], stored_sha256: Collection[str], stored: Mapping[VersionKey, StoredVersions]
) -> VersionPlan:
    new: list[NewSubmission] = []
    new_of: dict[int, int] = {}
    repeats_stored: set[int] = set()
    first_with_sha: dict[str, int] = {}
    newest = {key: versions.newest for key, versions in stored.items()}
    latest_new: dict[VersionKey, int] = {}  # (bureau, year) → index into `new` of its batch's latest version
    for position, arrival in enumerate(arrivals):
        if arrival.sha256 in stored_sha256:
            repeats_stored.add(position)
            continue
        if arrival.sha256 in first_with_sha:
            new_of[position] = first_with_sha[arrival.sha256]
            continue
        first_with_sha[arrival.sha256] = new_of[position] = len(new)
        key = arrival.key
        if key is None:
            new.append(NewSubmission(position, None, None, None, is_current=False))
            continue
        newest[key] = version = newest.get(key, 0) + 1
        earlier_new = latest_new.get(key)
        stored_current = stored[key].current_id if key in stored and earlier_new is None else None
        new.append(NewSubmission(position, version, stored_current, earlier_new, is_current=False))
        latest_new[key] = len(new) - 1
    for index in latest_new.values():
        new[index] = replace(new[index], is_current=True)
    replaced = tuple(current for key in latest_new if key in stored and (current := stored[key].current_id) is not None)
    return VersionPlan(tuple(new), new_of, frozenset(repeats_stored), replaced)
