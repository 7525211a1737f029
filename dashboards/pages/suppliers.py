"""Suppliers: scorecard per supplier (on-time delivery, incoming rejects, lead time, open POs and ASNs)."""

from __future__ import annotations

from typing import Any

from dash import html

from dashboards import figures
from dashboards.components import (
    data_grid,
    filters_from,
    graph,
    guarded,
    reader,
    section,
    snapshot_notice,
)
from dashboards.data import shell, suppliers
from dashboards.in_place import register_page


@register_page(
    __name__,
    path="/suppliers",
    name="Suppliers",
    order=6,
    heading="Suppliers",
    subtitle="Scorecard per supplier: delivery, quality, lead time, open orders",
    body_id="suppliers-body",
)
@guarded
def render(filters: dict[str, Any] | None) -> Any:
    f = filters_from(filters)
    with reader().connect() as con:
        mart_date = shell.mart_as_of(con, "fct_supplier_performance")
        card = suppliers.supplier_scorecard(con, f)
        lead = suppliers.supplier_lead_times(con, f)
        pos = suppliers.open_purchase_order_lines(con, f)
        asns = suppliers.open_asn_lines(con, f)
        zones = shell.site_zones(con)
    window = f"90 days to {mart_date}" if mart_date else "90 days to the build date"
    late_pos = int(pos["is_past_due_at_as_of"].sum()) if not pos.empty else 0
    late_asns = int(asns["lands_after_need_date"].sum()) if not asns.empty else 0
    return [
        snapshot_notice(mart_date, f),
        section(
            "Scorecard",
            data_grid(
                "supplier-scorecard",
                card,
                height=360,
                empty_text="No supplier in the warehouse"
                + (f" with purchase orders for site {f.site}." if f.site else "."),
                empty_detail="Suppliers come from the suppliers feed; with a site filter only those with "
                "purchase order lines for that site are listed.",
            ),
            note=f"on-time delivery and incoming reject rate over the {window}; lead time over every PO line "
            "received (spread = p90 - p10 of actual days); open POs and ASNs in transit at that date"
            + ("; rates span all sites" if f.site else ""),
            wide=True,
        ),
        html.Div(
            className="grid-2",
            children=[
                section(
                    "Lead time planned vs actual",
                    graph(figures.lead_time_chart(card), 420),
                    note="median planned (green tick), median actual (dot), band to the p90 actual; "
                    "largest gap first",
                ),
                section(
                    "Lead time by supplier and material",
                    data_grid(
                        "supplier-lead-times",
                        lead,
                        height=420,
                        empty_text="No purchase order line has been received yet.",
                        empty_detail="Lead times are measured from order date to first receipt.",
                    ),
                    note="delay = actual - planned days; largest p90 delay first",
                ),
            ],
        ),
        html.Div(
            className="grid-2",
            children=[
                section(
                    "Open purchase order lines",
                    data_grid(
                        "open-po-lines",
                        pos,
                        height=320,
                        empty_text="No purchase order line is open at this date.",
                        empty_detail="Open = not cancelled, ordered by the as-of date, not fully received.",
                    ),
                    note=f"{len(pos):,} open, {late_pos:,} past due; past due first",
                ),
                section(
                    "ASNs in transit",
                    data_grid(
                        "open-asn-lines",
                        asns,
                        height=320,
                        zones=zones,
                        empty_text="No advance ship notice is in transit at this date.",
                        empty_detail="In transit = shipped by the as-of date for a PO line still open.",
                    ),
                    note=f"{len(asns):,} lines, {late_asns:,} landing after the date the material is "
                    "needed; shipped at in the receiving site's local time",
                ),
            ],
        ),
    ]
