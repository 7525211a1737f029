"""Customer drill-down (/customer/<customer_id>): open order lines (at risk first) and shipments by lot.

Contact name and e-mail are personal data (medtower/pii.py): masked on the server for a role without
``pii.unmasked``, so the real values never reach the browser; shown in full to one with it, each view
recorded in the audit trail (``pii.view``).
"""

from __future__ import annotations

from typing import Any

from dashboards import drilldown, personal
from dashboards import drilldown_data as dd
from dashboards.components import snapshot_notice
from dashboards.data import shell
from dashboards.drilldown import Context, Tab, capped
from medtower import pii

MART = "dim_customers"


def _facts(con: Any, customer_id: str) -> Any:
    unmasked = personal.unmasked()
    facts = shell.entity_facts(con, MART, "customer_id", customer_id, unmasked=unmasked)
    if unmasked:
        cols = pii.columns()[MART]
        personal.record_view(facts, cols, "customer", customer_id, f"/customer/{customer_id}")
    return facts


def _notice(ctx: Context) -> Any:
    return snapshot_notice(shell.mart_as_of(ctx.con, "fct_sales_order_lines"), ctx.f)


def _orders(ctx: Context) -> Any:
    lines, total = dd.customer_order_lines(ctx.con, ctx.key, ctx.f)
    at_risk = int(lines["at_risk"].sum()) if not lines.empty else 0
    return capped(
        "Open order lines",
        "customer-orders",
        lines,
        total,
        note=f"{at_risk:,} at risk shown, at risk first; at risk = past due, a work order made for it late "
        "or short, or a shortage pegged up to it",
        what="lines",
        wide=True,
        height=300,
        empty_text="No order line of this customer is open.",
        empty_detail="Open = not cancelled and not shipped in full at the build date.",
    )


def _shipments(ctx: Context) -> Any:
    ships, total = dd.customer_lot_shipments(ctx.con, ctx.key, ctx.f)
    return capped(
        "Shipments by lot",
        "customer-shipments",
        ships,
        total,
        note=f"newest first, shipped up to {ctx.f.as_of}; the lots a recall would reach; shipping site's "
        "local time",
        what="shipment lines",
        wide=True,
        height=300,
        zones=ctx.zones,
        empty_text="Nothing shipped to this customer up to this date.",
    )


render = drilldown.register_page(
    __name__,
    path_template="/customer/<customer_id>",
    name="Customer",
    facts=_facts,
    sections=(_notice,),
    tabs=(Tab("Open orders", (_orders,)), Tab("Shipments by lot", (_shipments,))),
    labels={"customer_type": "Type"},
)
