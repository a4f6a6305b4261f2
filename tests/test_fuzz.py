"""The fuzz suite of issue 11: seeded mutations of the sample workbooks, read, checked and taken in.

Every case is made from one seed alone (`make_case(seed)`, with `random.Random(seed)`): the seed picks
the mutation kind (`KINDS[seed % len(KINDS)]`), the base file (a sample of `workbooks.samples` or a
LibreOffice copy in tests/fixtures/libreoffice) and every choice of the mutation. Case `i` has the seed
`BASE_SEED + i`; `BUDGETFLOW_FUZZ_SEED` sets the base seed (default 11_000, so that CI is reproducible)
and `BUDGETFLOW_FUZZ_CASES` the number of cases (default 600). The kinds:

- `truncate`: the file cut at a random offset (any base);
- `flip-structure`: bits flipped or bytes set inside the container's structure: a zip's local headers,
  central directory and end record; a compound file's (.xls) header, FAT and directory sectors;
- `flip-data`: the same outside it: inside a zip member's compressed data, an .xls's stream sectors,
  the CSV's text;
- `xml-bytes`, `xml-element`, `xml-attribute`: an XML part of an .xlsx or .ods changed and the package
  zipped again with valid checksums, so that the XML parsers are reached: random bytes; an element
  deleted, duplicated, swapped, moved, renamed, unwrapped, inserted or nested thousands deep; attributes
  (`r`, `s`, `t`, `numFmtId`, ODF repeat counts and values …) changed, removed, doubled or made huge;
- `formula`: random formulas (arithmetic over random references, SUM ranges, deep parentheses, division
  by zero, huge exponents, unknown functions, missing sheets, circular and shared formulas, syntax
  errors) in existing cells, with or without a cached `<v>` (ODF: `table:formula`);
- `number`: random numbers in cells (huge, tiny, negative, NaN and infinity texts, 40 digits, full-width
  digits, text that only looks like a number), under random cell types.

Every fuzzed file is read and checked as `budgetflow validate` and the intake read them, in batches of
CHUNK files (`intake.checking.check_files` on an `IsolatedPool` of two worker processes, so that a file
that crashes or hangs an engine costs one finding, not the test run); ten also go through the real
command line; all of them go through one real intake run (SQLite, the session's Prefect test server).
A failure names each case by its seed, kind and base; replay one with
`.venv/bin/python -m tests.test_fuzz SEED [SEED …]`, which makes the file again, writes it to a new
folder under /tmp and prints its §3 document as read here, in this process (and the traceback of any
problem). A case is the same bytes for the same seed as long as `workbooks.samples` and the LibreOffice
fixtures are unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import random
import re
import struct
import subprocess
import sys
import tempfile
import traceback
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from budgetflow.cli import app
from checks.findings import RULE_FAMILIES, FileReport, Severity, Status
from checks.template import default_template
from config.settings import ReaderLimits
from intake.checking import CheckedFile, CheckJob, check_files
from intake.isolation import IsolatedPool
from tests.hostile import LIBREOFFICE_XLS, random_text, replace_cell, zip_bytes, zip_parts
from workbooks.samples import write_samples

if TYPE_CHECKING:
    from intake.pipeline import IntakeSummary

BASE_SEED = int(os.environ.get("BUDGETFLOW_FUZZ_SEED", "11000"))
CASES = int(os.environ.get("BUDGETFLOW_FUZZ_CASES", "600"))
CLI_FILES = 10
INTAKE_BATCH = 100  # files per batch of the intake run: six batches, each read in two parts
REPOSITORY = Path(__file__).resolve().parents[1]
LIMITS = ReaderLimits()  # what `budgetflow validate` and the intake read with
KINDS = (
    "truncate",
    "flip-structure",
    "flip-data",
    "xml-bytes",
    "xml-element",
    "xml-attribute",
    "formula",
    "number",
)

# --- the bases --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Base:
    name: str
    form: str  # xlsx | ods | xls | csv
    data: bytes


@functools.cache
def bases() -> tuple[Base, ...]:
    """The sample inbox (five .xlsx and the renamed CSV) and the LibreOffice .xls and .ods copies, by name."""
    found: list[Base] = []
    with tempfile.TemporaryDirectory() as folder:
        for path in write_samples(Path(folder)):
            data = path.read_bytes()
            found.append(Base(path.name, "xlsx" if data.startswith(b"PK") else "csv", data))
    for path in sorted(LIBREOFFICE_XLS.glob("*.xls")) + sorted(LIBREOFFICE_XLS.glob("*.ods")):
        found.append(Base(path.name, path.suffix.lstrip("."), path.read_bytes()))
    return tuple(sorted(found, key=lambda b: (b.form, b.name)))


FORMS_OF: dict[str, tuple[str, ...]] = {
    "truncate": ("xlsx", "ods", "xls", "csv"),
    "flip-structure": ("xlsx", "ods", "xls"),
    "flip-data": ("xlsx", "ods", "xls", "csv"),
    "xml-bytes": ("xlsx", "ods"),
    "xml-element": ("xlsx", "ods"),
    "xml-attribute": ("xlsx", "ods"),
    "formula": ("xlsx", "ods"),
    "number": ("xlsx", "ods"),
}


# --- a case -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    seed: int
    kind: str
    base: Base
    data: bytes
    detail: str  # what was done, for the failure message

    @property
    def name(self) -> str:
        stem, dot, suffix = self.base.name.rpartition(".")
        return f"{self.seed}-{self.kind}-{stem}{dot}{suffix}"

    def describe(self) -> str:
        return f"seed={self.seed} kind={self.kind} base={self.base.name} ({self.detail})"


def make_case(seed: int) -> Case:
    """The case of this seed, the same bytes every time."""
    rng = random.Random(seed)
    kind = KINDS[seed % len(KINDS)]
    base = rng.choice([b for b in bases() if b.form in FORMS_OF[kind]])
    data, detail = MUTATIONS[kind](rng, base)
    return Case(seed, kind, base, data, detail)


def case_seeds() -> range:
    return range(BASE_SEED, BASE_SEED + CASES)


# --- bytes: truncation and bit flips ----------------------------------------------------------------


def truncate(rng: random.Random, base: Base) -> tuple[bytes, str]:
    size = len(base.data)
    where = rng.random()
    if where < 0.2:
        offset = size - rng.randint(1, min(size, 64))  # the end record, the last sectors
    elif where < 0.3:
        offset = rng.randint(0, min(size - 1, 64))  # the first header
    else:
        offset = rng.randrange(size)
    return base.data[:offset], f"cut to {offset} of {size} bytes"


def zip_regions(data: bytes) -> tuple[list[range], list[range]]:
    """(structure, payload): a zip's local headers, central directory and end record; its members' data."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos, start_dir = archive.infolist(), archive.start_dir
    structure, payload = [], []
    for info in infos:
        name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)
        begin = info.header_offset + 30 + name_length + extra_length
        structure.append(range(info.header_offset, begin))
        if info.compress_size:
            payload.append(range(begin, begin + info.compress_size))
    structure.append(range(start_dir, len(data)))
    return structure, payload


