"""Material drill-down (/material/<material_id>)."""

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
    __name__, path_template="/material/<material_id>", name="Material", title="MedTower · Material"
)


def layout(material_id: str | None = None, **params: Any) -> html.Div:
    return html.Div(
        [
            page_header(f"Material {material_id}"),
            dcc.Store(id="material-id", data=material_id),
            html.Div(id="material-body", children=empty_state("Loading…")),
        ]
    )


@callback(Output("material-body", "children"), Input("material-id", "data"), Input("filters", "data"))
@guarded
def render(value: str | None, filters: dict[str, Any] | None) -> Any:
    f = filters_from(filters)
    if not value:
        return empty_state("No Material given.")
    with reader().connect() as con:
        facts = data.entity_facts(con, "dim_materials", "material_id", value)
        if facts.empty:
            return empty_state(
                f"No Material {value} in the warehouse.",
                "Check the id; links from tables always carry a valid one.",
            )
        grid_a, title_a, grid_b, title_b = (
            data_grid(
                "material-lots",
                data.stock_lots(con, f, material_id=value),
                height=300,
                empty_text="No stock of this material at this date.",
            ),
            "Lots on hand",
            data_grid(
                "material-wos",
                data.material_work_orders(con, value, f),
                height=300,
                zones=data.site_zones(con),
                empty_text="No work order makes this material.",
            ),
            "Work orders",
        )
    row = facts.astype(object).where(facts.notna(), None).iloc[0].to_dict()
    del f
    return [
        section("Material", facts_list(row)),
        html.Div(
            className="grid-2",
            children=[section(title_a, grid_a)] + ([section(title_b, grid_b)] if title_b else []),
        ),
    ]
