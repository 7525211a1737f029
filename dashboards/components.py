"""Reusable building blocks: AG Grid table with CSV export, KPI tile, empty state, section."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dash_ag_grid as dag
import pandas as pd
from dash import MATCH, Input, Output, State, callback, ctx, dcc, html
from dash.exceptions import PreventUpdate
from flask import current_app

from dashboards import auth, figures
from dashboards.data import shell
from dashboards.data.base import MartMissingError
from dashboards.filters import Filters
from medtower import audit, kpis, roles
from medtower.rows import number_text
from medtower.spreadsheet import csv_text
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

# Headers that need more than the column name; units are added by ``column_unit``.
HEADER_LABELS = {
    "otd_rate_90d": "On-time delivery, 90 d",
    "incoming_reject_rate_90d": "Incoming reject rate, 90 d",
    "seconds": "Duration",
    "is_past_due_at_as_of": "Past due",
    "is_in_transit_at_as_of": "In transit",
    "lands_after_need_date": "Lands after need date",
    "wo_id": "Work order",
    "so_id": "Sales order",
    "so_line": "Sales order line",
    "po_id": "Purchase order",
    "po_line": "PO line",
    "asn_id": "ASN",
    "lot_id": "Lot",
    "material_id": "Material",
    "site_id": "Site",
    "supplier_id": "Supplier",
    "customer_id": "Customer",
    "qty_open": "Open quantity",
    "uom": "Unit",
}

# Columns whose unit the name alone does not give away.
COLUMN_UNITS = {
    "seconds": "s",
    "age": "d",
    "cumulative_requirement": "uom",
    "projected_balance": "uom",
}


def column_unit(col: str) -> str | None:
    """The unit a column's numbers are in, from its name: %, d, h, s, or "uom" (the row's own unit)."""
    if col in COLUMN_UNITS:
        return COLUMN_UNITS[col]
    if col.endswith("_pct") or col.startswith("pct_"):
        return "%"
    if "rate" in col.split("_"):
        return "%"
    if col.endswith("_hours") or "_hours_" in col:
        return "h"
    if col.endswith("_days") or col.startswith("days_") or "_days_" in col:
        return "d"
    if "qty" in col.split("_") or col.endswith("_qty"):
        return "uom"
    return None


# The words of a column name that its unit, appended to the header, says again ("Duration hours (h)").
UNIT_WORDS = {"%": {"pct", "percent"}, "d": {"days", "day"}, "h": {"hours", "hour"}, "s": {"seconds"}}


def _header(col: str) -> str:
    label = HEADER_LABELS.get(col)
    unit = column_unit(col)
    if label is None:
        words = col.split("_")
        if unit in UNIT_WORDS:  # the unit's word goes, but not a first one ("Days to expiry (d)")
            words = words[:1] + [w for w in words[1:] if w not in UNIT_WORDS[unit]]
        label = " ".join(words).capitalize()
    if unit in ("%", "d", "h", "s") and f"({unit})" not in label:
        label = f"{label} ({unit})"
    return label


def _is_rate(col: str) -> bool:
    return column_unit(col) == "%" and not (col.endswith("_pct") or col.startswith("pct_"))


def site_local_time(value: Any, zone: str | None) -> str | None:
    """A site-local wall-clock timestamp as text with its zone named, e.g. '2026-03-02 14:05 CET'.

    The warehouse stores every timestamp as the site's local wall time (dim_sites.timezone), so
    this names the zone in force at that moment; it does not shift the clock.
    """
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        return None
    text = ts.strftime("%Y-%m-%d %H:%M")
    if not zone:
        return text
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{text} {zone}"
    return f"{text} {ts.to_pydatetime().replace(tzinfo=tz).tzname()}"


def localize_times(
    df: pd.DataFrame,
    zones: Mapping[str, str] | None,
    *,
    site: str | None = None,
    site_col: str = "site_id",
) -> pd.DataFrame:
    """Timestamp columns as site-local text with the zone named, per row by ``site_col`` or for one ``site``.

    Date-only columns stay dates. Without ``zones`` the frame is returned unchanged.
    """
    if zones is None or df.empty:
        return df
    stamp_cols = [
        c
        for c in df.columns
        if pd.api.types.is_datetime64_any_dtype(df[c])
        and (df[c].dropna().dt.normalize() != df[c].dropna()).any()
    ]
    if not stamp_cols:
        return df
    out = df.copy()
    if site is not None:
        row_zones = [zones.get(site)] * len(out)
    elif site_col in out.columns:
        row_zones = [zones.get(str(s)) if s is not None else None for s in out[site_col]]
    else:
        row_zones = [None] * len(out)
    for col in stamp_cols:
        out[col] = [site_local_time(v, z) for v, z in zip(out[col], row_zones, strict=True)]
    return out


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
        if _is_rate(col) and pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            out[col] = (series.astype(float) * 100).round(1)
    # Column by column into Python values, missing ones (NaN, NaT, NA) as None, then zipped into rows:
    # pandas' to_dict("records") boxes every cell on its own (0.13 s of Inventory's 0.6 s body, profiled).
    names = [str(c) for c in out.columns]
    columns = []
    for col in out.columns:
        series = out[col]
        values = series.astype(object).tolist()
        missing = series.isna()
        if missing.any():
            values = [None if gone else v for v, gone in zip(values, missing.tolist(), strict=True)]
        columns.append(values)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _is_bool(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return True
    if series.dtype != object:
        return False
    values = series.dropna().head(20)  # a flag column holds only flags: a sample decides
    return not values.empty and all(isinstance(v, bool) for v in values)


def _column_def(col: str, series: pd.Series, route: str | None, in_uom: bool) -> dict[str, Any]:
    cdef: dict[str, Any] = {"field": col, "headerName": _header(col)}
    if route:
        cdef["cellRenderer"] = "DrillLink"
        cdef["cellRendererParams"] = {"route": route}
    if _is_bool(series):
        cdef["valueFormatter"] = {"function": "params.value == null ? '' : (params.value ? 'yes' : 'no')"}
        cdef["cellDataType"] = False
    elif pd.api.types.is_numeric_dtype(series):
        cdef["type"] = "rightAligned"
        cdef["filter"] = "agNumberColumnFilter"
        if in_uom:
            cdef["valueFormatter"] = {
                "function": "params.value == null ? '' : mtNumber(params.value) + ' ' + "
                "((params.data && params.data.uom) || '')"
            }
        else:
            cdef["valueFormatter"] = {"function": "mtNumber(params.value)"}
    return cdef


# No getRowId: AG Grid matching rows by id (a delta update) was measured slower here than taking the new
# rows whole - dash-ag-grid evaluates the id expression per row, and a site change replaces most rows.

# Column widths are estimated here from the text, not measured in the browser: AG Grid's autoSize
# (``columnSize="autoSize"``) lays every grid out again, twice, after its rows render; on a page of
# five grids that was a second of the browser's time on each filter change (docs/benchmarks.md).
CHAR_PX = 6.6  # average glyph width of the grid's 12 px font
CELL_PAD_PX = 26  # cell padding; headers add the sort and menu icons
HEADER_PAD_PX = 44
MIN_COL_PX, MAX_COL_PX = 90, 420
WIDTH_SAMPLE_ROWS = 100  # the first pages, as autoSize measured the rows it had rendered


def _text_len(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        return 3
    if isinstance(value, float | int):
        return len(f"{value:,.2f}") if isinstance(value, float) else len(f"{value:,}")
    return len(str(value))


def _column_width(header: str, values: list[Any], unit_chars: int = 0) -> int:
    """A column's width in px from its header and the longest of the first rows' values."""
    longest = max((_text_len(v) for v in values), default=0)
    if longest:
        longest += unit_chars
    px = max(CHAR_PX * len(header) + HEADER_PAD_PX, CHAR_PX * longest + CELL_PAD_PX)
    return int(min(max(px, MIN_COL_PX), MAX_COL_PX))


# AG Grid options for a role without "export": the grid's own CSV export does nothing (suppressCsvExport),
# no copying of rows or cell ranges to the clipboard (in AG Grid Community there is no clipboard module
# anyway; these hold if an Enterprise build is ever loaded) and no text selection across cells.
NO_EXPORT_GRID_OPTIONS: dict[str, Any] = {
    "suppressCsvExport": True,
    "suppressExcelExport": True,
    "suppressCopyRowsToClipboard": True,
    "suppressCopySingleCellRanges": True,
    "enableCellTextSelection": False,
}


def granted_sites() -> list[str]:
    """The sites the signed-in user is granted; empty: every site (or outside a request)."""
    user = auth.signed_in()
    return list(user.sites) if user is not None else []


def granted_rows(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Only the rows of the user's sites (by ``site_id``) and how many were withheld.

    Why here: every table of the app is drawn by data_grid, so a query that forgot its site filter (or a
    trace that crosses sites) cannot send another site's rows to a user granted some sites. Rows without a
    site (NULL) belong to no site and are kept.
    """
    sites = granted_sites()
    if not sites or df.empty or "site_id" not in df.columns:
        return df, 0
    keep = df["site_id"].isna() | df["site_id"].astype(str).isin(sites)
    withheld = int((~keep).sum())
    return (df[keep].reset_index(drop=True), withheld) if withheld else (df, 0)


