"""The warm command process: imports made once, then a forked child per command (see budgetflow.launcher).

`python -m budgetflow.command_server FINGERPRINT IDLE_MINUTES`, started in the background by the first
command that found none. It listens on a Unix socket in the user's private runtime folder
(`$XDG_RUNTIME_DIR` or `/tmp`, `budgetflow-UID/`), only for the same user (the peer's uid is checked), and
for each command:

1. reads the request (arguments, environment, working folder, umask) and the caller's three standard
   streams, as file descriptors;
2. forks; the child takes all of these on, so that it is the command as the caller would have run it
   (settings are read from the caller's environment; Prefect's settings and logging are made again from
   it, as at Prefect's import), runs it, and sends back the exit code;
3. reports the child's end itself if the child could not (killed by a signal).

Nothing is run in this process itself: it has only imported modules, so the children start from a clean
state, without threads (Prefect's workers, the database engines, the reader pools all start in a child).
It stops after IDLE_MINUTES without a command, when the code it imported has changed (another fingerprint),
or on SIGTERM (`budgetflow server stop`); children still running carry on.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib
import io
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from budgetflow.launcher import HEADER, code_fingerprint, command_of, runtime_dir, socket_path

# What commands import, found with `python -X importtime` on `run`, `report`, `validate` and `submissions`.
PRELOAD = (
    "budgetflow.cli",
    "budgetflow.prefect_env",
    "config.settings",
    "flows.intake",
    "flows.period_report",
    "flows.notify",
    "intake.checking",
    "intake.pipeline",
    "checks.validate",
    "checks.template",
    "models.store",
    "models.reporting",
    "models.database",
    "intake.outbox",
    "alerts.mail",
    "workbooks.reader",
    "workbooks.samples",
    "reports.period",
    "reports.annotate",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql.psycopg",
    "openpyxl.chart",
    "pandera.typing",
)
FINGERPRINT_CHECK_SECONDS = 10.0
MAX_REQUEST_BYTES = 4 * 1024 * 1024
REQUEST_KEYS = {"argv", "cwd", "env", "umask"}


def _lock_file(fingerprint: str) -> Path:
    return runtime_dir() / f"command-{fingerprint}.lock"


def _log_file() -> Path:
    return runtime_dir() / "command-server.log"


def private_runtime_dir() -> Path | None:
    """The runtime folder, made if new; None when it is not this user's own and private (then no warm
    process: a socket there could be another user's)."""
    folder = runtime_dir()
    try:
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
        state = folder.stat()
        if state.st_uid != os.getuid():
            return None
        if state.st_mode & 0o077:
            folder.chmod(0o700)
    except OSError:  # XDG_RUNTIME_DIR names no folder, or one not ours to write
        return None
    return folder


def _held(lock: Path) -> bool:
    """Whether a warm process holds this lock (is running or starting)."""
    try:
        with lock.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False
    except OSError:
        return False


def start_in_background(fingerprint: str) -> None:
    """Start the warm process for this code, unless one is running or starting, or the setting says never.

    Called after a command has run without one, so that it costs that command nothing but a fork."""
    from pydantic import ValidationError

    from config.settings import Settings

    try:
        minutes = Settings().warm_process_idle_minutes
    except ValidationError:  # the command itself said what is wrong with the settings
        return
    folder = private_runtime_dir() if minutes > 0 else None
    if folder is None or _held(_lock_file(fingerprint)):
        return
    # Prefect is imported with a home of its own here: the caller's is taken on in each child.
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "BUDGETFLOW_"))}
    environment |= {"PREFECT_HOME": str(folder / "prefect-home"), "DO_NOT_TRACK": "1"}
    with suppress_start_failure(), _log_file().open("ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "budgetflow.command_server", fingerprint, str(minutes)],
            env=environment, cwd=folder, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True,
        )  # fmt: skip


@contextlib.contextmanager
def suppress_start_failure() -> Iterator[None]:
    """The command has run and answered; a warm process that cannot start (no room for a process, a folder
    that cannot be written) only means the next command runs in its own process too."""
    try:
        yield
    except OSError as exc:
        print(f"budgetflow：常驻命令进程未能启动（{exc}）；命令照常在各自的进程中运行", file=sys.stderr)


