"""The Alerts workbench in the real app (headless Chromium) on a small hand-built warehouse.

The three-alert plant of tests/alerts/test_workbench.py (M-100 critical and M-200 high at S1, M-300 high at
S2), evaluated by the shipped rule; the app serves it from its own process. A planner opens the digest's
link signed in as themselves, filters, assigns, comments, acknowledges with a comment (refused without one)
and copies the drafted expedite request; what the page records goes to the action store and the next
evaluation merges it with who and when.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from urllib.parse import quote

import duckdb
import pytest

from alerts.engine import evaluate
from alerts.rules import load_rules
from medtower import alert_actions as actions
from medtower.settings import Settings
from tests.alerts.test_workbench import EXPEDITE, K100, K300, NOW, build
from tests.chromium import CHROMIUM, CHROMIUM_ARGS, need_chromium
from tests.served_app import serve
from tests.signin import add_user, signed_in_page

pytestmark = pytest.mark.browser


def test_planner_filters_assigns_comments_acknowledges_and_copies_the_expedite_text(tmp_path: Path) -> None:
    need_chromium()
    from playwright.sync_api import sync_playwright

    settings = Settings(data_dir=tmp_path / "data", planner_emails=[])
    build(settings)
    add_user(settings.data_dir, "dana.planner", "planner")
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    with serve(settings.data_dir, tmp_path / "app.log") as url:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = signed_in_page(browser, url, "dana.planner", viewport={"width": 1400, "height": 1000})
            page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

            # The digest's link opens the alert.
            page.goto(f"{url}/alerts?alert={quote(K100, safe='')}")
            page.wait_for_selector("#alerts-detail-history", timeout=20000)
            assert "M-100 at S1: 30 EA short from 2025-03-06." in page.inner_text("#alerts-detail")
            row = page.locator(f'tr[data-key="{K100}"]')
            assert row.inner_text().split("\t")[1] == "open"

            # Picking another row shows it and puts it in the URL; back to the linked one.
            page.click(f'tr[data-key="{K300}"] button.alert-pick')
            page.locator("#alerts-detail", has_text="M-300").wait_for(timeout=10000)
            page.wait_for_function("() => window.location.search.includes('M-300')", timeout=10000)
            page.click(f'tr[data-key="{K100}"] button.alert-pick')
            page.locator("#alerts-detail", has_text="M-100 at S1: 30 EA short").wait_for(timeout=10000)

            # Filter by free text: one row, in the URL; a reload opens the same view.
            page.fill("#alerts-f-text", "M-300")
            page.press("#alerts-f-text", "Enter")
            page.wait_for_function(
                "() => document.querySelectorAll('tr.alert-row').length === 1", timeout=10000
            )
            assert page.locator("tr.alert-row").get_attribute("data-key") == K300
            page.wait_for_function("() => window.location.search.includes('q=M-300')", timeout=10000)
            assert "alert=" in page.url  # the selected alert stays in the URL too
            page.reload()
            page.wait_for_selector("#alerts-detail-history", timeout=20000)
            page.wait_for_function(
                "() => document.querySelectorAll('tr.alert-row').length === 1", timeout=10000
            )
            assert page.input_value("#alerts-f-text") == "M-300"
            assert "M-100" in page.inner_text("#alerts-detail")  # still the linked alert

            # The critical count is a link: its list holds only M-100.
            page.fill("#alerts-f-text", "")
            page.press("#alerts-f-text", "Enter")
            page.wait_for_function(
                "() => document.querySelectorAll('tr.alert-row').length === 3", timeout=10000
            )
            assert page.inner_text("#alerts-count-critical").split()[0] == "1"
            assert page.inner_text("#alerts-count-high").split()[0] == "2"
            page.click("#alerts-count-critical")
            page.wait_for_function(
                "() => window.location.search.includes('severity=critical')", timeout=10000
            )
            page.wait_for_function(
                "() => document.querySelectorAll('tr.alert-row').length === 1", timeout=10000
            )
            assert page.locator("tr.alert-row").get_attribute("data-key") == K100

            # Every action is recorded under the signed-in user's name (no name to type).
            assert page.inner_text("#alerts-actor") == "dana.planner"

            page.fill("#alerts-owner", "role:qa")
            page.click("#alerts-assign")
            row.locator("td.alert-owner", has_text="QA (role)").wait_for(timeout=10000)

            page.fill("#alerts-comment", "Asked Acme for a date.")
            page.click("#alerts-add-comment")
            page.locator("#alerts-thread", has_text="Asked Acme for a date.").wait_for(timeout=10000)
            assert page.input_value("#alerts-comment") == ""

            page.click("#alerts-ack")  # no comment: refused
            page.wait_for_selector("text=Write a comment to acknowledge", timeout=10000)
            assert [a["action"] for a in actions.read_actions(settings)] == ["assign", "comment"]
            page.fill("#alerts-comment", "Expedite sent to Acme.")
            page.click("#alerts-ack")
            row.locator("text=acknowledged by dana.planner at").wait_for(timeout=10000)
            page.locator("#alerts-thread", has_text="acknowledged: Expedite sent to Acme.").wait_for(
                timeout=10000
            )

            # Copy the drafted expedite request: the clipboard holds it word for word.
            page.click("#alerts-copy-1")
            page.wait_for_function(
                "() => navigator.clipboard.readText().then(t => t.length > 0)", timeout=10000
            )
            copied = page.evaluate("navigator.clipboard.readText()")
            assert copied.strip() == EXPEDITE
            # The hit section's table loads when asked for, with the drill link to the work order.
            page.locator("button.plan-rows-button").first.click()
            link = page.locator(".plan-rows a.drill-link", has_text="WO-7")
            link.wait_for(timeout=10000)
            page.screenshot(path=str(tmp_path / "alerts-workbench.png"), full_page=True)
            # Followed in the page (no reload), the link keeps the view's filters: the work order opens.
            search = page.evaluate("location.search")
            assert "as_of=" in search
            page.evaluate("window.mtNoReload = true")
            link.click()
            page.wait_for_url(lambda url: url.endswith("/work-order/WO-7" + search), timeout=10000)
            page.wait_for_selector("#work-order-body .facts, #work-order-body .empty-state", timeout=20000)
            assert "WO-7" in page.inner_text(".content")
            assert page.evaluate("window.mtNoReload") is True
            page.go_back()

            page.reload()
            page.wait_for_selector("#alerts-detail-history", timeout=20000)
            assert page.inner_text("#alerts-actor") == "dana.planner"
            browser.close()
        assert errors == [], errors
    assert (tmp_path / "alerts-workbench.png").stat().st_size > 10_000

    recorded = actions.read_actions(settings)
    assert [(a["action"], a["actor"], a["note"]) for a in recorded] == [
        ("assign", "dana.planner", "role:qa"),
        ("comment", "dana.planner", "Asked Acme for a date."),
        ("ack", "dana.planner", "Expedite sent to Acme."),
    ]
    after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert all(before <= dt.datetime.fromisoformat(a["at"]) <= after for a in recorded)

    # The next evaluation (on a staged copy, as the pipeline runs it) merges them with who and when.
    staged = settings.data_dir / "staged.duckdb"
    shutil.copyfile(settings.warehouse_path, staged)
    with duckdb.connect(str(staged)) as con:
        evaluate(
            con,
            settings,
            run_id="r2",
            as_of=dt.date(2025, 3, 3),
            now=NOW + dt.timedelta(hours=1),
            rules=[r for r in load_rules() if r.id == "material_shortage"],
            plan_builders={},
        )
        events = con.execute(
            "select event, actor, event_at from alerts.alert_events where alert_key = ? order by rowid",
            [K100],
        ).fetchall()
    merged = [(e, who, at.isoformat(timespec="seconds")) for e, who, at in events if who == "dana.planner"]
    assert merged == [
        ("assigned", "dana.planner", recorded[0]["at"]),
        ("commented", "dana.planner", recorded[1]["at"]),
        ("acknowledged", "dana.planner", recorded[2]["at"]),
    ]
