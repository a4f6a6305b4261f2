"""Prefect's environment for budgetflow's own commands: set before Prefect is imported."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from budgetflow import local_server
from config.settings import Settings


def configure_prefect(
    settings: Settings, *, quiet: bool = True, local: bool = True, on_start: Callable[[], None] | None = None
) -> str | None:
    """Defaults only — an operator's own PREFECT_* variables always win. The UI address of the data folder's
    own server when this command uses it (`local` and no PREFECT_API_URL), else None; `on_start` is called
    when that server must be started first (seconds: the command says so).

    Without PREFECT_API_URL, flows run against the data folder's own Prefect server (budgetflow.local_server),
    started by the first command that needs it and kept running between commands, its history in
    `$BUDGETFLOW_DATA_DIR/prefect`. There is no internet here, so telemetry is off.
    """
    defaults = {"PREFECT_HOME": str(prefect_home(settings)), **local_server.QUIET}
    if quiet:
        # The command line draws its own progress, which Prefect's INFO lines would bury: the terminal shows
        # warnings only, while every INFO line still goes to the server, where the run's log is read.
        defaults["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "WARNING"
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    ui_url = None
    if local and not os.environ.get("PREFECT_API_URL"):
        server = local_server.ensure_running(
            prefect_home(settings), settings.local_server_idle_minutes, on_start=on_start
        )
        os.environ["PREFECT_API_URL"] = server.api_url
        ui_url = server.ui_url
    refresh_loaded_prefect()
    return ui_url


def refresh_loaded_prefect(*, new_streams: bool = False) -> None:
    """Prefect reads its settings and sets up its logging when it is imported. Where it was imported before
    these variables were set (a command in the warm command process, a program that embeds budgetflow),
    both are made again from the environment now; with `new_streams` (standard streams replaced since),
    its log handlers are made anew too, on the new streams, instead of only taking the new levels."""
    if "prefect.context" not in sys.modules:
        return
    import prefect.context
    import prefect.logging.configuration

    prefect.context.refresh_global_settings_context()
    prefect.logging.configuration.setup_logging(incremental=not new_streams)


def prefect_home(settings: Settings) -> Path:
    """Where Prefect keeps its state, and the data folder's own server its own: PREFECT_HOME when it is set."""
    return Path(os.environ.get("PREFECT_HOME") or settings.data_dir / "prefect").expanduser().resolve()


@contextmanager
def command_line_flow_runs() -> Iterator[None]:
    """Flow runs started by a command, in this process: without heartbeats, unless the operator set them.

    Heartbeats tell a server that a worker's flow run is still alive. A command reports its own run's end,
    and each heartbeat thread, which sleeps in whole seconds, held every flow run up to a second more at its
    end: two of the six samples' eight seconds (the intake and its period report). Import Prefect only here.
    """
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    if {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "PREFECT_RUNNER_HEARTBEAT_FREQUENCY"} & set(os.environ):
        yield
        return
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