def cfb_regions(data: bytes) -> tuple[list[range], list[range]]:
    """(structure, payload): a compound file's header, FAT and directory sectors; the other sectors."""
    sector = 1 << struct.unpack_from("<H", data, 30)[0]
    sectors = (len(data) - 512) // sector
    difat = [s for s in struct.unpack_from("<109I", data, 76) if s < sectors]
    fat: list[int] = []
    for sid in difat:
        fat += struct.unpack_from(f"<{sector // 4}I", data, 512 + sid * sector)
    chain, sid = [], struct.unpack_from("<I", data, 48)[0]
    while sid < min(sectors, len(fat)) and sid not in chain:
        chain.append(sid)
        sid = fat[sid]
    special = set(difat) | set(chain)
    structure = [range(0, 512)] + [range(512 + s * sector, 512 + (s + 1) * sector) for s in sorted(special)]
    payload = [range(512 + s * sector, 512 + (s + 1) * sector) for s in range(sectors) if s not in special]
    return structure, payload


def regions(base: Base) -> tuple[list[range], list[range]]:
    if base.form in ("xlsx", "ods"):
        return zip_regions(base.data)
    if base.form == "xls":
        return cfb_regions(base.data)
    return [], [range(len(base.data))]


def flip(rng: random.Random, data: bytes, within: list[range]) -> tuple[bytes, str]:
    """1–8 bits flipped (or bytes set to 00, FF or a random byte) at positions inside `within`."""
    changed = bytearray(data)
    done = []
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        region = rng.choice(within)
        position = rng.choice(region)
        if rng.random() < 0.8:
            bit = rng.randrange(8)
            changed[position] ^= 1 << bit
            done.append(f"{position}^{1 << bit:#x}")
        else:
            changed[position] = rng.choice((0, 0xFF, rng.randrange(256)))
            done.append(f"{position}={changed[position]:#04x}")
    return bytes(changed), "bytes " + ", ".join(done)


def flip_structure(rng: random.Random, base: Base) -> tuple[bytes, str]:
    return flip(rng, base.data, regions(base)[0])


def flip_data(rng: random.Random, base: Base) -> tuple[bytes, str]:
    return flip(rng, base.data, regions(base)[1])


# --- XML parts, zipped again ------------------------------------------------------------------------

_TAG = re.compile(rb"""<(/?)([^\s/>!?"'=<]+)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(/?)>""")
_ATTRIBUTE = re.compile(rb"""([^\s=/>]+)\s*=\s*("[^"]*"|'[^']*')""")


@dataclass(frozen=True)
class Element:
    name: bytes
    start: int
    end: int
    open_end: int  # end of its start tag
    close_start: int  # start of its end tag (== end when self-closing)
    parent: int  # index in the list, -1 for the root


def elements(xml: bytes) -> list[Element]:
    """Every element of a well-formed part, in document order of their start tags."""
    found: list[Element | None] = []
    stack: list[tuple[int, bytes, int, int]] = []  # (index, name, start, open_end)
    for match in _TAG.finditer(xml):
        closing, name, _, empty = match.groups()
        parent = stack[-1][0] if stack else -1
        if closing:
            while stack:
                index, open_name, start, open_end = stack.pop()
                grand = stack[-1][0] if stack else -1
                found[index] = Element(open_name, start, match.end(), open_end, match.start(), grand)
                if open_name == name:
                    break
        elif empty:
            found.append(Element(name, match.start(), match.end(), match.end(), match.end(), parent))
        else:
            stack.append((len(found), name, match.start(), match.end()))
            found.append(None)
    return [e for e in found if e is not None]


