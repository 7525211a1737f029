"""Navigation is built from the page registry: fixed-path pages by order, drill-downs left out."""

from __future__ import annotations

from dashboards.app import nav_pages


def _page(module: str, path: str, name: str, order: int | None, template: str | None = None) -> dict:
    return {"module": module, "path": path, "name": name, "order": order, "path_template": template}


def test_nav_lists_fixed_pages_by_order_then_module_and_leaves_drill_downs_out() -> None:
    registry = {
        "pages.zeta": _page("pages.zeta", "/zeta", "Zeta", 1),
        "pages.lot": _page("pages.lot", "/lot/none", "Lot", None, "/lot/<lot_id>"),
        "pages.extra": _page("pages.extra", "/extra", "Extra", None),
        "pages.beta": _page("pages.beta", "/beta", "Beta", 1),
        "pages.home": _page("pages.home", "/", "Home", 0),
    }
    # order 0, then the two of order 1 by module name, then the page without an order; no /lot/<lot_id>.
    assert nav_pages(registry) == [("/", "Home"), ("/beta", "Beta"), ("/zeta", "Zeta"), ("/extra", "Extra")]
