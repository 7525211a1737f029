"""The scheduler: one run at a time, survives a failing run; the weekly KPI review email goes out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
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


def test_a_failing_run_does_not_stop_the_schedule(tmp_path: Path, caplog) -> None:
    # A run that fails (the drop folder is gone) is logged as an error and returned, not raised.
    settings = Settings(data_dir=tmp_path / "data", drop_dir=tmp_path / "no-such-drop")
    record = scheduler.pipeline_job(settings)
    assert record is not None and record["outcome"] == "failed"
    assert "drop folder" in record["error"] and "scheduled run" in caplog.text
    # A run that raises (the data folder is a file) is caught and logged; the job returns None.
    (tmp_path / "not-a-folder").write_text("x")
    broken = Settings(data_dir=tmp_path / "not-a-folder", drop_dir=tmp_path)
    assert scheduler.pipeline_job(broken) is None
    assert "the next run is still scheduled" in caplog.text


def _kpi_warehouse(settings: Settings, as_of: dt.date) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.warehouse_path))
    con.execute("create schema marts")
    con.execute("create table marts.dim_sites (site_id varchar); insert into marts.dim_sites values ('S1')")
    con.execute(
        "create table marts.fct_kpi_events (kpi_id varchar, site_id varchar, event_date date, "
        "subject_id varchar, numerator decimal(18, 6), denominator decimal(18, 6))"
    )
    con.execute(
        "create table marts.fct_kpi_intervals (kpi_id varchar, site_id varchar, start_date date, "
        "end_date date, category varchar)"
    )
    # OTIF: 9 of 10 lines this week (as_of - 6 .. as_of), 10 of 10 the week before.
    rows = [
        ("otif_rate", "S1", as_of - dt.timedelta(days=i % 7), f"t{i}", 0 if i == 0 else 1, 1)
        for i in range(10)
    ]
    rows += [("otif_rate", "S1", as_of - dt.timedelta(days=7 + i % 7), f"l{i}", 1, 1) for i in range(10)]
    con.executemany("insert into marts.fct_kpi_events values (?, ?, ?, ?, ?, ?)", rows)
    con.execute("insert into marts.fct_kpi_intervals values ('late_wo_count', 'S1', ?, null, null)", [as_of])
    con.close()


def test_weekly_kpi_review_email(tmp_path: Path, smtp_server: SmtpServer) -> None:
    as_of = dt.date(2025, 3, 2)
    settings = Settings(
        data_dir=tmp_path,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        management_emails=["boss@example.test"],
    )
    _kpi_warehouse(settings, as_of)
    assert scheduler.kpi_review_job(settings, as_of=as_of)
    (msg,) = smtp_server.handler.messages
    assert msg["To"] == "boss@example.test" and "2025-03-02" in msg["Subject"]
    text = smtp_server.text(msg)
    # 9 of 10 this week, 10 of 10 the week before (hand-made rows above), as the review page shows them.
    assert "Customer OTIF | 90.0 % | 100.0 % | -10.0 pp vs prev. | 95.0 %" in text
    assert "Late work orders | 1 | 0 | +1 vs prev. | 0" in text  # open at as_of, not a week before
    assert "Supplier on-time delivery | n/a | n/a | no previous value | 95.0 %" in text  # empty: n/a, never 0
    assert "<td>90.0 %</td>" in smtp_server.html(msg)
    assert "http://127.0.0.1:8050/kpi-review?as_of=2025-03-02&amp;period=7" in smtp_server.html(msg)


def test_weekly_kpi_review_without_a_warehouse_is_logged_not_sent(
    tmp_path: Path, smtp_server: SmtpServer, caplog
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        management_emails=["b@x.test"],
    )
    assert scheduler.kpi_review_job(settings, as_of=dt.date(2025, 3, 2)) is False
    assert smtp_server.handler.messages == [] and "could not be computed" in caplog.text