def data_grid(
    name: str,
    df: pd.DataFrame,
    *,
    height: int = 360,
    hidden: tuple[str, ...] = (),
    empty_text: str = "No rows for these filters.",
    empty_detail: str | None = None,
    zones: Mapping[str, str] | None = None,
    site: str | None = None,
    links: Mapping[str, str] | None = None,
    quantities: tuple[str, ...] = (),
) -> html.Div:
    """A sortable, filterable AG Grid with a CSV export button; drill-down columns become links.

    Numbers carry their unit (header for %, d, h; each cell for quantities in the row's ``uom``);
    with ``zones`` (site -> IANA zone), timestamps are shown in the site's local time with the zone named.
    ``links`` adds drill-down columns (column -> route) to DRILL_ROUTES' and ``quantities`` quantity columns
    to those ``column_unit`` finds by name. A short table is plain HTML (PLAIN_TABLE_ROWS).
    """
    df, withheld = granted_rows(df)
    if df.empty:
        return empty_state(
            empty_text if not withheld else f"No rows at your sites ({withheld:,} at other sites not shown).",
            empty_detail or "Try another site, a later as-of date or a longer period in the filters above.",
        )
    df = localize_times(df, zones, site=site)
    routes = {**DRILL_ROUTES, **(links or {})}
    in_uom = (
        frozenset(c for c in df.columns if column_unit(c) == "uom" or c in quantities)
        if "uom" in df.columns
        else frozenset()
    )
    column_defs = [
        _column_def(col, df[col], routes.get(col), col in in_uom) for col in df.columns if col not in hidden
    ]
    records = _records(df)
    sample = records[:WIDTH_SAMPLE_ROWS]
    unit_chars = 1 + max((len(str(r.get("uom") or "")) for r in sample), default=0) if in_uom else 0
    for cdef in column_defs:
        with_unit = cdef["field"] in in_uom
        cdef["width"] = _column_width(
            cdef["headerName"], [r.get(cdef["field"]) for r in sample], unit_chars if with_unit else 0
        )
    # A role without "export" gets no button and a grid that refuses its own CSV export (the server
    # refuses the export callback too). The rows on screen can still be read and retyped: the right is
    # about files, not about what the person may see.
    no_export = auth.lacks("export")
    if len(df) <= PLAIN_TABLE_ROWS:
        return plain_table(name, column_defs, records, in_uom, withheld=withheld, no_export=no_export)
    return html.Div(
        className="grid-block",
        children=[
            _toolbar(len(df), withheld, None if no_export else {"type": "grid-csv", "name": name}),
            dag.AgGrid(
                id={"type": "grid", "name": name},
                rowData=records,
                columnDefs=column_defs,
                defaultColDef={"sortable": True, "filter": True, "resizable": True, "minWidth": 90},
                dashGridOptions={
                    # One theme object for every render (assets/dashAgGridFunctions.js: mtTheme).
                    "theme": {"function": "mtTheme(themeBalham)"},
                    "animateRows": False,
                    "pagination": len(df) > 50,
                    "paginationPageSize": 50,
                    **(NO_EXPORT_GRID_OPTIONS if no_export else {}),
                },
                # Cells that a spreadsheet would run as formulas are exported as text (mtSafeCell).
                csvExportParams={
                    "fileName": f"medtower-{name}.csv",
                    "processCellCallback": {"function": "mtSafeCell(params)"},
                },
                # A grid is always of a fixed height (a short table is plain HTML), so it is laid out on
                # its own (medtower.css: .data-grid).
                style={"width": "100%", "height": f"{height}px"},
                className="data-grid",
            ),
        ],
    )


