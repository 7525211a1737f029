"""The scheduler: one run at a time, survives a failing run; the weekly KPI review email goes out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pytest

from medtower import scheduler
from medtower.settings import Settings
from tests.review_tables import review_table

if TYPE_CHECKING:
    from conftest import SmtpServer


def test_jobs_are_single_instance_and_coalesced(tmp_path: Path) -> None:
    s = scheduler.build_scheduler(Settings(data_dir=tmp_path, drop_dir=tmp_path), every_minutes=15)
    jobs = {j.id: j for j in s.get_jobs()}
    assert set(jobs) == {"pipeline", "kpi_review", "watch", "prune"}
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
    con.execute(
        "create table marts.dim_sites (site_id varchar, name varchar); "
        "insert into marts.dim_sites values ('S1', 'Galway')"
    )
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
    text = smtp_server.text(msg).splitlines()
    # The week 2025-02-24 .. 03-02 against 02-17 .. 02-23, all sites (one here), named in both parts.
    assert "KPI review, all sites (S1 · Galway): 2025-02-24 to 2025-03-02 (7 days)" in text
    assert "KPI | This period | Previous | Target | Change | Status" in text
    # 9 of 10 this week, 10 of 10 the week before (hand-made rows above): 90 % is amber (95 % less 10 %
    # of it is 85.5 %); one late work order against a target of 0 (slack 1) is amber too.
    assert "Customer OTIF | 90.0 % | 100.0 % | 95.0 % | -10.0 pp vs prev. | amber" in text
    assert "Late work orders | 1 | 0 | 0 | +1 vs prev. | amber" in text  # open at as_of, not a week before
    # no line due: n/a, never 0, and no colour
    assert "Supplier on-time delivery | n/a | n/a | 95.0 % | no previous value | no value" in text
    table = review_table(smtp_server.html(msg))
    assert table.rows["otif_rate"] == [
        "Customer OTIF",
        "90.0 %",
        "100.0 %",
        "95.0 %",
        "-10.0 pp vs prev.",
        "amber",
    ]
    assert table.colours["otif_rate"][1] == table.colours["otif_rate"][5] == "#b7791f"
    assert table.colours["supplier_otd_rate"] == [None] * 6
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


@pytest.mark.slow
def test_the_weekly_email_carries_the_report_files_table(
    tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The email (HTML and text) and `medtower report` for the same site and week: one table.

    The plant of tests/core/site_plant.py, built by dbt; the week 06-24 .. 06-30 against 06-17 .. 06-23,
    worked out by hand from its docstring:
    - first pass yield: WO4 50 / 50 (06-25) and WO6 90 / 100 (06-29) finish in the week: 140 / 150,
      93.3 %, amber against 97 % (87.3 % to 97 %); nothing finished the week before: n/a;
    - open NCRs at 06-30: NA, NC, ND = 3; at 06-23: NA, NC = 2 (NB closed 06-20, ND opened 06-25);
    - acknowledgment median: PE, ordered 06-26, acknowledged in 3 days; red against 2 (amber to 2.2).
    """
    from medtower.cli import main
    from tests.conftest import build_plant
    from tests.core.site_plant import AS_OF, ROWS

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    build_plant(
        data_dir, ROWS, AS_OF, "+fct_kpi_events", "+fct_kpi_intervals", "+dim_sites", "+fct_shortages"
    )
    settings = Settings(
        data_dir=data_dir,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        management_emails=["plant.manager@example.test"],
    )
    assert scheduler.kpi_review_job(settings, as_of=AS_OF)
    (msg,) = smtp_server.handler.messages
    in_mail = review_table(smtp_server.html(msg))

    monkeypatch.setenv("MEDTOWER_DATA_DIR", str(data_dir))
    out = tmp_path / "review.html"
    assert main(["report", "--as-of", AS_OF.isoformat(), "--period-days", "7", "--out", str(out)]) == 0
    in_file = review_table(out.read_text())

    assert in_mail == in_file  # caption (period, site), header, every cell, status class and colour
    assert (
        in_mail.caption
        == "KPI review, all sites (S1 · Berlin, S2 · Suzhou): 2026-06-24 to 2026-06-30 (7 days)"
    )
    assert in_mail.site == "all sites"
    assert in_mail.header == ["KPI", "This period", "Previous", "Target", "Change", "Status"]
    rows = in_mail.rows
    assert rows["first_pass_yield"] == [
        "First pass yield",
        "93.3 %",
        "n/a",
        "97.0 %",
        "no previous value",
        "amber",
    ]
    assert rows["open_ncr_count"] == [
        "Open nonconformances",
        "3",
        "2",
        "no target",
        "+1 vs prev.",
        "no target",
    ]
    assert rows["supplier_ack_days_p50"][1:] == ["3.0 d", "n/a", "2.0 d", "no previous value", "red"]
    red, amber = "#c62828", "#b7791f"
    assert in_mail.colours["supplier_ack_days_p50"] == [None, red, None, None, None, red]
    assert in_mail.colours["first_pass_yield"][1] == amber
    assert in_mail.classes["open_ncr_count"][1] == "rag-none" and in_mail.colours["open_ncr_count"][1] is None

    # The plain-text part: the same caption and rows, one KPI a line.
    text = smtp_server.text(msg).splitlines()
    assert in_mail.caption in text and " | ".join(in_mail.header) in text
    for kpi_id, cells in rows.items():
        assert " | ".join(cells) in text, kpi_id
    assert len(rows) == len([x for x in text if x.count(" | ") == 5]) - 1  # every KPI once, plus the header
