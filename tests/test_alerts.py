"""Alert emails, sent for real: an SMTP server on loopback (aiosmtpd), real intake and notify flow runs."""

from __future__ import annotations

import html
import io
import json
import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

from alerts.mail import OutgoingMail, build_message, one_line, send
from budgetflow.cli import app
from checks.addresses import valid_address
from config.settings import SmtpSettings
from flows.intake import intake
from flows.notify import notify
from intake.outbox import DeliveryResult
from intake.pipeline import IntakeSummary
from workbooks.samples import UNREADABLE_SAMPLE, clean_figures, seed_figures, write_workbook

on_harness = pytest.mark.usefixtures("prefect_server")  # the session's one temporary Prefect server

OPERATORS = ("ops@czj.yuanjiang.example.cn", "audit@czj.yuanjiang.example.cn")
SEED_FILE, ERRORS_FILE, CLEAN_FILE = "2023-科工信局.xlsx", "2023-农业农村局.xlsx", "2023-教育局.xlsx"
SEED_ADDRESS, ERRORS_ADDRESS = "kgxj@yuanjiang.example.cn", "nyj@yuanjiang.example.cn"
QUIET_FILES = ("2023-教育局.xlsx", "2023-卫生健康局.xlsx", "2023-交通运输局.xlsx")  # passed, warnings, passed
INJECTION = "\r\nBcc: evil@example.com"
REGISTRY = Path(__file__).resolve().parents[1] / "samples" / "bureaus.yaml"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SENDER = SmtpSettings.model_fields["sender"].default  # budgetflow@localhost

runner = CliRunner()


# --- a real SMTP server ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One message as the SMTP server got it: the envelope, the raw bytes, and the parsed message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        return body_of(self.message, "plain")

    @property
    def html(self) -> str:
        return body_of(self.message, "html")


@dataclass
class MailServer:
    """An SMTP server on 127.0.0.1 that keeps every message; it can go down (nothing listens) and come back."""

    port: int
    received: list[Received] = field(default_factory=list)
    controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook)
        raw = bytes(envelope.original_content)
        message = parse(raw)
        self.received.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos), raw, message))
        return "250 Message accepted for delivery"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def about(self, text: str) -> list[Received]:
        """The messages whose subject mentions `text`."""
        return [r for r in self.received if text in r.subject]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clear_smtp_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("BUDGETFLOW_SMTP_"):
            monkeypatch.delenv(name)


