"""One digest per recipient and evaluation: its order, subject, compact plans, and who gets it when.

Expected texts are written out by hand from the items below, not produced by the code under test.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from alerts import outbox
from alerts.engine import evaluate
from alerts.message import DigestItem, build_digest, compact_plan, digest_subject
from alerts.rules import parse_rule
from medtower.settings import Settings
from tests.alerts.support import alert_settings_for, shortage_rule, shortage_warehouse

if TYPE_CHECKING:
    from conftest import SmtpServer

AS_OF = dt.date(2026, 12, 1)
T0 = dt.datetime(2026, 12, 1, 6, 0)


def _item(
    key: str,
    reason: str,
    severity: str,
    title: str,
    plan: tuple[str, ...] = (),
    extra: dict | None = None,
) -> DigestItem:
    return DigestItem(
        item_key=f"{key}|{reason}",
        alert_key=key,
        rule_id=key.split(":")[0],
        reason=reason,
        severity=severity,
        title=title,
        roles=("planner",),
        plan_lines=plan,
        extra=extra or {},
    )


GALWAY = {"name": "Galway", "timezone": "Europe/Dublin"}


def _shortage(qty: float, need: str, site: dict | None = GALWAY) -> dict:
    """The facts the engine keeps for a material_shortage alert (labels, details, the site)."""
    return {
        "labels": {"material_id": "CMP-30009", "site_id": "SITE-GAL"},
        "details": {
            "need_date": need,
            "shortage_qty": qty,
            "uom": "EA",
            "lead_time_days": 42,
            "work_orders_short": 65,
            "customer_orders_hit": 152,
            "material_description": "Introducer needle 21G",
        },
        "site": site or {},
    }


def test_digest_lists_most_severe_first_with_links_and_compact_plans() -> None:
    items = [
        _item("r:k=low1", "resolved", "low", "Old low alert gone"),
        _item("r:k=high1", "reminder", "high", "High still open", ("must not show",)),
        _item(
            "material_shortage:material_id=CMP-30009,site_id=SITE-GAL",
            "opened",
            "critical",
            "raw title, not shown",
            ("QA: 8 blocked lots (18,353 EA)",),
            _shortage(34565.0, "2026-12-02"),
        ),
        _item("r:k=high2", "opened", "high", "High new", ("Expedite PO-7 line 1",)),
        _item("r:k=med1", "severity_raised", "medium", "Medium raised", ("Use SUB-1 (5 EA)",)),
    ]
    message = build_digest(
        items, recipient="p@x.test", as_of=AS_OF, base_url="http://t.test/", sender="tower@x.test"
    )
    # The critical shortage leads: severity, what (34,565 EA, no decimals), where (the site's name, not
    # SITE-GAL), when (2 Dec, the year of the digest left out); the four others counted, resolved apart.
    assert message.subject == (
        "CRITICAL: CMP-30009 short 34,565 EA at Galway from 2 Dec, and 4 more (2 high, 1 medium, 1 resolved)"
    )
    assert message.to == ("p@x.test",)
    lines = [line for line in message.text.splitlines() if line.startswith("[")]
    assert lines == [
        "[CRITICAL] opened: CMP-30009 short 34,565 EA at Galway from 2 Dec 2026",
        "[HIGH] opened: High new",
        "[HIGH] reminder: still open, not acknowledged: High still open",
        "[MEDIUM] severity raised: Medium raised",
        "[LOW] resolved: Old low alert gone",
    ]
    text = message.text
    assert text.startswith("MedTower alerts for 1 Dec 2026: 5 change(s), most severe first.\n")
    assert (
        "[CRITICAL] opened: CMP-30009 short 34,565 EA at Galway from 2 Dec 2026\n"
        "  Introducer needle 21G; inside its 42-day lead time; 65 work order(s) and 152 customer order "
        "line(s) short\n"
        "  Open it: http://t.test/alerts?alert=material_shortage%3Amaterial_id%3DCMP-30009%2Csite_id%3DSITE-GAL\n"
        "  - QA: 8 blocked lots (18,353 EA)\n"
    ) in text
    assert "[HIGH] opened: High new\n  Open it: http://t.test/alerts?alert=r%3Ak%3Dhigh2\n" in text
    assert "  - Use SUB-1 (5 EA)\n" in text
    assert "must not show" not in text  # a reminder carries no plan
    assert "raw title" not in text and "SITE-GAL from" not in text and "34565" not in text
    assert text.index("Resolved (the condition no longer holds):") < text.index("[LOW] resolved")
    page = message.html
    assert '<a href="http://t.test/alerts?alert=r%3Ak%3Dhigh2">High new</a>' in page
    assert ">CMP-30009 short 34,565 EA at Galway from 2 Dec 2026</a>" in page
    assert "Introducer needle 21G; inside its 42-day lead time" in page
    assert "<li>QA: 8 blocked lots (18,353 EA)</li>" in page


def test_subject_formats_each_rule_in_words_and_local_dates() -> None:
    """One item per shipped rule, as the engine keeps it; the subject of a one-alert digest."""

    def subject(item: DigestItem) -> str:
        return digest_subject([item], AS_OF)

    # Another year keeps its year; a quantity with decimals keeps them; no site name: the site id.
    next_year = _item("material_shortage:x", "opened", "high", "t", extra=_shortage(12.5, "2027-01-04", None))
    assert subject(next_year) == "HIGH: CMP-30009 short 12.5 EA at SITE-GAL from 4 Jan 2027"
    expiring = {
        "labels": {"lot_id": "LOT-1", "material_id": "CMP-30018", "site_id": "SITE-GAL"},
        "details": {"expiry_date": "2026-12-21", "days_to_expiry": 20, "on_hand_qty": 2.5},
        "site": GALWAY,
    }
    assert subject(_item("expiring_lots:x", "reminder", "high", "t", extra=expiring)) == (
        "HIGH reminder: Lot LOT-1 of CMP-30018 at Galway expires 21 Dec"
    )
    quality = {
        "labels": {"material_id": "SB-40001", "site_id": "SITE-GAL", "lot_id": "LOT-7"},
        "details": {
            "reasons": "failed incoming inspection INS-1; open critical NCR NCR-9 (SEAL-WEAK)",
            "first_event_date": "2026-11-26",
            "material_description": "Tyvek pouch",
        },
        "site": GALWAY,
    }
    assert subject(_item("quality_exception:x", "opened", "critical", "t", extra=quality)) == (
        "CRITICAL: Lot LOT-7 of SB-40001 at Galway: "
        "failed incoming inspection and open critical NCR since 26 Nov"
    )
    kpi = {
        "labels": {"kpi_id": "otif_rate", "site_id": "SITE-GAL"},
        "details": {"kpi": "Customer OTIF", "value": 0.9114, "target": 0.95, "period_days": 30},
        "site": GALWAY,
    }
    # 0.9114 is 91.1 % (one decimal), the target 95.0 %.
    assert subject(_item("kpi_below_target:x", "severity_raised", "high", "t", extra=kpi)) == (
        "HIGH raised: Customer OTIF at Galway is 91.1 % against target 95.0 %"
    )
    fresh = {
        "labels": {"entity": "orders"},
        "details": {"last_loaded_at": "2026-11-29T08:05:59.123456", "hours_since_load": 57.9},
        "site": {},
    }
    # No site: UTC; the microseconds and seconds are not shown; 57.9 h rounds to 58.
    assert subject(_item("data_freshness:x", "opened", "medium", "t", extra=fresh)) == (
        "MEDIUM: orders not loaded since 29 Nov 2026 08:05 UTC (58 h ago)"
    )
    # A time in a site's zone: 08:05 UTC is 16:05 in Shanghai (UTC+8).
    from alerts.message import fmt_time

    assert fmt_time("2026-11-29T08:05:59.123456", "Asia/Shanghai") == "29 Nov 2026 16:05 CST"
    # An older outbox item without facts, or a rule the digest does not know: the rule's own summary.
    assert subject(_item("dbt_tests_failing:x", "opened", "medium", "dbt test t: fail")) == (
        "MEDIUM: dbt test t: fail"
    )


def test_subject_with_only_resolved_alerts() -> None:
    items = [_item("r:k=1", "resolved", "high", "a"), _item("r:k=2", "resolved", "low", "b")]
    assert digest_subject(items, AS_OF) == "Resolved: a, and 1 more (1 resolved)"


def test_plan_tables_leave_out_empty_columns_and_name_them_in_words() -> None:
    from alerts.message import render_plan_html, render_plan_text

    plan = {
        "sections": [
            {
                "title": "Lots",
                "lines": [],
                "rows": [
                    {"lot_id": "L1", "expiry_date": None, "qty": 2.5},
                    {"lot_id": "L2", "expiry_date": None, "qty": 3.0},
                ],
            }
        ]
    }
    text = render_plan_text(plan)
    assert text[-3:] == ["  Lot id | Qty", "  L1 | 2.50", "  L2 | 3.00"]
    page = render_plan_html(plan)
    assert "n/a" not in page and "Expiry" not in page and ">Lot id</th>" in page


def test_compact_plan_prefers_the_builders_lines() -> None:
    plan = {
        "summary": "Short 120 EA from 2026-12-05",
        "compact": ["QA: decide lot L1 (40 EA)", "Expedite PO-7 (80 EA due 2026-12-03)"],
        "sections": [{"title": "Potential supply", "lines": ["long text"]}],
    }
    assert compact_plan(plan) == ("QA: decide lot L1 (40 EA)", "Expedite PO-7 (80 EA due 2026-12-03)")
    del plan["compact"]
    plan["sections"].append({"title": "Work orders hit", "lines": [], "rows": [{"wo": 1}], "rows_total": 12})
    assert compact_plan(plan) == (
        "Short 120 EA from 2026-12-05",
        "Potential supply: long text",
        "Work orders hit: 12 row(s), listed on the Alerts page",
    )
    assert compact_plan(None) == ()


def _late_rule():
    """A second rule for the planner and QA, reading the same hand-built mart."""
    return parse_rule(
        {
            "id": "big_shortage",
            "title": "Big shortage",
            "source": "marts.fct_shortages",
            "query": "select material_id, site_id, max(shortage_qty) as qty from marts.fct_shortages "
            "group by all",
            "labels": ["material_id", "site_id"],
            "condition": {"column": "qty", "op": ">=", "threshold": 25},
            "severity": "critical",
            "recipients": ["planner", "qa"],
            "summary": "{material_id} needs {qty} at {site_id}",
        }
    )


def test_an_evaluation_sends_each_recipient_one_email(
    alert_settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    shortage_warehouse(tmp_path / "w.duckdb", AS_OF, [("M-1", "WO-1", 30.0), ("M-2", "WO-2", 5.0)])
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        result = evaluate(
            con,
            alert_settings,
            run_id="r1",
            as_of=AS_OF,
            now=T0,
            rules=[shortage_rule(), _late_rule()],
            plan_builders={},
        )
    # 2 material_shortage (planner) + 1 big_shortage for M-1 only (30 >= 25; planner and QA): 3 changes.
    assert result["notifications_queued"] == 3 and result["sent"] == 2
    by_to = {str(m["To"]): m for m in smtp_server.handler.messages}
    assert len(smtp_server.handler.messages) == 2 and set(by_to) == {
        "planner@example.test",
        "qa@example.test",
    }
    planner = [
        line for line in smtp_server.text(by_to["planner@example.test"]).splitlines() if line[:1] == "["
    ]
    assert planner == [
        "[CRITICAL] opened: M-1 needs 30.0 at S1",  # a rule the digest does not know: its summary
        "[HIGH] opened: M-1 short 30 EA at S1 from 21 Dec 2026",  # no dim_sites here: the site id
        "[HIGH] opened: M-2 short 5 EA at S1 from 21 Dec 2026",
    ]
    assert by_to["planner@example.test"]["Subject"] == "CRITICAL: M-1 needs 30.0 at S1, and 2 more (2 high)"
    assert by_to["qa@example.test"]["Subject"] == "CRITICAL: M-1 needs 30.0 at S1"


def test_an_alert_opened_with_no_recipient_reaches_the_first_one_configured(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    nobody = alert_settings_for(tmp_path / "data", smtp_server, planner_emails=[], qa_emails=[])
    shortage_warehouse(tmp_path / "w.duckdb", AS_OF, [("M-1", "WO-1", 30.0)])
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    run = dict(as_of=AS_OF, rules=[shortage_rule()], plan_builders={})
    first = evaluate(con, nobody, run_id="r1", now=T0, **run)
    assert (first["sent"], first["waiting_for_recipients"]) == (0, 1)
    assert con.execute("select status from alerts.notifications").fetchall() == [("no_recipients",)]
    assert outbox.list_digests(nobody)[0]["status"] == "no_recipients"

    # An hour later (the reminder is 24 h away) a planner is configured: the opened alert reaches them.
    someone = nobody.model_copy(update={"planner_emails": ["new.planner@example.test"]})
    second = evaluate(con, someone, run_id="r2", now=T0 + dt.timedelta(hours=1), **run)
    assert (second["notifications_queued"], second["sent"], second["waiting_for_recipients"]) == (0, 1, 0)
    (msg,) = smtp_server.handler.messages
    assert msg["To"] == "new.planner@example.test"
    assert "[HIGH] opened: M-1 short 30 EA at S1 from 21 Dec 2026" in smtp_server.text(msg)
    assert con.execute("select status from alerts.notifications").fetchall() == [("sent",)]

    # Once only.
    evaluate(con, someone, run_id="r3", now=T0 + dt.timedelta(hours=2), **run)
    assert len(smtp_server.handler.messages) == 1


def test_a_digest_waiting_for_the_server_is_folded_into_the_next_one(
    alert_settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """Two evaluations during an outage, then the server is back: the planner gets one email, not two."""
    path = tmp_path / "w.duckdb"
    shortage_warehouse(path, AS_OF, [("M-1", "WO-1", 30.0)])
    con = duckdb.connect(str(path))
    run = dict(as_of=AS_OF, rules=[shortage_rule()], plan_builders={})
    smtp_server.handler.refuse_with = "451 4.3.0 try later"
    evaluate(con, alert_settings, run_id="r1", now=T0, **run)
    con.execute(
        "insert into marts.fct_shortages select 'M-2', site_id, 'WO-2', need_date, 7, 107, 100, 0, -7, 7, "
        "true, as_of_date from marts.fct_shortages"
    )
    smtp_server.handler.refuse_with = None
    result = evaluate(con, alert_settings, run_id="r2", now=T0 + dt.timedelta(hours=1), **run)
    assert result["sent"] == 1
    (msg,) = smtp_server.handler.messages
    assert msg["Subject"] == "HIGH: M-1 short 30 EA at S1 from 21 Dec, and 1 more (1 high)"
    statuses = sorted(d["status"] for d in outbox.list_digests(alert_settings))
    assert statuses == ["sent"]


def test_a_reminder_still_comes_per_alert_in_the_digest(
    alert_settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """The rule's reminder is 24 h: 23 h later nothing, 25 h later a digest with the one reminder."""
    shortage_warehouse(tmp_path / "w.duckdb", AS_OF, [("M-1", "WO-1", 30.0)])
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    run = dict(as_of=AS_OF, rules=[shortage_rule()], plan_builders={})
    for run_id, hours in (("r1", 0), ("r2", 23), ("r3", 25), ("r4", 26)):
        evaluate(con, alert_settings, run_id=run_id, now=T0 + dt.timedelta(hours=hours), **run)
    subjects = [str(m["Subject"]) for m in smtp_server.handler.messages]
    assert subjects == [
        "HIGH: M-1 short 30 EA at S1 from 21 Dec",
        "HIGH reminder: M-1 short 30 EA at S1 from 21 Dec",
    ]
    assert "[HIGH] reminder: still open, not acknowledged: M-1 short 30 EA at S1" in smtp_server.text(
        smtp_server.handler.messages[1]
    )


