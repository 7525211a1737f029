"""Overview: KPI tiles against target with delta and sparkline; open alerts by severity."""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from dashboards import figures, kpi_view
from dashboards.components import (
    filters_from,
    fmt_value,
    guarded,
    kpi_tile,
    reader,
    section,
    settings,
    warehouse_identity,
)
from dashboards.filters import Filters
from dashboards.in_place import register_page
from medtower import alert_queries
from medtower.severity import SEVERITY_COLOURS


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
    """Alerts not resolved per severity (the one vocabulary), for the filters' site; each count opens the
    Alerts page filtered to it, so the count and the list it opens are the same alerts."""
    if not alert_queries.has_alerts(con):
        return section(
            "Open alerts by severity",
            html.Div(
                "The alerts engine has not written any alerts to this warehouse yet "
                "(no `alerts` schema), so there is nothing open.",
                className="section-note",
            ),
        )
    rows = alert_queries.list_alerts(con, settings(), include_resolved=False)
    view = alert_queries.AlertFilter(site=f.site)
    counts = alert_queries.severity_counts(rows, view)
    qs = f.query_string()
    links = [
        dcc.Link(
            [
                html.Span(f"{n:,}", className="alert-count", id=f"alerts-{sev}"),
                html.Span(sev, className=f"badge badge-{sev}", style={"background": SEVERITY_COLOURS[sev]}),
            ],
            href=f"/alerts{qs}&severity={sev}",
            className="alert-count-link",
        )
        for sev, n in counts.items()
    ]
    missing = alert_queries.no_site_count(rows, view)
    note = (
        html.Div(
            f"{missing:,} open alert(s) without a site (e.g. data freshness) are counted in all sites only.",
            className="section-note",
        )
        if missing
        else None
    )
    return section(
        "Open alerts by severity",
        html.Div(links, className="alert-counts"),
        note,
        note=f"not resolved, {f.site or 'all sites'}; click a count for the list",
    )


@register_page(
    __name__,
    path="/",
    name="Overview",
    order=0,
    heading="Overview",
    subtitle="KPIs for the chosen period against target; click a tile to drill in",
    body_id="overview-body",
)
@guarded
def render(filters: dict[str, Any] | None) -> Any:
    f = filters_from(filters)
    identity = warehouse_identity()
    with reader().connect() as con:
        tile_list = html.Div(tiles(con, f, identity), className="kpi-grid")
        alerts = alert_panel(con, f)
    return [tile_list, alerts]
