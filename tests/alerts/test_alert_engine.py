"""Engine, outbox and SMTP delivery on a small hand-made warehouse, against a real SMTP server.

The marts here are typed by hand with the columns of the real ones, so these tests pin the engine's
behaviour (one digest per recipient and evaluation, retries, error states, acks from the web-app store)
without dbt.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pytest

from alerts import outbox
from alerts.engine import evaluate
from alerts.rules import load_rules, parse_rule
from medtower import alert_actions as actions
from medtower.settings import Settings
from tests.alerts.support import shortage_rule

if TYPE_CHECKING:
    from conftest import SmtpServer

AS_OF = dt.date(2025, 3, 3)
T0 = dt.datetime(2025, 3, 3, 6, 0)


def _warehouse(path: Path, shortage_rows: list[tuple]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists marts")
    con.execute(
        "create or replace table marts.dim_materials (material_id varchar, description varchar, uom varchar)"
    )
    con.execute("insert into marts.dim_materials values ('M-100', 'Titanium screw 4mm', 'EA')")
    con.execute(
        """create or replace table marts.fct_shortages (material_id varchar, site_id varchar, wo_id varchar,
           need_date date, qty_outstanding double, cumulative_requirement double, available_on_hand double,
           po_qty_due_by_need_date double, projected_balance double, shortage_qty double, is_short boolean,
           as_of_date date)"""
    )
    if shortage_rows:
        con.executemany(
            "insert into marts.fct_shortages values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", shortage_rows
        )
    return con


def _short(wo: str, need: dt.date, balance: float) -> tuple:
    return ("M-100", "S1", wo, need, 50.0, 150.0, 100.0, 0.0, balance, max(0.0, -balance), balance < 0, AS_OF)


def _shortage_rule():
    return [shortage_rule()]


def _notifications(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        "select alert_key, reason, status, attempts from alerts.notifications order by created_at"
    ).fetchall()


def test_shortage_emails_once_then_resolves(
    alert_settings: Settings, smtp_server: SmtpServer, tmp_path
) -> None:
    rows = [
        _short("WO-1", dt.date(2025, 3, 20), 20.0),
        _short("WO-2", dt.date(2025, 3, 25), -30.0),
        _short("WO-3", dt.date(2025, 3, 28), -80.0),
    ]
    con = _warehouse(tmp_path / "w.duckdb", rows)
    plans = {
        "shortage": lambda c, inst, as_of: {
            "kind": "shortage",
            "summary": "PLAN-MARKER",
            "sections": [
                {"title": "Work orders hit", "lines": [], "rows": [{"wo_id": "WO-2"}, {"wo_id": "WO-3"}]}
            ],
        }
    }
    result = evaluate(
        con, alert_settings, run_id="r1", as_of=AS_OF, now=T0, rules=_shortage_rule(), plan_builders=plans
    )
    assert result["sent"] == 1 and result["pending"] == 0
    assert len(smtp_server.handler.messages) == 1
    msg = smtp_server.handler.messages[0]
    # Independent reading: peak shortage is the most negative balance; first short need date.
    expected_qty = max(-r[8] for r in rows if r[8] < 0)
    first_need = min(r[3] for r in rows if r[8] < 0)
    assert (expected_qty, first_need) == (80.0, dt.date(2025, 3, 25))
    # One alert opened, high (need date 22 days out): the subject says what, where and when.
    assert msg["Subject"] == "HIGH: M-100 short 80 EA at S1 from 25 Mar"
    assert msg["To"] == "planner@example.test" and msg["From"] == "tower@example.test"
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith("@example.test>")
    assert msg["Date"] == "Mon, 03 Mar 2025 06:00:00 +0000"  # the evaluation's time, T0
    body = smtp_server.text(msg).replace("\r\n", "\n")
    # The rule's one-line summary, 2 short work orders (WO-2, WO-3), the 80 EA peak from 2025-03-25.
    assert (
        "[HIGH] opened: M-100 short 80 EA at S1 from 25 Mar 2025\n"
        "  2 work order(s) short\n"  # the test rule selects no description
        "  Open it: http://tower.example.test/alerts?alert="
    ) in body
    # The compact plan: its summary, then one line per section (a rows-only section says how many).
    assert "  - PLAN-MARKER\n  - Work orders hit: 2 row(s), listed on the Alerts page" in body
    assert (
        "http://tower.example.test/alerts?alert=material_shortage%3Amaterial_id%3DM-100%2Csite_id%3DS1"
        in body
    )
    assert "PLAN-MARKER" in smtp_server.html(msg)

    # Same data again: nothing sent, evaluation logged.
    evaluate(
        con,
        alert_settings,
        run_id="r2",
        as_of=AS_OF,
        now=T0 + dt.timedelta(hours=1),
        rules=_shortage_rule(),
        plan_builders=plans,
    )
    assert len(smtp_server.handler.messages) == 1
    assert (
        con.execute("select count(*) from alerts.evaluations where rule_id = 'material_shortage'").fetchone()[
            0
        ]
        == 2
    )

    # Need date within 7 days -> severity rises -> one more email.
    con.execute("update marts.fct_shortages set need_date = date '2025-03-06' where wo_id = 'WO-2'")
    evaluate(
        con,
        alert_settings,
        run_id="r3",
        as_of=AS_OF,
        now=T0 + dt.timedelta(hours=2),
        rules=_shortage_rule(),
        plan_builders=plans,
    )
    assert len(smtp_server.handler.messages) == 2
    raised = smtp_server.handler.messages[1]
    assert raised["Subject"] == "CRITICAL raised: M-100 short 80 EA at S1 from 6 Mar"
    assert "[CRITICAL] severity raised (high -> critical): M-100 short 80 EA" in smtp_server.text(raised)
    assert raised["Message-ID"] != msg["Message-ID"]

    # The shortage disappears from the mart: the alert resolves, and the planner who was told it opened
    # gets a digest saying so (without a plan).
    con.execute("update marts.fct_shortages set is_short = false, shortage_qty = 0")
    evaluate(
        con,
        alert_settings,
        run_id="r4",
        as_of=AS_OF,
        now=T0 + dt.timedelta(hours=3),
        rules=_shortage_rule(),
        plan_builders=plans,
    )
    state = con.execute(
        "select state, resolved_by from alerts.alert_instances where rule_id = 'material_shortage'"
    ).fetchone()
    assert state == ("resolved", "system")
    assert len(smtp_server.handler.messages) == 3
    done = smtp_server.handler.messages[2]
    assert done["Subject"] == "Resolved: M-100 short 80 EA at S1 from 6 Mar"  # what it was
    assert "[CRITICAL] resolved (condition no longer holds): M-100" in smtp_server.text(done)
    assert "PLAN-MARKER" not in smtp_server.text(done)
    events = [
        r[0]
        for r in con.execute(
            "select event from alerts.alert_events where rule_id = 'material_shortage' order by rowid"
        ).fetchall()
    ]
    assert events == ["seen", "opened", "severity_raised", "resolved"]


def test_refusing_server_loses_nothing(alert_settings: Settings, smtp_server: SmtpServer, tmp_path) -> None:
    con = _warehouse(tmp_path / "w.duckdb", [_short("WO-1", dt.date(2025, 3, 20), -10.0)])
    smtp_server.handler.refuse_with = "451 4.3.0 mailbox busy, try later"
    result = evaluate(
        con, alert_settings, run_id="r1", as_of=AS_OF, now=T0, rules=_shortage_rule(), plan_builders={}
    )
    assert result["sent"] == 0 and result["pending"] == 1
    # Bounded: exactly alert_smtp_retries attempts, each recorded with the server's answer.
    attempts = [(a["outcome"], a["error"]) for a in outbox.attempts(alert_settings)]
    assert [a[0] for a in attempts] == ["failed"] * alert_settings.alert_smtp_retries
    assert "451" in attempts[0][1]
    assert smtp_server.handler.refused == alert_settings.alert_smtp_retries
    assert _notifications(con)[0][2] == "pending"

    smtp_server.handler.refuse_with = None
    result = evaluate(
        con,
        alert_settings,
        run_id="r2",
        as_of=AS_OF,
        now=T0 + dt.timedelta(minutes=10),
        rules=_shortage_rule(),
        plan_builders={},
    )
    assert result["sent"] == 1
    assert len(smtp_server.handler.messages) == 1  # the original opened alert, delivered once
    assert _notifications(con) == [
        (
            "material_shortage:material_id=M-100,site_id=S1",
            "opened",
            "sent",
            alert_settings.alert_smtp_retries + 1,
        )
    ]


def test_stopped_server_then_recovery(tmp_path, smtp_server: SmtpServer) -> None:
    settings = Settings(
        data_dir=tmp_path / "d",
        smtp_host="127.0.0.1",
        smtp_port=1,
        alert_smtp_retries=2,
        alert_smtp_backoff_seconds=0.01,
        planner_emails=["p@example.test"],
        smtp_timeout_seconds=2,
    )
    con = _warehouse(tmp_path / "w.duckdb", [_short("WO-1", dt.date(2025, 3, 20), -10.0)])
    result = evaluate(
        con, settings, run_id="r1", as_of=AS_OF, now=T0, rules=_shortage_rule(), plan_builders={}
    )
    assert result["pending"] == 1
    settings = settings.model_copy(update={"smtp_port": smtp_server.port})
    result = evaluate(
        con, settings, run_id="r2", as_of=AS_OF, now=T0, rules=_shortage_rule(), plan_builders={}
    )
    assert result["sent"] == 1 and len(smtp_server.handler.messages) == 1


def test_failing_rule_is_an_error_state_not_a_pass(alert_settings: Settings, smtp_server, tmp_path) -> None:
    con = _warehouse(tmp_path / "w.duckdb", [_short("WO-1", dt.date(2025, 3, 20), -10.0)])
    evaluate(con, alert_settings, run_id="r1", as_of=AS_OF, now=T0, rules=_shortage_rule(), plan_builders={})
    broken = parse_rule(
        {
            "id": "material_shortage",
            "title": "Material shortage",
            "source": "marts.fct_shortages",
            "query": "select * from marts.no_such_mart",
            "labels": ["material_id", "site_id"],
            "condition": {"column": "shortage_qty", "op": ">", "threshold": 0},
            "severity": "high",
            "recipients": ["planner"],
        }
    )
    result = evaluate(
        con,
        alert_settings,
        run_id="r2",
        as_of=AS_OF,
        now=T0 + dt.timedelta(hours=1),
        rules=[broken],
        plan_builders={},
    )
    assert result["failing_rules"] == ["material_shortage"]
    err = con.execute("select rule_id, error from alerts.rule_errors").fetchall()
    assert err[0][0] == "material_shortage" and "no_such_mart" in err[0][1]
    ev = con.execute("select status from alerts.evaluations where run_id = 'r2'").fetchone()
    assert ev == ("error",)
    # The shortage alert is NOT resolved by a failing query; the failure is an alert of its own.
    states = dict(con.execute("select alert_key, state from alerts.alert_instances").fetchall())
    assert states["material_shortage:material_id=M-100,site_id=S1"] == "open"
    assert states["rule_error:rule_id=material_shortage"] == "open"
    # The second digest carries the rule_error alert (high), titled with the failing rule and its error.
    last = smtp_server.handler.messages[-1]
    assert last["Subject"].startswith("HIGH: Alert rule material_shortage failed: CatalogException:")
    assert "\n" not in last["Subject"] and len(last["Subject"]) <= len("HIGH: ") + 120
    assert "[HIGH] opened: Alert rule material_shortage failed: " in smtp_server.text(last)


def test_null_values_are_explicit(alert_settings: Settings, smtp_server, tmp_path) -> None:
    con = _warehouse(tmp_path / "w.duckdb", [])
    con.execute(
        "insert into marts.fct_shortages values ('M-100', 'S1', 'WO-9', date '2025-03-20', "
        "1, 1, 0, 0, null, null, true, date '2025-03-03')"
    )
    result = evaluate(
        con, alert_settings, run_id="r1", as_of=AS_OF, now=T0, rules=_shortage_rule(), plan_builders={}
    )
    row = result["rules"][0]
    assert row["status"] == "error" and row["null_rows"] == 1 and "NULL" in row["error"]
    # Empty result: logged as zero rows, ok.
    con.execute("delete from marts.fct_shortages")
    result = evaluate(
        con, alert_settings, run_id="r2", as_of=AS_OF, now=T0, rules=_shortage_rule(), plan_builders={}
    )
    assert (result["rules"][0]["status"], result["rules"][0]["rows_returned"]) == ("ok", 0)


def test_web_app_ack_is_merged_with_who_and_when(alert_settings: Settings, smtp_server, tmp_path) -> None:
    con = _warehouse(tmp_path / "w.duckdb", [_short("WO-1", dt.date(2025, 3, 20), -10.0)])
    evaluate(con, alert_settings, run_id="r1", as_of=AS_OF, now=T0, rules=_shortage_rule(), plan_builders={})
    key = "material_shortage:material_id=M-100,site_id=S1"
    at = dt.datetime(2025, 3, 3, 7, 15)
    actions.record_action(alert_settings, key, "ack", "Dana Planner", at=at)
    assert actions.latest_by_key(actions.read_actions(alert_settings))[key]["actor"] == "Dana Planner"
    # Two evaluations after the ack: merged once, no reminder even past 24 h.
    for hours in (1, 30):
        evaluate(
            con,
            alert_settings,
            run_id=f"r{hours}",
            as_of=AS_OF,
            now=T0 + dt.timedelta(hours=hours),
            rules=_shortage_rule(),
            plan_builders={},
        )
    inst = con.execute(
        "select state, acknowledged_by, acknowledged_at from alerts.alert_instances where alert_key = ?",
        [key],
    ).fetchone()
    assert inst == ("acknowledged", "Dana Planner", at)
    assert con.execute("select count(*) from alerts.applied_actions").fetchone()[0] == 1
    assert len(smtp_server.handler.messages) == 1

    with pytest.raises(ValueError, match="--by NAME"):
        actions.record_action(alert_settings, key, "resolve", "  ")


def test_decimal_columns_compare_as_numbers(alert_settings: Settings, smtp_server, tmp_path) -> None:
    """NUMERIC marts (PostgreSQL, DuckDB decimals) give Decimal values: the condition must compare numbers."""
    con = _warehouse(tmp_path / "w.duckdb", [])
    con.execute(
        "alter table marts.fct_shortages alter shortage_qty type decimal(18, 6);"
        "alter table marts.fct_shortages alter projected_balance type decimal(18, 6)"
    )
    con.execute(
        "insert into marts.fct_shortages values ('M-100', 'S1', 'WO-1', date '2025-03-20', 50, 150, 100, 0, "
        "-12.5, 12.5, true, date '2025-03-03'), ('M-100', 'S2', 'WO-2', date '2025-03-21', 50, 150, 100, 0, "
        "-40, 40, true, date '2025-03-03')"
    )
    result = evaluate(
        con, alert_settings, run_id="r1", as_of=AS_OF, now=T0, rules=_shortage_rule(), plan_builders={}
    )
    assert result["failing_rules"] == []
    assert result["rules"][0]["firing"] == 2
    details = dict(
        con.execute(
            "select labels->>'site_id', details->'shortage_qty' from alerts.alert_instances "
            "where rule_id = 'material_shortage'"
        ).fetchall()
    )
    # Stored as JSON numbers (12.5 and the integral 40), not as the strings '12.500000' / '40.000000'.
    assert details == {"S1": "12.5", "S2": "40"}


def _kpi_marts(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute(
        "create table marts.dim_sites (site_id varchar); insert into marts.dim_sites values ('S1'), ('S2')"
    )
    con.execute(
        "create table marts.fct_kpi_events (kpi_id varchar, site_id varchar, event_date date, "
        "subject_id varchar,"
        " numerator decimal(18, 6), denominator decimal(18, 6))"
    )
    con.execute(
        "create table marts.fct_kpi_intervals (kpi_id varchar, site_id varchar, start_date date, "
        "end_date date,"
        " category varchar)"
    )
    rows = []
    # S1: OTIF 9 of 10 on time (0.9 < 0.95); 1 of 10 incoming lots rejected (0.1 > 0.02). S2: all good.
    for i in range(10):
        day = AS_OF - dt.timedelta(days=i)
        rows += [
            ("otif_rate", "S1", day, f"a{i}", 0 if i == 0 else 1, 1),
            ("otif_rate", "S2", day, f"b{i}", 1, 1),
            ("incoming_lot_reject_rate", "S1", day, f"c{i}", 1 if i == 0 else 0, 1),
            ("incoming_lot_reject_rate", "S2", day, f"d{i}", 0, 1),
        ]
    con.executemany("insert into marts.fct_kpi_events values (?, ?, ?, ?, ?, ?)", rows)
    return con


def test_kpi_rule_reads_the_catalog_and_fires_on_the_bad_side(
    alert_settings: Settings, smtp_server: SmtpServer, tmp_path
) -> None:
    from alerts.engine import kpi_targets
    from medtower.kpis import CATALOG, KPIS

    assert kpi_targets() == {k.id: k.target for k in CATALOG if k.target is not None}
    (shipped,) = [r for r in load_rules() if r.id == "kpi_below_target"]
    assert all(k in KPIS and KPIS[k].target is not None and KPIS[k].higher_is_better for k in shipped.kpis)
    from dataclasses import replace

    rule = replace(shipped, kpis=("otif_rate", "incoming_lot_reject_rate", "supplier_otd_rate"))
    con = _kpi_marts(tmp_path / "w.duckdb")
    result = evaluate(con, alert_settings, run_id="r1", as_of=AS_OF, now=T0, rules=[rule], plan_builders={})
    assert result["failing_rules"] == []
    got = dict(
        con.execute(
            "select alert_key, severity from alerts.alert_instances where rule_id = 'kpi_below_target'"
        ).fetchall()
    )
    # OTIF 0.9 is 0.05 under 0.95: medium. Reject rate 0.1 is 0.08 over its 0.02 ceiling: medium.
    # S2 meets both; supplier OTD has no events (null): neither alerted nor an error.
    assert got == {
        "kpi_below_target:kpi_id=otif_rate,site_id=S1": "medium",
        "kpi_below_target:kpi_id=incoming_lot_reject_rate,site_id=S1": "medium",
    }
    assert result["rules"][0]["null_rows"] == 2
    # The rule mails management and planner: each gets one digest with both KPI alerts of S1.
    by_to = {str(m["To"]): m for m in smtp_server.handler.messages}
    assert len(smtp_server.handler.messages) == 2
    assert set(by_to) == {"boss@example.test", "planner@example.test"}
    for digest in by_to.values():
        # Both medium; the reject rate leads (same severity and reason: by key, incoming_... < otif_...).
        assert digest["Subject"] == (
            "MEDIUM: Incoming lot reject rate at S1 is 10.0 % against target 2.0 %, and 1 more (1 medium)"
        )
        assert "Customer OTIF at S1 is 90.0 % against target 95.0 %" in smtp_server.text(digest)
        assert "over the 30 days to 3 Mar 2025" in smtp_server.text(digest)

    bad = replace(shipped, kpis=("otif_rate", "no_such_kpi"))
    result = evaluate(con, alert_settings, run_id="r2", as_of=AS_OF, now=T0, rules=[bad], plan_builders={})
    assert result["failing_rules"] == ["kpi_below_target"]
    assert "no_such_kpi" in result["rules"][0]["error"] and "KPI catalog" in result["rules"][0]["error"]


def test_rule_health_lists_a_failing_rule_first_with_its_error(
    alert_settings: Settings, smtp_server, tmp_path
) -> None:
    """What the data-health page's "Alert rules" section shows."""
    from medtower.alert_queries import rule_health, rule_health_summary

    con = _warehouse(tmp_path / "w.duckdb", [_short("WO-1", dt.date(2025, 3, 20), -10.0)])
    assert rule_health(con) == []  # no alerts schema yet: nothing to show, no crash
    broken = parse_rule(
        {
            "id": "zz_broken",
            "title": "Broken",
            "source": "marts.gone",
            "query": "select * from marts.gone",
            "labels": ["material_id"],
            "condition": {"column": "qty", "op": ">", "threshold": 0},
            "severity": "high",
            "recipients": ["planner"],
        }
    )
    rules = [*_shortage_rule(), broken]
    evaluate(con, alert_settings, run_id="r1", as_of=AS_OF, now=T0, rules=rules, plan_builders={})
    evaluate(
        con,
        alert_settings,
        run_id="r2",
        as_of=AS_OF,
        now=T0 + dt.timedelta(hours=1),
        rules=rules,
        plan_builders={},
    )
    rows = rule_health(con)
    # One row per rule (the latest run), the failing one first although it sorts last by name.
    assert [(r["rule_id"], r["status"], r["run_id"]) for r in rows] == [
        ("zz_broken", "error", "r2"),
        ("material_shortage", "ok", "r2"),
    ]
    assert "marts.gone" in rows[0]["error"] or "gone" in rows[0]["error"]
    assert rows[1]["firing"] == 1 and rows[1]["error"] is None
    assert rule_health_summary(rows).startswith("1 of 2 rules FAILING: zz_broken")
    assert rule_health_summary(rows[1:]) == "all 1 rules evaluated without error"

    # The broken rule is taken out of the rules folder: its error alert resolves, the page forgets it.
    key = "rule_error:rule_id=zz_broken"
    assert con.execute("select state from alerts.alert_instances where alert_key = ?", [key]).fetchone() == (
        "open",
    )
    result = evaluate(
        con,
        alert_settings,
        run_id="r3",
        as_of=AS_OF,
        now=T0 + dt.timedelta(hours=2),
        rules=_shortage_rule(),
        plan_builders={},
    )
    assert result["retired"] == 1
    assert con.execute(
        "select state, resolved_by from alerts.alert_instances where alert_key = ?", [key]
    ).fetchone() == ("resolved", "system")
    assert [(r["rule_id"], r["status"]) for r in rule_health(con)] == [("material_shortage", "ok")]
    shortage = "material_shortage:material_id=M-100,site_id=S1"
    assert con.execute(
        "select state from alerts.alert_instances where alert_key = ?", [shortage]
    ).fetchone() == ("open",)


