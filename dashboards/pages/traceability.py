"""Traceability: lot ids or scanned GS1 barcodes -> forward / backward genealogy, customers, export.

The query and direction live in the URL (``?q=LOT-1,LOT-2&direction=forward``), so a link or a reload
opens the same trace; several lots are traced in one walk (a recall scope) and the scope exports as CSV
(the lots) or XLSX (lots, suspects, shipments, customers, suppliers, genealogy links). Suspect lots (on hold,
quarantined, rejected, a failed inspection or an open NCR: ``medtower.trace.lot_suspects``) are ringed in
the graph with their NCRs under them, and listed with why, so QA sees first which nodes matter. "Export for
a regulator (signed)" signs the file (medtower.signatures.sign_export): its manifest names who approved it.
"""

from __future__ import annotations

import hashlib
import io
import re
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

import dash
import pandas as pd
from dash import Input, Output, State, callback, dcc, html
from dash.exceptions import PreventUpdate

from dashboards import auth, figures
from dashboards.components import (
    data_grid,
    empty_state,
    graph,
    guarded,
    page_header,
    reader,
    section,
    settings,
)
from dashboards.data.lots import lot_facts, lot_timeline
from dashboards.data.shell import site_zones
from dashboards.drilldown import worded_headers
from dashboards.signing import sign_fields, signing_of
from medtower import audit, signatures
from medtower.spreadsheet import csv_text, text_only_workbook
from medtower.trace import TraceError, lot_suspects, resolve_lot, trace_lots

dash.register_page(
    __name__, path="/traceability", name="Traceability", title="MedTower · Traceability", order=7
)

Direction = Literal["forward", "backward"]

# Lot ids and scans are separated by new lines, commas, semicolons or blanks; a blank followed by "(" is
# inside one GS1 scan written with its application identifiers in brackets, e.g. "(01)0950... (10)LOT".
_SEPARATORS = re.compile(r"[\n,;]+|\s+(?!\()")


def split_query(query: str | None) -> list[str]:
    """The lot ids or scans in one query box, in order, without repeats."""
    items = [p.strip() for p in _SEPARATORS.split(query or "")]
    return list(dict.fromkeys(p for p in items if p))


def layout(q: str | None = None, direction: str | None = None, **params: Any) -> html.Div:
    return html.Div(
        [
            page_header("Traceability", "Where did these lots come from, and where did they go?"),
            html.Div(
                className="trace-search",
                children=[
                    dcc.Input(
                        id="trace-q",
                        value=q or "",
                        placeholder="Lot ids or scanned GS1 barcodes, separated by commas or new lines",
                        debounce=True,
                        type="text",
                    ),
                    dcc.RadioItems(
                        id="trace-direction",
                        value="forward" if direction == "forward" else "backward",
                        inline=True,
                        options=[
                            {"label": " backward (components, suppliers)", "value": "backward"},
                            {"label": " forward (products, customers)", "value": "forward"},
                        ],
                    ),
                    html.Button("Trace", id="trace-go", className="btn btn-primary", n_clicks=0),
                    html.Button("Export CSV", id="trace-csv", className="btn-small", n_clicks=0),
                    html.Button("Export XLSX", id="trace-xlsx", className="btn-small", n_clicks=0),
                    dcc.Download(id="trace-download"),
                ],
            ),
            html.Details(
                [
                    html.Summary("Export for a regulator (signed)"),
                    sign_fields(
                        "trace-sign", "An export approved for a regulator is signed", shown=auth.can("export")
                    ),
                    html.Button("Signed CSV", id="trace-sign-csv", className="btn-small", n_clicks=0),
                    html.Button("Signed XLSX", id="trace-sign-xlsx", className="btn-small", n_clicks=0),
                    html.Span(id="trace-sign-result", style={"marginLeft": "1em"}),
                ],
                className="trace-signed-export",
            ),
            html.Div(id="trace-body", children=empty_state("Enter lot ids or scan barcodes to trace them.")),
        ]
    )


class ScopeError(ValueError):
    """Some items of the query name no lot; the message lists each one and why."""


