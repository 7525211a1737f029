"""A role without the "export" right (viewer) gets no export: no button, and a grid that refuses its own
CSV export in the browser (AG Grid's suppressCsvExport), beside the server's refusal of the export
callback (tests/dashboards/test_access.py). The rows a viewer is shown are in their browser and on their
screen: they can read them (and retype them); the right is about files, not about seeing.

The real app over a copy of the hand-built plant; raw HTTP for what the server sends, Chromium for what
the grid does with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.chromium import CHROMIUM, CHROMIUM_ARGS, need_chromium
from tests.served_app import copy_warehouse, filters, grid_props, grids, post, serve
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
    assert "grid-csv" not in str(viewer) and "Export CSV" not in str(viewer)
    assert "grid-csv" in str(planner) and "Export CSV" in str(planner)
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
def test_in_chromium_a_viewers_grid_shows_its_rows_and_will_not_download_a_csv(app: str) -> None:
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            seen: dict[str, Any] = {}
            for name in ("viewer", "planner"):
                page = signed_in_page(browser, app, name, accept_downloads=True)
                downloads: list[Any] = []
                page.on("download", lambda d, kept=downloads: kept.append(d))
                page.goto(app + "/inventory?as_of=2026-06-30")
                page.wait_for_selector(".data-grid .ag-row", timeout=30000)
                rows = page.evaluate(EXPORT_FIRST_GRID)
                page.wait_for_timeout(2000)  # a download starts at once when it starts at all
                seen[name] = {
                    "rows": rows,
                    "downloads": [d.suggested_filename for d in downloads],
                    "buttons": page.locator("text=Export CSV").count(),
                }
            assert seen["viewer"]["rows"] == seen["planner"]["rows"] > 0  # shown to both
            assert seen["viewer"]["downloads"] == [] and seen["viewer"]["buttons"] == 0, seen
            assert len(seen["planner"]["downloads"]) == 1 and seen["planner"]["buttons"] > 0, seen
        finally:
            browser.close()