@pytest.fixture
def mail_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[MailServer]:
    """A running server, and budgetflow pointed at it (plain SMTP, no TLS) with two operators."""
    clear_smtp_environment(monkeypatch)
    server = MailServer(free_port())
    monkeypatch.setenv("BUDGETFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("BUDGETFLOW_SMTP_PORT", str(server.port))
    monkeypatch.setenv("BUDGETFLOW_SMTP_SECURITY", "none")
    monkeypatch.setenv("BUDGETFLOW_OPERATORS", ", ".join(OPERATORS))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cli_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `configure_prefect` would set, set here so the session gets its environment back."""
    monkeypatch.setenv("PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY", "false")
    monkeypatch.setenv("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    monkeypatch.setenv("COLUMNS", "200")


# --- helpers --------------------------------------------------------------------------------------


def fill_inbox(sample_inbox: Path, inbox: Path, names: tuple[str, ...] | None = None) -> Path:
    """A fresh copy of (some of) the sample inbox, as a bureau delivers it."""
    inbox.mkdir(parents=True, exist_ok=True)
    for path in sample_inbox.iterdir():
        if names is None or path.name in names:
            shutil.copy(path, inbox / path.name)
    return inbox


def run_intake(inbox: Path) -> IntakeSummary:
    """The real flow; the data directory, database, SMTP server and operators come from the environment."""
    inbox.mkdir(parents=True, exist_ok=True)  # `tmp_path / "empty"`: a run with nothing new
    summary = intake(inbox=str(inbox))
    assert isinstance(summary, IntakeSummary)
    return summary


def parse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(raw)


def body_of(message: EmailMessage, subtype: str) -> str:
    """The text of the message's plain or HTML alternative."""
    part = message.get_body(preferencelist=(subtype,))
    assert isinstance(part, EmailMessage), f"no text/{subtype} part"
    return str(part.get_content())


def attachments_of(message: EmailMessage) -> list[EmailMessage]:
    return list(message.iter_attachments())


def workbook_sheets(attachment: EmailMessage) -> list[str]:
    """The sheet names of an attached workbook, opened with openpyxl (so it is a valid xlsx)."""
    book = openpyxl.load_workbook(io.BytesIO(attachment.get_content()), read_only=True)
    try:
        return list(book.sheetnames)
    finally:
        book.close()


def addresses(message: Message, header: str) -> tuple[str, ...]:
    return tuple(address for _, address in getaddresses(message.get_all(header, [])))


def header_lines(raw: bytes) -> list[bytes]:
    """The raw header block of a message, one physical line each (folded continuation lines included)."""
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    return head.split(b"\n")


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout


def alerts_json(*options: str) -> list[dict[str, Any]]:
    code, out = cli("alerts", *options, "--json")
    assert code == 0, out
    documents: list[dict[str, Any]] = json.loads(out)
    return documents


def error_messages(summary: IntakeSummary, file_name: str) -> list[str]:
    [outcome] = [o for o in summary.outcomes if o.file_name == file_name]
    return [f.message for f in outcome.findings if f.severity == "error"]


# --- unit: the message builder --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("沅江市科工信局\r\nBcc: evil@example.com", "沅江市科工信局 Bcc: evil@example.com"),
        ("a\nb\rc", "a b c"),
        ("a\u2028b\u2029c\x85d", "a b c d"),
        ("a\x00b\tc\x7fd\x1be", "a b c d e"),
        ("  padded \r\n", "padded"),
    ],
)
def test_one_line_turns_line_breaks_and_control_characters_into_spaces(text: str, expected: str) -> None:
    assert one_line(text) == expected


def test_one_line_cuts_header_text_to_its_limit() -> None:
    assert one_line("财" * 500) == "财" * 200
    assert one_line("abcdef", limit=3) == "abc"


@pytest.mark.parametrize(
    "address", ["kgxj@yuanjiang.example.cn", "first.last+tag@mail.example.org", "a_b-c%d@x-y.example.com"]
)
def test_valid_address_accepts_one_plain_address(address: str) -> None:
    assert valid_address(address)


@pytest.mark.parametrize(
    "address",
    [
        None,
        "",
        "kgxj@yuanjiang.example.cn\r\nBcc: evil@example.com",
        "kgxj@yuanjiang.example.cn\n",
        "kgxj@yuanjiang.example.cn, evil@example.com",
        "kgxj@yuanjiang.example.cn;evil@example.com",
        "科工信局 <kgxj@yuanjiang.example.cn>",
        "kgxj at yuanjiang.example.cn",
        "kgxj@localhost",
        "科工信局@沅江.cn",
        " kgxj@yuanjiang.example.cn",
    ],
)
def test_valid_address_refuses_anything_but_one_plain_address(address: str | None) -> None:
    assert not valid_address(address)


def injected_mail(tmp_path: Path) -> OutgoingMail:
    workbook = write_workbook(seed_figures(), tmp_path / "book.xlsx")
    return OutgoingMail(
        recipients=(
            f"kgxj@yuanjiang.example.cn{INJECTION}",
            "ops@czj.yuanjiang.example.cn",
            "科工信局 <nyj@yuanjiang.example.cn>",
            "jyj@yuanjiang.example.cn, evil@example.com",
        ),
        subject=f"【报送校验未通过】沅江市科工信局{INJECTION}",
        body_text="正文",
        body_html="<p>正文</p>",
        attachment=workbook,
        attachment_name=f"校验结果{INJECTION}.xlsx",
    )


