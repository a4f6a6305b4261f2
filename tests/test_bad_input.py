"""Bad input: whatever is not a readable workbook is `unreadable` with one finding that says why (spec §3).

Every file here is real and written into tmp_path: random bytes, text and web pages renamed .xlsx,
zips that are not workbooks, cut and corrupted workbooks, OLE files (.xls and password-protected
.xlsx), XML entity bombs and external entities, decompression bombs and zips whose headers lie.
Each one must be refused within seconds and a bounded amount of memory, and never stop the other
files of the same call from being validated.
"""

from __future__ import annotations

import functools
import io
import json
import random
import struct
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from msoffcrypto.format.ooxml import OOXMLFile  # type: ignore[import-untyped]
from typer.testing import CliRunner

from budgetflow.cli import app
from checks.findings import FileReport, Severity, Status
from checks.validate import validate_batch
from config.settings import ReaderLimits
from tests.support import check, check_one
from workbooks.reader import read_submission
from workbooks.samples import UNREADABLE_BYTES, build_workbook, clean_figures, seed_figures, workbook_bytes

MB = 1024 * 1024
TIME_LIMIT = 2.0  # seconds to refuse one bad file: generous, not a benchmark
MEMORY_LIMIT = 20 * MB  # peak Python allocations while refusing one; every bomb here inflates to far more
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SECRET = "budgetflow-secret-7f3a9c"  # the text of a local file that an external entity points at

# --- writing bad files ------------------------------------------------------------------------------

Change = bytes | Callable[[bytes], bytes]
BadFile = Callable[[Path], Path]


@functools.cache
def clean_bytes() -> bytes:
    """A real .xlsx (沅江市教育局, which passes every check) as openpyxl writes it."""
    return workbook_bytes(build_workbook(clean_figures()))


def doctored_bytes(changes: Mapping[str, Change]) -> bytes:
    """The clean workbook with parts replaced (bytes), edited (a function of the old bytes) or added."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(clean_bytes())) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        names = [*source.namelist(), *(name for name in changes if name not in source.namelist())]
        for name in names:
            old = source.read(name) if name in source.namelist() else b""
            change = changes.get(name, old)
            target.writestr(name, change(old) if callable(change) else change)
    return buffer.getvalue()


def doctored(path: Path, changes: Mapping[str, Change]) -> Path:
    path.write_bytes(doctored_bytes(changes))
    return path


def with_shared_strings(sst: bytes) -> dict[str, Change]:
    """Changes that add xl/sharedStrings.xml, declared in the content types and the workbook's relations."""
    override = (
        b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml" /></Types>'
    )
    relation = (
        b'<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
        b'Target="sharedStrings.xml" Id="rIdStrings" /></Relationships>'
    )
    return {
        "xl/sharedStrings.xml": sst,
        "[Content_Types].xml": lambda old: old.replace(b"</Types>", override),
        "xl/_rels/workbook.xml.rels": lambda old: old.replace(b"</Relationships>", relation),
    }


def shared_strings(prolog: str = "", text: str = "项目", encoding: str = "utf-8") -> bytes:
    declaration = f'<?xml version="1.0" encoding="{encoding}" standalone="yes"?>'
    body = f'<sst xmlns="{MAIN_NS}" count="1" uniqueCount="1"><si><t>{text}</t></si></sst>'
    return (declaration + prolog + body).encode(encoding)


LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol0 "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    + "]>"
)  # &lol9; expands to 10⁹ × "lol", about 3 GB
PADDING = "\n".join(f"<!-- {'填表说明 ' * 40} -->" for _ in range(12)) + " " * 1024  # > 2 KB before the DOCTYPE


def before_root(prolog: str) -> Callable[[bytes], bytes]:
    """An edit that puts text in front of a part's root element (openpyxl writes no XML declaration)."""
    return lambda old: prolog.encode() + old


def write(name: str, data: bytes | Callable[[], bytes]) -> BadFile:
    """A bad file of these bytes (made when the test runs, when given as a function)."""

    def build(directory: Path) -> Path:
        path = directory / name
        path.write_bytes(data() if callable(data) else data)
        return path

    return build


def doctor(name: str, changes: Mapping[str, Change]) -> BadFile:
    return lambda directory: doctored(directory / name, changes)


