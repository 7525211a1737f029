"""Settings for alert tests: mail to the test's SMTP server, one address per role, fast bounded retries."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from medtower.settings import Settings


class SmtpEndpoint(Protocol):
    host: str
    port: int


def alert_settings_for(data_dir: Path, smtp: SmtpEndpoint, **extra: Any) -> Settings:
    return Settings(
        data_dir=data_dir,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        mail_from="tower@example.test",
        planner_emails=["planner@example.test"],
        qa_emails=["qa@example.test"],
        management_emails=["boss@example.test"],
        app_base_url="http://tower.example.test",
        alert_smtp_retries=2,
        alert_smtp_backoff_seconds=0.01,
        **extra,
    )
