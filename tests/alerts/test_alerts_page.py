"""The Alerts page in the real app (headless Chromium): acknowledge and resolve with who and when.

A small hand-made warehouse carries one evaluated shortage alert with its plan; the app serves it from its
own process. What the page records goes to the action store; the next evaluation merges it.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import duckdb
import pytest

from alerts.engine import evaluate
from alerts.rules import load_rules
from medtower import alert_actions as actions
from medtower.settings import Settings
from tests.chromium import CHROMIUM, CHROMIUM_ARGS, need_chromium

if TYPE_CHECKING:
    from conftest import SmtpServer

ROOT = Path(__file__).resolve().parents[2]
KEY = "material_shortage:material_id=M-100,site_id=S1"

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _build(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    con = duckdb.connect(str(settings.warehouse_path))
    con.execute("create schema marts")
    con.execute(
        "create table marts.dim_sites (site_id varchar, name varchar);"
        "insert into marts.dim_sites values ('S1', 'Site one')"
    )
    con.execute("create table marts.dim_materials (material_id varchar, description varchar, uom varchar)")
    con.execute("insert into marts.dim_materials values ('M-100', 'Titanium screw 4mm', 'EA')")
    con.execute(
        """create table marts.fct_shortages (shortage_id varchar, material_id varchar, site_id varchar,
        wo_id varchar, need_date date, shortage_qty double, kind varchar, lead_time_days integer,
        replenishment varchar)"""
    )
    con.execute(
        "insert into marts.fct_shortages values "
        "('M-100|S1|WO-7', 'M-100', 'S1', 'WO-7', '2025-03-20', 30, 'exception', 21, 'buy')"
    )
    con.execute(
        """create table marts.fct_shortage_pegging (shortage_id varchar, hit_type varchar, so_id varchar,
        so_line integer, customer_id varchar)"""
    )
    plan = {
        "kind": "shortage",
        "summary": "Use substitute M-200 now; expedite PO-9.",
        "sections": [{"id": "hit", "title": "What is hit", "lines": ["WO-7 waits for 30 EA"], "rows": []}],
    }
    rules = [r for r in load_rules() if r.id == "material_shortage"]
    evaluate(
        con,
        settings,
        run_id="r1",
        as_of=dt.date(2025, 3, 3),
        now=dt.datetime(2025, 3, 3, 6, 0),
        rules=rules,
        plan_builders={"shortage": lambda c, i, a: plan},
    )
    con.close()


def test_acknowledge_and_resolve_from_the_alerts_page(tmp_path: Path, smtp_server: SmtpServer) -> None:
    need_chromium()
    from playwright.sync_api import sync_playwright

    settings = Settings(
        data_dir=tmp_path / "data",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        planner_emails=["planner@example.test"],
        alert_smtp_backoff_seconds=0.01,
    )
    _build(settings)
    assert len(smtp_server.handler.messages) == 1
    port = _free_port()
    log = open(tmp_path / "app.log", "wb")  # noqa: SIM115 - closed in the finally below
    env = {**os.environ, "MEDTOWER_DATA_DIR": str(settings.data_dir), "MEDTOWER_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(url + "/alerts", timeout=2).close()
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{url}/alerts?alert={quote(KEY, safe='')}")
            page.wait_for_selector("#alerts-detail-history", timeout=20000)
            detail = page.inner_text("#alerts-detail")
            assert "Use substitute M-200 now; expedite PO-9." in detail and "WO-7 waits for 30 EA" in detail
            row = page.locator(f'tr[data-key="{KEY}"]')
            assert row.inner_text().split("\t")[1] == "open"

            page.click("#alerts-ack")  # no name: refused, nothing recorded
            page.wait_for_selector("text=say who you are", timeout=10000)
            assert actions.read_actions(settings) == []

            page.fill("#alerts-actor", "Dana Planner")
            page.click("#alerts-ack")
            row.locator("text=acknowledged by Dana Planner at").wait_for(timeout=10000)
            page.check("input[type=checkbox]")  # show resolved, so the row stays after resolving
            page.fill("#alerts-actor", "Quinn QA")
            page.click("#alerts-resolve")
            row.locator("text=resolved by Quinn QA at").wait_for(timeout=10000)
            assert "resolved by Quinn QA" in page.inner_text("#alerts-detail-history")
            browser.close()
        assert errors == [], errors
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()

    recorded = actions.read_actions(settings)
    assert [(a["action"], a["actor"]) for a in recorded] == [("ack", "Dana Planner"), ("resolve", "Quinn QA")]
    after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert all(before <= dt.datetime.fromisoformat(a["at"]) <= after for a in recorded)

    # The next evaluation merges both into the warehouse with who and when.
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("update marts.fct_shortages set shortage_qty = 30")  # the condition still holds
        evaluate(
            con,
            settings,
            run_id="r2",
            as_of=dt.date(2025, 3, 3),
            now=dt.datetime(2025, 3, 3, 7, 0),
            rules=[r for r in load_rules() if r.id == "material_shortage"],
            plan_builders={"shortage": lambda c, i, a: {"kind": "shortage", "sections": []}},
        )
        events = con.execute(
            "select event, actor, event_at from alerts.alert_events where alert_key = ? order by rowid", [KEY]
        ).fetchall()
    merged = [
        (e, who, at.isoformat(timespec="seconds"))
        for e, who, at in events
        if who in ("Dana Planner", "Quinn QA")
    ]
    assert merged == [
        ("acknowledged", "Dana Planner", recorded[0]["at"]),
        ("resolved", "Quinn QA", recorded[1]["at"]),
    ]