def password_protected(directory: Path) -> Path:
    """A real .xlsx encrypted with a password, as Excel's 'Encrypt with password' does (ECMA-376 agile)."""
    path = directory / "password.xlsx"
    with path.open("wb") as out:
        OOXMLFile(io.BytesIO(clean_bytes())).encrypt("123456", out)
    return path


FREE, END_OF_CHAIN, FAT_SECTOR, NO_STREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
OLE_SECTOR = 4096


def ole_file(stream: str, size: int = OLE_SECTOR, *, directory_last: bool = False) -> bytes:
    """A minimal compound file (v4, 4 KB sectors): the container of .xls and of password-protected .xlsx.

    It holds one stream that starts with a BIFF8 BOF record; `directory_last` puts the directory, which
    names the stream, after the data, as large files often have it.
    """
    count = -(-size // OLE_SECTOR)
    data_start, directory_at = (1, 1 + count) if directory_last else (2, 1)
    fat = [FREE] * (OLE_SECTOR // 4)
    fat[0], fat[directory_at] = FAT_SECTOR, END_OF_CHAIN
    for i in range(count):
        fat[data_start + i] = data_start + i + 1 if i < count - 1 else END_OF_CHAIN

    def entry(name: str, kind: int, child: int, start: int, length: int) -> bytes:
        encoded = (name + "\0").encode("utf-16-le")
        return struct.pack(
            "<64sHBB3I16sI2QIQ", encoded, len(encoded), kind, 1, NO_STREAM, NO_STREAM, child, bytes(16), 0, 0, 0,
            start, length,
        )  # fmt: skip

    header = struct.pack(
        "<8s16s5H6s9I109I", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", bytes(16), 0x3E, 4, 0xFFFE, 12, 6, bytes(6),
        1, 1, directory_at, 0, 4096, END_OF_CHAIN, 0, END_OF_CHAIN, 0, 0, *([FREE] * 108),
    )  # fmt: skip
    data = struct.pack("<4H", 0x0809, 16, 0x0600, 0x0005).ljust(count * OLE_SECTOR, b"\0")
    sectors = [b""] * (2 + count)
    sectors[0] = struct.pack(f"<{len(fat)}I", *fat)
    directory = entry("Root Entry", 5, 1, END_OF_CHAIN, 0) + entry(stream, 2, NO_STREAM, data_start, size)
    sectors[directory_at] = directory.ljust(OLE_SECTOR, b"\0")
    for i in range(count):
        sectors[data_start + i] = data[i * OLE_SECTOR : (i + 1) * OLE_SECTOR]
    return header.ljust(OLE_SECTOR, b"\0") + b"".join(sectors)


def zip_of(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def central_entry(data: bytes | bytearray, part: str) -> int:
    """The offset of a part's entry in the zip's central directory."""
    name = part.encode()
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + length] == name:
            return at
        at = data.find(b"PK\x01\x02", at + 4)
    raise LookupError(part)


def patched(data: bytes, part: str, *, size: int | None = None, crc: int | None = None, flags: int = 0) -> bytes:
    """The zip with a part's recorded uncompressed size, CRC or flags rewritten in both of its headers."""
    raw = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        local = archive.getinfo(part).header_offset
    central = central_entry(raw, part)
    for field_at, width, value in ((6, "H", flags), (14, "I", crc), (22, "I", size)):
        if value:
            old = struct.unpack_from(f"<{width}", raw, local + field_at)[0]
            new = old | value if field_at == 6 else value
            struct.pack_into(f"<{width}", raw, local + field_at, new)
            struct.pack_into(f"<{width}", raw, central + field_at + 2, new)
    return bytes(raw)


def bomb(part_bytes: int) -> bytes:
    """The clean workbook with a worksheet padded with white space until it inflates to `part_bytes`."""
    return doctored_bytes({"xl/worksheets/sheet2.xml": lambda old: old + b" " * (part_bytes - len(old))})


def lying_bomb(*, consistent: bool) -> bytes:
    """A part that inflates to 64 MB while both zip headers say 1 KB (and, if `consistent`, carry the CRC of 1 KB)."""
    real = bomb(64 * MB)
    with zipfile.ZipFile(io.BytesIO(real)) as archive, archive.open("xl/worksheets/sheet2.xml") as part:
        first_kilobyte = part.read(1024)
    crc = zlib.crc32(first_kilobyte) if consistent else None
    return patched(real, "xl/worksheets/sheet2.xml", size=1024, crc=crc)


def zip_with_entries(count: int, *, declared: int | None = None) -> bytes:
    """A zip of xl/workbook.xml and `count` empty files; its end record says `declared` entries."""
    local, central = io.BytesIO(), io.BytesIO()
    for name in [b"xl/workbook.xml", *(b"x/%d" % i for i in range(count))]:
        offset = local.tell()
        local.write(struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0) + name)
        central.write(
            struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0, 0, 0, offset)
            + name
        )
    entries = count + 1 if declared is None else declared
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, entries, entries, central.tell(), local.tell(), 0)
    return local.getvalue() + central.getvalue() + end


