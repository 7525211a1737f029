"""The Chromium the browser tests drive: Debian's /usr/bin/chromium through Playwright, never a download."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
# Headless as root on a closed network: no sandbox, no GPU, no background calls home.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def need_chromium() -> None:
    """Skip without Chromium locally; on CI (``CI`` set) its absence is a failure."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing on CI: install chromium")
        pytest.skip(f"{CHROMIUM} not installed")


# Every row of a table on the page by its name, as the page holds it (not only the rendered ones): an AG
# Grid's through dash-ag-grid's API; a short table drawn as plain HTML (components.plain_table) from its
# store in the Dash renderer's layout (window.dash_stores, where Dash's own set_props looks components up).
TABLE_ROWS_JS = """async (name) => {
  const gridId = JSON.stringify({name: name, type: "grid"});
  if (document.getElementById(gridId)) {
    const api = await dash_ag_grid.getApiAsync(gridId);
    const rows = [];
    api.forEachNode(n => rows.push(n.data));
    return rows;
  }
  let found = null;
  const walk = (node) => {
    if (found || node === null || typeof node !== "object") return;
    if (Array.isArray(node)) { node.forEach(walk); return; }
    const id = node.props && node.props.id;
    if (node.type === "Store" && id && id.type === "table-rows" && id.name === name) {
      found = node.props.data.rows;
      return;
    }
    Object.values(node).forEach(walk);
  };
  // The layout's root is not a component ({components: ...} in Dash 3): walk every value, not only props.
  walk(window.dash_stores[0].getState().layout);
  if (found === null) throw new Error("no table " + name + " on the page");
  return found;
}"""


def table_rows(page: object, name: str) -> list[dict[str, object]]:
    """The rows of the page's table ``name`` (an AG Grid or a plain table), as its records."""
    return page.evaluate(TABLE_ROWS_JS, name)  # type: ignore[attr-defined,no-any-return]
