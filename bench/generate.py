"""Deterministic synthetic bureau workbooks for the benchmark: a county's sample bureaus, many times over.

Each variant is written once with openpyxl (`workbooks.samples`); every file then gets its own bureau
code and name patched into the cover sheet, so that all N files differ in content (and so load as N
bureaus, each with version 1) at a fraction of openpyxl's writing cost.

The national mix (`national-2023`) is the seed department's nine 部门决算公开表, as .xlsx and as BIFF8 .xls,
clean and with each planted error; every file gets its own department name (部门：…), patched in place with a
name of the same length, so that the .xls records keep their sizes.
"""

from __future__ import annotations

import io
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workbooks.samples import (
    MESSY,
    UNREADABLE_BYTES,
    BureauFigures,
    Layout,
    build_workbook,
    clean_figures,
    errors_figures,
    seed_figures,
    warnings_figures,
    workbook_bytes,
    yuan_figures,
)

GENERATOR_VERSION = 2  # change when the files change, so that a cached benchmark inbox is rewritten


@dataclass(frozen=True)
class Variant:
    name: str
    share: int  # files of this variant in every 100
    figures: Callable[[], BureauFigures] | None  # None: not a workbook at all
    layout: Layout = Layout()


# What a county's season looks like: most pass, some have warnings, about one in five fails.
VARIANTS = (
    Variant("clean", 58, clean_figures),
    Variant("seed", 10, seed_figures),  # the seed report's own inconsistency: fails
    Variant("warnings", 10, warnings_figures, Layout(rate_style="text")),
    Variant("errors", 12, errors_figures),
    Variant("yuan-text", 6, yuan_figures, Layout(unit="元", amount_style="text", rate_style="text", title_rows=1)),
    Variant("messy", 2, clean_figures, MESSY),  # merged cells, moved columns, uncached SUM formulas
    Variant("unreadable", 2, None),  # a CSV saved as .xlsx
)


def _variant_of(index: int) -> Variant:
    slot = (index * 37) % 100  # spreads the variants evenly through any prefix of the files
    for variant in VARIANTS:
        if slot < variant.share:
            return variant
        slot -= variant.share
    raise AssertionError("shares add up to 100")


def _patched(template: bytes, replacements: dict[bytes, bytes]) -> bytes:
    """The workbook with cover texts replaced, zipped the same way every time."""
    source = zipfile.ZipFile(io.BytesIO(template))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename.startswith("xl/worksheets/"):
                for old, new in replacements.items():
                    data = data.replace(old, new)
            target.writestr(info, data)
    return out.getvalue()


FORMATS = ("spec-v1", "national-2023")


def generate(count: int, directory: Path, sample_format: str = "spec-v1") -> list[Path]:
    """Write `count` workbooks of a format into `directory` (reused when it already holds at least these files).

    File i is the same whatever the count, so a directory generated for more files holds these too.
    """
    if sample_format == "national-2023":
        return _generate_national(count, directory)
    names = [f"{i:05d}-{_variant_of(i).name}.xlsx" for i in range(count)]
    for stamp in directory.glob(f".generated-{GENERATOR_VERSION}-*"):
        if int(stamp.name.rsplit("-", 1)[1]) >= count:
            return [directory / name for name in names]
    directory.mkdir(parents=True, exist_ok=True)
    for old in [*directory.glob("*.xlsx"), *directory.glob(".generated-*")]:
        old.unlink()
    stamp = directory / f".generated-{GENERATOR_VERSION}-{count}"
    templates: dict[str, tuple[bytes, BureauFigures | None]] = {}
    for variant in VARIANTS:
        if variant.figures is None:
            templates[variant.name] = (UNREADABLE_BYTES, None)
        else:
            written = variant.figures()
            templates[variant.name] = (workbook_bytes(build_workbook(written, variant.layout)), written)
    for index, name in enumerate(names):
        template, figures = templates[_variant_of(index).name]
        if figures is None:
            data = template + f"序号,{index}\n".encode()  # each unreadable file its own bytes, as in life
        else:
            data = _patched(
                template,
                {
                    f">{figures.code}<".encode(): f">B{index:07d}<".encode(),
                    f">{figures.name}<".encode(): f">{figures.name}（{index}）<".encode(),
                },
            )
        (directory / name).write_bytes(data)
    stamp.write_text("complete\n")
    return [directory / name for name in names]


# The national mix: most departments pass; about one in five has one of the planted errors.
NATIONAL_VARIANTS = (("seed", 40, ".xlsx"), ("seed", 40, ".xls"), ("planted", 10, ".xlsx"), ("planted", 10, ".xls"))


def _national_variant_of(index: int) -> tuple[str, str]:
    slot = (index * 37) % 100
    for name, share, suffix in NATIONAL_VARIANTS:
        if slot < share:
            return name, suffix
        slot -= share
    raise AssertionError("shares add up to 100")


def _generate_national(count: int, directory: Path) -> list[Path]:
    from workbooks.national_samples import (
        national_planted_errors,
        national_seed_figures,
        write_national_xls,
        write_national_xlsx,
    )

    variants = [_national_variant_of(i) for i in range(count)]
    names = [f"{i:05d}-national-{name}{suffix}" for i, (name, suffix) in enumerate(variants)]
    stamp_prefix = f".generated-national-{GENERATOR_VERSION}-"
    for stamp in directory.glob(f"{stamp_prefix}*"):
        if int(stamp.name.rsplit("-", 1)[1]) >= count:
            return [directory / name for name in names]
    directory.mkdir(parents=True, exist_ok=True)
    for old in {*directory.glob("*national*"), *directory.glob(f"{stamp_prefix}*")}:  # a stamp matches both
        old.unlink()
    seed = national_seed_figures()
    planted = [p.figures for p in national_planted_errors().values()]
    scratch = directory / ".scratch"
    scratch.mkdir(exist_ok=True)
    written: dict[tuple[str, int], bytes] = {}
    for suffix in (".xlsx", ".xls"):
        write = write_national_xlsx if suffix == ".xlsx" else write_national_xls
        for number, figures in enumerate([seed, *planted]):
            written[(suffix, number)] = write(figures, scratch / f"{number}{suffix}").read_bytes()
    department = seed.department
    for index, ((name, suffix), file_name) in enumerate(zip(variants, names, strict=True)):
        number = 0 if name == "seed" else 1 + index % len(planted)
        unique = department[: len(department) - 5] + f"{index:05d}"  # same length: BIFF records keep their sizes
        data = written[(suffix, number)]
        for encoding in ("utf-16-le", "utf-8"):  # the .xls string table, the .xlsx shared strings
            data = data.replace(department.encode(encoding), unique.encode(encoding))
        if suffix == ".xlsx":
            data = _patched_all(data, department, unique)
        (directory / file_name).write_bytes(data)
    shutil.rmtree(scratch)
    (directory / f"{stamp_prefix}{count}").write_text("complete\n")
    return [directory / name for name in names]


def _patched_all(data: bytes, old: str, new: str) -> bytes:
    """An .xlsx with a text replaced in every part (its strings are inside the compressed parts)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info, source.read(info.filename).replace(old.encode(), new.encode()))
    return out.getvalue()
