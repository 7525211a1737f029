"""A role without the "export" right (viewer) gets no export: no button, and a grid that refuses its own
CSV export in the browser (AG Grid's suppressCsvExport), beside the server's refusal of the export
callback (tests/dashboards/test_access.py). The rows a viewer is shown are in their browser and on their
screen: they can read them (and retype them); the right is about files, not about seeing.

The real app over a copy of the hand-built plant; raw HTTP for what the server sends, Chromium for what
the grid does with it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboards import components
from tests.chromium import CHROMIUM, CHROMIUM_ARGS, need_chromium
from tests.served_app import copy_warehouse, filters, grid_props, grids, plain_tables, post, serve
from tests.signin import TEST_PASSWORD, add_user, http_client, signed_in_page


@pytest.fixture(scope="module")
def app(small_warehouse: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("export_right")
    data = base / "data"
    copy_warehouse(small_warehouse.path, data)
    add_user(data, "viewer", "viewer")
    add_user(data, "planner", "planner")
    with serve(data, base / "app.log") as url:
        yield url


def _inventory(client: Any) -> dict[str, Any]:
    held = "inventory-body-held"
    resp = post(
        client,
        [{"id": "inventory-body", "property": "children"}, {"id": held, "property": "data"}],
        [filters()],
        state=[{"id": held, "property": "data", "value": None}],
        changed=["filters.data"],
    )
    assert resp.status_code == 200, resp.text[:300]
    return resp.json()["response"]


def test_the_server_sends_a_viewer_no_export_button_and_grids_that_refuse_export(app: str) -> None:
    viewer = _inventory(http_client(app, "viewer", TEST_PASSWORD))
    planner = _inventory(http_client(app, "planner", TEST_PASSWORD))
    assert grids(viewer) and grids(viewer) == grids(planner)  # the same rows: seeing is not exporting
    # The plant's tables are short: plain tables, exported by the server (refused to a viewer there,
    # tests/dashboards/test_access.py); a viewer gets no button and no download to fill.
    assert plain_tables(viewer) and plain_tables(viewer) == plain_tables(planner)
    for marker in ("grid-csv", "table-csv", "table-file", "Export CSV"):
        assert marker not in str(viewer)
    assert "table-csv" in str(planner) and "table-file" in str(planner) and "Export CSV" in str(planner)
    for props in grid_props(viewer):
        options = props["dashGridOptions"]
        assert options["suppressCsvExport"] is True and options["enableCellTextSelection"] is False
    for props in grid_props(planner):
        assert "suppressCsvExport" not in props["dashGridOptions"]


# The grid's own CSV download, as a person with the browser's console could start it. (getDataAsCsv, the
# text without a download, ignores suppressCsvExport: the rows are in the browser either way.)
EXPORT_FIRST_GRID = """async () => {
  const el = document.querySelector('.data-grid');
  const api = await window.dash_ag_grid.getApiAsync(el.id);
  api.exportDataAsCsv();
  return api.getDisplayedRowCount();
}"""


@pytest.mark.browser
def test_in_chromium_a_viewers_grid_shows_its_rows_and_will_not_download_a_csv(demo: dict[str, Any]) -> None:
    """On the demo: its Inventory grids hold more rows than a plain table, so they are AG Grids."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    data = Path(str(demo["db"])).parent
    for name in ("viewer", "planner"):
        add_user(data, name, name)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            seen: dict[str, Any] = {}
            for name in ("viewer", "planner"):
                page = signed_in_page(browser, str(demo["url"]), name, accept_downloads=True)
                downloads: list[Any] = []
                page.on("download", lambda d, kept=downloads: kept.append(d))
                page.goto(f"{demo['url']}/inventory")
                page.wait_for_selector(".data-grid .ag-row", timeout=30000)
                rows = page.evaluate(EXPORT_FIRST_GRID)
                page.wait_for_timeout(2000)  # a download starts at once when it starts at all
                seen[name] = {
                    "rows": rows,
                    "downloads": [d.suggested_filename for d in downloads],
                    "buttons": page.locator("text=Export CSV").count(),
                }
                page.context.close()
            assert seen["viewer"]["rows"] == seen["planner"]["rows"] > components.PLAIN_TABLE_ROWS
            assert seen["viewer"]["downloads"] == [] and seen["viewer"]["buttons"] == 0, seen
            assert len(seen["planner"]["downloads"]) == 1 and seen["planner"]["buttons"] > 0, seen
        finally:
            browser.close()


# The first plain table's header cells and rows as a person reads them.
READ_FIRST_TABLE = """() => {
  const t = document.querySelector('table.plain-table');
  return {
    head: [...t.querySelectorAll('thead th')].map(th => th.innerText.trim()),
    rows: [...t.querySelectorAll('tbody tr')].map(
      tr => [...tr.querySelectorAll('td')].map(td => td.innerText.trim())),
  };
}"""


@pytest.mark.browser
def test_in_chromium_a_short_tables_csv_is_the_table_shown_and_only_for_a_role_that_may_export(
    app: str,
) -> None:
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            shown: dict[str, Any] = {}
            for name in ("viewer", "planner"):
                page = signed_in_page(browser, app, name, accept_downloads=True)
                page.goto(app + "/inventory?as_of=2026-06-30")
                page.wait_for_selector("table.plain-table tbody tr", timeout=30000)
                shown[name] = page.evaluate(READ_FIRST_TABLE)
                buttons = page.locator(".grid-block").first.locator("text=Export CSV")
                if name == "viewer":
                    assert page.locator("text=Export CSV").count() == 0
                    page.context.close()
                    continue
                with page.expect_download() as download:
                    buttons.click()
                assert download.value.suggested_filename == "medtower-stock-by-material.csv"
                book = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
                page.context.close()
            assert shown["viewer"] == shown["planner"]  # the same table: seeing is not exporting
            head, rows = shown["planner"]["head"], shown["planner"]["rows"]
            assert book[0] == head and len(book) - 1 == len(rows) > 0
            # Ids read as shown; numbers are written as numbers, without the unit the cell adds.
            assert [r[0] for r in book[1:]] == [r[0] for r in rows]
        finally:
            browser.close()
