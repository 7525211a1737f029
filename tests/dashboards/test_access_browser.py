"""The whole page x action matrix as each role meets it in real Chromium (test_access.py proves the server
refuses the same things over raw HTTP).

For every role: sign in through the form, read the navigation (exactly the pages the role may view), open
every page by typing its URL (allowed: the page renders with its heading; refused: the server's refusal
names the page, and nothing of the page is drawn), and on the Alerts page see exactly the buttons of the
actions the role may take. The expected tables are test_access.py's hand-written ones, not medtower/roles.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.chromium import CHROMIUM, CHROMIUM_ARGS, need_chromium
from tests.dashboards.test_access import (
    ACTION_ACCESS,
    PAGE_ACCESS,
    ROLES,
    served,  # noqa: F401 - the app server fixture
)
from tests.signin import TEST_PASSWORD, signed_in_page

pytestmark = [pytest.mark.browser]

# The navigation's words for each page it lists (the drill-downs are reached from links, not the nav).
NAV = {
    "/": "Overview",
    "/inventory": "Inventory",
    "/wip": "WIP",
    "/lots": "Lots & release",
    "/quality": "Quality",
    "/delivery": "Delivery",
    "/suppliers": "Suppliers",
    "/traceability": "Traceability",
    "/kpi-review": "KPI review",
    "/alerts": "Alerts",
    "/data-health": "Data health",
    "/audit": "Audit trail",
}
# The names a refusal uses for the drill-downs.
DRILL_NAMES = {
    "/lot/L-1": "Lot",
    "/material/M-1": "Material",
    "/supplier/SUP-1": "Supplier",
    "/customer/C-1": "Customer",
    "/work-order/WO-1": "Work order",
}
# The Alerts page's buttons by the action they take.
BUTTONS = {
    "acknowledge": "#alerts-ack",
    "assign": "#alerts-assign",
    "comment": "#alerts-add-comment",
    "resolve": "#alerts-resolve",
}


def _errors(page: Any, into: list[str]) -> None:
    page.on("console", lambda m: into.append(f"{page.url}: {m.text}") if m.type == "error" else None)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_and_reaches_exactly_its_pages_and_buttons_in_chromium(
    served: dict,  # noqa: F811 - test_access.py's fixture
    role: str,
) -> None:
    need_chromium()
    from playwright.sync_api import sync_playwright

    url = served["url"]
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, url, role, TEST_PASSWORD)
        _errors(page, errors)
        page.wait_for_selector(".nav-link")
        assert page.inner_text("#session-user") == role
        nav = page.locator(".nav-link").all_inner_texts()
        assert [n.strip() for n in nav] == [name for path, name in NAV.items() if role in PAGE_ACCESS[path]]

        for path, who in PAGE_ACCESS.items():
            page.goto(url + path)
            name = NAV.get(path) or DRILL_NAMES[path]
            if role in who:
                page.wait_for_selector(".page-header h2", timeout=30000)
                assert page.locator("#refusal").count() == 0, (role, path)
            else:
                page.wait_for_selector("#refusal")
                assert f"may not view {name}" in page.inner_text("#refusal"), (role, path)
                assert page.locator(".page-header").count() == 0, (role, path)

        if role in PAGE_ACCESS["/alerts"]:
            page.goto(url + "/alerts")
            page.wait_for_selector("#alerts-actor")
            assert page.inner_text("#alerts-actor") == role  # actions go under the signed-in name
            shown = {a for a, sel in BUTTONS.items() if page.is_visible(sel)}
            assert shown == {a for a in BUTTONS if role in ACTION_ACCESS[a]}, role
        browser.close()
    # Refused pages answer 403 (the console says so); nothing else may fail, CSP included.
    assert [e for e in errors if "status of 403" not in e] == [], errors
