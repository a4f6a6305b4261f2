"""Prefect's environment for budgetflow's own commands: set before Prefect is imported."""

from __future__ import annotations

import os
from pathlib import Path

from budgetflow.settings import Settings


def configure_prefect(settings: Settings, *, quiet: bool = True) -> None:
    """Defaults only — an operator's own PREFECT_* variables always win.

    Without PREFECT_API_URL, flows run against a temporary local server whose history is kept in
    `$BUDGETFLOW_DATA_DIR/prefect` (browse it with `PREFECT_HOME=var/prefect prefect server start`).
    There is no internet here, so telemetry is off.
    """
    defaults = {
        "PREFECT_HOME": str((settings.data_dir / "prefect").resolve()),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
        # The first start creates Prefect's database, which on a busy 2-core machine takes longer than
        # Prefect's default 20 s wait for its temporary server.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }
    if quiet:
        # The command line draws its own progress, which Prefect's INFO lines would bury: the terminal shows
        # warnings only, while every INFO line still goes to the server, where the run's log is read.
        defaults["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "WARNING"
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    # Prefect makes its home without parents and then reports a timed-out server: a new data folder needs it made.
    Path(os.environ["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)
