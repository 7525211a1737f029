"""KPI review: the chosen period vs the previous one and target, trends; printable and exportable."""

from __future__ import annotations

from typing import Any

import dash
import pandas as pd
from dash import Input, Output, State, callback, clientside_callback, dcc, html

from dashboards import figures, kpi_view, report
from dashboards.components import (
    empty_state,
    filters_from,
    graph,
    guarded,
    page_header,
    reader,
    section,
    settings,
    warehouse_identity,
)
from dashboards.data import shortages
from dashboards.in_place import body_callback, page_body
from medtower import kpis, review

dash.register_page(__name__, path="/kpi-review", name="KPI review", title="MedTower · KPI review", order=8)


def layout(**params: Any) -> html.Div:
    return html.Div(
        [
            page_header("KPI review", "This period against the previous one and target"),
            html.Div(
                className="no-print",
                style={"marginBottom": "10px"},
                children=[
                    html.Button("Print", id="review-print", className="btn", n_clicks=0),
                    " ",
                    html.Button(
                        "Download HTML", id="review-download-btn", className="btn btn-primary", n_clicks=0
                    ),
                    dcc.Download(id="review-download"),
                ],
            ),
            *page_body("review-body"),
        ]
    )


clientside_callback(
    "function(n) { if (n) { window.print(); } return ''; }",
    Output("review-print", "title"),
    Input("review-print", "n_clicks"),
    prevent_initial_call=True,
)


def review_table_component(scope: review.ReviewScope, rows: list[kpis.ReviewRow]) -> html.Table:
    """The review table of ``medtower.review`` (the report file's and the weekly email's) as components:
    the same caption, columns, cells and status colours."""

    def cell(item: review.ReviewLine, i: int, text: str) -> html.Td:
        if i not in review.COLOURED:
            return html.Td(text)
        style = {"color": item.colour, "fontWeight": 700} if item.colour else {}
        return html.Td(text, className=item.css_class, style=style)

    head = html.Thead(html.Tr([html.Th(c) for c in review.COLUMNS]))
    body = [
        html.Tr(
            [cell(item, i, text) for i, text in enumerate(item.cells)],
            **{"data-kpi": item.kpi_id},  # type: ignore[arg-type]
        )
        for item in review.lines(rows)
    ]
    return html.Table(
        [html.Caption(scope.title), head, html.Tbody(body)],
        className="kpi-table kpi-review",
        **{"data-site": scope.site or "all sites"},  # type: ignore[arg-type]
    )


def site_breakdown_component(frame: pd.DataFrame) -> html.Table:
    cols = [c for c in frame.columns if c not in ("kpi_id", "kpi")]
    head = html.Thead(html.Tr([html.Th("KPI"), *(html.Th(c) for c in cols)]))
    body = [
        html.Tr(
            [
                html.Td(r["kpi"]),
                *(html.Td(r[c], **{"data-kpi": r["kpi_id"], "data-site": c}) for c in cols),
            ]
        )
        for r in frame.to_dict("records")
    ]
    return html.Table([head, html.Tbody(body)], className="kpi-table kpi-by-site")


@body_callback("review-body", Input("filters", "data"))
@guarded
def render(filters: dict[str, Any] | None) -> Any:
    f = filters_from(filters)
    identity = warehouse_identity()
    with reader().connect() as con:
        values = kpi_view.values(con, f, warehouse=identity)
        rows = report.review_rows(con, f, values)
        scope = report.review_scope(con, f)
        trends = report.trend_frames(con, f, values=values)
        by_site = report.site_breakdown(con, f, kpi_view.by_site(con, f, warehouse=identity))
        actions, n_actions = shortages.planned_actions(con, f)
    trend_figure = trend_grid(rows, trends)
    return [
        section(
            "This period against the previous one and target",
            review_table_component(scope, rows),
            note=f"{scope.comparison}. {review.LEGEND}",
            wide=True,
        ),
        section(
            "By site",
            site_breakdown_component(by_site),
            note="rates as numerator / denominator, days on hand as stock value / value used a day; "
            "members without a site of their own (and none from "
            "their lot or work order) are in 'no site', so the sites add up to all sites",
            wide=True,
        ),
        section(
            "Planned actions: needs beyond the lead time",
            planned_actions_component(actions),
            note=(
                f"first {len(actions):,} of {n_actions:,}" if n_actions > len(actions) else f"{n_actions:,}"
            )
            + " materials; each line is what to order or plan by when (the netting of the warehouse's build "
            "date); every need is on the Inventory page",
            wide=True,
        ),
        section(
            "Trends",
            graph(trend_figure, trend_figure["layout"]["height"], name="review-trends"),
            note="each KPI at the end of the last 8 periods; the dashed line is its target, the last point "
            "and the dot by its name its status",
            wide=True,
        ),
    ]


PERCENT_UNITS = ("ratio", "fraction", "rate", "%", "percent")


def trend_grid(rows: list[kpis.ReviewRow], trends: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Every KPI's trend as one small-multiples figure, in the review table's order and colours."""
    panels = []
    for r in rows:
        frame = trends.get(r.kpi_id)
        if frame is None:
            continue
        percent = r.unit in PERCENT_UNITS
        panels.append(
            figures.Trend(
                title=r.label,
                dates=list(frame["as_of"]),
                values=[None if pd.isna(v) else float(v) for v in frame["value"]],
                unit="" if percent else r.unit,
                percent=percent,
                target=None if r.target is None else float(r.target),
                colour=review.STATUS_COLOURS.get(r.status or ""),
                status=kpis.status_label(r.status, r.target),
            )
        )
    return figures.trend_grid(panels)


def planned_actions_component(actions: pd.DataFrame) -> Any:
    if actions.empty:
        return empty_state("No need beyond the lead time is uncovered.")
    head = html.Thead(
        html.Tr(
            [
                html.Th(c)
                for c in ("To do first", "Then", "Material", "Description", "Site", "First need", "Needs")
            ]
        )
    )
    body = [
        html.Tr(
            [
                html.Td(r.to_do),
                html.Td(r.later),
                html.Td(dcc.Link(r.material_id, href=f"/material/{r.material_id}")),
                html.Td(r.description or ""),
                html.Td(r.site_id),
                html.Td(pd.Timestamp(r.first_need_date).date().isoformat()),
                html.Td(f"{int(r.needs):,}"),
            ]
        )
        for r in actions.itertuples(index=False)
    ]
    return html.Table([head, html.Tbody(body)], className="kpi-table kpi-actions")


@callback(
    Output("review-download", "data"),
    Input("review-download-btn", "n_clicks"),
    State("filters", "data"),
    prevent_initial_call=True,
)
def download(n_clicks: int, filters: dict[str, Any] | None) -> Any:
    f = filters_from(filters)
    with reader().connect() as con:
        text = report.build_report_html(con, settings(), f.as_of, f.period_days, site=f.site)
    return {"content": text, "filename": f"medtower-kpi-review-{f.as_of}.html", "type": "text/html"}
