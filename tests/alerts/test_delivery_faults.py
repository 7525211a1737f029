"""Delivered once, under the faults a probe found: each against a real aiosmtpd server on 127.0.0.1.

Counted on the server side: how many messages the server actually received.

- a server that takes the whole message and drops the connection before answering gets it once
  (maybe sent, visible, never resent in a loop), not alert_smtp_retries times;
- a server that is down and then up gets the digest once, after it comes up;
- a run killed (SIGKILL) the moment its mail reached the server is not resent by the next run,
  although the killed run's warehouse copy, and with it the alert state, was thrown away;
- a run whose mail was recorded sent but whose warehouse copy was discarded does not resend either;
- the weekly KPI review survives an SMTP outage and is sent once.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import duckdb
import pytest
from aiosmtpd.controller import Controller

from alerts import outbox
from alerts.engine import evaluate
from medtower import scheduler
from medtower.settings import Settings
from tests.alerts.conftest import RecordingHandler
from tests.alerts.support import SHORTAGE_RULE_YAML, alert_settings_for, shortage_rule, shortage_warehouse
from tests.served_app import free_port

if TYPE_CHECKING:
    from conftest import SmtpServer

ROOT = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2025, 3, 3)
T0 = dt.datetime(2025, 3, 3, 6, 0)


def _rules():
    return [shortage_rule()]


def _run(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str, hours: float = 0) -> dict:
    return evaluate(
        con,
        settings,
        run_id=run_id,
        as_of=AS_OF,
        now=T0 + dt.timedelta(hours=hours),
        rules=_rules(),
        plan_builders={},
    )


def test_a_drop_after_data_is_maybe_sent_once_not_resent(
    alert_settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    shortage_warehouse(tmp_path / "w.duckdb", AS_OF, [("M-1", "WO-1", 30.0)])
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    smtp_server.handler.drop_after_data = True
    result = _run(con, alert_settings, "r1")
    # Retries are 2 here: a resend loop would have delivered it twice.
    assert alert_settings.alert_smtp_retries == 2
    assert len(smtp_server.handler.messages) == 1 and smtp_server.handler.dropped == 1
    assert (result["sent"], result["pending"], result["maybe_sent"]) == (0, 0, 1)
    assert "1 MAYBE SENT (not resent)" in result["summary"]
    (digest,) = outbox.list_digests(alert_settings)
    assert digest["status"] == "maybe_sent" and "dropped the connection" in digest["last_error"]
    assert digest["message_id"] == smtp_server.handler.messages[0]["Message-ID"]
    status = con.execute("select status from alerts.notifications").fetchall()
    assert status == [("maybe_sent",)]

    # The server behaves again; the same open alert, an hour later: nothing is resent.
    smtp_server.handler.drop_after_data = False
    _run(con, alert_settings, "r2", hours=1)
    assert len(smtp_server.handler.messages) == 1

    # `medtower alerts outbox` shows it to whoever checks.
    out = subprocess.run(
        [sys.executable, "-m", "medtower", "alerts", "outbox"],
        cwd=ROOT,
        env={**os.environ, "MEDTOWER_DATA_DIR": str(alert_settings.data_dir)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("maybe_sent ") and "HIGH: M-1 short 30 EA at S1 from 23 Mar" in out
    assert f"Message-ID {digest['message_id']}" in out
    assert f"`medtower alerts outbox --resend {digest['digest_id']}`" in out

    # Someone checked the inbox: it did not arrive. Resent by hand, once, with the same Message-ID.
    outbox.resend(alert_settings, digest["digest_id"])
    _run(con, alert_settings, "r3", hours=2)
    _run(con, alert_settings, "r4", hours=3)
    first, second = smtp_server.handler.messages
    assert second["Message-ID"] == first["Message-ID"]
    with pytest.raises(ValueError, match="is sent, not maybe_sent"):
        outbox.resend(alert_settings, digest["digest_id"])


def test_a_server_down_then_up_gets_the_digest_once(tmp_path: Path) -> None:
    port = free_port()  # nothing listens here yet
    handler = RecordingHandler()
    settings = alert_settings_for(
        tmp_path / "data", SimpleNamespace(host="127.0.0.1", port=port), smtp_timeout_seconds=2
    )
    shortage_warehouse(tmp_path / "w.duckdb", AS_OF, [("M-1", "WO-1", 30.0), ("M-2", "WO-2", 5.0)])
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    first = _run(con, settings, "r1")
    assert (first["sent"], first["pending"]) == (0, 1)
    (attempt_one, attempt_two) = outbox.attempts(settings)
    assert attempt_one["outcome"] == attempt_two["outcome"] == "failed"
    assert "unreachable" in attempt_one["error"]

    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        second = _run(con, settings, "r2", hours=1)
        third = _run(con, settings, "r3", hours=2)
    finally:
        controller.stop()
    assert (second["sent"], second["pending"], third["sent"]) == (1, 0, 0)
    (msg,) = handler.messages
    # Both shortages (30 EA of M-1, 5 EA of M-2, both high) in the one digest composed at r1.
    assert msg["Subject"] == "HIGH: M-1 short 30 EA at S1 from 23 Mar, and 1 more (1 high)"
    assert msg["Date"] == "Mon, 03 Mar 2025 06:00:00 +0000"
    (digest,) = outbox.list_digests(settings)
    assert digest["message_id"] == msg["Message-ID"] and digest["attempts"] == 3


def _cli_env(settings: Settings, rules_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MEDTOWER_DATA_DIR": str(settings.data_dir),
        "MEDTOWER_SMTP_HOST": settings.smtp_host,
        "MEDTOWER_SMTP_PORT": str(settings.smtp_port),
        "MEDTOWER_PLANNER_EMAILS": "planner@example.test",
        "MEDTOWER_ALERT_RULES_DIR": str(rules_dir),
        "MEDTOWER_ALERT_SMTP_RETRIES": "3",
        "MEDTOWER_ALERT_SMTP_BACKOFF_SECONDS": "0.01",
        "MEDTOWER_SMTP_TIMEOUT_SECONDS": "20",
    }


def test_a_run_killed_after_its_mail_went_out_is_not_resent(
    alert_settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    data = alert_settings.data_dir
    data.mkdir(parents=True)
    shortage_warehouse(data / "warehouse.duckdb", AS_OF, [("M-1", "WO-1", 30.0)])
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "material_shortage.yaml").write_text(SHORTAGE_RULE_YAML, encoding="utf-8")
    command = [sys.executable, "-m", "medtower", "alerts", "run", "--as-of", AS_OF.isoformat()]
    env = _cli_env(alert_settings, rules_dir)

    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    smtp_server.handler.kill_on_data = proc.pid  # SIGKILL the moment the message reaches the server
    proc.communicate(timeout=120)
    assert proc.returncode == -9
    assert len(smtp_server.handler.messages) == 1
    # The killed run never published: the warehouse has no alert state, the next run starts over.
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        schemas = {
            r[0] for r in con.execute("select schema_name from information_schema.schemata").fetchall()
        }
    assert "alerts" not in schemas

    smtp_server.handler.kill_on_data = None
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert len(smtp_server.handler.messages) == 1  # not resent
    assert "0 digest(s) sent" in again.stdout
    (digest,) = outbox.list_digests(alert_settings)
    assert digest["status"] == "maybe_sent" and "stopped before the server's answer" in digest["last_error"]
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        state = con.execute("select state, notify_count from alerts.alert_instances").fetchall()
    assert state == [("open", 1)]


def test_a_discarded_warehouse_copy_does_not_resend_what_was_sent(
    alert_settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """The run mailed and recorded it, then failed before publishing; the next starts from the old copy."""
    published = tmp_path / "published.duckdb"
    shortage_warehouse(published, AS_OF, [("M-1", "WO-1", 30.0)])
    staged = tmp_path / "staged.duckdb"
    shutil.copyfile(published, staged)
    with duckdb.connect(str(staged)) as con:
        assert _run(con, alert_settings, "r1")["sent"] == 1
    staged.unlink()  # the run failed after the send: its copy is discarded
    with duckdb.connect(str(published)) as con:
        result = _run(con, alert_settings, "r2", hours=0.5)
        assert result["notifications_queued"] == 1  # the alert opens again here ...
        assert result["sent"] == 0  # ... but the same change was already sent
        assert con.execute("select status from alerts.notifications").fetchall() == [("sent",)]
    assert len(smtp_server.handler.messages) == 1


def test_the_weekly_review_survives_an_outage_and_is_sent_once(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    from tests.alerts.test_alert_scheduler import _kpi_warehouse

    as_of = dt.date(2025, 3, 2)
    down = Settings(
        data_dir=tmp_path / "data",
        smtp_host="127.0.0.1",
        smtp_port=free_port(),
        management_emails=["boss@example.test"],
        alert_smtp_retries=2,
        alert_smtp_backoff_seconds=0.01,
        smtp_timeout_seconds=2,
    )
    _kpi_warehouse(down, as_of)
    assert scheduler.kpi_review_job(down, as_of=as_of) is False
    (review,) = outbox.list_digests(down)
    assert (review["kind"], review["status"]) == ("kpi_review", "pending")

    # The next pipeline evaluation (here: no rules, an empty warehouse) delivers what the outbox holds.
    up = down.model_copy(update={"smtp_port": smtp_server.port})
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        result = evaluate(con, up, run_id="r1", as_of=as_of, now=T0, rules=[], plan_builders={})
    assert result["sent"] == 1
    (msg,) = smtp_server.handler.messages
    assert msg["Subject"] == "[MedTower] Weekly KPI review, week ending 2025-03-02"
    assert msg["Message-ID"] == review["message_id"]
    # The job for the same week, run again (a restart, a catch-up): sent already, not again.
    assert scheduler.kpi_review_job(up, as_of=as_of) is True
    assert len(smtp_server.handler.messages) == 1
