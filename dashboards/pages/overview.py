"""Overview: KPI tiles against target with delta and sparkline; open alerts by severity."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, callback, html

from dashboards import data, figures, kpi_view
from dashboards.components import (
    empty_state,
    filters_from,
    fmt_value,
    guarded,
    kpi_tile,
    page_header,
    reader,
    section,
    warehouse_identity,
)
from dashboards.filters import Filters

dash.register_page(__name__, path="/", name="Overview", title="MedTower · Overview", order=0)


def layout(**params: Any) -> html.Div:
    return html.Div(
        [
            page_header("Overview", "KPIs for the chosen period against target; click a tile to drill in"),
            html.Div(id="overview-body", children=empty_state("Loading…")),
        ]
    )


def tiles(con: Any, f: Filters, warehouse: Any = None) -> list[Any]:
    specs = kpi_view.catalog()
    values = kpi_view.values(con, f, points=8, warehouse=warehouse)
    current, previous, trend = values.current, values.previous, values.trend
    out = []
    qs = f.query_string()
    for spec in specs:
        if spec.kpi_id not in current:
            continue
        value = current.get(spec.kpi_id)
        points = [v for _, v in trend.get(spec.kpi_id, [])]
        out.append(
            kpi_tile(
                kpi_id=spec.kpi_id,
                label=spec.label,
                value=fmt_value(value, spec.unit),
                target=fmt_value(spec.target, spec.unit) if spec.target is not None else None,
                rag=kpi_view.rag(value, spec),
                delta=kpi_view.delta_text(value, previous.get(spec.kpi_id), spec.unit),
                spark=figures.sparkline(points) if any(p is not None for p in points) else None,
                href=spec.page + qs,
            )
        )
    return out


def alert_panel(con: Any, f: Filters) -> Any:
    counts = data.open_alerts_by_severity(con, f)
    if counts is None:
        body: Any = [
            html.Div(
                className="alert-counts",
                children=[
                    html.Span(
                        [
                            html.Span("0", className="alert-count"),
                            html.Span(sev, className=f"badge badge-{sev}"),
                        ]
                    )
                    for sev in ("critical", "major", "minor")
                ],
            ),
            html.Div(
                "The alerts engine has not written any alerts to this warehouse yet "
                "(no `alerts` schema), so there is nothing open.",
                className="section-note",
            ),
        ]
    else:
        by = {str(r.severity): int(r.alerts) for r in counts.itertuples()}
        body = html.Div(
            className="alert-counts",
            children=[
                html.Span(
                    [
                        html.Span(f"{by.get(sev, 0):,}", className="alert-count", id=f"alerts-{sev}"),
                        html.Span(sev, className=f"badge badge-{sev}"),
                    ]
                )
                for sev in sorted(
                    set(by) | {"critical", "major", "minor"},
                    key=lambda s: (
                        ["critical", "major", "minor"].index(s) if s in ("critical", "major", "minor") else 9
                    ),
                )
            ],
        )
    return section("Open alerts by severity", body)


@callback(Output("overview-body", "children"), Input("filters", "data"))
@guarded
def render(filters: dict[str, Any] | None) -> Any:
    f = filters_from(filters)
    identity = warehouse_identity()
    with reader().connect() as con:
        tile_list = html.Div(tiles(con, f, identity), className="kpi-grid")
        alerts = alert_panel(con, f)
    return [tile_list, alerts]
