"""The deployments of deploy/prefect.yaml, run as an operator runs them: a real `prefect server start`, the
`budgetflow` process work pool, `prefect deploy`, and `prefect worker start` processes that run intake."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil  # type: ignore[import-untyped]  # installed with dask.distributed
import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.client.schemas.objects import FlowRun
from sqlalchemy import func, select
from sqlmodel import Session, col

from bench.generate import generate
from models.database import engine_for
from models.tables import IntakeRun, Receipt, Submission

REPOSITORY = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).with_name("prefect"))
SAMPLE_FILES = 6  # five bureaus' workbooks and one unreadable file
BATCH_SIZE = 2
FLOW_RUN_TIMEOUT = 240  # seconds; a run takes about ten on two loaded cores
GENERATED_FILES = 80  # in batches of BATCH_SIZE: a run long enough to be stopped half-way

# The same settings for every Prefect process here: no analytics or telemetry (there is no internet).
QUIET = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
    "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false",
    "DO_NOT_TRACK": "1",
}


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    home: Path

    def environment(self, **variables: str) -> dict[str, str]:
        """This process's environment without any PREFECT_ or BUDGETFLOW_ setting of the developer's, pointed here."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "BUDGETFLOW_"))}
        return inherited | QUIET | {"PREFECT_HOME": str(self.home), "PREFECT_API_URL": self.api_url} | variables

    def prefect(self, *args: str) -> str:
        """Run a `prefect` command from the repository root, as README's operator does; its output."""
        result = subprocess.run(
            [PREFECT, "--no-prompt", *args],
            cwd=REPOSITORY,
            env=self.environment(BUDGETFLOW_HOME=str(REPOSITORY)),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"prefect {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def client(self) -> SyncPrefectClient:
        return SyncPrefectClient(self.api_url)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def stop(process: subprocess.Popen[bytes]) -> None:
    """End a process started in a session of its own: its group, and what it started in sessions of their own
    (a process worker starts each flow run so); wait for all of them."""
    try:
        family = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    for child in family:
        with suppress(psutil.NoSuchProcess):
            child.terminate()
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=15)
    _, alive = psutil.wait_procs(family, timeout=5)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    for child in alive:
        with suppress(psutil.NoSuchProcess):
            child.kill()
    process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """`prefect server start` on a free loopback port with a home (and SQLite database) of its own.

    The scheduler is off: the deployments' cron schedules never create runs here; the tests trigger them.
    A run that waits for the intake deployment's concurrency slot tries again after 1 s, not 30 s.
    """
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    server = PrefectServer(f"http://127.0.0.1:{port}/api", home)
    environment = server.environment(
        PREFECT_SERVER_UI_ENABLED="false",
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
        PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS="1",
    )
    del environment["PREFECT_API_URL"]
    with running_server(home, port, environment):
        yield server


