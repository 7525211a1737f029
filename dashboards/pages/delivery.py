"""Delivery: OTIF trend, open customer orders at risk, shipments."""

from __future__ import annotations

from typing import Any

from dash import html

from dashboards import figures, kpi_view
from dashboards.components import (
    data_grid,
    empty_state,
    filters_from,
    graph,
    guarded,
    reader,
    section,
    snapshot_notice,
)
from dashboards.data import base, delivery, shell
from dashboards.in_place import register_page


def _otif_target() -> float | None:
    return next((s.target for s in kpi_view.catalog() if s.kpi_id == "otif_rate"), None)


def _at_risk(con: Any, f: Any) -> list[Any]:
    try:
        mart_date = shell.mart_as_of(con, "fct_sales_order_lines")
        orders = delivery.open_orders_at_risk(con, f)
        counts = delivery.order_risk_summary(con, f)
    except base.MartMissingError as exc:
        return [
            section(
                "Open customer orders at risk",
                empty_state("Open customer orders need the sales order mart, not built yet.", str(exc)),
                wide=True,
            )
        ]
    note = (
        f"{counts.get('at_risk', 0):,} of {counts.get('open_lines', 0):,} open lines at risk: "
        f"{counts.get('past_due', 0):,} past due, {counts.get('wo_late', 0):,} with a late work order, "
        f"{counts.get('short', 0):,} with components short upstream"
    )
    return [
        snapshot_notice(mart_date, f),
        section(
            "Open customer orders at risk",
            data_grid(
                "orders-at-risk",
                orders,
                height=320,
                empty_text="No open customer order at risk.",
                empty_detail="At risk = open and past due, or a work order made for it is late or short "
                "of a component.",
            ),
            note=note + "; past due first",
            wide=True,
        ),
    ]


@register_page(
    __name__,
    path="/delivery",
    name="Delivery",
    order=5,
    heading="Delivery",
    subtitle="On time in full, orders at risk and what shipped",
    body_id="delivery-body",
)
@guarded
def render(filters: dict[str, Any] | None) -> Any:
    f = filters_from(filters)
    with reader().connect() as con:
        otif = delivery.kpi_event_trend(con, f, "otif_rate")
        at_risk = _at_risk(con, f)
        ships = delivery.shipments(con, f)
        zones = shell.site_zones(con)
    return [
        *at_risk,
        html.Div(
            className="grid-2",
            children=[
                section(
                    "OTIF trend",
                    graph(
                        figures.trend_line(
                            otif, "week", "value", y_title="OTIF", percent=True, target=_otif_target()
                        ),
                        320,
                    ),
                    note="weekly share of order lines due that shipped complete by the due date, "
                    "26 weeks to the as-of date",
                ),
                section(
                    "Shipments",
                    data_grid(
                        "shipments",
                        ships,
                        height=320,
                        zones=zones,
                        empty_text="Nothing shipped in this window.",
                    ),
                    note=f"shipped in the {f.period_days} days to {f.as_of}; times in the shipping site's "
                    "local time",
                ),
            ],
        ),
    ]
