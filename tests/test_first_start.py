"""A newcomer's first start (issue 11): a data folder that does not exist yet, an inbox that is wrong, and a
command started from another directory. The commands run as the installed console script, in a process of
their own, without the test session's Prefect settings, as they would on a fresh machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("budgetflow")


def fresh_environment(data_dir: Path | None) -> dict[str, str]:
    """The environment of a new shell: no PREFECT_* or BUDGETFLOW_* variable of the test session."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PREFECT_", "BUDGETFLOW_")) and name != "COLUMNS"
    }
    if data_dir is not None:
        environment["BUDGETFLOW_DATA_DIR"] = str(data_dir)
    environment["BUDGETFLOW_INBOX_SETTLE_SECONDS"] = "0"
    return environment


def budgetflow(
    *arguments: str, cwd: Path, data_dir: Path | None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *arguments],
        cwd=cwd,
        env=fresh_environment(data_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_run_with_a_data_folder_that_does_not_exist_yet_makes_it_and_takes_in_the_samples(tmp_path: Path) -> None:
    data_dir = tmp_path / "not" / "yet" / "there"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    samples = budgetflow("samples", cwd=elsewhere, data_dir=data_dir)
    bureaus = budgetflow("bureaus", "import", str(Path(__file__).parents[1] / "samples" / "bureaus.yaml"),
                         cwd=elsewhere, data_dir=data_dir)  # fmt: skip
    run = budgetflow("run", cwd=elsewhere, data_dir=data_dir)

    for done in (samples, bureaus, run):
        assert "Traceback" not in done.stdout + done.stderr, done.stderr[-3000:]
    assert samples.returncode == 0 and bureaus.returncode == 0, (samples.stderr, bureaus.stderr)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert f"数据目录：{data_dir.resolve()}" in run.stderr
    assert "未通过" in run.stdout and "通过" in run.stdout
    assert (data_dir / "budgetflow.db").is_file() and (data_dir / "prefect").is_dir()
    assert not list((data_dir / "inbox").iterdir())
    assert not (elsewhere / "var").exists(), "a command started elsewhere made a ./var of its own"


@pytest.mark.parametrize("what", ["missing", "a file"])
def test_run_refuses_an_inbox_that_is_not_a_folder_with_exit_code_2(tmp_path: Path, what: str) -> None:
    inbox = tmp_path / "inbox"
    if what == "a file":
        inbox.write_text("not a folder")

    done = budgetflow("run", "--inbox", str(inbox), cwd=tmp_path, data_dir=tmp_path / "var", timeout=60)

    assert done.returncode == 2, done.stdout + done.stderr
    assert str(inbox) in done.stderr and "--inbox" in done.stderr
    assert ("不存在" if what == "missing" else "不是文件夹") in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "var" / "budgetflow.db").exists(), "a refused run touched the database"


def test_every_command_names_the_data_folder_and_database_it_uses(tmp_path: Path) -> None:
    data_dir = tmp_path / "bureau-data"

    done = budgetflow("submissions", cwd=tmp_path, data_dir=data_dir, timeout=60)

    assert done.returncode == 0, done.stderr
    assert f"数据目录：{data_dir.resolve()}" in done.stderr
    assert f"数据库：sqlite:///{data_dir.resolve() / 'budgetflow.db'}" in done.stderr
