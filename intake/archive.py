"""The inbox and the archive: the file-system adapter of the intake.

Every received file is copied into a content-addressed archive (`archive/ab/abcdef…`, by sha256)
before anything else happens, and leaves the inbox only once it is archived and recorded. The copy
is written to a temporary name, flushed to disk and renamed into place, so a crash never leaves a
half-written archive file under a real name.
"""

from __future__ import annotations

import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from workbooks.reader import sha256_of

SKIPPED_PREFIXES = (".", "~$")  # hidden files, and the lock files Excel leaves beside open workbooks
ARCHIVING_THREADS = 4  # the disk's fsync waits, hashing and copying release the interpreter lock: 2× faster than one


@dataclass(frozen=True, slots=True)
class InboxFile:
    path: Path
    size: int
    mtime_ns: int
    ctime_ns: int  # when the file was put in place: a copy that kept its mtime is still a new delivery


@dataclass(frozen=True, slots=True)
class ArchivedFile:
    """A file of the inbox, hashed and safely in the archive."""

    source: InboxFile
    sha256: str
    archive_path: Path

    @property
    def file_name(self) -> str:
        return self.source.path.name

    @property
    def claim_key(self) -> str:
        """What identifies this delivery: the same bytes under the same name, written and put in place at the
        same time (a re-sent copy that kept its name and mtime, as `cp -p` or unzip leave it, is a new one)."""
        source = self.source
        return f"{self.sha256}:{source.size}:{source.mtime_ns}:{source.ctime_ns}:{self.file_name}"[:160]


def discover(inbox: Path) -> list[InboxFile]:
    """The files waiting in the inbox (not sub-folders, hidden files or Excel lock files), by name."""
    if not inbox.is_dir():
        return []
    found = []
    for entry in sorted(os.scandir(inbox), key=lambda e: e.name):
        if entry.name.startswith(SKIPPED_PREFIXES) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            stat = entry.stat(follow_symlinks=False)
        except FileNotFoundError:  # taken out of the inbox by a concurrent run since it was listed
            continue
        found.append(InboxFile(Path(entry.path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns))
    return found


def archive_path_for(archive_dir: Path, sha256: str) -> Path:
    return archive_dir / sha256[:2] / sha256


def archive_file(source: InboxFile, archive_dir: Path) -> ArchivedFile | None:
    """Hash the file and copy it into the archive; None when it vanished (another run took it)."""
    try:
        sha256 = sha256_of(source.path)
    except FileNotFoundError:
        return None
    target = archive_path_for(archive_dir, sha256)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        # Per process and thread: two copies of one file in the inbox are archived side by side.
        temporary = target.with_name(f".{sha256}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            shutil.copyfile(source.path, temporary)
        except FileNotFoundError:
            temporary.unlink(missing_ok=True)
            return None
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        if sha256_of(temporary) != sha256:  # the file changed while it was copied: take it next run
            temporary.unlink(missing_ok=True)
            return None
        temporary.replace(target)
    return ArchivedFile(source, sha256, target)


def archive_files(files: list[InboxFile], archive_dir: Path) -> list[ArchivedFile]:
    """Archive every file (a few at a time), in the inbox's order; those that vanished are left out."""
    with ThreadPoolExecutor(ARCHIVING_THREADS) as threads:
        archived = list(threads.map(archive_file, files, [archive_dir] * len(files)))
    return [a for a in archived if a is not None]


def remove_from_inbox(files: list[ArchivedFile]) -> None:
    """Delete inbox files that are archived and recorded; a file already gone is fine."""
    for archived in files:
        archived.source.path.unlink(missing_ok=True)
