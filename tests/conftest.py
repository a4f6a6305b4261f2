from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbooks.samples import write_samples

# Prefect reads its settings at import: give the test session its own home, no telemetry, quiet logs.
_PREFECT_HOME = Path(os.environ.get("BUDGETFLOW_TEST_PREFECT_HOME", f"/tmp/budgetflow-test-prefect-{os.getpid()}"))
os.environ.setdefault("PREFECT_HOME", str(_PREFECT_HOME))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# INFO reaches the server (the tests read the runs' logs there); the terminal shows warnings only.
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
# The warm command processes that console scripts run here start are the session's own, stopped at its end.
os.environ["XDG_RUNTIME_DIR"] = str(_PREFECT_HOME.with_name(_PREFECT_HOME.name + "-runtime"))
Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)

POSTGRES_ADMIN_URL = os.environ.get("BUDGETFLOW_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


# Modules whose every test starts Prefect servers, workers, a Dask cluster or a browser.
SLOW_MODULES = {"test_browser", "test_deployment", "test_first_start", "test_intake_dask", "test_local_server"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The fast tier (`pytest -m "not slow"`, what a developer runs while working) leaves out every test that
    needs a Prefect server (the session's, through the `prefect_server` fixture), a Dask cluster, workers or
    a browser; CI runs them all. Marked here from what the test uses, so that a new one cannot be forgotten."""
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if isinstance(item, pytest.Function) else ""
        if module in SLOW_MODULES or "prefect_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _no_real_mail_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own mail settings never reach the tests: they would send real mail."""
    for name in list(os.environ):
        if name.startswith("BUDGETFLOW_SMTP_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def sample_inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample inbox, written once per test session (copy it before a run empties it)."""
    directory = tmp_path_factory.mktemp("inbox")
    write_samples(directory)
    return directory


def _postgres_available() -> str | None:
    """None when the test PostgreSQL answers, else why not."""
    import psycopg

    try:
        with psycopg.connect(POSTGRES_ADMIN_URL.replace("+psycopg", ""), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


@pytest.fixture(scope="session")
def postgres_admin() -> str:
    """The URL of the test PostgreSQL; in CI its absence fails the run, locally it skips with the reason."""
    problem = _postgres_available()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI ({POSTGRES_ADMIN_URL}): {problem}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_ADMIN_URL}: {problem}")
    return POSTGRES_ADMIN_URL


def _fresh_postgres_database(admin_url: str, template: str | None = None) -> Iterator[str]:
    """A new database, empty or a copy of `template`; dropped afterwards."""
    import psycopg

    name = f"budgetflow_{uuid.uuid4().hex[:12]}"
    plain = admin_url.replace("+psycopg", "")
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        from models.database import engine_for

        engine_for.cache_clear()  # release pooled connections before dropping
        with psycopg.connect(plain, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind: a SQLite file, and a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'budgetflow.db'}"
        return
    yield from _fresh_postgres_database(request.getfixturevalue("postgres_admin"))


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once for the session, to be copied."""
    from models.database import engine_for, upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('migrated') / 'budgetflow.db'}"
    upgrade(url)
    engine_for(url).dispose()  # closed: its write-ahead log is in the file, and the file can be copied
    return Path(url.removeprefix("sqlite:///"))


@pytest.fixture(scope="session")
def migrated_postgres(request: pytest.FixtureRequest) -> Iterator[str]:
    """The name of a PostgreSQL database migrated once for the session, to be copied (CREATE DATABASE …
    TEMPLATE takes ~0.1 s, the migrations ~0.6 s)."""
    from models.database import engine_for, upgrade

    for url in _fresh_postgres_database(request.getfixturevalue("postgres_admin")):
        upgrade(url)
        engine_for(url).dispose()  # no connection may stay open to a template that is copied
        engine_for.cache_clear()
        yield url.rsplit("/", 1)[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of each kind at the newest schema, as `upgrade` leaves an empty one: a copy of one migrated
    once per session (the migrations themselves are tested on `database_url`'s empty ones)."""
    if request.param == "sqlite":
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), tmp_path / "budgetflow.db")
        yield f"sqlite:///{tmp_path / 'budgetflow.db'}"
        return
    template = request.getfixturevalue("migrated_postgres")
    yield from _fresh_postgres_database(request.getfixturevalue("postgres_admin"), template)


@pytest.fixture
def data_dir(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory and database for budgetflow, set through its environment as an operator would."""
    directory = tmp_path / "var"
    monkeypatch.setenv("BUDGETFLOW_DATA_DIR", str(directory))
    monkeypatch.setenv("BUDGETFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("BUDGETFLOW_DB_RETRY_DELAY_SECONDS", "0.2")
    monkeypatch.setenv("BUDGETFLOW_INBOX_SETTLE_SECONDS", "0")  # the tests write whole files before a run
    return directory


@pytest.fixture(autouse=True)
def no_local_prefect_server_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """A command run here without PREFECT_API_URL starts its data folder's own Prefect server, which outlives
    it by design: stop every one that a test's folders, or the session's PREFECT_HOME, hold."""
    folder: Path | None = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    from budgetflow import local_server

    homes = [state.parent for state in folder.rglob("server.json")] if folder is not None else []
    for home in [*homes, Path(os.environ["PREFECT_HOME"])]:
        if (home / "server.json").exists():
            local_server.stop(home)


@pytest.fixture(scope="session", autouse=True)
def no_warm_command_process_left() -> Iterator[None]:
    yield
    from budgetflow.command_server import stop_all

    stop_all()


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One temporary Prefect server for the whole test session (it takes seconds to start)."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        # the commands run here (CliRunner) use it too, as they use a configured server, not the data folder's own
        os.environ["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
        try:
            yield
        finally:
            del os.environ["PREFECT_API_URL"]
