"""The real app in headless Chromium on a demo warehouse, and serving through a rebuild.

The demo and the app serving it: the ``demo`` fixture in conftest.py."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.served_app import PAGES
from tests.signin import csrf_headers, http_client, signed_in_page

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"

pytestmark = pytest.mark.browser


def _sql(db: Path, query: str, params: list | None = None):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(query, params or []).fetchall()
    finally:
        con.close()


def test_every_page_in_chromium(demo: dict) -> None:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    db = demo["db"]
    as_of = _sql(db, "select max(as_of_date) from marts.fct_inventory_by_lot")[0][0]
    # late_wo_count: not cancelled, planned end on or before the end of day A, not finished at A.
    open_wo, late = _sql(
        db,
        """select count(*), count(*) filter (where planned_end_date <= ?) from marts.fct_work_orders
           where status <> 'cancelled' and (actual_end is null or actual_end_date > ?)""",
        [as_of, as_of],
    )[0]
    open_ncr = _sql(
        db,
        """select count(*) from marts.fct_nonconformances
                          where opened_date <= ? and (closed_date is null or closed_date > ?)""",
        [as_of, as_of],
    )[0][0]
    lot = _sql(db, "select child_lot_id from marts.fct_lot_genealogy_edges order by 1 limit 1")[0][0]
    open_po, late_po = _sql(
        db,
        "select count(*), count(*) filter (where is_past_due_at_as_of) "
        "from marts.fct_purchase_order_lines where is_open_at_as_of",
    )[0]
    at_risk, open_so = _sql(
        db,
        "select count(*) filter (where is_at_risk), count(*) filter (where is_open) "
        "from marts.fct_sales_order_lines",
    )[0]
    exceptions, short_mat, short_wo, actions = _sql(
        db,
        "select count(*) filter (where kind = 'exception'), "
        "count(distinct material_id || site_id) filter (where kind = 'exception'), "
        "count(distinct wo_id) filter (where kind = 'exception' and demand_type = 'work_order'), "
        "count(*) filter (where kind = 'action') from marts.fct_shortages",
    )[0]
    body_renders: list[str] = []
    errors: list[str] = []
    failed: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, demo["url"], viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(20_000)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.on("request", lambda r: body_renders.append(_body_output(r)) if _body_output(r) else None)
        for path in PAGES:
            body_renders.clear()
            page.goto(demo["url"] + path)
            page.wait_for_selector("#data-as-of-date")
            page.wait_for_function("() => !document.body.innerText.includes('Loading…')")
            page.wait_for_timeout(300)
            page.screenshot(path=str(SHOTS / f"{path.strip('/') or 'overview'}.png"), full_page=True)
            # Charts get their margins from the labels' text (figures.fit_margins), not from Plotly's
            # measuring: no tick label or axis title may fall outside its chart.
            page.wait_for_function(f"() => {CHARTS_DRAWN_JS}")
            assert page.evaluate(LABELS_OUTSIDE_JS) == [], path
            assert page.inner_text("#data-as-of-date") == as_of.isoformat()
            assert "as_of=" in page.url, "filters are kept in the URL"
            assert "Traceback" not in page.inner_text("body")
            if path not in ("/data-health", "/traceability"):
                # One render per first load: the URL <-> filters sync must not fire the page twice.
                assert len(body_renders) == 1, (path, body_renders)
        # Supply, planning and delivery sections show the marts' numbers.
        page.goto(demo["url"] + "/suppliers")
        page.wait_for_selector(f"text={open_po:,} open, {late_po:,} past due")
        page.goto(demo["url"] + "/delivery")
        page.wait_for_selector(f"text={at_risk:,} of {open_so:,} open lines at risk")
        page.goto(demo["url"] + "/inventory")
        page.wait_for_selector(
            f"text={exceptions:,} exceptions on {short_mat:,} materials hit {short_wo:,} of {open_wo:,} "
            "open work orders"
        )
        page.wait_for_selector(f"text={actions:,} actions: order (buy) or plan a work order (make)")
        # WIP counts the same open and late work orders as the tile and the Inventory page.
        page.goto(demo["url"] + "/wip")
        page.wait_for_selector(f"text={open_wo:,} open, {late:,} late at the end of {as_of}")
        # A date after the data or an unknown site: a notice, no numbers.
        later = as_of + dt.timedelta(days=1)
        page.goto(demo["url"] + f"/?as_of={later}")
        page.wait_for_selector("#filter-problem")
        assert "after the warehouse's data" in page.inner_text("#filter-problem")
        assert page.locator("[data-kpi]").count() == 0
        page.goto(demo["url"] + f"/wip?as_of={as_of}&site=NOWHERE")
        page.wait_for_selector("#filter-problem")
        assert "Unknown site 'NOWHERE'" in page.inner_text("#filter-problem")
        # The review shows every KPI by site, with 'no site' and all sites.
        page.goto(demo["url"] + f"/kpi-review?as_of={as_of}")
        page.wait_for_selector("[data-kpi=open_ncr_count][data-site='all sites']")
        all_sites = page.inner_text("[data-kpi=open_ncr_count][data-site='all sites']")
        assert all_sites.replace(",", "") == str(open_ncr)
        # Numbers match the marts.
        page.goto(demo["url"] + "/")
        page.wait_for_selector("[data-kpi=late_wo_count]")
        assert page.inner_text("[data-kpi=late_wo_count]").replace(",", "") == str(late)
        page.goto(demo["url"] + "/quality")
        page.wait_for_selector("text=open at")
        assert f"{open_ncr:,} open at {as_of}" in page.inner_text("body")
        # Filter: the period lives in the URL and changes the view.
        page.goto(demo["url"] + f"/quality?as_of={as_of}&period=7")
        page.wait_for_selector("text=NCRs opened in the 7 days")
        # Drill-down: a lot link in the traceability grids opens /lot/<id>.
        page.goto(demo["url"] + f"/traceability?as_of={as_of}&q={lot}")
        page.wait_for_selector(".drill-link")
        page.locator(".drill-link", has_text=lot).first.click()
        page.wait_for_selector(f"text=Lot {lot}")
        assert f"/lot/{lot}" in page.url
        page.wait_for_function("() => !document.body.innerText.includes('Loading…')")
        page.screenshot(path=str(SHOTS / "lot.png"), full_page=True)
        browser.close()
    assert not errors, errors
    assert not failed, failed


# Every chart drawn: each Plotly graph of the page has its svg.
CHARTS_DRAWN_JS = (
    "[...document.querySelectorAll('.js-plotly-plot')].every((g) => g.querySelector('svg.main-svg'))"
)
# Tick labels and axis titles lying (more than half a pixel) outside their chart's svg, as "text: sides".
LABELS_OUTSIDE_JS = """() => {
  const out = [];
  document.querySelectorAll('.js-plotly-plot').forEach((g) => {
    const svg = g.querySelector('svg.main-svg');
    if (!svg) return;
    const box = svg.getBoundingClientRect();
    g.querySelectorAll('[class*=tick] text, .xtitle, .ytitle, .y2title').forEach((t) => {
      const r = t.getBoundingClientRect();
      if (!r.width) return;
      const gaps = [r.left - box.left, box.right - r.right, r.top - box.top, box.bottom - r.bottom];
      if (gaps.some((d) => d < -0.5)) out.push(t.textContent + ': ' + gaps.map(Math.round).join('/'));
    });
  });
  return out;
}"""


def _body_output(request) -> str | None:
    """The page body a Dash callback request renders (``<page>-body.children``), else None."""
    if "_dash-update-component" not in request.url:
        return None
    try:
        output = json.loads(request.post_data or "{}").get("output", "")
    except ValueError:
        return None
    first = output.strip(".").split("...")[0]  # a body's callback also writes its fingerprint store
    return first if first.endswith("-body.children") else None


def _callback(client: Any, output: str, inputs: list[dict]) -> int:
    target = output.split(".")[0]
    request: dict = {
        "output": output,
        "outputs": {"id": target, "property": "children"},
        "inputs": inputs,
        "changedPropIds": [],
        "state": [],
    }
    if target.endswith("-body"):  # a page body answers with its fingerprint too (dashboards/in_place.py)
        held = f"{target}-held"
        request["output"] = f"..{target}.children...{held}.data.."
        request["outputs"] = [{"id": target, "property": "children"}, {"id": held, "property": "data"}]
        request["state"] = [{"id": held, "property": "data", "value": None}]
    # A generous limit: a slow answer while dbt has both cores is not a failed request.
    resp = client.post(
        "/_dash-update-component", json=request, headers=csrf_headers(client), timeout=REQUEST_TIMEOUT
    )
    return int(resp.status_code)


REQUEST_TIMEOUT = 120


def test_serves_through_a_rebuild(demo: dict) -> None:
    """`medtower run` in its own process rebuilds and publishes while requests keep coming."""
    as_of = _sql(demo["db"], "select max(as_of_date) from marts.fct_inventory_by_lot")[0][0]
    before = os.path.realpath(demo["db"])
    filters = {
        "id": "filters",
        "property": "data",
        "value": {"as_of": as_of.isoformat(), "period_days": 30, "site": None},
    }
    stop = threading.Event()
    results: list[tuple[float, str, str, float]] = []  # (started, output, status, seconds)
    t0 = time.monotonic()

    client = http_client(demo["url"], demo["user"], demo["password"])

    def hammer() -> None:
        for _ in range(5000):
            if stop.is_set():
                return
            for output in ("wip-body.children", "quality-body.children", "stamp.children"):
                started = time.monotonic()
                try:
                    status = str(_callback(client, output, [filters]))
                except Exception as exc:
                    status = f"failed: {exc!r}"
                results.append((round(started - t0, 1), output, status, round(time.monotonic() - started, 2)))

    worker = threading.Thread(target=hammer)
    worker.start()
    exe = str(Path(sys.executable).with_name("medtower"))
    try:
        run = subprocess.run(
            # the same feed again: --full-refresh, or nothing changed would build and publish nothing
            [exe, "run", str(demo["feed"]), "--as-of", as_of.isoformat(), "--full-refresh"],
            env=demo["env"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        # Keep asking a little after the publish: the next requests must see the new file.
        time.sleep(3)
    finally:
        stop.set()
        worker.join(timeout=REQUEST_TIMEOUT + 10)
    assert run.returncode == 0, run.stdout + run.stderr
    assert os.path.realpath(demo["db"]) != before, "the run published a new warehouse version"
    assert len(results) > 10
    slowest = sorted(results, key=lambda r: -r[3])[:5]
    failed = [r for r in results if r[2] != "200"]
    app_log = Path(demo["log"]).read_text(errors="replace")[-3000:]
    assert failed == [], f"{len(failed)} of {len(results)} requests failed; slowest: {slowest}\n{app_log}"


def test_a_site_change_updates_the_page_in_place(demo: dict) -> None:
    """Inventory, site filter: the figures and the lots grid stay mounted (dashboards/in_place.py) and show
    the picked site's lots, counted here from fct_inventory_by_lot, first of one site, then of the other."""
    from playwright.sync_api import sync_playwright

    db = demo["db"]
    as_of = _sql(db, "select max(as_of_date) from marts.fct_inventory_by_lot")[0][0]
    on_hand = "from marts.fct_inventory_by_lot where on_hand_qty > 0 and as_of_date = ?"
    lots = dict(_sql(db, f"select site_id, count(distinct lot_id) {on_hand} group by site_id", [as_of]))
    total = _sql(db, f"select count(distinct lot_id) {on_hand}", [as_of])[0][0]
    assert len(lots) >= 2 and all(0 < n < total for n in lots.values()), lots
    grid = """[id='{"name":"stock-lots","type":"grid"}']"""
    count_js = f"() => document.querySelector(`{grid}`).parentElement.querySelector('.grid-count').innerText"
    nodes_js = f"() => [document.querySelector(`{grid}`), ...document.querySelectorAll('.js-plotly-plot')]"
    sites_js = (
        f"() => [...document.querySelectorAll(`{grid} .ag-center-cols-container .ag-cell[col-id=site_id]`)]"
        ".map((c) => c.innerText)"
    )
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, demo["url"], viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(20_000)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(demo["url"] + f"/inventory?as_of={as_of}")
        page.wait_for_selector(grid)
        assert page.evaluate(count_js) == f"{min(total, 500):,} rows"
        assert len(set(page.evaluate(sites_js))) > 1, "all sites' lots first"
        page.wait_for_selector(".js-plotly-plot .main-svg")
        marked = page.evaluate(f"() => ({nodes_js})().map((e) => {{ e.__kept = true; }}).length")
        for site in sorted(lots, key=lambda s: -lots[s])[:2]:
            page.click("#f-site")
            page.locator(".dash-dropdown-option").filter(has_text=site).first.click()
            # The count and every row shown are the site's (AG Grid draws its new rows a moment later).
            page.wait_for_function(f"(want) => ({count_js})() === want", arg=f"{min(lots[site], 500):,} rows")
            page.wait_for_function(
                f"(site) => {{ const s = ({sites_js})(); return s.length && s.every((x) => x === site) }}",
                arg=site,
            )
            kept = page.evaluate(f"() => ({nodes_js})().filter((e) => e.__kept).length")
            assert kept == marked, f"{site}: {kept} of {marked} grid and figures kept mounted"
            # A lot's link in the kept grid opens the lot with the filters now in the URL.
            link = page.locator(f"{grid} a.drill-link").first
            link.hover()
            assert f"site={site}" in (link.get_attribute("href") or ""), link.get_attribute("href")
        link.click()
        page.wait_for_url(f"**/lot/*site={site}*")
        browser.close()
    assert not errors, errors


