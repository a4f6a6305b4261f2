"""`budgetflow validate`: the spec §3 contract — JSON documents, statuses and exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from budgetflow.cli import app
from workbooks.samples import clean_figures, seed_figures, warnings_figures, write_workbook

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout


def test_one_file_prints_one_json_document_with_the_seed_finding(tmp_path: Path) -> None:
    path = write_workbook(seed_figures(), tmp_path / "seed.xlsx")

    code, out = run("validate", str(path), "--json")

    document = json.loads(out)
    assert code == 1
    assert set(document) == {"file", "sha256", "status", "bureau_code", "fiscal_year", "template", "findings"}
    assert (document["status"], document["bureau_code"], document["fiscal_year"]) == ("failed", "430981-013", 2023)
    assert document["template"] == "spec-v1"  # picked by what the workbook holds
    assert len(document["sha256"]) == 64
    first = document["findings"][0]
    assert set(first) == {"rule", "severity", "sheet", "cells", "message", "expected", "actual"}
    assert (first["rule"], first["severity"], first["sheet"], first["cells"][0]) == (
        "sum/income",
        "error",
        "收支总表",
        "B10",
    )
    assert (first["expected"], first["actual"]) == ("1160.21", "1245.61")


def test_several_files_print_a_json_array_in_argument_order(tmp_path: Path) -> None:
    clean = write_workbook(clean_figures(), tmp_path / "a.xlsx")
    warned = write_workbook(warnings_figures(), tmp_path / "b.xlsx")

    code, out = run("validate", str(warned), str(clean), "--json")

    documents = json.loads(out)
    assert code == 0  # warnings alone do not fail
    assert [d["status"] for d in documents] == ["warnings", "passed"]
    assert documents[1]["findings"] == []


def test_a_directory_stands_for_the_workbooks_in_it_and_any_failure_exits_1(sample_inbox: Path) -> None:
    code, out = run("validate", str(sample_inbox), "--json")

    statuses = {Path(d["file"]).name: d["status"] for d in json.loads(out)}
    assert code == 1
    assert statuses == {
        "2023-科工信局.xlsx": "failed",
        "2023-教育局.xlsx": "passed",
        "2023-卫生健康局.xlsx": "warnings",
        "2023-农业农村局.xlsx": "failed",
        "2023-交通运输局.xlsx": "passed",
        "2023-水利局.xlsx": "unreadable",
    }


def test_an_unreadable_file_has_one_unreadable_finding_without_a_sheet(sample_inbox: Path) -> None:
    code, out = run("validate", str(sample_inbox / "2023-水利局.xlsx"), "--json")

    document = json.loads(out)
    assert code == 1
    assert document["status"] == "unreadable"
    assert [(f["rule"], f["sheet"]) for f in document["findings"]] == [("format/unreadable", None)]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("validate")[0] == 2
    assert run("validate", str(tmp_path / "missing.xlsx"))[0] == 2
    assert run("validate", "--no-such-option", str(tmp_path))[0] == 2
    assert run("validate", str(tmp_path))[0] == 2  # an empty directory holds nothing to check


def test_the_readable_table_groups_findings_by_sheet_and_names_the_cells(tmp_path: Path) -> None:
    path = write_workbook(seed_figures(), tmp_path / "seed.xlsx")

    code, out = run("validate", str(path))

    assert code == 1
    assert "收支总表" in out and "B10" in out and "sum/income" in out and "未通过" in out


def test_the_installed_console_script_runs_the_demo_over_the_sample_inbox(sample_inbox: Path) -> None:
    script = Path(sys.executable).with_name("budgetflow")

    completed = subprocess.run(
        [str(script), "validate", str(sample_inbox)], capture_output=True, text=True, timeout=120
    )

    assert completed.returncode == 1
    assert "Traceback" not in completed.stdout + completed.stderr
    assert "共 6 个文件" in completed.stdout


def test_serve_without_a_prefect_server_says_how_to_start_one(monkeypatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)

    result = runner.invoke(app, ["serve"])

    assert result.exit_code == 2
    assert "prefect server start" in result.output


def test_template_writes_a_blank_workbook_that_reads_without_formula_errors(tmp_path: Path) -> None:
    code, out = run("template", "--year", "2024", "--out", str(tmp_path / "2024.xlsx"))

    assert code == 0
    assert Path(out.strip()) == tmp_path / "2024.xlsx"
    report = json.loads(run("validate", str(tmp_path / "2024.xlsx"), "--json")[1])
    assert report["fiscal_year"] == 2024
    assert not [f for f in report["findings"] if f["rule"] == "format/formula"]


COMMANDS = [[], ["validate"], ["run"], ["submissions"], ["show"], ["report"], ["alerts"], ["alerts", "retry"],
            ["bureaus", "import"], ["template"], ["serve"], ["server"], ["server", "stop"], ["samples"]]  # fmt: skip


def test_the_help_of_every_command_names_values_not_python_types() -> None:
    for command in COMMANDS:
        code, out = run(*command, "--help")
        assert code == 0, (command, out)
        assert not re.search(r"<(bool|int|str|path|float|list\[\w+\])>", out, re.IGNORECASE), (command, out)
    assert "--year YEAR" in run("submissions", "--help")[1]
    assert re.search(r"^  FILE_OR_DIR  workbooks", run("validate", "--help")[1], re.MULTILINE)
    assert "--inbox DIR" in run("run", "--help")[1]


def test_empty_lists_say_that_there_is_nothing_rather_than_print_bare_headers(data_dir: Path) -> None:
    assert run("submissions")[1].strip() == "没有已入库的报表"
    assert run("submissions", "--year", "2023", "--bureau", "430981-013")[1].strip() == (
        "没有已入库的报表（2023 年度，单位 430981-013）"
    )
    assert run("alerts")[1].strip() == "发件箱是空的"
    assert run("alerts", "--pending")[1].strip() == "没有待发送的提醒"