def many_sheets(count: int, part: str = "/xl/worksheets/sheet2.xml") -> dict[str, Change]:
    """Changes that add `count` sheets to the workbook, all of them reading the same worksheet part."""
    sheets = b"".join(b'<sheet name="S%d" sheetId="%d" r:id="rIdS%d" />' % (i, 100 + i, i) for i in range(count))
    relations = b"".join(
        b'<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        b'Target="%s" Id="rIdS%d" />' % (part.encode(), i)
        for i in range(count)
    )
    return {
        "xl/workbook.xml": lambda old: old.replace(b"</sheets>", sheets + b"</sheets>"),
        "xl/_rels/workbook.xml.rels": lambda old: old.replace(b"</Relationships>", relations + b"</Relationships>"),
    }


def corrupt_stream(data: bytes, part: str) -> bytes:
    """The zip with bytes in the middle of one part's compressed data scrambled."""
    raw = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(part)
    start = info.header_offset + 30 + len(info.filename.encode()) + info.compress_size // 3
    for i in range(start, start + 64):
        raw[i] ^= 0xA5
    return bytes(raw)


def sheet_edit(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    return lambda sheet: sheet.replace(old, new, 1)


HTML_EXPORT = (
    '<html xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:x="urn:schemas-microsoft-com:office:excel">'
    "<head><meta charset='utf-8'></head><body><table><tr><td>项目</td><td>年初预算数</td></tr></table></body></html>"
).encode()
HTML_TABLE = (
    '<meta http-equiv="Content-Type" content="text/html; charset=gbk">\n'
    "<table border=1><tr><td>单位名称</td><td>沅江市水利局</td></tr></table>"
).encode("gbk")
XML_SPREADSHEET = (
    '<?xml version="1.0"?>\n<?mso-application progid="Excel.Sheet"?>\n'
    '<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"><Worksheet ss:Name="封面"/></Workbook>'
).encode()
WORD_DOCUMENT = zip_of({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
ROW_OF_CELLS = b'<row r="90">' + b'<c r="A90"><v>1</v></c>' * 40_000 + b"</row></sheetData>"
OVERLAPPING_MERGES = b'<mergeCells count="50">' + b'<mergeCell ref="A1:BH2000"/>' * 50 + b"</mergeCells></worksheet>"

# What each bad file is, and what its one finding must say (every fragment must appear in the message).
BAD_FILES: dict[str, tuple[BadFile, tuple[str, ...]]] = {
    "random bytes": (write("random.xlsx", random.Random(7).randbytes(8192)), ("无法识别",)),
    "an empty file": (write("empty.xlsx", b""), ("空",)),
    "a CSV file renamed .xlsx": (write("csv.xlsx", UNREADABLE_BYTES), ("CSV",)),
    "a GBK CSV file renamed .xlsx": (write("gbk.xlsx", UNREADABLE_BYTES.decode().encode("gbk")), ("CSV",)),
    "a UTF-16 text export renamed .xlsx": (write("utf16.xlsx", "项目\t年初预算数\r\n".encode("utf-16")), ("文本",)),
    "an HTML page saved as .xlsx": (write("page.xlsx", HTML_EXPORT), ("HTML",)),
    "an HTML table without an html tag": (write("table.xlsx", HTML_TABLE), ("HTML",)),
    "an Excel 2003 XML spreadsheet": (write("xml2003.xlsx", XML_SPREADSHEET), ("2003 XML",)),
    "a PDF renamed .xlsx": (write("report.xlsx", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"), ("PDF",)),
    "a zip that holds no workbook": (write("zip.xlsx", zip_of({"报表.csv": UNREADABLE_BYTES})), ("没有 Excel 工作簿",)),
    "a Word document renamed .xlsx": (write("word.xlsx", WORD_DOCUMENT), ("Word",)),
    "a workbook cut in half": (write("half.xlsx", clean_bytes()[: len(clean_bytes()) // 2]), ("损坏",)),
    "a workbook missing its last bytes": (write("short.xlsx", clean_bytes()[:-30]), ("损坏",)),
    "a workbook with a scrambled stream": (
        write("scrambled.xlsx", corrupt_stream(clean_bytes(), "xl/worksheets/sheet2.xml")),
        ("损坏",),
    ),
    "a legacy Excel 97-2003 file": (write("legacy.xlsx", ole_file("Workbook")), (".xls",)),
    "a password-protected workbook": (password_protected, ("密码",)),
    "a large encrypted file whose directory comes last": (
        write("encrypted-large.xlsx", lambda: ole_file("EncryptedPackage", 2 * MB, directory_last=True)),
        ("密码",),
    ),
    "a zip with password-protected entries": (
        write("zipcrypto.xlsx", patched(clean_bytes(), "xl/workbook.xml", flags=0x1)),
        ("密码",),
    ),
    "billion laughs in xl/sharedStrings.xml": (
        doctor("laughs-strings.xlsx", with_shared_strings(shared_strings(LAUGHS, "&lol9;"))),
        ("实体", "xl/sharedStrings.xml"),
    ),
    "billion laughs in xl/workbook.xml": (
        doctor("laughs-workbook.xlsx", {"xl/workbook.xml": before_root(LAUGHS)}),
        ("实体", "xl/workbook.xml"),
    ),
    "billion laughs in a worksheet": (
        doctor(
            "laughs-sheet.xlsx",
            {"xl/worksheets/sheet2.xml": lambda old: before_root(LAUGHS)(old.replace(b"<v>", b"<v>&lol9;", 1))},
        ),
        ("实体", "xl/worksheets/sheet2.xml"),
    ),
    "billion laughs after 2 KB of comments and white space": (
        doctor("laughs-padded.xlsx", with_shared_strings(shared_strings(PADDING + LAUGHS, "&lol9;"))),
        ("实体", "xl/sharedStrings.xml"),
    ),
    "billion laughs after a comment that holds markup": (
        doctor("laughs-comment.xlsx", with_shared_strings(shared_strings("<!-- <sst> -->" + LAUGHS, "&lol9;"))),
        ("实体", "xl/sharedStrings.xml"),
    ),
    "billion laughs in a UTF-16 part": (
        doctor("laughs-utf16.xlsx", with_shared_strings(shared_strings(LAUGHS, "&lol9;", encoding="utf-16"))),
        ("实体", "xl/sharedStrings.xml"),
    ),
    "an external entity naming /etc/passwd": (
        doctor(
            "xxe.xlsx",
            {
                "xl/worksheets/sheet1.xml": lambda old: before_root(
                    '<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                )(old.replace(b"430981-021", b"&xxe;"))
            },
        ),
        ("实体",),
    ),
    "a part that inflates past the 50 MB limit": (write("bomb.xlsx", lambda: bomb(60 * MB)), ("上限", "炸弹")),
    "a zip whose headers understate a part's size": (
        write("liar.xlsx", lambda: lying_bomb(consistent=False)),
        ("炸弹",),
    ),
    "a zip whose headers understate a part's size and checksum": (
        write("liar-crc.xlsx", lambda: lying_bomb(consistent=True)),
        ("炸弹",),
    ),
    "a zip directory of 60000 entries": (write("entries.xlsx", lambda: zip_with_entries(60_000)), ("上限",)),
    "a zip directory whose end record understates its entries": (
        write("entries-lie.xlsx", lambda: zip_with_entries(60_000, declared=10)),
        ("目录",),
    ),
    "a workbook of 250 sheets": (doctor("sheets.xlsx", many_sheets(250)), ("256 个工作表", "上限 200")),
    "overlapping merged ranges": (
        doctor("merges.xlsx", {"xl/worksheets/sheet2.xml": sheet_edit(b"</worksheet>", OVERLAPPING_MERGES)}),
        ("合并单元格",),
    ),
    "a row wider than Excel allows": (
        doctor("wide.xlsx", {"xl/worksheets/sheet2.xml": sheet_edit(b"</sheetData>", ROW_OF_CELLS)}),
        ("行宽",),
    ),
}


# --- measuring a refusal ----------------------------------------------------------------------------


def refused(path: Path, limits: ReaderLimits | None = None) -> tuple[FileReport, float, int]:
    """The report on one file, the seconds and the peak bytes of Python memory that reading it took."""
    tracemalloc.start()
    try:
        started = time.perf_counter()
        submission = read_submission(path, limits=limits)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return validate_batch([submission])[0], seconds, peak


def assert_unreadable(report: FileReport, *fragments: str) -> str:
    """One error finding `format/unreadable` with no sheet, whose message says why; returns the message."""
    assert report.status is Status.UNREADABLE
    assert len(report.findings) == 1, report.findings
    finding = report.findings[0]
    assert (finding.rule, finding.severity, finding.sheet, finding.cells) == (
        "format/unreadable",
        Severity.ERROR,
        None,
        (),
    )
    for fragment in fragments:
        assert fragment in finding.message, finding.message
    assert "Traceback" not in finding.message
    return finding.message


def assert_no_leak(text: str) -> None:
    """Nothing of the files that external entities name appears."""
    assert SECRET not in text
    assert "root:x:0:0" not in text
    passwd = Path("/etc/passwd")
    if passwd.exists():
        for line in passwd.read_text(errors="replace").splitlines():
            assert not line.strip() or line not in text


# --- one bad file at a time -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_a_file_that_is_not_a_readable_workbook_is_unreadable_and_says_why(tmp_path: Path, kind: str) -> None:
    build, fragments = BAD_FILES[kind]
    report, seconds, peak = refused(build(tmp_path))
    assert_unreadable(report, *fragments)
    assert seconds < TIME_LIMIT, f"{kind}: refused after {seconds:.2f} s"
    assert peak < MEMORY_LIMIT, f"{kind}: {peak / MB:.1f} MB while refusing"


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param(with_shared_strings(shared_strings()), id="shared strings"),
        pytest.param(with_shared_strings(shared_strings(PADDING)), id="shared strings after 2 KB of comments"),
        pytest.param(with_shared_strings(shared_strings("<!-- <sst> -->")), id="a comment that holds markup"),
        pytest.param(with_shared_strings(shared_strings(encoding="utf-16")), id="shared strings in UTF-16"),
        pytest.param({"xl/workbook.xml": before_root('<?xml version="1.0"?>\n')}, id="an XML declaration"),
    ],
)
def test_the_doctored_workbooks_are_readable_without_their_attack(tmp_path: Path, changes: dict[str, Change]) -> None:
    """The bad files above are refused for their defect, not for how this file writes them."""
    report = check_one(doctored(tmp_path / "benign.xlsx", changes))
    assert (report.status, report.findings) == (Status.PASSED, [])


def external_entities(root: str, secret: Path) -> str:
    return (
        f'<!DOCTYPE {root} [<!ENTITY passwd SYSTEM "file:///etc/passwd"><!ENTITY secret SYSTEM "{secret.as_uri()}">]>'
    )


@pytest.mark.parametrize("part", ["a worksheet", "the shared strings"])
def test_an_external_entity_never_leaks_the_file_it_names(tmp_path: Path, part: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    if part == "a worksheet":  # the entities stand where the bureau code and contact are read from
        edit = before_root(external_entities("worksheet", secret))
        changes: dict[str, Change] = {
            "xl/worksheets/sheet1.xml": lambda old: edit(
                old.replace(b"430981-021", b"&secret;").replace("王芳".encode(), b"&passwd;")
            )
        }
    else:
        changes = with_shared_strings(shared_strings(external_entities("sst", secret), "&secret;&passwd;"))
    report, seconds, _ = refused(doctored(tmp_path / "xxe.xlsx", changes))
    assert_unreadable(report, "实体")
    assert_no_leak(json.dumps(report.to_dict(), ensure_ascii=False))
    assert seconds < TIME_LIMIT


# --- bombs against configured limits ----------------------------------------------------------------


def test_a_decompression_bomb_is_refused_by_the_configured_part_limit(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(bomb(4 * MB))
    report, seconds, peak = refused(path, ReaderLimits(max_part_bytes=1 * MB))
    assert_unreadable(report, "xl/worksheets/sheet2.xml", "解压后 4 MB", "上限 1 MB", "炸弹")
    assert seconds < TIME_LIMIT and peak < 2 * MB  # refused from the zip directory, before inflating the part
    assert check_one(path).status is Status.PASSED  # under the default limit the same file is a workbook


def test_the_default_part_limit_is_50_mb() -> None:
    assert ReaderLimits().max_part_bytes == 50 * MB


def test_a_zip_that_understates_a_part_never_inflates_more_than_it_claims(tmp_path: Path) -> None:
    for consistent in (False, True):
        path = tmp_path / f"liar-{consistent}.xlsx"
        path.write_bytes(lying_bomb(consistent=consistent))
        report, seconds, peak = refused(path)
        assert_unreadable(report)
        assert seconds < TIME_LIMIT and peak < MEMORY_LIMIT  # the real part is 64 MB


def test_sheets_that_share_one_part_cannot_multiply_the_work(tmp_path: Path) -> None:
    padded = sheet_edit(b"</worksheet>", b"</worksheet>" + b" " * 300_000)
    path = doctored(tmp_path / "shared.xlsx", {**many_sheets(60), "xl/worksheets/sheet2.xml": padded})
    report, seconds, _ = refused(path)
    assert_unreadable(report, "工作表", "同一份工作表内容")
    assert seconds < TIME_LIMIT


# --- hostile files that are still workbooks are read within bounds ----------------------------------


def test_a_merged_range_over_the_whole_sheet_is_read_in_bounded_time(tmp_path: Path) -> None:
    merges = b'<mergeCells count="2"><mergeCell ref="Z1:XFD1048576"/><mergeCell ref="A5000:XFD1048576"/></mergeCells>'
    path = doctored(
        tmp_path / "merged.xlsx", {"xl/worksheets/sheet1.xml": sheet_edit(b"</worksheet>", merges + b"</worksheet>")}
    )
    report, seconds, peak = refused(path)
    assert (report.status, report.findings) == (Status.PASSED, [])
    assert seconds < TIME_LIMIT and peak < 100 * MB


@pytest.mark.filterwarnings("ignore:Unknown extension")
def test_a_sheet_full_of_formula_tags_is_read_in_linear_time(tmp_path: Path) -> None:
    tags = b'<extLst><ext uri="{budgetflow}">' + b"<f/>" * 50_000 + b"</ext></extLst></worksheet>"
    path = doctored(tmp_path / "tags.xlsx", {"xl/worksheets/sheet3.xml": sheet_edit(b"</worksheet>", tags)})
    started = time.perf_counter()
    report = check_one(path)
    assert time.perf_counter() - started < TIME_LIMIT
    assert (report.status, report.findings) == (Status.PASSED, [])


# --- bad files among good ones ----------------------------------------------------------------------


def test_bad_files_do_not_stop_the_other_files_of_the_batch(tmp_path: Path) -> None:
    good = doctored(tmp_path / "good.xlsx", {})
    bad = [build(tmp_path) for build, _ in (BAD_FILES["random bytes"], BAD_FILES["a password-protected workbook"])]
    seed = tmp_path / "seed.xlsx"
    seed.write_bytes(workbook_bytes(build_workbook(seed_figures())))
    reports = check(bad[0], good, bad[1], seed)
    assert [r.status for r in reports] == [Status.UNREADABLE, Status.PASSED, Status.UNREADABLE, Status.FAILED]
    assert reports[3].flatten() == check_one(seed).flatten()


def test_the_command_line_reports_a_directory_of_bad_files_next_to_good_ones(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    bad = {build(inbox).name: kind for kind, (build, _) in BAD_FILES.items()}
    good = doctored(inbox / "2023-教育局.xlsx", {})
    seed = inbox / "2023-科工信局.xlsx"
    seed.write_bytes(workbook_bytes(build_workbook(seed_figures())))

    result = CliRunner().invoke(app, ["validate", str(inbox), "--json"])

    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    assert_no_leak(result.output + result.stderr)
    documents = {Path(d["file"]).name: d for d in json.loads(result.stdout)}
    assert set(documents) == {*bad, good.name, seed.name}
    for name, kind in bad.items():
        document = documents[name]
        assert document["status"] == "unreadable", kind
        assert [(f["rule"], f["severity"], f["sheet"]) for f in document["findings"]] == [
            ("format/unreadable", "error", None)
        ], kind
        assert all(fragment in document["findings"][0]["message"] for fragment in BAD_FILES[kind][1]), kind
    for path in (good, seed):
        alone = check_one(path).to_dict()
        assert {k: v for k, v in documents[path.name].items() if k != "file"} == {
            k: v for k, v in alone.items() if k != "file"
        }
    assert documents[good.name]["status"] == "passed" and documents[seed.name]["status"] == "failed"