def test_a_drill_down_builds_its_selected_tab_only_and_keeps_it(demo: dict) -> None:
    """Material: the Stock tab first, the Work orders tab's table not built until its tab is opened; the
    opened tab stays open through a site change (to a site that makes none of it, counted here from
    fct_work_orders) and a reload."""
    from playwright.sync_api import sync_playwright

    db = demo["db"]
    as_of = _sql(db, "select max(as_of_date) from marts.fct_inventory_by_lot")[0][0]
    material, made = _sql(
        db, "select material_id, count(*) from marts.fct_work_orders group by 1 order by 2 desc, 1 limit 1"
    )[0]
    makers = {
        r[0]
        for r in _sql(
            db, "select distinct site_id from marts.fct_work_orders where material_id = ?", [material]
        )
    }
    other = min({r[0] for r in _sql(db, "select site_id from marts.dim_sites")} - makers)
    heading = "#material-body h3"
    count_js = (
        "() => [...document.querySelectorAll('.drill-tab-content .grid-count')].map((e) => e.innerText)"
    )
    none_js = "() => document.querySelector('.drill-tab-content').innerText.includes('No work order makes')"
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, demo["url"], viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(20_000)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(demo["url"] + f"/material/{material}?as_of={as_of}")
        page.wait_for_selector(".drill-tab--selected")
        assert page.inner_text(".drill-tab--selected") == "Stock"
        page.locator(heading, has_text="Stock by status").wait_for()
        assert page.locator(heading, has_text="Work orders making it").count() == 0
        assert page.locator(heading, has_text="Components").count() == 0
        page.locator(".drill-tab", has_text="Work orders").click()
        page.locator(heading, has_text="Work orders making it").wait_for()
        assert page.locator(heading, has_text="Stock by status").count() == 0
        assert page.evaluate(count_js) == [f"{min(made, 100):,} rows"]
        page.evaluate("() => { document.querySelector('.drill-tab-content').__kept = true; }")
        page.click("#f-site")
        page.locator(".dash-dropdown-option").filter(has_text=other).first.click()
        page.wait_for_function(none_js)
        assert page.inner_text(".drill-tab--selected") == "Work orders"
        assert page.evaluate("() => document.querySelector('.drill-tab-content').__kept === true")
        page.wait_for_url(f"**site={other}*")
        page.reload()
        page.locator(heading, has_text="Work orders making it").wait_for()
        assert page.inner_text(".drill-tab--selected") == "Work orders"
        page.wait_for_function(none_js)
        browser.close()
    assert not errors, errors
