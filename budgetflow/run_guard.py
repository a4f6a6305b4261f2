"""The job command of budgetflow's deployments: `prefect flow-run execute`, watched until its last process ends.

Prefect's engine records a run cut short by SIGTERM as Crashed itself, most of the time. When the signal reaches
the processes while the engine cannot answer it (a `systemctl stop` lands between two of its phases, the
kernel kills it for memory, SIGKILL after the stop timeout), nothing records anything, and the run stays
"Running" in the UI for good. This guard closes that gap for every cause at once:

1. it runs the command as its child and becomes the subreaper of everything under it, so that it also waits for
   the engine, which the supervisor starts in a session of its own and which outlives it;
2. when they have all ended, and the run ended by a signal or an exit code other than 0, it reads the run's
   state; a run still not in a final state is set Crashed, with a line in the run's log saying what ended it;
3. a run that the engine recorded as Crashed for a consequence of the signal (it then reads "aborted by Python
   system exit call") while the guard itself was sent SIGTERM or SIGINT gets the cause as its message.

The guard itself only notes a SIGTERM or SIGINT: the processes under it get the signal from systemd (the unit's
whole control group) or from the worker (their process group) and act on it themselves. A run that finished is
never touched: Completed, Failed or Cancelled are left as they are, and Crashed over a running state is not
forced, so Prefect refuses it once the engine has reported a final state meanwhile.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType
from uuid import UUID

DEFAULT_COMMAND = ("prefect", "flow-run", "execute")
PR_SET_CHILD_SUBREAPER = 36
GUARD_LOGGER = "budgetflow.run_guard"
SIGNAL_WORDS = "termination signal"  # in Prefect's own message for a run it saw aborted by SIGTERM, and in ours


def main(argv: Sequence[str] | None = None) -> int:
    command = list(argv if argv is not None else sys.argv[1:]) or list(DEFAULT_COMMAND)
    stopped_by: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        stopped_by.append(signum)

    # A handler, not SIG_IGN: an ignored signal would stay ignored in the command after exec.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, note)
    _become_subreaper()
    child = subprocess.Popen(command)
    endings = _wait_for_everything()
    child.returncode = os.waitstatus_to_exitcode(endings[child.pid])
    signalled = sorted({os.WTERMSIG(status) for status in endings.values() if os.WIFSIGNALED(status)})
    if child.returncode != 0 or signalled or stopped_by:
        flow_run_id = os.environ.get("PREFECT__FLOW_RUN_ID")
        if flow_run_id:
            try:
                record_crash(flow_run_id, why_it_ended(child.returncode, signalled or stopped_by), bool(stopped_by))
            except Exception as exc:  # the API is down as well: nothing else can record it now; say so in the log
                print(f"budgetflow.run_guard: could not record how run {flow_run_id} ended: {exc!r}", file=sys.stderr)
    return child.returncode if child.returncode >= 0 else 128 - child.returncode


def _become_subreaper() -> None:
    """Orphans under this process (the engine, once the supervisor is gone) become its children to wait for."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _wait_for_everything() -> dict[int, int]:
    """Wait statuses of every process reaped here, until none is left."""
    endings: dict[int, int] = {}
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return endings
        endings[pid] = status


def why_it_ended(exit_code: int, signals: Sequence[int]) -> str:
    if signals:
        names = "、".join(signal.Signals(signum).name for signum in signals)
        return (
            f"Flow run was aborted by a termination signal ({names}) before it could report its state "
            f"(运行被终止信号 {names} 中断，未能报告最终状态)."
        )
    return f"Flow run process exited with code {exit_code} without reporting a final state (进程退出，未报告最终状态)."


def record_crash(flow_run_id: str, message: str, terminated: bool) -> bool:
    """Set the run Crashed with `message` unless it is in a final state, or, when the run was `terminated`, where
    the engine recorded a crash without naming a termination signal; whether it was set."""
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(flow_run_id)).state
        crash_without_its_cause = (
            terminated and state is not None and state.is_crashed() and SIGNAL_WORDS not in (state.message or "")
        )
        if state is not None and state.is_final() and not crash_without_its_cause:
            return False
        result = client.set_flow_run_state(  # type: ignore[var-annotated]
            flow_run_id, Crashed(message=message), force=crash_without_its_cause
        )
        if result.state is None or not result.state.is_crashed():
            return False  # Prefect refused it: the engine reported a final state in the meantime
        log = {
            "name": GUARD_LOGGER,
            "level": logging.ERROR,
            "message": message,
            "timestamp": dt.datetime.now(dt.UTC).isoformat(),
            "flow_run_id": flow_run_id,
        }
        client.create_logs([log])
        return True


if __name__ == "__main__":
    sys.exit(main())
