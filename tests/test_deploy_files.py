"""The deployment file names flows that exist, with parameters they accept, and holds no secret."""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from prefect.server.schemas.schedules import CronSchedule

from flows.period_report import period_report

DEPLOY = Path(__file__).parents[1] / "deploy"


def test_every_deployment_points_at_a_flow_with_the_parameters_it_is_given() -> None:
    document = yaml.safe_load((DEPLOY / "prefect.yaml").read_text(encoding="utf-8"))

    names = {d["name"] for d in document["deployments"]}
    assert names == {"intake", "period-report", "notify"}
    for deployment in document["deployments"]:
        path, function = deployment["entrypoint"].split(":")
        flow = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), function)
        accepted = inspect.signature(flow.fn).parameters
        assert set(deployment.get("parameters", {})) <= set(accepted), deployment["name"]
        assert deployment["work_pool"]["name"] == "budgetflow"
        assert deployment["schedules"], deployment["name"]


def test_the_deployment_and_service_files_hold_no_secret() -> None:
    for path in [DEPLOY / "prefect.yaml", *(DEPLOY / "systemd").iterdir()]:
        lines = [line.lower() for line in path.read_text(encoding="utf-8").splitlines()]
        settings = [line for line in lines if not line.lstrip().startswith("#")]
        assert not [line for line in settings if "password" in line or ("://" in line and "@" in line)], path


def deployment(name: str) -> dict[str, Any]:
    document = yaml.safe_load((DEPLOY / "prefect.yaml").read_text(encoding="utf-8"))
    [found] = [d for d in document["deployments"] if d["name"] == name]
    return dict(found)


@pytest.mark.parametrize("year", range(2025, 2033))
def test_the_intake_season_starts_on_a_working_day_and_runs_only_on_working_days(year: int) -> None:
    schedules = [
        CronSchedule(cron=s["cron"], timezone=s["timezone"], day_or=s.get("day_or", True))
        for s in deployment("intake")["schedules"]
    ]
    shanghai = ZoneInfo("Asia/Shanghai")
    start, end = dt.datetime(year, 1, 1, tzinfo=shanghai), dt.datetime(year, 4, 30, 23, 59, tzinfo=shanghai)

    def season(since: dt.datetime) -> list[dt.datetime]:  # Prefect looks at most 1000 dates ahead
        return sorted(
            moment.astimezone(shanghai)
            for schedule in schedules
            for moment in schedule._get_dates_generator(n=1000, start=since, end=end)
            if moment.astimezone(shanghai).month <= 4
        )

    opening, closing = season(start), season(dt.datetime(year, 4, 24, tzinfo=shanghai))

    assert opening[0].date() != dt.date(year, 1, 1) and opening[0].weekday() < 5, opening[0]
    assert closing and closing[-1].date() >= dt.date(year, 4, 24)  # the season runs to the end of April
    assert all(moment.weekday() < 5 and 8 <= moment.hour <= 19 for moment in opening + closing)


def test_the_period_report_deployment_leaves_the_year_to_the_flow() -> None:
    assert "fiscal_year" not in deployment("period-report").get("parameters", {})
    assert inspect.signature(period_report.fn).parameters["fiscal_year"].default is None


def test_the_worker_unit_stops_its_runs_with_it_and_stays_stopped() -> None:
    unit = (DEPLOY / "systemd" / "budgetflow-worker@.service").read_text(encoding="utf-8").splitlines()
    assert {"KillMode=control-group", "Restart=on-failure"} <= set(unit)
    assert "Environment=PATH=/opt/budgetflow/.venv/bin:/usr/local/bin:/usr/bin:/bin" in unit
    assert "command: python -m budgetflow.run_guard prefect flow-run execute" in (DEPLOY / "prefect.yaml").read_text(
        encoding="utf-8"
    )
    assert any(line.startswith("TimeoutStopSec=") for line in unit)
    assert "budgetflow.deployment_steps.enter_checkout" in (DEPLOY / "prefect.yaml").read_text(encoding="utf-8")