def trace_scope(con: Any, query: str | None, direction: Direction) -> dict[str, Any]:
    """The trace of every lot the query names, as frames: lots, shipments, customers, suppliers, edges.

    ``customers`` is one row per customer and material shipped: name, shipments, lots and quantity.
    Raises ScopeError naming each item that is not a lot (with its position), so nothing is traced short.
    """
    items = split_query(query)
    if not items:
        raise ScopeError("Enter at least one lot id or scanned barcode.")
    starts, problems = [], []
    for pos, item in enumerate(items, start=1):
        try:
            starts.append(resolve_lot(con, item))
        except TraceError as exc:
            problems.append(f"item {pos} {item!r}: {exc}")
    if problems:
        raise ScopeError("; ".join(problems))
    starts = list(dict.fromkeys(starts))
    result = trace_lots(con, starts, direction)
    lots = _with_suspects(
        pd.DataFrame(result["lot_details"]), lot_suspects(con, [r["lot_id"] for r in result["lot_details"]])
    )
    ships = pd.DataFrame(result["shipment_details"])
    for col in ("shipped_at", "delivered_at"):
        if col in ships.columns:
            ships[col] = pd.to_datetime(ships[col], errors="coerce")
    if ships.empty:
        customers = pd.DataFrame(
            columns=["customer_id", "customer", "material_id", "shipments", "lots", "qty"]
        )
    else:
        customers = (
            ships.groupby(["customer_id", "customer_name", "material_id"], dropna=False)
            .agg(shipments=("shipment_id", "nunique"), lots=("lot_id", "nunique"), qty=("qty", "sum"))
            .reset_index()
            .rename(columns={"customer_name": "customer"})
            .sort_values(["qty", "customer_id"], ascending=[False, True], kind="stable")
            .reset_index(drop=True)
        )
    suppliers = pd.DataFrame({"supplier_id": list(result.get("suppliers") or [])})
    edges = pd.DataFrame(result["edges"])
    if edges.empty:
        edges = pd.DataFrame(columns=["parent_lot_id", "child_lot_id"])
    return {
        "starts": starts,
        "direction": direction,
        "lots": lots,
        "suspects": suspect_table(lots),
        "shipments": ships,
        "customers": customers,
        "suppliers": suppliers,
        "edges": edges,
        "work_orders": list(result.get("work_orders") or []),
    }