def _toolbar(rows: int, withheld: int, export_id: dict[str, str] | None) -> html.Div:
    """A table's row count, the rows withheld (other sites) and its Export CSV button (None: no button)."""
    return html.Div(
        className="grid-toolbar",
        children=[
            html.Span(f"{rows:,} row{'' if rows == 1 else 's'}", className="grid-count"),
            *(
                [html.Span(f"{withheld:,} at other sites not shown", className="grid-withheld")]
                if withheld
                else []
            ),
            *(
                [html.Button("Export CSV", id=export_id, className="btn-small", n_clicks=0)]
                if export_id is not None
                else []
            ),
        ],
    )


# A table of this many rows or fewer is plain HTML, not an AG Grid: a grid costs the browser ~50 ms to
# build however few its rows, and a drill-down holds up to nine of them, most of two to eight rows
# (opening a work order at scale 10: 0.9 s -> 0.5 s, docs/benchmarks.md). Eight rows need no sorting,
# filtering or paging; the cells read as the grid's do (units, yes/no, links that keep the filters).
PLAIN_TABLE_ROWS = 8
# The class of a plain table's scroll box (medtower.css); in_place sets what it holds as one value.
PLAIN_TABLE_WRAP = "plain-table-wrap"
# encodeURIComponent's safe characters: the link is the grid's DrillLink's (dashAgGridComponentFunctions.js)
URI_COMPONENT_SAFE = "-_.!~*'()"


