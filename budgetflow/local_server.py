"""The data folder's own Prefect server, for commands run without PREFECT_API_URL.

A Prefect server takes 6–8 s to start. Rather than a temporary one per command (which is what Prefect does
without an API URL), the first command that runs a flow starts one in the background, on a free loopback
port, with its state in `$BUDGETFLOW_DATA_DIR/prefect`, and later commands reuse it: their runs are in its
UI. It stops after `local_server_idle_minutes` without a command that used it, or on
`budgetflow server stop`. Commands started at once share it: the start is under a file lock, so only one
of them starts it (temporary servers on one folder used to race on Prefect's database migration).

The background process is a small watchdog (`python -m budgetflow.local_server …`) whose child is
`prefect server start`; the file `server.json` says where it is, and its modification time is when a
command last used it.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

STARTUP_SECONDS = 120.0  # the first start creates Prefect's database: slow on a busy 2-core machine
PR_SET_PDEATHSIG = 1  # linux/prctl.h
QUIET = {  # there is no internet here
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
}


class LocalServerFailed(RuntimeError):
    """The local Prefect server did not start; the message says why and where its log is."""


@dataclass(frozen=True)
class LocalServer:
    pid: int  # the watchdog's
    port: int

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _state_file(home: Path) -> Path:
    return home / "server.json"


def _read_state(home: Path) -> LocalServer | None:
    try:
        state = json.loads(_state_file(home).read_text(encoding="utf-8"))
        return LocalServer(pid=int(state["pid"]), port=int(state["port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    with suppress(ChildProcessError):  # started by this very process (an embedding program, a test): reap it
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(port: int, timeout: float = 2.0) -> bool:
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    try:
        with direct.open(f"http://127.0.0.1:{port}/api/health", timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def _locked(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    with (home / "server.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def running(home: Path) -> LocalServer | None:
    """The folder's server if it is up and answers."""
    server = _read_state(home)
    return server if server is not None and _alive(server.pid) and _answers(server.port) else None


def ensure_running(home: Path, idle_minutes: float, on_start: Callable[[], None] | None = None) -> LocalServer:
    """The folder's server, started if it is not running (`on_start` called first); marked as used now."""
    with _locked(home):
        server = running(home)
        if server is None:
            if on_start is not None:
                on_start()
            server = _start(home, idle_minutes)
        os.utime(_state_file(home))
        return server


def stop(home: Path) -> LocalServer | None:
    """Stop the folder's server; the one stopped, or None when none was running."""
    with _locked(home):
        server = _read_state(home)
        if server is None or not _alive(server.pid):
            _state_file(home).unlink(missing_ok=True)
            return None
        os.kill(server.pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while _alive(server.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        _state_file(home).unlink(missing_ok=True)
        return server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _start(home: Path, idle_minutes: float) -> LocalServer:
    port = _free_port()
    log = home / "server.log"
    environment = os.environ | QUIET | {"PREFECT_HOME": str(home)}
    environment.pop("PREFECT_API_URL", None)
    command = [sys.executable, "-m", "budgetflow.local_server", str(home), str(port), str(idle_minutes)]
    with log.open("ab") as output:
        process = subprocess.Popen(
            command, env=environment, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True,
        )  # fmt: skip
    deadline = time.monotonic() + STARTUP_SECONDS
    while not _answers(port):
        if process.poll() is not None or time.monotonic() > deadline:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            tail = log.read_text(encoding="utf-8", errors="replace")[-1500:]
            raise LocalServerFailed(f"本地 Prefect 服务器未能启动（日志 {log}）：\n{tail}")
        time.sleep(0.2)
    server = LocalServer(pid=process.pid, port=port)
    _state_file(home).write_text(json.dumps({"pid": server.pid, "port": server.port}), encoding="utf-8")
    return server


def _watch(home: Path, port: int, idle_minutes: float) -> int:
    """The background process: run `prefect server start`, and stop it when idle or on SIGTERM."""
    prefect = Path(sys.executable).with_name("prefect")
    command = [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, preexec_fn=_die_with_parent)
    stopping = False

    def on_sigterm(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, on_sigterm)
    while not stopping and server.poll() is None:
        time.sleep(1.0)
        if idle_minutes > 0 and _idle_seconds(home) > idle_minutes * 60:
            # Decided under the lock, and the state file gone before the lock is let go: a command that is
            # taking the server now either used it first (then it is not idle) or finds none and starts one.
            with _locked(home):
                idle = _idle_seconds(home)
                if idle > idle_minutes * 60:
                    print(f"idle for {idle / 60:.0f} minutes: stopping", flush=True)
                    _state_file(home).unlink(missing_ok=True)
                    break
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    state = _read_state(home)
    if state is not None and state.pid == os.getpid():
        _state_file(home).unlink(missing_ok=True)
    return 0


def _idle_seconds(home: Path) -> float:
    try:
        return time.time() - _state_file(home).stat().st_mtime
    except OSError:  # no state file (being written, or removed by `stop`): not idle
        return 0.0


def _die_with_parent() -> None:
    """In the server's process, before it runs: a SIGTERM to it when the watchdog dies, even by SIGKILL, so
    that no server is left without the watchdog that stops it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def main() -> None:
    parser = argparse.ArgumentParser(description="budgetflow's local Prefect server (started by budgetflow itself)")
    parser.add_argument("home", type=Path)
    parser.add_argument("port", type=int)
    parser.add_argument("idle_minutes", type=float)
    arguments = parser.parse_args()
    raise SystemExit(_watch(arguments.home, arguments.port, arguments.idle_minutes))


if __name__ == "__main__":
    main()