def test_build_message_keeps_only_plain_recipients_and_every_header_on_one_line(tmp_path: Path) -> None:
    settings = SmtpSettings(host=None, sender_name=f"财政局{INJECTION}")

    message = build_message(injected_mail(tmp_path), settings)

    assert addresses(message, "To") == ("ops@czj.yuanjiang.example.cn",)
    assert message["Bcc"] is None and message["Cc"] is None
    raw = message.as_bytes()
    assert not [line for line in header_lines(raw) if line.lower().startswith(b"bcc")]
    assert raw.isascii()  # seven-bit clean: no server has to take 8-bit text unannounced
    reparsed = parse(raw)  # as the mail server and the recipient read it
    assert str(reparsed["Subject"]) == "【报送校验未通过】沅江市科工信局 Bcc: evil@example.com"  # one line of text
    assert set(reparsed.keys()) == {"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"}
    assert addresses(reparsed, "From") == (settings.sender,)
    [attachment] = attachments_of(reparsed)
    assert attachment.get_filename() == "校验结果 Bcc: evil@example.com.xlsx"
    assert attachment.get_content_type() == XLSX


def test_a_message_built_from_smuggled_recipients_reaches_only_the_plain_ones_over_smtp(
    tmp_path: Path, mail_server: MailServer
) -> None:
    settings = SmtpSettings(sender_name=f"财政局{INJECTION}")  # the fixture's server, from the environment

    send(build_message(injected_mail(tmp_path), settings), settings)

    [received] = mail_server.received
    assert received.rcpt_tos == ("ops@czj.yuanjiang.example.cn",)
    assert received.mail_from == settings.sender
    assert addresses(received.message, "From") == (settings.sender,)
    assert received.message["Bcc"] is None


def test_build_message_refuses_a_mail_without_any_valid_recipient(tmp_path: Path) -> None:
    mail = replace(injected_mail(tmp_path), recipients=(f"kgxj@yuanjiang.example.cn{INJECTION}", ""))

    with pytest.raises(ValueError, match="no valid recipient"):
        build_message(mail, SmtpSettings(host=None))


# --- the intake flow with a real SMTP server ------------------------------------------------------


@on_harness
def test_a_failed_submission_mails_its_cover_address_and_the_operators_its_findings_and_the_annotated_workbook(
    sample_inbox: Path, data_dir: Path, tmp_path: Path, mail_server: MailServer
) -> None:
    summary = run_intake(fill_inbox(sample_inbox, tmp_path / "inbox"))

    assert summary.alerts_queued == 3
    assert summary.delivery == DeliveryResult(sent=3, failed=0, pending=0)
    assert len(mail_server.received) == 3
    for file_name, address in ((SEED_FILE, SEED_ADDRESS), (ERRORS_FILE, ERRORS_ADDRESS)):
        [mail] = mail_server.about(file_name)
        assert mail.rcpt_tos == (address, *OPERATORS)
        assert addresses(mail.message, "To") == mail.rcpt_tos
        assert mail.mail_from == SENDER
        assert mail.raw.isascii()  # smtplib does not announce BODY=8BITMIME, so nothing 8-bit is sent
        assert mail.subject.startswith("【报送校验未通过】")
        messages = error_messages(summary, file_name)
        assert messages
        for text in messages:  # every error, in both alternatives
            assert text in mail.text
            assert html.escape(text, quote=False) in mail.html
        [attachment] = attachments_of(mail.message)
        assert attachment.get_content_type() == XLSX
        assert str(attachment.get_filename()).endswith("校验结果.xlsx")
        assert workbook_sheets(attachment)[0] == "校验结果"
    seed = mail_server.about(SEED_FILE)[0]
    assert "【收支总表】" in seed.text and "B10" in seed.text
    assert "年初预算数：本年收入合计 1245.61 与各项收入之和 1160.21 不符，相差 85.40" in seed.text

    [unreadable] = mail_server.about(UNREADABLE_SAMPLE)
    assert unreadable.rcpt_tos == OPERATORS
    assert unreadable.subject.startswith("【报送校验无法读取】")
    assert "无法作为 Excel 工作簿打开" in unreadable.text and "无法作为 Excel 工作簿打开" in unreadable.html
    assert attachments_of(unreadable.message) == []

    for quiet in QUIET_FILES:  # passed, or warnings only: nobody is mailed
        assert mail_server.about(quiet) == []
    assert [a["status"] for a in alerts_json()] == ["sent"] * 3
    assert alerts_json("--pending") == []


