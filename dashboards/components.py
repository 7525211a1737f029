"""Reusable building blocks: AG Grid table with CSV export, KPI tile, empty state, section."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
from collections.abc import Callable
from typing import Any

import dash_ag_grid as dag
import pandas as pd
from dash import MATCH, Input, Output, callback, dcc, html
from dash.exceptions import PreventUpdate
from flask import current_app

from dashboards.data import MartMissingError
from dashboards.filters import Filters
from medtower.warehouse import WarehouseMissingError

log = logging.getLogger(__name__)

# Column -> drill-down route; the grid renders these cells as in-app links.
DRILL_ROUTES = {
    "lot_id": "/lot/",
    "output_lot_id": "/lot/",
    "material_id": "/material/",
    "wo_id": "/work-order/",
    "supplier_id": "/supplier/",
    "customer_id": "/customer/",
}

# Units shown in column headers, so every number says what it counts.
HEADER_UNITS = {
    "age_days": "Age (d)",
    "days_to_expiry": "Days to expiry",
    "days_overdue": "Days overdue",
    "progress_pct": "Progress %",
    "reject_rate": "Reject rate %",
    "on_time_rate": "On time %",
    "seconds": "Duration (s)",
}


def _header(col: str) -> str:
    return HEADER_UNITS.get(col, col.replace("_", " ").capitalize())


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.copy()
    for col in out.columns:
        series = out[col]
        if pd.api.types.is_datetime64_any_dtype(series):
            has_time = (series.dropna().dt.normalize() != series.dropna()).any()
            fmt = "%Y-%m-%d %H:%M" if has_time else "%Y-%m-%d"
            out[col] = series.dt.strftime(fmt).astype(object)
        elif series.dtype == object:
            out[col] = series.map(lambda v: v.isoformat() if isinstance(v, dt.date | dt.datetime) else v)
        if col.endswith("_rate"):
            out[col] = (series.astype(float) * 100).round(1)
    out = out.astype(object).where(out.notna(), None)
    records = out.to_dict("records")
    for row in records:
        for key, value in row.items():
            if isinstance(value, float) and math.isnan(value):
                row[key] = None
    return records


def data_grid(
    name: str,
    df: pd.DataFrame,
    *,
    height: int = 360,
    hidden: tuple[str, ...] = (),
    empty_text: str = "No rows for these filters.",
) -> html.Div:
    """A sortable, filterable AG Grid with a CSV export button; drill-down columns become links."""
    if df.empty:
        return empty_state(empty_text)
    column_defs = []
    for col in df.columns:
        if col in hidden:
            continue
        cdef: dict[str, Any] = {"field": col, "headerName": _header(col)}
        if col in DRILL_ROUTES:
            cdef["cellRenderer"] = "DrillLink"
            cdef["cellRendererParams"] = {"route": DRILL_ROUTES[col]}
        if pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col]):
            cdef["type"] = "rightAligned"
            cdef["filter"] = "agNumberColumnFilter"
            cdef["valueFormatter"] = {"function": "mtNumber(params.value)"}
        column_defs.append(cdef)
    return html.Div(
        className="grid-block",
        children=[
            html.Div(
                className="grid-toolbar",
                children=[
                    html.Span(f"{len(df):,} rows", className="grid-count"),
                    html.Button(
                        "Export CSV", id={"type": "grid-csv", "name": name}, className="btn-small", n_clicks=0
                    ),
                ],
            ),
            dag.AgGrid(
                id={"type": "grid", "name": name},
                rowData=_records(df),
                columnDefs=column_defs,
                defaultColDef={"sortable": True, "filter": True, "resizable": True, "minWidth": 90},
                columnSize="autoSize",
                dashGridOptions={
                    "theme": {"function": "themeBalham.withParams({ accentColor: '#0b5cad', fontSize: 12 })"},
                    "animateRows": False,
                    "pagination": len(df) > 50,
                    "paginationPageSize": 50,
                },
                csvExportParams={"fileName": f"medtower-{name}.csv"},
                style={"height": f"{height}px", "width": "100%"},
                className="data-grid",
            ),
        ],
    )


@callback(
    Output({"type": "grid", "name": MATCH}, "exportDataAsCsv"),
    Input({"type": "grid-csv", "name": MATCH}, "n_clicks"),
    prevent_initial_call=True,
)
def _export_csv(n_clicks: int | None) -> bool:
    if not n_clicks:
        raise PreventUpdate
    return True


def empty_state(text: str, detail: str | None = None) -> html.Div:
    return html.Div(
        className="empty-state",
        children=[html.Div(text, className="empty-title"), html.Div(detail or "", className="empty-detail")],
    )


def section(title: str, *children: Any, note: str | None = None, wide: bool = False) -> html.Section:
    head = [html.H3(title)]
    if note:
        head.append(html.Span(note, className="section-note"))
    flat: list[Any] = []
    for child in children:
        flat.extend(child if isinstance(child, list | tuple) else [child])
    return html.Section(
        className="panel" + (" panel-wide" if wide else ""),
        children=[html.Div(head, className="panel-head"), *flat],
    )


def graph(fig: Any, height: int = 300, name: str | None = None) -> dcc.Graph:
    props: dict[str, Any] = {}
    if name:
        props["id"] = {"type": "figure", "name": name}
    return dcc.Graph(
        figure=fig,
        config={"displaylogo": False, "responsive": True},
        style={"height": f"{height}px"},
        **props,
    )


RAG_CLASS = {"green": "rag-green", "amber": "rag-amber", "red": "rag-red", None: "rag-none"}


def kpi_tile(
    *,
    kpi_id: str,
    label: str,
    value: str,
    target: str | None,
    rag: str | None,
    delta: str | None,
    spark: Any | None,
    href: str,
) -> dcc.Link:
    return dcc.Link(
        href=href,
        className=f"kpi-tile {RAG_CLASS.get(rag, 'rag-none')}",
        id={"type": "kpi-tile", "kpi": kpi_id},
        children=[
            html.Div(label, className="kpi-label"),
            html.Div(value, className="kpi-value", **{"data-kpi": kpi_id}),
            html.Div(
                className="kpi-meta",
                children=[
                    html.Span(f"target {target}" if target else "no target", className="kpi-target"),
                    html.Span(delta or "", className="kpi-delta"),
                ],
            ),
            graph(spark, height=38) if spark is not None else html.Div(className="kpi-spark-empty"),
        ],
    )


def facts_list(row: dict[str, Any]) -> html.Dl:
    items: list[Any] = []
    for key, value in row.items():
        items += [html.Dt(key.replace("_", " ")), html.Dd("—" if value is None else str(value))]
    return html.Dl(items, className="facts")


def page_header(title: str, subtitle: str | None = None) -> html.Div:
    return html.Div(
        className="page-header",
        children=[html.H2(title), html.Div(subtitle or "", className="page-subtitle")],
    )


# --- callback plumbing ------------------------------------------------------------------------


def reader() -> Any:
    return current_app.config["MEDTOWER_READER"]


def settings() -> Any:
    return current_app.config["MEDTOWER_SETTINGS"]


def guarded(render: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a missing warehouse or mart into an explanatory empty state instead of a callback error."""

    @functools.wraps(render)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return render(*args, **kwargs)
        except PreventUpdate:
            raise
        except WarehouseMissingError as exc:
            return empty_state("No warehouse yet: run `medtower run DIR` to load a drop folder.", str(exc))
        except MartMissingError as exc:
            return empty_state(
                "This view needs a mart that is not in the warehouse yet.",
                f"{exc}. Run `medtower run DIR` (or `medtower build`) to build the marts.",
            )

    return wrapper


def filters_from(data: dict[str, Any] | None) -> Filters:
    if not data:
        raise PreventUpdate
    return Filters.from_store(data)


def fmt_number(value: float | int | None, unit: str = "", digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}".strip()


def fmt_value(value: float | int | None, unit: str | None) -> str:
    """Format a KPI value by its unit: fractions as %, hours and counts with their unit."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit in ("ratio", "fraction", "rate", "%", "percent"):
        return f"{100 * float(value):.1f} %"
    if unit in ("hours", "h"):
        return f"{float(value):,.1f} h"
    if unit in ("days", "d"):
        return f"{float(value):,.1f} d"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}" + (f" {unit}" if unit else "")
    return f"{int(value):,}" + (f" {unit}" if unit and unit not in ("count",) else "")
