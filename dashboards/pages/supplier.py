"""Supplier drill-down (/supplier/<supplier_id>)."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, callback, dcc, html

from dashboards import data
from dashboards.components import (
    data_grid,
    empty_state,
    facts_list,
    filters_from,
    guarded,
    page_header,
    reader,
    section,
    snapshot_notice,
)

dash.register_page(
    __name__, path_template="/supplier/<supplier_id>", name="Supplier", title="MedTower · Supplier"
)


def layout(supplier_id: str | None = None, **params: Any) -> html.Div:
    return html.Div(
        [
            page_header(f"Supplier {supplier_id}"),
            dcc.Store(id="supplier-id", data=supplier_id),
            html.Div(id="supplier-body", children=empty_state("Loading…")),
        ]
    )


@callback(Output("supplier-body", "children"), Input("supplier-id", "data"), Input("filters", "data"))
@guarded
def render(value: str | None, filters: dict[str, Any] | None) -> Any:
    f = filters_from(filters)
    if not value:
        return empty_state("No Supplier given.")
    with reader().connect() as con:
        facts = data.entity_facts(con, "dim_suppliers", "supplier_id", value)
        if facts.empty:
            return empty_state(
                f"No Supplier {value} in the warehouse.",
                "Check the id; links from tables always carry a valid one.",
            )
        grid_a, title_a, grid_b, title_b = (
            data_grid(
                "supplier-lots",
                data.supplier_lots(con, value),
                height=300,
                zones=data.site_zones(con),
                empty_text="No lot received from this supplier.",
            ),
            "Lots received and incoming inspection (site local time)",
            data_grid(
                "supplier-ncrs",
                data.supplier_ncrs(con, value),
                height=300,
                empty_text="No NCR against this supplier.",
            ),
            "Nonconformances",
        )
        try:
            scorecard = data.supplier_scorecard(con, f, supplier_id=value)
            lead = data.supplier_lead_times(con, f, supplier_id=value)
            pos = data.open_purchase_order_lines(con, f, supplier_id=value)
            asns = data.open_asn_lines(con, f, supplier_id=value)
            mart_date = data.mart_as_of(con, "fct_supplier_performance")
            supply: list[Any] = [
                snapshot_notice(mart_date, f),
                section(
                    "Scorecard",
                    data_grid("supplier-card", scorecard, height=110, empty_text="No scorecard row."),
                    note="on-time delivery and incoming rejects over 90 days; lead time over every PO line "
                    "received; all sites",
                    wide=True,
                ),
                html.Div(
                    className="grid-2",
                    children=[
                        section(
                            "Lead time by material",
                            data_grid(
                                "supplier-lead",
                                lead,
                                height=260,
                                empty_text="No purchase order line received from this supplier yet.",
                            ),
                        ),
                        section(
                            "Open purchase order lines",
                            data_grid(
                                "supplier-pos",
                                pos,
                                height=260,
                                empty_text="No purchase order line open with this supplier.",
                                empty_detail="Open = not cancelled and not fully received at the as-of date.",
                            ),
                            note="past due first",
                        ),
                    ],
                ),
                section(
                    "ASNs in transit",
                    data_grid(
                        "supplier-asns",
                        asns,
                        height=220,
                        zones=data.site_zones(con),
                        empty_text="Nothing in transit from this supplier.",
                        empty_detail="In transit = shipped by the as-of date for a PO line still open.",
                    ),
                    wide=True,
                ),
            ]
        except data.MartMissingError as exc:
            supply = [empty_state("The supplier marts are not built yet.", str(exc))]
    row = facts.astype(object).where(facts.notna(), None).iloc[0].to_dict()
    return [
        section("Supplier", facts_list(row)),
        *supply,
        html.Div(
            className="grid-2",
            children=[section(title_a, grid_a)] + ([section(title_b, grid_b)] if title_b else []),
        ),
    ]