def stop_all() -> list[int]:
    """SIGTERM to every warm process of this user; their pids."""
    stopped: list[int] = []
    folder = runtime_dir()
    for lock in sorted(folder.glob("command-*.lock")) if folder.is_dir() else []:
        if not _held(lock):
            lock.unlink(missing_ok=True)
            continue
        with contextlib.suppress(ValueError, OSError):
            pid = int(lock.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            stopped.append(pid)
    return stopped


class _CommandServer:
    def __init__(self, fingerprint: str, idle_minutes: float, listener: socket.socket, lock: TextIO) -> None:
        self.fingerprint = fingerprint
        self.idle_seconds = idle_minutes * 60
        self.listener = listener
        self.lock = lock
        self.children: dict[int, socket.socket] = {}  # pid → the connection of the command it runs
        self.last_used = time.monotonic()
        self.stopping = False
        self.wakeup_read, self.wakeup_write = os.pipe()
        self.selector = selectors.DefaultSelector()

    def serve(self) -> None:
        os.set_blocking(self.wakeup_write, False)
        signal.set_wakeup_fd(self.wakeup_write)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # wakes the selector through the pipe
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.selector.register(self.wakeup_read, selectors.EVENT_READ)
        checked = time.monotonic()
        while not self.stopping:
            idle_left = self.idle_seconds - (time.monotonic() - self.last_used) if self.idle_seconds > 0 else None
            timeout = (
                FINGERPRINT_CHECK_SECONDS if idle_left is None else max(0.1, min(idle_left, FINGERPRINT_CHECK_SECONDS))
            )
            for key, _ in self.selector.select(timeout=timeout):
                if key.fileobj is self.listener:
                    self._accept()
                else:
                    os.read(self.wakeup_read, 4096)
            self._reap()
            now = time.monotonic()
            if not self.children and self.idle_seconds > 0 and now - self.last_used > self.idle_seconds:
                print(f"idle for {self.idle_seconds / 60:.0f} minutes: stopping", flush=True)
                break
            if now - checked > FINGERPRINT_CHECK_SECONDS:
                checked = now
                if code_fingerprint() != self.fingerprint:
                    print("the code changed: stopping", flush=True)
                    break

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _accept(self) -> None:
        connection, _ = self.listener.accept()
        self.last_used = time.monotonic()
        try:
            _, uid, _ = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
            if uid != os.getuid():
                raise PermissionError(f"a command from uid {uid}")
            request, fds = _receive(connection)
        except (OSError, ValueError) as exc:
            print(f"request refused: {exc}", flush=True)
            connection.close()
            return
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            child = os.fork()
        except OSError as exc:  # no process to be had: the caller, told nothing, runs the command itself
            print(f"fork failed: {exc}", flush=True)
            child = -1
        if child == 0:
            self._become_command(connection, request, fds)
        for fd in fds:
            os.close(fd)
        if child < 0:
            connection.close()
            return
        self.children[child] = connection
        print(f"command {command_of(request['argv']) or '--help'!r} in child {child}", flush=True)
        with contextlib.suppress(OSError):
            connection.sendall(_reply(pid=child))

    def _reap(self) -> None:
        for pid in list(self.children):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done == pid:
                connection = self.children.pop(pid)
                code = os.waitstatus_to_exitcode(status)
                with contextlib.suppress(OSError):  # the caller already has the child's own answer
                    connection.sendall(_reply(exit=code if code >= 0 else 128 - code))
                connection.close()

    def _become_command(self, connection: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
        """In the child: take on the caller's process state, run the command, answer, and exit."""
        code = 1
        try:
            os.setpgid(0, 0)  # a signal to the warm process's group is not one to the commands it started
            signal.set_wakeup_fd(-1)
            for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
                signal.signal(signum, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            # The lock's file would otherwise stay held by this command after the warm process ends.
            self.lock.close()
            self.listener.close()
            self.selector.close()
            os.close(self.wakeup_read)
            os.close(self.wakeup_write)
            for other in self.children.values():
                other.close()
            _take_on(request, fds)
            from budgetflow.cli import run_command

            code = run_command()
        except BaseException:  # a fault of the hand-over itself, not of the command: said, never hidden
            with contextlib.suppress(Exception):
                print(f"budgetflow：命令进程出错：\n{traceback.format_exc()}", file=sys.stderr, flush=True)
        with contextlib.suppress(OSError):
            connection.sendall(_reply(exit=code))
        os._exit(code)


def _reply(**fields: int) -> bytes:
    return json.dumps(fields).encode() + b"\n"


def _receive(connection: socket.socket) -> tuple[dict[str, Any], list[int]]:
    connection.settimeout(10.0)
    data, fds, _, _ = socket.recv_fds(connection, 65536, 3)
    if len(fds) != 3:
        for fd in fds:
            os.close(fd)
        raise ValueError("a request without its three standard streams")
    while len(data) < HEADER.size:
        data += connection.recv(65536)
    (length,) = HEADER.unpack_from(data)
    if length > MAX_REQUEST_BYTES:
        raise ValueError(f"a request of {length} bytes")
    while len(data) < HEADER.size + length:
        more = connection.recv(65536)
        if not more:
            raise ValueError("the request ended early")
        data += more
    connection.settimeout(None)
    request = json.loads(data[HEADER.size : HEADER.size + length])
    if not isinstance(request, dict) or not request.keys() >= REQUEST_KEYS:
        raise ValueError("a request without its arguments, folder, environment or umask")
    return request, list(fds)


def _take_on(request: dict[str, Any], fds: list[int]) -> None:
    """The caller's streams, folder, umask, environment and arguments; Prefect's settings and logging made
    again from them, as a new process makes them when it imports Prefect."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.umask(int(request["umask"]))
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    sys.argv = list(request["argv"])
    streams = request.get("streams", {})
    sys.stdin = _text_stream(0, "r", streams.get("stdin"))
    sys.stdout = _text_stream(1, "w", streams.get("stdout"))
    sys.stderr = _text_stream(2, "w", streams.get("stderr"))
    from budgetflow.prefect_env import refresh_loaded_prefect

    refresh_loaded_prefect(new_streams=True)


def _text_stream(fd: int, mode: str, spec: dict[str, str] | None) -> TextIO:
    spec = spec or {"encoding": "utf-8", "errors": "strict"}
    raw = io.FileIO(fd, mode, closefd=False)
    buffered: io.BufferedReader | io.BufferedWriter = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
    # as Python's own: stdout line-buffered on a terminal, stderr always
    line_buffering = fd == 2 or (fd == 1 and os.isatty(fd))
    return io.TextIOWrapper(buffered, encoding=spec["encoding"], errors=spec["errors"], line_buffering=line_buffering)


def serve(fingerprint: str, idle_minutes: float) -> int:
    folder = private_runtime_dir()
    if folder is None:
        return 1
    lock = _lock_file(fingerprint).open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # another one is running or starting for this code
        return 0
    lock.truncate(0)
    lock.write(str(os.getpid()))
    lock.flush()
    path = socket_path(fingerprint)
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(64)
    # Listening before the imports: a command that comes meanwhile waits for them rather than making its own.
    started = time.monotonic()
    for module in PRELOAD:
        importlib.import_module(module)
    print(f"pid {os.getpid()}: {len(sys.modules)} modules in {time.monotonic() - started:.1f} s", flush=True)
    try:
        _CommandServer(fingerprint, idle_minutes, listener, lock).serve()
    finally:
        path.unlink(missing_ok=True)  # before the lock goes: a new warm process may bind the same name
        listener.close()
        lock.close()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description="budgetflow's warm command process (started by budgetflow)")
    parser.add_argument("fingerprint")
    parser.add_argument("idle_minutes", type=float)
    arguments = parser.parse_args()
    raise SystemExit(serve(arguments.fingerprint, arguments.idle_minutes))


if __name__ == "__main__":
    main()