def xml_part_names(parts: dict[str, bytes]) -> list[str]:
    return [name for name, data in parts.items() if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")]


def choose_part(rng: random.Random, parts: dict[str, bytes], sheets_only: bool = False) -> str:
    """An XML part, worksheets (and an ODF's content.xml) most often."""
    names = xml_part_names(parts)
    sheets = [n for n in names if "worksheets/" in n or n == "content.xml"]
    if sheets_only or (sheets and rng.random() < 0.6):
        return rng.choice(sheets)
    return rng.choice(names)


Change = Callable[[random.Random, bytes, str], tuple[bytes, str]]


def rezipped(rng: random.Random, base: Base, change: Change) -> tuple[bytes, str]:
    """The base with one XML part changed by `change`, zipped again (so its checksums are right)."""
    parts = zip_parts(base.data)
    name = choose_part(rng, parts)
    parts[name], detail = change(rng, parts[name], name)
    return zip_bytes(parts), f"{name}: {detail}"


def xml_bytes(rng: random.Random, base: Base) -> tuple[bytes, str]:
    def change(rng: random.Random, xml: bytes, name: str) -> tuple[bytes, str]:
        data = bytearray(xml)
        done = []
        for _ in range(rng.choice((1, 1, 2, 4))):
            position = rng.randrange(len(data) + 1)
            how = rng.choice(("flip", "insert", "delete", "junk"))
            if how == "flip" and position < len(data):
                data[position] ^= 1 << rng.randrange(8)
            elif how == "insert":
                data[position:position] = rng.choice(
                    (b"<", b">", b"&", b'"', b"\x00", b"\xff\xfe", b"\xe4\xb8", b"]]>", b"<!--", b"&#0;", b"&amp")
                )
            elif how == "delete":
                del data[position : position + rng.randint(1, 200)]
            else:
                data[position:position] = rng.randbytes(rng.randint(1, 32))
            done.append(f"{how}@{position}")
        return bytes(data), " ".join(done)

    return rezipped(rng, base, change)


def _names(found: list[Element]) -> list[bytes]:
    return sorted({e.name for e in found})


RANDOM_NAMES = (b"c", b"row", b"v", b"f", b"is", b"t", b"sheet", b"x", b"mc:AlternateContent", b"table:table-cell")


def random_element(rng: random.Random, found: list[Element], xml: bytes) -> bytes:
    roll = rng.random()
    if roll < 0.4:  # a copy of another element
        other = rng.choice(found[1:] or found)
        return xml[other.start : other.end]
    name = rng.choice(_names(found) + list(RANDOM_NAMES))
    attributes = b"".join(
        b" " + attribute + b'="' + random_value(rng, name, attribute).encode() + b'"'
        for attribute in rng.sample((b"r", b"s", b"t", b"ref", b"table:number-columns-repeated"), rng.randint(0, 3))
    )
    body = rng.choice(
        (b"", b"1", b"1e308", b"abc", b"<v>2</v>", random_text(rng.randint(1, 40), rng.randrange(1 << 30)).encode())
    )
    return b"<" + name + attributes + b">" + body + b"</" + name + b">"


def xml_element(rng: random.Random, base: Base) -> tuple[bytes, str]:
    def change(rng: random.Random, xml: bytes, name: str) -> tuple[bytes, str]:
        found = elements(xml)
        if len(found) < 2:
            return xml + b"<x/>", "element appended after the root"
        inner = found[1:]
        chosen_name = rng.choice(_names(inner))
        target = rng.choice([e for e in inner if e.name == chosen_name])
        slots = sorted({p for e in inner for p in (e.start, e.end)} | {found[0].open_end, found[0].close_start})
        outside = [p for p in slots if p <= target.start or p >= target.end]
        piece = xml[target.start : target.end]
        label = target.name.decode(errors="replace")
        op = rng.choice(("delete", "duplicate", "swap", "move", "insert", "nest", "rename", "unwrap"))
        if op == "delete":
            return xml[: target.start] + xml[target.end :], f"<{label}> at {target.start} deleted"
        if op == "duplicate":
            times = rng.choice((1, 1, 2, 50))
            return xml[: target.end] + piece * times + xml[target.end :], f"<{label}> at {target.start} ×{times + 1}"
        if op == "swap":
            siblings = [e for e in inner if e.parent == target.parent and e.start >= target.end]
            if siblings:
                other = siblings[0]
                swapped = xml[other.start : other.end]
                between = xml[target.end : other.start]
                return (
                    xml[: target.start] + swapped + between + piece + xml[other.end :],
                    f"<{label}> at {target.start} swapped with <{other.name.decode(errors='replace')}>",
                )
            op = "move"
        if op == "move":
            position = rng.choice(outside)
            cut = xml[: target.start] + xml[target.end :]
            moved = position if position <= target.start else position - len(piece)
            return cut[:moved] + piece + cut[moved:], f"<{label}> at {target.start} moved to {position}"
        if op == "insert":
            position = rng.choice(slots)
            new = random_element(rng, found, xml)
            return xml[:position] + new + xml[position:], f"{new[:80]!r} inserted at {position}"
        if op == "nest":
            depth = rng.choice((2, 50, 500, 5000, 50_000))
            wrapper = rng.choice((target.name, rng.choice(_names(found)), b"x"))
            opening, closing = b"<" + wrapper + b">", b"</" + wrapper + b">"
            nested = opening * depth + piece + closing * depth
            return xml[: target.start] + nested + xml[target.end :], f"<{label}> nested {depth} deep in <{wrapper!r}>"
        if op == "rename":
            new_name = rng.choice(_names(found) + list(RANDOM_NAMES))
            start_tag = xml[target.start : target.open_end].replace(target.name, new_name, 1)
            end_tag = xml[target.close_start : target.end].replace(target.name, new_name, 1)
            renamed = start_tag + xml[target.open_end : target.close_start] + end_tag
            if target.close_start == target.end:
                renamed = start_tag
            return xml[: target.start] + renamed + xml[target.end :], f"<{label}> renamed <{new_name!r}>"
        content = xml[target.open_end : target.close_start]
        return xml[: target.start] + content + xml[target.end :], f"<{label}> at {target.start} unwrapped"

    return rezipped(rng, base, change)


# --- values: attributes, references, numbers, formulas ----------------------------------------------

NUMBER_TEXTS = (
    "1e308", "1.7976931348623157e308", "1e309", "-1e308", "1E+400", "1e-400", "5e-324", "2.2250738585072014e-308",
    "-0", "0", "-1", "-99999999.99", "0.1", "12.345678901234567890123", "NaN", "nan", "-nan", "inf", "-inf",
    "Infinity", "1.#QNAN", "#NUM!", "1234567890123456789012345678901234567890",
    "-1234567890123456789012345678901234567890", "0." + "0" * 40 + "1", "9" * 400, "1_000", "0x1F", "1,234.50",
    " 12 ", "", "+5", ".5", "5.", "1e", "e5", "--1", "１２３４.５", "١٢٣", "1/2", "50%", "12万元", "TRUE",
)  # fmt: skip


def random_number(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.5:
        return rng.choice(NUMBER_TEXTS)
    if roll < 0.7:
        return repr(rng.uniform(-1e6, 1e6))
    if roll < 0.85:
        return f"{rng.choice('-+')}{rng.randint(1, 9)}e{rng.randint(-330, 330)}"
    return str(rng.randint(-(10 ** rng.randint(1, 45)), 10 ** rng.randint(1, 45)))


def column_name(index: int) -> str:
    name = ""
    while index > 0:
        index, rest = divmod(index - 1, 26)
        name = chr(ord("A") + rest) + name
    return name


def random_ref(rng: random.Random, near: bool = True) -> str:
    if near or rng.random() < 0.7:
        return f"{column_name(rng.randint(1, 10))}{rng.randint(1, 30)}"
    return rng.choice(
        ("", "A0", "0", "A", "a1", "$A$1", "XFD1048576", "XFE1", "A1048577", "ZZZZZZ1", "A99999999999999999999",
         "-1", "1", "B2:C3", "R1C1", "A1 ", "Ａ１", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1")
    )  # fmt: skip


def random_value(rng: random.Random, element: bytes, attribute: bytes) -> str:
    """A new value for an attribute, of the kind that attribute holds (or not)."""
    local = attribute.rsplit(b":", 1)[-1]
    if rng.random() < 0.1:
        return rng.choice(("", "9" * rng.choice((20, 400, 5000)), random_text(rng.choice((1000, 100_000)), 7)))
    if local == b"r":
        if element.endswith(b"row"):
            return rng.choice(("0", "-1", "1048577", "99999999999", "1.5", "", "abc", str(rng.randint(1, 40))))
        return random_ref(rng, near=rng.random() < 0.5)
    if local == b"s":
        return rng.choice(("0", "1", "2", "3", "-1", "999999", "1e3", "", "abc", "4294967296", str(rng.randint(0, 9))))
    if local == b"t":
        return rng.choice(("n", "s", "str", "inlineStr", "b", "e", "d", "", "x", "N", "shared", "array"))
    if local in (b"numFmtId", b"xfId", b"fontId", b"fillId", b"borderId", b"sheetId", b"count", b"uniqueCount"):
        return rng.choice(("0", "9", "10", "14", "22", "49", "164", "165", "-1", "999999", "4294967296", "abc", ""))
    if local in (b"ref", b"sqref"):
        return rng.choice(("A1:D20", "A1:XFD1048576", "B2:A1", "", "A1:A1:A1", "!!", random_ref(rng, near=False)))
    if local in (b"formatCode", b"format-source"):
        return rng.choice(("0%", "0.00%", "#,##0.00", "General", "@", "[Red]0", '0.00"万元"', ";;;", "yyyy-mm-dd", ""))
    if local == b"name":
        return rng.choice(
            ("收支总表", "项目支出", "封面", "三公经费", "", "'", "Sheet1", "收支总表 ", random_text(300, 3))
        )
    if local == b"id":
        return rng.choice(("rId1", "rId2", "rId3", "rId6", "rId999", "", "x"))
    if local == b"Target":
        return rng.choice(
            ("worksheets/sheet1.xml", "worksheets/sheet4.xml", "/xl/worksheets/sheet99.xml", "../../../etc/passwd",
             "http://example.com/x.xml", "", "worksheets\\sheet2.xml", "sheet2.xml", "styles.xml", "workbook.xml")
        )  # fmt: skip
    if local in (
        b"number-columns-repeated",
        b"number-rows-repeated",
        b"number-columns-spanned",
        b"number-rows-spanned",
    ):
        return rng.choice(("0", "1", "2", "-1", "1048576", "16384", "2147483647", "4294967296", "1e9", "abc", ""))
    if local in (b"value", b"date-value", b"time-value", b"boolean-value"):
        return random_number(rng)
    if local == b"value-type":
        return rng.choice(("float", "percentage", "currency", "date", "time", "boolean", "string", "void", ""))
    if local in (b"decimal-places", b"min-integer-digits"):
        return rng.choice(("0", "2", "-1", "abc", "999999999", "40"))
    if local == b"formula":
        return "of:=" + excel_formula(rng, "B2").replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
    return random_number(rng) if rng.random() < 0.5 else random_text(rng.randint(0, 20), rng.randrange(1 << 30))


@dataclass(frozen=True)
class Attribute:
    element: Element
    name: bytes
    start: int  # of ` name="value"`, the space included
    end: int
    value_start: int  # inside the quotes
    value_end: int


def attributes(xml: bytes, found: list[Element]) -> list[Attribute]:
    listed = []
    for element in found:
        tag = xml[element.start : element.open_end]
        for match in _ATTRIBUTE.finditer(tag, 1 + len(element.name)):
            offset = element.start
            listed.append(
                Attribute(
                    element,
                    match.group(1),
                    offset + match.start() - 1,
                    offset + match.end(),
                    offset + match.start(2) + 1,
                    offset + match.end(2) - 1,
                )
            )
    return listed


def xml_attribute(rng: random.Random, base: Base) -> tuple[bytes, str]:
    def change(rng: random.Random, xml: bytes, name: str) -> tuple[bytes, str]:
        done = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            found = elements(xml)
            listed = attributes(xml, found)
            if not listed:
                return xml, "no attributes"
            by_name = sorted({a.name for a in listed})
            chosen = rng.choice(by_name)
            target = rng.choice([a for a in listed if a.name == chosen])
            label = f"{target.element.name.decode(errors='replace')}@{chosen.decode(errors='replace')}"
            op = rng.choice(("change", "change", "change", "remove", "double", "add"))
            if op == "change":
                value = random_value(rng, target.element.name, target.name).encode()
                xml = xml[: target.value_start] + value + xml[target.value_end :]
                done.append(f"{label}={value[:40]!r}")
            elif op == "remove":
                xml = xml[: target.start] + xml[target.end :]
                done.append(f"{label} removed")
            elif op == "double":
                xml = xml[: target.end] + xml[target.start : target.end] + xml[target.end :]
                done.append(f"{label} twice")
            else:
                element = target.element
                new = rng.choice((b"r", b"s", b"t", b"ht", b"hidden", b"spans", b"table:number-columns-repeated"))
                value = random_value(rng, element.name, new).encode()
                at = element.start + 1 + len(element.name)
                xml = xml[:at] + b" " + new + b'="' + value + b'"' + xml[at:]
                done.append(f"{element.name.decode(errors='replace')}@{new.decode()}={value[:40]!r} added")
        return xml, "; ".join(done)

    return rezipped(rng, base, change)


FUNCTIONS = (
    "SUM", "SUMIF", "ROUND", "IF", "MAX", "MIN", "AVERAGE", "ABS", "IFERROR", "COUNT", "PRODUCT", "POWER", "MOD",
    "INT", "VLOOKUP", "INDIRECT", "OFFSET", "NOW", "RAND", "TEXT", "VALUE", "CONCATENATE", "LEN", "sum",
    "FOO", "_xlfn.XLOOKUP", "SUMM", "求和", "SUM.SQ",
)  # fmt: skip
OPERATORS = ("+", "-", "*", "/", "^", "&", "=", "<>", "<", ">=", " ", ":", ",")
SHEET_NAMES = ("收支总表", "项目支出", "三公经费", "封面", "不存在的表", "Sheet1", "[1]Sheet1", "收支总表:项目支出")


def reference(rng: random.Random, here: str) -> str:
    roll = rng.random()
    if roll < 0.15:
        return here  # circular
    if roll < 0.25:
        column = re.sub(r"\d", "", here) or "B"
        return f"{column}{rng.randint(1, 5)}:{column}{rng.randint(5, 25)}"  # may hold `here`
    if roll < 0.35:
        return f"'{rng.choice(SHEET_NAMES)}'!{random_ref(rng)}"
    if roll < 0.4:
        return rng.choice(("B:B", "2:2", "A1:XFD1048576", "#REF!", "$B$2", "B$2", "MyName", "R1C1"))
    if roll < 0.5:
        return f"{random_ref(rng)}:{random_ref(rng)}"
    return random_ref(rng)


def excel_formula(rng: random.Random, here: str, depth: int = 0) -> str:
    """A random formula (without `=`) for the cell `here`."""
    if depth == 0 and rng.random() < 0.35:
        return special_formula(rng, here)
    roll = rng.random()
    if depth > 4 or roll < 0.3:
        atom = rng.random()
        if atom < 0.55:
            return reference(rng, here)
        if atom < 0.85:
            return random_number(rng).strip() or "0"
        return rng.choice(('"abc"', '""', "TRUE", "#DIV/0!", "#N/A", '"1"', "NA()"))
    if roll < 0.6:
        left, right = excel_formula(rng, here, depth + 1), excel_formula(rng, here, depth + 1)
        return f"{left}{rng.choice(OPERATORS)}{right}"
    if roll < 0.7:
        return f"({excel_formula(rng, here, depth + 1)})"
    if roll < 0.75:
        return f"{rng.choice('-+')}{excel_formula(rng, here, depth + 1)}"
    if roll < 0.8:
        return f"{excel_formula(rng, here, depth + 1)}%"
    arguments = ",".join(excel_formula(rng, here, depth + 1) for _ in range(rng.randint(0, 4)))
    return f"{rng.choice(FUNCTIONS)}({arguments})"


def special_formula(rng: random.Random, here: str) -> str:
    roll = rng.randrange(12)
    if roll == 0:
        depth = rng.choice((50, 300, 1000, 5000))
        return "(" * depth + excel_formula(rng, here, 3) + ")" * depth
    if roll == 1:
        return "+".join(reference(rng, here) for _ in range(rng.choice((50, 500))))
    if roll == 2:
        depth = rng.choice((10, 300, 3000))
        return "SUM(" * depth + reference(rng, here) + ")" * depth
    if roll == 3:
        return rng.choice(("10^400", "9^9^9", "1E308*1E308", "-1E308-1E308", "10^-400", "(-8)^(1/3)", "2^1024"))
    if roll == 4:
        return rng.choice((f"{random_ref(rng)}/0", f"1/({here}-{here})", "0/0", f"{random_ref(rng)}/Z99", "MOD(1,0)"))
    if roll == 5:
        return f"{rng.choice(('FOO', 'NOSUCHFUNCTION', '_xll.X', 'SUMM'))}({reference(rng, here)})"
    if roll == 6:
        return f"'不存在的表'!{random_ref(rng)}+{random_ref(rng)}"
    if roll == 7:
        return rng.choice((f"{here}+1", f"SUM({here})", f"{here}*2-{here}"))
    if roll == 8:
        return "9" * rng.choice((40, 400, 5000))
    if roll == 9:
        return rng.choice(('"abc"+1', '"1"+"2"', "TRUE+TRUE", "#REF!+1", "{1,2;3,4}"))
    if roll == 10:
        return rng.choice(("SUM(B2:B9", "B2++", "()", "", "=B2", "B2 B3", "B2:B3:B4", "SUM(B2,,B3)", "1..2", "@B2"))
    return " " * rng.randint(1, 5) + excel_formula(rng, here, 1) + "\n"


def xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_CELL = re.compile(rb'<c r="([A-Z]+[0-9]+)"((?:\s[^>]*?)?)(?:/>|>.*?</c>)', re.DOTALL)
_STYLE = re.compile(rb'\ss="(\d+)"')


def xlsx_cells(rng: random.Random, base: Base, cell: Callable[[random.Random, str, str], str]) -> tuple[bytes, str]:
    """1–6 existing cells of one or two worksheets replaced by `cell(rng, ref, style)`."""
    parts = zip_parts(base.data)
    done = []
    for name in dict.fromkeys(choose_part(rng, parts, sheets_only=True) for _ in range(rng.choice((1, 1, 2)))):
        xml = parts[name]
        found = [(m.group(1).decode(), _STYLE.search(m.group(2))) for m in _CELL.finditer(xml)]
        for ref, style in rng.sample(found, min(len(found), rng.randint(1, 6))):
            styled = f' s="{style.group(1).decode()}"' if style else ""
            new = cell(rng, ref, styled)
            xml = replace_cell(xml, ref, new.encode())
            done.append(f"{name.rsplit('/', 1)[-1]}!{new[:100]}")
        parts[name] = xml
    return zip_bytes(parts), "; ".join(done)


def formula_cell(rng: random.Random, ref: str, style: str) -> str:
    text = xml_text(excel_formula(rng, ref))
    roll = rng.random()
    if roll < 0.08:
        return f'<c r="{ref}"{style}><f t="shared" ref="{ref}:{ref}" si="{rng.randint(0, 3)}">{text}</f></c>'
    if roll < 0.14:
        return f'<c r="{ref}"{style}><f t="shared" si="{rng.randint(0, 3)}"/><v>1</v></c>'
    if roll < 0.18:
        return f'<c r="{ref}"{style}><f t="array" ref="{ref}">{text}</f></c>'
    cached = rng.random()
    if cached < 0.45:
        return f'<c r="{ref}"{style}><f>{text}</f></c>'
    if cached < 0.8:
        return f'<c r="{ref}"{style}><f>{text}</f><v>{xml_text(random_number(rng))}</v></c>'
    kind, value = rng.choice((("str", "abc"), ("e", "#DIV/0!"), ("b", "1"), ("e", "#REF!"), ("str", "")))
    return f'<c r="{ref}"{style} t="{kind}"><f>{text}</f><v>{value}</v></c>'


def number_cell(rng: random.Random, ref: str, style: str) -> str:
    number = xml_text(random_number(rng))
    if rng.random() < 0.2:
        return f'<c r="{ref}"{style} t="inlineStr"><is><t>{number}</t></is></c>'
    kind = rng.choice(
        ("", "", "", "", ' t="n"', ' t="n"', ' t="n"', ' t="s"', ' t="b"', ' t="e"', ' t="str"', ' t="d"')
    )
    return f'<c r="{ref}"{style}{kind}><v>{number}</v></c>'


def ods_cells(rng: random.Random, base: Base, formula: bool) -> tuple[bytes, str]:
    """1–6 value cells of content.xml given a random value (and, for `formula`, a random table:formula)."""
    parts = zip_parts(base.data)
    xml = parts["content.xml"]
    done = []
    for _ in range(rng.randint(1, 6)):
        cells = [e for e in elements(xml) if e.name == b"table:table-cell" and e.close_start != e.end]
        target = rng.choice(cells)
        number = xml_text(random_number(rng)).replace('"', "&quot;")
        value_type = rng.choice(("float", "float", "float", "percentage", "currency", "string", "date", "boolean"))
        new_attributes = f'office:value-type="{value_type}" calcext:value-type="{value_type}"'
        if not formula or rng.random() < 0.5:
            new_attributes += f' office:value="{number}"'
        if formula:
            written = xml_text(excel_formula(rng, "B2")).replace('"', "&quot;")
            new_attributes += f' table:formula="of:={written}"'
        body = f"<text:p>{number}</text:p>" if rng.random() < 0.7 else ""
        new = f"<table:table-cell {new_attributes}>{body}</table:table-cell>".encode()
        xml = xml[: target.start] + new + xml[target.end :]
        done.append(new[:120].decode(errors="replace"))
    parts["content.xml"] = xml
    return zip_bytes(parts), "; ".join(done)


def formula(rng: random.Random, base: Base) -> tuple[bytes, str]:
    if base.form == "ods":
        return ods_cells(rng, base, formula=True)
    return xlsx_cells(rng, base, formula_cell)


def number(rng: random.Random, base: Base) -> tuple[bytes, str]:
    if base.form == "ods":
        return ods_cells(rng, base, formula=False)
    return xlsx_cells(rng, base, number_cell)


MUTATIONS: dict[str, Callable[[random.Random, Base], tuple[bytes, str]]] = {
    "truncate": truncate,
    "flip-structure": flip_structure,
    "flip-data": flip_data,
    "xml-bytes": xml_bytes,
    "xml-element": xml_element,
    "xml-attribute": xml_attribute,
    "formula": formula,
    "number": number,
}


# --- reading and checking the corpus ---------------------------------------------------------------

CHUNK = 25  # files per call of check_files (each call checks them in two parts, on two worker processes)


def escaped_text(exc: BaseException) -> str:
    """What an exception that left check_files says, in a few lines."""
    lines = traceback.format_exception(exc)
    return "".join(lines[-3:]).strip()


def check_robustly(paths: list[Path]) -> tuple[dict[str, CheckedFile], dict[str, str]]:
    """Every file read and checked as the intake and `budgetflow validate` read them (`check_files`, in worker
    processes of an `IsolatedPool`), CHUNK at a time; a call that raises is cut in halves down to the file
    that makes it raise. Returns the results by file name, and what was raised, by the file that raised it."""
    template = default_template()
    results: dict[str, CheckedFile] = {}
    escaped: dict[str, str] = {}
    pending = [paths[start : start + CHUNK] for start in range(0, len(paths), CHUNK)]
    pool = IsolatedPool(2, LIMITS)
    try:
        while pending:
            chunk = pending.pop(0)
            jobs = [CheckJob(str(path), path.name) for path in chunk]
            try:
                checked = check_files(jobs, template, LIMITS, pool, parts=min(2, len(jobs)), with_rows=True)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # a pyo3 PanicException is a BaseException
                pool.close()
                pool = IsolatedPool(2, LIMITS)
                if len(chunk) == 1:
                    escaped[chunk[0].name] = escaped_text(exc)
                else:
                    middle = len(chunk) // 2
                    pending[:0] = [chunk[:middle], chunk[middle:]]
                continue
            if len(checked) != len(jobs):
                for path in chunk:
                    escaped[path.name] = f"check_files gave {len(checked)} results for {len(jobs)} files"
                continue
            results.update((path.name, result) for path, result in zip(chunk, checked, strict=True))
    finally:
        pool.close()
    return results, escaped


@dataclass(frozen=True)
class Corpus:
    directory: Path  # the fuzzed files, each under its case's name
    cases: list[Case]
    checked: dict[str, CheckedFile]  # by file name
    escaped: dict[str, str]  # by file name: what check_files raised for that file
    references: dict[str, FileReport]  # by name: each base ("base-…") and each zip base zipped again ("rezipped-…")

    def base_report(self, base: Base) -> FileReport:
        return self.references[f"base-{base.name}"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """Every case written into one folder and read and checked once; the bases first, here (which also makes the
    template and the schemas that the worker processes, forked from here, then find made)."""
    references = tmp_path_factory.mktemp("fuzz-bases")
    for base in bases():
        (references / f"base-{base.name}").write_bytes(base.data)
        if base.form in ("xlsx", "ods"):
            (references / f"rezipped-{base.name}").write_bytes(zip_bytes(zip_parts(base.data)))
    reference_paths = sorted(references.iterdir())
    reports = {
        path.name: result.report for path, result in zip(reference_paths, check_inline(reference_paths), strict=True)
    }
    directory = tmp_path_factory.mktemp("fuzz")
    cases = [make_case(seed) for seed in case_seeds()]
    for case in cases:
        (directory / case.name).write_bytes(case.data)
    checked, escaped = check_robustly([directory / case.name for case in cases])
    return Corpus(directory, cases, checked, escaped, reports)


def same_answer(report: FileReport, other: FileReport) -> bool:
    """Whether two reports say the same (status and findings; the findings in any order)."""
    return (report.status, Counter(report.flatten())) == (other.status, Counter(other.flatten()))


# --- what every case must satisfy -------------------------------------------------------------------

DOCUMENT_KEYS = {"file", "sha256", "status", "bureau_code", "fiscal_year", "template", "findings"}
FINDING_KEYS = {"rule", "severity", "sheet", "cells", "message", "expected", "actual"}


def excerpt(text: str, lines: int = 4) -> str:
    """The first line and the last lines of a traceback."""
    all_lines = text.strip().splitlines()
    kept = all_lines if len(all_lines) <= lines + 1 else [all_lines[0], "…", *all_lines[-lines:]]
    return " | ".join(line.strip() for line in kept)


def document_breaches(report: FileReport) -> list[str]:
    """What is wrong with a report as the §3 JSON document: keys, JSON, findings, a status that fits them."""
    breaches = []
    try:
        document = json.loads(json.dumps(report.to_dict(), ensure_ascii=False))
    except (TypeError, ValueError) as exc:
        return [f"to_dict() is not JSON: {exc!r}"]
    if set(document) != DOCUMENT_KEYS or document["status"] not in set(Status):
        breaches.append(f"not a §3 document: {sorted(document)} status={document.get('status')!r}")
    for finding in document["findings"]:
        rule, severity, message = finding.get("rule"), finding.get("severity"), finding.get("message")
        if set(finding) != FINDING_KEYS:
            breaches.append(f"finding keys {sorted(finding)}")
        if not isinstance(rule, str) or rule.split("/", 1)[0] not in RULE_FAMILIES or "/" not in rule:
            breaches.append(f"finding without a rule: {finding}")
        if severity not in set(Severity):
            breaches.append(f"finding without a severity: {finding}")
        if not isinstance(message, str) or not message.strip() or "Traceback" in message:
            breaches.append(f"finding without a message: {finding}")
        if not all(isinstance(cell, str) for cell in finding["cells"]):
            breaches.append(f"finding with cells that are not references: {finding}")
    rules = [f.rule for f in report.findings]
    unreadable = report.status is Status.UNREADABLE
    if unreadable != ("format/unreadable" in rules):
        breaches.append(f"status {report.status} with rules {rules}")
    if report.status is Status.FAILED and not report.errors:
        breaches.append(f"failed without an error: {rules}")
    if report.status is Status.WARNINGS and (report.errors or not report.warnings):
        breaches.append(f"warnings with {report.errors} errors and {report.warnings} warnings")
    if report.status is Status.PASSED and report.findings:
        breaches.append(f"passed with findings {rules}")
    return breaches


def case_breaches(case: Case, corpus: Corpus) -> list[str]:
    """Every way the answer for one case breaks the contract."""
    if case.name in corpus.escaped:
        return [f"check_files raised: {excerpt(corpus.escaped[case.name])}"]
    checked = corpus.checked.get(case.name)
    if checked is None:
        return ["no report"]
    report = checked.report
    breaches = document_breaches(report)
    if report.file != case.name:
        breaches.append(f"report of {report.file!r}")
    if report.sha256 != hashlib.sha256(case.data).hexdigest():
        breaches.append(f"sha256 {report.sha256!r} is not the file's")
    if checked.problem is not None:
        breaches.append(f"an exception inside budgetflow, caught by the last resort: {excerpt(checked.problem)}")
    base = corpus.base_report(case.base)
    same_as_base = same_answer(report, base)
    if case.data == case.base.data and not same_as_base:
        breaches.append(f"the base's own bytes read otherwise: {report.flatten()} ≠ {base.flatten()}")
    if case.kind == "truncate" and case.base.form != "xls" and report.status is not Status.UNREADABLE:
        breaches.append(f"a truncated {case.base.form} is {report.status}: {report.flatten()}")
    # A flip that changes a member's bytes fails its CRC-32; one in a deflate stream's unused last bits changes nothing.
    damaged = case.kind == "flip-data" and case.base.form != "xls" and report.status is not Status.UNREADABLE
    if damaged and not same_as_base:
        breaches.append(f"damaged data read as {report.status}: {report.flatten()}")
    return breaches


def failure_text(what: str, failures: list[str], limit: int = 40) -> str:
    shown = failures[:limit] + ([f"… and {len(failures) - limit} more"] if len(failures) > limit else [])
    return (
        f"{len(failures)} {what} (BUDGETFLOW_FUZZ_SEED={BASE_SEED}, BUDGETFLOW_FUZZ_CASES={CASES}; "
        "replay one with `.venv/bin/python -m tests.test_fuzz SEED`):\n" + "\n".join(shown)
    )


def status_table(corpus: Corpus) -> str:
    counts = Counter(
        (case.kind, corpus.checked[case.name].report.status.value)
        for case in corpus.cases
        if case.name in corpus.checked
    )
    return "\n".join(
        f"{kind}: " + ", ".join(f"{s} {n}" for (k, s), n in sorted(counts.items()) if k == kind) for kind in KINDS
    )


# --- the tests --------------------------------------------------------------------------------------


def test_the_corpus_holds_every_kind_and_each_case_is_made_again_from_its_seed_in_another_process(
    corpus: Corpus,
) -> None:
    counts = Counter(case.kind for case in corpus.cases)
    assert len(corpus.cases) >= 500 or CASES < 500
    assert set(counts) == set(KINDS) and min(counts.values()) >= len(corpus.cases) // len(KINDS)
    unchanged = [case.seed for case in corpus.cases if case.data == case.base.data]
    assert len(unchanged) <= len(corpus.cases) // 50, unchanged
    assert {case.base.form for case in corpus.cases} == {"xlsx", "ods", "xls", "csv"}

    sample = [case.seed for case in corpus.cases[:: max(1, len(corpus.cases) // 40)]]
    program = (
        "import hashlib, sys\n"
        "from tests.test_fuzz import make_case\n"
        "for seed in sys.argv[1:]:\n"
        "    print(seed, hashlib.sha256(make_case(int(seed)).data).hexdigest())\n"
    )
    environment = {**os.environ, "PYTHONHASHSEED": "4321"}  # str hashes, and the order of str sets, differ
    done = subprocess.run(
        [sys.executable, "-c", program, *map(str, sample)],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    again = dict(line.split() for line in done.stdout.splitlines())
    by_seed = {case.seed: case for case in corpus.cases}
    differ = [
        by_seed[seed].describe()
        for seed in sample
        if again[str(seed)] != hashlib.sha256(by_seed[seed].data).hexdigest()
    ]
    assert not differ, failure_text("cases made otherwise in another process", differ)


def test_the_bases_zipped_again_read_as_the_bases_do(corpus: Corpus) -> None:
    """The XML mutations zip a package again: unchanged, that package must read as the original."""
    differ = []
    for base in bases():
        if base.form not in ("xlsx", "ods"):
            continue
        original, again = corpus.base_report(base), corpus.references[f"rezipped-{base.name}"]
        if not same_answer(original, again):
            differ.append(f"{base.name}: {again.status} {again.flatten()} ≠ {original.status} {original.flatten()}")
    assert not differ, differ
    statuses = {base.name: corpus.base_report(base).status for base in bases()}
    assert statuses["2023-水利局.xlsx"] is Status.UNREADABLE
    assert sum(status is Status.UNREADABLE for status in statuses.values()) == 1, statuses


def test_every_fuzzed_file_gets_one_json_document_whose_status_fits_its_findings_and_nothing_escapes(
    corpus: Corpus,
) -> None:
    print(status_table(corpus))
    failures = [f"{case.describe()[:300]}: {breach}" for case in corpus.cases for breach in case_breaches(case, corpus)]
    assert not failures, failure_text("breaches of the fuzz contract", failures)


def cli_cases(cases: list[Case]) -> list[Case]:
    """Ten cases of different kinds, spread over the corpus."""
    return list({cases[(i * 61) % len(cases)].seed: cases[(i * 61) % len(cases)] for i in range(CLI_FILES)}.values())


def test_budgetflow_validate_json_prints_one_document_per_fuzzed_file_as_the_batch_reads_it(
    corpus: Corpus, tmp_path: Path
) -> None:
    chosen = cli_cases(corpus.cases)
    folder = tmp_path / "cli"
    folder.mkdir()
    for case in chosen:
        (folder / case.name).write_bytes(case.data)
    which = "\n".join(case.describe()[:300] for case in chosen)

    result = CliRunner().invoke(app, ["validate", "--json", str(folder)])

    output = result.stdout + result.stderr
    raised = "".join(traceback.format_exception(result.exception)) if result.exception else ""
    assert result.exception is None or isinstance(result.exception, SystemExit), f"{which}\n{raised}"
    assert result.exit_code in (0, 1), f"{which}\n{output[-3000:]}"
    assert "Traceback" not in output, f"{which}\n{output[-3000:]}"
    documents = json.loads(result.stdout)
    assert isinstance(documents, list) and len(documents) == len(chosen), which
    by_name = {Path(document["file"]).name: document for document in documents}
    assert set(by_name) == {case.name for case in chosen}, which
    differ = []
    for case in chosen:
        document = by_name[case.name]
        checked = corpus.checked.get(case.name)
        batch = checked.report.to_dict() if checked else {}
        if comparable(document) != comparable(batch):
            differ.append(f"{case.describe()[:300]}: the command line says {document}, the batch {batch}")
    assert not differ, failure_text("files the command line reads otherwise than the batch", differ)


def comparable(document: dict[str, Any]) -> tuple[object, ...]:
    """A §3 document without its file name, its findings in any order."""
    findings = Counter(
        json.dumps(finding, ensure_ascii=False, sort_keys=True) for finding in document.get("findings", [])
    )
    return (*(document.get(key) for key in ("sha256", "status", "bureau_code", "fiscal_year")), findings)


@pytest.mark.usefixtures("prefect_server")
def test_one_intake_run_over_every_fuzzed_file_completes_and_accounts_for_each_file(
    corpus: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.intake import intake
    from models.database import engine_for

    data_dir = tmp_path / "var"
    database = f"sqlite:///{tmp_path / 'budgetflow.db'}"
    monkeypatch.setenv("BUDGETFLOW_DATA_DIR", str(data_dir))
    monkeypatch.setenv("BUDGETFLOW_DATABASE_URL", database)
    monkeypatch.setenv("BUDGETFLOW_DB_RETRY_DELAY_SECONDS", "0.2")
    monkeypatch.setenv("BUDGETFLOW_INBOX_SETTLE_SECONDS", "0")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for case in corpus.cases:
        (inbox / case.name).write_bytes(case.data)
    cases = {case.name: case for case in corpus.cases}

    state: Any = intake(inbox=str(inbox), batch_size=INTAKE_BATCH, return_state=True)

    assert state.is_completed(), f"the intake run did not complete: {state.type} {state.message}"
    summary: IntakeSummary = state.result()
    taken = Counter(o.file_name for o in summary.outcomes)
    skipped = Counter(entry.name for entry in summary.skipped)
    failures = []
    for name, case in cases.items():
        if taken[name] + skipped[name] != 1:
            failures.append(f"{case.describe()[:300]}: {taken[name]} outcomes, {skipped[name]} skipped entries")
    strangers = (set(taken) | set(skipped)) - set(cases)
    left = sorted(p.name for p in inbox.iterdir() if p.name not in skipped)
    with engine_for(database).connect() as connection:
        stored: dict[int, str] = {
            row.id: row.sha256 for row in connection.execute(text("SELECT id, sha256 FROM submission"))
        }
        finished = connection.execute(text("SELECT finished_at FROM intake_run")).scalars().all()
    for outcome in summary.outcomes:
        fuzzed = cases.get(outcome.file_name)
        if fuzzed is None:
            continue
        where = f"{fuzzed.describe()[:300]}: {outcome.outcome} {outcome.status}"
        if outcome.outcome not in ("loaded", "duplicate") or outcome.submission_id is None:
            failures.append(f"{where}, submission {outcome.submission_id}")
        elif stored.get(outcome.submission_id) != hashlib.sha256(fuzzed.data).hexdigest():
            failures.append(f"{where}: submission {outcome.submission_id} does not hold these bytes")
        checked = corpus.checked.get(fuzzed.name)
        if checked is not None and checked.problem is None and outcome.status != checked.report.status:
            failures.append(f"{where}, but {checked.report.status} when read in a batch")
    assert summary.files_seen == len(cases)
    assert not strangers and not left, (strangers, left)
    assert len(finished) == 1 and finished[0] is not None
    assert not failures, failure_text("files the intake run did not account for", failures)


# --- replaying one seed -----------------------------------------------------------------------------


def check_inline(paths: list[Path]) -> list[CheckedFile]:
    """Read and check files here, in this process (no worker processes), as one batch."""
    jobs = [CheckJob(str(path), path.name) for path in paths]
    return check_files(jobs, default_template(), LIMITS, None)


def replay(seed: int, directory: Path | None = None) -> tuple[Case, Path, CheckedFile]:
    """Make the case of one seed again, write it, and read and check it in this process."""
    case = make_case(seed)
    folder = directory or Path(tempfile.mkdtemp(prefix=f"budgetflow-fuzz-{seed}-"))
    path = folder / case.name
    path.write_bytes(case.data)
    [checked] = check_inline([path])
    return case, path, checked


def main(arguments: list[str]) -> None:
    for seed in map(int, arguments):
        case, path, checked = replay(seed)
        print(case.describe())
        print(path)
        print(json.dumps(checked.report.to_dict(), ensure_ascii=False, indent=2))
        if checked.problem:
            print(checked.problem)


if __name__ == "__main__":
    main(sys.argv[1:])