@contextmanager
def running_server(home: Path, port: int, environment: dict[str, str]) -> Iterator[None]:
    """`prefect server start` on 127.0.0.1:`port`, until it answers its health check; stopped on leaving."""
    log = home / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
        while True:
            try:
                with direct.open(f"http://127.0.0.1:{port}/api/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert process.poll() is None, f"the Prefect server exited:\n{log.read_text(errors='replace')}"
            assert time.monotonic() < deadline, f"no answer from the Prefect server:\n{log.read_text(errors='replace')}"
            time.sleep(0.25)
        yield
    finally:
        stop(process)


@pytest.fixture(scope="module")
def intake_deployment(server: PrefectServer) -> uuid.UUID:
    """The work pool and the deployments, made the way deploy/README.md says."""
    server.prefect("work-pool", "create", "budgetflow", "--type", "process")
    out = server.prefect("deploy", "--all", "--prefect-file", "deploy/prefect.yaml")
    assert "intake/intake" in out, out
    with server.client() as client:
        deployments = {f"{d.name}" for d in client.read_deployments()}
        assert deployments == {"intake", "period-report", "notify"}
        return client.read_deployment_by_name("intake/intake").id


# --- helpers --------------------------------------------------------------------------------------


class Worker:
    """`prefect worker start` on the budgetflow pool (as the systemd unit runs it), output kept in a file."""

    def __init__(
        self, server: PrefectServer, name: str, log: Path, *options: str, home: bool = True, **variables: str
    ) -> None:
        self.name, self.log = name, log
        self._output: IO[bytes] = log.open("wb")
        command = ["worker", "start", "--pool", "budgetflow", "--type", "process", "--name", name, *options]
        environment = server.environment(
            BUDGETFLOW_HOME=str(REPOSITORY),
            PREFECT_WORKER_QUERY_SECONDS="1",
            PREFECT_LOGGING_LEVEL="INFO",
            BUDGETFLOW_DB_RETRY_DELAY_SECONDS="0.5",
            # as the unit's PATH: the job command's `python` and `prefect` are found in the checkout's venv
            PATH=os.pathsep.join([str(Path(PREFECT).parent), os.environ.get("PATH", "")]),
            **variables,
        )
        if not home:  # started the way `prefect deploy` suggests, without the unit's environment file
            del environment["BUDGETFLOW_HOME"]
        self.process = subprocess.Popen(
            [PREFECT, *command],
            cwd=REPOSITORY,
            env=environment,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return f"--- worker {self.name} ---\n" + self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        stop(self.process)
        self._output.close()


def sample_copy(sample_inbox: Path, inbox: Path) -> Path:
    inbox.mkdir(parents=True)
    for path in sample_inbox.iterdir():
        shutil.copy(path, inbox / path.name)
    return inbox


def trigger(server: PrefectServer, deployment_id: uuid.UUID, inbox: Path, data_dir: Path, runs: int) -> list[FlowRun]:
    parameters = {"inbox": str(inbox), "data_dir": str(data_dir), "batch_size": BATCH_SIZE}
    with server.client() as client:
        return [client.create_flow_run_from_deployment(deployment_id, parameters=parameters) for _ in range(runs)]


def finished(server: PrefectServer, flow_runs: list[FlowRun], workers: list[Worker]) -> list[FlowRun]:
    """The flow runs once all are final (completed, failed, crashed …); the workers' output if they never are."""
    deadline = time.monotonic() + FLOW_RUN_TIMEOUT
    with server.client() as client:
        while True:
            exited = any(w.process.poll() is not None for w in workers)  # before reading: a worker ends after its runs
            runs = [client.read_flow_run(run.id) for run in flow_runs]
            if all(run.state is not None and run.state.is_final() for run in runs):
                return runs
            if exited or time.monotonic() > deadline:
                states = [(str(run.id), run.state_name) for run in runs]
                pytest.fail(f"flow runs not finished: {states}\n" + "\n".join(w.output() for w in workers))
            time.sleep(0.5)


def assert_completed(runs: list[FlowRun], workers: list[Worker]) -> None:
    failed = [(run.name, run.state_name, run.state.message if run.state else None) for run in runs]
    failed = [f for f, run in zip(failed, runs, strict=True) if run.state is None or not run.state.is_completed()]
    assert not failed, f"{failed}\n" + "\n".join(w.output() for w in workers)


# --- the tests ------------------------------------------------------------------------------------


def test_a_worker_on_the_budgetflow_pool_runs_the_deployed_intake_and_loads_the_sample_inbox_into_sqlite(
    server: PrefectServer, intake_deployment: uuid.UUID, sample_inbox: Path, tmp_path: Path
) -> None:
    inbox, data_dir = sample_copy(sample_inbox, tmp_path / "inbox"), tmp_path / "var"
    database_url = f"sqlite:///{data_dir / 'budgetflow.db'}"
    [flow_run] = trigger(server, intake_deployment, inbox, data_dir, runs=1)

    # --run-once: it takes the waiting run, and exits once the run is over (--limit makes it wait for it)
    worker = Worker(
        server, "one", tmp_path / "worker.log", "--run-once", "--limit", "1", BUDGETFLOW_DATABASE_URL=database_url
    )
    try:
        [run] = finished(server, [flow_run], [worker])
        worker.process.wait(timeout=30)
    finally:
        worker.stop()

    assert_completed([run], [worker])
    assert run.labels["prefect.worker.name"] == "one"
    assert run.parameters == {  # the trigger's over prefect.yaml's (batch_size 500, dask_address null)
        "inbox": str(inbox),
        "data_dir": str(data_dir),
        "batch_size": BATCH_SIZE,
        "dask_address": None,
    }
    engine = engine_for(database_url)
    with Session(engine) as session:
        stored = list(session.execute(select(Submission).order_by(col(Submission.file_name))).scalars())
        [intake_run] = session.execute(select(IntakeRun)).scalars()
    assert sorted(s.file_name for s in stored) == sorted(p.name for p in sample_inbox.iterdir())
    assert sorted(s.status for s in stored) == ["failed", "failed", "passed", "passed", "unreadable", "warnings"]
    assert (intake_run.flow_run_id, intake_run.loaded, intake_run.finished_at is not None) == (
        str(run.id),
        SAMPLE_FILES,
        True,
    )
    assert list(inbox.iterdir()) == []
    assert (data_dir / "reports" / "period" / "2023-period-report.html").exists()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_running_four_intake_runs_at_once_over_one_inbox_load_every_file_exactly_once_into_postgresql(
    server: PrefectServer, intake_deployment: uuid.UUID, sample_inbox: Path, tmp_path: Path, database_url: str
) -> None:
    inbox, data_dir = sample_copy(sample_inbox, tmp_path / "inbox"), tmp_path / "var"
    workers = [
        Worker(server, f"w{n}", tmp_path / f"worker-{n}.log", "--limit", "1", BUDGETFLOW_DATABASE_URL=database_url)
        for n in (1, 2)
    ]
    try:
        with server.client() as client:  # both polling before the runs exist, so that both get work
            deadline = time.monotonic() + 60
            while not {"w1", "w2"} <= {w.name for w in client.read_workers_for_work_pool("budgetflow")}:
                assert time.monotonic() < deadline, "\n".join(w.output() for w in workers)
                time.sleep(0.25)
        flow_runs = trigger(server, intake_deployment, inbox, data_dir, runs=4)
        runs = finished(server, flow_runs, workers)
    finally:
        for worker in workers:
            worker.stop()

    assert_completed(runs, workers)
    # each worker runs one at a time (--limit 1), and the deployment allows two at once: both took runs
    assert {run.labels["prefect.worker.name"] for run in runs} == {"w1", "w2"}, "\n".join(w.output() for w in workers)
    with Session(engine_for(database_url)) as session:
        files = list(session.execute(select(col(Submission.file_name), col(Submission.sha256))).all())
        intake_runs = list(session.execute(select(IntakeRun)).scalars())
        receipts = session.execute(select(func.count(col(Receipt.id)))).scalar_one()
    assert sorted(name for name, _ in files) == sorted(p.name for p in sample_inbox.iterdir())
    assert len({sha256 for _, sha256 in files}) == SAMPLE_FILES
    assert receipts == SAMPLE_FILES  # each file recorded once, by whichever run took it
    assert sorted(r.flow_run_id for r in intake_runs) == sorted(str(run.id) for run in runs)
    assert sum(r.loaded for r in intake_runs) == SAMPLE_FILES
    assert list(inbox.iterdir()) == []


def wait_until_polling(server: PrefectServer, workers: list[Worker]) -> None:
    """Until each worker polls the server and has said so: it registers before it prints `started!`, and a
    signal sent in between meets Prefect's own start-up output half imported (CI saw its handler fail there)."""
    names = {w.name for w in workers}
    with server.client() as client:
        deadline = time.monotonic() + 60
        while not names <= {w.name for w in client.read_workers_for_work_pool("budgetflow")} or not all(
            "started!" in w.output() for w in workers
        ):
            assert time.monotonic() < deadline, "\n".join(w.output() for w in workers)
            time.sleep(0.25)


def test_a_worker_started_without_budgetflow_home_fails_the_run_at_once_naming_the_variable(
    server: PrefectServer, intake_deployment: uuid.UUID, sample_inbox: Path, tmp_path: Path
) -> None:
    inbox, data_dir = sample_copy(sample_inbox, tmp_path / "inbox"), tmp_path / "var"
    [flow_run] = trigger(server, intake_deployment, inbox, data_dir, runs=1)
    started = time.monotonic()
    worker = Worker(server, "homeless", tmp_path / "worker.log", "--run-once", "--limit", "1", home=False)
    try:
        [run] = finished(server, [flow_run], [worker])
    finally:
        worker.stop()

    assert run.state is not None and not run.state.is_completed(), worker.output()
    assert time.monotonic() - started < 60
    with server.client() as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
    said = "\n".join([run.state.message or "", *(log.message for log in logs)])
    assert "BUDGETFLOW_HOME is not set" in said and "/opt/budgetflow" in said, said + worker.output()
    assert "FileNotFoundError" not in said
    assert len(list(inbox.iterdir())) == SAMPLE_FILES  # nothing was taken in


def test_sigterm_stops_a_worker_and_it_takes_no_more_runs(
    server: PrefectServer, intake_deployment: uuid.UUID, sample_inbox: Path, tmp_path: Path
) -> None:
    worker = Worker(server, "stopping", tmp_path / "worker.log")
    try:
        wait_until_polling(server, [worker])
        worker.process.send_signal(signal.SIGTERM)  # what `systemctl stop` sends
        with suppress(subprocess.TimeoutExpired):
            worker.process.wait(timeout=30)
        exited = worker.process.poll()
        inbox, data_dir = sample_copy(sample_inbox, tmp_path / "inbox"), tmp_path / "var"
        [flow_run] = trigger(server, intake_deployment, inbox, data_dir, runs=1)
        time.sleep(5)  # the worker polls every second: had it survived, it would have taken the run by now
        with server.client() as client:
            state = client.read_flow_run(flow_run.id).state
    finally:
        worker.stop()
        with server.client() as client:
            client.delete_flow_run(flow_run.id)

    assert exited == 0, worker.output()  # a clean stop, which Restart=on-failure in the unit does not undo
    assert state is not None and state.is_scheduled(), (state, worker.output())


def test_sigterm_during_a_run_crashes_it_visibly_takes_no_next_run_and_the_next_worker_loads_the_rest_once(
    server: PrefectServer, intake_deployment: uuid.UUID, tmp_path: Path
) -> None:
    generated, inbox, data_dir = generated_inbox(tmp_path)
    busy = Worker(server, "busy", tmp_path / "busy.log")
    try:
        wait_until_polling(server, [busy])
        [cut_short] = trigger(server, intake_deployment, inbox, data_dir, runs=1)
        wait_until_under_way(inbox, busy)
        stopped = stop_as_systemd_does(busy.process)
        [waiting] = trigger(server, intake_deployment, inbox, data_dir, runs=1)
        with suppress(subprocess.TimeoutExpired):
            busy.process.wait(timeout=60)
        exited = busy.process.poll()
        # Until the unit is stopped, as systemd sees it: every process the stop reached has ended (the run guard
        # last, having recorded what ended the run). On a loaded machine that takes seconds after the worker.
        psutil.wait_procs(stopped, timeout=60)
        with server.client() as client:
            deadline = time.monotonic() + 30
            while not (crashed := client.read_flow_run(cut_short.id).state) or not crashed.is_final():
                assert time.monotonic() < deadline, (crashed, busy.output())
                time.sleep(0.25)
            untaken = client.read_flow_run(waiting.id).state
    finally:
        busy.stop()

    assert exited == 0, busy.output()
    # the UI tells the truth within seconds: the run did not finish, and nothing says it is still running
    assert crashed.is_crashed(), (crashed, busy.output())
    assert "termination signal" in (crashed.message or ""), crashed.message
    assert untaken is not None and untaken.is_scheduled(), (untaken, busy.output())

    following = Worker(server, "following", tmp_path / "following.log", "--run-once", "--limit", "1")
    try:
        [run] = finished(server, [waiting], [following])
    finally:
        following.stop()
    assert_completed([run], [following])
    with Session(engine_for(f"sqlite:///{data_dir / 'budgetflow.db'}")) as session:
        loaded = list(session.execute(select(col(Submission.file_name))).scalars())
        receipts = session.execute(select(func.count(col(Receipt.id)))).scalar_one()
    assert sorted(loaded) == sorted(path.name for path in generated)  # each file once: none lost, none twice
    assert receipts == GENERATED_FILES
    assert list(inbox.iterdir()) == []


def test_an_engine_killed_outright_mid_run_still_ends_crashed_and_its_log_says_so(
    server: PrefectServer, intake_deployment: uuid.UUID, tmp_path: Path
) -> None:
    """SIGKILL to the supervisor and the engine (the OOM killer, a stop timeout) leaves neither a moment to report
    the run: the run guard does."""
    _, inbox, data_dir = generated_inbox(tmp_path)
    worker = Worker(server, "killed", tmp_path / "worker.log")
    try:
        wait_until_polling(server, [worker])
        [flow_run] = trigger(server, intake_deployment, inbox, data_dir, runs=1)
        wait_until_under_way(inbox, worker)
        family = psutil.Process(worker.process.pid).children(recursive=True)
        lines = {process.pid: command_line(process) for process in family}
        # The supervisor and the engine; not the engine's reader processes, forked with its command line.
        run_processes = [
            process
            for process in family
            if "run_guard" not in (line := lines[process.pid])
            and ("prefect.engine" in line or "flow-run execute" in line)
            and "prefect.engine" not in lines.get(parent_of(process), "")
        ]
        for process in run_processes:
            process.kill()
        with server.client() as client:
            deadline = time.monotonic() + 30
            while not (crashed := client.read_flow_run(flow_run.id).state) or not crashed.is_final():
                assert time.monotonic() < deadline, (crashed, worker.output())
                time.sleep(0.25)
            logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id])))
        still_polling = worker.process.poll() is None
    finally:
        worker.stop()

    assert len(run_processes) == 2, worker.output()  # the supervisor and the engine
    assert crashed.is_crashed(), (crashed, worker.output())
    assert "termination signal (SIGKILL)" in (crashed.message or ""), crashed.message
    assert any(log.name == "budgetflow.run_guard" and "SIGKILL" in log.message for log in logs), logs
    assert still_polling, worker.output()  # the worker itself carries on with the next runs


