"""The `budgetflow` console script: hand the command to the warm command process, or run it here.

A command in a new Python process spends a second or two importing Prefect, pandas, pandera and
SQLAlchemy before it does any work (`bench/cli.py`). The warm command process
(`budgetflow.command_server`) has imported them once; for each command it forks a child that takes this
process's arguments, environment, working directory and standard streams (passed as file descriptors),
runs the command there, and sends back its exit code, which this process exits with. Signals sent to this
process (Ctrl-C, a `kill`) are passed on to the child.

This module imports only the standard library, so that handing over costs a few milliseconds. When no warm
process answers, the command runs here as before, and one is started in the background for the next
command (`BUDGETFLOW_WARM_PROCESS_IDLE_MINUTES`, 0: never). The warm process is one per user and
installation: a change to the code, the installed packages or the interpreter makes another one.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import struct
import sys
from pathlib import Path

# Run in this process: `serve` runs for days, and `server` starts and stops the warm process itself.
RUN_HERE = ("serve", "server")
PACKAGES = ("budgetflow", "config", "checks", "workbooks", "models", "reports", "alerts", "intake", "flows")
HEADER = struct.Struct("!I")  # length of the request that follows
MAX_BASE_LENGTH = 60  # leaves room for `/budgetflow-UID/command-FINGERPRINT.sock`
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def command_of(argv: list[str]) -> str | None:
    """The command named in the arguments (`run`, `validate` …); None for `--help` alone."""
    return next((argument for argument in argv[1:] if not argument.startswith("-")), None)


def runtime_dir() -> Path:
    """Where this user's warm processes keep their sockets: private to the user."""
    base = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    if len(base) > MAX_BASE_LENGTH or not Path(base).is_dir():  # a socket's path has at most 107 bytes
        base = "/tmp"
    return Path(base) / f"budgetflow-{os.getuid()}"


PROJECT_ROOT = Path(__file__).resolve().parents[1]


def code_fingerprint(root: Path = PROJECT_ROOT) -> str:
    """What the warm process has imported: the interpreter, the installed packages (the folder changes when
    one is installed or removed), Python's own variables and every file of our packages (some 200 `stat`s)."""
    digest = hashlib.sha256(sys.executable.encode())
    for entry in sys.path:
        if entry.endswith("site-packages"):
            digest.update(f"{entry}:{_mtime(Path(entry))}".encode())
    for name, value in sorted(os.environ.items()):
        if name.startswith("PYTHON"):
            digest.update(f"{name}={value}".encode())
    for package in PACKAGES:
        for folder, folders, files in os.walk(root / package):
            folders[:] = sorted(f for f in folders if f != "__pycache__")
            for name in sorted(files):
                path = Path(folder) / name
                digest.update(f"{path}:{_mtime(path)}".encode())
    return digest.hexdigest()[:16]


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def socket_path(fingerprint: str) -> Path:
    return runtime_dir() / f"command-{fingerprint}.sock"


def _connect(path: Path) -> socket.socket | None:
    """A connection to the warm process at `path`, if one answers there and the folder is this user's own."""
    try:
        folder = path.parent.stat()
        if folder.st_uid != os.getuid() or folder.st_mode & 0o077:
            return None
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.connect(str(path))
    except OSError:
        return None
    return connection


def _request() -> bytes:
    streams = {
        name: {"encoding": stream.encoding, "errors": stream.errors}
        for name, stream in (("stdin", sys.stdin), ("stdout", sys.stdout), ("stderr", sys.stderr))
        if stream is not None
    }
    umask = os.umask(0o022)
    os.umask(umask)
    document = {"argv": sys.argv, "cwd": str(Path.cwd()), "env": dict(os.environ), "umask": umask, "streams": streams}
    body = json.dumps(document).encode()
    return HEADER.pack(len(body)) + body


def run_in_warm_process(connection: socket.socket) -> int | None:
    """Send the command, pass on signals to the child that runs it, and return its exit code; None when the
    warm process closed the connection before it started a child (it was stopping), so nothing ran."""
    with connection:
        socket.send_fds(connection, [_request()], [0, 1, 2])
        replies = connection.makefile("r", encoding="utf-8")
        child = 0

        def pass_on(signum: int, frame: object) -> None:
            if child:
                os.kill(child, signum)

        previous = {signum: signal.signal(signum, pass_on) for signum in FORWARDED_SIGNALS}
        for line in replies:
            reply = json.loads(line)
            if "pid" in reply:
                child = int(reply["pid"])
            elif "exit" in reply:
                return int(reply["exit"])
    if not child:  # the command runs here after all, with this process's own signal handling
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        return None
    print("budgetflow：命令进程意外结束，没有返回结果", file=sys.stderr)
    return 1


def main() -> None:
    command = command_of(sys.argv)
    fingerprint = code_fingerprint()
    connection = None if command in RUN_HERE else _connect(socket_path(fingerprint))
    if connection is not None and (code := run_in_warm_process(connection)) is not None:
        os._exit(code)
    from budgetflow.cli import run_command

    code = run_command()
    if command not in RUN_HERE:
        from budgetflow.command_server import start_in_background

        start_in_background(fingerprint)
    os._exit(code)
