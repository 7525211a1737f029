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
    row = facts.astype(object).where(facts.notna(), None).iloc[0].to_dict()
    del f
    return [
        section("Supplier", facts_list(row)),
        html.Div(
            className="grid-2",
            children=[section(title_a, grid_a)] + ([section(title_b, grid_b)] if title_b else []),
        ),
    ]
