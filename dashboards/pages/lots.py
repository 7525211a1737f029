"""Lots and release: QA release queue with age, release cycle time trend, lots on hold and why."""

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
from dashboards.data import lots
from dashboards.in_place import register_page


@register_page(
    __name__,
    path="/lots",
    name="Lots & release",
    order=3,
    heading="Lots and release",
    subtitle="What is waiting for QA, how long release takes, what is held",
    body_id="lots-body",
)
@guarded
def render(filters: dict[str, Any] | None) -> Any:
    f = filters_from(filters)
    with reader().connect() as con:
        queue = lots.release_queue(con, f)
        trend = lots.release_cycle_trend(con, f)
        held = lots.lots_on_hold(con, f)
    return [
        html.Div(
            className="grid-2",
            children=[
                section(
                    "Release queue",
                    data_grid(
                        "release-queue",
                        queue,
                        height=320,
                        empty_text="No produced lot is waiting for a QA decision.",
                    ),
                    note="produced lots in quarantine at the as-of date, oldest first; age in days",
                ),
                section(
                    "Release cycle time",
                    graph(figures.trend_line(trend, "week", "p50_hours", y_title="median hours"), 320),
                    note="weekly median hours from work-order end to first release",
                ),
            ],
        ),
        section(
            "Lots on hold",
            data_grid("lots-on-hold", held, height=280, empty_text="No lot is on hold at this date."),
            note="why = the nonconformances open on the lot",
            wide=True,
        ),
    ]
