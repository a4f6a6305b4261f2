"""The data folder's own Prefect server (issue 13): started by the first command that runs a flow, reused by
the next ones, shared by commands started at once, stopped by `budgetflow server stop` or when idle. The
commands run as the installed console script in a fresh environment, without the session's Prefect server."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from prefect.client.orchestration import SyncPrefectClient

from budgetflow import local_server
from tests.test_first_start import SCRIPT, budgetflow, fresh_environment

pytestmark = pytest.mark.slow


def inbox_of(sample_inbox: Path, inbox: Path) -> Path:
    inbox.mkdir(parents=True)
    for path in sample_inbox.iterdir():
        shutil.copy(path, inbox / path.name)
    return inbox


def flow_run_names(server: local_server.LocalServer) -> list[str]:
    with SyncPrefectClient(server.api_url) as client:
        flows = {flow.id: flow.name for flow in client.read_flows()}
        return sorted(flows[run.flow_id] for run in client.read_flow_runs())


def test_the_first_run_starts_the_folders_server_the_next_commands_reuse_it_and_stop_ends_it(
    sample_inbox: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "var"
    first = budgetflow("run", "--inbox", str(inbox_of(sample_inbox, tmp_path / "in")), cwd=tmp_path, data_dir=data_dir)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    server = local_server.running(data_dir / "prefect")
    assert server is not None
    assert f"运行记录在本地 Prefect 界面：{server.ui_url}" in first.stdout

    empty = tmp_path / "empty"
    empty.mkdir()
    second = budgetflow("run", "--inbox", str(empty), cwd=tmp_path, data_dir=data_dir)
    report = budgetflow("report", "--year", "2023", cwd=tmp_path, data_dir=data_dir)
    assert second.returncode == 0 and report.returncode == 0, second.stderr[-2000:] + report.stderr[-2000:]
    assert local_server.running(data_dir / "prefect") == server  # the same process, not a new server
    # every command's runs are on it (an intake that loaded something also runs period_report, as a subflow)
    assert flow_run_names(server) == ["intake", "intake", "period_report", "period_report"]

    status = budgetflow("server", cwd=tmp_path, data_dir=data_dir)
    stop = budgetflow("server", "stop", cwd=tmp_path, data_dir=data_dir)
    assert server.ui_url in status.stdout
    assert stop.stdout.splitlines()[0] == "本地 Prefect 服务器已停止", stop.stderr
    assert local_server.running(data_dir / "prefect") is None
    assert not (data_dir / "prefect" / "server.json").exists()
    assert budgetflow("server", cwd=tmp_path, data_dir=data_dir).stdout.strip() == "本地 Prefect 服务器未运行"


def test_three_runs_started_at_once_on_one_folder_share_one_server_and_load_each_file_once(
    sample_inbox: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "var"
    inbox = inbox_of(sample_inbox, tmp_path / "in")
    environment = fresh_environment(data_dir)
    runs = [
        subprocess.Popen(
            [str(SCRIPT), "run", "--inbox", str(inbox)], env=environment, cwd=tmp_path, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]  # fmt: skip
    outputs = [run.communicate(timeout=300) for run in runs]

    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, out[-2000:] + err[-3000:]
        assert "Traceback" not in out + err
    server = local_server.running(data_dir / "prefect")
    assert server is not None
    assert flow_run_names(server).count("intake") == 3
    assert list((data_dir / "prefect").glob("server.json")) == [data_dir / "prefect" / "server.json"]
    submissions = budgetflow("submissions", "--json", cwd=tmp_path, data_dir=data_dir)
    assert submissions.stdout.count('"sha256"') == len(list(sample_inbox.iterdir()))


def test_a_server_unused_for_its_idle_time_stops_by_itself(tmp_path: Path) -> None:
    home = tmp_path / "prefect"
    server = local_server.ensure_running(home, idle_minutes=0.05)  # three seconds

    deadline = time.monotonic() + 60
    # the state file goes first (under the lock, so that no command takes a server that is stopping)
    while local_server.running(home) is not None or local_server._alive(server.pid):
        assert time.monotonic() < deadline, (home / "server.log").read_text(errors="replace")
        time.sleep(0.5)

    assert not (home / "server.json").exists()
    assert "idle for" in (home / "server.log").read_text(errors="replace")
    assert not local_server._answers(server.port)


def running_process(pid: str) -> bool:
    """A process that has not ended (a zombie has: it waits only for its parent to read its status)."""
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in state


def test_a_server_whose_watchdog_is_killed_goes_with_it(tmp_path: Path) -> None:
    home = tmp_path / "prefect"
    server = local_server.ensure_running(home, idle_minutes=0)
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    assert children, "the watchdog runs `prefect server start`"

    os.kill(server.pid, signal.SIGKILL)  # as the OOM killer or `kill -9` would: no chance to stop it

    deadline = time.monotonic() + 60
    while any(running_process(pid) for pid in children) or local_server._answers(server.port):
        assert time.monotonic() < deadline, "the Prefect server outlived its watchdog"
        time.sleep(0.5)
    assert local_server.running(home) is None