@on_harness
def test_an_alert_that_cannot_be_sent_stays_pending_with_its_error_and_goes_out_on_the_next_run(
    sample_inbox: Path, data_dir: Path, tmp_path: Path, mail_server: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUDGETFLOW_ALERT_RETRY_SECONDS", "0")
    mail_server.stop()  # nothing listens on the port now

    down = run_intake(fill_inbox(sample_inbox, tmp_path / "inbox", (SEED_FILE,)))

    assert (down.alerts_queued, down.delivery) == (1, DeliveryResult(sent=0, failed=1, pending=1, unavailable=True))
    [pending] = alerts_json("--pending")
    assert (pending["kind"], pending["status"], pending["attempts"]) == ("failed", "pending", 1)
    assert pending["recipients"] == [SEED_ADDRESS, *OPERATORS]
    assert pending["last_error"].startswith("ConnectionRefusedError")
    assert pending["sent_at"] is None

    mail_server.start()  # the server is back, on the same port
    back = run_intake(tmp_path / "empty")

    assert (back.alerts_queued, back.delivery) == (0, DeliveryResult(sent=1, failed=0, pending=0))
    [mail] = mail_server.received
    assert mail.rcpt_tos == (SEED_ADDRESS, *OPERATORS)
    assert SEED_FILE in mail.subject
    assert alerts_json("--pending") == []
    [sent] = alerts_json()
    assert (sent["status"], sent["attempts"], sent["delivered_as"]) == ("sent", 2, "smtp")
    assert sent["sent_at"] is not None


@on_harness
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.usefixtures("cli_environment")
def test_a_pending_alert_waits_for_its_backoff_and_budgetflow_alerts_retry_sends_it_at_once(
    sample_inbox: Path, data_dir: Path, tmp_path: Path, mail_server: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUDGETFLOW_ALERT_RETRY_SECONDS", "60")  # the default: a minute, then two, four…
    mail_server.stop()
    run_intake(fill_inbox(sample_inbox, tmp_path / "inbox", (SEED_FILE,)))
    [pending] = alerts_json("--pending")
    assert pending["attempts"] == 1
    mail_server.start()

    soon = run_intake(tmp_path / "empty")  # the default backoff (a minute) has not passed yet

    assert soon.delivery == DeliveryResult(sent=0, failed=0, pending=1)
    assert mail_server.received == []

    code, out = cli("alerts", "retry")

    assert code == 0, out
    assert "已发出 1，失败 0，仍待发送 0" in out
    [mail] = mail_server.received
    assert mail.rcpt_tos == (SEED_ADDRESS, *OPERATORS)
    assert alerts_json("--pending") == []


@on_harness
def test_running_the_flow_three_times_over_the_same_files_sends_each_alert_once(
    sample_inbox: Path, data_dir: Path, tmp_path: Path, mail_server: MailServer
) -> None:
    files = (SEED_FILE, CLEAN_FILE, UNREADABLE_SAMPLE)

    first = run_intake(fill_inbox(sample_inbox, tmp_path / "first", files))
    again = [run_intake(fill_inbox(sample_inbox, tmp_path / name, files)) for name in ("second", "third")]

    assert (first.alerts_queued, first.delivery) == (2, DeliveryResult(sent=2, failed=0, pending=0))
    for summary in again:
        assert {o.outcome for o in summary.outcomes} == {"duplicate"}
        assert (summary.alerts_queued, summary.delivery) == (0, DeliveryResult(sent=0, failed=0, pending=0))
    assert {name: len(mail_server.about(name)) for name in files} == {SEED_FILE: 1, CLEAN_FILE: 0, UNREADABLE_SAMPLE: 1}
    assert len(mail_server.received) == 2
    assert len(alerts_json()) == 2


@on_harness
def test_a_missing_or_invalid_cover_email_is_a_finding_and_the_alert_goes_to_the_operators_only(
    data_dir: Path, tmp_path: Path, mail_server: MailServer
) -> None:
    inbox = tmp_path / "inbox"
    # clean figures otherwise: the cover's email is what fails them
    write_workbook(replace(clean_figures(), name="沅江市审计局", code="430981-081", email=""), inbox / "审计局.xlsx")
    invalid = "sjj at yuanjiang.example.cn"
    write_workbook(
        replace(clean_figures(), name="沅江市统计局", code="430981-082", email=invalid), inbox / "统计局.xlsx"
    )

    summary = run_intake(inbox)

    outcomes = {o.file_name: o for o in summary.outcomes}
    assert [(f.rule, f.cells[0]) for f in outcomes["审计局.xlsx"].findings] == [("required/cover", "B8")]
    assert [(f.rule, f.cells[0], f.actual) for f in outcomes["统计局.xlsx"].findings] == [
        ("format/email", "B8", invalid)
    ]
    assert {o.status for o in outcomes.values()} == {"failed"}
    [missing] = mail_server.about("沅江市审计局")
    [wrong] = mail_server.about("沅江市统计局")
    for mail in (missing, wrong):
        assert mail.rcpt_tos == OPERATORS
        assert addresses(mail.message, "To") == OPERATORS
        assert "封面电子邮箱缺失或无效，本通知仅发送给财政局经办人员" in mail.text
        assert "封面电子邮箱缺失或无效，本通知仅发送给财政局经办人员" in mail.html
    assert "封面“电子邮箱”未填写" in missing.text
    assert f"电子邮箱“{invalid}”不是有效地址" in wrong.text


@on_harness
def test_a_header_injection_in_the_bureau_name_file_name_or_cover_email_cannot_add_a_recipient(
    data_dir: Path, tmp_path: Path, mail_server: MailServer
) -> None:
    inbox = tmp_path / "inbox"
    injected_name = replace(seed_figures(), name=f"沅江市科学技术和工业信息化局{INJECTION}")
    write_workbook(injected_name, inbox / f"2023-科工信局{INJECTION}.xlsx")
    injected_email = replace(
        seed_figures(), code="430981-090", name="沅江市民政局", email=f"mzj@yuanjiang.example.cn{INJECTION}"
    )
    write_workbook(injected_email, inbox / "2023-民政局.xlsx")

    summary = run_intake(inbox)

    assert summary.delivery == DeliveryResult(sent=2, failed=0, pending=0)
    [by_name] = mail_server.about("沅江市科学技术和工业信息化局")
    [by_email] = mail_server.about("沅江市民政局")
    assert by_name.rcpt_tos == (SEED_ADDRESS, *OPERATORS)
    assert by_email.rcpt_tos == OPERATORS
    assert "format/email" in [f.rule for o in summary.outcomes for f in o.findings if o.bureau_code == "430981-090"]
    for mail in (by_name, by_email):
        assert "evil@example.com" not in mail.rcpt_tos
        assert addresses(mail.message, "To") == mail.rcpt_tos
        assert mail.message["Bcc"] is None and mail.message["Cc"] is None
        assert set(mail.message.keys()) == {
            "From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"
        }  # fmt: skip
        assert not [line for line in header_lines(mail.raw) if line.lower().startswith(b"bcc")]
        for part in mail.message.walk():
            for name, value in part.items():
                assert "\n" not in str(value) and "\r" not in str(value), name
    assert "Bcc: evil@example.com" in by_name.subject  # kept as text, on one line
    [attachment] = attachments_of(by_name.message)
    assert "\n" not in str(attachment.get_filename())


@on_harness
def test_a_very_long_bureau_name_or_file_name_still_queues_and_sends_its_alert(
    data_dir: Path, tmp_path: Path, mail_server: MailServer
) -> None:
    inbox = tmp_path / "inbox"
    long_name = "沅江市" + "科学技术和工业信息化" * 20  # 203 characters; 200 are kept
    write_workbook(replace(seed_figures(), name=long_name), inbox / ("2023-" + "科工信局" * 20 + ".xlsx"))
    (inbox / ("2023-" + "x" * 240 + ".xlsx")).write_bytes(b"not a workbook")  # the subject names it twice

    summary = run_intake(inbox)

    assert (summary.alerts_queued, summary.delivery) == (2, DeliveryResult(sent=2, failed=0, pending=0))
    [failed] = mail_server.about("【报送校验未通过】")
    [unreadable] = mail_server.about("【报送校验无法读取】")
    assert failed.rcpt_tos == (SEED_ADDRESS, *OPERATORS)
    assert unreadable.rcpt_tos == OPERATORS
    for mail in (failed, unreadable):  # the names are shortened, so the subject is never cut off
        assert mail.subject.endswith("…）") and len(mail.subject) < 200
    assert " 2023 年度（" in failed.subject
    assert long_name[:200] in failed.text  # the body keeps the bureau's name as read
    [attachment] = attachments_of(failed.message)
    assert str(attachment.get_filename()).endswith("…2023 年度校验结果.xlsx")
    assert "校验结果" in workbook_sheets(attachment)


# --- reminders ------------------------------------------------------------------------------------


@on_harness
@pytest.mark.usefixtures("cli_environment")
def test_each_registered_bureau_missing_at_the_deadline_is_reminded_once_however_often_notify_runs(
    sample_inbox: Path, data_dir: Path, tmp_path: Path, mail_server: MailServer
) -> None:
    code, out = cli("bureaus", "import", str(REGISTRY))
    assert code == 0, out
    assert "已登记 7 个单位；2023 年度截止 2024-03-31" in out
    delivered = tuple(p.name for p in sample_inbox.iterdir() if p.name != "2023-交通运输局.xlsx")
    run_intake(fill_inbox(sample_inbox, tmp_path / "inbox", delivered))  # 水利局's file is unreadable
    alerts_before = len(mail_server.received)

    runs = [notify() for _ in range(3)]

    assert [queued for queued, _ in runs] == [3, 0, 0]
    assert [result.sent for _, result in runs] == [3, 0, 0]
    reminders = mail_server.about("【报送提醒】")
    assert len(mail_server.received) == alerts_before + 3
    expected = {
        "430981-052": ("沅江市交通运输局", "jtj@yuanjiang.example.cn"),
        "430981-060": ("沅江市水利局", "slj@yuanjiang.example.cn"),
        "430981-071": ("沅江市民政局", "mzj@yuanjiang.example.cn"),
    }
    for code_, (name, address) in expected.items():
        [mail] = [r for r in reminders if code_ in r.text]
        assert mail.rcpt_tos == (address, *OPERATORS)
        assert name in mail.subject and "2023 年度报表尚未报送（截止 2024-03-31）" in mail.subject
        assert "2024-03-31" in mail.text and name in mail.html
    reminded = {a["bureau_code"] for a in alerts_json() if a["kind"] == "reminder"}
    assert reminded == set(expected)


# --- without an SMTP server: .eml files -----------------------------------------------------------


@on_harness
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_without_an_smtp_host_alerts_are_written_as_eml_files_that_parse_back_with_their_attachment(
    sample_inbox: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_smtp_environment(monkeypatch)  # the embedded default: no mail server
    monkeypatch.setenv("BUDGETFLOW_OPERATORS", ",".join(OPERATORS))

    summary = run_intake(fill_inbox(sample_inbox, tmp_path / "inbox", (SEED_FILE, CLEAN_FILE, UNREADABLE_SAMPLE)))

    assert summary.delivery == DeliveryResult(sent=2, failed=0, pending=0)
    files = {p.name.split("-", 1)[1]: p for p in (data_dir / "outbox").glob("*.eml")}
    assert sorted(files) == ["无法读取.eml", "校验未通过.eml"]  # what they are about, not "-failed"
    assert sorted(a["delivered_as"] for a in alerts_json()) == sorted(str(p) for p in files.values())
    failed, unreadable = (parse(files[kind].read_bytes()) for kind in ("校验未通过.eml", "无法读取.eml"))
    assert addresses(failed, "To") == (SEED_ADDRESS, *OPERATORS)
    assert SEED_FILE in str(failed["Subject"])
    assert "年初预算数：本年收入合计 1245.61 与各项收入之和 1160.21 不符" in body_of(failed, "plain")
    assert "年初预算数：本年收入合计 1245.61 与各项收入之和 1160.21 不符" in body_of(failed, "html")
    [attachment] = attachments_of(failed)
    assert attachment.get_content_type() == XLSX
    assert "校验结果" in workbook_sheets(attachment)
    assert addresses(unreadable, "To") == OPERATORS
    assert attachments_of(unreadable) == []
