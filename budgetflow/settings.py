"""Settings from the environment (prefix `BUDGETFLOW_`), passed into flows and commands as values."""

from __future__ import annotations

from pydantic import Field
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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BUDGETFLOW_", frozen=True)

    template: str = Field(default="spec-v1", description="bundled template name or path to a YAML file")
