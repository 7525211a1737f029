"""Traceability: lot id or scanned GS1 barcode -> forward / backward genealogy, customers, timeline."""

from __future__ import annotations

from typing import Any, Literal

import dash
import pandas as pd
from dash import Input, Output, State, callback, dcc, html

from dashboards import data, figures
from dashboards.components import (
    data_grid,
    empty_state,
    graph,
    guarded,
    page_header,
    reader,
    section,
)

dash.register_page(
    __name__, path="/traceability", name="Traceability", title="MedTower · Traceability", order=7
)


def layout(q: str | None = None, direction: str | None = None, **params: Any) -> html.Div:
    return html.Div(
        [
            page_header("Traceability", "Where did this lot come from, and where did it go?"),
            html.Div(
                className="trace-search",
                children=[
                    dcc.Input(
                        id="trace-q",
                        value=q or "",
                        placeholder="Lot id, or scan a GS1 barcode e.g. (01)…(10)LOT",
                        debounce=True,
                        type="text",
                    ),
                    dcc.RadioItems(
                        id="trace-direction",
                        value=direction or "backward",
                        inline=True,
                        options=[
                            {"label": " backward (components, suppliers)", "value": "backward"},
                            {"label": " forward (products, customers)", "value": "forward"},
                        ],
                    ),
                    html.Button("Trace", id="trace-go", className="btn btn-primary", n_clicks=0),
                ],
            ),
            html.Div(id="trace-body", children=empty_state("Enter a lot id or scan a barcode to trace it.")),
        ]
    )


def trace_tables(result: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Turn a trace result into frames for the grids; lists of ids become one-column frames."""
    out: dict[str, pd.DataFrame] = {}
    for key in ("lot_details", "shipment_details", "edges"):
        value = result.get(key)
        if isinstance(value, pd.DataFrame):
            out[key] = value
        elif value:
            out[key] = pd.DataFrame(value)
        else:
            out[key] = pd.DataFrame()
    out["customers"] = pd.DataFrame({"customer_id": list(result.get("customers") or [])})
    out["suppliers"] = pd.DataFrame({"supplier_id": list(result.get("suppliers") or [])})
    return out


@callback(
    Output("trace-body", "children"),
    Input("trace-go", "n_clicks"),
    Input("trace-q", "value"),
    Input("trace-direction", "value"),
    State("filters", "data"),
)
@guarded
def render(n_clicks: int, query: str | None, direction: str, filters: dict[str, Any] | None) -> Any:
    if not (query or "").strip():
        return empty_state("Enter a lot id or scan a barcode to trace it.")
    try:
        from medtower.trace import TraceError, trace
    except ImportError:
        return empty_state("Tracing needs medtower.trace, which is not in this build yet.")
    with reader().connect() as con:
        try:
            way: Literal["forward", "backward"] = "forward" if direction == "forward" else "backward"
            result = trace(con, (query or "").strip(), direction=way)
        except TraceError as exc:
            return empty_state("Cannot trace that.", str(exc))
        tables = trace_tables(result)
        lot_id = str(result["lot_id"])
        edges = tables["edges"]
        if edges.empty:
            edges = data.genealogy_edges_for(con, [str(x) for x in result.get("lots", [])])
        timeline = data.lot_timeline(con, lot_id)
        zones = data.site_zones(con)
        lot_site = data.lot_facts(con, lot_id)["site_id"]
    site = str(lot_site.iloc[0]) if not lot_site.empty else None
    ships = tables["shipment_details"]
    for col in ("shipped_at", "delivered_at"):
        if col in ships.columns:
            ships[col] = pd.to_datetime(ships[col], errors="coerce")
    counts = ", ".join(
        f"{len(result.get(k) or []):,} {k.replace('_', ' ')}"
        for k in ("lots", "work_orders", "shipments", "customers", "suppliers")
    )
    return [
        html.Div(
            className="notice",
            children=[
                html.Strong(f"{direction.capitalize()} trace of lot "),
                dcc.Link(lot_id, href=f"/lot/{lot_id}"),
                f": {counts}",
            ],
        ),
        section(
            "Genealogy",
            graph(figures.genealogy_graph(edges, lot_id, tables["lot_details"]), 420),
            note="components left, products right; the traced lot in red",
            wide=True,
        ),
        html.Div(
            className="grid-2",
            children=[
                section("Lots", data_grid("trace-lots", tables["lot_details"], height=300)),
                section(
                    "Affected customers" if direction == "forward" else "Suppliers",
                    data_grid(
                        "trace-parties",
                        tables["customers"] if direction == "forward" else tables["suppliers"],
                        height=300,
                        empty_text="None in this direction.",
                    ),
                ),
            ],
        ),
        html.Div(
            className="grid-2",
            children=[
                section(
                    "Shipments",
                    data_grid(
                        "trace-shipments",
                        ships,
                        height=300,
                        zones=zones,
                        site=site,
                        empty_text="No shipment in this direction.",
                        empty_detail="Shipments of the traced lots to customers appear in a forward trace.",
                    ),
                    note="shipping site's local time",
                ),
                section(
                    "Timeline of the lot",
                    data_grid(
                        "trace-timeline",
                        timeline,
                        height=300,
                        zones=zones,
                        empty_text="Nothing recorded for this lot yet.",
                        empty_detail="Movements, inspections, NCRs, releases and shipments appear here.",
                    ),
                    note="site local time, zone named on each event",
                ),
            ],
        ),
    ]
