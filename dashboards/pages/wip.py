"""WIP: open work orders (late first) with progress, status by operation, timeline per work center."""

from __future__ import annotations

from typing import Any

from dash import html

from dashboards import figures
from dashboards.components import (
    data_grid,
    filters_from,
    graph,
    guarded,
    reader,
    section,
)
from dashboards.data import shell, wip
from dashboards.in_place import register_page


@register_page(
    __name__,
    path="/wip",
    name="WIP",
    order=2,
    heading="Work in progress",
    subtitle="Open work orders at the as-of date, late ones first",
    body_id="wip-body",
)
@guarded
def render(filters: dict[str, Any] | None) -> Any:
    f = filters_from(filters)
    with reader().connect() as con:
        orders = wip.work_orders_open(con, f)
        counts = wip.work_order_counts(con, f)
        by_op = wip.wo_status_by_operation(con, f)
        timeline = wip.wo_timeline(con, f)
        zones = shell.site_zones(con)
    return [
        section(
            "Open work orders",
            data_grid(
                "wip-orders",
                orders,
                height=340,
                zones=zones,
                empty_text="No work order is open at this date.",
                empty_detail="Open = planned, released, in progress or on hold: not cancelled and not "
                "finished by the end of the as-of date.",
            ),
            note=f"{counts['open']:,} open, {counts['late']:,} late at the end of {f.as_of} (late = planned "
            "end on or before that day, not finished); late first, at most 500 rows; progress = completed / "
            "planned qty; times in each site's local time",
        ),
        html.Div(
            className="grid-2",
            children=[
                section(
                    "Operations of open work orders by status",
                    graph(figures.status_by_category(by_op, "operation", "status", "operations"), 320),
                ),
                section(
                    "Timeline per work center",
                    graph(figures.gantt(timeline, f.as_of), 320),
                    note="operations of the next 80 open work orders; red line = as-of",
                ),
            ],
        ),
    ]
