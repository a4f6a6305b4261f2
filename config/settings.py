"""Settings from the environment (prefix `BUDGETFLOW_`).

They are read once per process, where it starts: a command of the CLI, a flow run (`flows.common.settings_for`),
the warm command process. Everything below takes them, or the plain values in them, as arguments; no adapter
reads the environment itself. This module imports nothing of budgetflow's, so every layer may use its types.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MB = 1024 * 1024


class ReaderLimits(BaseSettings):
    """Bounds that keep a hostile or broken file from costing more than seconds and megabytes."""

    model_config = SettingsConfigDict(env_prefix="BUDGETFLOW_", frozen=True)

    max_file_bytes: int = Field(default=100 * MB, description="largest file accepted at all")
    max_part_bytes: int = Field(default=50 * MB, description="largest uncompressed part of the zip")
    max_total_bytes: int = Field(default=200 * MB, description="largest uncompressed workbook")
    max_compression_ratio: int = Field(default=200, description="uncompressed ÷ compressed per part")
    max_parts: int = Field(default=2000, description="most entries in the zip")
    max_sheets: int = Field(default=200, description="most sheets in a workbook")
    max_rows: int = Field(default=2000, description="rows read per sheet")
    max_columns: int = Field(default=60, description="columns read per sheet")
    max_seconds: float = Field(default=30.0, gt=0, description="time to read and check one file")
    max_memory_bytes: int = Field(default=1024 * MB, gt=0, description="memory one file may take while it is read")


class SmtpSettings(BaseSettings):
    """The mail server (prefix `BUDGETFLOW_SMTP_`); without a host, alerts are written as .eml files."""

    model_config = SettingsConfigDict(env_prefix="BUDGETFLOW_SMTP_", frozen=True)

    host: str | None = None
    port: int = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    user: str | None = None
    password: SecretStr | None = None
    sender: str = Field(default="budgetflow@localhost", description="From: address")
    sender_name: str = "财政局预算绩效管理"
    timeout_seconds: float = Field(default=20.0, gt=0, description="wait for each answer of the server")
    budget_seconds: float = Field(default=60.0, gt=0, description="time a run may spend sending mail; the rest waits")


# The reader's limits as documented, without the environment: what a caller that passes none gets (a test, the
# annotated copy of a file already read within the configured limits).
DEFAULT_READER_LIMITS = ReaderLimits.model_construct()


class Settings(BaseSettings):
    """Where budgetflow keeps its state and which database it loads into."""

    model_config = SettingsConfigDict(env_prefix="BUDGETFLOW_", frozen=True)

    data_dir: Path = Field(default=Path("var"), description="all local state: database, archive, reports, outbox")
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL; default a SQLite file in the data directory. PostgreSQL: "
        "postgresql+psycopg://user:password@host:5432/budgetflow",
    )
    template: str = Field(
        default="auto",
        description="auto (each workbook read with the bundled template whose sheets it holds), a bundled "
        "template's name, or the path of a YAML template file",
    )
    batch_size: int = Field(default=500, ge=1, description="files read, checked and loaded per batch")
    read_workers: int = Field(default=0, ge=0, description="reader processes per batch; 0 = one per CPU core")
    dask_address: str | None = Field(
        default=None,
        description="a Dask scheduler (tcp://host:8786) to read and check on; none: this machine's workers",
    )
    db_retries: int = Field(default=3, ge=0, description="retries of the database task")
    db_retry_delay_seconds: float = Field(default=10.0, ge=0, description="first retry delay; doubles each time")
    inbox_settle_seconds: float = Field(
        default=2.0, ge=0, description="a file is taken once its size and modification time held this long"
    )
    max_receipt_attempts: int = Field(
        default=3, ge=1, description="runs that may try a received file before it is recorded as not processed"
    )
    # Each artifact costs the Prefect server ~20 ms of CPU: a run of a county's files gets one per submission,
    # a province's burst of thousands the ones that need attention first, within this number.
    submission_artifacts_per_run: int = Field(
        default=100, ge=0, description="submissions of one run that get an artifact of their own in the Prefect UI"
    )

    local_server_idle_minutes: float = Field(
        default=120, ge=0, description="the data folder's own Prefect server stops after this long unused; 0: never"
    )
    warm_process_idle_minutes: float = Field(
        default=120,
        ge=0,
        description="the warm command process (imports made once, a child per command) stops after this long "
        "unused; 0: none is started",
    )

    operators: str = Field(
        default="", description="operators' email addresses, comma-separated; alerted on every failure"
    )
    alert_retry_seconds: float = Field(default=60.0, ge=0, description="first delay after a failed send; doubles")

    # Read from their own variables (BUDGETFLOW_MAX_*, BUDGETFLOW_SMTP_*) when these settings are.
    limits: ReaderLimits = Field(default_factory=ReaderLimits)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)

    @property
    def operator_list(self) -> list[str]:
        return [address.strip() for address in self.operators.replace(";", ",").split(",") if address.strip()]

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def inbox_dir(self) -> Path:
        return self.data_dir / "inbox"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    def prepare_data_dir(self) -> Path:
        """Create the data folder (and its parents) and the inbox; the folder's absolute path."""
        self.inbox_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir.resolve()

    def database_shown(self) -> str:
        """The database URL as it may be printed (no password)."""
        from sqlalchemy.engine import make_url

        return make_url(self.database_url_value()).render_as_string(hide_password=True)

    def database_url_value(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'budgetflow.db').resolve()}"
