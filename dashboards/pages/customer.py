"""Customer drill-down (/customer/<customer_id>)."""

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
)

dash.register_page(
    __name__, path_template="/customer/<customer_id>", name="Customer", title="MedTower · Customer"
)


def layout(customer_id: str | None = None, **params: Any) -> html.Div:
    return html.Div(
        [
            page_header(f"Customer {customer_id}"),
            dcc.Store(id="customer-id", data=customer_id),
            html.Div(id="customer-body", children=empty_state("Loading…")),
        ]
    )


@callback(Output("customer-body", "children"), Input("customer-id", "data"), Input("filters", "data"))
@guarded
def render(value: str | None, filters: dict[str, Any] | None) -> Any:
    f = filters_from(filters)
    if not value:
        return empty_state("No Customer given.")
    with reader().connect() as con:
        facts = data.entity_facts(con, "dim_customers", "customer_id", value)
        if facts.empty:
            return empty_state(
                f"No Customer {value} in the warehouse.",
                "Check the id; links from tables always carry a valid one.",
            )
        grid_a, title_a, grid_b, title_b = (
            data_grid(
                "customer-shipments",
                data.customer_shipments(con, value),
                height=300,
                zones=data.site_zones(con),
                empty_text="Nothing shipped to this customer.",
            ),
            "Shipments (lots shipped, for recalls; shipping site's local time)",
            html.Div(),
            "",
        )
    row = facts.astype(object).where(facts.notna(), None).iloc[0].to_dict()
    del f
    return [
        section("Customer", facts_list(row)),
        html.Div(
            className="grid-2",
            children=[section(title_a, grid_a)] + ([section(title_b, grid_b)] if title_b else []),
        ),
    ]