def _plain_cell(cdef: Mapping[str, Any], row: Mapping[str, Any], in_uom: frozenset[str]) -> html.Td:
    """A cell as the grid shows it: the grid's column definition says if it links (DrillLink's route)."""
    field = cdef["field"]
    value = row.get(field)
    if value is None or value == "":
        return html.Td("")
    route = (cdef.get("cellRendererParams") or {}).get("route")
    if route:
        href = route + quote(str(value), safe=URI_COMPONENT_SAFE)
        # The href has no query: assets/dashAgGridComponentFunctions.js adds the page's filters on the way.
        return html.Td(html.A(str(value), href=href, className="drill-link plain-link"))
    if isinstance(value, bool):
        return html.Td("yes" if value else "no")
    if isinstance(value, int | float):
        text = number_text(value)
        if field in in_uom:
            text = f"{text} {row.get('uom') or ''}".strip()
        return html.Td(text, className="num")
    return html.Td(str(value))


def plain_table(
    name: str,
    column_defs: list[dict[str, Any]],
    records: list[dict[str, Any]],
    in_uom: frozenset[str] = frozenset(),
    *,
    withheld: int = 0,
    no_export: bool = False,
) -> html.Div:
    """A short table as plain HTML (see PLAIN_TABLE_ROWS), with the grid's toolbar and its CSV export.

    The rows ride along in a store, as the grid's ``rowData`` does: the export writes them (the columns
    shown, under their headers) on the server, which records it in the audit trail.
    """
    return html.Div(
        className="grid-block",
        children=[
            _toolbar(len(records), withheld, None if no_export else {"type": "table-csv", "name": name}),
            html.Div(
                className=PLAIN_TABLE_WRAP,
                children=html.Table(
                    className="plain-table",
                    children=[
                        html.Thead(
                            html.Tr(
                                [
                                    html.Th(
                                        c["headerName"],
                                        className="num" if c.get("type") == "rightAligned" else None,
                                        **{"data-field": c["field"]},  # type: ignore[arg-type]
                                    )
                                    for c in column_defs
                                ]
                            )
                        ),
                        html.Tbody(
                            [html.Tr([_plain_cell(c, r, in_uom) for c in column_defs]) for r in records]
                        ),
                    ],
                ),
            ),
            dcc.Store(
                id={"type": "table-rows", "name": name},
                data={"columns": [[c["field"], c["headerName"]] for c in column_defs], "rows": records},
            ),
            *([] if no_export else [dcc.Download(id={"type": "table-file", "name": name})]),
        ],
    )


@callback(
    Output({"type": "table-file", "name": MATCH}, "data"),
    Input({"type": "table-csv", "name": MATCH}, "n_clicks"),
    State({"type": "table-rows", "name": MATCH}, "data"),
    prevent_initial_call=True,
)
def _export_table_csv(n_clicks: int | None, table: dict[str, Any] | None) -> dict[str, Any]:
    if not n_clicks or not table:
        raise PreventUpdate
    name = str((ctx.triggered_id or {}).get("name", "")) if isinstance(ctx.triggered_id, dict) else ""
    columns = [(str(field), str(header)) for field, header in table.get("columns") or []]
    rows = table.get("rows") or []
    frame = pd.DataFrame([[r.get(f) for f, _ in columns] for r in rows], columns=[h for _, h in columns])
    file = f"medtower-{name}.csv"
    audit.record(settings(), auth.actor(), "export", "grid", name or "?", None, {"file": file}, source="web")
    return dcc.send_string(csv_text(frame), file)


