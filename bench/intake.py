"""Province-scale benchmark of the intake: `python -m bench.intake [-n 10000] [--json]`.

Generates N synthetic bureau workbooks (deterministic; about one in five fails its checks, see
`bench.generate`), then measures, each in its own process so that peak memory is its own:

  (a) raw openpyxl   — opening every file read-only and reading every cell's value, nothing else;
  (b) naive pipeline — what a first attempt looks like: pandas.read_excel per sheet, budgetflow's
                       reader, pandera per file, an ORM object added per row and a commit per file,
                       one Prefect task per file; run on a sample and extrapolated to N;
  (c) budgetflow     — the `intake` flow end to end (archive, read, check, load, HTML pages and
                       annotated workbooks, alerts, period report), on SQLite and on PostgreSQL.

Prefect's fixed start-up (its temporary server, 6–8 s) is excluded: each measuring process starts the
server first and times only the work. Peak memory is the largest resident set of the measuring
process or of a worker process it started.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.generate import FORMATS, generate

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


# --- the measurements, each run in a child process ------------------------------------------------


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # worker processes that have ended
    return max(own, children) / 1024  # Linux reports kilobytes


def measure_raw_openpyxl(files: list[Path]) -> float:
    """Seconds to open every file with openpyxl read-only and read every value."""
    import openpyxl

    start = time.perf_counter()
    for path in files:
        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception:  # the unreadable share fails here, as it would for any reader
            continue
        for sheet in book.worksheets:
            for _row in sheet.iter_rows(values_only=True):
                pass
        book.close()
    return time.perf_counter() - start


def measure_naive(files: list[Path], work: Path) -> float:
    """Seconds for the naive pipeline over `files` (one Prefect task per file)."""
    import pandas as pd
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from prefect.testing.utilities import prefect_test_harness
    from sqlmodel import Session

    from checks.template import default_template
    from checks.validate import validate_batch
    from models.database import engine_for, upgrade
    from models.rows import typed_rows
    from models.tables import Bureau, Submission
    from workbooks.reader import read_submission

    url = f"sqlite:///{work / 'naive.db'}"
    upgrade(url)
    engine = engine_for(url)

    @task(cache_policy=NO_CACHE)
    def take_in(path: Path) -> None:
        """Everything for one file, the way a first attempt does it."""
        try:
            for sheet in pd.ExcelFile(path, engine="openpyxl").sheet_names:
                pd.read_excel(path, sheet_name=sheet, header=None, dtype=object, engine="openpyxl")
        except Exception:  # unreadable files are still read, checked and recorded below
            pass
        read = read_submission(path)
        [report] = validate_batch([read])
        with Session(engine) as session:
            if read.bureau_code and session.get(Bureau, read.bureau_code) is None:
                session.add(Bureau(code=read.bureau_code, name=read.bureau_code))
            submission = Submission(
                sha256=read.sha256,
                bureau_code=read.bureau_code,
                fiscal_year=read.fiscal_year,
                version=1,
                file_name=path.name,
                size=path.stat().st_size,
                archive_path=str(path),
                status=str(report.status),
                is_current=True,
                error_count=report.errors,
                warning_count=report.warnings,
                template=read.template,
            )
            session.add(submission)
            session.flush()
            assert submission.id is not None
            for table, table_rows in typed_rows(read, report.findings, default_template()).items():
                for row in table_rows.as_dicts():
                    session.add(table(**row, submission_id=submission.id))
            session.commit()

    @flow(name="naive-intake")
    def naive(paths: list[Path]) -> None:
        for path in paths:
            take_in(path)

    with prefect_test_harness(server_startup_timeout=60):
        start = time.perf_counter()
        naive(files)
        return time.perf_counter() - start


def measure_intake(files: list[Path], work: Path, database_url: str, batch_size: int) -> float:
    """Seconds for the intake flow over an inbox holding `files` (copying them there is not timed)."""
    from prefect.testing.utilities import prefect_test_harness

    data_dir = work / "var"
    inbox = data_dir / "inbox"
    inbox.mkdir(parents=True)
    for path in files:
        shutil.copyfile(path, inbox / path.name)
    os.environ["BUDGETFLOW_DATA_DIR"] = str(data_dir)
    os.environ["BUDGETFLOW_DATABASE_URL"] = database_url
    from flows.intake import intake
    from models.store import Outcome

    with prefect_test_harness(server_startup_timeout=60):
        size = batch_size or None  # None: the setting's default
        (work / "empty").mkdir(exist_ok=True)
        intake(inbox=str(work / "empty"), batch_size=size)  # warm-up: schema, imports, first task runs
        start = time.perf_counter()
        summary = intake(batch_size=size)
        seconds = time.perf_counter() - start
    loaded = summary.count(Outcome.LOADED)
    if loaded != len(files):
        raise SystemExit(f"intake loaded {loaded} of {len(files)} files")
    return seconds


def _stage(args: argparse.Namespace) -> None:
    """Run one measurement in this process and print its result as one JSON line."""
    files = generate(args.count, Path(args.files), args.format)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    measured = files
    if args.stage == "raw":
        seconds = measure_raw_openpyxl(files)
    elif args.stage == "naive":
        measured = files[: args.naive_sample]
        seconds = measure_naive(measured, work)
    else:
        seconds = measure_intake(files, work, args.database_url, args.batch_size)
    print(json.dumps({"files": len(measured), "seconds": seconds, "peak_rss_mb": _peak_rss_mb()}))


# --- the driver ------------------------------------------------------------------------------------


def _fresh_postgres(admin_url: str) -> tuple[str, Callable[[], None]] | None:
    """A new empty database next to `admin_url`, and how to drop it; None when PostgreSQL is not there."""
    import psycopg

    plain = admin_url.replace("+psycopg", "")
    name = f"budgetflow_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(plain, autocommit=True, connect_timeout=3) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        print(f"PostgreSQL at {admin_url} is not available ({exc}); skipping the PostgreSQL run", file=sys.stderr)
        return None

    def drop() -> None:
        with psycopg.connect(plain, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return admin_url.rsplit("/", 1)[0] + f"/{name}", drop


def _files_dir(args: argparse.Namespace, sample_format: str) -> Path:
    workdir: Path = args.workdir
    return workdir / ("files" if sample_format == "spec-v1" else f"files-{sample_format}")


def _run_stage(
    args: argparse.Namespace, stage: str, work: Path, database_url: str = "", sample_format: str = "spec-v1"
) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "bench.intake", "--stage", stage, "-n", str(args.count),
        "--files", str(_files_dir(args, sample_format)), "--work", str(work), "--naive-sample", str(args.naive_sample),
        "--batch-size", str(args.batch_size), "--database-url", database_url, "--format", sample_format,
    ]  # fmt: skip
    environment = {
        **os.environ,
        "PREFECT_HOME": str(work / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "BUDGETFLOW_READ_WORKERS": str(args.workers or os.cpu_count() or 1),
    }
    if work.exists():
        shutil.rmtree(work)
    finished = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        raise SystemExit(f"the {stage} measurement failed:\n{finished.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    result["ms_per_file"] = 1000 * result["seconds"] / result["files"]
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.intake", description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=10_000, help="workbooks to generate (default 10000)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/budgetflow-bench"), help="generated files and runs")
    parser.add_argument("--naive-sample", type=int, default=200, help="files the naive pipeline runs on")
    parser.add_argument("--batch-size", type=int, default=0, help="intake batch size (default: the setting)")
    parser.add_argument("--workers", type=int, default=0, help="reading processes (default: one per core)")
    parser.add_argument("--postgres", default=os.environ.get("BUDGETFLOW_BENCH_POSTGRES", DEFAULT_POSTGRES))
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument(
        "--national",
        action="store_true",
        help="also run the intake on a national-2023 mix of the same size, and give the per-file ratio to v1",
    )
    parser.add_argument("--format", default="spec-v1", choices=FORMATS, help=argparse.SUPPRESS)
    parser.add_argument("--stage", choices=["raw", "naive", "intake"], help=argparse.SUPPRESS)
    parser.add_argument("--files", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        _stage(args)
        return

    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=args.json)
    formats = ["spec-v1", *(["national-2023"] if args.national else [])]
    for sample_format in formats:
        with console.status(f"generating {args.count} {sample_format} workbooks …"):
            generate(args.count, _files_dir(args, sample_format), sample_format)
    results: dict[str, dict[str, Any]] = {}
    steps: list[tuple[str, str, str, str]] = [
        ("raw_openpyxl", "raw", "", "spec-v1"),
        ("naive", "naive", "", "spec-v1"),
    ]
    for sample_format in formats:
        prefix = "" if sample_format == "spec-v1" else "national_"
        sqlite = f"sqlite:///{args.workdir / 'runs' / f'{prefix}intake_sqlite' / 'budgetflow.db'}"
        steps.append((f"{prefix}intake_sqlite", "intake", sqlite, sample_format))
    postgres = [_fresh_postgres(args.postgres) for _ in formats]
    for sample_format, database in zip(formats, postgres, strict=True):
        if database is not None:
            prefix = "" if sample_format == "spec-v1" else "national_"
            steps.append((f"{prefix}intake_postgres", "intake", database[0], sample_format))
    try:
        for key, stage, url, sample_format in steps:
            with console.status(f"measuring {key} …"):
                results[key] = _run_stage(args, stage, args.workdir / "runs" / key, url, sample_format)
    finally:
        for database in postgres:
            if database is not None:
                database[1]()

    per_file = {key: result["ms_per_file"] for key, result in results.items()}
    intake_ms = per_file["intake_sqlite"]
    summary: dict[str, Any] = {
        "n": args.count,
        "raw_openpyxl_ms": round(per_file["raw_openpyxl"], 3),
        "naive_ms": round(per_file["naive"], 3),
        "intake_sqlite_ms": round(intake_ms, 3),
        "intake_postgres_ms": round(per_file["intake_postgres"], 3) if "intake_postgres" in per_file else None,
        "peak_rss_mb": round(max(r["peak_rss_mb"] for k, r in results.items() if k.startswith("intake")), 1),
        "intake_over_raw_openpyxl": round(intake_ms / per_file["raw_openpyxl"], 3),
        "naive_over_intake": round(per_file["naive"] / intake_ms, 2),
        "naive_sample": results["naive"]["files"],
        "cores": os.cpu_count(),
    }
    for backend in ("sqlite", "postgres"):
        if f"national_intake_{backend}" in per_file and f"intake_{backend}" in per_file:
            summary[f"national_intake_{backend}_ms"] = round(per_file[f"national_intake_{backend}"], 3)
            ratio = per_file[f"national_intake_{backend}"] / per_file[f"intake_{backend}"]
            summary[f"national_over_v1_{backend}"] = round(ratio, 2)
    if args.json:
        print(json.dumps(summary))
        return
    table = Table(title=f"budgetflow intake benchmark, N = {args.count} workbooks, {os.cpu_count()} cores")
    for column in ("measurement", "files timed", "seconds", "ms/file", "files/s", "peak RSS MB"):
        table.add_column(column, justify="right" if column != "measurement" else "left")
    for key, result in results.items():
        table.add_row(
            key,
            str(result["files"]),
            f"{result['seconds']:.1f}",
            f"{result['ms_per_file']:.2f}",
            f"{1000 / result['ms_per_file']:.0f}",
            f"{result['peak_rss_mb']:.0f}",
        )
    console.print(table)
    console.print(
        f"intake (SQLite) ÷ raw openpyxl = {summary['intake_over_raw_openpyxl']}  (target < 1)\n"
        f"naive ÷ intake (SQLite) = {summary['naive_over_intake']}  (target ≥ 15; naive measured on "
        f"{summary['naive_sample']} files and extrapolated)\n"
        f"peak memory of the intake runs: {summary['peak_rss_mb']} MB  (target ≤ 500)"
    )
    for backend in ("sqlite", "postgres"):
        if f"national_over_v1_{backend}" in summary:
            console.print(
                f"national ÷ v1 per file ({backend}) = {summary[f'national_over_v1_{backend}']}  (target ≤ 1.5)"
            )


if __name__ == "__main__":
    main()
