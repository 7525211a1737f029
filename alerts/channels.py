"""Where notifications go. One small interface; SMTP is the real channel, tests add their own.

A failed send is one of two kinds. ``DeliveryError``: the server never took the message (unreachable,
refused a command, answered the message with 4xx/5xx), so sending it again is safe. ``MaybeSentError``:
the whole message went out after DATA but the server's answer never came back (the connection dropped):
the server may have queued it, so the outbox records it as "maybe sent" and never resends it by itself.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import io
import re
import smtplib
import ssl
from email.generator import BytesGenerator
from email.message import EmailMessage
from typing import Protocol

from alerts.message import OutgoingMessage
from medtower.settings import Settings


class DeliveryError(RuntimeError):
    """The channel could not deliver; the outbox keeps the message pending."""


class MaybeSentError(DeliveryError):
    """The message was transmitted but not confirmed; resending could duplicate it."""


class Channel(Protocol):
    name: str

    def send(self, message: OutgoingMessage) -> None:
        """Deliver, or raise DeliveryError (safe to retry) / MaybeSentError (do not retry)."""


def to_email(message: OutgoingMessage) -> EmailMessage:
    """Bodies quoted-printable at 76 columns (7-bit safe for any relay); headers folded at RFC 5322's 998.

    At the default 78, Python folds a subject starting with "[" right after "Subject:", and clients read it
    back with a leading space. Every mail has a Message-ID (the outbox's stable one when it gives it) and a
    Date.
    """
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["Subject"] = message.subject
    mail["From"] = message.sender
    mail["To"] = ", ".join(message.to)
    mail["Message-ID"] = message.message_id or email.utils.make_msgid(domain=mail_domain(message.sender))
    when = message.date or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    mail["Date"] = email.utils.format_datetime(when)
    mail.set_content(message.text, cte="quoted-printable")
    mail.add_alternative(message.html, subtype="html", cte="quoted-printable")
    mail.policy = email.policy.SMTP.clone(max_line_length=998)
    return mail


def mail_domain(sender: str) -> str:
    """The sender's domain, for Message-IDs (a Message-ID names the domain that made it)."""
    address = email.utils.parseaddr(sender)[1]
    return address.rpartition("@")[2] or "medtower.localhost"


def message_bytes(mail: EmailMessage) -> bytes:
    """The message as SMTP DATA wants it: CRLF lines, leading dots doubled, ending in CRLF . CRLF."""
    buffer = io.BytesIO()
    BytesGenerator(buffer, policy=mail.policy.clone(linesep="\r\n")).flatten(mail, linesep="\r\n")
    data = re.sub(rb"(?m)^\.", b"..", buffer.getvalue())
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


class SmtpChannel:
    name = "email"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: OutgoingMessage) -> None:
        """MAIL, RCPT and DATA by hand, so a drop after the message went out is told from a refusal."""
        s = self.settings
        where = f"SMTP {s.smtp_host}:{s.smtp_port}"
        mail = to_email(message)
        try:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"{where} unreachable: {type(exc).__name__}: {exc}") from exc
        try:
            try:
                smtp.ehlo_or_helo_if_needed()
                if s.smtp_tls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if s.smtp_user:
                    smtp.login(s.smtp_user, s.smtp_password or "")
                code, reply = smtp.mail(message.sender)
                if code != 250:
                    raise DeliveryError(f"{where} refused MAIL FROM: {code} {reply!r}")
                accepted = 0
                for rcpt in message.to:
                    code, reply = smtp.rcpt(rcpt)
                    accepted += code in (250, 251)
                if not accepted:
                    raise DeliveryError(f"{where} refused every recipient: {code} {reply!r}")
                code, reply = smtp.docmd("DATA")
                if code != 354:
                    raise DeliveryError(f"{where} refused DATA: {code} {reply!r}")
                smtp.send(message_bytes(mail))
            except (OSError, smtplib.SMTPException) as exc:
                raise DeliveryError(f"{where} refused or dropped: {type(exc).__name__}: {exc}") from exc
            try:
                code, reply = smtp.getreply()
            except (OSError, smtplib.SMTPException) as exc:
                raise MaybeSentError(
                    f"{where} took the whole message, then dropped the connection before answering "
                    f"({type(exc).__name__}: {exc}); it may have been delivered"
                ) from exc
            if code != 250:
                raise DeliveryError(f"{where} rejected the message: {code} {reply!r}")
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
