"""What an operator sees in the Prefect UI, in a real browser (issue 12): a `prefect server start` with its UI,
one `budgetflow run` of the samples against it, and headless Chromium (Debian's `chromium`) opening the flow
run's page and the `period-status-2023` artifact. The page text must hold the run's state message, a bureau's
name and 未报送; the screenshots are kept in test-output/ for a person to look at."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.test_deployment import QUIET, free_port, running_server

REPOSITORY = Path(__file__).resolve().parents[1]
OUTPUT = REPOSITORY / "test-output"  # the screenshots, kept after the run
PREFECT = str(Path(sys.executable).with_name("prefect"))
BUDGETFLOW = str(Path(sys.executable).with_name("budgetflow"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SAMPLE_MESSAGE = "6 份：通过 2，有警告 1，未通过 2，无法读取 1"
SEED_NAME = "沅江市科学技术和工业信息化局"
MISSING_NAME = "沅江市民政局"  # registered, never submits

if CHROMIUM is None and not os.environ.get("CI"):  # in CI (.ci/run installs it) its absence fails the test
    pytestmark = pytest.mark.skip("Chromium is not installed (apt-get install chromium)")

DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy


@dataclass(frozen=True)
class UiServer:
    url: str  # of the UI; the API is under /api
    home: Path

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def post(self, path: str, body: dict[str, object]) -> list[dict[str, object]]:
        request = urllib.request.Request(
            f"{self.api_url}{path}", json.dumps(body).encode(), {"content-type": "application/json"}
        )
        with DIRECT.open(request, timeout=10) as response:
            found: list[dict[str, object]] = json.loads(response.read())
        return found


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    """`prefect server start` with its UI, which is told where its API is (it would look on port 4200)."""
    home = tmp_path_factory.mktemp("prefect-ui-home")
    port = free_port()
    server = UiServer(f"http://127.0.0.1:{port}", home)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "BUDGETFLOW_"))}
    environment |= QUIET | {"PREFECT_HOME": str(home), "PREFECT_UI_API_URL": server.api_url}
    with running_server(home, port, environment):
        yield server


def budgetflow(server: UiServer, data_dir: Path, *arguments: str) -> str:
    """A budgetflow command as an operator runs it against the server (PREFECT_API_URL set)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "BUDGETFLOW_"))}
    environment |= QUIET | {
        "PREFECT_API_URL": server.api_url,
        "BUDGETFLOW_DATA_DIR": str(data_dir),
        "BUDGETFLOW_INBOX_SETTLE_SECONDS": "0",
        "COLUMNS": "200",
    }
    done = subprocess.run(
        [BUDGETFLOW, *arguments], env=environment, capture_output=True, text=True, timeout=300, cwd=data_dir.parent
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def page_text(url: str, screenshot: Path) -> str:
    """The text of a page once its scripts have run, and a screenshot of it."""
    options = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"]
    options.append("--virtual-time-budget=20000")  # the UI is a single-page app: let it fetch and render
    assert CHROMIUM is not None
    dom = subprocess.run(
        [CHROMIUM, *options, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    subprocess.run(
        [CHROMIUM, *options, f"--screenshot={screenshot}", url], capture_output=True, timeout=120, check=True
    )
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom)))


@pytest.mark.slow
def test_the_prefect_ui_shows_the_run_state_message_bureau_names_and_who_has_not_submitted(
    ui_server: UiServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "var"
    budgetflow(ui_server, data_dir, "samples")
    budgetflow(ui_server, data_dir, "bureaus", "import", str(REPOSITORY / "samples" / "bureaus.yaml"))
    budgetflow(ui_server, data_dir, "run")
    with sqlite3.connect(data_dir / "budgetflow.db") as database:
        [(flow_run_id,)] = database.execute("SELECT flow_run_id FROM intake_run").fetchall()
    [artifact] = ui_server.post("/artifacts/filter", {"artifacts": {"key": {"any_": ["period-status-2023"]}}})
    OUTPUT.mkdir(exist_ok=True)

    run_page = page_text(f"{ui_server.url}/runs/flow-run/{flow_run_id}", OUTPUT / "intake-flow-run.png")
    status_page = page_text(f"{ui_server.url}/artifacts/artifact/{artifact['id']}", OUTPUT / "period-status-2023.png")

    assert "需要处理" in run_page and SAMPLE_MESSAGE in run_page, run_page[:3000]
    assert SEED_NAME in run_page  # the per-file log lines
    assert "period-status-2023" in status_page
    assert re.search(rf"{MISSING_NAME} 430981-071 .*?未报送", status_page), status_page[:3000]
    assert SEED_NAME in status_page and "未通过" in status_page
    assert (OUTPUT / "intake-flow-run.png").stat().st_size > 10_000