def command_line(process: Any) -> str:
    """The process's command line; empty for one that ended meanwhile (a reader process the run reaps later is
    a zombie until then, whose command line cannot be read)."""
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def parent_of(process: Any) -> int:
    try:
        return int(process.ppid())
    except psutil.Error:
        return 0


def generated_inbox(tmp_path: Path) -> tuple[list[Path], Path, Path]:
    """An inbox of GENERATED_FILES workbooks, for a run long enough to be cut short; the data folder beside it."""
    generated = generate(GENERATED_FILES, tmp_path / "generated")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for path in generated:
        shutil.copy(path, inbox / path.name)
    return generated, inbox, tmp_path / "var"


def wait_until_under_way(inbox: Path, worker: Worker) -> None:
    """Until the run has taken some batches in."""
    deadline = time.monotonic() + FLOW_RUN_TIMEOUT
    while len(list(inbox.iterdir())) > GENERATED_FILES - 10:
        assert time.monotonic() < deadline, worker.output()
        time.sleep(0.1)


def stop_as_systemd_does(worker: subprocess.Popen[bytes]) -> list[Any]:
    """SIGTERM to the worker and to every process under it at once, as `systemctl stop` does to the unit's
    control group (the flow runs are in sessions of their own, so the worker's process group is not enough);
    the processes under it, which systemd waits for before the unit counts as stopped."""
    family: list[Any] = psutil.Process(worker.pid).children(recursive=True)
    for pid in [worker.pid, *(process.pid for process in family)]:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    return family