def test_plans_are_computed_only_for_new_changed_and_reopened_alerts(
    alert_settings: Settings, tmp_path
) -> None:
    """Two shortages, each planned by a builder that notes which alerts it was asked for.

    r1 both are new: 2 computed. r2 nothing changed: none computed, 2 kept, plans as stored. r3 M-200's
    shortage grows (30 -> 45): only M-200. r4 M-100 is gone: resolved, no plan (it keeps its last one). r5
    M-100 is short again with r1's very row: a reopened alert gets a new plan all the same.
    """
    m100 = _short("WO-1", dt.date(2025, 3, 20), -30.0)
    m200 = ("M-200", *_short("WO-2", dt.date(2025, 3, 21), -30.0)[1:])
    con = _warehouse(tmp_path / "w.duckdb", [m100, m200])
    asked: list[list[str]] = []

    def plan(c, inst, as_of):
        asked[-1].append(inst.labels["material_id"])
        return {"kind": "shortage", "summary": f"{inst.labels['material_id']} {inst.value}", "sections": []}

    def run(run_id: str, hours: int, rows: list[tuple]) -> tuple[list[str], tuple]:
        con.execute("delete from marts.fct_shortages")
        con.executemany("insert into marts.fct_shortages values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        asked.append([])
        now = T0 + dt.timedelta(hours=hours)
        evaluate(
            con, alert_settings, run_id=run_id, as_of=AS_OF, now=now, rules=_shortage_rule(),
            plan_builders={"shortage": plan}, deliver=False,
        )  # fmt: skip
        counts = con.execute(
            "select plans_computed, plans_kept from alerts.evaluations where run_id = ? "
            "and rule_id = 'material_shortage'",
            [run_id],
        ).fetchone()
        return sorted(asked[-1]), tuple(counts or ())

    def stored() -> dict[str, tuple]:
        return {
            k.split("=")[1].split(",")[0]: (state, plan)
            for k, state, plan in con.execute(
                "select alert_key, state, plan::varchar from alerts.alert_instances"
            ).fetchall()
        }

    assert run("r1", 0, [m100, m200]) == (["M-100", "M-200"], (2, 0))
    first = stored()
    assert json.loads(first["M-200"][1])["summary"] == "M-200 30.0"
    assert run("r2", 1, [m100, m200]) == ([], (0, 2))
    assert stored() == first
    grown = (*m200[:8], -45.0, 45.0, True, AS_OF)
    assert run("r3", 2, [m100, grown]) == (["M-200"], (1, 1))
    assert json.loads(stored()["M-200"][1])["summary"] == "M-200 45.0"
    assert stored()["M-100"] == first["M-100"]
    assert run("r4", 3, [grown]) == ([], (0, 1))
    assert stored()["M-100"] == ("resolved", first["M-100"][1])
    assert run("r5", 4, [m100, grown]) == (["M-100"], (1, 1))
    assert stored()["M-100"][0] == "open"


def test_a_plan_that_failed_is_computed_again(alert_settings: Settings, tmp_path) -> None:
    """The plan builder fails at r1 (a mart missing, say): the alert stands with an error plan, and r2, on
    the same row, plans it again (now it works); r3 keeps that plan."""
    con = _warehouse(tmp_path / "w.duckdb", [_short("WO-1", dt.date(2025, 3, 20), -30.0)])
    calls: list[int] = []

    def plan(c, inst, as_of):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("marts.fct_projected_balance is missing")
        return {"kind": "shortage", "summary": "works now", "sections": []}

    results = []
    for n in range(3):
        now = T0 + dt.timedelta(hours=n)
        evaluate(
            con, alert_settings, run_id=f"r{n}", as_of=AS_OF, now=now, rules=_shortage_rule(),
            plan_builders={"shortage": plan}, deliver=False,
        )  # fmt: skip
        stored = con.execute("select plan::varchar from alerts.alert_instances").fetchone()
        counts = con.execute(
            "select plans_computed, plans_kept from alerts.evaluations where run_id = ?", [f"r{n}"]
        ).fetchone()
        results.append((json.loads(stored[0] if stored else "{}").get("summary"), counts))
    assert results == [
        ("The emergency plan could not be computed: marts.fct_projected_balance is missing", (1, 0)),
        ("works now", (1, 0)),
        ("works now", (0, 1)),
    ]


def test_a_new_build_plans_every_alert_again(alert_settings: Settings, tmp_path) -> None:
    """A plan reads more than its rule's row: after a dbt build (a new run in meta.dbt_results) the same row
    is planned again, so a shipment or PO that changed in the marts reaches the plan; with no build between,
    the stored plan stands.

    r1: no build on record, planned (1 computed). r2: same row, no build: kept. r3: build b1 recorded: the
    same row planned again. r4: still b1: kept. r5: build b2: planned again.
    """
    con = _warehouse(tmp_path / "w.duckdb", [_short("WO-1", dt.date(2025, 3, 20), -30.0)])
    con.execute("create schema if not exists meta")
    con.execute(
        "create table if not exists meta.dbt_results (run_id varchar, recorded_at timestamp, "
        "unique_id varchar, resource_type varchar, status varchar, message varchar, failures bigint, "
        "execution_time double)"
    )
    builds = {3: ("b1", T0 + dt.timedelta(hours=2)), 5: ("b2", T0 + dt.timedelta(hours=4))}
    counts = []
    for n in range(1, 6):
        if n in builds:
            run_id, at = builds[n]
            con.execute(
                "insert into meta.dbt_results values (?, ?, 'model.medtower.fct_shortages', 'model', "
                "'success', null, null, 0.1)",
                [run_id, at],
            )
        evaluate(
            con, alert_settings, run_id=f"r{n}", as_of=AS_OF, now=T0 + dt.timedelta(hours=n),
            rules=_shortage_rule(), deliver=False,
            plan_builders={"shortage": lambda c, i, a: {"kind": "shortage", "summary": "s", "sections": []}},
        )  # fmt: skip
        counts.append(
            con.execute(
                "select plans_computed, plans_kept from alerts.evaluations where run_id = ?", [f"r{n}"]
            ).fetchone()
        )
    assert counts == [(1, 0), (0, 1), (1, 0), (0, 1), (1, 0)]


def test_a_plan_query_that_fails_leaves_an_error_plan_and_the_alert_stored(
    alert_settings: Settings, tmp_path
) -> None:
    """A plan's SQL fails (a mart without the column it reads): the alert is still opened and stored, with
    the plan's error, and the evaluation goes on; the failed statement does not abort the rule's writes."""
    con = _warehouse(tmp_path / "w.duckdb", [_short("WO-1", dt.date(2025, 3, 20), -30.0)])

    def plan(c, inst, as_of):
        c.execute("select no_such_column from marts.fct_shortages").fetchall()
        return {"kind": "shortage", "summary": "never", "sections": []}

    result = evaluate(
        con, alert_settings, run_id="r1", as_of=AS_OF, now=T0, rules=_shortage_rule(),
        plan_builders={"shortage": plan}, deliver=False,
    )  # fmt: skip
    assert result["failing_rules"] == []
    state, stored = con.execute("select state, plan::varchar from alerts.alert_instances").fetchone()
    assert state == "open"
    assert "no_such_column" in json.loads(stored)["error"]
    assert con.execute("select status, opened from alerts.evaluations where run_id = 'r1'").fetchone() == (
        "ok",
        1,
    )
