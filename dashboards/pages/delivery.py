"""Delivery: OTIF trend, open customer orders at risk, shipments."""

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

dash.register_page(__name__, path="/delivery", name="Delivery", title="MedTower · Delivery", order=5)


def layout(**params: Any) -> html.Div:
    return html.Div(
        [
            page_header("Delivery", "On time in full, orders at risk and what shipped"),
            html.Div(id="delivery-body", children=empty_state("Loading…")),
        ]
    )


def _at_risk(con: Any, f: Any) -> Any:
    try:
        return data_grid(
            "orders-at-risk",
            data.open_orders_at_risk(con, f),
            height=300,
            empty_text="No open customer order at risk.",
        )
    except data.MartMissingError as exc:
        return empty_state("Open customer orders need the sales order mart, not built yet.", str(exc))


@callback(Output("delivery-body", "children"), Input("filters", "data"))
@guarded
def render(filters: dict[str, Any] | None) -> Any:
    f = filters_from(filters)
    with reader().connect() as con:
        otif = data.kpi_event_trend(con, f, "otif_rate")
        at_risk = _at_risk(con, f)
        ships = data.shipments(con, f)
    return [
        html.Div(
            className="grid-2",
            children=[
                section(
                    "OTIF trend",
                    graph(figures.trend_line(otif, "week", "value", y_title="OTIF", percent=True), 300),
                    note="weekly share of order lines due that shipped complete by the due date",
                ),
                section(
                    "Open customer orders at risk",
                    at_risk,
                    note="late, or short because of a shortage upstream",
                ),
            ],
        ),
        section(
            "Shipments",
            data_grid("shipments", ships, height=300, empty_text="Nothing shipped in this window."),
            note=f"shipped in the {f.period_days} days to {f.as_of}",
            wide=True,
        ),
    ]
