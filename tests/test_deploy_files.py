"""The deployment file names flows that exist, with parameters they accept, and holds no secret."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import yaml

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
