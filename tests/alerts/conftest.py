"""A real SMTP server on 127.0.0.1 (aiosmtpd) that records messages and can be told to misbehave.

Faults, each what a real relay does: refuse the message (``refuse_with``), take the whole message and
drop the connection before answering (``drop_after_data``), or see the sending process killed the moment
the message arrived (``kill_on_data``: a pid that gets SIGKILL before the server answers).
"""

from __future__ import annotations

import email
import email.policy
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from medtower.settings import Settings
from tests.alerts.support import alert_settings_for
from tests.served_app import free_port


@dataclass
class RecordingHandler:
    messages: list[EmailMessage] = field(default_factory=list)
    refuse_with: str | None = None  # e.g. "451 4.3.0 try again later"
    refused: int = 0
    drop_after_data: bool = False
    kill_on_data: int | None = None
    dropped: int = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.refuse_with:
            self.refused += 1
            return self.refuse_with
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(msg)  # type: ignore[arg-type]
        if self.kill_on_data is not None:
            os.kill(self.kill_on_data, signal.SIGKILL)
        if self.drop_after_data:
            # The message is queued here; the client never hears so.
            self.dropped += 1
            server.transport.abort()
        return "250 OK"


@dataclass
class SmtpServer:
    handler: RecordingHandler
    host: str
    port: int

    @staticmethod
    def text(msg: EmailMessage) -> str:
        part = msg.get_body(preferencelist=("plain",))
        assert part is not None, "the email has no plain-text part"
        return part.get_content()

    @staticmethod
    def html(msg: EmailMessage) -> str:
        part = msg.get_body(preferencelist=("html",))
        assert part is not None, "the email has no HTML part"
        return part.get_content()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(handler, "127.0.0.1", port)
    finally:
        controller.stop()


@pytest.fixture
def alert_settings(tmp_path: Path, smtp_server: SmtpServer) -> Settings:
    return alert_settings_for(tmp_path / "data", smtp_server)
