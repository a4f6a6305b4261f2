"""Deterministic synthetic bureau workbooks for the benchmark: a county's sample bureaus, many times over.

Each variant is written once with openpyxl (`workbooks.samples`); every file then gets its own bureau
code and name patched into the cover sheet, so that all N files differ in content (and so load as N
bureaus, each with version 1) at a fraction of openpyxl's writing cost.
"""

from __future__ import annotations

import io
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


def generate(count: int, directory: Path) -> list[Path]:
    """Write `count` workbooks into `directory` (reused when it already holds at least these files).

    File i is the same whatever the count, so a directory generated for more files holds these too.
    """
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
