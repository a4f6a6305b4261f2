"""The warm command process (budgetflow.command_server): a command handed to it answers exactly as it does in
a process of its own — output, exit code, working folder, environment, Ctrl-C — and the process goes away
when it should. The commands run as the installed console script, as a user runs them."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.generate import generate
from budgetflow import command_server
from budgetflow.launcher import PACKAGES, PROJECT_ROOT, _connect, code_fingerprint, runtime_dir
from workbooks.samples import seed_figures, write_workbook

SCRIPT = str(Path(sys.executable).with_name("budgetflow"))


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A runtime folder of this test's own, so that its warm process is its own; stopped at the end. Short,
    as sockets' paths must be."""
    folder = Path(tempfile.mkdtemp(prefix="bf-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    yield folder / f"budgetflow-{os.getuid()}"
    command_server.stop_all()
    shutil.rmtree(folder, ignore_errors=True)


def environment(runtime: Path, **variables: str) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "BUDGETFLOW_"))}
    return inherited | {"XDG_RUNTIME_DIR": str(runtime.parent), "BUDGETFLOW_INBOX_SETTLE_SECONDS": "0"} | variables


def budgetflow(*arguments: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *arguments], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def log(runtime: Path) -> str:
    path = runtime / "command-server.log"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def wait_until_warm(runtime: Path, timeout: float = 60) -> int:
    """The pid of the warm process once it has made its imports."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"pid (\d+): \d+ modules", log(runtime))
        if found:
            return int(found.group(1))
        time.sleep(0.1)
    raise AssertionError(f"no warm process: {log(runtime)}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def wait_for_end(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid), f"process {pid} still running"


@pytest.mark.slow
def test_a_command_in_the_warm_process_answers_as_it_does_in_a_process_of_its_own(
    runtime: Path, tmp_path: Path
) -> None:
    seed = write_workbook(seed_figures(), tmp_path / "seed.xlsx")
    here = tmp_path / "here"
    here.mkdir()
    # a relative data folder, read from the caller's environment and working folder
    never_warm = environment(runtime, BUDGETFLOW_WARM_PROCESS_IDLE_MINUTES="0", BUDGETFLOW_DATA_DIR="cold/var")
    warm = environment(runtime, BUDGETFLOW_DATA_DIR="warm/var")

    cold_run = budgetflow("validate", "--json", str(seed), env=never_warm, cwd=here)
    budgetflow("submissions", "--json", env=never_warm, cwd=here)  # makes its data folder, as the warm one does
    assert not runtime.exists() or not list(runtime.glob("*.sock")), "the setting 0 starts no warm process"
    budgetflow("--help", env=warm, cwd=here)  # starts one
    wait_until_warm(runtime)
    warm_run = budgetflow("validate", "--json", str(seed), env=warm, cwd=here)
    warm_list = budgetflow("submissions", "--json", env=warm, cwd=here)

    assert "command 'validate' in child" in log(runtime) and "command 'submissions' in child" in log(runtime)
    assert (warm_run.returncode, warm_run.stdout, warm_run.stderr) == (
        cold_run.returncode, cold_run.stdout, cold_run.stderr
    )  # fmt: skip
    assert warm_run.returncode == 1 and json.loads(warm_run.stdout)["status"] == "failed"
    assert (warm_list.returncode, warm_list.stdout) == (0, "[]\n")
    assert f"数据目录：{here / 'warm' / 'var'}" in warm_list.stderr
    assert (here / "warm" / "var" / "budgetflow.db").is_file() and (here / "cold" / "var" / "budgetflow.db").is_file()


@pytest.mark.slow
def test_a_flow_run_from_the_warm_process_is_recorded_on_the_data_folders_prefect_server(
    runtime: Path, tmp_path: Path, sample_inbox: Path
) -> None:
    inbox = tmp_path / "inbox"
    shutil.copytree(sample_inbox, inbox)
    env = environment(runtime, BUDGETFLOW_DATA_DIR=str(tmp_path / "var"))
    budgetflow("--help", env=env, cwd=tmp_path)
    wait_until_warm(runtime)

    first = budgetflow("run", "--inbox", str(inbox), env=env, cwd=tmp_path)
    second = budgetflow("report", "--year", "2023", env=env, cwd=tmp_path)

    assert "command 'run' in child" in log(runtime) and "command 'report' in child" in log(runtime)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert "Traceback" not in first.stdout + first.stderr + second.stderr
    assert "沅江市科学技术和工业信息化局" in first.stdout and "未通过" in first.stdout
    assert second.returncode == 0 and "2023-period-report.xlsx" in second.stdout
    ui = re.search(r"http://127\.0\.0\.1:(\d+)", first.stdout)
    assert ui is not None, first.stdout
    import httpx

    runs = httpx.post(f"{ui.group(0)}/api/flow_runs/filter", json={"limit": 20}, timeout=10).json()
    assert sorted(r["state_type"] for r in runs) == ["COMPLETED"] * len(runs) and len(runs) >= 3
    logs = httpx.post(f"{ui.group(0)}/api/logs/filter", json={"limit": 200}, timeout=10).json()
    assert any("2023-科工信局.xlsx" in entry["message"] for entry in logs)
    budgetflow("server", "stop", env=env, cwd=tmp_path)


@pytest.mark.slow
def test_ctrl_c_reaches_the_command_that_the_warm_process_runs(runtime: Path, tmp_path: Path) -> None:
    generate(2000, tmp_path / "many")
    env = environment(runtime, BUDGETFLOW_DATA_DIR=str(tmp_path / "var"))
    budgetflow("--help", env=env, cwd=tmp_path)
    wait_until_warm(runtime)

    caller = subprocess.Popen([SCRIPT, "validate", str(tmp_path / "many")], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 30
    while not (child := re.search(r"command 'validate' in child (\d+)", log(runtime))):
        assert time.monotonic() < deadline, log(runtime)
        time.sleep(0.05)
    time.sleep(1.0)
    assert caller.poll() is None, "the check of 2,000 files ended before Ctrl-C"
    caller.send_signal(signal.SIGINT)
    _, stderr = caller.communicate(timeout=30)

    assert caller.returncode == 130, stderr  # as a command of its own ends on Ctrl-C
    assert "Traceback" not in stderr
    wait_for_end(int(child.group(1)), timeout=10)


@pytest.mark.slow
def test_the_warm_process_stops_when_idle_and_on_server_stop(runtime: Path, tmp_path: Path) -> None:
    env = environment(runtime, BUDGETFLOW_DATA_DIR=str(tmp_path / "var"))

    budgetflow("--help", env=environment(runtime, BUDGETFLOW_WARM_PROCESS_IDLE_MINUTES="0.02"), cwd=tmp_path)
    idle = wait_until_warm(runtime)
    wait_for_end(idle, timeout=30)
    assert "idle for" in log(runtime) and not list(runtime.glob("*.sock"))

    (runtime / "command-server.log").unlink()
    budgetflow("--help", env=env, cwd=tmp_path)
    stopped = wait_until_warm(runtime)
    done = budgetflow("server", "stop", env=env, cwd=tmp_path)
    assert "常驻命令进程已停止" in done.stdout
    wait_for_end(stopped)
    assert not list(runtime.glob("*.sock"))


def test_any_change_to_the_code_makes_another_fingerprint(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(PROJECT_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    before = code_fingerprint(tmp_path)
    assert code_fingerprint(tmp_path) == before
    template = tmp_path / "checks" / "templates" / "spec-v1.yaml"
    os.utime(template, ns=(template.stat().st_atime_ns, template.stat().st_mtime_ns + 1))
    assert code_fingerprint(tmp_path) != before


def test_a_runtime_folder_that_others_can_enter_is_never_connected_to(runtime: Path) -> None:
    folder = command_server.private_runtime_dir()
    assert folder == runtime and runtime.stat().st_mode & 0o777 == 0o700
    runtime.chmod(0o777)
    assert _connect(runtime / "command-x.sock") is None
    assert command_server.private_runtime_dir() == runtime and runtime.stat().st_mode & 0o777 == 0o700


def test_a_runtime_folder_too_deep_for_a_socket_falls_back_to_tmp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/" + "x" * 100)
    assert runtime_dir() == Path(f"/tmp/budgetflow-{os.getuid()}")


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_server")
def test_a_flow_run_from_the_warm_process_goes_to_the_configured_prefect_server(runtime: Path, tmp_path: Path) -> None:
    api_url = os.environ["PREFECT_API_URL"]
    env = environment(runtime, BUDGETFLOW_DATA_DIR=str(tmp_path / "var"), PREFECT_API_URL=api_url)
    budgetflow("--help", env=env, cwd=tmp_path)
    wait_until_warm(runtime)

    done = budgetflow("report", "--year", "2031", env=env, cwd=tmp_path)

    assert done.returncode == 0, done.stderr[-2000:]
    assert "command 'report' in child" in log(runtime)
    assert not (tmp_path / "var" / "prefect" / "server.json").exists()  # no local server was started
    import httpx

    runs = httpx.post(f"{api_url}/flow_runs/filter", json={"limit": 200}, timeout=10).json()
    reports = [r for r in runs if r["parameters"].get("fiscal_year") == 2031]
    assert [r["state_type"] for r in reports] == ["COMPLETED"]
