"""How long the small commands take, as a user at the terminal waits for them.

    .venv/bin/python bench/cli.py [--repeat 5] [--json]

Each command is run as a user runs it (the `budgetflow` console script, in a process of its own) on the
embedded default: a new data folder with SQLite and no PREFECT_API_URL. The sample inbox is taken in once
first (untimed), so that `submissions`, `show`, `alerts` and `report` have something to show. Each timed
`run` of the six samples takes them into a database of its own, the way a new county's first run does; their
files are dated a minute back, as files that arrived before the run (a file changed in the last
BUDGETFLOW_INBOX_SETTLE_SECONDS is waited for, which is not what this measures).

The figures are medians of wall time over the repetitions; the targets are issue 13's, for a 2-core machine.
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


def measure(repeat: int) -> list[dict[str, object]]:
    work = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    data_dir = work / "data"  # does not exist yet: the commands make it
    env = environment(data_dir)
    samples = work / "samples"
    subprocess.run([BUDGETFLOW, "samples", str(samples)], env=env, check=True, capture_output=True)
    seed = next(samples.glob("*科工信局*.xlsx"))
    empty = work / "empty"
    empty.mkdir()
    results: list[dict[str, object]] = []
    try:
        first = invoke(["run", "--inbox", str(fill_inbox(samples, work / "inbox-first"))], env)
        results.append({"command": "first run (new data folder)", "median_seconds": round(first, 3)})
        commands = [
            Command("--help", 0.3, ["--help"]),
            Command("validate one file", 0.5, ["validate", str(seed)]),
            Command("submissions", 0.8, ["submissions"]),
            Command("show", 0.8, ["show", "1"]),
            Command("alerts", 0.8, ["alerts"]),
            Command("report", 1.5, ["report", "--year", "2023"]),
            Command("run on an empty inbox", 2.0, ["run", "--inbox", str(empty)]),
        ]
        for command in commands:
            times = [invoke(command.arguments, env) for _ in range(repeat)]
            results.append(row(command, times))
        run_times = []
        for i in range(repeat):
            inbox = fill_inbox(samples, work / f"inbox-{i}")
            database = f"sqlite:///{work / f'run-{i}.db'}"
            run_times.append(
                invoke(["run", "--inbox", str(inbox)], environment(data_dir, BUDGETFLOW_DATABASE_URL=database))
            )
        results.append(row(Command("run of the 6 samples", 4.0, []), run_times))
    finally:
        # the local Prefect server that the runs started, if this version keeps one
        subprocess.run([BUDGETFLOW, "server", "stop"], env=env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return results


def row(command: Command, times: list[float]) -> dict[str, object]:
    median = statistics.median(times)
    return {
        "command": command.name,
        "median_seconds": round(median, 3),
        "min_seconds": round(min(times), 3),
        "max_seconds": round(max(times), 3),
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
    print(f"{'command':<30} {'median':>8} {'min':>8} {'max':>8} {'target':>8}")
    for r in results:
        target = r.get("target_seconds")
        mark = "" if target is None else ("  ok" if r["met"] else "  MISSED")
        print(
            f"{r['command']:<30} {r['median_seconds']:>8} {r.get('min_seconds', ''):>8} {r.get('max_seconds', ''):>8}"
            f" {target if target is not None else '':>8}{mark}"
        )


if __name__ == "__main__":
    main()
