"""Suppliers: scorecard per supplier (on-time delivery, incoming rejects, lead time, open POs and ASNs)."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, callback, html

from dashboards import data, figures
from dashboards.components import (
    data_grid,
    empty_state,
    filters_from,
    graph,
    guarded,
    page_header,
    reader,
    section,
)

dash.register_page(__name__, path="/suppliers", name="Suppliers", title="MedTower · Suppliers", order=6)


def layout(**params: Any) -> html.Div:
    return html.Div(
        [
            page_header("Suppliers", "Scorecard per supplier for the chosen window"),
            html.Div(id="suppliers-body", children=empty_state("Loading…")),
        ]
    )


@callback(Output("suppliers-body", "children"), Input("filters", "data"))
@guarded
def render(filters: dict[str, Any] | None) -> Any:
    f = filters_from(filters)
    with reader().connect() as con:
        rejects = data.incoming_reject_rate_by_supplier(con, f)
        try:
            card: Any = data_grid("supplier-scorecard", data.supplier_scorecard(con, f), height=340)
        except data.MartMissingError as exc:
            card = empty_state(
                "On-time delivery, lead time and open POs / ASNs need the supplier marts, "
                "which are not built yet.",
                str(exc),
            )
    return [
        section(
            "Scorecard",
            card,
            note="on-time delivery, lead time planned vs actual (median, spread), open POs and ASNs",
            wide=True,
        ),
        html.Div(
            className="grid-2",
            children=[
                section(
                    "Incoming reject rate",
                    graph(
                        figures.simple_bar(
                            rejects.head(15),
                            "supplier_id",
                            "reject_rate",
                            y_title="reject rate",
                            percent=True,
                            horizontal=True,
                        ),
                        320,
                    ),
                ),
                section(
                    "Incoming inspections",
                    data_grid(
                        "supplier-rejects",
                        rejects,
                        height=320,
                        empty_text="No incoming inspection in this window.",
                    ),
                ),
            ],
        ),
    ]
