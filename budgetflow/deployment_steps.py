"""The pull step of budgetflow's deployments (deploy/prefect.yaml): run where a worker starts each flow run."""

from __future__ import annotations

import logging
import os
from pathlib import Path

HOME_VARIABLE = "BUDGETFLOW_HOME"
WHAT_TO_SET = (
    f"set {HOME_VARIABLE} to the budgetflow checkout the flows run from (e.g. {HOME_VARIABLE}=/opt/budgetflow) "
    "in the worker's environment: /etc/budgetflow/budgetflow.env, which budgetflow-worker@.service loads, "
    "or export it before `prefect worker start`"
)


class CheckoutNotFound(RuntimeError):
    """The worker cannot tell where the flows' code is: the run fails before anything is read or loaded."""


def enter_checkout() -> dict[str, str]:
    """Make the checkout named by BUDGETFLOW_HOME the run's working directory; fail at once, naming the variable,
    when it is unset or names something else (Prefect's own step would chdir into "" and fail obscurely)."""
    home = os.environ.get(HOME_VARIABLE, "").strip()
    checkout = Path(home).expanduser()
    if not home:
        _fail_run(f"{HOME_VARIABLE} is not set: {WHAT_TO_SET}")
    if not (checkout / "flows" / "intake.py").is_file():
        _fail_run(f"{HOME_VARIABLE}={home} is not a budgetflow checkout (no flows/intake.py): {WHAT_TO_SET}")
    os.chdir(checkout)
    return {"directory": str(checkout)}


def _fail_run(message: str) -> None:
    """Fail the flow run with this message, in its log and as its state: a pull step's exception reaches neither
    (the worker sees only "process exited with status code 1", after an error of Prefect's own)."""
    from prefect.client.orchestration import get_client
    from prefect.states import Failed

    flow_run_id = os.environ.get("PREFECT__FLOW_RUN_ID")
    if flow_run_id:
        logging.getLogger("prefect.flow_runs").error(message, extra={"flow_run_id": flow_run_id})
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(flow_run_id, Failed(message=message), force=True)
    raise CheckoutNotFound(message)
