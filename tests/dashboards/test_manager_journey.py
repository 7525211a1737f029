"""The plant manager's week in headless Chromium on the demo: Overview, one site, the KPI review, print.

Numbers are checked against the demo feed's CSVs read by tests/e2e/feed_oracle.py (no warehouse, no
medtower code), restricted to the site the manager picks; the review table on the page is compared with
the `medtower report` file for the same site, date and period (one renderer, tests/review_tables.py
reads both). The demo app is the session's (tests/dashboards/conftest.py). Screenshots and the printed
PDF go to test-artifacts/screenshots/manager-*.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.e2e import feed_oracle
from tests.review_tables import review_table
from tests.signin import signed_in_page

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

SITE = "SITE-GAL"
PERIOD = 30  # the Overview's default period


class SiteFeed(feed_oracle.Feed):
    """The feed as one site sees it: rows of entities that carry a site_id, at that site only.

    Good for the KPIs whose members carry their own site (work orders: late work orders, first pass
    yield); not for those that take their site from a lot (NCRs).
    """

    def __init__(self, folder: Path, site: str):
        super().__init__(folder)
        self.site = site

    def good(self, entity: str) -> pd.DataFrame:
        frame = super().good(entity)
        return frame[frame["site_id"] == self.site].copy() if "site_id" in frame.columns else frame


def _percent(value: object) -> str:
    assert isinstance(value, float), value
    return f"{100 * value:.1f} %"


def test_the_manager_reviews_a_site_and_prints_it(demo: dict) -> None:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    feed = SiteFeed(Path(demo["feed"]), SITE)
    site_name = feed.raw("sites").set_index("site_id").loc[SITE, "name"]
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, demo["url"], viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(30_000)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

        # 1. The Overview, all sites.
        page.goto(demo["url"] + "/")
        page.wait_for_selector("#data-as-of-date")
        page.wait_for_selector("[data-kpi=late_wo_count]")
        as_of = dt.date.fromisoformat(page.inner_text("#data-as-of-date"))
        page.screenshot(path=str(SHOTS / "manager-overview.png"), full_page=True)

        # 2. The manager picks a site: the URL says so and the tiles are the site's.
        want = feed_oracle.kpis(feed, as_of, PERIOD, include_stock=False)
        late = str(want["late_wo_count"])
        yield_text = _percent(want["first_pass_yield"])
        page.click("#f-site")
        page.get_by_role("option", name=f"{SITE} · {site_name}").click()
        page.wait_for_url(f"**site={SITE}**")
        page.wait_for_function(
            "([kpi, text]) => document.querySelector(`.kpi-value[data-kpi=${kpi}]`)?.innerText === text",
            arg=["late_wo_count", late],
        )
        assert page.inner_text(".kpi-value[data-kpi=first_pass_yield]") == yield_text
        page.screenshot(path=str(SHOTS / "manager-site.png"), full_page=True)

        # 3. The KPI review of the same site, date and period (the navigation keeps the filters).
        page.click("a.nav-link:has-text('KPI review')")
        page.wait_for_url("**/kpi-review?**")
        assert f"site={SITE}" in page.url and f"as_of={as_of}" in page.url
        page.wait_for_selector("table.kpi-review tr[data-kpi=late_wo_count]")
        start = as_of - dt.timedelta(days=PERIOD - 1)
        on_page = review_table(page.content())
        assert on_page.caption == f"KPI review, {SITE} · {site_name}: {start} to {as_of} ({PERIOD} days)"
        assert on_page.rows["late_wo_count"][1] == late
        assert on_page.rows["first_pass_yield"][1] == yield_text
        page.screenshot(path=str(SHOTS / "manager-review.png"), full_page=True)

        # The page's table is the `medtower report` file's, cell for cell, colour for colour.
        out = Path(demo["feed"]).parent / "manager-review.html"
        exe = str(Path(sys.executable).with_name("medtower"))
        args = ["--as-of", as_of.isoformat(), "--period-days", str(PERIOD), "--site", SITE, "--out", str(out)]
        subprocess.run(
            [exe, "report", *args],
            env=demo["env"],
            check=True,
            capture_output=True,
            timeout=300,
        )
        assert on_page == review_table(out.read_text())

        # 4. Print: no navigation, filters or buttons on paper; the table and its colours stay.
        page.emulate_media(media="print")
        for hidden in (".nav", ".topbar .filters", "#review-print", "#review-download-btn"):
            assert not page.is_visible(hidden), f"{hidden} is printed"
        assert page.is_visible("table.kpi-review")
        assert page.locator("table.kpi-review tbody tr").count() == len(on_page.rows)
        # The status colours are printed, not dropped as backgrounds and colours may be (print.css).
        adjust = page.eval_on_selector(
            "table.kpi-review td.rag-red, table.kpi-review td.rag-green",
            "e => getComputedStyle(e).getPropertyValue('print-color-adjust')",
        )
        assert adjust == "exact"
        page.screenshot(path=str(SHOTS / "manager-print.png"), full_page=True)
        pdf = SHOTS / "manager-review.pdf"
        page.pdf(path=str(pdf), format="A4", print_background=True)
        browser.close()
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 20_000
    assert not errors, errors
