"""How long the small commands take, as a user at the terminal waits for them.

    .venv/bin/python bench/cli.py [--repeat 5] [--json]

Each command is run as a user runs it (the `budgetflow` console script) on the embedded default: a new data
folder with SQLite and no PREFECT_API_URL. Each is timed twice over, in one run: "cold", in a process of its
own that imports everything (the warm command process switched off), and "warm", handed to the warm command
process (budgetflow.command_server), which is what a user meets from their second command on. The first
run in the new data folder (untimed against a target) starts the folder's Prefect server and takes the
sample inbox in, so that `submissions`, `show`, `alerts` and `report` have something to show. Each timed
`run` of the six samples takes them into a database of its own, the way a new county's first run does; their
files are dated a minute back, as files that arrived before the run (a file changed in the last
BUDGETFLOW_INBOX_SETTLE_SECONDS is waited for, which is not what this measures).

The figures are medians of wall time over the repetitions; the targets are issue 13's, for a 2-core machine,
and are checked against the warm figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BUDGETFLOW = str(Path(sys.executable).with_name("budgetflow"))


@dataclass(frozen=True)
class Command:
    name: str
    target_seconds: float
    arguments: list[str]


def environment(data_dir: Path, **variables: str) -> dict[str, str]:
    """The user's environment without any budgetflow or Prefect setting: the embedded default."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "BUDGETFLOW_"))}
    return inherited | {"BUDGETFLOW_DATA_DIR": str(data_dir), "DO_NOT_TRACK": "1"} | variables


def invoke(arguments: list[str], env: dict[str, str]) -> float:
    """Seconds that one command took; it must end 0 or 1 (1: a file failed its checks, which is an answer)."""
    started = time.perf_counter()
    result = subprocess.run([BUDGETFLOW, *arguments], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise SystemExit(f"budgetflow {' '.join(arguments)} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return elapsed


def fill_inbox(samples: Path, inbox: Path) -> Path:
    inbox.mkdir(parents=True)
    a_minute_ago = time.time() - 60
    for path in samples.iterdir():
        copy = inbox / path.name
        shutil.copyfile(path, copy)
        os.utime(copy, (a_minute_ago, a_minute_ago))
    return inbox


def wait_until_warm(runtime: Path, timeout: float = 120) -> None:
    log = runtime / f"budgetflow-{os.getuid()}" / "command-server.log"
    deadline = time.monotonic() + timeout
    while not (log.exists() and " modules in " in log.read_text(encoding="utf-8")):
        if time.monotonic() > deadline:
            raise SystemExit(f"the warm command process did not start (see {log})")
        time.sleep(0.1)


def measure(repeat: int) -> list[dict[str, object]]:
    work = Path(tempfile.mkdtemp(prefix="bench-cli-", dir="/tmp"))
    data_dir = work / "data"  # does not exist yet: the commands make it
    runtime = work / "rt"  # the warm command process of this measurement only
    runtime.mkdir()
    warm_env = environment(data_dir, XDG_RUNTIME_DIR=str(runtime))
    cold_env = warm_env | {"BUDGETFLOW_WARM_PROCESS_IDLE_MINUTES": "0"}  # none is started
    samples = work / "samples"
    subprocess.run([BUDGETFLOW, "samples", str(samples)], env=cold_env, check=True, capture_output=True)
    seed = next(samples.glob("*科工信局*.xlsx"))
    empty = work / "empty"
    empty.mkdir()
    commands = [
        Command("--help", 0.3, ["--help"]),
        Command("validate one file", 0.5, ["validate", str(seed)]),
        Command("submissions", 0.8, ["submissions"]),
        Command("show", 0.8, ["show", "1"]),
        Command("alerts", 0.8, ["alerts"]),
        Command("report", 1.5, ["report", "--year", "2023"]),
        Command("run on an empty inbox", 2.0, ["run", "--inbox", str(empty)]),
    ]
    runs = 0

    def run_of_the_samples(env: dict[str, str]) -> float:
        nonlocal runs
        runs += 1
        inbox = fill_inbox(samples, work / f"inbox-{runs}")
        database = f"sqlite:///{work / f'run-{runs}.db'}"
        return invoke(["run", "--inbox", str(inbox)], env | {"BUDGETFLOW_DATABASE_URL": database})

    results: list[dict[str, object]] = []
    try:
        first = invoke(["run", "--inbox", str(fill_inbox(samples, work / "inbox-first"))], cold_env)
        results.append({"command": "first run (new data folder)", "cold_seconds": round(first, 3)})
        cold = {c.name: [invoke(c.arguments, cold_env) for _ in range(repeat)] for c in commands}
        cold_runs = [run_of_the_samples(cold_env) for _ in range(repeat)]
        invoke(["--help"], warm_env)  # starts the warm command process, in the background
        wait_until_warm(runtime)
        warm = {c.name: [invoke(c.arguments, warm_env) for _ in range(repeat)] for c in commands}
        warm_runs = [run_of_the_samples(warm_env) for _ in range(repeat)]
        results += [row(c, cold[c.name], warm[c.name]) for c in commands]
        results.append(row(Command("run of the 6 samples", 4.0, []), cold_runs, warm_runs))
    finally:
        # the local Prefect server that the runs started, and the warm command process
        subprocess.run([BUDGETFLOW, "server", "stop"], env=warm_env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return results


def row(command: Command, cold: list[float], warm: list[float]) -> dict[str, object]:
    """Medians in a process of its own (cold) and in the warm command process; the target is the warm one's."""
    median = statistics.median(warm)
    return {
        "command": command.name,
        "cold_seconds": round(statistics.median(cold), 3),
        "median_seconds": round(median, 3),
        "min_seconds": round(min(warm), 3),
        "max_seconds": round(max(warm), 3),
        "target_seconds": command.target_seconds,
        "met": median <= command.target_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each command (median)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    arguments = parser.parse_args()
    results = measure(arguments.repeat)
    if arguments.json:
        print(json.dumps({"cpus": os.cpu_count(), "repeat": arguments.repeat, "results": results}, indent=2))
        return
    print(f"{'command':<30} {'cold':>8} {'warm':>8} {'min':>8} {'max':>8} {'target':>8}")
    for r in results:
        target = r.get("target_seconds")
        mark = "" if target is None else ("  ok" if r["met"] else "  MISSED")
        print(
            f"{r['command']:<30} {r['cold_seconds']:>8} {r.get('median_seconds', ''):>8} {r.get('min_seconds', ''):>8}"
            f" {r.get('max_seconds', ''):>8} {target if target is not None else '':>8}{mark}"
        )


if __name__ == "__main__":
    main()
