"""Script and SQL payloads typed into an alert's comment box, then read back by the next person.

test_probes.py sends the probe list into every field; its warehouse has no alert, so nothing it types is
shown again. Here the hand-built quality plant has a real alert: a QA engineer comments each probe on it
through the real server, then the thread is opened in Chromium. Each comment reads back as the literal
text typed, no script runs (no dialog opens), the thread holds no element a probe spelled (no script, img
or link), and the alert itself is unchanged (same state, same title).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import duckdb
import pytest

from medtower import alert_actions
from medtower.settings import Settings
from tests.alerts.test_quality_scope import KEY, evaluated_plant
from tests.chromium import CHROMIUM, CHROMIUM_ARGS, need_chromium
from tests.dashboards.test_access import _act
from tests.served_app import serve
from tests.signin import TEST_PASSWORD, add_user, http_client, signed_in_page

pytestmark = [pytest.mark.browser]

COMMENTS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(document.domain)>',
    '<a href="javascript:alert(1)">click</a>',
    "'; DROP TABLE marts.dim_lots; -- and {{7*7}} ${7*7}",
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("probe_thread")
    settings = Settings(data_dir=base / "data", planner_emails=[])
    con = evaluated_plant(settings)
    con.close()
    add_user(settings.data_dir, "quinn", "qa")
    with serve(settings.data_dir, base / "app.log") as url:
        yield {"url": url, "settings": settings}


def test_probe_comments_read_back_as_text_and_run_nothing(served: dict[str, Any]) -> None:
    need_chromium()
    from playwright.sync_api import sync_playwright

    url, settings = served["url"], served["settings"]
    client = http_client(url, "quinn", TEST_PASSWORD)
    for text in COMMENTS:
        assert _act(client, "alerts-add-comment", text, key=KEY).status_code == 200, text
    kept = [a["note"] for a in alert_actions.read_actions(settings) if a["action"] == "comment"]
    assert kept == COMMENTS  # stored as typed, nothing stripped or rewritten

    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, url, "quinn", TEST_PASSWORD)
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(f"{url}/alerts?alert={quote(KEY, safe='')}")
        page.wait_for_selector("#alerts-thread .thread-comment", timeout=30000)
        thread = page.locator("#alerts-thread")
        items = thread.locator(".thread-comment").all_inner_texts()
        assert len(items) == len(COMMENTS)
        for text, item in zip(COMMENTS, items, strict=True):
            assert item.endswith(f"quinn commented: {text}"), item
        for tag in ("script", "img", "a"):
            assert thread.locator(tag).count() == 0, tag
        page.wait_for_timeout(500)  # an onerror image would have fired by now
        title = page.inner_text("#alerts-selected-title")
        browser.close()
    assert dialogs == []
    assert "LOT-R1" in title
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        states = con.execute("select alert_key, state from alerts.alert_instances").fetchall()
    assert states == [(KEY, "open")]  # the one alert, as the evaluation left it