def _with_suspects(lots: pd.DataFrame, suspects: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """The lots with ``suspect``, ``why_suspect`` and ``ncrs`` (each NCR as "id severity status"), in words
    so the CSV and XLSX carry them as the page shows them."""
    if lots.empty:
        return pd.DataFrame(columns=[*lots.columns, "suspect", "why_suspect", "ncrs"])
    facts = [suspects.get(lot, {"reasons": [], "ncrs": []}) for lot in lots["lot_id"]]
    lots = lots.copy()
    lots["suspect"] = [bool(f["reasons"]) for f in facts]
    lots["why_suspect"] = ["; ".join(f["reasons"]) for f in facts]
    lots["ncrs"] = [
        ", ".join(f"{n['ncr_id']} {n['severity']} {n['status']}" for n in f["ncrs"]) for f in facts
    ]
    return lots


def suspect_table(lots: pd.DataFrame) -> pd.DataFrame:
    """The lots QA looks at first: suspect ones, and any other lot with an NCR (closed ones too)."""
    cols = ["lot_id", "material_id", "status", "depth", "why_suspect", "ncrs"]
    if lots.empty:
        return pd.DataFrame(columns=cols)
    picked = lots[lots["suspect"] | (lots["ncrs"] != "")]
    return picked[cols].sort_values(["depth", "lot_id"], kind="stable").reset_index(drop=True)


def scope_xlsx(scope: dict[str, Any]) -> bytes:
    """The scope as one workbook, a sheet per table (openpyxl)."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xl:
        pd.DataFrame({"traced_lot": scope["starts"], "direction": scope["direction"]}).to_excel(
            xl, sheet_name="query", index=False
        )
        for name in ("lots", "suspects", "shipments", "customers", "suppliers", "edges"):
            frame = scope[name].copy()
            for col in frame.columns:
                if pd.api.types.is_datetime64_any_dtype(frame[col]) and getattr(frame[col].dt, "tz", None):
                    frame[col] = frame[col].dt.tz_localize(None)
            frame.to_excel(xl, sheet_name=name, index=False)
        text_only_workbook(xl.book)
    return buf.getvalue()


@callback(
    Output("url", "search", allow_duplicate=True),
    Input("trace-go", "n_clicks"),
    Input("trace-q", "value"),
    Input("trace-direction", "value"),
    State("url", "search"),
    prevent_initial_call=True,
)
def query_to_url(n_clicks: int, query: str | None, direction: str, search: str | None) -> str:
    """The query and direction go into the URL (next to the filters), so a reload or link opens the trace."""
    kept = [(k, v) for k, v in parse_qsl((search or "").lstrip("?")) if k not in ("q", "direction")]
    wanted = "?" + urlencode([*kept, ("q", query or ""), ("direction", direction or "backward")])
    if wanted == (search or ""):
        raise PreventUpdate
    return wanted


@callback(
    Output("trace-download", "data"),
    Input("trace-csv", "n_clicks"),
    Input("trace-xlsx", "n_clicks"),
    State("trace-q", "value"),
    State("trace-direction", "value"),
    prevent_initial_call=True,
)
def export_scope(csv_clicks: int, xlsx_clicks: int, query: str | None, direction: str) -> Any:
    if not (csv_clicks or xlsx_clicks):
        raise PreventUpdate
    way: Direction = "forward" if direction == "forward" else "backward"
    with reader().connect() as con:
        try:
            scope = trace_scope(con, query, way)
        except ScopeError:
            raise PreventUpdate from None
    stem = _stem(scope, way)
    kind = "xlsx" if dash.ctx.triggered_id == "trace-xlsx" else "csv"
    audit.record(
        settings(),
        auth.actor(),
        "export",
        "trace_scope",
        ",".join(scope["starts"]),
        None,
        {"file": f"{stem}.{kind}", "direction": way, "lots": len(scope["lots"])},
    )
    if kind == "xlsx":
        return dcc.send_bytes(scope_xlsx(scope), f"{stem}.xlsx")
    return dcc.send_string(csv_text(scope["lots"]), f"{stem}.csv", type="text/csv")


def _stem(scope: dict[str, Any], way: Direction) -> str:
    return f"medtower-trace-{way}-{'-'.join(scope['starts'][:3])}"


@callback(
    Output("trace-download", "data", allow_duplicate=True),
    Output("trace-sign-result", "children"),
    Output("trace-sign-password", "value"),
    Input("trace-sign-csv", "n_clicks"),
    Input("trace-sign-xlsx", "n_clicks"),
    State("trace-q", "value"),
    State("trace-direction", "value"),
    State("trace-sign-user", "value"),
    State("trace-sign-password", "value"),
    State("trace-sign-meaning", "value"),
    prevent_initial_call=True,
)
def export_signed(
    csv_clicks: int,
    xlsx_clicks: int,
    query: str | None,
    direction: str,
    sign_user: str | None,
    sign_password: str | None,
    meaning: str | None,
) -> Any:
    """The trace export approved for a regulator: signed (medtower.signatures.sign_export), the file's
    SHA-256 in the audit trail. The guard checks it as the plain export (the "export" action, all sites)."""
    if not (csv_clicks or xlsx_clicks):
        raise PreventUpdate
    signing = signing_of(sign_user, sign_password, meaning)
    me = auth.signed_in()
    if signing is None or me is None:
        return dash.no_update, "Type your user name and password and pick a meaning to sign.", ""
    if signing.user.strip().lower() != me.name.lower():
        return dash.no_update, f"Sign with your own user name ({me.name}).", ""
    way: Direction = "forward" if direction == "forward" else "backward"
    with reader().connect() as con:
        try:
            scope = trace_scope(con, query, way)
        except ScopeError as exc:
            return dash.no_update, str(exc), ""
    kind = "xlsx" if dash.ctx.triggered_id == "trace-sign-xlsx" else "csv"
    name = f"{_stem(scope, way)}-signed.{kind}"
    data = scope_xlsx(scope) if kind == "xlsx" else csv_text(scope["lots"]).encode("utf-8")
    try:
        signed, sig = signatures.sign_export(
            settings(), signing.user, signing.password, signing.meaning, name, data
        )
    except ValueError as exc:
        return dash.no_update, str(exc)[:1].upper() + str(exc)[1:] + ".", ""
    audit.record(
        settings(),
        me.name,
        "export",
        "trace_scope",
        ",".join(scope["starts"]),
        None,
        {
            "file": name,
            "direction": way,
            "lots": len(scope["lots"]),
            "sha256": hashlib.sha256(signed).hexdigest(),
            "data_sha256": signatures.read_export_manifest(signed)[1],
            "signature_id": sig.signature_id,
        },
    )
    return dcc.send_bytes(signed, name), f"{name}: {sig.line()}.", ""


@callback(
    Output("trace-body", "children"),
    Input("trace-go", "n_clicks"),
    Input("trace-q", "value"),
    Input("trace-direction", "value"),
    State("filters", "data"),
)
@guarded
def render(n_clicks: int, query: str | None, direction: str, filters: dict[str, Any] | None) -> Any:
    if not split_query(query):
        return empty_state("Enter lot ids or scan barcodes to trace them.")
    way: Direction = "forward" if direction == "forward" else "backward"
    with reader().connect() as con:
        try:
            scope = trace_scope(con, query, way)
        except ScopeError as exc:
            return empty_state("Cannot trace that.", str(exc))
        starts = scope["starts"]
        edges = scope["edges"]
        first = starts[0]
        timeline = lot_timeline(con, first)
        zones = site_zones(con)
        lot_site = lot_facts(con, first)["site_id"]
    site = str(lot_site.iloc[0]) if not lot_site.empty else None
    lots = scope["lots"]
    counts = (
        f"{int((lots['depth'] > 0).sum()) if not lots.empty else 0:,} lots reached, "
        f"{len(scope['work_orders']):,} work orders"
    )
    if way == "forward":
        ships, custs = scope["shipments"], scope["customers"]
        n_ships = ships["shipment_id"].nunique() if not ships.empty else 0
        n_custs = custs["customer_id"].nunique() if not custs.empty else 0
        counts += f", {n_ships:,} shipments, {n_custs:,} customers"
    else:
        counts += f", {len(scope['suppliers']):,} suppliers"
    genealogy = figures.genealogy_graph(edges, first, lots, starts)  # as tall as its layers need
    start_links: list[Any] = []
    for i, lot in enumerate(starts):
        start_links += [", " if i else "", dcc.Link(lot, href=f"/lot/{lot}")]
    parties = (
        section(
            "Affected customers",
            data_grid(
                "trace-parties",
                scope["customers"],
                height=300,
                empty_text="No shipment of these lots or of what they went into.",
            ),
            note="per customer and material: quantity shipped, shipments and lots",
        )
        if way == "forward"
        else section(
            "Suppliers",
            data_grid("trace-parties", scope["suppliers"], height=300, empty_text="None in this direction."),
        )
    )
    return worded_headers(
        [
            html.Div(
                className="notice",
                children=[
                    html.Strong(
                        f"{way.capitalize()} trace of {len(starts):,} lot{'s' if len(starts) > 1 else ''} "
                    ),
                    *start_links,
                    f": {counts}",
                ],
            ),
            section(
                "Genealogy",
                graph(genealogy, int(genealogy.layout.height or 420), name="trace-genealogy"),
                note="components left, products right; traced lots in red"
                + (f", placed around {first}, the first traced lot" if len(starts) > 1 else "")
                + "; suspect lots ringed in orange, their NCRs under them (legend below the graph)",
                wide=True,
            ),
            section(
                f"Suspect lots and NCRs ({int(lots['suspect'].sum()) if not lots.empty else 0:,} suspect)",
                data_grid(
                    "trace-suspects",
                    scope["suspects"],
                    height=240,
                    empty_text="No lot in this trace is suspect or has an NCR.",
                ),
                note="suspect: on hold, quarantined, rejected, a failed inspection or an NCR open at the "
                "data's as-of date; lots with only closed NCRs are listed too",
                wide=True,
            ),
            html.Div(
                className="grid-2",
                children=[
                    section(
                        "Lots",
                        data_grid("trace-lots", lots, height=300),
                        note="depth 0 = a traced lot; 1, 2 ... = generations from it",
                    ),
                    parties,
                ],
            ),
            html.Div(
                className="grid-2",
                children=[
                    section(
                        "Shipments",
                        data_grid(
                            "trace-shipments",
                            scope["shipments"],
                            height=300,
                            zones=zones,
                            site=site,
                            empty_text="No shipment in this direction.",
                            empty_detail="Shipments of the traced lots to customers appear in a forward "
                            "trace.",
                        ),
                        note="shipping site's local time",
                    ),
                    section(
                        f"Timeline of {first}",
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
    )
