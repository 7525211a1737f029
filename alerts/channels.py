"""Where notifications go. One small interface; SMTP is the real channel, tests add their own."""

from __future__ import annotations

import email.policy
import smtplib
import ssl
from email.message import EmailMessage
from typing import Protocol

from alerts.message import OutgoingMessage
from medtower.settings import Settings


class DeliveryError(RuntimeError):
    """The channel could not deliver; the outbox keeps the message pending."""


class Channel(Protocol):
    name: str

    def send(self, message: OutgoingMessage) -> None:
        """Deliver or raise DeliveryError."""


def to_email(message: OutgoingMessage) -> EmailMessage:
    """Bodies quoted-printable at 76 columns (7-bit safe for any relay); headers folded at RFC 5322's 998.

    At the default 78, Python folds a subject starting with "[" right after "Subject:", and clients read it
    back with a leading space.
    """
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["Subject"] = message.subject
    mail["From"] = message.sender
    mail["To"] = ", ".join(message.to)
    mail.set_content(message.text, cte="quoted-printable")
    mail.add_alternative(message.html, subtype="html", cte="quoted-printable")
    mail.policy = email.policy.SMTP.clone(max_line_length=998)
    return mail


class SmtpChannel:
    name = "email"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: OutgoingMessage) -> None:
        s = self.settings
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds) as smtp:
                if s.smtp_tls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_user:
                    smtp.login(s.smtp_user, s.smtp_password or "")
                smtp.send_message(to_email(message))
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(
                f"SMTP {s.smtp_host}:{s.smtp_port} refused or unreachable: {type(exc).__name__}: {exc}"
            ) from exc
