"""The scheduler: one run at a time, survives a failing run; the weekly KPI review email goes out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from medtower import scheduler
from medtower.settings import Settings

if TYPE_CHECKING:
    from conftest import SmtpServer


def test_jobs_are_single_instance_and_coalesced(tmp_path: Path) -> None:
    s = scheduler.build_scheduler(Settings(data_dir=tmp_path, drop_dir=tmp_path), every_minutes=15)
    jobs = {j.id: j for j in s.get_jobs()}
    assert set(jobs) == {"pipeline", "kpi_review"}
    for job in jobs.values():
        assert (job.max_instances, job.coalesce) == (1, True) and job.misfire_grace_time
    assert jobs["pipeline"].trigger.interval == dt.timedelta(minutes=15)
    assert str(jobs["kpi_review"].trigger.fields[4]) == "mon"  # day_of_week
    with pytest.raises(ValueError, match="MEDTOWER_DROP_DIR"):
        scheduler.build_scheduler(Settings(data_dir=tmp_path), every_minutes=15)


def test_a_failing_run_does_not_stop_the_schedule(tmp_path: Path, monkeypatch, caplog) -> None:
    def boom(settings, drop_dir, **kw):
        raise RuntimeError("disk full")

    monkeypatch.setattr("medtower.pipeline.run_once", boom)
    assert scheduler.pipeline_job(Settings(data_dir=tmp_path, drop_dir=tmp_path)) is None
    assert "disk full" in caplog.text


def test_weekly_kpi_review_email(tmp_path: Path, smtp_server: SmtpServer, monkeypatch) -> None:
    rows = [{"kpi": "otif_rate", "this_week": 0.91, "last_week": 0.95, "target": 0.95, "change": 0.91 - 0.95}]
    monkeypatch.setattr(scheduler, "kpi_review", lambda con, as_of: rows)
    monkeypatch.setattr("medtower.warehouse.connect_readonly", lambda s: _Null())
    settings = Settings(
        data_dir=tmp_path,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        management_emails=["boss@example.test"],
    )
    assert scheduler.kpi_review_job(settings, as_of=dt.date(2025, 3, 2))
    (msg,) = smtp_server.handler.messages
    assert msg["To"] == "boss@example.test" and "2025-03-02" in msg["Subject"]
    text = smtp_server.text(msg)
    assert "otif_rate | 0.910 | 0.950 | -0.040 | 0.950" in text
    assert "<td>0.910</td>" in smtp_server.html(msg)


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
