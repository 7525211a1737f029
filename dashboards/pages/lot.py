"""Lot drill-down (/lot/<lot_id>): facts, status history, movements, link to its genealogy."""

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

dash.register_page(__name__, path_template="/lot/<lot_id>", name="Lot", title="MedTower · Lot")


def layout(lot_id: str | None = None, **params: Any) -> html.Div:
    return html.Div(
        [
            page_header(f"Lot {lot_id}", "Status, stock and movements of one lot"),
            dcc.Store(id="lot-id", data=lot_id),
            html.Div(id="lot-body", children=empty_state("Loading…")),
        ]
    )


@callback(Output("lot-body", "children"), Input("lot-id", "data"), Input("filters", "data"))
@guarded
def render(lot_id: str | None, filters: dict[str, Any] | None) -> Any:
    f = filters_from(filters)
    if not lot_id:
        return empty_state("No lot given.")
    with reader().connect() as con:
        facts = data.lot_facts(con, lot_id)
        if facts.empty:
            return empty_state(
                f"No lot {lot_id} in the warehouse.",
                "Check the lot number, or search it on the Traceability page.",
            )
        history = data.lot_state_history(con, lot_id)
        moves = data.lot_movements(con, lot_id)
        zones = data.site_zones(con)
    facts = localize_times(facts, zones)
    row = facts.astype(object).where(facts.notna(), None).iloc[0].to_dict()
    qs = f.query_string()
    return [
        section(
            "Lot",
            facts_list(row),
            html.Div(
                [
                    dcc.Link(
                        "Backward / forward genealogy →",
                        href=f"/traceability{qs}&q={lot_id}",
                        className="btn",
                    ),
                    " ",
                    dcc.Link(
                        f"Material {row['material_id']} →",
                        href=f"/material/{row['material_id']}{qs}",
                        className="btn",
                    ),
                ],
                style={"marginTop": "8px"},
            ),
        ),
        html.Div(
            className="grid-2",
            children=[
                section(
                    "Status and on-hand history",
                    data_grid(
                        "lot-history",
                        history,
                        height=280,
                        empty_text="No status history for this lot.",
                        empty_detail="The history starts with the lot's first receipt or production.",
                    ),
                ),
                section(
                    "Movements",
                    data_grid(
                        "lot-movements",
                        moves,
                        height=280,
                        zones=zones,
                        empty_text="No inventory movement recorded for this lot.",
                        empty_detail="Receipts, issues, transfers and shipments of the lot appear here.",
                    ),
                    note="times in the site's local time",
                ),
            ],
        ),
    ]
