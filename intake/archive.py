"""The inbox and the archive: the file-system adapter of the intake.

Every received file is copied into a content-addressed archive (`archive/ab/abcdef…`, by sha256)
before anything else happens, and leaves the inbox only once it is archived and recorded. The copy
is written to a temporary name, flushed to disk and renamed into place, so a crash never leaves a
half-written archive file under a real name.

A file is taken only once it has stopped changing: its size and modification time must have held for
`settle_seconds`, and again after it was copied. An entry that is not taken (a hidden file, a link, a
device, a folder, a file still being written) is named with the reason, never passed over in silence.
"""

from __future__ import annotations

import os
import shutil
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from checks.identity import sha256_of

ARCHIVING_THREADS = 4  # the disk's fsync waits, hashing and copying release the interpreter lock: 2× faster than one

HIDDEN = "隐藏文件（名称以“.”开头），未处理；如需报送，请去掉名称开头的“.”"
LOCK_FILE = "Excel 或 WPS 打开文件时留下的锁定文件（~$ 开头），未处理"
SYMLINK = "符号链接，出于安全考虑不读取；请把文件本身放入收件箱"
FOLDER = "文件夹，未处理；请把其中的文件直接放入收件箱"
NOT_A_FILE = "不是普通文件（设备、管道或套接字），未读取"
STILL_WRITING = "文件仍在写入（大小或修改时间仍在变化），下次运行时再处理"
UNREADABLE_ENTRY = "无法读取文件信息（{error}），未处理"


@dataclass(frozen=True, slots=True)
class InboxFile:
    path: Path
    size: int
    mtime_ns: int
    ctime_ns: int  # when the file was put in place: a copy that kept its mtime is still a new delivery

    def unchanged(self) -> bool:
        """Whether the file is still there as it was found (same size, same modification time)."""
        try:
            now = self.path.stat(follow_symlinks=False)
        except OSError:
            return False
        return (now.st_size, now.st_mtime_ns) == (self.size, self.mtime_ns)


@dataclass(frozen=True, slots=True)
class SkippedEntry:
    """An inbox entry the intake did not take, and why (for the run's summary and log)."""

    name: str
    reason: str


@dataclass(slots=True)
class Discovery:
    files: list[InboxFile] = field(default_factory=list)
    skipped: list[SkippedEntry] = field(default_factory=list)


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


def _entry_kind(entry: os.DirEntry[str]) -> tuple[InboxFile | None, str | None]:
    """(the file, None) for a regular file; (None, reason) for anything else; (None, None) when it vanished."""
    if entry.name.startswith("~$"):
        return None, LOCK_FILE
    if entry.name.startswith("."):
        return None, HIDDEN
    try:
        status = entry.stat(follow_symlinks=False)
    except FileNotFoundError:  # taken out of the inbox by a concurrent run since it was listed
        return None, None
    except OSError as exc:
        return None, UNREADABLE_ENTRY.format(error=exc.strerror or exc)
    if stat.S_ISLNK(status.st_mode):
        return None, SYMLINK
    if stat.S_ISDIR(status.st_mode):
        return None, FOLDER
    if not stat.S_ISREG(status.st_mode):
        return None, NOT_A_FILE
    return InboxFile(Path(entry.path), status.st_size, status.st_mtime_ns, status.st_ctime_ns), None


def _scan(inbox: Path) -> Discovery:
    found = Discovery()
    for entry in sorted(os.scandir(inbox), key=lambda e: e.name):
        file, reason = _entry_kind(entry)
        if file is not None:
            found.files.append(file)
        elif reason is not None:
            found.skipped.append(SkippedEntry(entry.name, reason))
    return found


def discover(
    inbox: Path,
    settle_seconds: float = 0.0,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Discovery:
    """The regular files waiting in the inbox, by name, each unchanged for `settle_seconds`; and what was skipped.

    A file changed less than `settle_seconds` ago is watched until it is that old (at most `settle_seconds`
    of waiting for the whole inbox): unchanged by then, it is taken; changed, it waits for the next run.
    """
    found = _scan(inbox)
    settle_ns = int(settle_seconds * 1e9)
    now_ns = int(clock() * 1e9)
    fresh = [f for f in found.files if now_ns - f.mtime_ns < settle_ns]
    if not fresh:
        return found
    sleep(max(0.0, (max(f.mtime_ns for f in fresh) + settle_ns - now_ns) / 1e9))
    changed = {f.path for f in fresh if not f.unchanged()}
    found.files = [f for f in found.files if f.path not in changed]
    found.skipped += [SkippedEntry(path.name, STILL_WRITING) for path in sorted(changed) if path.exists()]
    return found


def archive_path_for(archive_dir: Path, sha256: str) -> Path:
    return archive_dir / sha256[:2] / sha256


def archive_file(source: InboxFile, archive_dir: Path) -> ArchivedFile | None:
    """Hash the file and copy it into the archive; None when it vanished (another run took it) or changed
    while it was copied (it is taken by a later run, once it has stopped changing)."""
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
        if sha256_of(temporary) != sha256:
            temporary.unlink(missing_ok=True)
            return None
        temporary.replace(target)
    if not source.unchanged():  # written to while it was hashed: these bytes may be half a file
        return None
    return ArchivedFile(source, sha256, target)


def archive_files(files: list[InboxFile], archive_dir: Path) -> tuple[list[ArchivedFile], list[SkippedEntry]]:
    """Archive every file (a few at a time), in the inbox's order; and those that changed meanwhile, as skipped.

    A file that vanished was taken by a concurrent run and is left out without a word.
    """
    with ThreadPoolExecutor(ARCHIVING_THREADS) as threads:
        archived = list(threads.map(archive_file, files, [archive_dir] * len(files)))
    skipped = [
        SkippedEntry(file.path.name, STILL_WRITING)
        for file, copy in zip(files, archived, strict=True)
        if copy is None and file.path.exists()
    ]
    return [a for a in archived if a is not None], skipped


def remove_from_inbox(files: list[ArchivedFile]) -> list[SkippedEntry]:
    """Delete inbox files that are archived and recorded (a file already gone is fine).

    A file written to since it was archived stays: the archive holds the bytes it had, and the next run
    takes what it has become, as a new delivery. Those are returned, to be named.
    """
    kept = []
    for archived in files:
        if archived.source.unchanged():
            archived.source.path.unlink(missing_ok=True)
        elif archived.source.path.exists():
            kept.append(SkippedEntry(archived.file_name, STILL_WRITING))
    return kept
