"""Inventory: stock by status, expiry horizon, days of supply, time-phased shortages."""

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

dash.register_page(__name__, path="/inventory", name="Inventory", title="MedTower · Inventory", order=1)


def layout(**params: Any) -> html.Div:
    return html.Div(
        [
            page_header("Inventory", "Stock position at the as-of date, by status, lot and expiry"),
            html.Div(id="inventory-body", children=empty_state("Loading…")),
        ]
    )


def _optional(render: Any, title: str) -> Any:
    try:
        return render()
    except data.MartMissingError as exc:
        return section(title, empty_state("This mart is not built yet.", str(exc)))


@callback(Output("inventory-body", "children"), Input("filters", "data"))
@guarded
def render(filters: dict[str, Any] | None) -> Any:
    f = filters_from(filters)
    with reader().connect() as con:
        by_status = data.stock_by_status(con, f)
        expiry = data.expiry_horizon(con, f)
        lots = data.stock_lots(con, f)
        dos = _optional(
            lambda: section(
                "Days of supply",
                data_grid("days-of-supply", data.days_of_supply(con, f), height=300),
                note="released on hand / average daily issue over 90 days",
            ),
            "Days of supply",
        )
        short = _optional(
            lambda: section(
                "Time-phased shortages against open work orders",
                data_grid(
                    "shortages",
                    data.shortages(con, f),
                    height=300,
                    empty_text="No shortages: every open work order is covered.",
                ),
                wide=True,
            ),
            "Time-phased shortages",
        )
    pivot = (
        by_status.pivot_table(
            index=["material_id", "description", "uom"],
            columns="status",
            values="on_hand_qty",
            aggfunc="sum",
            fill_value=0,
        ).reset_index()
        if not by_status.empty
        else by_status
    )
    if not pivot.empty:
        pivot.columns = [str(c) for c in pivot.columns]
    return [
        html.Div(
            className="grid-2",
            children=[
                section(
                    "On hand by status (top materials)",
                    graph(figures.stock_status_bar(by_status), 340),
                    note=f"at end of {f.as_of}",
                ),
                section(
                    "Expiry horizon",
                    graph(figures.expiry_horizon_bar(expiry), 340),
                    note="lots with stock: expired, < 30, 30-90, >= 90 days",
                ),
            ],
        ),
        section(
            "Stock by material and status",
            data_grid("stock-by-material", pivot, height=300),
            note="quantities in each material's unit of measure",
        ),
        section(
            "Lots on hand",
            data_grid("stock-lots", lots, height=320),
            note="blocked and soonest-expiring first; max 500 rows",
        ),
        html.Div(className="grid-2", children=[dos, short]),
    ]
