"""The alert engine's own state changes in the audit trail (medtower/audit.py), as the system.

A hand-built warehouse with one shortage (M-100 at S1, typed marts as in test_alert_engine.py) and the
shipped shortage rule, evaluated four times: the shortage 22 days out (opens, high), then 3 days out
(severity raised to critical), then gone (resolved), then back (re-opened, a second episode). The trail
must hold exactly those four records, by "system" from the "alerts engine", with the state before and
after, and its hash chain must verify. A trail that cannot be written fails the evaluation and keeps no
state change.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import duckdb
import pytest

from alerts.engine import evaluate
from medtower import audit
from medtower.settings import Settings
from tests.alerts.support import shortage_rule

AS_OF = dt.date(2025, 3, 3)
T0 = dt.datetime(2025, 3, 3, 6, 0)
KEY = "material_shortage:material_id=M-100,site_id=S1"


def _warehouse(path: Path, need: dt.date) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists marts")
    con.execute("create table marts.dim_materials (material_id varchar, description varchar, uom varchar)")
    con.execute("insert into marts.dim_materials values ('M-100', 'Titanium screw 4mm', 'EA')")
    con.execute(
        """create table marts.fct_shortages (material_id varchar, site_id varchar, wo_id varchar,
           need_date date, qty_outstanding double, cumulative_requirement double, available_on_hand double,
           po_qty_due_by_need_date double, projected_balance double, shortage_qty double, is_short boolean,
           as_of_date date)"""
    )
    # 150 needed, 100 on hand: 50 short.
    con.execute(
        "insert into marts.fct_shortages "
        "values ('M-100', 'S1', 'WO-1', ?, 50, 150, 100, 0, -50, 50, true, ?)",
        [need, AS_OF],
    )
    return con


def _run(con: duckdb.DuckDBPyConnection, settings: Settings, n: int) -> None:
    evaluate(
        con,
        settings,
        run_id=f"r{n}",
        as_of=AS_OF,
        now=T0 + dt.timedelta(hours=n),
        rules=[shortage_rule()],
        plan_builders={},
    )


def test_open_raise_resolve_and_reopen_are_in_the_trail_as_the_system(
    alert_settings: Settings, tmp_path: Path
) -> None:
    con = _warehouse(tmp_path / "w.duckdb", AS_OF + dt.timedelta(days=22))
    _run(con, alert_settings, 1)  # 22 days out: high
    con.execute("update marts.fct_shortages set need_date = ?", [AS_OF + dt.timedelta(days=3)])
    _run(con, alert_settings, 2)  # within 7 days: critical
    con.execute("update marts.fct_shortages set is_short = false, shortage_qty = 0")
    _run(con, alert_settings, 3)  # condition gone
    _run(con, alert_settings, 4)  # still gone: nothing to record
    con.execute("update marts.fct_shortages set is_short = true, shortage_qty = 50")
    _run(con, alert_settings, 5)  # back: a second episode

    trail = audit.read(alert_settings, object_type="alert", object_id=KEY)
    assert [(r["actor"], r["source"], r["action"]) for r in trail] == [
        ("system", "alerts engine", "open"),
        ("system", "alerts engine", "severity_raise"),
        ("system", "alerts engine", "resolve"),
        ("system", "alerts engine", "reopen"),
    ]
    opened, raised, resolved, reopened = trail
    assert opened["old"] is None  # a new alert: a create
    assert (opened["new"]["state"], opened["new"]["severity"], opened["new"]["episode"]) == (
        "open",
        "high",
        1,
    )
    assert opened["new"]["run_id"] == "r1" and opened["site_id"] == "S1"
    assert raised["old"] == {"state": "open", "severity": "high"}
    assert (raised["new"]["state"], raised["new"]["severity"]) == ("open", "critical")
    assert raised["reason"] == "high -> critical"
    assert resolved["old"] == {"state": "open", "severity": "critical"}
    assert resolved["new"]["state"] == "resolved" and resolved["reason"] == "condition no longer holds"
    assert resolved["new"]["run_id"] == "r3"
    assert reopened["old"] == {"state": "resolved"}
    assert (reopened["new"]["state"], reopened["new"]["episode"], reopened["new"]["run_id"]) == (
        "open",
        2,
        "r5",
    )
    check = audit.verify(alert_settings)
    assert check.ok, check


def test_a_trail_that_cannot_be_written_fails_the_evaluation_and_keeps_no_state(
    alert_settings: Settings, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-file"
    blocked.mkdir()  # a directory where the trail's SQLite file should be: every write fails
    settings = alert_settings.model_copy(update={"audit_path": blocked})
    con = _warehouse(tmp_path / "w.duckdb", AS_OF + dt.timedelta(days=22))
    with pytest.raises(sqlite3.OperationalError):
        _run(con, settings, 1)
    # The rule's transaction was rolled back: no alert was opened without its record.
    assert con.execute("select count(*) from alerts.alert_instances").fetchone() == (0,)
    assert con.execute("select count(*) from alerts.alert_events").fetchone() == (0,)