@callback(
    Output({"type": "grid", "name": MATCH}, "exportDataAsCsv"),
    Input({"type": "grid-csv", "name": MATCH}, "n_clicks"),
    prevent_initial_call=True,
)
def _export_csv(n_clicks: int | None) -> bool:
    if not n_clicks:
        raise PreventUpdate
    name = str((ctx.triggered_id or {}).get("name", "")) if isinstance(ctx.triggered_id, dict) else ""
    new = {"file": f"medtower-{name}.csv"}
    audit.record(settings(), auth.actor(), "export", "grid", name or "?", None, new, source="web")
    return True


def empty_state(text: str, detail: str | None = None) -> html.Div:
    return html.Div(
        className="empty-state",
        children=[html.Div(text, className="empty-title"), html.Div(detail or "", className="empty-detail")],
    )


def snapshot_notice(mart_date: dt.date | None, f: Filters) -> html.Div:
    """Say so when a snapshot mart (built for one as-of date) is shown for a different as-of filter."""
    if mart_date is None or mart_date == f.as_of:
        return html.Div(className="snapshot-ok")
    return html.Div(
        className="notice",
        children=[
            html.Strong(f"Figures below are as of {mart_date}, "),
            f"the date the planning, supply and delivery marts were built for, not the {f.as_of} chosen "
            f"above. Run `medtower run DIR --as-of {f.as_of}` to build them for that date.",
        ],
    )


def section(title: str, *children: Any, note: str | None = None, wide: bool = False) -> html.Section:
    head: list[Any] = [html.H3(title)]
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
        figure=figures.lean(fig, name or "keep") if fig is not None else fig,
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
            html.Div(value, className="kpi-value", **{"data-kpi": kpi_id}),  # type: ignore[arg-type]
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


def warehouse_identity() -> tuple[Any, ...] | None:
    """A cache key of the published warehouse that changes on publish (the reader's ``identity``).

    Take it before connecting: a publish in between then only costs a cache miss, never stale data.
    """
    return reader().identity()


def settings() -> Any:
    return current_app.config["MEDTOWER_SETTINGS"]


class FilterProblemError(ValueError):
    """Filters that would show numbers that do not exist: an unknown site or a date after the data."""


def filter_notice(message: str) -> html.Div:
    """What a page shows instead of its figures when the filters ask for something the data cannot say."""
    return html.Div(
        className="notice filter-problem",
        id="filter-problem",
        children=[html.Strong("No figures for these filters. "), message],
    )


_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:[\w.@+-]+/)+([\w.@+-]+)")


def without_paths(text: str) -> str:
    """A message for the page with each absolute server path cut to its file name (the log has it all)."""
    return _ABSOLUTE_PATH.sub(r"\1", text)


def guarded(render: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a missing warehouse or mart, or impossible filters, into an explanation instead of an error."""

    @functools.wraps(render)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return render(*args, **kwargs)
        except PreventUpdate:
            raise
        except (FilterProblemError, kpis.UnknownSiteError, kpis.AsOfBeyondDataError) as exc:
            return filter_notice(str(exc))
        except WarehouseMissingError as exc:
            return empty_state(
                "No warehouse yet: run `medtower run DIR` to load a drop folder.", without_paths(str(exc))
            )
        except MartMissingError as exc:
            return empty_state(
                "This view needs a mart that is not in the warehouse yet.",
                f"{exc}. Run `medtower run DIR` (or `medtower build`) to build the marts.",
            )

    return wrapper


def filters_from(store: dict[str, Any] | None, *, check: bool = True) -> Filters:
    """The page's filters; with ``check``, an unknown site or a date after the data is refused.

    Why here: every page reads its filters through this, so no page can show numbers for a site that
    does not exist or for days the warehouse knows nothing of (raised as FilterProblemError, which
    ``guarded`` shows as a notice).
    """
    if not store:
        raise PreventUpdate
    f = Filters.from_store(store)
    user = auth.signed_in()
    if user is not None and not roles.site_allowed(user.sites, f.site):
        # Per-site access: a user granted some sites sees those, one at a time, never "all sites".
        raise FilterProblemError(
            f"You see {', '.join(user.sites)} only: pick one of them in the Site filter."
            if f.site is None
            else f"You have no access to site {f.site}: pick one of {', '.join(user.sites)}."
        )
    if check:
        with reader().connect() as con:
            problem = shell.filter_problem(con, f)
        if problem:
            raise FilterProblemError(problem)
    return f


def fmt_number(value: float | int | None, unit: str = "", digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}".strip()


def fmt_value(value: float | int | None, unit: str | None) -> str:
    """Format a KPI value by its unit (medtower.kpis.format_value, shared with the review email)."""
    return kpis.format_value(value, unit)
