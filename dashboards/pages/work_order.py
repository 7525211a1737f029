"""Work order drill-down (/work-order/<wo_id>)."""

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
    localize_times,
    page_header,
    reader,
    section,
)

dash.register_page(
    __name__, path_template="/work-order/<wo_id>", name="Work order", title="MedTower · Work order"
)


def layout(wo_id: str | None = None, **params: Any) -> html.Div:
    return html.Div(
        [
            page_header(f"Work order {wo_id}"),
            dcc.Store(id="work-order-id", data=wo_id),
            html.Div(id="work-order-body", children=empty_state("Loading…")),
        ]
    )


@callback(Output("work-order-body", "children"), Input("work-order-id", "data"), Input("filters", "data"))
@guarded
def render(value: str | None, filters: dict[str, Any] | None) -> Any:
    f = filters_from(filters)
    if not value:
        return empty_state("No Work order given.")
    with reader().connect() as con:
        facts = data.entity_facts(con, "fct_work_orders", "wo_id", value)
        if facts.empty:
            return empty_state(
                f"No Work order {value} in the warehouse.",
                "Check the id; links from tables always carry a valid one.",
            )
        grid_a, title_a, grid_b, title_b = (
            data_grid(
                "wo-operations",
                data.wo_operations(con, value),
                height=300,
                zones=data.site_zones(con),
                empty_text="No operations recorded.",
                empty_detail="Operations appear once the work order is released to the shop floor.",
            ),
            "Operations (times in the site's local time)",
            html.Div(),
            "",
        )
        facts = localize_times(facts, data.site_zones(con))
    row = facts.astype(object).where(facts.notna(), None).iloc[0].to_dict()
    del f
    return [
        section("Work order", facts_list(row)),
        html.Div(
            className="grid-2",
            children=[section(title_a, grid_a)] + ([section(title_b, grid_b)] if title_b else []),
        ),
    ]
