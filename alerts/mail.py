"""Building and delivering alert emails: the SMTP adapter (standard library `smtplib`/`email`).

Why the standard library rather than prefect-email: the outbox needs to own retries and state (an
alert must survive a mail server that is down for days, and go out once), so delivery is one plain
call per message; `email.message.EmailMessage` with the SMTP policy already refuses header values
with line breaks, and `smtplib` covers STARTTLS, SSL and login with no further dependency.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ADDRESS = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
# Seven-bit clean (Chinese text in base64): `smtplib` never announces BODY=8BITMIME, so raw 8-bit text
# would reach servers that were not told to expect it.
POLICY = SMTP.clone(cte_type="7bit")


class SmtpSettings(BaseSettings):
    """The mail server (prefix `BUDGETFLOW_SMTP_`); without a host, alerts are written as .eml files."""

    model_config = SettingsConfigDict(env_prefix="BUDGETFLOW_SMTP_", frozen=True)

    host: str | None = None
    port: int = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    user: str | None = None
    password: SecretStr | None = None
    sender: str = Field(default="budgetflow@localhost", description="From: address")
    sender_name: str = "财政局预算绩效管理"
    timeout_seconds: float = 20.0


def valid_address(address: str | None) -> bool:
    """A single plain address: no display name, no line breaks, no second recipient smuggled in."""
    return bool(address) and ADDRESS.fullmatch(address or "") is not None


def one_line(text: str, limit: int = 200) -> str:
    """Header text: line breaks and control characters become spaces, so nothing can add a header."""
    return re.sub(r"[\x00-\x1f\x7f\u2028\u2029\x85]+", " ", text).strip()[:limit]


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    recipients: tuple[str, ...]
    subject: str
    body_text: str
    body_html: str
    attachment: Path | None = None
    attachment_name: str | None = None


def build_message(mail: OutgoingMail, settings: SmtpSettings) -> EmailMessage:
    """The MIME message: plain text and HTML alternatives, and the annotated workbook attached."""
    recipients = [r for r in mail.recipients if valid_address(r)]
    if not recipients:
        raise ValueError("no valid recipient")
    message = EmailMessage(policy=POLICY)
    # An Address, not a formatted string: the header re-folds a parsed string and can drop the quotes of
    # a display name mixing Chinese and `:`/`@`, so that `财政局 Bcc: evil@example.com` became the sender.
    message["From"] = Address(display_name=one_line(settings.sender_name), addr_spec=settings.sender)
    message["To"] = ", ".join(recipients)
    message["Subject"] = one_line(mail.subject)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or "localhost")
    message.set_content(mail.body_text)
    message.add_alternative(mail.body_html, subtype="html")
    if mail.attachment is not None and mail.attachment.exists():
        message.add_attachment(
            mail.attachment.read_bytes(),
            maintype=XLSX_TYPE[0],
            subtype=XLSX_TYPE[1],
            filename=one_line(mail.attachment_name or mail.attachment.name),
        )
    return message


def send(message: EmailMessage, settings: SmtpSettings) -> dict[str, tuple[int, bytes]]:
    """Hand the message to the SMTP server; raises when it is refused for every recipient or the
    connection fails, and returns the recipients refused one by one (the others got it)."""
    assert settings.host is not None
    context = ssl.create_default_context()
    server: smtplib.SMTP
    if settings.security == "ssl":
        server = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout_seconds, context=context)
    else:
        server = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
    with server:
        if settings.security == "starttls":
            server.starttls(context=context)
        if settings.user and settings.password is not None:
            server.login(settings.user, settings.password.get_secret_value())
        return server.send_message(message)


def write_eml(message: EmailMessage, directory: Path, name: str) -> Path:
    """The message as an .eml file a newcomer can open in any mail program."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}.eml"
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_bytes(message.as_bytes())
    temporary.replace(target)
    return target