def test_an_unsent_email_of_the_old_per_alert_outbox_is_delivered_in_the_digest(
    alert_settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """A warehouse from before the digest: an open alert whose email waited for a recipient."""
    from alerts.state import Instance
    from alerts.store import ensure_schema, save_instance

    shortage_warehouse(tmp_path / "w.duckdb", AS_OF, [("M-1", "WO-1", 30.0)])
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_schema(con)
    key = "material_shortage:material_id=M-1,site_id=S1"
    title = "M-1 short by 30.0 EA at S1 from 2026-12-21 (1 work orders)"
    before = T0 - dt.timedelta(hours=2)
    inst = Instance(
        key, "material_shortage", {"material_id": "M-1", "site_id": "S1"}, "open", "high", title,
        first_seen_at=before, opened_at=before, last_seen_at=before, last_notified_at=before,
        notify_count=1, episode=1,
    )  # fmt: skip
    save_instance(con, inst, before)
    con.execute(
        "insert into alerts.notifications values ('5f0c1d2e3a4b', ?, 'material_shortage', 'opened', 'high', "
        "'email', '[]', '[MedTower HIGH] Material shortage', 'old body', '', ?, 'old-run', 'no_recipients', "
        "0, null, null, null)",
        [key, before],
    )
    result = evaluate(
        con, alert_settings, run_id="r1", as_of=AS_OF, now=T0, rules=[shortage_rule()], plan_builders={}
    )
    assert result["notifications_queued"] == 0 and result["sent"] == 1  # no state change, the old one sent
    (msg,) = smtp_server.handler.messages
    # The old email's alert has no details to format from: its title, as it was stored.
    assert msg["Subject"] == f"HIGH: {title}"
    assert f"[HIGH] opened: {title}" in smtp_server.text(msg)
    assert con.execute("select status from alerts.notifications").fetchall() == [("superseded",)]
    evaluate(con, alert_settings, run_id="r2", as_of=AS_OF, now=T0, rules=[shortage_rule()], plan_builders={})
    assert len(smtp_server.handler.messages) == 1


def test_an_outbox_from_before_the_formatted_digest_takes_the_facts_column(tmp_path: Path) -> None:
    """The items table as it was (no extra): its waiting item keeps its title; a new one keeps its facts."""
    import sqlite3

    settings = Settings(data_dir=tmp_path)
    old = sqlite3.connect(str(outbox.outbox_path(settings)))
    old.execute(
        "create table items (item_key text primary key, alert_key text not null, rule_id text not null, "
        "reason text not null, severity text, title text, roles text, plan_lines text, detail text, "
        "created_at text, run_id text, status text not null)"
    )
    old.execute(
        "insert into items values ('old|1', 'r:k=old', 'r', 'opened', 'high', 'Old title', '[\"planner\"]', "
        "'[]', '', '2026-12-01T05:00:00', 'r0', 'waiting')"
    )
    old.commit()
    old.close()
    new = _item(
        "material_shortage:material_id=CMP-30009,site_id=SITE-GAL",
        "opened",
        "critical",
        "t",
        extra=_shortage(34565.0, "2026-12-02"),
    )
    assert outbox.add_items(settings, [new]) == 1
    made = outbox.compose_digests(
        settings, recipients_for_roles=lambda roles: ["p@x.test"], as_of=AS_OF, run_id="r1", now=T0
    )
    assert made == {"digests": 1, "waiting_for_recipients": 0}
    (digest,) = outbox.list_digests(settings)
    assert digest["subject"] == (
        "CRITICAL: CMP-30009 short 34,565 EA at Galway from 2 Dec, and 1 more (1 high)"
    )
